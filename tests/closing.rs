//! Every close reaches the peer: a client still writing when the server
//! refuses it reads the refusal (a close code, an HTTP status) instead of a
//! TCP reset; a client that never stops is cut off after the close linger;
//! a peer that stalls in the middle of a frame is pinged, then closed with
//! 1001, like any silent peer. (`src/server/stream.rs`, docs/05-messages.md.)

mod common;

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::Duration;

use common::chat::{ChatMember, Fields};
use common::{closed_by_server, read_response, RawPeer, TestServer};
use duplex::websocket::{CloseCode, Incoming, Opcode};

const KEY: [u8; 4] = [0xA1, 0xB2, 0xC3, 0xD4];

/// The header of a masked binary frame declaring `length` bytes.
fn binary_header(length: u64) -> Vec<u8> {
    let mut header = vec![0x82, 0xFF];
    header.extend_from_slice(&length.to_be_bytes());
    header.extend_from_slice(&KEY);
    header
}

/// Writes `total` bytes of filler in 64 KiB writes, pausing `pace` after
/// each (the client's speed, not a wait for anything). Returns how many
/// bytes went out, and the error that stopped it early, if any.
fn keep_writing(stream: TcpStream, total: u64, pace: Duration) -> (u64, Option<io::Error>) {
    keep_writing_chunk(stream, total, pace, vec![0x5A; 64 * 1024])
}

/// The same, with `chunk` as the filler.
fn keep_writing_chunk(
    mut stream: TcpStream,
    total: u64,
    pace: Duration,
    chunk: Vec<u8>,
) -> (u64, Option<io::Error>) {
    let mut sent = 0u64;
    while sent < total {
        let want = chunk.len().min((total - sent) as usize);
        if let Err(error) = stream.write_all(&chunk[..want]) {
            return (sent, Some(error));
        }
        sent += want as u64;
        if !pace.is_zero() {
            thread::sleep(pace);
        }
    }
    (sent, None)
}

#[test]
fn a_client_still_sending_a_message_over_the_limit_reads_1009() {
    let server = TestServer::start(&[]); // the default limit: 16 MiB
    let mut peer = RawPeer::open(&server, "/echo");
    let over = (16 << 20) + 1;
    peer.send_raw(&binary_header(over));
    let writer = peer.writer.try_clone().unwrap();
    let uploading = thread::spawn(move || keep_writing(writer, over, Duration::ZERO));

    // The close frame was sent as soon as the header was read; it is read
    // here while the payload is still going out.
    assert_eq!(peer.expect_close_code(), CloseCode::MessageTooBig);
    let (sent, error) = uploading.join().unwrap();
    assert!(error.is_none(), "the upload was cut off after {sent} bytes: {error:?}");
    assert_eq!(sent, over);

    // We answer the close, as a client must; the server then closes.
    peer.send_frame(true, Opcode::Close, &1009u16.to_be_bytes());
    assert!(closed_by_server(peer.reader.get_mut()));
    server.wait_for_log("closed: websocket failed: message too big (close 1009)");
}

#[test]
fn a_client_that_never_stops_sending_is_cut_off_at_the_linger() {
    let server = TestServer::start(&[]);
    let mut peer = RawPeer::open(&server, "/echo");
    peer.send_raw(&binary_header(1 << 40)); // refused from the header
    let writer = peer.writer.try_clone().unwrap();
    // About 13 MB/s: 2 s of linger is 26 MB; 200 MiB would take 16 s.
    let pace = Duration::from_millis(5);
    let uploading = thread::spawn(move || keep_writing(writer, 200 << 20, pace));

    assert_eq!(peer.expect_close_code(), CloseCode::MessageTooBig);
    // The server gives up, its thread ends ...
    server.wait_for_log("closed: websocket failed: message too big (close 1009)");
    // ... and the writer learns it from a reset, long before it is done.
    let (sent, error) = uploading.join().unwrap();
    let error = error.expect("the server stopped reading");
    assert!(
        matches!(error.kind(), io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset),
        "{error:?}"
    );
    assert!(sent < 200 << 20);
}

