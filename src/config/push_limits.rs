//! # The `push` layer's limits
//!
//! The numbers only the chat room over plain HTTP reads (`src/push/`),
//! and their lines of `--help`. This file is compiled only with the `push`
//! Cargo feature, so a build without it has neither. The flags themselves
//! are read with every other flag, in `Config::from_args`.
//!
//! Read next: `src/config/redis_limits.rs`.

use std::time::Duration;

/// The limits of the `push` layer: `Limits::push`.
#[derive(Debug, Clone)]
pub struct PushLimits {
    /// Longest a long-polling request (`GET /api/messages?wait=`) is held
    /// before it is answered "nothing yet". Larger `wait`s are cut to this.
    /// Proxies and load balancers commonly give up on a silent response
    /// after 60 s (nginx's `proxy_read_timeout` default); half that stays
    /// clear of them. Meanwhile the request holds a thread, like any open
    /// connection.
    pub long_poll_max: Duration,
    /// An event stream (`GET /api/events`) quiet for this long gets a
    /// comment line, `: keepalive`. It keeps proxies from closing a silent
    /// response, and it is how the server notices a listener that has gone:
    /// the stream never reads from the client, so only a failed write can
    /// tell.
    pub event_stream_heartbeat: Duration,
}

impl Default for PushLimits {
    fn default() -> Self {
        PushLimits {
            long_poll_max: Duration::from_secs(30),
            event_stream_heartbeat: Duration::from_secs(15),
        }
    }
}

/// Flags of the `push` layer (`src/push/`).
pub const USAGE: &str = "\
  --long-poll-max SECS    longest wait a long poll may ask for (default 30)
  --heartbeat SECS        comment line on a quiet event stream after this long (default 15)
";
