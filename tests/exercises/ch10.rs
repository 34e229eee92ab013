//! Chapter 10, beyond one process (`docs/10-beyond-one-process.md`).
//! These referees start their own `redis-server` (it must be installed).

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;

use crate::common::chat::{ChatMember, Fields};
use crate::common::redis::{shared_duplex, RedisServer};
use crate::common::PATIENCE;
use crate::wire::Deadline;

/// A connection to Redis in `MONITOR` mode: every command any client
/// sends, one line each, as Redis prints them
/// (`1700000000.123456 [0 127.0.0.1:50000] "EVALSHA" "3f..." ...`).
struct Monitor {
    reader: BufReader<TcpStream>,
}

impl Monitor {
    fn start(redis: &RedisServer) -> Monitor {
        let stream = TcpStream::connect(redis.host_port()).expect("connect to redis");
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        (&stream).write_all(b"*1\r\n$7\r\nMONITOR\r\n").unwrap();
        let mut monitor = Monitor { reader: BufReader::new(stream) };
        assert_eq!(monitor.line(), "+OK");
        monitor
    }

    fn line(&mut self) -> String {
        let mut line = String::new();
        self.reader.read_line(&mut line).expect("a line from MONITOR within the timeout");
        line.trim_end().to_string()
    }

    /// Reads until `events` room events have been published (one
    /// `PUBLISH` run by a script each) and returns how many times the
    /// event script's text crossed the wire meanwhile (as `EVAL` or
    /// `SCRIPT LOAD`).
    fn script_texts_sent_for(&mut self, events: usize) -> usize {
        let (mut published, mut texts) = (0, 0);
        let deadline = Deadline::start();
        while published < events {
            deadline.check(&format!("{events} events published ({published} so far)"));
            let line = self.line();
            if line.contains("lua] \"PUBLISH\"") || line.contains("lua] \"publish\"") {
                published += 1;
            } else if sends_event_script(&line) {
                texts += 1;
            }
        }
        texts
    }

    /// Reads until `count` more scripts have been run by the processes
    /// (their heartbeats, say): proof that time has passed for them.
    fn scripts_run(&mut self, count: usize) {
        let mut seen = 0;
        let deadline = Deadline::start();
        while seen < count {
            deadline.check("the processes' heartbeats");
            let line = self.line();
            let upper = line.to_ascii_uppercase();
            if !line.contains("lua]") && (upper.contains("] \"EVAL") || upper.contains("] \"FCALL"))
            {
                seen += 1;
            }
        }
    }
}

/// Does this `MONITOR` line carry the room-event script's text? That
/// script is the one that publishes.
fn sends_event_script(line: &str) -> bool {
    let upper = line.to_ascii_uppercase();
    let command = upper.contains("] \"EVAL\" ") || upper.contains("] \"SCRIPT\" \"LOAD\"");
    command && !line.contains("lua]") && upper.contains("PUBLISH")
}

/// Sends one command to Redis on a fresh connection and returns the
/// first line of its reply.
fn redis_command(redis: &RedisServer, words: &[&str]) -> String {
    let stream = TcpStream::connect(redis.host_port()).expect("connect to redis");
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut command = format!("*{}\r\n", words.len());
    for word in words {
        command += &format!("${}\r\n{word}\r\n", word.len());
    }
    (&stream).write_all(command.as_bytes()).unwrap();
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).expect("a reply");
    line.trim_end().to_string()
}

#[test]
#[ignore = "exercise: ch10 ex2"]
fn ch10_ex2_the_event_script_crosses_the_wire_once() {
    let redis = RedisServer::start();
    let server = shared_duplex(&redis, &[]);
    let mut monitor = Monitor::start(&redis);

    // A join and five messages: six events, one script text at most.
    let (mut ann, _) = ChatMember::join(&server, "?name=ann");
    for i in 0..5 {
        ann.say(&format!("before {i}"));
        assert_eq!(ann.message().2, format!("before {i}"));
    }
    let texts = monitor.script_texts_sent_for(6);
    assert!(texts <= 1, "the event script's text was sent {texts} times for 6 events");

    // Redis forgets its scripts (as after a restart): the next event
    // meets NOSCRIPT, sends the text once more, and arrives all the same.
    assert_eq!(redis_command(&redis, &["SCRIPT", "FLUSH"]), "+OK");
    for i in 0..5 {
        ann.say(&format!("after {i}"));
        assert_eq!(ann.message().2, format!("after {i}"), "an event lost to NOSCRIPT");
    }
    let texts = monitor.script_texts_sent_for(5);
    assert!(texts <= 1, "after SCRIPT FLUSH the text was sent {texts} times for 5 events");
}

#[test]
#[ignore = "exercise: ch10 ex3"]
fn ch10_ex3_a_dead_process_members_leave_exactly_once() {
    let redis = RedisServer::start();
    let fast = ["--redis-heartbeat", "0.2"];
    let (b, c) = (shared_duplex(&redis, &fast), shared_duplex(&redis, &fast));
    let (mut bob, _) = ChatMember::join(&b, "?name=bob");
    let (mut cid, _) = ChatMember::join(&c, "?name=cid");
    assert_eq!(bob.event_of("join").str("name"), "cid");

    let a = shared_duplex(&redis, &fast);
    let (ann, _) = ChatMember::join(&a, "?name=ann");
    let (eve, _) = ChatMember::join(&a, "?name=eve");
    for member in [&mut bob, &mut cid] {
        assert_eq!(member.event_of("join").str("name"), "ann");
        assert_eq!(member.event_of("join").str("name"), "eve");
    }
    // A dies without a word: SIGKILL, no leave from A itself.
    drop(a);
    drop((ann, eve));

    // B and C both notice; each member hears each goodbye.
    let mut monitor = Monitor::start(&redis);
    for member in [&mut bob, &mut cid] {
        let mut gone = Vec::new();
        let deadline = Deadline::start();
        while gone.len() < 2 {
            deadline.check("a leave for each of A's members");
            let event = member.event();
            if event.kind() == "leave" {
                assert_eq!(event.str("reason"), "server gone", "{event:?}");
                gone.push(event.str("name").to_string());
            }
        }
        gone.sort();
        assert_eq!(gone, ["ann", "eve"], "one leave each, for A's members only");
    }
    // Let both survivors run several more heartbeats, then mark the end:
    // no second goodbye may arrive before the mark.
    monitor.scripts_run(12);
    bob.say("the end");
    for member in [&mut bob, &mut cid] {
        let deadline = Deadline::start();
        loop {
            deadline.check("the end mark");
            let event = member.event();
            match event.kind() {
                "leave" => panic!("a second goodbye: {event:?}"),
                "message" if event.str("text") == "the end" => break,
                _ => {}
            }
        }
    }
}