#[test]
fn a_peer_that_stalls_mid_frame_is_pinged_then_closed_with_1001() {
    let server = TestServer::start(&["--ping-interval", "0.2", "--idle-timeout", "0.6"]);
    let stalls: [&[u8]; 3] = [
        // 5 bytes declared, 1 sent.
        &[0x81, 0x85, 0x01, 0x02, 0x03, 0x04, 0x69],
        // Half a header.
        &[0x81],
        // A whole first fragment, then nothing.
        &[0x01, 0x83, 0x01, 0x02, 0x03, 0x04, 0x69, 0x67, 0x6f],
    ];
    for stall in stalls {
        let mut peer = RawPeer::open(&server, "/echo");
        peer.send_raw(stall);
        assert!(matches!(peer.read(), Incoming::Ping(_)), "a ping after {stall:02x?}");
        let close = peer.expect_close().expect("a close code");
        assert_eq!((close.code, close.reason.as_str()), (CloseCode::GoingAway, "idle timeout"));
        assert!(closed_by_server(peer.reader.get_mut()));
    }
    assert_eq!(server.log_count("(os error 11)"), 0, "no silent drop");
}

/// Sends `head`, then `filler` bytes behind it without stopping, and reads
/// the response while still writing.
fn refused_while_uploading(server: &TestServer, head: &[u8], filler: u64) -> (u16, u64) {
    let stream = server.connect();
    let mut writer = stream.try_clone().unwrap();
    writer.write_all(head).unwrap();
    let uploading = thread::spawn(move || {
        let (sent, error) = keep_writing(writer.try_clone().unwrap(), filler, Duration::ZERO);
        let _ = writer.shutdown(std::net::Shutdown::Write);
        (sent, error)
    });
    let mut reader = io::BufReader::new(stream);
    let response = read_response(&mut reader, false);
    let (sent, error) = uploading.join().unwrap();
    assert!(error.is_none(), "upload cut off after {sent} bytes: {error:?}");
    let mut rest = Vec::new();
    reader.read_to_end(&mut rest).expect("the server closes after our end of stream");
    (response.status, sent)
}

#[test]
fn http_refusals_reach_a_client_that_is_still_uploading() {
    let server = TestServer::start(&[]);
    let body = 32u64 << 20;
    let head = format!("POST /index.html HTTP/1.1\r\nHost: t\r\nContent-Length: {body}\r\n\r\n");
    assert_eq!(refused_while_uploading(&server, head.as_bytes(), body), (413, body));

    // A header block that never ends: 431 at 64 KiB, while 8 MiB more come.
    let head = b"GET / HTTP/1.1\r\nHost: t\r\nX-Filler: ";
    assert_eq!(refused_while_uploading(&server, head, 8 << 20), (431, 8 << 20));
}

#[test]
fn on_chat_a_text_over_the_chat_limit_is_an_error_event_while_still_sending() {
    let server = TestServer::start(&["--max-chat-text", "1000"]);
    let (mut member, _) = ChatMember::join(&server, "?name=ann");
    // 2 MiB of text: over the chat's text limit, under its 8 MiB file limit,
    // so the message is read whole and refused with an `error` event
    // (docs/protocol.md §3); the connection stays.
    let size = 2u64 << 20;
    let mut header = binary_header(size);
    header[0] = 0x81; // text
    member.peer.send_raw(&header);
    // "ZZZZ..." once unmasked.
    let text: Vec<u8> = (0..64 * 1024).map(|i| b'Z' ^ KEY[i % 4]).collect();
    let writer = member.peer.writer.try_clone().unwrap();
    let uploading = thread::spawn(move || keep_writing_chunk(writer, size, Duration::ZERO, text));
    let error = member.event_of("error");
    assert!(error.str("reason").starts_with("message too long"), "{error:?}");
    let (sent, error) = uploading.join().unwrap();
    assert!(error.is_none(), "the upload was cut off after {sent} bytes: {error:?}");
    member.say("still here");
    assert_eq!(member.message().2, "still here");
}

#[test]
fn on_chat_a_message_over_every_limit_is_1009_even_while_still_sending() {
    let server = TestServer::start(&[]);
    let (mut member, _) = ChatMember::join(&server, "?name=bob");
    let over = (8 << 20) + 1; // past the 8 MiB file limit: refused from the header
    member.peer.send_raw(&binary_header(over));
    let writer = member.peer.writer.try_clone().unwrap();
    let uploading = thread::spawn(move || keep_writing(writer, over, Duration::ZERO));
    assert_eq!(member.peer.expect_close_code(), CloseCode::MessageTooBig);
    let (sent, error) = uploading.join().unwrap();
    assert!(error.is_none(), "the upload was cut off after {sent} bytes: {error:?}");
    member.peer.send_frame(true, Opcode::Close, &1009u16.to_be_bytes());
    assert!(closed_by_server(member.peer.reader.get_mut()));
    server.wait_for_log("closed: websocket failed: message too big (close 1009)");
}
