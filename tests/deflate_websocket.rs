//! permessage-deflate (RFC 7692) on the real server, over real sockets:
//! negotiation with and without `--deflate`, compressed echoes both ways,
//! the window a client asks for, the bomb stopped at `--max-message` with
//! bounded memory, and the framing rules for RSV1.
#![cfg(feature = "deflate")]

mod common;

use std::io::{BufReader, Read, Write};
use std::net::TcpStream;

use common::{client_frame, read_response, HttpResponse, TestServer, UPGRADE_HEADERS};
use duplex::deflate::bits::BitWriter;
use duplex::deflate::huffman::Encoder;
use duplex::deflate::tables::{fixed_distance_lengths, fixed_literal_lengths};
use duplex::deflate::{compress, inflate_within_window};
use duplex::websocket::{FrameHeader, Opcode};

/// What Chromium offers in every handshake.
const CHROMIUM_OFFER: &str = "permessage-deflate; client_max_window_bits";

const AGREED: &str = "permessage-deflate; server_no_context_takeover; client_no_context_takeover";

/// A client that does the handshake by hand, offering `extensions`, and
/// reads frames raw so that their RSV1 bit shows.
struct Peer {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    response: HttpResponse,
}

impl Peer {
    fn open(server: &TestServer, extensions: &str) -> Peer {
        let stream = server.connect();
        let mut writer = stream.try_clone().unwrap();
        let request = format!(
            "GET /echo HTTP/1.1\r\nHost: {}\r\n{UPGRADE_HEADERS}Sec-WebSocket-Extensions: {extensions}\r\n\r\n",
            server.addr
        );
        writer.write_all(request.as_bytes()).unwrap();
        let mut reader = BufReader::new(stream);
        let response = read_response(&mut reader, true);
        assert_eq!(response.status, 101, "{response:?}");
        Peer { reader, writer, response }
    }

    fn extensions(&self) -> Option<&str> {
        self.response.header("Sec-WebSocket-Extensions")
    }

    /// A masked frame with RSV1 as given.
    fn send(&mut self, fin: bool, rsv1: bool, opcode: Opcode, payload: &[u8]) {
        let mut frame = client_frame(fin, opcode, payload);
        if rsv1 {
            frame[0] |= 0x40;
        }
        self.writer.write_all(&frame).unwrap();
    }

    /// The next frame from the server: its header and payload.
    fn frame(&mut self) -> (FrameHeader, Vec<u8>) {
        let header = FrameHeader::read_with_extension(&mut self.reader, true).expect("a frame");
        let mut payload = vec![0; header.payload_len as usize];
        self.reader.read_exact(&mut payload).unwrap();
        (header, payload)
    }

    fn close_code(&mut self) -> u16 {
        loop {
            let (header, payload) = self.frame();
            if header.opcode == Opcode::Close {
                return u16::from_be_bytes([payload[0], payload[1]]);
            }
        }
    }
}

/// Compressed as RFC 7692 §7.2.1 says: the flush's tail removed.
fn deflated(text: &[u8]) -> Vec<u8> {
    let compressed = compress(text, 15);
    compressed[..compressed.len() - 4].to_vec()
}

/// The payload of a compressed frame, inflated (§7.2.2).
fn inflated(payload: &[u8], window_bits: u8) -> Vec<u8> {
    let with_tail = [payload, &[0x00, 0x00, 0xff, 0xff]].concat();
    inflate_within_window(&with_tail, 1 << 24, window_bits).expect("valid DEFLATE")
}

fn long_text() -> String {
    (0..200)
        .map(|i| format!("{{\"type\":\"message\",\"n\":{i},\"text\":\"hello everyone\"}}"))
        .collect()
}

#[test]
fn without_the_flag_no_extension_is_ever_accepted() {
    let server = TestServer::start(&[]);
    let mut peer = Peer::open(&server, CHROMIUM_OFFER);
    assert_eq!(peer.extensions(), None);
    // So RSV1 means nothing, and is a protocol error (RFC 6455 §5.2).
    peer.send(true, true, Opcode::Text, &deflated(b"Hello"));
    assert_eq!(peer.close_code(), 1002);
}

