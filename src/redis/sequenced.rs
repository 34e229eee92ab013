//! # Numbering and publishing in one step
//!
//! Every process must show a room's events in the same order, and each
//! event carries a sequence number so a member can tell whether it missed
//! one. `INCR` gives unique numbers across processes. But two separate
//! commands, `INCR` then `PUBLISH`, are not enough:
//!
//! ```text
//! process A: INCR room:seq -> 7
//!                                  process B: INCR room:seq -> 8
//!                                  process B: PUBLISH ... "8 hi"
//! process A: PUBLISH ... "7 hello"
//! ```
//!
//! Every subscriber receives 8 before 7. Numbers and delivery disagree,
//! and a member that sees 8 then 7 cannot tell a reordering from a gap.
//!
//! The fix is to make the pair atomic. Redis runs a Lua script (`EVAL`)
//! with nothing else in between, so [`SEQUENCED_PUBLISH_SCRIPT`] takes the
//! number, stamps the payload with it, appends it to the history list,
//! trims the list, and publishes it, all as one step. Publish order is then
//! number order, for every subscriber on every process, and the history
//! list is in the same order as well.
//!
//! The stamp is the number in decimal and one space before the payload
//! (`"7 hello"`), which [`split_sequenced`] takes apart. It is added to the
//! bytes, not inside them, so any payload works, JSON or binary.
//!
//! Traps:
//! - Lua 5.1 numbers are doubles. The number prints exactly up to 10^14
//!   (`%.14g`); past that it would print as `1e+14`. At a thousand events
//!   a second that is three thousand years away, but it is a limit.
//! - `LTRIM key -0 -1` is `LTRIM key 0 -1`, which keeps everything, so a
//!   history of 0 means "no history" here and skips the list entirely.
//! - A script blocks all of Redis while it runs: keep it to a few
//!   commands, never a loop over data.
//!
//! Read next: the tests in `tests/redis_client.rs`, which run all of this
//! against a real Redis.

use super::client::RedisConnection;
use super::error::RedisError;
use super::resp::Reply;

/// `KEYS[1]` is the counter, `KEYS[2]` the history list; `ARGV[1]` is the
/// channel, `ARGV[2]` the payload, `ARGV[3]` how many events the list
/// keeps. Returns the number given to the event.
pub const SEQUENCED_PUBLISH_SCRIPT: &str = "\
local seq = redis.call('INCR', KEYS[1])
local stamped = seq .. ' ' .. ARGV[2]
local keep = tonumber(ARGV[3])
if keep > 0 then
  redis.call('RPUSH', KEYS[2], stamped)
  redis.call('LTRIM', KEYS[2], -keep, -1)
end
redis.call('PUBLISH', ARGV[1], stamped)
return seq
";

/// Where one numbered stream of events lives in Redis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SequencedChannel {
    /// The counter `INCR`ed for each event.
    pub counter_key: String,
    /// The list of recent stamped events, oldest first.
    pub history_key: String,
    /// The pub/sub channel the stamped events go out on.
    pub channel: String,
    /// How many events the history keeps (0: none).
    pub history_len: usize,
}

impl SequencedChannel {
    /// Numbers, records and publishes `payload`, atomically; returns its
    /// number (the first is 1).
    pub fn publish(&self, redis: &mut RedisConnection, payload: &[u8]) -> Result<u64, RedisError> {
        let keep = self.history_len.to_string();
        let keys: [&[u8]; 2] = [self.counter_key.as_bytes(), self.history_key.as_bytes()];
        let args: [&[u8]; 3] = [self.channel.as_bytes(), payload, keep.as_bytes()];
        match redis.eval(SEQUENCED_PUBLISH_SCRIPT, &keys, &args)? {
            Reply::Integer(seq) if seq > 0 => Ok(seq.unsigned_abs()),
            other => Err(RedisError::unexpected("EVAL (sequenced publish)", &other)),
        }
    }

    /// The recorded events, oldest first, each with its number.
    pub fn history(&self, redis: &mut RedisConnection) -> Result<Vec<(u64, Vec<u8>)>, RedisError> {
        redis
            .lrange(&self.history_key, 0, -1)?
            .into_iter()
            .map(|stamped| {
                let (seq, payload) =
                    split_sequenced(&stamped).ok_or_else(|| RedisError::UnexpectedReply {
                        command: "LRANGE (history)",
                        got: "an entry without a sequence number".into(),
                    })?;
                Ok((seq, payload.to_vec()))
            })
            .collect()
    }
}

/// Takes `"7 hello"` apart into `(7, b"hello")`; `None` when the bytes do
/// not start with a decimal number and a space.
///
/// ```
/// use duplex::redis::split_sequenced;
///
/// assert_eq!(split_sequenced(b"42 {\"text\":\"hi\"}"), Some((42, &b"{\"text\":\"hi\"}"[..])));
/// assert_eq!(split_sequenced(b"hello"), None);
/// ```
pub fn split_sequenced(stamped: &[u8]) -> Option<(u64, &[u8])> {
    let space = stamped.iter().position(|&b| b == b' ')?;
    let (digits, rest) = stamped.split_at(space);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let seq = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some((seq, &rest[1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_come_apart() {
        assert_eq!(split_sequenced(b"1 "), Some((1, &b""[..])));
        assert_eq!(split_sequenced(b"12 a b\r\n\0"), Some((12, &b"a b\r\n\0"[..])));
        for bad in
            [&b""[..], b" x", b"1x y", b"-1 y", b"+1 y", b"1e+14 y", b"99999999999999999999 y"]
        {
            assert_eq!(split_sequenced(bad), None, "{bad:?}");
        }
    }
}
