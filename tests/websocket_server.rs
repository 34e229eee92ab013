//! The WebSocket side of the real server: every handshake refusal, echo
//! of every kind of message, control frames, and every protocol violation
//! getting its close code while the server keeps serving.

mod common;

use std::io::Write;

use common::{client_frame, raw_request, RawPeer, TestServer, UPGRADE_HEADERS};
use duplex::client::{Client, ClientError, ClientOptions};
use duplex::websocket::{encode_frame, CloseCode, Closed, Incoming, Message, Opcode};

fn upgrade(server: &TestServer, path: &str, headers: &str) -> common::HttpResponse {
    let request = format!("GET {path} HTTP/1.1\r\nHost: {}\r\n{headers}\r\n", server.addr);
    raw_request(server, request.as_bytes())
}

#[test]
fn handshake_refusals() {
    let server = TestServer::start(&[]);
    let good = UPGRADE_HEADERS;
    let version_8 = good.replace("Version: 13", "Version: 8");
    let response = upgrade(&server, "/echo", &version_8);
    assert_eq!(response.status, 426);
    assert_eq!(response.header("Sec-WebSocket-Version"), Some("13"));

    let short_key = good.replace("dGhlIHNhbXBsZSBub25jZQ==", "c2hvcnQ=");
    assert_eq!(upgrade(&server, "/echo", &short_key).status, 400);
    let no_key = good.replace("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", "");
    assert_eq!(upgrade(&server, "/echo", &no_key).status, 400);
    let no_connection = good.replace("Connection: Upgrade\r\n", "");
    assert_eq!(upgrade(&server, "/echo", &no_connection).status, 400);
    assert_eq!(upgrade(&server, "/nowhere", good).status, 404);

    let cross_site = format!("{good}Origin: http://evil.example\r\n");
    assert_eq!(upgrade(&server, "/echo", &cross_site).status, 403);
    let same_site = format!("{good}Origin: http://{}\r\n", server.addr);
    assert_eq!(upgrade(&server, "/echo", &same_site).status, 101);

    let post = format!("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n{good}\r\n");
    let response = raw_request(&server, post.as_bytes());
    assert_eq!(response.status, 405);

    // Bytes behind an upgrade request are its body, not frames.
    let frame = client_frame(true, Opcode::Text, b"smuggled");
    let mut with_body = format!(
        "GET /echo HTTP/1.1\r\nHost: {}\r\n{good}Content-Length: {}\r\n\r\n",
        server.addr,
        frame.len()
    )
    .into_bytes();
    with_body.extend_from_slice(&frame);
    assert_eq!(raw_request(&server, &with_body).status, 400);

    // `Upgrade` on a path that is not a WebSocket endpoint is ignored: the
    // file is served as if the header were not there.
    let page = upgrade(&server, "/index.html", good);
    assert_eq!(page.status, 200);
    assert!(page.text().contains("<html"));

    // A plain GET of a WebSocket endpoint explains itself.
    assert_eq!(common::get(&server, "/echo").status, 426);
    server.wait_for_log("upgrade refused (403)");
}

#[test]
fn allow_origin_flag() {
    let server = TestServer::start(&["--allow-origin", "http://evil.example"]);
    let allowed = format!("{UPGRADE_HEADERS}Origin: http://evil.example\r\n");
    assert_eq!(upgrade(&server, "/echo", &allowed).status, 101);
    let other = format!("{UPGRADE_HEADERS}Origin: http://other.example\r\n");
    assert_eq!(upgrade(&server, "/echo", &other).status, 403);
}

#[test]
fn client_gets_a_typed_refusal() {
    let server = TestServer::start(&[]);
    let options =
        ClientOptions { origin: Some("http://evil.example".into()), ..ClientOptions::default() };
    match Client::connect_with(&server.url("/echo"), &options) {
        Err(ClientError::Refused { status: 403, .. }) => {}
        Err(other) => panic!("expected 403, got {other}"),
        Ok(_) => panic!("expected 403, got a connection"),
    }
}

fn echo_client(server: &TestServer) -> Client {
    let client = Client::connect(&server.url("/echo")).expect("connect");
    client.set_read_timeout(Some(common::PATIENCE)).unwrap();
    client
}

