//! # What can go wrong when talking to Redis
//!
//! A caller needs to know two things about an error: what to tell a human,
//! and whether the connection can still be used. [`RedisError`] answers the
//! first with its variants and `Display`, the second with
//! [`RedisError::leaves_connection_usable`].
//!
//! The second question has a trap in it. RESP has no request ids: the
//! *n*th reply answers the *n*th command, and that is all that matches
//! them up. If a read times out, the reply is still on its way; read again
//! later and you get the answer to the *old* command, taken for the answer
//! to the new one (a `GET user:1` answered with someone else's value). So
//! after a timeout, a broken reply or a lost connection, the connection is
//! marked unusable and every later call fails with
//! [`RedisError::Unusable`]: the only cure is a new connection. Only two
//! errors leave it in step: an error *reply* (`-ERR ...`) and a reply of the
//! wrong shape, because each is one complete reply, fully read.
//!
//! A second trap: on Linux a read timeout is reported as `WouldBlock`
//! (EAGAIN), not `TimedOut`, so code that checks only `TimedOut` never sees
//! its timeouts. Both map to [`RedisError::Timeout`] here.
//!
//! Read next: `src/redis/subscriber.rs`.

use std::fmt;
use std::io;

use super::limits::RespError;

/// Everything that can go wrong talking to Redis.
#[derive(Debug)]
pub enum RedisError {
    /// No TCP connection could be opened: the name did not resolve, the
    /// port was closed (refused), or the connect timeout passed.
    Connect { address: String, error: io::Error },
    /// Redis refused the password, or wants one and none was given. The
    /// text is Redis's own (`WRONGPASS ...`, `NOAUTH ...`).
    Auth(String),
    /// Redis answered with an error reply (`ERR ...`, `WRONGTYPE ...`).
    /// The connection is fine.
    Server(String),
    /// A valid reply, but not the shape this command returns (an integer
    /// where `OK` was expected, say). The connection is fine.
    UnexpectedReply { command: &'static str, got: String },
    /// Nothing arrived, or nothing could be sent, within the timeout.
    Timeout,
    /// Redis closed the connection or it was reset: Redis stopped, or
    /// something between us dropped the connection.
    Closed,
    /// Some other failure of the transport.
    Io(io::Error),
    /// The reply broke RESP or one of our limits.
    Protocol(RespError),
    /// An earlier error left this connection out of step; open a new one.
    Unusable,
}

impl RedisError {
    /// Classifies a transport error.
    pub fn from_io(error: io::Error) -> RedisError {
        match error.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => RedisError::Timeout,
            io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe => RedisError::Closed,
            _ => RedisError::Io(error),
        }
    }

    /// Whether the connection that reported this error may be used again.
    /// See the top of this file for why almost every error rules it out.
    pub fn leaves_connection_usable(&self) -> bool {
        matches!(self, RedisError::Server(_) | RedisError::UnexpectedReply { .. })
    }

    /// The reply's shape was not what `command` returns.
    pub fn unexpected(command: &'static str, got: &super::resp::Reply) -> RedisError {
        RedisError::UnexpectedReply { command, got: got.describe() }
    }
}

impl From<RespError> for RedisError {
    fn from(error: RespError) -> Self {
        match error {
            RespError::Io(error) => RedisError::from_io(error),
            other => RedisError::Protocol(other),
        }
    }
}

impl fmt::Display for RedisError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RedisError::Connect { address, error } => {
                write!(f, "cannot connect to Redis at {address}: {error}")
            }
            RedisError::Auth(message) => write!(f, "Redis refused authentication: {message}"),
            RedisError::Server(message) => write!(f, "Redis error: {message}"),
            RedisError::UnexpectedReply { command, got } => {
                write!(f, "unexpected reply to {command}: {got}")
            }
            RedisError::Timeout => f.write_str("Redis did not answer in time"),
            RedisError::Closed => f.write_str("the connection to Redis was closed"),
            RedisError::Io(error) => write!(f, "i/o error talking to Redis: {error}"),
            RedisError::Protocol(error) => write!(f, "bad reply from Redis: {error}"),
            RedisError::Unusable => {
                f.write_str("this Redis connection failed earlier and cannot be used")
            }
        }
    }
}

impl std::error::Error for RedisError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RedisError::Connect { error, .. } | RedisError::Io(error) => Some(error),
            RedisError::Protocol(error) => Some(error),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transport_errors_are_classified() {
        let kind_of = |kind: io::ErrorKind| RedisError::from_io(kind.into());
        assert!(matches!(kind_of(io::ErrorKind::WouldBlock), RedisError::Timeout));
        assert!(matches!(kind_of(io::ErrorKind::TimedOut), RedisError::Timeout));
        assert!(matches!(kind_of(io::ErrorKind::UnexpectedEof), RedisError::Closed));
        assert!(matches!(kind_of(io::ErrorKind::ConnectionReset), RedisError::Closed));
        assert!(matches!(kind_of(io::ErrorKind::BrokenPipe), RedisError::Closed));
        assert!(matches!(kind_of(io::ErrorKind::PermissionDenied), RedisError::Io(_)));
        assert!(matches!(RedisError::from(RespError::BadNumber), RedisError::Protocol(_)));
    }

    #[test]
    fn only_complete_replies_leave_the_connection_usable() {
        assert!(RedisError::Server("ERR x".into()).leaves_connection_usable());
        assert!(RedisError::UnexpectedReply { command: "GET", got: "integer 1".into() }
            .leaves_connection_usable());
        for error in
            [RedisError::Timeout, RedisError::Closed, RedisError::Protocol(RespError::BadNumber)]
        {
            assert!(!error.leaves_connection_usable(), "{error}");
        }
    }
}
