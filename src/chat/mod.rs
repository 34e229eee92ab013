//! # The chat room at `/chat`, and over plain HTTP at `/api/...`
//!
//! The demo that shows what a WebSocket is for: open the page in two
//! browser tabs, type in one, and the server *pushes* the message to the
//! other, with no request asking for it. Every member receives every
//! message, the sender included.
//!
//! The same room can also be reached the ways that came before WebSocket:
//! short polling, long polling and Server-Sent Events, plus a plain `POST`
//! to speak. `www/compare.html` shows all four side by side, with what
//! each one costs.
//!
//! The chapters, in reading order:
//!
//! 1. [`room`]: members, history, and fan-out: one message encoded once and
//!    shared with every member; the slow-consumer policy. Start here.
//! 2. [`history`]: sequence numbers, time, and the last 100 messages.
//! 3. [`outbox`]: each member's byte-bounded queue of frames, and what
//!    happens when it fills up; [`outbox_writer`]: how the member's own
//!    `WebSocket` writes into it; [`wakeups`]: waking the writers once per
//!    burst rather than once per message.
//! 4. [`member`]: the two threads of a member's connection, a reader and a
//!    writer, and how each one learns that the other has stopped.
//! 5. [`protocol`]: the events (JSON objects) and the commands, both
//!    directions; `docs/protocol.md` is the same thing for client authors.
//! 6. [`json`]: JSON written by hand, with the escaping that keeps a
//!    stranger's text inside its string.
//!    [`json_read`] reads it back, strictly, for clients and tests.
//! 7. [`names`]: the rules for display names.
//! 8. The room over plain HTTP: `room/feed.rs` (the room's side: catching
//!    up, waiting, listening), [`http_api`] (sending, short and long
//!    polling) and [`event_stream`] (Server-Sent Events).
//! 9. One room across many processes (`--redis`): `room/link.rs` (the
//!    room's side: alone or shared) and [`bus`] (the threads that publish
//!    to Redis and listen to it); chapter 10 of the course.
//!
//! The pages that talk to all this are `www/chat.js` and `www/compare.js`.
//!
//! Read next: `src/chat/room.rs`.

pub mod bus;
pub mod event_stream;
pub mod history;
pub mod http_api;
pub mod json;
pub mod json_read;
pub mod member;
pub mod names;
pub mod outbox;
pub mod outbox_writer;
pub mod protocol;
pub mod room;
pub mod wakeups;

pub use member::serve;
pub use outbox::{Frame, Outbox, PushError};
pub use outbox_writer::OutboxWriter;
pub use protocol::{Command, FileInfo, RoomEvent};
pub use room::{MemberId, Room};
