//! The chat room at `/chat`, tested against the real server binary over
//! real sockets: the wire protocol of `docs/protocol.md`, names, history,
//! leaves however a member goes, files, and the slow-consumer policy with
//! the server's memory measured from `/proc`.
//!
//! Every read has a timeout (`common::PATIENCE`); nothing waits by
//! sleeping, and nothing asserts how long anything took. Where a test must
//! wait for the server to do something, it waits for the event itself: a
//! frame, or a line in the server's log. (One test sleeps between reads:
//! the slow reader of the drain-deadline test, whose slowness is the
//! behaviour under test, not a way of waiting for something.)

mod common;

use std::io::{Read, Write};
use std::net::Shutdown;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use common::chat::{ChatMember, Fields};
use common::{get, proc_status_field, raw_request, TestServer, PATIENCE};
use duplex::json::read::JsonValue as Json;
use duplex::websocket::{CloseCode, Incoming, Message, MessageReader, Opcode, Role};

#[test]
fn a_plain_get_on_chat_asks_for_an_upgrade() {
    let server = TestServer::start(&[]);
    let response = get(&server, "/chat");
    assert_eq!(response.status, 426);
    assert_eq!(response.header("Upgrade"), Some("websocket"));
}

#[test]
fn the_http_push_paths_exist_only_with_the_push_layer() {
    let server = TestServer::start(&[]);
    let post = b"POST /api/send?name=web HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi";
    let sent = raw_request(&server, post).status;
    let polled = get(&server, "/api/messages").status;
    if cfg!(feature = "push") {
        assert_eq!((sent, polled), (200, 200));
    } else {
        // (The event stream is asked for only here: with `push` it never ends.)
        let streamed = get(&server, "/api/events").status;
        assert_eq!((sent, polled, streamed), (404, 404, 404));
    }
}

#[test]
fn two_members_exchange_messages_and_each_gets_its_own_copy() {
    let server = TestServer::start(&[]);
    let (mut ann, welcome) = ChatMember::join(&server, "?name=ann");
    assert_eq!(welcome.strings("members"), ["ann"]);
    assert_eq!(welcome.array("history").len(), 0);
    let (mut bob, welcome) = ChatMember::join(&server, "?name=bob");
    assert_eq!(welcome.strings("members"), ["ann", "bob"]);
    let join = ann.event();
    assert_eq!((join.kind(), join.str("name")), ("join", "bob"));
    assert_eq!(join.num("seq"), welcome.num("seq"), "bob's welcome names his own join");

    ann.say("hi bob");
    let (to_ann, to_bob) = (ann.event(), bob.event());
    assert_eq!(to_ann, to_bob, "everyone gets the same event");
    assert_eq!(to_bob.kind(), "message");
    assert_eq!((to_bob.str("from"), to_bob.str("text")), ("ann", "hi bob"));
    assert_eq!(to_bob.num("seq"), join.num("seq") + 1);
    assert!(to_bob.num("time") > 1_600_000_000_000, "milliseconds since 1970");

    bob.say("hello ann");
    let (to_ann, to_bob) = (ann.event(), bob.event());
    assert_eq!(to_ann, to_bob);
    assert_eq!((to_ann.str("from"), to_ann.str("text")), ("bob", "hello ann"));
    assert_eq!(to_ann.num("seq"), join.num("seq") + 2);
}

#[test]
fn hostile_text_survives_json_escaping() {
    let server = TestServer::start(&[]);
    let (mut ann, _) = ChatMember::join(&server, "?name=ann");
    let (mut bob, _) = ChatMember::join(&server, "?name=bob");
    ann.event_of("join");
    let controls: String = (0u8..0x20).map(char::from).collect();
    let hostile = [
        r#"she said "hi" and left"#.to_string(),
        r"C:\path\to\file \u0041 \\".to_string(),
        "line one\nline two\r\n\ttabbed".to_string(),
        "</script><script>alert(1)</script>".to_string(),
        "emoji 😀 👨‍👩‍👧 𝄞 and é".to_string(),
        format!("controls [{controls}] end"),
        "separators \u{2028} \u{2029} \u{7f} \u{85}".to_string(),
        r#"","from":"admin","text":"pwned"#.to_string(),
    ];
    for text in &hostile {
        ann.say(text);
        for member in [&mut ann, &mut bob] {
            // `json_read::parse` refuses raw control characters inside
            // strings, as JSON does, so this also checks the escaping itself.
            let event = member.event();
            assert_eq!(event.str("text"), text.as_str());
            assert_eq!(event.str("from"), "ann");
        }
    }
}