#[test]
fn echoes_text_binary_and_large_messages() {
    let server = TestServer::start(&[]);
    let mut client = echo_client(&server);
    for message in [
        Message::Text(String::new()),
        Message::Text("héllo, wörld 😀".into()),
        Message::Binary(vec![0, 1, 2, 255]),
        Message::Text("x".repeat(126)),
        Message::Binary(vec![7; 70_000]),
    ] {
        client.send(&message).unwrap();
        assert_eq!(client.recv().unwrap(), message);
    }
    // 9 MiB each way, text and binary.
    let big_binary: Vec<u8> = (0..9 << 20).map(|i: u32| (i * 31) as u8).collect();
    client.send_binary(&big_binary).unwrap();
    assert_eq!(client.recv().unwrap(), Message::Binary(big_binary));
    let big_text = "ab€".repeat(3 << 20);
    client.send_text(&big_text).unwrap();
    assert_eq!(client.recv().unwrap(), Message::Text(big_text));

    client.close(CloseCode::Normal, "done").unwrap();
    assert!(matches!(client.recv(), Err(Closed::ByUs(CloseCode::Normal))));
}

#[test]
fn pipelined_messages_come_back_in_order() {
    let server = TestServer::start(&[]);
    let mut client = echo_client(&server);
    for i in 0..500 {
        client.queue(&Message::Text(format!("message {i}"))).unwrap();
    }
    client.flush().unwrap();
    for i in 0..500 {
        assert_eq!(client.recv().unwrap(), Message::Text(format!("message {i}")));
    }
}

#[test]
fn fragments_are_reassembled_with_a_ping_in_between() {
    let server = TestServer::start(&[]);
    let mut peer = RawPeer::open(&server, "/echo");
    peer.send_frame(false, Opcode::Text, "frag".as_bytes());
    peer.send_frame(true, Opcode::Ping, b"in the middle");
    peer.send_frame(false, Opcode::Continuation, "men".as_bytes());
    peer.send_frame(true, Opcode::Continuation, "ted €".as_bytes());
    assert_eq!(peer.read(), Incoming::Pong(b"in the middle".to_vec()));
    assert_eq!(peer.read(), Incoming::Message(Message::Text("fragmented €".into())));
    peer.send_frame(true, Opcode::Close, b"\x03\xe8");
    assert_eq!(peer.expect_close_code(), CloseCode::Normal);
}

#[test]
fn frames_sent_with_the_handshake_are_not_lost() {
    let server = TestServer::start(&[]);
    let early = client_frame(true, Opcode::Text, b"right behind the head");
    let mut peer = RawPeer::open_with(&server, "/echo", &early);
    assert_eq!(peer.read(), Incoming::Message(Message::Text("right behind the head".into())));
}

#[test]
fn close_handshake_echoes_the_code() {
    let server = TestServer::start(&[]);
    for (payload, expected) in [
        (&b"\x03\xe8bye"[..], Some(1000)),
        (b"\x0f\xa0app", Some(4000)),
        (b"", None), // no code in, none out
    ] {
        let mut peer = RawPeer::open(&server, "/echo");
        peer.send_frame(true, Opcode::Close, payload);
        let answer = peer.expect_close();
        assert_eq!(answer.map(|f| f.code.as_u16()), expected);
        assert!(common::closed_by_server(peer.reader.get_mut()), "TCP closed after the handshake");
    }
}

