//! # DEFLATE (RFC 1951), by hand
//!
//! DEFLATE is the compression inside gzip, zlib, PNG, HTTP's
//! `Content-Encoding: deflate`, and WebSocket's permessage-deflate (RFC
//! 7692). It combines two old ideas:
//!
//! 1. **LZ77** (Lempel and Ziv, 1977): replace a repeat with a pointer back
//!    to the earlier copy, "copy 12 bytes from 40 bytes back";
//! 2. **Huffman coding** (1952): spell frequent symbols with fewer bits.
//!
//! The chapters of this part, in reading order:
//!
//! 1. [`bits`]: the bit order, least significant first, and its one
//!    exception (RFC 1951 §3.1.1).
//! 2. [`huffman`]: canonical Huffman codes, built from code lengths alone
//!    (§3.2.2).
//! 3. [`tables`]: length and distance codes with their extra bits
//!    (§3.2.5), and the fixed code (§3.2.6).
//! 4. [`inflate`](mod@inflate): the decoder: three block types, the window,
//!    and an output limit enforced while bytes are produced (§3.2.3–7).
//! 5. [`lz77`]: finding matches with hash chains, within any window from
//!    256 bytes to 32 KiB (§4).
//! 6. [`compress`](mod@compress): choosing a block type and writing it, and
//!    the sync flush RFC 7692 builds on.
//!
//! Nothing here knows about sockets or WebSocket: the module compresses
//! and inflates byte slices, and is tested on plain bytes, including
//! vectors produced by the real zlib (`tests/deflate.rs`). It is compiled
//! only with the `deflate` Cargo feature (on by default).
//!
//! Read next: `src/websocket/permessage_deflate.rs`, the WebSocket
//! extension built on this, then `docs/11-compression.md`.

pub mod bits;
pub mod compress;
pub mod huffman;
pub mod inflate;
pub mod lz77;
pub mod tables;

pub use compress::{compress, SYNC_FLUSH_TAIL};
pub use inflate::{inflate, inflate_within_window, InflateError};
