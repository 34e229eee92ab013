//! What each way of pushing costs, measured rather than claimed.
//!
//! The same 50 chat messages, one every 100 ms on average (the gaps vary,
//! from a fixed pseudo-random sequence, as a conversation's do), are sent
//! into the room with `POST /api/send`, while five receivers, all at once,
//! each get them their own way: short polling every second, short polling every 100 ms, long
//! polling, Server-Sent Events and a WebSocket. Each receiver counts what
//! crosses its socket, in both directions, headers and framing included
//! (TCP/IP's own headers, and TLS, are not counted: they are below the
//! bytes an application reads and writes), how many requests it made, how
//! many answers came back empty, and when each message arrived. The delay
//! of a message is from just before the sender wrote its `POST` to just
//! after the receiver parsed it. Then the cost of *silence*: five fresh
//! receivers in a room where nobody speaks for 5 s. And the cost of
//! *sending*: the same messages as `POST`s and as WebSocket frames, each
//! waiting for its acknowledgement.
//!
//! It prints three Markdown tables and asserts only what must hold whatever
//! the machine: every receiver got every message, once, in order. The
//! numbers are for reading, not for asserting (they depend on the machine),
//! and chapter 1 (`docs/01-why-websocket.md`) shows a run of them. To
//! reproduce, with an optimised server:
//!
//! ```text
//! cargo test --release --test push_costs -- --nocapture
//! ```
//!
//! `PUSH_COSTS_MESSAGES`, `PUSH_COSTS_PACE_MS` and `PUSH_COSTS_QUIET_S`
//! change the workload.
//!
//! Two sleeps below are the *workload*, not synchronisation: the sender's
//! pace, and a short poller's interval, which is the very thing measured;
//! and in the quiet room, a read timeout is the measuring window. Every
//! wait for an event waits for the event itself.
// Tests of the `push` layer: built only with its feature (on by default).
#![cfg(feature = "push")]

mod common;

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use common::push::{Poll, Said};
use common::{client_frame, read_response, TestServer, UPGRADE_HEADERS};
use duplex::json::read::{parse, JsonValue};
use duplex::websocket::{Incoming, Message, MessageReader, Opcode, Role};

/// A socket that counts the bytes that cross it.
struct Metered {
    stream: TcpStream,
    read: u64,
    written: u64,
}

impl Read for Metered {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.stream.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}

impl Write for Metered {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.stream.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

/// A metered connection, read through a buffer (which does not change the
/// count: it is taken below the buffer, at the socket).
type Connection = BufReader<Metered>;

fn connect(server: &TestServer) -> Connection {
    BufReader::new(Metered { stream: server.connect(), read: 0, written: 0 })
}

/// What one receiver saw.
#[derive(Debug, Default)]
struct Tally {
    requests: u64,
    empty_answers: u64,
    bytes_received: u64,
    bytes_sent: u64,
    /// Message number and when it arrived, in order of arrival.
    arrivals: Vec<(usize, Instant)>,
}

impl Tally {
    fn finish(mut self, connection: &Connection) -> Tally {
        self.bytes_received = connection.get_ref().read;
        self.bytes_sent = connection.get_ref().written;
        self
    }

