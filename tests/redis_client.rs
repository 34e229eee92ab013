//! The hand-written Redis client (`src/redis/`) against a real
//! `redis-server`, one per test, started by `tests/common/redis.rs` on a
//! free loopback port: the commands duplex uses, the sequenced-publish
//! script, `AUTH`, pub/sub, and what each fault looks like to the caller.
//! A few tests use a fake Redis (a listener in a thread) to send what a
//! real one never would.
//!
//! Every read has a timeout; nothing waits by sleeping. Where a test needs
//! a read timeout to pass (a quiet subscriber), the timeout is the thing
//! under test, and no test asserts how long anything took.

mod common;

use std::process::ExitCode;

use std::io::{BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use common::redis::{free_port, RedisServer};
use common::PATIENCE;
use duplex::redis::{
    encode_command, read_reply, split_sequenced, RedisAddress, RedisConnection, RedisError, Reply,
    RespError, RespLimits, SequencedChannel, Subscriber, SubscriberEvent, Timeouts,
};

fn patient() -> Timeouts {
    Timeouts { connect: PATIENCE, read: PATIENCE, write: PATIENCE }
}

fn connect(redis: &RedisServer) -> RedisConnection {
    RedisConnection::connect(&redis.host_port(), redis.password.as_deref(), &patient())
        .unwrap_or_else(|error| panic!("connect: {error}\n{}", redis.log()))
}

/// The next event that is not `Idle`, waiting at most `PATIENCE` in all.
fn next_event(subscriber: &mut Subscriber) -> SubscriberEvent {
    let deadline = Instant::now() + PATIENCE;
    loop {
        match subscriber.receive().expect("a push") {
            SubscriberEvent::Idle => assert!(Instant::now() < deadline, "no push in {PATIENCE:?}"),
            event => return event,
        }
    }
}

fn message(channel: &str, payload: &[u8]) -> SubscriberEvent {
    SubscriberEvent::Message { channel: channel.into(), payload: payload.to_vec() }
}

fn ping_set_get_del() {
    let redis = RedisServer::start();
    let mut redis_conn = connect(&redis);
    redis_conn.ping().unwrap();
    assert_eq!(redis_conn.get("greeting").unwrap(), None);
    // Binary-safe both ways: CRLF and a zero byte inside the value.
    redis_conn.set("greeting", b"hello\r\n\0").unwrap();
    assert_eq!(redis_conn.get("greeting").unwrap(), Some(b"hello\r\n\0".to_vec()));
    assert_eq!(redis_conn.command(&[b"ECHO", b"x y"]).unwrap(), Reply::Bulk(b"x y".to_vec()));
    assert_eq!(redis_conn.del(&["greeting", "never-set"]).unwrap(), 1);
    assert_eq!(redis_conn.get("greeting").unwrap(), None);
}

fn error_replies_are_typed_and_leave_the_connection_usable() {
    let redis = RedisServer::start();
    let mut redis_conn = connect(&redis);
    redis_conn.set("text", b"not a number").unwrap();
    match redis_conn.incr("text") {
        Err(RedisError::Server(message)) => assert!(message.starts_with("ERR"), "{message}"),
        other => panic!("expected an error reply, got {other:?}"),
    }
    match redis_conn.lrange("text", 0, -1) {
        Err(RedisError::Server(message)) => assert!(message.starts_with("WRONGTYPE"), "{message}"),
        other => panic!("expected WRONGTYPE, got {other:?}"),
    }
    assert!(matches!(redis_conn.command(&[b"NO-SUCH-COMMAND"]), Err(RedisError::Server(_))));
    // The same connection, still in step.
    assert_eq!(redis_conn.get("text").unwrap(), Some(b"not a number".to_vec()));
}

fn incr_is_atomic_across_connections() {
    let redis = RedisServer::start();
    let mut first = connect(&redis);
    let mut second = connect(&redis);
    assert_eq!(first.incr("seq").unwrap(), 1);
    assert_eq!(second.incr("seq").unwrap(), 2);
    assert_eq!(first.incr("seq").unwrap(), 3);
}

fn rpush_ltrim_lrange_keep_the_last_n() {
    let redis = RedisServer::start();
    let mut redis_conn = connect(&redis);
    assert_eq!(redis_conn.lrange("history", 0, -1).unwrap(), Vec::<Vec<u8>>::new());
    for n in 1..=10 {
        assert_eq!(redis_conn.rpush("history", &[n.to_string().as_bytes()]).unwrap(), n);
    }
    redis_conn.ltrim("history", -3, -1).unwrap();
    assert_eq!(
        redis_conn.lrange("history", 0, -1).unwrap(),
        [b"8".to_vec(), b"9".to_vec(), b"10".to_vec()]
    );
    assert_eq!(redis_conn.rpush("history", &[b"11", b"12"]).unwrap(), 5);
    assert_eq!(redis_conn.lrange("history", -2, -1).unwrap(), [b"11".to_vec(), b"12".to_vec()]);
}

fn hset_hgetall_hdel() {
    let redis = RedisServer::start();
    let mut redis_conn = connect(&redis);
    assert_eq!(redis_conn.hgetall("members").unwrap(), []);
    assert_eq!(redis_conn.hset("members", b"ada", b"process-a").unwrap(), 1);
    assert_eq!(redis_conn.hset("members", b"bob", b"process-b").unwrap(), 1);
    assert_eq!(redis_conn.hset("members", b"ada", b"process-b").unwrap(), 0, "replaced, not new");
    let mut all = redis_conn.hgetall("members").unwrap();
    all.sort();
    assert_eq!(
        all,
        [(b"ada".to_vec(), b"process-b".to_vec()), (b"bob".to_vec(), b"process-b".to_vec())]
    );
    assert_eq!(redis_conn.hdel("members", &[b"ada", b"nobody"]).unwrap(), 1);
    assert_eq!(redis_conn.hgetall("members").unwrap(), [(b"bob".to_vec(), b"process-b".to_vec())]);
}

fn expire_and_set_ex() {
    let redis = RedisServer::start();
    let mut redis_conn = connect(&redis);
    let ttl = |redis_conn: &mut RedisConnection, key: &str| match redis_conn
        .command(&[b"TTL", key.as_bytes()])
        .unwrap()
    {
        Reply::Integer(seconds) => seconds,
        other => panic!("TTL gave {other:?}"),
    };
    redis_conn.set("heartbeat", b"alive").unwrap();
    assert_eq!(ttl(&mut redis_conn, "heartbeat"), -1, "no expiry yet");
    assert!(redis_conn.expire("heartbeat", 100).unwrap());
    assert!((1..=100).contains(&ttl(&mut redis_conn, "heartbeat")));
    assert!(!redis_conn.expire("never-set", 100).unwrap());
    redis_conn.set_ex("lease", b"process-a", 50).unwrap();
    assert!((1..=50).contains(&ttl(&mut redis_conn, "lease")));
    // A timeout of zero deletes at once: expiry observed without waiting.
    assert!(redis_conn.expire("lease", 0).unwrap());
    assert_eq!(redis_conn.get("lease").unwrap(), None);
    assert!(matches!(redis_conn.set_ex("lease", b"x", 0), Err(RedisError::Server(_))));
}

fn eval_runs_lua_inside_redis() {
    let redis = RedisServer::start();
    let mut redis_conn = connect(&redis);
    let reply = redis_conn.eval("return {KEYS[1], ARGV[1], 42}", &[b"key"], &[b"arg"]).unwrap();
    assert_eq!(
        reply,
        Reply::Array(vec![
            Reply::Bulk(b"key".to_vec()),
            Reply::Bulk(b"arg".to_vec()),
            Reply::Integer(42)
        ])
    );
    match redis_conn.eval("return redis.call('NOPE')", &[], &[]) {
        Err(RedisError::Server(message)) => {
            assert!(message.contains("NOPE") || message.contains("Unknown"), "{message}")
        }
        other => panic!("expected a script error, got {other:?}"),
    }
}

fn sequenced_publish_gives_one_order_to_numbers_delivery_and_history() {
    let redis = RedisServer::start();
    let room = SequencedChannel {
        counter_key: "room:main:seq".into(),
        history_key: "room:main:history".into(),
        channel: "room:main".into(),
        history_len: 10,
    };
    let mut subscriber = connect(&redis).subscribe(&["room:main"]).unwrap();

    // Four publishers at once, each on its own connection, as four chat
    // processes would be.
    const PUBLISHERS: usize = 4;
    const EACH: usize = 25;
    let publishers: Vec<_> = (0..PUBLISHERS)
        .map(|p| {
            let (mut redis_conn, room) = (connect(&redis), room.clone());
            thread::spawn(move || {
                (0..EACH)
                    .map(|i| {
                        room.publish(&mut redis_conn, format!("p{p} m{i}").as_bytes()).unwrap()
                    })
                    .collect::<Vec<u64>>()
            })
        })
        .collect();
    let mut numbers_given: Vec<u64> =
        publishers.into_iter().flat_map(|handle| handle.join().unwrap()).collect();
    numbers_given.sort();
    assert_eq!(numbers_given, (1..=(PUBLISHERS * EACH) as u64).collect::<Vec<_>>());

    // Delivered in number order, with no gap, whoever published.
    let mut received = Vec::new();
    let mut last_from = [None; PUBLISHERS];
    for expected in 1..=(PUBLISHERS * EACH) as u64 {
        let SubscriberEvent::Message { channel, payload } = next_event(&mut subscriber) else {
            panic!("expected a message");
        };
        assert_eq!(channel, b"room:main");
        let (seq, text) = split_sequenced(&payload).expect("a stamped payload");
        assert_eq!(seq, expected);
        // And each publisher's own messages in the order it sent them.
        let text = String::from_utf8(text.to_vec()).unwrap();
        let (p, i) = text.split_once(' ').unwrap();
        let (p, i): (usize, usize) = (p[1..].parse().unwrap(), i[1..].parse().unwrap());
        assert!(last_from[p].is_none_or(|last| last < i), "{text} out of order");
        last_from[p] = Some(i);
        received.push((seq, text.into_bytes()));
    }

    // The history is the last ten, in the same order.
    let mut redis_conn = connect(&redis);
    assert_eq!(room.history(&mut redis_conn).unwrap(), received[received.len() - 10..]);

    // No history: published and numbered all the same.
    let unrecorded = SequencedChannel { history_len: 0, ..room.clone() };
    assert_eq!(unrecorded.publish(&mut redis_conn, b"not kept").unwrap(), 101);
    assert_eq!(next_event(&mut subscriber), message("room:main", b"101 not kept"));
    assert_eq!(room.history(&mut redis_conn).unwrap().len(), 10);
}

fn auth_with_the_right_password_in_the_url_or_the_environment() {
    let password = "pa:ss@w rd/%";
    let redis = RedisServer::start_with_password(password);
    let from_url = RedisAddress::parse(&redis.url(), None).unwrap();
    assert_eq!(from_url.password.as_deref(), Some(password));
    RedisConnection::open(&from_url, &patient()).unwrap().ping().unwrap();
    let from_env = RedisAddress::parse(&redis.host_port(), Some(password)).unwrap();
    RedisConnection::open(&from_env, &patient()).unwrap().ping().unwrap();
}

fn auth_failures_are_typed() {
    let redis = RedisServer::start_with_password("right");
    match RedisConnection::connect(&redis.host_port(), Some("wrong"), &patient()) {
        Err(RedisError::Auth(message)) => assert!(message.starts_with("WRONGPASS"), "{message}"),
        other => panic!("expected an auth error, got {other:?}"),
    }
    match RedisConnection::connect(&redis.host_port(), None, &patient()) {
        Err(RedisError::Auth(message)) => assert!(message.starts_with("NOAUTH"), "{message}"),
        other => panic!("expected an auth error, got {other:?}"),
    }
    let open = RedisServer::start();
    assert!(matches!(
        RedisConnection::connect(&open.host_port(), Some("unneeded"), &patient()),
        Err(RedisError::Auth(_))
    ));
}

fn publish_reaches_subscribers_of_the_channel_and_of_a_pattern() {
    let redis = RedisServer::start();
    let mut publisher = connect(&redis);
    let mut subscriber = connect(&redis).subscribe(&["chat:main", "chat:other"]).unwrap();
    let mut watcher = connect(&redis).psubscribe(&["chat:*"]).unwrap();

    // `subscribe` returned after the confirmations, so this cannot be lost.
    let payload = b"{\"text\":\"hi\"}\r\n\0\xff";
    assert_eq!(publisher.publish("chat:main", payload).unwrap(), 2);
    assert_eq!(next_event(&mut subscriber), message("chat:main", payload));
    assert_eq!(
        next_event(&mut watcher),
        SubscriberEvent::PatternMessage {
            pattern: b"chat:*".to_vec(),
            channel: b"chat:main".to_vec(),
            payload: payload.to_vec()
        }
    );
    assert_eq!(publisher.publish("nobody:listens", b"x").unwrap(), 0);

    // More channels, and leaving one: confirmations arrive as events.
    subscriber.subscribe(&["chat:third"]).unwrap();
    assert_eq!(
        next_event(&mut subscriber),
        SubscriberEvent::Subscribed { channel: b"chat:third".to_vec(), count: 3 }
    );
    subscriber.unsubscribe(&["chat:main"]).unwrap();
    assert_eq!(
        next_event(&mut subscriber),
        SubscriberEvent::Unsubscribed { channel: b"chat:main".to_vec(), count: 2 }
    );
    assert_eq!(publisher.publish("chat:main", b"gone").unwrap(), 1, "only the pattern now");
    assert_eq!(publisher.publish("chat:third", b"here").unwrap(), 2);
    assert_eq!(next_event(&mut subscriber), message("chat:third", b"here"));
}

fn a_quiet_subscriber_reports_idle_and_answers_ping() {
    let redis = RedisServer::start();
    let quick = Timeouts { read: Duration::from_millis(100), ..patient() };
    let subscriber = RedisConnection::connect(&redis.host_port(), None, &quick).unwrap();
    let mut subscriber = subscriber.subscribe(&["quiet"]).unwrap();
    // Nothing published: the read timeout passes and is reported as such.
    assert_eq!(subscriber.receive().unwrap(), SubscriberEvent::Idle);
    subscriber.set_idle_timeout(Duration::from_millis(50)).unwrap();
    assert_eq!(subscriber.receive().unwrap(), SubscriberEvent::Idle);
    // Still alive, and PING proves it.
    subscriber.ping(b"tick-1").unwrap();
    assert_eq!(next_event(&mut subscriber), SubscriberEvent::Pong(b"tick-1".to_vec()));
    connect(&redis).publish("quiet", b"at last").unwrap();
    assert_eq!(next_event(&mut subscriber), message("quiet", b"at last"));
}

/// The rule the `Subscriber` type encodes, shown on a raw socket.
fn redis_refuses_ordinary_commands_on_a_subscribed_connection() {
    let redis = RedisServer::start();
    let mut stream = TcpStream::connect(redis.host_port()).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let limits = RespLimits::default();
    stream.write_all(&encode_command(&[b"SUBSCRIBE", b"chat:main"])).unwrap();
    assert!(matches!(read_reply(&mut reader, &limits).unwrap(), Reply::Array(_)));
    stream.write_all(&encode_command(&[b"GET", b"x"])).unwrap();
    match read_reply(&mut reader, &limits).unwrap() {
        Reply::Error(message) => {
            assert!(message.starts_with("ERR Can't execute 'get'"), "{message}");
            assert!(message.contains("SUBSCRIBE"), "{message}");
        }
        other => panic!("expected an error reply, got {other:?}"),
    }
}

fn redis_killed_mid_connection_gives_closed_then_recovers_after_restart() {
    let mut redis = RedisServer::start();
    let mut redis_conn = connect(&redis);
    redis_conn.set("before", b"crash").unwrap();
    // The read timeout is PATIENCE: an error before then comes from the
    // socket itself, not from giving up.
    let mut subscriber = connect(&redis).subscribe(&["chat:main"]).unwrap();
    redis.kill();

    assert!(matches!(redis_conn.ping(), Err(RedisError::Closed)));
    assert!(matches!(redis_conn.ping(), Err(RedisError::Unusable)));
    assert!(matches!(subscriber.receive(), Err(RedisError::Closed)));
    assert!(matches!(subscriber.receive(), Err(RedisError::Unusable)));
    assert!(matches!(
        RedisConnection::connect(&redis.host_port(), None, &patient()),
        Err(RedisError::Connect { .. })
    ));

    redis.restart();
    let mut redis_conn = connect(&redis);
    assert_eq!(redis_conn.get("before").unwrap(), None, "nothing is persisted");
    let mut subscriber = connect(&redis).subscribe(&["chat:main"]).unwrap();
    assert_eq!(redis_conn.publish("chat:main", b"again").unwrap(), 1);
    assert_eq!(next_event(&mut subscriber), message("chat:main", b"again"));
}

fn nothing_listening_is_a_connect_error() {
    let address = format!("127.0.0.1:{}", free_port());
    match RedisConnection::connect(&address, None, &patient()) {
        Err(RedisError::Connect { error, .. }) => {
            assert_eq!(error.kind(), std::io::ErrorKind::ConnectionRefused)
        }
        other => panic!("expected a connect error, got {other:?}"),
    }
}

fn limits_apply_to_real_replies() {
    let redis = RedisServer::start();
    let mut redis_conn = connect(&redis);
    redis_conn.set("big", &[b'x'; 1024]).unwrap();
    redis_conn.set_limits(RespLimits { max_bulk: 100, ..RespLimits::default() });
    assert!(matches!(
        redis_conn.get("big"),
        Err(RedisError::Protocol(RespError::BulkTooLong { declared: 1024, limit: 100 }))
    ));
    // The 1024 bytes are still in the socket: the connection is out of step.
    assert!(matches!(redis_conn.ping(), Err(RedisError::Unusable)));
}

/// A fake Redis: accepts one connection and hands it to `serve`.
fn fake_redis(serve: impl FnOnce(TcpStream) + Send + 'static) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    thread::spawn(move || {
        if let Ok((stream, _)) = listener.accept() {
            stream.set_read_timeout(Some(PATIENCE)).unwrap();
            serve(stream);
        }
    });
    address
}

