//! # permessage-deflate (RFC 7692): compressing each message
//!
//! With the extension agreed in the handshake (`extension.rs`), a sender
//! may compress any data message. It says so with the RSV1 bit of the
//! message's *first* frame (§6): continuation frames never carry it, and
//! control frames are never compressed. The payload of the whole message,
//! all fragments together, is DEFLATE data (`src/deflate/`).
//!
//! The framing has one odd step. A sender compresses the message and ends
//! it with a *sync flush*, which always ends with the four bytes
//! `00 00 ff ff`; since they are always there, the sender removes them
//! (§7.2.1) and the receiver puts them back before inflating (§7.2.2).
//! Four bytes saved on every message.
//!
//! ## Choices made here
//!
//! - **No context takeover, both ways.** Each message is compressed and
//!   inflated on its own, so no 32 KiB window is kept per connection
//!   between messages: the extension costs an idle connection nothing.
//!   The price: a message cannot refer back to earlier ones, so a stream
//!   of similar small messages compresses less well than it could.
//! - **Small messages go plain.** Below [`MIN_COMPRESSED_LEN`] bytes, a
//!   message is sent as it is: DEFLATE's block header and end-of-block
//!   code cost more than a short text can save. (The threshold was
//!   measured; see `docs/11-compression.md`.) Larger messages are sent
//!   compressed only when that is actually shorter.
//! - **The limit holds after inflating.** A compressed message is
//!   inflated with `max_message` as the output limit, stopping at once past
//!   it with close 1009: a 1 MiB message that would inflate to 1 GiB costs
//!   no more than the limit. Data that is not valid DEFLATE is close 1007.
//!
//! Read next: `docs/11-compression.md`, the chapter on all of this.

use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use super::close::{CloseCode, ProtocolError};
use super::extension::{encoded_frame, DeflateAgreement, MessageCodec, PERMESSAGE_DEFLATE};
use super::frame::Opcode;
use crate::deflate::{compress, inflate, InflateError, SYNC_FLUSH_TAIL};

/// Messages shorter than this are sent uncompressed.
pub const MIN_COMPRESSED_LEN: usize = 64;

/// The codec for one agreement: stateless, so one instance can serve every
/// connection that agreed on the same window, and a message compressed once
/// can be sent to all of them (the chat room does this, through
/// [`MessageCodec::encode_shared`]).
#[derive(Debug)]
pub struct PerMessageDeflate {
    /// Our matches reach at most `2^window_bits` bytes back (§7.1.2.1).
    window_bits: u8,
    /// The last message [`encode_shared`](MessageCodec::encode_shared) was
    /// asked for, and its answer: a broadcast asks once per member, and
    /// all but the first are answered from here.
    last_shared: Mutex<Option<Remembered>>,
}

/// A message, and the frame it was compressed into (`None`: not worth it).
type Remembered = (Opcode, Vec<u8>, Option<Arc<[u8]>>);

impl DeflateAgreement {
    /// The codec for this agreement. Every connection with the same window
    /// gets the same instance, so that whoever sends one message to many
    /// can tell which of them may share one compressed copy (`Arc::ptr_eq`).
    pub fn codec(&self) -> Arc<dyn MessageCodec> {
        static SHARED: OnceLock<Vec<Arc<dyn MessageCodec>>> = OnceLock::new();
        let codecs = SHARED.get_or_init(|| {
            let codec = |bits| Arc::new(PerMessageDeflate::new(bits)) as Arc<dyn MessageCodec>;
            (8..=15).map(codec).collect()
        });
        Arc::clone(&codecs[usize::from(self.server_max_window_bits.clamp(8, 15) - 8)])
    }
}

impl PerMessageDeflate {
    pub fn new(window_bits: u8) -> PerMessageDeflate {
        PerMessageDeflate { window_bits, last_shared: Mutex::new(None) }
    }
}

