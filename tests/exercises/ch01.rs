//! Chapter 1, why WebSocket (`docs/01-why-websocket.md`): the room's HTTP
//! face, `/api/events` (the `push` layer).

use std::io::{Read, Write};

use duplex::json::read::{parse, JsonValue};

use crate::common::chat::{ChatMember, Fields};
use crate::common::push::EventStream;
use crate::common::TestServer;
use crate::wire::Deadline;

fn json(data: Option<&str>) -> JsonValue {
    let text = data.expect("an event with data");
    parse(text).unwrap_or_else(|error| panic!("not JSON ({error}): {text:?}"))
}

#[test]
#[ignore = "exercise: ch01 ex2"]
fn ch01_ex2_joins_and_leaves_are_named_events() {
    let server = TestServer::start(&[]);
    let mut stream = EventStream::open(&server, "", None);
    assert_eq!(stream.head.status, 200);

    let (mut ann, _) = ChatMember::join(&server, "?name=ann");
    let join = stream.next_event();
    assert_eq!(join.event.as_deref(), Some("join"), "{join:?}");
    let data = json(join.data.as_deref());
    assert_eq!((data.kind(), data.str("name")), ("join", "ann"));
    let join_seq = data.num("seq");

    // Messages are as they were: unnamed, with the seq as their id.
    ann.say("hello");
    let (_, said) = stream.next_message();
    assert_eq!(said.text, "hello");
    assert!(said.seq > join_seq);

    let (bob, _) = ChatMember::join(&server, "?name=bob");
    let join = stream.next_event();
    assert_eq!(join.event.as_deref(), Some("join"));
    assert_eq!(json(join.data.as_deref()).str("name"), "bob");
    bob.close();
    let leave = stream.next_event();
    assert_eq!(leave.event.as_deref(), Some("leave"), "{leave:?}");
    let data = json(leave.data.as_deref());
    assert_eq!((data.kind(), data.str("name"), data.str("reason")), ("leave", "bob", "left"));

    ann.say("still unnamed");
    let (_, said) = stream.next_message();
    assert_eq!(said.text, "still unnamed");
}

/// The raw bytes of one event stream, and where each block starts.
struct CountedStream {
    socket: std::net::TcpStream,
    bytes: Vec<u8>,
    /// Where the next unread block starts, counted from the response's
    /// first byte.
    next_block: usize,
}

impl CountedStream {
    fn open(server: &TestServer) -> CountedStream {
        let mut socket = server.connect();
        socket.write_all(b"GET /api/events HTTP/1.1\r\nHost: test\r\n\r\n").unwrap();
        let mut stream = CountedStream { socket, bytes: Vec::new(), next_block: 0 };
        let head_end = stream.read_until(b"\r\n\r\n", 0);
        assert!(
            stream.bytes.starts_with(b"HTTP/1.1 200"),
            "{:?}",
            String::from_utf8_lossy(&stream.bytes)
        );
        stream.next_block = head_end;
        stream
    }

    /// Reads until `pattern` occurs at or after `from`; returns the offset
    /// just past it.
    fn read_until(&mut self, pattern: &[u8], from: usize) -> usize {
        let deadline = Deadline::start();
        loop {
            deadline.check("more of the event stream");
            if let Some(at) = self.bytes[from..].windows(pattern.len()).position(|w| w == pattern) {
                return from + at + pattern.len();
            }
            let mut buffer = [0u8; 4096];
            let n = self.socket.read(&mut buffer).expect("more of the event stream in time");
            assert!(n > 0, "the event stream ended");
            self.bytes.extend_from_slice(&buffer[..n]);
        }
    }

    /// The next block (up to a blank line) and the offset it starts at.
    fn next(&mut self) -> (usize, String) {
        let start = self.next_block;
        let end = self.read_until(b"\n\n", start);
        self.next_block = end;
        (start, String::from_utf8_lossy(&self.bytes[start..end]).into_owned())
    }

    /// Reads blocks until a `stats` event; checks its count.
    fn expect_stats(&mut self) {
        let deadline = Deadline::start();
        loop {
            deadline.check("a stats event");
            let (start, block) = self.next();
            if !block.lines().any(|line| line == "event: stats") {
                continue;
            }
            let data = block.lines().find_map(|l| l.strip_prefix("data: ")).expect("stats data");
            let counted = parse(data).expect("stats is JSON").num("bytes");
            assert_eq!(counted, start as u64, "bytes written before this event: {block:?}");
            return;
        }
    }
}

#[test]
#[ignore = "exercise: ch01 ex3"]
fn ch01_ex3_the_server_counts_the_bytes_of_each_stream() {
    let server = TestServer::start(&["--heartbeat", "0.2"]);
    let mut stream = CountedStream::open(&server);
    stream.expect_stats();
    stream.expect_stats();
    // A message in between: the count goes on from where it was.
    let (mut ann, _) = ChatMember::join(&server, "?name=ann");
    ann.say(&"long enough to matter ".repeat(20));
    ann.message();
    stream.expect_stats();
    stream.expect_stats();
}
