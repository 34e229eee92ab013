//! # The frame tracer: watching the protocol happen
//!
//! `duplex --trace` prints, for every connection, the handshake request
//! and response, and then every frame in both directions with its header
//! taken apart:
//!
//! ```text
//! [conn-3] <- recv FIN=1 RSV=000 TEXT(0x1) MASK=1 len=5 (7-bit) key=37fa213d head=[81 85 37 fa 21 3d] "Hello"
//! [conn-3] -> send FIN=1 RSV=000 TEXT(0x1) MASK=0 len=5 (7-bit) head=[81 05] "Hello"
//! ```
//!
//! `<-` is a frame the server received, `->` one it sent. The `head` bytes
//! are the frame's header exactly as on the wire; compare them with the
//! diagram in `frame.rs`. Payloads are previewed: text as text, binary as
//! hex, both cut short.
//!
//! A [`Tracer`] is attached to a connection only when `--trace` is on. The
//! codec holds an `Option<Arc<Tracer>>`, so with tracing off the whole cost
//! is one `None` check per frame.
//!
//! `docs/04-frames.md` shows real output of this tracer.
//!
//! Read next: `src/echo.rs`.

use std::fmt::Write as _;
use std::io::Write as _;

use super::frame::{FrameHeader, Opcode};

/// Which way a frame went, seen from the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Received,
    Sent,
}

/// Prints one connection's handshake and frames to standard error.
#[derive(Debug)]
pub struct Tracer {
    connection: String,
}

/// How many payload bytes a trace line previews: text reads faster than
/// hex, so it gets more.
const TEXT_PREVIEW: usize = 48;
const HEX_PREVIEW: usize = 16;

impl Tracer {
    /// `connection` labels every line, e.g. `conn-3`.
    pub fn new(connection: impl Into<String>) -> Tracer {
        Tracer { connection: connection.into() }
    }

    /// Prints a handshake head (request or response), one header per line.
    pub fn handshake(&self, title: &str, head: &str) {
        let mut text = format!("[{}] {title}\n", self.connection);
        for line in head.lines().filter(|line| !line.is_empty()) {
            let _ = writeln!(text, "[{}]     {line}", self.connection);
        }
        self.emit(&text);
    }

    /// Prints one frame.
    pub fn frame(&self, direction: Direction, header: &FrameHeader, payload: &[u8]) {
        let line =
            format!("[{}] {}\n", self.connection, describe_frame(direction, header, payload));
        self.emit(&line);
    }

    /// Prints every frame in `bytes`, a run of whole encoded frames (as the
    /// chat room's writer sends them). Anything that does not parse is
    /// reported, not hidden.
    pub fn frames_in(&self, direction: Direction, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            // RSV1 may be set: these are our own frames, perhaps compressed.
            let Ok(header) = FrameHeader::read_with_extension(&mut bytes, true) else {
                self.emit(&format!("[{}] (unparseable bytes)\n", self.connection));
                return;
            };
            let length = (header.payload_len as usize).min(bytes.len());
            let (payload, rest) = bytes.split_at(length);
            self.frame(direction, &header, payload);
            bytes = rest;
        }
    }

    /// Prints a compressed message's plain form (permessage-deflate): the
    /// text it inflated to, or was compressed from, after the frames that
    /// carried it.
    pub fn inflated(&self, direction: Direction, extension: &str, opcode: Opcode, plain: &[u8]) {
        let verb = match direction {
            Direction::Received => "inflated to",
            Direction::Sent => "compressed from",
        };
        let line = format!(
            "[{}]    {extension}: {verb} {} bytes {}\n",
            self.connection,
            plain.len(),
            preview(opcode, plain)
        );
        self.emit(&line);
    }

    fn emit(&self, text: &str) {
        // One write per event keeps lines from different threads whole.
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
    }
}

/// One frame on one line. `payload` is the unmasked payload.
pub fn describe_frame(direction: Direction, header: &FrameHeader, payload: &[u8]) -> String {
    let arrow = match direction {
        Direction::Received => "<- recv",
        Direction::Sent => "-> send",
    };
    let (head, head_len) = header.encode();
    let mut line = format!(
        "{arrow} FIN={} RSV={}{}{} {}(0x{:X}) MASK={} len={} ({})",
        u8::from(header.fin),
        u8::from(header.rsv1),
        u8::from(header.rsv2),
        u8::from(header.rsv3),
        // `Text` is printed `TEXT`, so that the opcode stands out.
        format!("{:?}", header.opcode).to_uppercase(),
        header.opcode.bits(),
        u8::from(header.mask.is_some()),
        header.payload_len,
        header.length_form(),
    );
    if let Some(key) = header.mask {
        let _ = write!(line, " key={}", hex(&key, ""));
    }
    // A compressed payload (RSV1, RFC 7692 §6) is bytes, whatever the opcode.
    let shown_as = if header.rsv1 { Opcode::Binary } else { header.opcode };
    let _ = write!(line, " head=[{}] {}", hex(&head[..head_len], " "), preview(shown_as, payload));
    line
}

fn preview(opcode: Opcode, payload: &[u8]) -> String {
    let limit = if opcode == Opcode::Binary { HEX_PREVIEW } else { TEXT_PREVIEW };
    let cut = &payload[..payload.len().min(limit)];
    let more = if payload.len() > limit { "..." } else { "" };
    match opcode {
        Opcode::Close if payload.len() >= 2 => {
            let code = u16::from_be_bytes([payload[0], payload[1]]);
            format!("code={code} reason={:?}", String::from_utf8_lossy(&payload[2..]))
        }
        Opcode::Binary => format!("hex {}{more}", hex(cut, " ")),
        // Text, pings and continuations are usually text; a cut may fall
        // inside a character, which the lossy conversion shows as U+FFFD.
        _ => format!("{:?}{more}", String::from_utf8_lossy(cut)),
    }
}

fn hex(bytes: &[u8], separator: &str) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(separator)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_the_rfc_masked_hello() {
        let header = FrameHeader {
            mask: Some([0x37, 0xfa, 0x21, 0x3d]),
            ..FrameHeader::new(Opcode::Text, 5)
        };
        assert_eq!(
            describe_frame(Direction::Received, &header, b"Hello"),
            "<- recv FIN=1 RSV=000 TEXT(0x1) MASK=1 len=5 (7-bit) key=37fa213d \
             head=[81 85 37 fa 21 3d] \"Hello\""
        );
    }

    #[test]
    fn compressed_payloads_are_shown_as_bytes() {
        let header = FrameHeader { rsv1: true, ..FrameHeader::new(Opcode::Text, 7) };
        let line = describe_frame(Direction::Sent, &header, &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 7, 0]);
        assert!(
            line.ends_with(
                "RSV=100 TEXT(0x1) MASK=0 len=7 (7-bit) head=[c1 07] hex f2 48 cd c9 c9 07 00"
            ),
            "{line}"
        );
    }

    #[test]
    fn describes_binary_and_close() {
        let header = FrameHeader::new(Opcode::Binary, 300);
        let line = describe_frame(Direction::Sent, &header, &[0xAB; 300]);
        assert!(line.starts_with("-> send FIN=1 RSV=000 BINARY(0x2) MASK=0 len=300 (16-bit) head=[82 7e 01 2c] hex ab ab"));
        assert!(line.ends_with("ab..."));
        let close = FrameHeader::new(Opcode::Close, 5);
        let line = describe_frame(Direction::Sent, &close, b"\x03\xe8bye");
        assert!(line.ends_with("code=1000 reason=\"bye\""), "{line}");
    }
}
