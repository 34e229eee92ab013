//! The chat room over plain HTTP (`/api/send`, `/api/messages`,
//! `/api/events`), tested against the real server binary over real
//! sockets: every transport delivers every message, in order, with the
//! same `seq`; a long poll waits for the next message and no longer; an
//! event stream resumes from `Last-Event-ID` with nothing lost or doubled,
//! and says so when it cannot; a slow stream is dropped while the others
//! carry on; HTTP and WebSocket reach each other.
//!
//! As in the other integration tests, every read has a timeout
//! (`common::PATIENCE`, 10 s), nothing waits by sleeping, and nothing
//! asserts how long anything took. "Returns promptly" is shown by cause and
//! effect instead: a long poll asked to wait 30 s must answer within the
//! 10 s read timeout, so only the message can have ended its wait.
// Tests of the `push` layer: built only with its feature (on by default).
#![cfg(feature = "push")]

mod common;

use std::sync::mpsc;
use std::thread;

use common::push::{EventStream, HttpClient, Poll, Said};
use common::{get, RawPeer, TestServer, PATIENCE};
use duplex::json::read::{parse, JsonValue};
use duplex::websocket::{Incoming, Message, Opcode};

/// A WebSocket member of the room, reading JSON events.
struct Member(RawPeer);

impl Member {
    fn join(server: &TestServer, name: &str) -> Member {
        let mut member = Member(RawPeer::open(server, &format!("/chat?name={name}")));
        assert_eq!(member.event().get("type").and_then(JsonValue::as_str), Some("welcome"));
        member
    }

    fn say(&mut self, text: &str) {
        self.0.send_frame(true, Opcode::Text, text.as_bytes());
    }

    fn event(&mut self) -> JsonValue {
        loop {
            match self.0.read() {
                Incoming::Message(Message::Text(text)) => return parse(&text).expect("JSON"),
                Incoming::Ping(payload) => self.0.send_frame(true, Opcode::Pong, &payload),
                other => panic!("expected an event, got {other:?}"),
            }
        }
    }

    /// The next `message` event, skipping joins and leaves.
    fn message(&mut self) -> Said {
        loop {
            let event = self.event();
            if event.get("type").and_then(JsonValue::as_str) == Some("message") {
                return Said::from_json(&event);
            }
        }
    }
}

#[test]
fn short_polls_answer_every_message_after_since_in_order() {
    let server = TestServer::start(&[]);
    let mut http = HttpClient::connect(&server);
    let empty = http.poll(0, "");
    assert_eq!(empty, Poll { last_seq: 0, truncated: false, messages: vec![] });
    let seqs: Vec<u64> = (0..5).map(|i| http.post("ann", &format!("m{i}"))).collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");

    let all = http.poll(0, "");
    assert_eq!(all.last_seq, seqs[4]);
    assert!(!all.truncated);
    let texts: Vec<&str> = all.messages.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, ["m0", "m1", "m2", "m3", "m4"]);
    assert_eq!(all.messages.iter().map(|m| m.seq).collect::<Vec<_>>(), seqs);
    assert!(all.messages.iter().all(|m| m.from == "ann"));

    let later = http.poll(seqs[2], "");
    assert_eq!(later.messages, all.messages[3..]);
    assert_eq!(http.poll(all.last_seq, "").messages, []);
    // Without `since`: "from now", nothing yet, and where to go on from.
    let now = http.request("GET", "/api/messages", &[], b"");
    assert_eq!(
        Poll::parse(&now.text()),
        Poll { last_seq: seqs[4], truncated: false, messages: vec![] }
    );
}

#[test]
fn a_long_poll_waits_for_the_next_message_and_returns_with_it() {
    let server = TestServer::start(&[]);
    let mut sender = HttpClient::connect(&server);
    let first = sender.post("ann", "before");
    let (answers, answer) = mpsc::channel();
    let mut poller = HttpClient::connect(&server);
    thread::spawn(move || {
        // 30 s: three times the read timeout, so the wait can only end
        // early because a message came.
        let _ = answers.send(poller.poll(first, "&wait=30"));
    });
    // The room logs this after it has looked and found nothing after
    // `first`: from here on, the request is waiting.
    server.wait_for_log(&format!("long poll: nothing after seq {first} yet"));
    let second = sender.post("bob", "wake up");
    let poll = answer.recv_timeout(PATIENCE).expect("the long poll answered");
    assert_eq!(poll.messages, [Said { seq: second, from: "bob".into(), text: "wake up".into() }]);
    assert!(!poll.truncated);
}