#[test]
fn names_default_duplicate_too_long_and_control_characters() {
    let server = TestServer::start(&[]);
    let (_guest, welcome) = ChatMember::join(&server, "");
    assert!(welcome.str("you").starts_with("guest-"), "{welcome:?}");
    let (_ann, _) = ChatMember::join(&server, "?name=ann");
    let (mut ann2, _) = ChatMember::join(&server, "?name=ann");
    assert_eq!(ann2.name, "ann-2");
    let (jurgen, _) = ChatMember::join(&server, "?name=%20%20J%C3%BCrgen+K%20");
    assert_eq!(jurgen.name, "Jürgen K", "percent-decoded, + as space, trimmed");

    let longest = "x".repeat(32);
    assert_eq!(ChatMember::join(&server, &format!("?name={longest}")).0.name, longest);
    let refused = [
        format!("?name={longest}y"),
        "?name=a%07b".into(),
        "?name=a%0Ab".into(),
        "?name=%ff".into(), // not UTF-8
        "?name=%zz".into(), // not an escape
    ];
    for refused in refused {
        let (mut member, _) = ChatMember::join(&server, &refused);
        assert!(member.name.starts_with("guest-"), "{refused} -> {}", member.name);
        let error = member.event();
        assert_eq!(error.kind(), "error");
        assert!(error.str("reason").starts_with("name refused: "), "{error:?}");
    }

    // /nick follows the same rules; a taken name gets a suffix.
    ann2.say("/nick Jürgen K");
    let rename = ann2.event_of("rename");
    assert_eq!((rename.str("from"), rename.str("to")), ("ann-2", "Jürgen K-2"));
    // (Others' joins and leaves may arrive in between, hence `event_of`.)
    ann2.say("/nick bad\u{1b}[31m");
    let error = ann2.event_of("error");
    assert!(error.str("reason").contains("U+001B"), "{error:?}");
    ann2.say("still me");
    assert_eq!(ann2.event_of("message").str("from"), "Jürgen K-2");
}

#[test]
fn newcomers_get_the_recent_history() {
    let server = TestServer::start(&[]);
    let (mut ann, _) = ChatMember::join(&server, "?name=ann");
    for i in 0..5 {
        ann.say(&format!("message {i}"));
        ann.event_of("message");
    }
    let (_bob, welcome) = ChatMember::join(&server, "?name=bob");
    let history = welcome.array("history");
    assert_eq!(history.len(), 5);
    for (i, event) in history.iter().enumerate() {
        assert_eq!(event.kind(), "message");
        assert_eq!(event.str("text"), format!("message {i}"));
        assert_eq!(event.str("from"), "ann");
    }
    let seqs: Vec<u64> = history.iter().map(|e| e.num("seq")).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    assert!(welcome.num("seq") > seqs[4]);
}

#[test]
fn every_way_of_leaving_is_one_leave_event() {
    let server = TestServer::start(&[]);
    let (mut ann, _) = ChatMember::join(&server, "?name=ann");
    let (bob, _) = ChatMember::join(&server, "?name=bob");
    let (mut carol, _) = ChatMember::join(&server, "?name=carol");

    drop(bob); // no close frame: the TCP connection just ends
    let leave = ann.event_of("leave");
    assert_eq!((leave.str("name"), leave.str("reason")), ("bob", "connection lost"));

    carol.peer.send_frame(true, Opcode::Close, &1000u16.to_be_bytes());
    assert_eq!(carol.peer.expect_close_code(), CloseCode::Normal);
    let leave = ann.event();
    assert_eq!((leave.kind(), leave.str("name")), ("leave", "carol"));
    assert_eq!(leave.str("reason"), "left");

    // Nothing more: the next event is ann's own message, not another leave.
    ann.say("anyone?");
    assert_eq!(ann.event().kind(), "message");
    server.wait_for_log("chat: bob gone from main: connection lost");
    server.wait_for_log("chat: carol gone from main: left");
    assert_eq!(server.log_count("chat: bob gone"), 1);
    assert_eq!(server.log_count("chat: carol gone"), 1);
}

#[test]
fn a_silent_member_is_pinged_then_dropped_as_timed_out() {
    // Short enough for a quick test, long enough that ann, whose pongs
    // keep her alive, is not dropped by a busy machine's scheduling.
    let server = TestServer::start(&["--ping-interval", "0.3", "--idle-timeout", "1.5"]);
    let (mut ann, _) = ChatMember::join(&server, "?name=ann"); // answers pings
    let (mut mute, _) = ChatMember::join(&server, "?name=mute"); // will not
    let leave = ann.event_of("leave");
    assert_eq!((leave.str("name"), leave.str("reason")), ("mute", "timed out"));
    assert!(matches!(mute.peer.read(), Incoming::Ping(_)), "pinged before being dropped");
    assert_eq!(mute.peer.expect_close_code(), CloseCode::GoingAway);
}

