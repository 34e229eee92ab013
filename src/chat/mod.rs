//! # The chat room at `/chat`
//!
//! The demo that shows what a WebSocket is for: open the page in two
//! browser tabs, type in one, and the server *pushes* the message to the
//! other, with no request asking for it. Every member receives every
//! message, the sender included.
//!
//! This folder is the whole room, as `cargo build --no-default-features`
//! builds it: names, `/nick`, history, join, leave, rename, files,
//! keepalive, bounded outboxes and the slow-consumer policy. The chapters,
//! in reading order:
//!
//! 1. [`room`]: members, history and fan-out: one message encoded once
//!    and shared with every member; the slow-consumer policy; and the seam
//!    where the optional layers plug in. Start here.
//! 2. [`history`]: sequence numbers, time, and the last 100 messages.
//! 3. [`outbox`]: each member's byte-bounded queue, and what happens when
//!    it fills up; [`outbox_writer`]: how the member's own `WebSocket`
//!    writes into it.
//! 4. [`member`]: the two threads of a member's connection, a reader and a
//!    writer, and how each one learns that the other has stopped.
//! 5. [`wakeups`]: waking the writers once per burst rather than once per
//!    message, the improvement that made fan-out about thirty times faster;
//!    then [`outbox::handover`]: paying a wake-up by writing in the
//!    sleeping writer's place, which took paced fan-out past Node's.
//! 6. [`protocol`]: the events (JSON objects) and the commands, both
//!    directions; `docs/protocol.md` is the same thing for client authors.
//! 7. [`names`]: the rules for display names.
//!
//! Two layers plug into the room, each in its own folder and behind its
//! own Cargo feature, and the room names neither: `src/push/` (feature
//! `push`: the same room over plain HTTP, polling and Server-Sent Events)
//! and `src/redis/bus/` (feature `redis`: one room across processes).
//! The page that talks to all this is `www/chat.js`.
//!
//! Read next: `src/chat/room.rs`.

pub mod history;
pub mod member;
pub mod names;
pub mod outbox;
pub mod outbox_writer;
pub mod protocol;
pub mod room;
pub mod wakeups;

pub use member::serve;
pub use room::Room;