#[test]
fn a_long_poll_with_nothing_to_say_answers_empty_when_its_wait_is_over() {
    let server = TestServer::start(&[]);
    let mut http = HttpClient::connect(&server);
    let seq = http.post("ann", "old news");
    let poll = http.poll(seq, "&wait=1");
    assert_eq!(poll, Poll { last_seq: seq, truncated: false, messages: vec![] });
    server.wait_for_log(&format!("long poll: nothing after seq {seq} within 1s"));
    // The connection is kept alive for the next poll, as a page would use it.
    assert_eq!(http.poll(0, "").messages.len(), 1);
}

#[test]
fn long_polls_never_wait_longer_than_needed() {
    let server = TestServer::start(&["--long-poll-max", "1"]);
    let mut http = HttpClient::connect(&server);
    let seq = http.post("ann", "already here");
    // A message is waiting: answered at once, not after an hour.
    let poll = http.poll(0, "&wait=3600");
    assert_eq!(poll.messages.len(), 1);
    assert_eq!(poll.messages[0].seq, seq);
    // Nothing waiting, and an hour asked for: cut to --long-poll-max (1 s),
    // well inside the read timeout.
    assert_eq!(http.poll(seq, "&wait=3600").messages, []);
}

#[test]
fn an_event_stream_delivers_in_order_and_resumes_after_last_event_id() {
    let server = TestServer::start(&[]);
    let mut http = HttpClient::connect(&server);
    http.post("ann", "before the stream");
    let mut stream = EventStream::open(&server, "?since=0", None);
    assert_eq!(stream.head.status, 200);
    assert_eq!(stream.head.header("Content-Type"), Some("text/event-stream"));
    assert_eq!(stream.head.header("Cache-Control"), Some("no-cache"));
    assert_eq!(stream.head.header("Connection"), Some("close"));
    assert_eq!(stream.head.header("Content-Length"), None, "an endless body has no length");
    let hint = stream.next_block().expect("the retry hint");
    assert_eq!(hint.retry.as_deref(), Some("2000"));

    // since=0: the whole record, then live messages.
    assert_eq!(stream.next_message().1.text, "before the stream");
    // Neither since nor Last-Event-ID: from now on.
    let mut from_now = EventStream::open(&server, "", None);
    for i in 0..3 {
        let seq = http.post("ann", &format!("live {i}"));
        let (id, said) = stream.next_message();
        assert_eq!((id, said.text), (seq.to_string(), format!("live {i}")));
        assert_eq!(from_now.next_message().1.seq, seq);
    }
    drop(stream); // the connection drops, as on a train going into a tunnel

    let missed: Vec<u64> = (0..2).map(|i| http.post("bob", &format!("missed {i}"))).collect();
    // The browser comes back with the last id it saw, and a `since` that
    // is out of date (it reconnects to the same URL): the header wins.
    let last_seen = missed[0] - 1;
    let mut again = EventStream::open(&server, "?since=1", Some(&last_seen.to_string()));
    let (_, first) = again.next_message();
    let (_, second) = again.next_message();
    assert_eq!((first.seq, first.text.as_str()), (missed[0], "missed 0"));
    assert_eq!((second.seq, second.text.as_str()), (missed[1], "missed 1"));
    let seq = http.post("ann", "after the tunnel");
    let (_, next) = again.next_message();
    assert_eq!((next.seq, next.text.as_str()), (seq, "after the tunnel"), "nothing doubled");
}

#[test]
fn the_http_face_says_truncated_when_its_record_does_not_reach() {
    let server = TestServer::start(&[]);
    let mut http = HttpClient::connect(&server);
    // The record keeps the last 100 messages: seq 1 to 5 fall out.
    for i in 0..105 {
        http.post("ann", &format!("m{i}"));
    }
    let poll = http.poll(2, "");
    assert!(poll.truncated);
    assert_eq!(poll.messages.len(), 100);
    assert_eq!(poll.messages[0].seq, 6);
    assert!(!http.poll(5, "").truncated, "everything after 5 is still here");

    let mut stream = EventStream::open(&server, "", Some("2"));
    let truncated = stream.next_event();
    assert_eq!(truncated.event.as_deref(), Some("truncated"));
    assert_eq!(truncated.id.as_deref(), Some("5"), "the position moves past what is gone");
    let data = parse(truncated.data.as_deref().unwrap_or_default()).expect("JSON");
    assert_eq!(data.get("since").and_then(JsonValue::as_u64), Some(2));
    assert_eq!(data.get("after").and_then(JsonValue::as_u64), Some(5));
    assert_eq!(stream.next_message().1.seq, 6);

    // An id ahead of the room: the server has restarted since. Long polls
    // and streams are told at once, rather than waiting for seq 1000.
    let ahead = http.poll(1000, "&wait=30");
    assert!(ahead.truncated);
    assert_eq!(ahead.messages.len(), 100);
}

