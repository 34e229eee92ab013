//! # The bus: one room, shared by many processes through Redis
//!
//! With `--redis HOST:PORT`, every duplex process pointed at the same Redis
//! serves the *same* room: a message said on one reaches the members of
//! all of them, exactly once each, in one order they all agree on. This
//! module is the glue between the room (`src/chat/room.rs`, which knows
//! nothing of sockets or Redis) and the Redis client (`src/redis/`, which
//! knows nothing of rooms). It plugs into the room's seam as its
//! [`Numbering`](crate::chat::room::Numbering) (`link.rs`), and it is two
//! threads and a queue:
//!
//! ```text
//!  reader threads ──▶ Link::route ─▶ PublishQueue ──▶ publisher thread ──EVAL──▶ Redis
//!  (members, HTTP)    (decides,      (never blocks,    (one event at a          │ numbers,
//!                      queues)        bounded)          time, in order)         │ records,
//!                                                                               │ PUBLISH
//!  outboxes ◀── deliver_from_bus ◀──────── subscriber thread ◀──── message ─────┘
//!               (numbered by Redis,        (one subscription,
//!                same for every process)    reconnects)
//! ```
//!
//! - Nothing a member's thread does waits for Redis. The room *queues* an
//!   event (`queue.rs`); when the queue is full, a message's sender is
//!   told so at once (a join, leave or rename takes the room alone).
//! - The **publisher** (`publisher.rs`) runs each event through one Lua
//!   script (`scripts.rs`) that numbers it, records it and publishes it
//!   atomically, and every few seconds refreshes this process's entry in
//!   the member list (the *heartbeat*).
//! - The **subscriber** (`subscriber.rs`) hears every event, this
//!   process's own included, and hands it to the room, which delivers it.
//!   Delivering our own events only when they come back is what puts them
//!   in the same order as everyone else's.
//! - Events travel in an **envelope** (`envelope.rs`) that says which
//!   process they come from.
//!
//! When the link breaks, the room goes on alone, and the subscriber
//! reconnects with backoff and brings the room back (see
//! `link.rs`, and `docs/10-beyond-one-process.md` for what is
//! and is not lost meanwhile).
//!
//! [`start`] does the first connection on the caller's thread (`main.rs`
//! calls it between `Server::bind` and `Server::serve`, before the first
//! member can arrive), so that a Redis that cannot be reached stops the
//! server at once with a clear error, rather than leaving it to retry in
//! the background forever.
//!
//! Read next: `src/redis/bus/link.rs`, the room's side.

pub mod envelope;
pub mod link;
pub mod publisher;
pub mod queue;
pub mod roster;
pub mod scripts;
pub mod settings;
pub mod subscriber;

use std::fmt;
use std::io;
use std::sync::Arc;
use std::thread;

use self::envelope::ProcessId;
use self::link::Link;
use self::queue::PublishQueue;
use self::settings::BusSettings;
use crate::chat::room::Room;
use crate::config::Limits;
use crate::log;
use crate::redis::RedisAddress;

/// Why the room could not be shared at start.
#[derive(Debug)]
pub enum BusError {
    /// Redis could not be reached, refused us, or answered nonsense.
    Unreachable { address: String, reason: String },
    /// A thread could not be started.
    Thread(io::Error),
}

impl fmt::Display for BusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BusError::Unreachable { address, reason } => {
                write!(f, "cannot reach Redis at {address}: {reason}")
            }
            BusError::Thread(error) => write!(f, "cannot start the Redis threads: {error}"),
        }
    }
}

impl std::error::Error for BusError {}

/// Shares `room` through the Redis at `address`: connects, joins the
/// shared room, and starts the publisher and subscriber threads. Returns
/// this process's id.
pub fn start(
    room: &Arc<Room>,
    address: RedisAddress,
    limits: &Limits,
) -> Result<ProcessId, BusError> {
    let origin = ProcessId::generate();
    let name = room.with_lock(|state| state.core.room_name.clone());
    let settings = Arc::new(BusSettings::new(&name, &origin, address, limits));
    let queue = Arc::new(PublishQueue::new(limits.redis.queue_bytes));
    // Call before any member joins: from now on the link numbers events.
    let link = Link::new(origin.clone(), Arc::clone(&queue), settings.confirm_wait());
    room.with_lock(|state| state.numbering = Some(Box::new(link)));

    let (session, commands) = subscriber::join_shared_room(room, &settings).map_err(|error| {
        BusError::Unreachable { address: settings.address.to_string(), reason: error.to_string() }
    })?;
    let first = (session.epoch(), commands);
    let as_of = session.as_of();

    let spawn = |name: &str| thread::Builder::new().name(name.to_string());
    let (publisher_room, publisher_settings) = (Arc::clone(room), Arc::clone(&settings));
    spawn("redis-publisher")
        .spawn(move || publisher::run(&publisher_room, &queue, &publisher_settings, Some(first)))
        .map_err(BusError::Thread)?;
    let (subscriber_room, subscriber_settings) = (Arc::clone(room), Arc::clone(&settings));
    spawn("redis-subscriber")
        .spawn(move || subscriber::run(&subscriber_room, &subscriber_settings, Some(session)))
        .map_err(BusError::Thread)?;

    log!(
        "redis: room {} shared through {} as process {origin}, on channel {}; seq continues from {as_of}",
        name,
        settings.address,
        settings.keys.channel,
    );
    Ok(origin)
}