#[test]
fn files_are_relayed_to_the_others_after_a_file_event() {
    let server = TestServer::start(&["--max-chat-file", "1000", "--max-chat-text", "16"]);
    let (mut ann, _) = ChatMember::join(&server, "?name=ann");
    let (mut bob, _) = ChatMember::join(&server, "?name=bob");
    ann.event_of("join");

    let png: Vec<u8> = (0..=255).collect();
    ann.say("/file image/png tiny picture.png");
    ann.send_file(&png);
    let file = bob.event();
    assert_eq!(file.kind(), "file");
    assert_eq!((file.str("from"), file.num("size")), ("ann", 256));
    assert_eq!((file.str("mime"), file.str("name")), ("image/png", "tiny picture.png"));
    assert_eq!(bob.binary(), png);

    ann.send_file(b"undescribed"); // no /file: a nameless octet stream
    let file = bob.event();
    assert_eq!(file.str("mime"), "application/octet-stream");
    assert!(file.get("name").is_none());
    assert_eq!(bob.binary(), b"undescribed");

    ann.say(&"x".repeat(17)); // over --max-chat-text
    assert!(ann.event().str("reason").starts_with("message too long: 17 bytes"));
    ann.say("");
    assert_eq!(ann.event().kind(), "error");

    // The sender got no copy of its files, bob no copy of the refusals:
    // the next event for both is this message.
    ann.say(&"y".repeat(16));
    assert_eq!(ann.event().str("text"), "y".repeat(16));
    assert_eq!(bob.event().str("text"), "y".repeat(16));

    // Over --max-chat-file (and so over the largest message the endpoint
    // reads at all): refused from the frame header, with close 1009.
    ann.send_file(&[0; 1001]);
    assert_eq!(ann.peer.expect_close_code(), CloseCode::MessageTooBig);
    let leave = bob.event();
    assert_eq!((leave.kind(), leave.str("reason")), ("leave", "message too big"));
}

/// ann floods the room in lock-step with bob (each message is sent once
/// bob has the one before, so bob's outbox never fills), while sloth reads
/// nothing. Returns bob's thread, which reports every event it reads.
fn flood_setup(server: &TestServer) -> (ChatMember, ChatMember, mpsc::Receiver<Json>) {
    let (mut ann, _) = ChatMember::join(server, "?name=ann");
    let (mut bob, _) = ChatMember::join(server, "?name=bob");
    let (sloth, _) = ChatMember::join(server, "?name=sloth");
    ann.event_of("join");
    ann.event_of("join");
    bob.event_of("join");
    let (events, reports) = mpsc::channel();
    thread::spawn(move || loop {
        let event = bob.event();
        let file = (event.kind() == "file").then(|| bob.binary());
        let done = event.kind() == "leave" && event.str("name") == "sloth";
        let event = match file {
            Some(bytes) => Json::Array(vec![event, Json::Number(bytes.len() as f64)]),
            None => event,
        };
        if events.send(event).is_err() || done {
            return;
        }
    });
    (ann, sloth, reports)
}

fn report(reports: &mpsc::Receiver<Json>) -> Json {
    reports.recv_timeout(PATIENCE).expect("bob reported within the patience")
}

/// After the flood: sloth finally reads, finds part of the flood and then
/// close 1008; everyone else hears that sloth left as too slow.
/// `flood` is how many messages the flood sent sloth's way.
fn check_sloth_was_cut_off(server: &TestServer, sloth: &mut ChatMember, flood: usize) -> usize {
    let mut received = 0;
    let close = loop {
        match sloth.peer.read() {
            Incoming::Message(_) => received += 1,
            Incoming::Close(frame) => break frame.expect("a close code"),
            Incoming::Ping(_) | Incoming::Pong(_) => {}
        }
    };
    assert_eq!(close.code, CloseCode::PolicyViolation);
    // Over the hard limit, or above the soft one past the grace: which
    // comes first depends on how fast this machine floods.
    assert!(close.reason.starts_with("too slow: "), "{}", close.reason);
    assert!(received < flood, "sloth got {received} of {flood}: it was not cut off");
    server.wait_for_log("chat: sloth gone from main: too slow");
    assert_eq!(server.log_count("chat: sloth is too slow"), 1);
    received
}

