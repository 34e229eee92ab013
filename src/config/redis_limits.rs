//! # The `redis` layer's limits
//!
//! The numbers only the room shared through Redis reads (`src/redis/`),
//! and their lines of `--help`. This file is compiled only with the
//! `redis` Cargo feature, so a build without it has neither. The flags
//! themselves are read with every other flag, in `Config::from_args`;
//! `--redis` itself, the address, is `Config::redis`.
//!
//! Read next: `src/http/mod.rs`, the first protocol the numbers guard.

use std::time::Duration;

/// The limits of the `redis` layer: `Limits::redis`.
#[derive(Debug, Clone)]
pub struct RedisLimits {
    /// With `--redis`: how often this process tells Redis it is alive (and
    /// reads the other processes' member lists), and how long it lets the
    /// subscription stay silent before it pings. A process's members are
    /// dropped three heartbeats after its last one, so this sets how long
    /// a crashed process's members still show: up to four heartbeats.
    pub heartbeat: Duration,
    /// With `--redis`: bytes of events waiting for Redis before more are
    /// refused (the sender gets an `error`). Two files at the default
    /// limit; a Redis that cannot keep up with that is as good as gone.
    pub queue_bytes: usize,
    /// With `--redis`: the longest wait between two attempts to reconnect
    /// (the waits double from 100 ms up to this).
    pub backoff_max: Duration,
}

impl Default for RedisLimits {
    fn default() -> Self {
        RedisLimits {
            heartbeat: Duration::from_secs(5),
            queue_bytes: 16 * 1024 * 1024, // 16 MiB
            backoff_max: Duration::from_secs(5),
        }
    }
}

/// Flags of the `redis` layer (`src/redis/`).
pub const USAGE: &str = "\
  --redis ADDRESS         share the chat room with other duplex processes through this Redis:
                          HOST:PORT or redis://:PASSWORD@HOST:PORT (or the password in
                          DUPLEX_REDIS_PASSWORD); without it no Redis is used
  --redis-heartbeat SECS  how often to tell Redis this process is alive (default 5)
  --redis-queue-bytes BYTES  events waiting for Redis before more are refused (default 16777216)
  --redis-backoff-max SECS   longest wait between reconnect attempts (default 5)
";
