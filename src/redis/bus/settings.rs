//! # What the bus's threads are told at start
//!
//! The address, the timeouts, the limits on replies and the keys of the
//! room in Redis: fixed when the bus starts, shared by both threads.
//!
//! Read next: `src/redis/bus/publisher.rs`.

use std::time::Duration;

use super::envelope::ProcessId;
use super::scripts::RoomKeys;
use crate::config::{Limits, KIB};
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
            heartbeat: limits.redis.heartbeat,
            ttl: limits.redis.heartbeat * 3,
            backoff_max: limits.redis.backoff_max,
        }
    }

    /// How long `POST /api/send` waits for its message to come back: a
    /// publish that is going to fail has failed by then (connect, write and
    /// read timeouts), and the room has delivered it here by itself.
    pub fn confirm_wait(&self) -> Duration {
        self.timeouts.connect + self.timeouts.write + self.timeouts.read
    }
}