#[test]
fn a_member_who_never_reads_is_cut_off_and_nobody_else_misses_a_message() {
    // Generous timeouts, so the server never gives up on sloth by itself
    // (that would be a different ending), however slow this machine is.
    // `--trace`, to check that the 1008 is traced like every other frame.
    let args =
        ["--write-timeout", "600", "--ping-interval", "600", "--idle-timeout", "900", "--trace"];
    let server = TestServer::start(&args);
    let (mut ann, mut sloth, reports) = flood_setup(&server);
    let text = |i: usize| format!("{i:06} {}", "x".repeat(60_000));
    // Flood until the server cuts sloth off (its socket buffers fill first,
    // then its outbox), then ten more to show the room carries on.
    let mut sent = 0;
    let mut after_cut = 0;
    while after_cut < 10 {
        assert!(sent < 2000, "sloth was never cut off");
        ann.say(&text(sent));
        assert_eq!(ann.event_of("message").str("text"), text(sent));
        let event = report(&reports);
        assert_eq!((event.kind(), event.str("text")), ("message", text(sent).as_str()));
        sent += 1;
        if server.log_count("chat: sloth is too slow") > 0 {
            after_cut += 1;
        }
    }
    check_sloth_was_cut_off(&server, &mut sloth, sent);
    let leave = report(&reports);
    assert_eq!(
        (leave.kind(), leave.str("name"), leave.str("reason")),
        ("leave", "sloth", "too slow")
    );
    server.wait_for_log("-> send FIN=1 RSV=000 CLOSE(0x8) MASK=0");
    server.wait_for_log("code=1008 reason=\"too slow: ");
}

#[test]
#[cfg(target_os = "linux")] // memory is read from /proc
fn memory_stays_bounded_while_a_member_never_reads() {
    let args = ["--write-timeout", "600", "--ping-interval", "600", "--idle-timeout", "900"];
    let server = TestServer::start(&args);
    let (mut ann, mut sloth, reports) = flood_setup(&server);
    const FILE: usize = 1024 * 1024;
    const FILES: usize = 96; // 96 MiB through the room, to sloth's outbox (8 MiB at most)
    let mut send = |i: usize| {
        let mut file = vec![0u8; FILE];
        file[0] = i as u8;
        ann.send_file(&file);
        let report = report(&reports);
        assert_eq!(report.array_at(1).as_f64(), FILE as f64, "bob got file {i} whole");
    };
    send(0); // warm up: the first file's allocations are not growth
    let before = server.rss_kib();
    for i in 1..FILES {
        send(i);
    }
    let peak = proc_status_field(server.pid(), "VmHWM:");
    let growth_mib = peak.saturating_sub(before) / 1024;
    eprintln!("server memory: {before} KiB before, peak {peak} KiB after {FILES} MiB of files");
    // If sloth's backlog were unbounded it would hold ~90 MiB by now (what
    // the kernel's socket buffers did not absorb). Bounded, the server holds
    // a few files in flight. 40 MiB is between the two with room to spare.
    assert!(growth_mib < 40, "peak memory grew by {growth_mib} MiB while sloth read nothing");
    check_sloth_was_cut_off(&server, &mut sloth, 2 * FILES); // event + bytes each
}

/// A member who says one short message after another for as long as it
/// runs, reading its own copies on a second thread. At most `WINDOW` of
/// its messages are unread at any time (a message is sent only once the
/// one `WINDOW` before it has come back), so its outbox never fills and
/// it is never cut off, however fast the machine.
struct Flood {
    stop: Arc<AtomicBool>,
    socket: std::net::TcpStream,
    sender: JoinHandle<usize>,
    reader: JoinHandle<()>,
}

impl Flood {
    const WINDOW: usize = 64;

    fn start(server: &TestServer) -> Flood {
        let (mut member, _) = ChatMember::join(server, "?name=flood");
        let socket = member.peer.writer.try_clone().expect("clone the socket");
        let mut writer = member.peer.writer.try_clone().expect("clone the socket");
        let (credit, credits) = mpsc::sync_channel(Flood::WINDOW);
        for _ in 0..Flood::WINDOW {
            credit.send(()).expect("room for the first credits");
        }
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let sender = thread::spawn(move || {
            let mut sent = 0;
            while !stopped.load(Ordering::Relaxed) {
                if credits.recv_timeout(PATIENCE).is_err() {
                    break; // the reader has gone
                }
                let frame = common::client_frame(true, Opcode::Text, format!("{sent}").as_bytes());
                if writer.write_all(&frame).is_err() {
                    break;
                }
                sent += 1;
            }
            sent
        });
        // Reads with the codec directly, not `ChatMember::next`, so the end
        // of the connection (when the test is over) ends the thread quietly.
        let reader = thread::spawn(move || {
            let mut messages = MessageReader::new(Role::Client, 1 << 20);
            while let Ok(incoming) = messages.read(&mut member.peer.reader) {
                if let Incoming::Message(Message::Text(text)) = incoming {
                    if text.contains(r#""from":"flood""#) {
                        let _ = credit.try_send(());
                    }
                }
            }
        });
        Flood { stop, socket, sender, reader }
    }

