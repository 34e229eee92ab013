//! # Writing into an outbox: the member's own `WebSocket`
//!
//! A chat member's connection has one writer thread, and everything for
//! that member goes through its outbox (`outbox.rs`): the room's events,
//! and also the frames the member's own
//! [`WebSocket`](crate::websocket::WebSocket) produces by itself,
//! such as the pong that answers a ping (RFC 6455 §5.5.3) and the reply to
//! a close frame (§5.5.1). [`OutboxWriter`] is how the `WebSocket` is made
//! to write into the outbox instead of the socket: it implements `Write`
//! by pushing.
//!
//! The danger is a frame cut in two: if one `write` carried the first half
//! of a pong and the next the second half, the writer thread could put
//! another member's event between them, and the peer would read garbage.
//! Debug builds check every write: it must be whole frames (`last_opcode`).
//!
//! The other danger is a frame *after* the close frame. RFC 6455 §5.5.1:
//! once an endpoint has sent Close it "MUST NOT send any more data
//! frames". Our close frame (the reply to the peer's, or the one that
//! fails the connection, §7.1.7) is written here, while the member is
//! still in the room, and the room keeps pushing broadcasts until the
//! member has left. So a write that carries a close frame is pushed with
//! [`Outbox::push_last`], which closes the outbox in the same step: the
//! broadcasts that come after it are refused, and the close frame is the
//! last thing on the wire.
//!
//! Read next: `src/chat/member.rs`, the two threads that serve a member.

use std::io::{self, Write};
use std::sync::Arc;

use super::outbox::{too_slow_reason, Outbox, PushError};
use crate::websocket::frame::{FrameHeader, Opcode};

/// A `Write` that pushes into an outbox: the writer half handed to a
/// member's [`WebSocket`](crate::websocket::WebSocket).
///
/// **The contract.** Each `write` call becomes one queued chunk, and the
/// writer thread may put other members' frames on the wire between two
/// chunks. That is only correct if every `write` carries *whole* frames.
/// `WebSocket` does: it builds frames in its own buffer and hands them over
/// with one `write_all` per flush, and `write_all` calls `write` once because
/// `write` here always accepts everything. The one exception in
/// `WebSocket` is a data frame of 2 KiB or more, which is gathered with its
/// header into one `write_vectored` (this type's default `write_vectored`
/// would hand over the pieces separately); the chat endpoint never sends
/// data through its `WebSocket` (the room does that), only control frames,
/// which are at most 127 bytes. Debug builds check every chunk.
#[derive(Debug, Clone)]
pub struct OutboxWriter(pub Arc<Outbox>);

impl Write for OutboxWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // One write may carry several frames (two pongs and the close
        // reply, flushed together), so look at the last one, not the first.
        let last = last_opcode(buf);
        debug_assert!(last.is_some(), "a partial frame was written to an outbox");
        // Our close frame is the last thing this outbox takes.
        let push = if last == Some(Opcode::Close) { Outbox::push_last } else { Outbox::push };
        match push(&self.0, &[Arc::from(buf)]) {
            Ok(()) => Ok(buf.len()),
            Err(PushError::Closed) => Err(io::ErrorKind::BrokenPipe.into()),
            // Too slow, even for a close reply: the 1008 close replaced
            // the backlog, and it too is the last frame (`outbox.rs`).
            Err(why) => Err(io::Error::other(too_slow_reason(why))),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(()) // the writer thread flushes; nothing is buffered here
    }
}