/// Reads one command off the wire, in the fake server.
fn read_command(stream: &mut TcpStream) -> Reply {
    read_reply(&mut BufReader::new(stream), &RespLimits::default()).expect("a command")
}

fn a_hostile_reply_is_a_typed_error() {
    let address = fake_redis(|mut stream| {
        assert_eq!(read_command(&mut stream), Reply::Array(vec![Reply::Bulk(b"PING".to_vec())]));
        stream.write_all(b"+PONG\r\n").unwrap();
        read_command(&mut stream);
        stream.write_all(b"$99999999999\r\n").unwrap();
        // Hold the connection open until the client goes.
        let _ = stream.read(&mut [0; 64]);
    });
    let mut redis_conn = RedisConnection::connect(&address, None, &patient()).unwrap();
    assert!(matches!(
        redis_conn.get("x"),
        Err(RedisError::Protocol(RespError::BulkTooLong { declared: 99999999999, .. }))
    ));
    assert!(matches!(redis_conn.get("x"), Err(RedisError::Unusable)));
}

fn something_other_than_redis_fails_at_connect() {
    let address = fake_redis(|mut stream| {
        let _ = stream.read(&mut [0; 64]);
        let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n");
    });
    assert!(matches!(
        RedisConnection::connect(&address, None, &patient()),
        Err(RedisError::Protocol(RespError::UnknownType(b'H')))
    ));
}

