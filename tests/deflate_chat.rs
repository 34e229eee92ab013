//! The chat room's shared compressor: with `--deflate`, a broadcast is
//! compressed once per codec, and the same bytes go to every member whose
//! connection agreed to permessage-deflate; the others get the plain frame.
//! First on the room alone (outboxes, no sockets), then over real sockets.
#![cfg(feature = "deflate")]

mod common;

use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use common::{client_frame, read_response, TestServer, UPGRADE_HEADERS};
use duplex::chat::outbox::too_slow_goodbye;
use duplex::chat::outbox::{Encoded, Outbox};
use duplex::chat::Room;
use duplex::config::Limits;
use duplex::deflate::{compress, inflate};
use duplex::websocket::extension::{DeflateAgreement, MessageCodec};
use duplex::websocket::{FrameHeader, Opcode};

/// The codec a connection gets when it agreed on a window of `bits`: the
/// same instance for every connection with the same terms.
fn codec(bits: u8) -> Option<Arc<dyn MessageCodec>> {
    Some(DeflateAgreement { server_max_window_bits: bits, window_bits_requested: true }.codec())
}

fn outbox() -> Arc<Outbox> {
    Arc::new(Outbox::new(&Limits::default(), too_slow_goodbye))
}

fn take(outbox: &Outbox) -> Vec<Encoded> {
    let mut batch = Vec::new();
    outbox.take_all(&mut batch, Duration::ZERO);
    batch
}

/// A frame's RSV1 bit and its payload as text, inflated if compressed.
fn read(frame: &Encoded) -> (bool, String) {
    let mut bytes = &frame[..];
    let header = FrameHeader::read_with_extension(&mut bytes, true).unwrap();
    let payload = if header.rsv1 {
        inflate(&[bytes, &[0, 0, 0xff, 0xff]].concat(), 1 << 20).unwrap()
    } else {
        bytes.to_vec()
    };
    (header.rsv1, String::from_utf8(payload).unwrap())
}

#[test]
fn a_broadcast_is_compressed_once_and_shared() {
    let room = Room::new("main", &Limits::default());
    let (ann, bob, cy, dee) = (outbox(), outbox(), outbox(), outbox());
    let ann_id = room.join(Some(Ok("ann")), Arc::clone(&ann), None);
    room.join(Some(Ok("bob")), Arc::clone(&bob), codec(15));
    room.join(Some(Ok("cy")), Arc::clone(&cy), codec(15));
    // Other terms, another codec: its own copy.
    room.join(Some(Ok("dee")), Arc::clone(&dee), codec(10));

    // bob's welcome lists the history and the members: compressed, for him.
    let welcome = take(&bob);
    let (rsv1, text) = read(&welcome[0]);
    assert!(rsv1 && text.starts_with("{\"type\":\"welcome\""), "{text}");
    for outbox in [&ann, &cy, &dee] {
        take(outbox);
    }

    let line = "shall we meet at the usual place at the usual time, by the usual door?";
    room.say(ann_id, line);
    let [ann_frame, bob_frame, cy_frame, dee_frame] =
        [&ann, &bob, &cy, &dee].map(|outbox| take(outbox).remove(0));
    // Compressed once per codec, not once per member: bob and cy get the
    // very same bytes (one allocation); ann gets the plain frame.
    assert!(Arc::ptr_eq(&bob_frame, &cy_frame));
    assert!(!Arc::ptr_eq(&bob_frame, &dee_frame));
    let (plain_rsv1, plain) = read(&ann_frame);
    assert!(!plain_rsv1 && plain.contains(line));
    for frame in [&bob_frame, &dee_frame] {
        assert!(frame.len() < ann_frame.len());
        assert_eq!(read(frame), (true, plain.clone()));
    }
}

/// A chat member over a real socket, offering `extensions` (or nothing).
struct Member {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Member {
    fn join(server: &TestServer, name: &str, extensions: Option<&str>) -> (Member, Option<String>) {
        let stream = server.connect();
        let mut writer = stream.try_clone().unwrap();
        let offer =
            extensions.map(|e| format!("Sec-WebSocket-Extensions: {e}\r\n")).unwrap_or_default();
        let request = format!(
            "GET /chat?name={name} HTTP/1.1\r\nHost: {}\r\n{UPGRADE_HEADERS}{offer}\r\n",
            server.addr
        );
        writer.write_all(request.as_bytes()).unwrap();
        let mut reader = BufReader::new(stream);
        let response = read_response(&mut reader, true);
        assert_eq!(response.status, 101);
        let agreed = response.header("Sec-WebSocket-Extensions").map(str::to_string);
        (Member { reader, writer }, agreed)
    }

    /// The next text frame's RSV1 and (inflated) text.
    fn next(&mut self) -> (bool, String) {
        loop {
            let header = FrameHeader::read_with_extension(&mut self.reader, true).unwrap();
            let mut payload = vec![0; header.payload_len as usize];
            self.reader.read_exact(&mut payload).unwrap();
            if header.opcode == Opcode::Text {
                let frame: Encoded =
                    Arc::from([&header.encode().0[..header.encode().1], &payload].concat());
                return read(&frame);
            }
        }
    }

    /// Reads until an event containing `needle`.
    fn until(&mut self, needle: &str) -> (bool, String) {
        loop {
            let event = self.next();
            if event.1.contains(needle) {
                return event;
            }
        }
    }
}

#[test]
fn members_that_agreed_get_compressed_events_and_the_others_plain() {
    let server = TestServer::start(&["--deflate"]);
    let (mut ann, agreed) = Member::join(&server, "ann", Some("permessage-deflate"));
    assert_eq!(
        agreed.as_deref(),
        Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover")
    );
    let (mut bob, agreed) = Member::join(&server, "bob", None);
    assert_eq!(agreed, None);
    ann.until("\"bob\"");

    // bob says a long line: ann gets it compressed, bob plain.
    let line = "a long enough line to be worth compressing, said plainly by bob to everyone";
    bob.writer.write_all(&client_frame(true, Opcode::Text, line.as_bytes())).unwrap();
    let (compressed, text) = ann.until(line);
    assert!(compressed, "{text}");
    assert!(!bob.until(line).0);

    // ann sends a compressed message; bob reads it plain.
    let said = "compressed by ann, and a little longer so that it is worth it";
    let payload = compress(said.as_bytes(), 15);
    let mut frame = client_frame(true, Opcode::Text, &payload[..payload.len() - 4]);
    frame[0] |= 0x40; // RSV1
    ann.writer.write_all(&frame).unwrap();
    let (compressed, text) = bob.until(said);
    assert!(!compressed && text.contains("\"from\":\"ann\""), "{text}");
}
