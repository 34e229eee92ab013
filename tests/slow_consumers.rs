//! Slow is judged over time, not by one burst: over real sockets, with a
//! CPU-burning thread beside each scenario to stand for a busy machine
//! (it stops by itself, when the scenario is over or after a bound).
//!
//! - One sender keeps about 1 MiB in flight (32 messages of 32 KiB, never
//!   more than 32 ahead of the slower of two fast readers) while a third
//!   member never reads: both fast readers and the sender get every one of
//!   1,600 messages; the one that never reads is dropped as too slow; the
//!   server's memory stays within the bound `docs/protocol.md` §6 states.
//! - One write of 40 messages of 60,000 bytes: both fast readers and the
//!   sender get all 40.
//! - A member that reads slowly but steadily (200 KiB/s while the room
//!   sends 100 KiB/s) is never dropped.
//!
//! Every read has a timeout (`common::PATIENCE`). No test asserts how long
//! anything took; the only sleeps are the steady reader's and the room's
//! pace in the third scenario, which are the behaviour under test.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use common::chat::{ChatMember, Fields};
use common::{client_frame, proc_status_field, TestServer, PATIENCE};
use duplex::websocket::{Incoming, Message, Opcode};

/// Pings and idle timeouts far away, so that only the outbox policy can
/// end a member here (and no ping is written while the test writes).
const QUIET: [&str; 4] = ["--ping-interval", "600", "--idle-timeout", "900"];

/// Burns one CPU until `stop` is set, or for at most two minutes.
fn cpu_hog(stop: Arc<AtomicBool>) -> JoinHandle<()> {
    thread::spawn(move || {
        let started = Instant::now();
        let mut x: u64 = 1;
        while !stop.load(Ordering::Relaxed) && started.elapsed() < Duration::from_secs(120) {
            for _ in 0..100_000 {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
            }
            std::hint::black_box(x);
        }
    })
}

/// What a reader thread saw: the messages from `from`, in order, and the
/// reason of any `leave` it was told about.
struct Seen {
    messages: usize,
    leaves: Vec<(String, String)>,
}

/// Reads `member`'s events on a thread until it has `count` messages from
/// `from`, checking each is the next in order, and counting them in
/// `progress` as they come.
fn reader(
    mut member: ChatMember,
    from: &'static str,
    count: usize,
    progress: Arc<AtomicUsize>,
) -> JoinHandle<Seen> {
    thread::spawn(move || {
        let mut seen = Seen { messages: 0, leaves: Vec::new() };
        while seen.messages < count {
            let event = member.event();
            match event.kind() {
                "message" if event.str("from") == from => {
                    let text = event.str("text");
                    assert!(text.starts_with(&format!("{:06} ", seen.messages)), "out of order");
                    seen.messages += 1;
                    progress.store(seen.messages, Ordering::Release);
                }
                "leave" => seen.leaves.push((event.str("name").into(), event.str("reason").into())),
                _ => {}
            }
        }
        seen
    })
}

/// The `i`th message, `size` bytes long, numbered so order can be checked.
fn text(i: usize, size: usize) -> String {
    let mut text = format!("{i:06} ");
    text.push_str(&"x".repeat(size - text.len()));
    text
}

/// Joins the room as `name`, and reads its `welcome`.
fn join(server: &TestServer, name: &str) -> ChatMember {
    ChatMember::join(server, &format!("?name={name}")).0
}

/// The sender's socket, for writing from this thread while its own copies
/// are read on another.
fn writer_of(member: &ChatMember) -> TcpStream {
    member.peer.writer.try_clone().expect("a second handle on the socket")
}

/// Waits (spinning, with a bound) until `ready` says yes.
fn wait_until(what: &str, ready: impl Fn() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !ready() {
        assert!(Instant::now() < deadline, "waited too long for {what}");
        thread::yield_now();
    }
}