fn a_silent_server_is_a_timeout_not_a_hang() {
    let address = fake_redis(|mut stream| {
        // Read the PING, never answer, and wait for the client to give up.
        let _ = stream.read(&mut [0; 64]);
        let _ = stream.read(&mut [0; 64]);
    });
    let quick = Timeouts { read: Duration::from_millis(200), ..patient() };
    assert!(matches!(RedisConnection::connect(&address, None, &quick), Err(RedisError::Timeout)));
}

/// `harness = false` (see `Cargo.toml`): the tests that need a real
/// `redis-server` are skipped, loudly, where there is none
/// (`tests/common/suite.rs`).
fn main() -> ExitCode {
    common::suite::run(common::suite::Suite {
        name: "redis_client",
        need_redis_server: cases![
            ping_set_get_del,
            error_replies_are_typed_and_leave_the_connection_usable,
            incr_is_atomic_across_connections,
            rpush_ltrim_lrange_keep_the_last_n,
            hset_hgetall_hdel,
            expire_and_set_ex,
            eval_runs_lua_inside_redis,
            sequenced_publish_gives_one_order_to_numbers_delivery_and_history,
            auth_with_the_right_password_in_the_url_or_the_environment,
            auth_failures_are_typed,
            publish_reaches_subscribers_of_the_channel_and_of_a_pattern,
            a_quiet_subscriber_reports_idle_and_answers_ping,
            redis_refuses_ordinary_commands_on_a_subscribed_connection,
            redis_killed_mid_connection_gives_closed_then_recovers_after_restart,
            limits_apply_to_real_replies
        ],
        run_anywhere: cases![
            nothing_listening_is_a_connect_error,
            a_hostile_reply_is_a_typed_error,
            something_other_than_redis_fails_at_connect,
            a_silent_server_is_a_timeout_not_a_hang
        ],
    })
}
