//! # WebSocket (RFC 6455), from the handshake to the closing frame
//!
//! The chapters of this part, in reading order:
//!
//! 1. [`handshake`]: the HTTP request that becomes a WebSocket (§4).
//! 2. [`frame`]: the bytes of one frame, and masking (§5.1–§5.3).
//! 3. [`close`]: close codes, and the error that carries one (§7.4).
//! 4. [`utf8`]: validating text as it arrives, across fragments (§8.1).
//! 5. [`message`]: fragments reassembled into messages (§5.4–§5.6).
//! 6. [`input`]: reading in bulk, with a buffer that follows the traffic.
//! 7. [`connection`]: pings, the closing handshake, keepalive (§5.5, §7).
//! 8. [`trace`]: `--trace`, every frame taken apart as it passes.
//! 9. [`extension`]: the extension seam (§9); then, with the Cargo
//!    feature `deflate`, `negotiation` (the offers, RFC 7692 §5, §7.1) and
//!    `permessage_deflate`, compression per message (RFC 7692 §6, §7.2).
//!
//! None of it touches a socket: every piece works on `Read`, `Write` and
//! byte slices, and is tested on plain bytes. The server layer
//! (`src/server/`) supplies the sockets.
//!
//! Read next: `src/echo.rs`, the smallest endpoint built on these.

pub mod close;
pub mod connection;
pub mod extension;
pub mod frame;
pub mod handshake;
pub mod input;
pub mod message;
#[cfg(feature = "deflate")]
pub mod negotiation;
#[cfg(feature = "deflate")]
pub mod permessage_deflate;
pub mod trace;
pub mod utf8;

pub use close::{CloseCode, CloseFrame, ProtocolError};
pub use connection::{Closed, Hangup, Keepalive, WebSocket};
pub use frame::{apply_mask, encode_frame, extend_masked, FrameHeader, Opcode, ReadError};
pub use message::{Discarded, Incoming, Message, MessageReader, Role};