/// Each violation, the close code it must earn.
#[test]
fn protocol_violations_get_their_close_codes() {
    let server = TestServer::start(&["--max-message", "1048576"]);
    let mut declared_1_gib = vec![0x82, 0xFF];
    declared_1_gib.extend_from_slice(&(1u64 << 30).to_be_bytes());
    declared_1_gib.extend_from_slice(&[1, 2, 3, 4]);
    let cases: Vec<(&str, Vec<u8>, CloseCode)> = vec![
        ("unmasked frame", encode_frame(Opcode::Text, b"hi", None), CloseCode::ProtocolError),
        (
            "reserved bit",
            {
                let mut f = client_frame(true, Opcode::Text, b"x");
                f[0] |= 0x40;
                f
            },
            CloseCode::ProtocolError,
        ),
        (
            "reserved opcode",
            {
                let mut f = client_frame(true, Opcode::Text, b"x");
                f[0] = 0x83;
                f
            },
            CloseCode::ProtocolError,
        ),
        ("fragmented ping", client_frame(false, Opcode::Ping, b"x"), CloseCode::ProtocolError),
        (
            "orphan continuation",
            client_frame(true, Opcode::Continuation, b"x"),
            CloseCode::ProtocolError,
        ),
        (
            "long ping",
            {
                let mut f = vec![0x89, 0xFE, 0x00, 0x7E, 1, 2, 3, 4];
                f.extend([0; 126]);
                f
            },
            CloseCode::ProtocolError,
        ),
        (
            "close code 1005",
            client_frame(true, Opcode::Close, b"\x03\xed"),
            CloseCode::ProtocolError,
        ),
        (
            "close with one byte",
            client_frame(true, Opcode::Close, b"\x03"),
            CloseCode::ProtocolError,
        ),
        (
            "invalid UTF-8",
            client_frame(true, Opcode::Text, b"\xce\xba\xff"),
            CloseCode::InvalidPayload,
        ),
        (
            "invalid UTF-8 close reason",
            client_frame(true, Opcode::Close, b"\x03\xe8\xff"),
            CloseCode::InvalidPayload,
        ),
        (
            "message over the limit",
            client_frame(true, Opcode::Binary, &vec![0; (1 << 20) + 1]),
            CloseCode::MessageTooBig,
        ),
        ("declared 1 GiB", declared_1_gib, CloseCode::MessageTooBig),
    ];
    let rss_before = server.rss_kib();
    for (name, bytes, expected) in cases {
        let mut peer = RawPeer::open(&server, "/echo");
        peer.send_raw(&bytes);
        assert_eq!(peer.expect_close_code(), expected, "{name}");
    }
    // Nothing was allocated for the 1 GiB the header declared.
    let grown_kib = server.rss_kib().saturating_sub(rss_before);
    assert!(grown_kib < 64 * 1024, "server grew by {grown_kib} KiB");
    server.wait_for_log("failed: message too big (close 1009)");

    // And everyone else is still served.
    let mut client = echo_client(&server);
    client.send_text("still here").unwrap();
    assert_eq!(client.recv().unwrap(), Message::Text("still here".into()));
}

#[test]
fn invalid_utf8_fails_before_the_message_ends() {
    let server = TestServer::start(&[]);
    let mut peer = RawPeer::open(&server, "/echo");
    // The first fragment is already impossible; the message never ends.
    peer.send_frame(false, Opcode::Text, b"ok so far \xc0\xaf");
    assert_eq!(peer.expect_close_code(), CloseCode::InvalidPayload);
}

#[test]
fn a_silent_peer_is_pinged_then_dropped() {
    let server = TestServer::start(&["--ping-interval", "0.2", "--idle-timeout", "0.5"]);
    let mut peer = RawPeer::open(&server, "/echo");
    // We answer nothing: first a ping comes, then a close 1001.
    assert!(matches!(peer.read(), Incoming::Ping(_)));
    assert_eq!(peer.expect_close_code(), CloseCode::GoingAway);
    server.wait_for_log("idle timeout");
}

