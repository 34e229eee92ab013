//! Chapter 8, security (`docs/08-security.md`).

use std::io::{Read, Write};

use duplex::websocket::{CloseCode, Incoming, Message, Opcode};

use crate::common::{client_frame, closed_by_server, read_response, RawPeer, TestServer};
use crate::wire::{server_with, thread_of, Connection};

/// Opens a keep-alive connection and proves the server is serving it.
fn served(server: &TestServer) -> Connection {
    let mut http = Connection::open(server);
    let response = http.get("/");
    assert_eq!(response.status, 200, "a connection within the caps: {response:?}");
    http
}

/// Opens a connection that must be refused with 503.
fn refused(server: &TestServer) {
    let stream = server.connect();
    (&stream).write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let response = read_response(&mut std::io::BufReader::new(stream), false);
    assert_eq!(response.status, 503, "a connection past the cap: {response:?}");
}

/// Closes `http` and waits until the server has let go of it.
fn close_and_wait(server: &TestServer, http: Connection) {
    let thread = thread_of(server, http.local_addr());
    drop(http);
    server.wait_for_log(&format!("[{thread}] closed:"));
}

#[test]
#[ignore = "exercise: ch08 ex2"]
fn ch08_ex2_a_cap_per_address_that_does_not_leak() {
    let server = server_with(&["--max-connections-per-address", "2"]);
    let first = served(&server);
    let second = served(&server);
    refused(&server);
    close_and_wait(&server, first);
    let third = served(&server);
    refused(&server);

    // Every way a connection can end gives its place back: an answered
    // `Connection: close`, a bad request, a WebSocket, the client leaving.
    close_and_wait(&server, second);
    let mut answered = Connection::open(&server);
    let response = answered.request("GET", "/", "Connection: close\r\n");
    assert_eq!(response.status, 200);
    close_and_wait(&server, answered);

    let bad = server.connect();
    let local = bad.local_addr().unwrap();
    (&bad).write_all(b"GARBAGE\r\n\r\n").unwrap();
    let thread = thread_of(&server, local);
    let mut rest = Vec::new();
    let _ = (&bad).read_to_end(&mut rest);
    server.wait_for_log(&format!("[{thread}] closed:"));

    let mut peer = RawPeer::open(&server, "/echo");
    let thread = thread_of(&server, peer.writer.local_addr().unwrap());
    peer.send_frame(true, Opcode::Close, &1000u16.to_be_bytes());
    assert!(matches!(peer.read(), Incoming::Close(_)));
    assert!(closed_by_server(&mut peer.writer));
    server.wait_for_log(&format!("[{thread}] closed:"));

    // Only `third` is open now: one more fits, and then no more.
    let fourth = served(&server);
    refused(&server);
    drop((third, fourth));

    // The total cap still holds on its own.
    let total = server_with(&["--max-connections", "1", "--max-connections-per-address", "5"]);
    let _only = served(&total);
    refused(&total);
}

/// `count` small text messages, each its own masked frame, in one buffer.
fn burst(count: usize, tag: &str) -> Vec<u8> {
    (0..count)
        .flat_map(|i| client_frame(true, Opcode::Text, format!("{tag}{i}").as_bytes()))
        .collect()
}

#[test]
#[ignore = "exercise: ch08 ex3"]
fn ch08_ex3_a_token_bucket_per_connection() {
    let limited = server_with(&["--message-rate", "20"]);
    let mut peer = RawPeer::open(&limited, "/echo");
    // A burst within the 40 the bucket starts with is all echoed.
    peer.send_raw(&burst(30, "a"));
    for i in 0..30 {
        assert_eq!(peer.read(), Incoming::Message(Message::Text(format!("a{i}"))), "message {i}");
    }
    // Two hundred more at once empty the bucket long before they end.
    peer.send_raw(&burst(200, "b"));
    let mut echoed = 0;
    let code = loop {
        match peer.read() {
            Incoming::Message(_) => echoed += 1,
            Incoming::Close(close) => break close.map(|c| c.code),
            Incoming::Ping(_) | Incoming::Pong(_) => {}
        }
    };
    assert_eq!(code, Some(CloseCode::PolicyViolation), "after {echoed} more echoes");
    assert!(echoed < 200, "all 200 were echoed: no limit");

    // Without the flag, nothing is limited.
    let open = TestServer::start(&[]);
    let mut peer = RawPeer::open(&open, "/echo");
    peer.send_raw(&burst(300, "c"));
    for i in 0..300 {
        assert_eq!(peer.read(), Incoming::Message(Message::Text(format!("c{i}"))), "message {i}");
    }
}