impl MessageCodec for PerMessageDeflate {
    fn name(&self) -> &'static str {
        PERMESSAGE_DEFLATE
    }

    fn decode(&self, mut payload: Vec<u8>, max_message: usize) -> Result<Vec<u8>, ProtocolError> {
        // §7.2.2. `reserve_exact`: a full buffer must grow by four bytes,
        // not double.
        payload.reserve_exact(SYNC_FLUSH_TAIL.len());
        payload.extend_from_slice(&SYNC_FLUSH_TAIL);
        inflate(&payload, max_message).map_err(inflate_failure)
    }

    fn encode(&self, payload: &[u8]) -> Option<Vec<u8>> {
        if payload.len() < MIN_COMPRESSED_LEN {
            return None;
        }
        let mut compressed = compress(payload, self.window_bits);
        compressed.truncate(compressed.len() - SYNC_FLUSH_TAIL.len()); // §7.2.1
        (compressed.len() < payload.len()).then_some(compressed)
    }

    /// Compares the message with the last one (a `memcmp`, far cheaper
    /// than compressing it again). Only broadcasts come here, so what is
    /// kept is one chat event per window size, at most a text message's
    /// limit.
    fn encode_shared(&self, opcode: Opcode, payload: &[u8]) -> Option<Arc<[u8]>> {
        let mut last = self.last_shared.lock().unwrap_or_else(PoisonError::into_inner);
        match &*last {
            Some((seen, message, frame)) if *seen == opcode && message == payload => frame.clone(),
            _ => {
                let frame = self.encode(payload).map(|encoded| encoded_frame(opcode, &encoded));
                *last = Some((opcode, payload.to_vec(), frame.clone()));
                frame
            }
        }
    }
}

fn inflate_failure(error: InflateError) -> ProtocolError {
    match error {
        InflateError::TooLarge { .. } => {
            ProtocolError::new(CloseCode::MessageTooBig, "message too big after inflating")
        }
        _ => {
            ProtocolError::new(CloseCode::InvalidPayload, "compressed message is not valid DEFLATE")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_7692_hello_both_ways() {
        let codec = PerMessageDeflate::new(15);
        // §7.2.3.1: "Hello" compressed, tail stripped.
        let wire = vec![0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
        assert_eq!(codec.decode(wire, 100), Ok(b"Hello".to_vec()));
        // Too short to be worth compressing.
        assert_eq!(codec.encode(b"Hello"), None);
    }

    #[test]
    fn round_trip_and_errors_with_their_close_codes() {
        let codec = PerMessageDeflate::new(10);
        let text = "{\"type\":\"message\",\"text\":\"hello hello hello hello\"}".repeat(4);
        let compressed = codec.encode(text.as_bytes()).unwrap();
        assert!(!compressed.ends_with(&SYNC_FLUSH_TAIL));
        assert!(compressed.len() < text.len());
        assert_eq!(codec.decode(compressed.clone(), text.len()), Ok(text.clone().into_bytes()));
        let too_big = codec.decode(compressed, text.len() - 1).unwrap_err();
        assert_eq!(too_big.code, CloseCode::MessageTooBig);
        let garbage = codec.decode(vec![0xff; 10], 100).unwrap_err();
        assert_eq!(garbage.code, CloseCode::InvalidPayload);
    }

    #[test]
    fn a_message_asked_for_again_is_compressed_once_and_shared() {
        let codec = PerMessageDeflate::new(15);
        let line = b"the same line, long enough to be worth compressing, for every member";
        let first = codec.encode_shared(Opcode::Text, line).unwrap();
        assert!(Arc::ptr_eq(&first, &codec.encode_shared(Opcode::Text, line).unwrap()));
        let mut bytes = &first[..];
        let header = crate::websocket::FrameHeader::read_with_extension(&mut bytes, true).unwrap();
        assert!(header.rsv1 && header.fin && header.opcode == Opcode::Text);
        assert_eq!(codec.decode(bytes.to_vec(), 1024), Ok(line.to_vec()));
        // Another message, or the same bytes as another opcode, is new.
        let other = codec.encode_shared(Opcode::Binary, line).unwrap();
        assert!(!Arc::ptr_eq(&first, &other));
        assert_eq!(codec.encode_shared(Opcode::Text, b"short"), None);
    }

    #[test]
    fn incompressible_messages_go_plain() {
        let mut state = 3u32;
        let noise: Vec<u8> = (0..500)
            .map(|_| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (state >> 24) as u8
            })
            .collect();
        assert_eq!(PerMessageDeflate::new(15).encode(&noise), None);
    }
}
