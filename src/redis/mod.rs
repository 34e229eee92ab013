//! # Redis: one room, many processes
//!
//! One duplex process keeps its room in memory, so every member must reach
//! that one process. To share a room between processes they need a common
//! place to post events to and hear them from. Redis pub/sub is the one
//! most chat systems use, and its wire protocol, RESP2 (redis.io, "Redis
//! serialization protocol specification"), is small enough to write by hand
//! in an afternoon, so duplex stays std-only and still talks to a real,
//! widely deployed server.
//!
//! This folder is the `redis` layer (Cargo feature `redis`, on by default).
//! Its first part is a Redis *client* and nothing more: it knows nothing
//! about rooms, members or WebSockets. The chapters, in reading order:
//!
//! 1. [`resp`]: the wire format. Commands are arrays of bulk strings;
//!    replies are one of five types. Works on `BufRead` and `Write` only,
//!    tested on byte slices, like `src/websocket/frame.rs`.
//! 2. [`limits`]: what a reply may cost us, checked before anything is
//!    allocated, and the typed errors for replies that break the rules.
//! 3. [`address`]: `--redis HOST:PORT` or `redis://:PASSWORD@HOST:PORT`,
//!    and the password in an environment variable instead.
//! 4. [`wire`]: the socket a command connection and a subscriber share.
//! 5. [`client`]: a blocking connection with timeouts: connect, `AUTH`,
//!    one command at a time, and helpers for the commands duplex uses.
//! 6. [`error`]: everything that can go wrong, and which errors leave the
//!    connection usable.
//! 7. [`subscriber`]: a connection that has sent `SUBSCRIBE` and may only
//!    listen, made a different type so the compiler enforces Redis's rule.
//! 8. [`sequenced`]: a Lua script that numbers and publishes an event in
//!    one atomic step, so every process sees the same order.
//!
//! Then [`bus`], the part that knows the chat room: it plugs into the
//! room's seam (`src/chat/room.rs`, [`Numbering`](crate::chat::room::Numbering))
//! and shares the room with every process on the same Redis (`--redis`,
//! chapter 10 of the course).
//!
//! Read next: `src/redis/resp.rs`.

pub mod address;
pub mod bus;
pub mod client;
pub mod error;
pub mod limits;
pub mod resp;
pub mod sequenced;
pub mod subscriber;
pub mod wire;

pub use address::{AddressError, RedisAddress, PASSWORD_ENV_VAR};
pub use client::{HashEntries, RedisConnection, Timeouts};
pub use error::RedisError;
pub use limits::{RespError, RespLimits};
pub use resp::{encode_command, encode_reply, read_reply, Reply};
pub use sequenced::{split_sequenced, SequencedChannel, SEQUENCED_PUBLISH_SCRIPT};
pub use subscriber::{Subscriber, SubscriberEvent};
