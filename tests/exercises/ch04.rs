//! Chapter 4, frames (`docs/04-frames.md`).

use duplex::websocket::{CloseCode, Incoming, Message};

use crate::common::{RawPeer, TestServer};
use crate::wire::{frame_with_length_form, server_with, LengthForm};

const TEXT: u8 = 0x1;
const PING: u8 = 0x9;

/// Sends one frame on a fresh `/echo` connection and says what came back.
fn send_one(server: &TestServer, frame: &[u8]) -> Incoming {
    let mut peer = RawPeer::open(server, "/echo");
    peer.send_raw(frame);
    peer.read()
}

fn text(length: usize) -> String {
    "abcdefghij".repeat(length / 10 + 1)[..length].to_string()
}

#[test]
#[ignore = "exercise: ch04 ex2"]
fn ch04_ex2_strict_mode_refuses_longer_length_forms() {
    let strict = server_with(&["--strict-lengths"]);

    // Each length in the shortest form that fits is still echoed.
    let shortest = [
        (5, LengthForm::Seven),
        (125, LengthForm::Seven),
        (126, LengthForm::Sixteen),
        (200, LengthForm::Sixteen),
        (65_535, LengthForm::Sixteen),
        (65_536, LengthForm::SixtyFour),
    ];
    for (length, form) in shortest {
        let payload = text(length);
        let echoed = send_one(&strict, &frame_with_length_form(TEXT, payload.as_bytes(), form));
        assert_eq!(echoed, Incoming::Message(Message::Text(payload)), "{length} in {form:?}");
    }

    // A longer form than needed fails the connection with 1002, for data
    // and control frames alike.
    let wasteful = [
        (TEXT, 5, LengthForm::Sixteen),
        (TEXT, 125, LengthForm::Sixteen),
        (TEXT, 5, LengthForm::SixtyFour),
        (TEXT, 200, LengthForm::SixtyFour),
        (TEXT, 65_535, LengthForm::SixtyFour),
        (PING, 5, LengthForm::Sixteen),
    ];
    for (opcode, length, form) in wasteful {
        let frame = frame_with_length_form(opcode, text(length).as_bytes(), form);
        let mut peer = RawPeer::open(&strict, "/echo");
        peer.send_raw(&frame);
        assert_eq!(
            peer.expect_close_code(),
            CloseCode::ProtocolError,
            "opcode {opcode:#x}, {length} bytes in {form:?}"
        );
    }

    // Off by default: the RFC does not ask receivers to check, and a
    // server without the flag accepts `81 fe 00 05` as before.
    let lenient = TestServer::start(&[]);
    let frame = frame_with_length_form(TEXT, b"Hello", LengthForm::Sixteen);
    assert_eq!(send_one(&lenient, &frame), Incoming::Message(Message::Text("Hello".into())));
    let frame = frame_with_length_form(TEXT, b"Hello", LengthForm::SixtyFour);
    assert_eq!(send_one(&lenient, &frame), Incoming::Message(Message::Text("Hello".into())));
}