/// The opcode of the last frame in `bytes`: `None` if there is none, or if
/// `bytes` is not exactly a run of whole frames. Only the headers are read
/// (a payload is skipped, not copied).
fn last_opcode(mut bytes: &[u8]) -> Option<Opcode> {
    let mut last = None;
    while !bytes.is_empty() {
        let header = FrameHeader::read_from(&mut bytes).ok()?;
        let length = usize::try_from(header.payload_len).ok()?;
        bytes = bytes.get(length..)?;
        last = Some(header.opcode);
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::outbox::{too_slow_goodbye, Encoded};
    use crate::config::Limits;
    use crate::websocket::frame::encode_frame;
    use crate::websocket::{Closed, Message, WebSocket};
    use std::io::BufReader;
    use std::time::Duration;

    fn take(outbox: &Outbox) -> Vec<Encoded> {
        let mut batch = Vec::new();
        assert!(outbox.take_all(&mut batch, Duration::MAX));
        batch
    }

    #[test]
    fn a_websocket_writes_whole_control_frames_into_its_outbox() {
        let key = [9, 8, 7, 6];
        let mut input = encode_frame(Opcode::Ping, b"one", Some(key));
        input.extend(encode_frame(Opcode::Ping, b"two", Some(key)));
        input.extend(encode_frame(Opcode::Close, b"\x03\xe8", Some(key)));
        let outbox = Arc::new(Outbox::new(&Limits::default(), too_slow_goodbye));
        let writer = OutboxWriter(Arc::clone(&outbox));
        let mut socket = WebSocket::server(BufReader::new(&input[..]), writer, 1024);
        assert!(matches!(socket.recv(), Err(Closed::ByPeer(_))));
        // The room's next broadcast finds the outbox closed: nothing may
        // follow our close reply (RFC 6455 §5.5.1), though the member has
        // not left the room yet.
        let broadcast = Arc::from(encode_frame(Opcode::Text, b"late", None));
        assert_eq!(outbox.push(&[broadcast]), Err(PushError::Closed));
        let chunks = take(&outbox);
        assert!(chunks.iter().all(|chunk| last_opcode(chunk).is_some()), "whole frames");
        let written: Vec<u8> = chunks.concat();
        let mut expected = encode_frame(Opcode::Pong, b"one", None);
        expected.extend(encode_frame(Opcode::Pong, b"two", None));
        expected.extend(encode_frame(Opcode::Close, b"\x03\xe8", None));
        assert_eq!(written, expected);
        // A message queued for sending would be refused once the outbox is
        // finished, and the WebSocket sees an ordinary write error.
        outbox.finish();
        assert!(socket.send(&Message::Text("late".into())).is_err());
    }

    #[test]
    fn a_close_reply_that_does_not_fit_becomes_the_1008_close_and_stays_last() {
        let input = encode_frame(Opcode::Close, b"\x03\xe8", Some([1, 2, 3, 4]));
        let limits = Limits { outbox_soft_bytes: 16, outbox_hard_bytes: 16, ..Limits::default() };
        let outbox = Arc::new(Outbox::new(&limits, too_slow_goodbye));
        outbox.push(&[Arc::from(encode_frame(Opcode::Text, &[b'x'; 14], None))]).unwrap();
        let writer = OutboxWriter(Arc::clone(&outbox));
        let mut socket = WebSocket::server(BufReader::new(&input[..]), writer, 1024);
        assert!(matches!(socket.recv(), Err(Closed::ByPeer(_))));
        assert!(outbox.was_aborted());
        let broadcast = Arc::from(encode_frame(Opcode::Text, b"late", None));
        assert_eq!(outbox.push(&[broadcast]), Err(PushError::Closed));
        assert_eq!(take(&outbox), vec![too_slow_goodbye(PushError::Overflow)]);
        assert!(!outbox.take_all(&mut Vec::new(), Duration::MAX));
    }

    #[test]
    fn the_last_opcode_of_a_write_is_found_past_the_first_frame() {
        let mut pongs_then_close = encode_frame(Opcode::Pong, b"a", None);
        pongs_then_close.extend(encode_frame(Opcode::Pong, &[7; 125], None));
        pongs_then_close.extend(encode_frame(Opcode::Close, b"", None));
        assert_eq!(last_opcode(&pongs_then_close), Some(Opcode::Close));
        assert_eq!(last_opcode(&pongs_then_close[..4]), None, "not whole frames");
        assert_eq!(last_opcode(&encode_frame(Opcode::Pong, b"", None)), Some(Opcode::Pong));
        assert_eq!(last_opcode(b""), None);
    }

    #[test]
    fn whole_frames_are_recognised() {
        let mut two = encode_frame(Opcode::Text, b"ab", None);
        two.extend(encode_frame(Opcode::Pong, b"", None));
        assert_eq!(last_opcode(&two), Some(Opcode::Pong));
        assert_eq!(last_opcode(&two[..3]), None);
        assert_eq!(last_opcode(&[0x81]), None);
    }
}
