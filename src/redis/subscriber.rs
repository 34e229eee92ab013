//! # A subscribed connection: it only listens
//!
//! In RESP2, a connection that has sent `SUBSCRIBE` (or `PSUBSCRIBE`)
//! changes mode. From then on Redis *pushes* to it, unasked: each message
//! published on a subscribed channel arrives as a three-element array,
//!
//! ```text
//! *3\r\n$7\r\nmessage\r\n$9\r\nchat:main\r\n$5\r\nhello\r\n
//! ```
//!
//! and the connection accepts only `SUBSCRIBE`, `PSUBSCRIBE`,
//! `SSUBSCRIBE`, their `UNSUBSCRIBE` counterparts, `PING` and `QUIT`
//! (Redis 6.2 adds `RESET`). Anything else is refused with
//! `-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE /
//! PING / QUIT / RESET are allowed in this context`. The rule exists
//! because replies and pushes share one stream with no ids: had a `GET`
//! been allowed, its reply would be indistinguishable from a message push
//! arriving at the same moment.
//!
//! So a publisher and a subscriber are two connections, and here they are
//! two types. [`RedisConnection::subscribe`](super::RedisConnection::subscribe)
//! takes the connection *by value* and returns a [`Subscriber`], which has
//! no `command`, `get` or `publish` at all: sending a forbidden command is
//! a compile error, not a runtime one.
//!
//! Two more things a subscriber must handle:
//!
//! - **Silence.** A quiet channel and a dead connection look the same: no
//!   bytes. [`Subscriber::receive`] returns [`SubscriberEvent::Idle`] when
//!   the read timeout passes with nothing arriving, so its caller can do
//!   periodic work and, now and then, send [`Subscriber::ping`]: a live
//!   Redis answers with a `pong` push, a dead one with an error or more
//!   silence.
//! - **Timeouts mid-push.** `Idle` is only reported when *no byte* of a
//!   push has arrived, which is checked by waiting for the first byte
//!   before starting to parse. A timeout after the first byte means a push
//!   was cut in half: the stream is out of step and the subscriber becomes
//!   unusable (`src/redis/error.rs` explains why).
//!
//! Read next: `src/redis/sequenced.rs`.

use std::io::{self, BufRead};
use std::time::Duration;

use super::error::RedisError;
use super::resp::Reply;
use super::wire::Wire;

/// A connection in subscribed mode.
#[derive(Debug)]
pub struct Subscriber {
    wire: Wire,
}

/// What a subscriber can receive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubscriberEvent {
    /// A message published on a channel we subscribed to.
    Message { channel: Vec<u8>, payload: Vec<u8> },
    /// A message on a channel matching a pattern we subscribed to.
    PatternMessage { pattern: Vec<u8>, channel: Vec<u8>, payload: Vec<u8> },
    /// Redis confirms a `SUBSCRIBE` or `PSUBSCRIBE` of one channel or
    /// pattern; `count` is how many we are now subscribed to.
    Subscribed { channel: Vec<u8>, count: i64 },
    /// Redis confirms an `UNSUBSCRIBE` or `PUNSUBSCRIBE`. At a count of 0,
    /// RESP2 puts the connection back in normal mode (this type does not
    /// follow it there: open a new connection for commands).
    Unsubscribed { channel: Vec<u8>, count: i64 },
    /// The answer to [`Subscriber::ping`], carrying its token back.
    Pong(Vec<u8>),
    /// The read timeout passed and nothing arrived. The connection is fine.
    Idle,
}

impl Subscriber {
    /// Sends `SUBSCRIBE` or `PSUBSCRIBE` on a fresh connection and waits for
    /// one confirmation per name.
    ///
    /// Why wait: when the confirmation for a channel arrives, Redis has
    /// registered the subscription, so anything published *after* this
    /// returns is delivered. Without the wait, a message published right
    /// after "subscribing" may be lost, and code that reads the history and
    /// then subscribes has a gap. No push can come between the
    /// confirmations: Redis runs one command at a time and writes all of a
    /// command's confirmations before anything else.
    pub(super) fn start(wire: Wire, verb: &[u8], names: &[&str]) -> Result<Self, RedisError> {
        let mut subscriber = Subscriber { wire };
        subscriber.send(verb, names)?;
        // With no names Redis answers with one error reply: read that too.
        for index in 0..names.len().max(1) {
            let expected = names.get(index).map(|name| name.as_bytes());
            match event_from(subscriber.wire.receive()?)? {
                SubscriberEvent::Subscribed { channel, .. } if expected == Some(&channel[..]) => {}
                SubscriberEvent::Subscribed { channel, .. } => {
                    let got = format!("confirmation for {:?}", String::from_utf8_lossy(&channel));
                    return Err(RedisError::UnexpectedReply { command: "SUBSCRIBE", got });
                }
                _ => {
                    let got = "a push before the confirmation".to_string();
                    return Err(RedisError::UnexpectedReply { command: "SUBSCRIBE", got });
                }
            }
        }
        Ok(subscriber)
    }