    fn arrived(&mut self, said: &Said) {
        self.arrivals.push((number_of(&said.text), Instant::now()));
    }
}

fn text_of(i: usize) -> String {
    format!("message {i:03} of the measuring run")
}

fn number_of(text: &str) -> usize {
    text.strip_prefix("message ")
        .and_then(|rest| rest.get(..3))
        .and_then(|digits| digits.parse().ok())
        .unwrap_or_else(|| panic!("not a measuring message: {text:?}"))
}

/// One plain HTTP request on a metered keep-alive connection.
fn request(connection: &mut Connection, target: &str, body: Option<&[u8]>) -> String {
    let head = match body {
        None => format!("GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
        Some(body) => format!(
            "POST {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n\r\n",
            body.len()
        ),
    };
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body.unwrap_or_default());
    connection.get_mut().write_all(&bytes).expect("send a request");
    let response = read_response(connection, false);
    assert_eq!(response.status, 200, "{target}: {}", response.text());
    response.text()
}

/// Short or long polling until `count` messages have arrived. `interval`
/// is the pause between short polls; `wait` makes them long polls.
fn poller(server: &TestServer, count: usize, interval: Duration, wait: Option<u32>) -> Tally {
    let mut connection = connect(server);
    let mut tally = Tally::default();
    let mut since = 0;
    while tally.arrivals.len() < count {
        let extra = wait.map(|seconds| format!("&wait={seconds}")).unwrap_or_default();
        let poll = Poll::parse(&request(
            &mut connection,
            &format!("/api/messages?since={since}{extra}"),
            None,
        ));
        tally.requests += 1;
        if poll.messages.is_empty() {
            tally.empty_answers += 1;
        }
        poll.messages.iter().for_each(|said| tally.arrived(said));
        since = poll.last_seq;
        if wait.is_none() && tally.arrivals.len() < count {
            thread::sleep(interval); // the polling interval: the workload
        }
    }
    tally.finish(&connection)
}

/// Server-Sent Events until `count` messages have arrived. `ready` is
/// signalled once the response head is in.
fn event_stream(server: &TestServer, count: usize, ready: mpsc::Sender<()>) -> Tally {
    let mut connection = connect(server);
    connection.get_mut().write_all(b"GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let head = read_response(&mut connection, true);
    assert_eq!(head.status, 200);
    let _ = ready.send(());
    let mut tally = Tally { requests: 1, ..Tally::default() };
    let mut line = String::new();
    while tally.arrivals.len() < count {
        line.clear();
        assert!(connection.read_line(&mut line).expect("read the stream") > 0, "stream ended");
        if let Some(json) = line.strip_prefix("data: ") {
            tally.arrived(&Said::parse(json.trim_end()));
        }
    }
    tally.finish(&connection)
}

/// The WebSocket handshake by hand on a metered connection, then the
/// `welcome`. Returns the connection and a reader of server messages.
fn websocket(server: &TestServer, name: &str) -> (Connection, MessageReader) {
    let mut connection = connect(server);
    let upgrade =
        format!("GET /chat?name={name} HTTP/1.1\r\nHost: 127.0.0.1\r\n{UPGRADE_HEADERS}\r\n");
    connection.get_mut().write_all(upgrade.as_bytes()).unwrap();
    assert_eq!(read_response(&mut connection, true).status, 101);
    let mut messages = MessageReader::new(Role::Client, 1 << 20);
    let welcome = next_event(&mut connection, &mut messages);
    assert_eq!(welcome.get("type").and_then(JsonValue::as_str), Some("welcome"));
    (connection, messages)
}

fn next_event(connection: &mut Connection, messages: &mut MessageReader) -> JsonValue {
    loop {
        match messages.read(connection).expect("a frame") {
            Incoming::Message(Message::Text(text)) => return parse(&text).expect("JSON"),
            Incoming::Ping(payload) => {
                connection.get_mut().write_all(&client_frame(true, Opcode::Pong, &payload)).unwrap()
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

fn next_message(connection: &mut Connection, messages: &mut MessageReader) -> Said {
    loop {
        let event = next_event(connection, messages);
        if event.get("type").and_then(JsonValue::as_str) == Some("message") {
            return Said::from_json(&event);
        }
    }
}

/// A WebSocket member receiving until `count` messages have arrived.
fn websocket_receiver(server: &TestServer, count: usize, ready: mpsc::Sender<()>) -> Tally {
    let (mut connection, mut messages) = websocket(server, "receiver");
    let _ = ready.send(());
    let mut tally = Tally { requests: 1, ..Tally::default() };
    while tally.arrivals.len() < count {
        let said = next_message(&mut connection, &mut messages);
        tally.arrived(&said);
    }
    tally.finish(&connection)
}

/// The ways to receive, as measured here.
#[derive(Debug, Clone, Copy)]
enum Technique {
    ShortPolling(Duration),
    LongPolling { wait: u32 },
    EventStream,
    WebSocket,
}

const TECHNIQUES: [Technique; 5] = [
    Technique::ShortPolling(Duration::from_secs(1)),
    Technique::ShortPolling(Duration::from_millis(100)),
    Technique::LongPolling { wait: 30 },
    Technique::EventStream,
    Technique::WebSocket,
];

impl Technique {
    fn name(self) -> String {
        match self {
            Technique::ShortPolling(interval) if interval.as_millis() % 1000 == 0 => {
                format!("short polling, every {} s", interval.as_secs())
            }
            Technique::ShortPolling(interval) => {
                format!("short polling, every {} ms", interval.as_millis())
            }
            Technique::LongPolling { wait } => format!("long polling (wait={wait})"),
            Technique::EventStream => "Server-Sent Events".into(),
            Technique::WebSocket => "WebSocket".into(),
        }
    }

    /// Receives `count` messages; `ready` is signalled once it is set up
    /// to receive (a poller is ready when its first request is out).
    fn receive(self, server: &TestServer, count: usize, ready: mpsc::Sender<()>) -> Tally {
        match self {
            Technique::ShortPolling(interval) => {
                let _ = ready.send(());
                poller(server, count, interval, None)
            }
            Technique::LongPolling { wait } => {
                let _ = ready.send(()); // the test watches the log instead
                poller(server, count, Duration::ZERO, Some(wait))
            }
            Technique::EventStream => event_stream(server, count, ready),
            Technique::WebSocket => websocket_receiver(server, count, ready),
        }
    }

    /// What it costs to be set up and wait through `quiet` in a room where
    /// nobody speaks: set up first, then count only the quiet window.
    fn stay_quiet(self, server: &TestServer, quiet: Duration) -> Tally {
        let mut connection = match self {
            Technique::EventStream => {
                let mut connection = connect(server);
                let get = b"GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
                connection.get_mut().write_all(get).unwrap();
                assert_eq!(read_response(&mut connection, true).status, 200);
                connection
            }
            Technique::WebSocket => websocket(server, "quiet").0,
            _ => connect(server),
        };
        let (read_before, written_before) =
            (connection.get_ref().read, connection.get_ref().written);
        let end = Instant::now() + quiet;
        let mut tally = Tally::default();
        match self {
            Technique::ShortPolling(interval) => {
                while Instant::now() < end {
                    let poll =
                        Poll::parse(&request(&mut connection, "/api/messages?since=0", None));
                    assert_eq!(poll.messages, [], "nobody speaks");
                    tally.requests += 1;
                    tally.empty_answers += 1;
                    thread::sleep(interval.min(end.saturating_duration_since(Instant::now())));
                }
            }
            Technique::LongPolling { wait } => {
                let ask = format!(
                    "GET /api/messages?since=0&wait={wait} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                );
                connection.get_mut().write_all(ask.as_bytes()).unwrap();
                tally.requests += 1;
                read_until(&mut connection, end); // its answer is due in `wait` s
            }
            Technique::EventStream | Technique::WebSocket => read_until(&mut connection, end),
        }
        tally.bytes_received = connection.get_ref().read - read_before;
        tally.bytes_sent = connection.get_ref().written - written_before;
        tally
    }
}

/// Reads (and counts) whatever arrives until `end`: the measuring window.
fn read_until(connection: &mut Connection, end: Instant) {
    loop {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        connection.get_ref().stream.set_read_timeout(Some(left)).unwrap();
        let length = match connection.fill_buf() {
            Ok([]) => panic!("the server closed a connection in a quiet room"),
            Ok(bytes) => bytes.len(),
            Err(error)
                if matches!(error.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) =>
            {
                return
            }
            Err(error) => panic!("reading in a quiet room: {error}"),
        };
        connection.consume(length);
    }
}

/// Gaps between messages: uniform from 0 to twice `pace`, from a fixed
/// pseudo-random sequence (xorshift), so every run sends the same pattern.
fn gaps(count: usize, pace: Duration) -> Vec<Duration> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let span = 2 * pace.as_micros() as u64 + 1;
    (0..count)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            Duration::from_micros(state % span)
        })
        .collect()
}

/// Delays in milliseconds: p50, p99 (nearest rank) and the largest.
fn percentiles(mut delays: Vec<f64>) -> [f64; 3] {
    delays.sort_by(f64::total_cmp);
    let rank =
        |p: f64| delays[((p * delays.len() as f64).ceil() as usize).clamp(1, delays.len()) - 1];
    [rank(0.50), rank(0.99), delays[delays.len() - 1]]
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).filter(|&n| n > 0).unwrap_or(default)
}

#[test]
fn what_each_way_of_pushing_costs() {
    let count = setting("PUSH_COSTS_MESSAGES", 50).min(999);
    let pace = Duration::from_millis(setting("PUSH_COSTS_PACE_MS", 100) as u64);
    let quiet = Duration::from_secs(setting("PUSH_COSTS_QUIET_S", 5) as u64);

    // 1. Fifty messages, five receivers at once.
    let server = Arc::new(TestServer::start(&[]));
    let mut results = Vec::new();
    for technique in TECHNIQUES {
        let (tally, tallied) = mpsc::channel();
        let (ready, is_ready) = mpsc::channel();
        let server = Arc::clone(&server);
        thread::spawn(move || {
            let _ = tally.send(technique.receive(&server, count, ready));
        });
        is_ready.recv_timeout(common::PATIENCE).expect("the receiver is set up");
        results.push((technique.name(), tallied));
    }
    // The long poll has looked, and found nothing yet: it is waiting.
    server.wait_for_log("long poll: nothing after seq 0 yet");

    let mut sender = connect(&server);
    let mut sent = Vec::with_capacity(count);
    let mut acknowledged = Vec::with_capacity(count);
    let mut next = Instant::now();
    for (i, gap) in gaps(count, pace).into_iter().enumerate() {
        next += gap;
        // The sender's pace: the workload, not a wait for anything.
        thread::sleep(next.saturating_duration_since(Instant::now()));
        let at = Instant::now();
        sent.push(at);
        request(&mut sender, "/api/send?name=sender", Some(text_of(i).as_bytes()));
        acknowledged.push(at.elapsed());
    }
    let post_cost = (sender.get_ref().written, sender.get_ref().read);

    println!(
        "\n{count} messages, one every {} ms on average, sent with POST /api/send;",
        pace.as_millis()
    );
    println!(
        "all five receivers at once, each counting its own socket's bytes (setup included).\n"
    );
    println!(concat!(
        "| receiving with | requests | empty answers | bytes received | per message ",
        "| bytes sent | delay p50 | p99 | max |"
    ));
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let patience = common::PATIENCE + pace * 2 * count as u32;
    for (name, tallied) in results {
        let tally = tallied.recv_timeout(patience).unwrap_or_else(|_| panic!("{name} finished"));
        let order: Vec<usize> = tally.arrivals.iter().map(|(i, _)| *i).collect();
        assert_eq!(order, (0..count).collect::<Vec<_>>(), "{name}: every message, once, in order");
        let delays = tally.arrivals.iter().map(|(i, at)| millis(at.duration_since(sent[*i])));
        let [p50, p99, max] = percentiles(delays.collect());
        println!(
            "| {name} | {} | {} | {} | {} | {} | {p50:.1} ms | {p99:.1} ms | {max:.1} ms |",
            tally.requests,
            tally.empty_answers,
            tally.bytes_received,
            tally.bytes_received / count as u64,
            tally.bytes_sent,
        );
    }

    // 2. Sending: the same messages as WebSocket frames, each waiting for its
    // echo (the room's acknowledgement), after the handshake and welcome.
    let (mut member, mut messages) = websocket(&server, "frames");
    let (before_up, before_down) = (member.get_ref().written, member.get_ref().read);
    let mut echoed = Vec::with_capacity(count);
    for i in 0..count {
        let at = Instant::now();
        let frame = client_frame(true, Opcode::Text, text_of(i).as_bytes());
        member.get_mut().write_all(&frame).unwrap();
        assert_eq!(number_of(&next_message(&mut member, &mut messages).text), i);
        echoed.push(at.elapsed());
    }
    let frame_cost = (member.get_ref().written - before_up, member.get_ref().read - before_down);

    println!("\nSending the same {count} messages, each waiting for its acknowledgement");
    println!("(the POST's response; the WebSocket member's own copy of its message).\n");
    println!(concat!(
        "| sending with | bytes sent | bytes received | per message, both ways ",
        "| round trip p50 | p99 | max |"
    ));
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (name, (up, down), round_trips) in [
        ("POST /api/send, keep-alive", post_cost, acknowledged),
        ("WebSocket text frames", frame_cost, echoed),
    ] {
        let [p50, p99, max] = percentiles(round_trips.into_iter().map(millis).collect());
        let each = (up + down) / count as u64;
        println!("| {name} | {up} | {down} | {each} | {p50:.2} ms | {p99:.2} ms | {max:.2} ms |");
    }

    // 3. Silence: a fresh, empty room, and five receivers waiting in it.
    let quiet_server = Arc::new(TestServer::start(&[]));
    let waiting: Vec<_> = TECHNIQUES
        .into_iter()
        .map(|technique| {
            let (tally, tallied) = mpsc::channel();
            let server = Arc::clone(&quiet_server);
            thread::spawn(move || {
                let _ = tally.send(technique.stay_quiet(&server, quiet));
            });
            (technique.name(), tallied)
        })
        .collect();
    println!(
        "\nA room where nobody speaks for {} s, after each receiver is set up.\n",
        quiet.as_secs()
    );
    println!("| waiting with | requests | bytes received | bytes sent |");
    println!("|---|---:|---:|---:|");
    for (name, tallied) in waiting {
        let tally =
            tallied.recv_timeout(common::PATIENCE + quiet).unwrap_or_else(|_| panic!("{name}"));
        println!(
            "| {name} | {} | {} | {} |",
            tally.requests, tally.bytes_received, tally.bytes_sent
        );
    }
    println!();
}
