//! # The bus: one room, shared by many processes through Redis
//!
//! With `--redis HOST:PORT`, every duplex process pointed at the same Redis
//! serves the *same* room: a message said on one reaches the members of
//! all of them, exactly once each, in one order they all agree on. This
//! module is the glue between the room (`src/chat/room.rs`, which knows
//! nothing of sockets) and the Redis client (`src/redis/`, which knows
//! nothing of rooms). It is two threads and a queue:
//!
//! ```text
//!  reader threads ──▶ Room::say ──▶ PublishQueue ──▶ publisher thread ──EVAL──▶ Redis
//!  (members, HTTP)    (decides,      (never blocks,    (one event at a          │ numbers,
//!                      queues)        bounded)          time, in order)         │ records,
//!                                                                               │ PUBLISH
//!  outboxes ◀── Room::deliver_from_bus ◀── subscriber thread ◀──── message ─────┘
//!               (numbered by Redis,        (one subscription,
//!                same for every process)    reconnects)
//! ```
//!
//! - Nothing a member's thread does waits for Redis. The room *queues* an
//!   event (`src/chat/bus/queue.rs`); when the queue is full, the sender is
//!   told so at once.
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
//! `src/chat/room/link.rs`, and `docs/10-beyond-one-process.md` for what is
//! and is not lost meanwhile).
//!
//! [`start`] does the first connection on the caller's thread, so that a
//! Redis that cannot be reached stops the server at once with a clear
//! error, rather than leaving it to retry in the background forever.
//!
//! Read next: `src/chat/bus/envelope.rs`.

pub mod envelope;
pub mod publisher;
pub mod queue;
pub mod scripts;
pub mod subscriber;

use std::fmt;
use std::io;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use self::envelope::ProcessId;
use self::queue::PublishQueue;
use self::scripts::RoomKeys;
use crate::chat::room::Room;
use crate::config::{Limits, KIB};
use crate::log;
use crate::redis::{RedisAddress, RespLimits, Timeouts};

/// Everything the two threads need to know, fixed at start.
#[derive(Debug, Clone)]
pub struct BusSettings {
    pub address: RedisAddress,
    pub timeouts: Timeouts,
    /// What a reply may cost: big enough for a file and its envelope.
    pub resp_limits: RespLimits,
    pub keys: RoomKeys,
    /// How often the publisher refreshes our member entries and reads the
    /// others', and how long the subscriber waits in silence before it
    /// pings Redis.
    pub heartbeat: Duration,
    /// How long our member entries outlive our last heartbeat: three
    /// heartbeats, so one late heartbeat does not make us vanish.
    pub ttl: Duration,
    /// The longest wait between two attempts to reconnect.
    pub backoff_max: Duration,
}

impl BusSettings {
    pub fn new(room: &str, origin: &ProcessId, address: RedisAddress, limits: &Limits) -> Self {
        // A file is the biggest event; its JSON line adds a few hundred
        // bytes. A text can grow to six times its size when escaped
        // (`\u0001`). The history reply, 100 such texts at the default
        // limits, stays under the default 64 MiB for a whole reply.
        let largest_event = limits.max_chat_file.max(6 * limits.max_chat_text) + 64 * KIB;
        let defaults = RespLimits::default();
        let resp_limits = RespLimits {
            max_bulk: defaults.max_bulk.max(largest_event),
            max_reply_bytes: defaults.max_reply_bytes.max(2 * largest_event),
            ..defaults
        };
        BusSettings {
            address,
            timeouts: Timeouts::default(),
            resp_limits,
            keys: RoomKeys::new(room, origin),
            heartbeat: limits.redis_heartbeat,
            ttl: limits.redis_heartbeat * 3,
            backoff_max: limits.redis_backoff_max,
        }
    }

    /// How long `POST /api/send` waits for its message to come back: a
    /// publish that is going to fail has failed by then (connect, write and
    /// read timeouts), and the room has delivered it here by itself.
    pub fn confirm_wait(&self) -> Duration {
        self.timeouts.connect + self.timeouts.write + self.timeouts.read
    }
}

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
    let settings = Arc::new(BusSettings::new(room.name(), &origin, address, limits));
    let queue = Arc::new(PublishQueue::new(limits.redis_queue_bytes));
    room.attach_bus(origin.clone(), Arc::clone(&queue), settings.confirm_wait());

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
        room.name(),
        settings.address,
        settings.keys.channel,
    );
    Ok(origin)
}