#[test]
#[cfg(target_os = "linux")] // memory is read from /proc
fn fast_readers_keep_up_through_a_long_flood_and_the_one_that_never_reads_is_dropped() {
    const COUNT: usize = 1600;
    const SIZE: usize = 32 * 1024;
    const IN_FLIGHT: usize = 32;
    let stop = Arc::new(AtomicBool::new(false));
    let hog = cpu_hog(Arc::clone(&stop));
    let server = TestServer::start(&QUIET);
    let sender = join(&server, "sender");
    let (fast1, fast2) = (join(&server, "fast1"), join(&server, "fast2"));
    let sloth = join(&server, "sloth"); // never reads a byte from now on
    let before = server.rss_kib();
    let mut out = writer_of(&sender);
    let progress: Vec<Arc<AtomicUsize>> = (0..3).map(|_| Arc::default()).collect();
    let readers: Vec<_> = [sender, fast1, fast2]
        .into_iter()
        .zip(&progress)
        .map(|(member, progress)| reader(member, "sender", COUNT, Arc::clone(progress)))
        .collect();
    let slower = || progress[1].load(Ordering::Acquire).min(progress[2].load(Ordering::Acquire));
    for i in 0..COUNT {
        wait_until("the fast readers", || slower() + IN_FLIGHT > i);
        out.write_all(&client_frame(true, Opcode::Text, text(i, SIZE).as_bytes())).unwrap();
    }
    let seen: Vec<Seen> = readers.into_iter().map(|r| r.join().expect("a reader")).collect();
    let peak = proc_status_field(server.pid(), "VmHWM:");
    stop.store(true, Ordering::Relaxed);
    hog.join().unwrap();
    for seen in &seen {
        assert_eq!(seen.messages, COUNT, "a reader that kept up missed messages");
    }
    // The one that never read was dropped, as too slow, and only it.
    server.wait_for_log("chat: sloth gone from main: too slow");
    assert_eq!(server.log_count("is too slow"), 1, "only sloth");
    let told =
        |seen: &Seen| seen.leaves.iter().any(|(name, why)| name == "sloth" && why == "too slow");
    assert!(seen.iter().skip(1).any(told) || server.log_count("sloth gone") == 1);
    drop(sloth);
    // The bound: sloth's outbox (8 MiB hard limit) and the frames in flight,
    // which every outbox shares. 48 MiB leaves room for the rest.
    let growth_mib = peak.saturating_sub(before) / 1024;
    eprintln!("server memory: {before} KiB before, peak {peak} KiB");
    assert!(growth_mib < 48, "peak memory grew by {growth_mib} MiB");
}

#[test]
fn a_burst_in_one_write_reaches_everyone_who_reads() {
    const COUNT: usize = 40;
    const SIZE: usize = 60_000;
    let stop = Arc::new(AtomicBool::new(false));
    let hog = cpu_hog(Arc::clone(&stop));
    let server = TestServer::start(&QUIET);
    let sender = join(&server, "sender");
    let (fast1, fast2) = (join(&server, "fast1"), join(&server, "fast2"));
    let mut out = writer_of(&sender);
    let readers: Vec<_> = [sender, fast1, fast2]
        .into_iter()
        .map(|member| reader(member, "sender", COUNT, Arc::default()))
        .collect();
    let burst: Vec<u8> = (0..COUNT)
        .flat_map(|i| client_frame(true, Opcode::Text, text(i, SIZE).as_bytes()))
        .collect();
    out.write_all(&burst).unwrap(); // 2.4 MB in one write
    for reader in readers {
        let seen = reader.join().expect("a reader");
        assert_eq!(seen.messages, COUNT);
        assert!(seen.leaves.is_empty(), "nobody was dropped: {:?}", seen.leaves);
    }
    stop.store(true, Ordering::Relaxed);
    hog.join().unwrap();
    assert_eq!(server.log_count("is too slow"), 0);
}

#[test]
fn a_reader_slow_but_faster_than_the_room_is_never_dropped() {
    const COUNT: usize = 60; // 6 s at 10 a second: twice the grace
    const SIZE: usize = 10 * 1024; // 100 KiB/s
    let stop = Arc::new(AtomicBool::new(false));
    let hog = cpu_hog(Arc::clone(&stop));
    let server = TestServer::start(&QUIET);
    let mut sender = join(&server, "sender");
    let mut steady = join(&server, "steady");
    sender.event_of("join");
    let pace = Duration::from_millis(100);
    let steady_reader = thread::spawn(move || {
        let mut received = 0;
        while received < COUNT {
            match steady.next() {
                Incoming::Message(Message::Text(text)) if text.contains("\"from\":\"sender\"") => {
                    received += 1;
                    // 200 KiB/s: half the time the room takes to say it.
                    thread::sleep(pace / 2);
                }
                Incoming::Message(_) => {}
                other => panic!("steady was ended: {other:?}"),
            }
        }
        received
    });
    for i in 0..COUNT {
        sender.say(&text(i, SIZE));
        assert_eq!(sender.message().2, text(i, SIZE));
        thread::sleep(pace); // the room's pace: the behaviour under test
    }
    assert_eq!(steady_reader.join().expect("steady's reader"), COUNT);
    stop.store(true, Ordering::Relaxed);
    hog.join().unwrap();
    assert_eq!(server.log_count("is too slow"), 0);
}