#[test]
fn a_peer_that_answers_pings_stays() {
    let server = TestServer::start(&["--ping-interval", "0.2", "--idle-timeout", "0.5"]);
    // Answer three keepalive pings (more than the idle timeout's worth of
    // ping intervals), then check the connection still echoes.
    let mut raw = RawPeer::open(&server, "/echo");
    for _ in 0..3 {
        match raw.read() {
            Incoming::Ping(payload) => raw.send_frame(true, Opcode::Pong, &payload),
            other => panic!("expected a ping, got {other:?}"),
        }
    }
    raw.send_frame(true, Opcode::Text, b"alive");
    loop {
        match raw.read() {
            Incoming::Message(message) => {
                assert_eq!(message, Message::Text("alive".into()));
                break;
            }
            Incoming::Ping(payload) => raw.send_frame(true, Opcode::Pong, &payload),
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[test]
fn trace_shows_the_handshake_and_every_frame() {
    let server = TestServer::start(&["--trace"]);
    let mut client = echo_client(&server);
    client.send_text("Hello").unwrap();
    assert_eq!(client.recv().unwrap(), Message::Text("Hello".into()));
    server.wait_for_log("    Sec-WebSocket-Accept: ");
    server.wait_for_log("<- recv FIN=1 RSV=000 TEXT(0x1) MASK=1 len=5 (7-bit) key=");
    server.wait_for_log(
        "-> send FIN=1 RSV=000 TEXT(0x1) MASK=0 len=5 (7-bit) head=[81 05] \"Hello\"",
    );
}

#[test]
fn without_trace_no_frames_are_printed() {
    let server = TestServer::start(&[]);
    let mut client = echo_client(&server);
    client.send_text("quiet").unwrap();
    assert_eq!(client.recv().unwrap(), Message::Text("quiet".into()));
    client.close(CloseCode::Normal, "").unwrap();
    assert!(client.recv().is_err());
    server.wait_for_log("closed: websocket");
    assert_eq!(server.log_count("recv FIN="), 0);
    assert_eq!(server.log_count("handshake request"), 0);
}

#[test]
fn a_frame_dribbled_byte_by_byte_is_cut_off() {
    let server = TestServer::start(&["--ping-interval", "0.3", "--idle-timeout", "0.8"]);
    let mut peer = RawPeer::open(&server, "/echo");
    // Declare 100 bytes, then send them one at a time. Each byte restarts
    // the socket's read timeout, so only a deadline for the whole frame
    // stops this.
    let frame = client_frame(true, Opcode::Binary, &[7; 100]);
    peer.send_raw(&frame[..6]);
    let mut cut_off = false;
    for byte in &frame[6..] {
        if peer.writer.write_all(&[*byte]).is_err() || server.log_count("message too slow") > 0 {
            cut_off = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100)); // the client's pace, not a wait
    }
    assert!(cut_off, "a 10-second dribble of one frame was allowed");
    assert_eq!(peer.expect_close_code(), CloseCode::PolicyViolation);
}

#[test]
fn pings_between_fragments_do_not_extend_the_message_deadline() {
    let server = TestServer::start(&["--ping-interval", "0.2", "--idle-timeout", "0.6"]);
    let mut peer = RawPeer::open(&server, "/echo");
    // A message begins and never ends, but the peer answers every
    // keepalive ping, so it is never silent. Each pong is a frame of its
    // own between fragments; only a deadline for the whole message, which
    // no pong moves, stops this.
    peer.send_frame(false, Opcode::Text, b"a");
    for _ in 0..50 {
        match peer.read() {
            Incoming::Ping(payload) => peer.send_frame(true, Opcode::Pong, &payload),
            Incoming::Close(frame) => {
                assert_eq!(frame.map(|frame| frame.code), Some(CloseCode::PolicyViolation));
                server.wait_for_log("message too slow");
                return;
            }
            other => panic!("expected a ping or a close, got {other:?}"),
        }
    }
    panic!("50 ping intervals into a message it is still open; the deadline was 3 intervals");
}

#[test]
fn memory_follows_the_bytes_that_arrive_not_the_declared_length() {
    let server = TestServer::start(&["--ping-interval", "0.5", "--idle-timeout", "30"]);
    let rss_before = server.rss_kib();
    // Each peer declares a frame just under the 16 MiB limit and sends
    // 70,000 bytes of it: past the first 64 KiB growth step.
    let mut peers: Vec<RawPeer> = (0..8).map(|_| RawPeer::open(&server, "/echo")).collect();
    for peer in &mut peers {
        let mut frame = vec![0x82, 0xFF];
        frame.extend_from_slice(&((16u64 << 20) - 1).to_be_bytes());
        frame.extend_from_slice(&[0xA1, 0xB2, 0xC3, 0xD4]);
        frame.extend_from_slice(&[7; 70_000]);
        peer.send_raw(&frame);
    }
    // The server pings a peer only after a read found nothing more to
    // read: by then it has taken in all 70,000 bytes.
    for peer in &mut peers {
        assert!(matches!(peer.read(), Incoming::Ping(_)));
    }
    // Each buffer may be zeroed 1 MiB ahead of what came (`ZERO_AHEAD` in
    // message.rs); had it been zeroed to its declared length, 8 × 16 MiB
    // would be resident now.
    let grown_kib = server.rss_kib().saturating_sub(rss_before);
    assert!(grown_kib < 48 * 1024, "server grew by {grown_kib} KiB for 8 × 70,000 bytes");
}
