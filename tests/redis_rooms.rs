//! One room, two processes: duplex with `--redis`, against a real
//! `redis-server` started per test on a free loopback port
//! (`tests/common/redis.rs`), and two (or more) real `duplex` processes
//! sharing the room through it. What chapter 10 promises, checked over
//! real sockets:
//!
//! - a message crosses both ways exactly once, and every member sees the
//!   same events in the same order, with the same `seq`;
//! - history and the member list agree across processes; a leave on one
//!   shows on the other; files and HTTP posts cross too;
//! - Redis restarted mid-test: both processes notice, chat locally
//!   meanwhile, reconnect and carry on; a stopped (slow) Redis costs a
//!   sender an `error` event, never a blocked thread;
//! - a crashed process's members leave the member list after the TTL;
//! - Redis unreachable at start: a clear error and exit status 3;
//! - without `--redis` the server opens no socket but its listener.
//!
//! Every read has a timeout; nothing waits by sleeping: tests wait for the
//! event itself (a frame, a log line). No test asserts how long anything
//! took.

mod common;

use std::process::ExitCode;

use std::process::Command;

use common::chat::{ChatMember, Fields};
use common::push::HttpClient;
use common::redis::{free_port, shared_duplex, RedisServer};
use common::{run_until_exit, TestServer};

/// Reads chat messages until every text in `until` has been seen; returns
/// them all, `(seq, text)`, in the order they arrived.
fn messages_until(member: &mut ChatMember, until: &[&str]) -> Vec<(u64, String)> {
    let mut seen = Vec::new();
    while !until.iter().all(|end| seen.iter().any(|(_, text)| text == end)) {
        let (seq, _, text) = member.message();
        seen.push((seq, text));
    }
    seen
}

fn messages_cross_both_ways_exactly_once_in_one_order() {
    let redis = RedisServer::start();
    let (a, b) = (shared_duplex(&redis, &[]), shared_duplex(&redis, &[]));
    let (mut ann, welcome) = ChatMember::join(&a, "?name=ann");
    assert_eq!(welcome.strings("members"), ["ann"]);
    let (mut bob, welcome) = ChatMember::join(&b, "?name=bob");
    assert_eq!(welcome.strings("members"), ["ann", "bob"], "B's welcome lists ann, on A");
    let join = ann.event();
    assert_eq!((join.kind(), join.str("name")), ("join", "bob"));
    assert_eq!(join.num("seq"), welcome.num("seq"), "one numbering for both processes");

    const EACH: usize = 25;
    for i in 0..EACH {
        ann.say(&format!("from A {i}"));
        bob.say(&format!("from B {i}"));
    }
    let ends = ["from A 24", "from B 24"];
    let (to_ann, to_bob) = (messages_until(&mut ann, &ends), messages_until(&mut bob, &ends));
    assert_eq!(to_ann, to_bob, "both members see the same events, same seq, same order");
    assert_eq!(to_ann.len(), 2 * EACH, "every message exactly once: {to_ann:?}");
    let seqs: Vec<u64> = to_ann.iter().map(|(seq, _)| *seq).collect();
    let expected: Vec<u64> = (join.num("seq") + 1..).take(2 * EACH).collect();
    assert_eq!(seqs, expected, "no gaps, no repeats");
    for i in 0..EACH {
        for text in [format!("from A {i}"), format!("from B {i}")] {
            assert_eq!(to_ann.iter().filter(|(_, t)| *t == text).count(), 1, "{text}");
        }
    }
    // Nothing straggles in after: the next message each gets is this one.
    ann.say("last");
    assert_eq!(ann.message().2, "last");
    assert_eq!(bob.message().2, "last");
}

fn history_and_member_list_agree_across_processes() {
    let redis = RedisServer::start();
    let (a, b) = (shared_duplex(&redis, &[]), shared_duplex(&redis, &[]));
    let (mut ann, _) = ChatMember::join(&a, "?name=ann");
    let mut said = Vec::new();
    for i in 0..3 {
        ann.say(&format!("earlier {i}"));
        said.push(ann.event_of("message"));
    }
    let (_bob, on_b) = ChatMember::join(&b, "?name=bob");
    assert_eq!(on_b.array("history"), said, "B's newcomer sees A's messages, byte for byte");
    assert_eq!(on_b.strings("members"), ["ann", "bob"]);
    let (_cy, on_a) = ChatMember::join(&a, "?name=cy");
    assert_eq!(on_a.array("history"), said);
    assert_eq!(on_a.strings("members"), ["ann", "bob", "cy"], "A's newcomer sees bob, on B");
    // A name held on the other process counts as taken.
    let (_other_ann, on_b) = ChatMember::join(&b, "?name=ann");
    assert_eq!(on_b.str("you"), "ann-2");
}

