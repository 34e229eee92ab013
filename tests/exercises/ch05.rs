//! Chapter 5, messages (`docs/05-messages.md`).

use std::io::Write;
use std::thread;

use duplex::websocket::{CloseCode, Incoming, Message, MessageReader, Opcode, Role};

use crate::common::{client_frame, get, RawPeer, TestServer};

#[test]
#[ignore = "exercise: ch05 ex2"]
fn ch05_ex2_echo_text_refuses_binary_with_1003() {
    let server = TestServer::start(&[]);

    let mut peer = RawPeer::open(&server, "/echo-text");
    peer.send_frame(true, Opcode::Text, "héllo".as_bytes());
    assert_eq!(peer.read(), Incoming::Message(Message::Text("héllo".into())));
    // A fragmented text message comes back whole, and pings get pongs.
    peer.send_frame(false, Opcode::Text, b"frag");
    peer.send_frame(true, Opcode::Ping, b"are you there");
    peer.send_frame(true, Opcode::Continuation, b"mented");
    assert_eq!(peer.read(), Incoming::Pong(b"are you there".to_vec()));
    assert_eq!(peer.read(), Incoming::Message(Message::Text("fragmented".into())));
    // Binary is refused with 1003, and nothing is echoed before the close.
    peer.send_frame(true, Opcode::Binary, &[1, 2, 3]);
    match peer.read() {
        Incoming::Close(Some(close)) => assert_eq!(close.code, CloseCode::UnsupportedData),
        other => panic!("expected close 1003, got {other:?}"),
    }

    // Invalid UTF-8 is still 1007, as on `/echo`.
    let mut peer = RawPeer::open(&server, "/echo-text");
    peer.send_frame(true, Opcode::Text, &[0x68, 0xFF]);
    assert_eq!(peer.expect_close_code(), CloseCode::InvalidPayload);

    // A plain GET is told to upgrade, like the other endpoints.
    let response = get(&server, "/echo-text");
    assert_eq!(response.status, 426, "{response:?}");
    assert_eq!(response.header("Upgrade"), Some("websocket"));

    // `/echo` still echoes binary.
    let mut peer = RawPeer::open(&server, "/echo");
    peer.send_frame(true, Opcode::Binary, &[1, 2, 3]);
    assert_eq!(peer.read(), Incoming::Message(Message::Binary(vec![1, 2, 3])));
}

/// A text of `length` bytes, most characters two, three or four bytes
/// long, so that any cut is likely to split one.
fn multibyte_text(length: usize) -> Vec<u8> {
    let pattern = "aé€😀".as_bytes();
    let mut text: Vec<u8> = pattern.iter().copied().cycle().take(length).collect();
    // End on a character boundary.
    while std::str::from_utf8(&text).is_err() {
        text.pop();
    }
    text
}

/// Sends `frames` from another thread while this one reads, so that a
/// server echoing as it receives never waits on a full socket.
fn send_while_reading(peer: &mut RawPeer, frames: Vec<Vec<u8>>) -> thread::JoinHandle<()> {
    let mut writer = peer.writer.try_clone().expect("clone the socket");
    thread::spawn(move || {
        for frame in frames {
            if writer.write_all(&frame).is_err() {
                return; // the server closed: the reader will say why
            }
        }
    })
}

#[test]
#[ignore = "exercise: ch05 ex3"]
fn ch05_ex3_echo_stream_echoes_past_the_message_limit() {
    const LIMIT: usize = 64 * 1024;
    let server = TestServer::start(&["--max-message", &LIMIT.to_string()]);
    let mut client = MessageReader::new(Role::Client, 256 << 20);

    // 1 MiB of text in sixteen fragments, cut in the middle of characters.
    let text = multibyte_text(1 << 20);
    let mut peer = RawPeer::open(&server, "/echo-stream");
    let pieces: Vec<&[u8]> = text.chunks(LIMIT - 1).collect();
    let frames = pieces
        .iter()
        .enumerate()
        .map(|(i, piece)| {
            let opcode = if i == 0 { Opcode::Text } else { Opcode::Continuation };
            client_frame(i == pieces.len() - 1, opcode, piece)
        })
        .collect();
    let sender = send_while_reading(&mut peer, frames);
    let expected = String::from_utf8(text.clone()).unwrap();
    assert_eq!(
        client.read(&mut peer.reader).expect("the echo"),
        Incoming::Message(Message::Text(expected))
    );
    sender.join().unwrap();

    // One binary frame of 32 MiB, far past the limit, with the server's
    // memory growing by much less than the frame.
    let before = server.rss_kib();
    let payload: Vec<u8> = (0..32u32 << 20).map(|i| (i % 251) as u8).collect();
    let frames = vec![client_frame(true, Opcode::Binary, &payload)];
    let sender = send_while_reading(&mut peer, frames);
    let echoed = client.read(&mut peer.reader).expect("the echo");
    sender.join().unwrap();
    assert!(echoed == Incoming::Message(Message::Binary(payload)), "the 32 MiB echo differs");
    let growth = server.rss_kib().saturating_sub(before);
    assert!(growth < 8 * 1024, "the server grew by {growth} KiB for one 32 MiB message");

    // UTF-8 is still checked across fragments: the third is invalid.
    let mut peer = RawPeer::open(&server, "/echo-stream");
    peer.send_frame(false, Opcode::Text, "ab€".as_bytes());
    peer.send_frame(false, Opcode::Continuation, "cd".as_bytes());
    peer.send_frame(true, Opcode::Continuation, &[0x65, 0xFF, 0x66]);
    assert_eq!(peer.expect_close_code(), CloseCode::InvalidPayload);

    // `/echo` keeps its limit.
    let mut peer = RawPeer::open(&server, "/echo");
    peer.send_frame(true, Opcode::Binary, &vec![7u8; LIMIT + 1]);
    assert_eq!(peer.expect_close_code(), CloseCode::MessageTooBig);
}