#[test]
fn a_quiet_event_stream_gets_heartbeats() {
    let server = TestServer::start(&["--heartbeat", "0.2"]);
    let mut stream = EventStream::open(&server, "", None);
    let mut blocks = 0;
    let heartbeat = loop {
        let block = stream.next_block().expect("the stream stays open");
        blocks += 1;
        assert!(blocks < 100, "no heartbeat");
        if !block.comments.is_empty() {
            break block;
        }
    };
    assert_eq!(heartbeat.comments, ["keepalive"]);
    assert_eq!((heartbeat.data, heartbeat.id), (None, None), "a comment, not an event");
}

#[test]
fn a_stream_that_stops_reading_is_dropped_and_the_others_carry_on() {
    // Small outboxes (history: 32 KiB, one 20 KB message), and a write
    // timeout long enough that it is the outbox that gives up.
    let args =
        ["--outbox-soft-bytes", "65536", "--outbox-hard-bytes", "65536", "--write-timeout", "600"];
    let server = TestServer::start(&args);
    let mut sloth = server.connect(); // asks for the stream, then reads nothing
    std::io::Write::write_all(&mut sloth, b"GET /api/events HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    server.wait_for_log("event stream 1: after seq 0");
    let mut fast = EventStream::open(&server, "", None);
    let (reports, report) = mpsc::channel();
    thread::spawn(move || {
        // Until the server goes away at the end of the test.
        while let Some(block) = fast.next_block() {
            let Some(data) = block.data else { continue };
            if reports.send(Said::parse(&data)).is_err() {
                return;
            }
        }
    });

    let mut http = HttpClient::connect(&server);
    let text = |i: usize| format!("{i:06} {}", "x".repeat(20_000));
    let (mut sent, mut after_cut) = (0, 0);
    while after_cut < 10 {
        assert!(sent < 5000, "the stream that reads nothing was never cut off");
        let seq = http.post("ann", &text(sent));
        // In lock-step with the fast reader, so its outbox never fills.
        let got = report.recv_timeout(PATIENCE).expect("the fast stream keeps up");
        assert_eq!((got.seq, got.text), (seq, text(sent)));
        sent += 1;
        if server.log_count("chat: event stream 1 is too slow") > 0 {
            after_cut += 1;
        }
    }

    // The sloth finally reads: part of the flood, one `dropped`, the end.
    let mut sloth = EventStream::after_request(std::io::BufReader::new(sloth));
    assert_eq!(sloth.head.status, 200);
    let mut received = 0;
    let mut last_id = String::new();
    let dropped = loop {
        let event = sloth.next_event();
        if event.event.is_some() {
            break event;
        }
        received += 1;
        last_id = event.id.expect("an id");
    };
    assert_eq!(dropped.event.as_deref(), Some("dropped"));
    assert!(dropped.data.unwrap_or_default().contains(r#""reason":"too slow""#));
    assert_eq!(sloth.next_block(), None, "the stream ends after `dropped`");
    assert!(received < sent, "it got {received} of {sent}: it was not cut off");
    server.wait_for_log("closed: event stream too slow");

    // Like an EventSource, it reconnects with the last id it saw. Its gap
    // is far beyond what the record holds, and it is told so.
    let mut back = EventStream::open(&server, "", Some(&last_id));
    assert_eq!(back.next_event().event.as_deref(), Some("truncated"));
}

#[test]
fn http_and_websocket_reach_each_other_with_the_same_seq() {
    let server = TestServer::start(&[]);
    let mut ann = Member::join(&server, "ann");
    let mut http = HttpClient::connect(&server);

    let seq = http.post("web", "from HTTP");
    assert_eq!(ann.message(), Said { seq, from: "web".into(), text: "from HTTP".into() });

    ann.say("from WebSocket");
    let echoed = ann.message();
    let polled = http.poll(seq, "");
    assert_eq!(polled.messages, std::slice::from_ref(&echoed));
    assert_eq!(echoed.from, "ann");

    // An HTTP sender may not use a member's name: one name, one speaker.
    let taken = http.request("POST", "/api/send?name=ann", &[], b"it's me, ann");
    assert_eq!(taken.status, 409, "{}", taken.text());
    // The header works as well as the query parameter.
    let by_header = http.request("POST", "/api/send", &[("X-Chat-Name", "hdr")], b"hi");
    assert_eq!(by_header.status, 200);
    assert_eq!(ann.message().from, "hdr");
}

#[test]
fn all_four_transports_see_the_same_messages_in_the_same_order() {
    let server = TestServer::start(&[]);
    const MESSAGES: usize = 12;
    let mut ann = Member::join(&server, "ann");
    let mut stream = EventStream::open(&server, "", None);

    let (long_polled, long_poll) = mpsc::channel();
    let mut poller = HttpClient::connect(&server);
    thread::spawn(move || {
        let (mut since, mut seen) = (0, Vec::new());
        while seen.len() < MESSAGES {
            let poll = poller.poll(since, "&wait=5"); // inside the read timeout
            since = poll.last_seq;
            seen.extend(poll.messages);
        }
        let _ = long_polled.send(seen);
    });

    // Half over HTTP, half over the WebSocket, interleaved.
    let mut http = HttpClient::connect(&server);
    let mut over_websocket = Vec::new();
    for i in 0..MESSAGES {
        if i % 2 == 0 {
            http.post("web", &format!("message {i}"));
        } else {
            ann.say(&format!("message {i}"));
        }
        over_websocket.push(ann.message());
    }
    let over_event_stream: Vec<Said> = (0..MESSAGES).map(|_| stream.next_message().1).collect();
    let over_long_polls = long_poll.recv_timeout(PATIENCE).expect("the long poller finished");
    let over_short_poll = http.poll(0, "").messages;

    let texts: Vec<String> = over_websocket.iter().map(|m| m.text.clone()).collect();
    assert_eq!(texts, (0..MESSAGES).map(|i| format!("message {i}")).collect::<Vec<_>>());
    assert!(over_websocket.windows(2).all(|w| w[0].seq < w[1].seq));
    assert_eq!(over_event_stream, over_websocket);
    assert_eq!(over_long_polls, over_websocket);
    assert_eq!(over_short_poll, over_websocket);
}

#[test]
fn streams_and_long_polls_hold_connections_and_count_against_the_cap() {
    let server = TestServer::start(&["--max-connections", "2"]);
    let _stream = EventStream::open(&server, "", None);
    server.wait_for_log("event stream 1: after seq 0");
    let mut poller = HttpClient::connect(&server);
    let (done, finished) = mpsc::channel();
    thread::spawn(move || {
        let _ = done.send(poller.poll(0, "&wait=30"));
    });
    server.wait_for_log("long poll: nothing after seq 0 yet");
    let refused = get(&server, "/");
    assert_eq!(refused.status, 503, "two held connections fill a cap of two");
    drop(finished);
}

#[test]
fn api_mistakes_are_json_errors_with_their_status() {
    let server = TestServer::start(&["--max-chat-text", "16"]);
    let mut http = HttpClient::connect(&server);
    let cases: [(&str, &str, &[u8], u16); 6] = [
        ("POST", "/api/send", b"who am I?", 400),
        ("POST", "/api/send?name=%1B%5B31m", b"red", 400),
        ("POST", "/api/send?name=ann", b"", 400),
        ("POST", "/api/send?name=ann", b"\xc3\x28", 400),
        ("GET", "/api/messages?since=-1", b"", 400),
        ("GET", "/api/nowhere", b"", 404),
    ];
    for (method, target, body, status) in cases {
        let response = http.request(method, target, &[], body);
        assert_eq!(response.status, status, "{method} {target}: {}", response.text());
        assert_eq!(response.header("Content-Type"), Some("application/json"));
        let error = parse(&response.text()).expect("JSON");
        assert!(error.get("error").and_then(JsonValue::as_str).is_some(), "{error:?}");
    }
    let wrong_method = http.request("DELETE", "/api/events", &[], b"");
    assert_eq!((wrong_method.status, wrong_method.header("Allow")), (405, Some("GET")));
    // Over --max-chat-text: refused from Content-Length, before the body is
    // read, so the connection cannot continue and is closed.
    let too_long = http.request("POST", "/api/send?name=ann", &[], &[b'x'; 17]);
    assert_eq!(too_long.status, 413);
    assert_eq!(too_long.header("Connection"), Some("close"));
    assert_eq!(HttpClient::connect(&server).poll(0, "").messages, [], "nothing was sent");
}
