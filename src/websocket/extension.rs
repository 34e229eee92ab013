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
//! compressed once is valid on all of them: [`encode_compressed_frame`]
//! builds such a frame, and the chat room sends the same bytes to every
//! member that agreed (`src/chat/room.rs`).
//!
//! Read next: `src/websocket/negotiation.rs`, then
//! `src/websocket/permessage_deflate.rs`.

use std::fmt;

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
}

/// A whole server frame (unmasked, FIN set) carrying `payload` as
/// `codec` encodes it, with RSV1 set (RFC 7692 §6); `None` when the codec
/// finds compressing not worth it, and the plain frame should go instead.
pub fn encode_compressed_frame(
    codec: &dyn MessageCodec,
    opcode: Opcode,
    payload: &[u8],
) -> Option<Vec<u8>> {
    let encoded = codec.encode(payload)?;
    let header = FrameHeader { rsv1: true, ..FrameHeader::new(opcode, encoded.len()) };
    let (head, head_len) = header.encode();
    Some([&head[..head_len], &encoded].concat())
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