fn a_member_leaving_on_b_shows_as_leave_on_a() {
    let redis = RedisServer::start();
    let (a, b) = (shared_duplex(&redis, &[]), shared_duplex(&redis, &[]));
    let (mut ann, _) = ChatMember::join(&a, "?name=ann");
    let (bob, _) = ChatMember::join(&b, "?name=bob");
    assert_eq!(ann.event_of("join").str("name"), "bob");
    bob.close();
    let leave = ann.event();
    assert_eq!((leave.kind(), leave.str("name"), leave.str("reason")), ("leave", "bob", "left"));
    let (_cy, welcome) = ChatMember::join(&a, "?name=cy");
    assert_eq!(welcome.strings("members"), ["ann", "cy"]);
}

fn files_and_http_posts_cross_too() {
    let redis = RedisServer::start();
    let (a, b) = (shared_duplex(&redis, &[]), shared_duplex(&redis, &[]));
    let (mut ann, _) = ChatMember::join(&a, "?name=ann");
    let (mut amy, _) = ChatMember::join(&a, "?name=amy");
    let (mut bob, _) = ChatMember::join(&b, "?name=bob");
    for _ in 0..2 {
        ann.event_of("join"); // amy, then bob
    }
    amy.event_of("join"); // bob

    let bytes: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
    ann.say("/file image/png cat.png");
    ann.send_file(&bytes);
    for member in [&mut bob, &mut amy] {
        let announced = member.event_of("file");
        assert_eq!((announced.str("from"), announced.num("size")), ("ann", 100_000));
        assert_eq!(announced.str("name"), "cat.png");
        assert_eq!(member.binary(), bytes, "{}: the very bytes, right after", member.name);
    }

    let seq = HttpClient::connect(&b).post("web", "posted on B");
    for member in [&mut ann, &mut bob] {
        // For ann, the next message after her own file: she did not get it back.
        let event = member.event();
        assert_eq!((event.kind(), event.str("from")), ("message", "web"));
        assert_eq!(event.num("seq"), seq, "the stamp the POST was answered with");
    }
    let poll = HttpClient::connect(&a).poll(seq - 1, "");
    assert_eq!(poll.messages.len(), 1, "{poll:?}");
    assert_eq!((poll.messages[0].seq, poll.messages[0].text.as_str()), (seq, "posted on B"));
}

fn both_processes_recover_when_redis_restarts() {
    let mut redis = RedisServer::start();
    let (a, b) = (shared_duplex(&redis, &[]), shared_duplex(&redis, &[]));
    let (mut ann, _) = ChatMember::join(&a, "?name=ann");
    let (mut amy, _) = ChatMember::join(&a, "?name=amy");
    let (mut bob, _) = ChatMember::join(&b, "?name=bob");
    amy.event_of("join");
    ann.say("before");
    let before = ann.message().0;
    assert_eq!(amy.message().2, "before");
    assert_eq!(bob.message().2, "before");

    redis.kill();
    a.wait_for_log("redis: link lost");
    b.wait_for_log("redis: link lost");
    // Alone, A's members still hear each other.
    ann.say("while alone");
    let (alone, from, _) = amy.message();
    assert_eq!((from.as_str(), alone > before), ("ann", true));

    redis.restart();
    a.wait_for_log("redis: link restored");
    b.wait_for_log("redis: link restored");
    ann.say("back again");
    let (back, _, text) = bob.message();
    // At most once: what was said while Redis was away is not replayed.
    assert_eq!(text, "back again", "bob never gets \"while alone\"");
    assert!(back > alone, "numbers never go back: {back} after {alone}");
    assert_eq!(amy.message(), (back, "ann".to_string(), "back again".to_string()));
    bob.say("hello from B");
    assert_eq!(ann.message().2, "while alone");
    assert_eq!(ann.message().2, "back again");
    assert_eq!(ann.message().2, "hello from B");
}

fn a_stopped_redis_costs_the_sender_an_error_not_a_blocked_thread() {
    let redis = RedisServer::start();
    let a = shared_duplex(&redis, &["--redis-queue-bytes", "2000"]);
    let (mut ann, _) = ChatMember::join(&a, "?name=ann");
    signal(redis.pid(), "-STOP");
    // The first message is taken by the publisher, whose EVAL now waits on
    // a Redis that does not read; the rest fill the 2000-byte queue.
    let line = "x".repeat(1500);
    for _ in 0..4 {
        ann.say(&line);
    }
    let refused = ann.event();
    assert_eq!(refused.kind(), "error", "{refused:?}");
    assert!(refused.str("reason").contains("busy"), "{refused:?}");
    a.wait_for_log("redis: the publish queue is full");
    signal(redis.pid(), "-CONT");
    // Redis answers again (or, had it taken too long, A delivered its
    // pending messages by itself): either way, the first one arrives.
    assert_eq!(ann.message().2, line);
}

