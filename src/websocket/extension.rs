//! # Extensions: the seam the frame codec calls
//!
//! RFC 6455 leaves room for *extensions*: the three RSV bits of every frame
//! header, and the `Sec-WebSocket-Extensions` header of the handshake
//! (§9). A client lists what it would like; the server answers with the
//! ones it accepts, or with no header at all, and an extension the server
//! did not answer must not be used. So a server that accepts none may
//! ignore the header entirely: that is the minimal build. Reading the
//! offers and agreeing on permessage-deflate (RFC 7692 §5, §7.1) is
//! `negotiation.rs`, compiled with the `deflate` Cargo feature.
//!
//! ## The seam
//!
//! The frame codec (`message.rs`, `connection.rs`) knows nothing about
//! compression. It knows a [`MessageCodec`]: something that turns a whole
//! received message whose first frame had RSV1 set back into plain bytes,
//! and may offer a shorter form of an outgoing message (sent with RSV1). The
//! codec itself, built on `src/deflate/`, is in `permessage_deflate.rs`,
//! compiled only with the `deflate` Cargo feature; without it there is no
//! codec to give, and the server never agrees to compress.
//!
//! A codec with no context takeover is stateless, so one instance serves
//! every connection that agreed on the same terms, and one message
//! compressed once is valid on all of them. That is what
//! [`MessageCodec::encode_shared`] is for: the chat room asks it for every
//! member of a broadcast, and the codec compresses the message once and
//! hands every member that agreed the same bytes (`src/chat/room.rs`).
//!
//! Read next: `src/websocket/negotiation.rs`, then
//! `src/websocket/permessage_deflate.rs`.

use std::fmt;
use std::sync::Arc;

use super::close::ProtocolError;
use super::frame::{FrameHeader, Opcode};

/// What the frame codec calls for a negotiated per-message extension.
pub trait MessageCodec: Send + Sync + fmt::Debug {
    /// The extension's name, for traces.
    fn name(&self) -> &'static str;

    /// A received message whose first frame had RSV1 set, reassembled:
    /// back into plain bytes, at most `max_message` of them. The error
    /// carries the close code to fail the connection with.
    fn decode(&self, payload: Vec<u8>, max_message: usize) -> Result<Vec<u8>, ProtocolError>;

    /// An outgoing message's payload in its shorter form, to be sent with
    /// RSV1 set; `None` to send it as it is.
    fn encode(&self, payload: &[u8]) -> Option<Vec<u8>>;

    /// The same message, as a whole server frame ready to share
    /// ([`encoded_frame`]); `None` to send the plain frame instead. Asked
    /// for the same message by every member of a broadcast in turn, a codec
    /// that serves many connections answers them all with one encoding.
    fn encode_shared(&self, opcode: Opcode, payload: &[u8]) -> Option<Arc<[u8]>>;
}

/// A whole server frame (unmasked, FIN set) carrying a payload a codec has
/// encoded, with RSV1 set: "this message is compressed" (RFC 7692 §6).
pub fn encoded_frame(opcode: Opcode, encoded: &[u8]) -> Arc<[u8]> {
    let header = FrameHeader { rsv1: true, ..FrameHeader::new(opcode, encoded.len()) };
    let (head, head_len) = header.encode();
    Arc::from([&head[..head_len], encoded].concat())
}

/// The extension's registered name (RFC 7692 §7).
pub const PERMESSAGE_DEFLATE: &str = "permessage-deflate";

/// An accepted permessage-deflate offer: what the server promised.
///
/// The server always answers with `server_no_context_takeover` and
/// `client_no_context_takeover` (RFC 7692 §7.1.1.1–2 allow a server to
/// add both on its own): every message is compressed on its own, so no
/// compression state outlives a message, and an idle connection costs no
/// more memory than without the extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeflateAgreement {
    /// How far back our matches may reach: `2^server_max_window_bits`
    /// bytes. 15 (32 KiB) unless the client asked for less.
    pub server_max_window_bits: u8,
    /// Did the client ask for a window size? Then the response must name
    /// the one we use (§7.1.2.1).
    pub window_bits_requested: bool,
}

impl DeflateAgreement {
    /// The value of `Sec-WebSocket-Extensions` in the 101 response.
    /// (The codec for an agreement, `DeflateAgreement::codec`, is in
    /// `permessage_deflate.rs`, which needs this file, not the other way
    /// round.)
    pub fn response_header(&self) -> String {
        let mut value =
            format!("{PERMESSAGE_DEFLATE}; server_no_context_takeover; client_no_context_takeover");
        if self.window_bits_requested {
            value.push_str(&format!("; server_max_window_bits={}", self.server_max_window_bits));
        }
        value
    }
}