    /// Subscribes to more channels. The confirmations arrive through
    /// [`Subscriber::receive`], possibly after messages already on the way.
    pub fn subscribe(&mut self, channels: &[&str]) -> Result<(), RedisError> {
        self.send(b"SUBSCRIBE", channels)
    }

    /// Leaves channels; an empty list leaves them all.
    pub fn unsubscribe(&mut self, channels: &[&str]) -> Result<(), RedisError> {
        self.send(b"UNSUBSCRIBE", channels)
    }

    /// Subscribes to glob patterns (`chat:*`).
    pub fn psubscribe(&mut self, patterns: &[&str]) -> Result<(), RedisError> {
        self.send(b"PSUBSCRIBE", patterns)
    }

    /// Leaves patterns; an empty list leaves them all.
    pub fn punsubscribe(&mut self, patterns: &[&str]) -> Result<(), RedisError> {
        self.send(b"PUNSUBSCRIBE", patterns)
    }

    /// `PING token`. The answer is a push, [`SubscriberEvent::Pong`] with
    /// the same token, in order with the messages around it.
    pub fn ping(&mut self, token: &[u8]) -> Result<(), RedisError> {
        self.wire.send(&[b"PING", token])
    }

    /// Changes how long [`Subscriber::receive`] waits before reporting
    /// `Idle` (at first, the read timeout the connection was opened with).
    /// A short tick suits a loop that also has other work to do.
    pub fn set_idle_timeout(&mut self, timeout: Duration) -> Result<(), RedisError> {
        let result = self.wire.stream().get_ref().set_read_timeout(Some(timeout));
        result.map_err(RedisError::from_io)
    }

    fn send(&mut self, verb: &[u8], names: &[&str]) -> Result<(), RedisError> {
        let mut args: Vec<&[u8]> = vec![verb];
        args.extend(names.iter().map(|name| name.as_bytes()));
        self.wire.send(&args)
    }

    /// Is part of a push already read and waiting here? If not, the next
    /// [`receive`](Self::receive) will wait on the socket.
    pub fn has_buffered(&mut self) -> bool {
        !self.wire.stream().buffer().is_empty()
    }

    /// Waits, at most the read timeout, for the next push.
    ///
    /// `Ok(SubscriberEvent::Idle)` means the timeout passed with nothing
    /// arriving. After an `Err`, ask
    /// [`RedisError::leaves_connection_usable`]: only an error reply or a
    /// push of an unknown shape does; after anything else this subscriber
    /// is finished and a new connection must be opened.
    pub fn receive(&mut self) -> Result<SubscriberEvent, RedisError> {
        self.wire.check_usable()?;
        // Wait for the first byte without consuming anything: a timeout
        // here leaves the stream exactly as it was.
        let waited = self.wire.stream().fill_buf().map(|buffered| buffered.is_empty());
        match waited {
            Ok(true) => return self.wire.note(Err(RedisError::Closed)),
            Ok(false) => {}
            // A signal cut the wait short; nothing was consumed either.
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {
                return Ok(SubscriberEvent::Idle)
            }
            Err(error) => match RedisError::from_io(error) {
                RedisError::Timeout => return Ok(SubscriberEvent::Idle),
                other => return self.wire.note(Err(other)),
            },
        }
        let reply = self.wire.receive()?;
        let event = event_from(reply);
        self.wire.note(event)
    }
}

