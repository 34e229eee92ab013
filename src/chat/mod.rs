//! # The chat room at `/chat`
//!
//! The demo that shows what a WebSocket is for: open the page in two
//! browser tabs, type in one, and the server *pushes* the message to the
//! other, with no request asking for it. Every member receives every
//! message, the sender included.
//!
//! The chapters, in reading order:
//!
//! 1. [`room`]: members, history, and fan-out: one message encoded once and
//!    shared with every member; the slow-consumer policy. Start here.
//! 2. [`history`]: sequence numbers, time, and the last 100 messages.
//! 3. [`outbox`]: each member's byte-bounded queue of frames, and what
//!    happens when it fills up.
//! 4. [`member`]: the two threads of a member's connection, a reader and a
//!    writer, and how each one learns that the other has stopped.
//! 5. [`protocol`]: the events (JSON objects) and the commands, both
//!    directions; `docs/protocol.md` is the same thing for client authors.
//! 6. [`json`]: JSON written by hand, with the escaping that keeps a
//!    stranger's text inside its string.
//!    [`json_read`] reads it back, strictly, for clients and tests.
//! 7. [`names`]: the rules for display names.
//!
//! The page that talks to all this is `www/chat.js`.
//!
//! Read next: `src/chat/room.rs`.

pub mod history;
pub mod json;
pub mod json_read;
pub mod member;
pub mod names;
pub mod outbox;
pub mod protocol;
pub mod room;

pub use member::serve;
pub use outbox::{Frame, Outbox, OutboxWriter, PushError};
pub use protocol::{Command, FileInfo, RoomEvent};
pub use room::{MemberId, Room};