#[test]
fn compressed_messages_both_ways() {
    let server = TestServer::start(&["--deflate"]);
    let mut peer = Peer::open(&server, CHROMIUM_OFFER);
    assert_eq!(peer.extensions(), Some(AGREED));

    // RFC 7692 §7.2.3.1: "Hello" compressed. The echo is too short to be
    // worth compressing, so it comes back plain.
    peer.send(true, true, Opcode::Text, &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
    let (header, payload) = peer.frame();
    assert!(!header.rsv1);
    assert_eq!(payload, b"Hello");

    // A long text, sent plain, comes back compressed, in one frame.
    let text = long_text();
    peer.send(true, false, Opcode::Text, text.as_bytes());
    let (header, payload) = peer.frame();
    assert!(header.rsv1 && header.fin && header.opcode == Opcode::Text);
    assert!(payload.len() < text.len() / 4, "{} of {}", payload.len(), text.len());
    assert_eq!(inflated(&payload, 15), text.as_bytes());

    // A compressed message in three fragments: RSV1 on the first only.
    let compressed = deflated(text.as_bytes());
    let (first, rest) = compressed.split_at(10);
    let (second, third) = rest.split_at(rest.len() / 2);
    peer.send(false, true, Opcode::Text, first);
    peer.send(false, false, Opcode::Continuation, second);
    peer.send(true, false, Opcode::Continuation, third);
    let (header, payload) = peer.frame();
    assert!(header.rsv1);
    assert_eq!(inflated(&payload, 15), text.as_bytes());

    // Binary too.
    let binary: Vec<u8> = (0..5000u32).map(|i| (i % 7) as u8).collect();
    peer.send(true, true, Opcode::Binary, &deflated(&binary));
    let (header, payload) = peer.frame();
    assert!(header.rsv1 && header.opcode == Opcode::Binary);
    assert_eq!(inflated(&payload, 15), binary);
}

#[test]
fn offers_are_declined_but_the_handshake_succeeds() {
    let server = TestServer::start(&["--deflate"]);
    for declined in [
        "permessage-deflate; unknown_parameter",
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; client_no_context_takeover=yes",
        "permessage-deflate; server_max_window_bits=10; server_max_window_bits=11",
        "x-webkit-deflate-frame",
        "not a ; valid = header",
    ] {
        let peer = Peer::open(&server, declined);
        assert_eq!(peer.extensions(), None, "{declined}");
    }
    // The first acceptable offer wins.
    let peer = Peer::open(
        &server,
        "permessage-deflate; bogus, permessage-deflate; server_max_window_bits=12",
    );
    assert_eq!(peer.extensions(), Some(&*format!("{AGREED}; server_max_window_bits=12")));
}

#[test]
fn the_window_the_client_asks_for_is_kept() {
    let server = TestServer::start(&["--deflate"]);
    for bits in [8u8, 9, 12] {
        let mut peer =
            Peer::open(&server, &format!("permessage-deflate; server_max_window_bits={bits}"));
        let expected = format!("{AGREED}; server_max_window_bits={bits}");
        assert_eq!(peer.extensions(), Some(expected.as_str()));
        // Repeats near (160 bytes) and far (1,600): a compressor that ignored
        // the window would reach for the far, longer ones.
        let text: String = (0..40)
            .map(|i| format!("line {} of a long and repetitive text; ", i % 4))
            .collect::<String>()
            .repeat(6);
        peer.send(true, false, Opcode::Text, text.as_bytes());
        let (header, payload) = peer.frame();
        assert!(header.rsv1);
        // Inflating with a window of 2^bits refuses any farther match.
        assert_eq!(inflated(&payload, bits), text.as_bytes(), "window {bits}");
    }
}

/// A fixed-Huffman block: one zero byte, then `matches` times "258 bytes
/// from 1 back", 13 bits each: about 160 times the input.
fn fixed_block_bomb(matches: usize) -> Vec<u8> {
    let literals = Encoder::new(&fixed_literal_lengths());
    let distances = Encoder::new(&fixed_distance_lengths());
    let mut writer = BitWriter::new();
    writer.write_bits(0b011, 3); // BFINAL=1, BTYPE=01
    literals.write(&mut writer, 0);
    for _ in 0..matches {
        literals.write(&mut writer, 285);
        distances.write(&mut writer, 0);
    }
    literals.write(&mut writer, 256);
    writer.finish()
}

#[test]
fn a_bomb_gets_1009_and_costs_no_more_than_the_limit() {
    let server = TestServer::start(&["--deflate", "--max-message", "1048576"]);
    // Just under 1 MiB on the wire, about 166 MB once inflated.
    let bomb = fixed_block_bomb(645_000);
    assert!(bomb.len() < 1 << 20);
    let rss_before = server.rss_kib();
    let mut peer = Peer::open(&server, CHROMIUM_OFFER);
    peer.send(true, true, Opcode::Binary, &bomb);
    assert_eq!(peer.close_code(), 1009);
    server.wait_for_log("message too big after inflating (close 1009)");
    // The compressed megabyte, the inflated megabyte, and slack; nowhere
    // near the 166 MB the bomb asked for.
    let grown_kib = server.rss_kib().saturating_sub(rss_before);
    assert!(grown_kib < 16 * 1024, "server grew by {grown_kib} KiB");

    // Everyone else is still served.
    let mut other = Peer::open(&server, CHROMIUM_OFFER);
    other.send(true, false, Opcode::Text, b"still here");
    assert_eq!(other.frame().1, b"still here");
}

/// FIN, RSV1, opcode, payload.
type Frame = (bool, bool, Opcode, Vec<u8>);

#[test]
fn broken_compressed_data_and_misplaced_rsv1_get_their_close_codes() {
    let server = TestServer::start(&["--deflate"]);
    let cases: Vec<(&str, Vec<Frame>, u16)> = vec![
        ("not DEFLATE", vec![(true, true, Opcode::Text, vec![0xff; 8])], 1007),
        ("inflates to invalid UTF-8", vec![(true, true, Opcode::Text, deflated(b"ok \xff"))], 1007),
        ("RSV1 on a ping", vec![(true, true, Opcode::Ping, b"x".to_vec())], 1002),
        (
            "RSV1 on a continuation",
            vec![
                (false, true, Opcode::Text, deflated(b"a")),
                (true, true, Opcode::Continuation, b"b".to_vec()),
            ],
            1002,
        ),
    ];
    for (name, frames, expected) in cases {
        let mut peer = Peer::open(&server, CHROMIUM_OFFER);
        for (fin, rsv1, opcode, payload) in frames {
            peer.send(fin, rsv1, opcode, &payload);
        }
        assert_eq!(peer.close_code(), expected, "{name}");
    }
}

#[test]
fn trace_shows_the_compressed_bytes_and_the_text() {
    let server = TestServer::start(&["--deflate", "--trace"]);
    let mut peer = Peer::open(&server, CHROMIUM_OFFER);
    peer.send(true, true, Opcode::Text, &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
    peer.frame();
    server.wait_for_log(
        "    Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover",
    );
    server.wait_for_log("<- recv FIN=1 RSV=100 TEXT(0x1) MASK=1 len=7 (7-bit)");
    server.wait_for_log("hex f2 48 cd c9 c9 07 00");
    server.wait_for_log("permessage-deflate: inflated to 5 bytes \"Hello\"");
    let text = long_text();
    peer.send(true, false, Opcode::Text, text.as_bytes());
    peer.frame();
    server.wait_for_log("-> send FIN=1 RSV=100 TEXT(0x1)");
    server.wait_for_log(&format!("permessage-deflate: compressed from {} bytes", text.len()));
}
