//! # The push layer: the chat room over plain HTTP
//!
//! Chapter 1 of the course (`docs/01-why-websocket.md`) describes how
//! servers pushed messages to browsers before WebSocket: short polling,
//! long polling, Server-Sent Events. This layer builds all three, and a
//! plain `POST` to speak, on the *same* room as `/chat`, so the page
//! `www/compare.html` can show the four side by side, with what each costs.
//!
//! It is the Cargo feature `push` (on by default). Left out
//! (`cargo build --no-default-features`), its paths answer 404 and the
//! room does not know it was ever there: the layer plugs into the room's
//! seam, [`Audience`](crate::chat::room::Audience), from this folder. The
//! chapters, in reading order:
//!
//! 1. [`catchup`]: the record, asked "what came after seq 41?"; then
//!    [`feed`]: the layer's side of the room: catching up from the record,
//!    waiting for the next message, listening to every message.
//! 2. [`endpoint`]: where a request under `/api/` enters the layer;
//!    [`http_api`]: `POST /api/send`, and short and long polling.
//! 3. [`sse`] and [`event_stream`]: Server-Sent Events, `GET /api/events`.
//!
//! Read next: `src/push/catchup.rs`, then `feed.rs`.

pub mod catchup;
pub mod endpoint;
pub mod event_stream;
pub mod feed;
pub mod http_api;
pub mod sse;

pub use feed::Feed;