fn signal(pid: u32, signal: &str) {
    let status = Command::new("kill").arg(signal).arg(pid.to_string()).status().expect("kill");
    assert!(status.success(), "kill {signal} {pid}");
}

fn a_crashed_processs_members_leave_the_list_after_the_ttl() {
    let redis = RedisServer::start();
    let fast = ["--redis-heartbeat", "0.2"];
    let (a, b) = (shared_duplex(&redis, &fast), shared_duplex(&redis, &fast));
    let (_ann, _) = ChatMember::join(&a, "?name=ann");
    let (_bob, welcome) = ChatMember::join(&b, "?name=bob");
    assert_eq!(welcome.strings("members"), ["ann", "bob"]);
    drop(a); // SIGKILL: no leave is ever published
    b.wait_for_log("redis: member list refreshed from Redis: gone ann (process");
    let (_cy, welcome) = ChatMember::join(&b, "?name=cy");
    assert_eq!(welcome.strings("members"), ["bob", "cy"]);
}

fn redis_unreachable_at_start_is_a_clear_error_and_exit_status_3() {
    let port = free_port(); // nothing listens there
    let address = format!("127.0.0.1:{port}");
    let exited = run_until_exit(&["--redis", &address]);
    assert_eq!(exited.status.code(), Some(3), "{}", exited.stderr);
    assert!(
        exited.stderr.contains(&format!("duplex: cannot reach Redis at {address}: ")),
        "{}",
        exited.stderr
    );
    assert!(!exited.stdout.contains("listening on"), "it never served");
}

fn a_password_is_sent_and_a_missing_one_is_refused_at_start() {
    let redis = RedisServer::start_with_password("s3cret pass");
    let exited = run_until_exit(&["--redis", &redis.host_port()]);
    assert_eq!(exited.status.code(), Some(3), "{}", exited.stderr);
    assert!(exited.stderr.contains("NOAUTH"), "{}", exited.stderr);
    // From the environment, as the docs recommend (a command line is public).
    let address = redis.host_port();
    let args = ["--redis", address.as_str()];
    let server = TestServer::start_with_env(&args, &[("DUPLEX_REDIS_PASSWORD", "s3cret pass")]);
    let (mut ann, _) = ChatMember::join(&server, "?name=ann");
    ann.say("authenticated");
    assert_eq!(ann.message().2, "authenticated");
    assert_eq!(server.log_count("s3cret"), 0, "the password never reaches the log");
    // In the URL, percent-encoded; the log shows it masked.
    let with_url = TestServer::start(&["--redis", &redis.url()]);
    with_url.wait_for_log("redis: room main shared through redis://:***@");
}

fn without_redis_nothing_touches_the_network_but_the_listener() {
    let alone = TestServer::start(&[]);
    assert_eq!(alone.sockets(), 1, "only the listening socket");
    let (mut ann, _) = ChatMember::join(&alone, "?name=ann");
    let (mut bob, _) = ChatMember::join(&alone, "?name=bob");
    ann.say("hi");
    assert_eq!(bob.message().2, "hi");
    assert_eq!(alone.log_count("redis"), 0);
    // The same count for a shared process: listener, subscription, and
    // the publisher's connection. So the count does see Redis.
    let redis = RedisServer::start();
    let shared = shared_duplex(&redis, &[]);
    assert_eq!(shared.sockets(), 3);
}

/// `harness = false` (see `Cargo.toml`): the tests that need a real
/// `redis-server` are skipped, loudly, where there is none
/// (`tests/common/suite.rs`).
fn main() -> ExitCode {
    common::suite::run(common::suite::Suite {
        name: "redis_rooms",
        need_redis_server: cases![
            messages_cross_both_ways_exactly_once_in_one_order,
            history_and_member_list_agree_across_processes,
            a_member_leaving_on_b_shows_as_leave_on_a,
            files_and_http_posts_cross_too,
            both_processes_recover_when_redis_restarts,
            a_stopped_redis_costs_the_sender_an_error_not_a_blocked_thread,
            a_crashed_processs_members_leave_the_list_after_the_ttl,
            a_password_is_sent_and_a_missing_one_is_refused_at_start,
            without_redis_nothing_touches_the_network_but_the_listener
        ],
        run_anywhere: cases![redis_unreachable_at_start_is_a_clear_error_and_exit_status_3],
    })
}