/// Turns a push into an event, checking its shape.
fn event_from(reply: Reply) -> Result<SubscriberEvent, RedisError> {
    let items = match reply {
        Reply::Array(items) => items,
        Reply::Error(message) => return Err(RedisError::Server(message)),
        other => return Err(RedisError::unexpected("a subscribed connection", &other)),
    };
    let got = format!("array of {} values", items.len());
    let mut parts = items.into_iter();
    let Some(Reply::Bulk(kind)) = parts.next() else {
        return Err(RedisError::UnexpectedReply { command: "a subscribed connection", got });
    };
    use Reply::{Bulk, Integer, Nil};
    let event = match (kind.as_slice(), parts.next(), parts.next(), parts.next(), parts.next()) {
        (b"message", Some(Bulk(channel)), Some(Bulk(payload)), None, None) => {
            SubscriberEvent::Message { channel, payload }
        }
        (b"pmessage", Some(Bulk(pattern)), Some(Bulk(channel)), Some(Bulk(payload)), None) => {
            SubscriberEvent::PatternMessage { pattern, channel, payload }
        }
        (b"subscribe" | b"psubscribe", Some(Bulk(channel)), Some(Integer(count)), None, None) => {
            SubscriberEvent::Subscribed { channel, count }
        }
        // Unsubscribing from everything while subscribed to nothing names
        // no channel: Redis sends a null there.
        (b"unsubscribe" | b"punsubscribe", Some(channel), Some(Integer(count)), None, None) => {
            let channel = match channel {
                Bulk(channel) => channel,
                Nil => Vec::new(),
                other => return Err(RedisError::unexpected("UNSUBSCRIBE", &other)),
            };
            SubscriberEvent::Unsubscribed { channel, count }
        }
        // RESP2 answers PING in subscribed mode with a push, not `+PONG`.
        (b"pong", Some(Bulk(token)), None, None, None) => SubscriberEvent::Pong(token),
        _ => {
            let got = format!("{got} starting {:?}", String::from_utf8_lossy(&kind));
            return Err(RedisError::UnexpectedReply { command: "a subscribed connection", got });
        }
    };
    Ok(event)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redis::resp::encode_reply;
    use crate::redis::{read_reply, RespLimits};

    fn event(wire: &[u8]) -> Result<SubscriberEvent, RedisError> {
        event_from(read_reply(&mut &wire[..], &RespLimits::default()).unwrap())
    }

    #[test]
    fn every_push_redis_sends() {
        assert_eq!(
            event(b"*3\r\n$7\r\nmessage\r\n$9\r\nchat:main\r\n$5\r\nhello\r\n").unwrap(),
            SubscriberEvent::Message { channel: b"chat:main".to_vec(), payload: b"hello".to_vec() }
        );
        assert_eq!(
            event(b"*4\r\n$8\r\npmessage\r\n$6\r\nchat:*\r\n$6\r\nchat:a\r\n$1\r\nx\r\n").unwrap(),
            SubscriberEvent::PatternMessage {
                pattern: b"chat:*".to_vec(),
                channel: b"chat:a".to_vec(),
                payload: b"x".to_vec()
            }
        );
        assert_eq!(
            event(b"*3\r\n$9\r\nsubscribe\r\n$9\r\nchat:main\r\n:1\r\n").unwrap(),
            SubscriberEvent::Subscribed { channel: b"chat:main".to_vec(), count: 1 }
        );
        assert_eq!(
            event(b"*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n").unwrap(),
            SubscriberEvent::Unsubscribed { channel: Vec::new(), count: 0 }
        );
        assert_eq!(
            event(b"*2\r\n$4\r\npong\r\n$4\r\ntick\r\n").unwrap(),
            SubscriberEvent::Pong(b"tick".to_vec())
        );
    }

    #[test]
    fn anything_else_is_a_typed_error() {
        assert!(matches!(event(b"-ERR Can't execute 'get'\r\n"), Err(RedisError::Server(_))));
        assert!(matches!(event(b"+PONG\r\n"), Err(RedisError::UnexpectedReply { .. })));
        let wrong_shapes = [
            Reply::Array(vec![]),
            Reply::Array(vec![Reply::Integer(1)]),
            Reply::Array(vec![Reply::Bulk(b"message".to_vec()), Reply::Bulk(b"c".to_vec())]),
            Reply::Array(vec![
                Reply::Bulk(b"subscribe".to_vec()),
                Reply::Bulk(b"c".to_vec()),
                Reply::Nil,
            ]),
            Reply::Array(vec![Reply::Bulk(b"gossip".to_vec()), Reply::Nil, Reply::Nil]),
        ];
        for shape in wrong_shapes {
            let result = event(&encode_reply(&shape));
            assert!(matches!(result, Err(RedisError::UnexpectedReply { .. })), "{shape:?}");
        }
    }
}