    /// Stops the flood, hangs up, and returns how many messages it sent.
    fn stop(self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        let sent = self.sender.join().expect("the flood's sender");
        let _ = self.socket.shutdown(Shutdown::Both);
        self.reader.join().expect("the flood's reader");
        sent
    }
}

/// RFC 6455 §5.5.1: once the server has sent its close frame, it sends
/// nothing more. The room keeps broadcasting while a closing member is on
/// its way out; those broadcasts must not reach the wire after the close.
/// Twenty members, one after the other, each hears the flood, closes, and
/// reads on past the server's close frame to the end of the stream.
#[test]
fn nothing_follows_the_servers_close_frame_even_mid_flood() {
    let server = TestServer::start(&["--ping-interval", "600", "--idle-timeout", "900"]);
    let flood = Flood::start(&server);
    for i in 0..20 {
        let (mut closer, _) = ChatMember::join(&server, &format!("?name=closer-{i}"));
        // The flood is on: this member is receiving it as it closes.
        closer.event_of("message");
        closer.peer.send_frame(true, Opcode::Close, &1000u16.to_be_bytes());
        assert_eq!(closer.peer.expect_close_code(), CloseCode::Normal);
        let mut after = Vec::new();
        closer.peer.reader.read_to_end(&mut after).expect("the server ends the stream");
        assert!(after.is_empty(), "closer-{i}: {} bytes after the close frame", after.len());
    }
    assert!(flood.stop() > 0);
}

/// A member closes with a long backlog still queued for it, and then
/// reads it slowly but steadily. The write timeout never fires (each write
/// makes progress), but the drain after the close has a deadline of its
/// own, one write timeout in all: the server gives up, hangs up, and the
/// connection's threads and slot are free, while the reader is still far
/// from the end of the backlog.
#[test]
fn a_slow_but_steady_reader_cannot_hold_a_closed_connection() {
    const CHUNK: usize = 32 * 1024;
    // A 64 MiB outbox holds the whole backlog, for as long as it takes:
    // slow is never cut off.
    let args = [
        "--write-timeout",
        "3",
        "--outbox-soft-bytes",
        "67108864",
        "--outbox-hard-bytes",
        "67108864",
        "--ping-interval",
        "600",
        "--idle-timeout",
        "900",
    ];
    let server = TestServer::start(&args);
    let (mut ann, _) = ChatMember::join(&server, "?name=ann");
    let (slow, _) = ChatMember::join(&server, "?name=slow");
    ann.event_of("join");
    let mut hang_up = slow.peer.writer.try_clone().expect("clone the socket");
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = Arc::clone(&stop);
    let reader = thread::spawn(move || {
        let mut slow = slow;
        let mut chunk = vec![0; CHUNK];
        // 32 KiB every 20 ms, at most 1.6 MB/s: steady enough that every
        // write makes progress well within the write timeout (the kernel
        // wakes a blocked writer once a third of its send buffer, at most
        // 4 MiB, is free: about every 0.9 s), slow enough that the backlog
        // below would take longer than `PATIENCE` to drain.
        while !stopped.load(Ordering::Relaxed) {
            match slow.peer.reader.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(_) => thread::sleep(Duration::from_millis(20)),
            }
        }
    });
    // About 28 MB for slow. ann reads her own copy of each message, so once
    // she has the last one, all of them are queued for slow (or on the way).
    let text = "x".repeat(60_000);
    for _ in 0..470 {
        ann.say(&text);
        ann.event_of("message");
    }
    hang_up.write_all(&common::client_frame(true, Opcode::Close, &1000u16.to_be_bytes())).unwrap();
    server.wait_for_log("chat: slow gone from main: left");
    // The writer gave up ("still writing 3s after the close: gave up"; on a
    // machine so loaded that a write made no progress at all, the write
    // timeout may say it first). Without a deadline it would go on for the
    // ~17 s the backlog takes at this pace, silently.
    server.wait_for_log("chat: writer stopped: ");
    // The connection's thread has returned and given back its slot.
    server.wait_for_log("closed: ");
    stop.store(true, Ordering::Relaxed);
    reader.join().expect("the slow reader");
}
