//! # A blocking Redis connection
//!
//! [`RedisConnection`] is one TCP connection to Redis, used one command at
//! a time: send an array of bulk strings, read one reply. Like the rest of
//! duplex it blocks, and like the rest of duplex every wait is bounded
//! ([`Timeouts`]): connecting, each write, each read. A Redis that stops
//! answering must cost a chat member's thread seconds, never forever.
//!
//! Opening a connection ([`RedisConnection::connect`]) is three steps:
//!
//! 1. TCP connect, trying each address the name resolves to, each with the
//!    connect timeout. (Name resolution itself has no timeout in std; use
//!    an IP address where that matters.)
//! 2. `AUTH password`, if a password was given. Redis answers `+OK`, or
//!    `-WRONGPASS ...`, which becomes [`RedisError::Auth`].
//! 3. `PING`, answered `+PONG`. This proves that a Redis is listening (not
//!    some other program on that port) and that we may run commands: a
//!    server that wants a password and got none answers `-NOAUTH ...`,
//!    also [`RedisError::Auth`]. So `connect` fails at start, with a clear
//!    error, rather than at the first real command.
//!
//! After that, [`RedisConnection::command`] runs any command, and typed
//! helpers ([`RedisConnection::incr`], [`RedisConnection::lrange`], ...)
//! check the reply's shape. [`RedisConnection::subscribe`] *consumes* the
//! connection and returns a [`Subscriber`]: see `src/redis/subscriber.rs`.
//!
//! One connection is not shared between threads: a command's reply must be
//! read by whoever sent it. Open one per thread that talks to Redis, or
//! put it behind a `Mutex` held for the whole round trip.
//!
//! Read next: `src/redis/error.rs`, what comes back when it goes wrong.

use std::io::BufReader;
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use super::address::RedisAddress;
use super::error::RedisError;
use super::limits::RespLimits;
use super::resp::Reply;
use super::subscriber::Subscriber;
use super::wire::Wire;

/// How long each step may wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Opening the TCP connection, per address tried.
    pub connect: Duration,
    /// Waiting for a reply to arrive. On a [`Subscriber`] this is also the
    /// idle tick: how long `receive` waits before it reports `Idle`.
    pub read: Duration,
    /// Handing a command to the kernel; only a full send buffer (Redis not
    /// reading) makes a write wait at all.
    pub write: Duration,
}

impl Default for Timeouts {
    /// Redis answers in well under a millisecond on a local network, so a
    /// few seconds means "something is wrong", not "busy".
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(3),
            read: Duration::from_secs(5),
            write: Duration::from_secs(5),
        }
    }
}

/// A hash's `(field, value)` pairs, as `HGETALL` returns them.
pub type HashEntries = Vec<(Vec<u8>, Vec<u8>)>;

/// One connection to Redis, for ordinary commands.
#[derive(Debug)]
pub struct RedisConnection {
    wire: Wire,
}

impl RedisConnection {
    /// Connects to `host_port`, authenticates when `password` is given, and
    /// checks with `PING` that a usable Redis answers.
    pub fn connect(
        host_port: &str,
        password: Option<&str>,
        timeouts: &Timeouts,
    ) -> Result<RedisConnection, RedisError> {
        let stream = open_tcp(host_port, timeouts)?;
        let wire = Wire::new(BufReader::new(stream), RespLimits::default());
        let mut connection = RedisConnection { wire };
        if let Some(password) = password {
            // Never log this command: its second argument is the password.
            match connection.command(&[b"AUTH", password.as_bytes()]) {
                Ok(_) => {}
                Err(RedisError::Server(message)) => return Err(RedisError::Auth(message)),
                Err(other) => return Err(other),
            }
        }
        match connection.ping() {
            Err(RedisError::Server(message)) if message.starts_with("NOAUTH") => {
                Err(RedisError::Auth(message))
            }
            Err(other) => Err(other),
            Ok(()) => Ok(connection),
        }
    }

    /// [`RedisConnection::connect`] to a parsed `--redis` address.
    pub fn open(address: &RedisAddress, timeouts: &Timeouts) -> Result<Self, RedisError> {
        RedisConnection::connect(&address.host_port, address.password.as_deref(), timeouts)
    }

    /// Replaces the limits replies are held to (the default is
    /// `RespLimits::default()`).
    pub fn set_limits(&mut self, limits: RespLimits) {
        self.wire.set_limits(limits);
    }

    /// Runs one command and returns its reply. An error reply becomes
    /// `Err(RedisError::Server)`, after which the connection is still usable.
    pub fn command(&mut self, args: &[&[u8]]) -> Result<Reply, RedisError> {
        self.wire.send(args)?;
        match self.wire.receive()? {
            Reply::Error(message) => Err(RedisError::Server(message)),
            reply => Ok(reply),
        }
    }

    /// `PING`: is Redis there and in step with us?
    pub fn ping(&mut self) -> Result<(), RedisError> {
        let reply = self.command(&[b"PING"])?;
        expect_status("PING", reply, "PONG")
    }

    /// `GET key`: the value, or `None` when the key does not exist.
    pub fn get(&mut self, key: &str) -> Result<Option<Vec<u8>>, RedisError> {
        match self.command(&[b"GET", key.as_bytes()])? {
            Reply::Bulk(value) => Ok(Some(value)),
            Reply::Nil => Ok(None),
            other => Err(RedisError::unexpected("GET", &other)),
        }
    }

    /// `SET key value`.
    pub fn set(&mut self, key: &str, value: &[u8]) -> Result<(), RedisError> {
        let reply = self.command(&[b"SET", key.as_bytes(), value])?;
        expect_status("SET", reply, "OK")
    }

    /// `SET key value EX seconds`: set, and delete after `seconds`. One
    /// command, so there is no moment where the key exists without its
    /// expiry (which `SET` then `EXPIRE` would have, forever if the process
    /// dies between the two).
    pub fn set_ex(&mut self, key: &str, value: &[u8], seconds: u64) -> Result<(), RedisError> {
        let seconds = seconds.to_string();
        let reply = self.command(&[b"SET", key.as_bytes(), value, b"EX", seconds.as_bytes()])?;
        expect_status("SET", reply, "OK")
    }

    /// `DEL key...`: how many of the keys existed.
    pub fn del(&mut self, keys: &[&str]) -> Result<i64, RedisError> {
        let mut args: Vec<&[u8]> = vec![b"DEL"];
        args.extend(keys.iter().map(|key| key.as_bytes()));
        integer("DEL", self.command(&args)?)
    }

    /// `INCR key`: add one and return the new value. Atomic in Redis, so two
    /// processes incrementing the same key never get the same number.
    pub fn incr(&mut self, key: &str) -> Result<i64, RedisError> {
        integer("INCR", self.command(&[b"INCR", key.as_bytes()])?)
    }

    /// `RPUSH key value...`: append to a list; returns its new length.
    pub fn rpush(&mut self, key: &str, values: &[&[u8]]) -> Result<i64, RedisError> {
        let mut args: Vec<&[u8]> = vec![b"RPUSH", key.as_bytes()];
        args.extend_from_slice(values);
        integer("RPUSH", self.command(&args)?)
    }

    /// `LTRIM key start stop`: keep only that range. Indexes are inclusive
    /// and negative ones count from the end: `LTRIM key -100 -1` keeps the
    /// last 100.
    pub fn ltrim(&mut self, key: &str, start: i64, stop: i64) -> Result<(), RedisError> {
        let (start, stop) = (start.to_string(), stop.to_string());
        let reply = self.command(&[b"LTRIM", key.as_bytes(), start.as_bytes(), stop.as_bytes()])?;
        expect_status("LTRIM", reply, "OK")
    }

    /// `LRANGE key start stop`: the elements in that range (same indexes as
    /// `ltrim`; `0 -1` is the whole list). A missing key is an empty list.
    pub fn lrange(&mut self, key: &str, start: i64, stop: i64) -> Result<Vec<Vec<u8>>, RedisError> {
        let (start, stop) = (start.to_string(), stop.to_string());
        let reply =
            self.command(&[b"LRANGE", key.as_bytes(), start.as_bytes(), stop.as_bytes()])?;
        bulk_list("LRANGE", reply)
    }

    /// `HSET key field value`: 1 if the field is new, 0 if it was replaced.
    pub fn hset(&mut self, key: &str, field: &[u8], value: &[u8]) -> Result<i64, RedisError> {
        integer("HSET", self.command(&[b"HSET", key.as_bytes(), field, value])?)
    }

    /// `HDEL key field...`: how many of the fields existed.
    pub fn hdel(&mut self, key: &str, fields: &[&[u8]]) -> Result<i64, RedisError> {
        let mut args: Vec<&[u8]> = vec![b"HDEL", key.as_bytes()];
        args.extend_from_slice(fields);
        integer("HDEL", self.command(&args)?)
    }

    /// `HGETALL key`: every `(field, value)`. RESP2 has no map type, so the
    /// reply is one flat array, field, value, field, value... (RESP3 would
    /// send a `%` map); an odd count is a malformed reply.
    pub fn hgetall(&mut self, key: &str) -> Result<HashEntries, RedisError> {
        let flat = bulk_list("HGETALL", self.command(&[b"HGETALL", key.as_bytes()])?)?;
        if flat.len() % 2 != 0 {
            let got = format!("array of {} values (odd)", flat.len());
            return Err(RedisError::UnexpectedReply { command: "HGETALL", got });
        }
        let mut items = flat.into_iter();
        let mut pairs = Vec::with_capacity(items.len() / 2);
        while let (Some(field), Some(value)) = (items.next(), items.next()) {
            pairs.push((field, value));
        }
        Ok(pairs)
    }

    /// `EXPIRE key seconds`: true if the key exists and now has a timeout.
    /// A timeout of 0 deletes the key at once.
    pub fn expire(&mut self, key: &str, seconds: u64) -> Result<bool, RedisError> {
        let seconds = seconds.to_string();
        Ok(integer("EXPIRE", self.command(&[b"EXPIRE", key.as_bytes(), seconds.as_bytes()])?)? == 1)
    }

    /// `PUBLISH channel message`: how many subscribers received it, on this
    /// Redis, right now. Pub/sub is fire-and-forget: a subscriber that is
    /// disconnected at this moment never sees the message.
    pub fn publish(&mut self, channel: &str, message: &[u8]) -> Result<i64, RedisError> {
        integer("PUBLISH", self.command(&[b"PUBLISH", channel.as_bytes(), message])?)
    }

    /// `EVAL script numkeys key... arg...`: run a Lua script inside Redis,
    /// atomically: no other command runs until it returns. Keys the script
    /// touches go in `keys`, the rest in `args` (Redis Cluster routes by the
    /// keys, so a script must not build key names itself).
    pub fn eval(
        &mut self,
        script: &str,
        keys: &[&[u8]],
        args: &[&[u8]],
    ) -> Result<Reply, RedisError> {
        let key_count = keys.len().to_string();
        let mut command: Vec<&[u8]> = vec![b"EVAL", script.as_bytes(), key_count.as_bytes()];
        command.extend_from_slice(keys);
        command.extend_from_slice(args);
        self.command(&command)
    }

    /// `SUBSCRIBE channel...`, and waits for Redis to confirm each one.
    /// The connection becomes a [`Subscriber`] and can no longer run
    /// ordinary commands; see `src/redis/subscriber.rs`.
    pub fn subscribe(self, channels: &[&str]) -> Result<Subscriber, RedisError> {
        Subscriber::start(self.wire, b"SUBSCRIBE", channels)
    }

    /// `PSUBSCRIBE pattern...` (glob patterns such as `chat:*`), like
    /// [`RedisConnection::subscribe`].
    pub fn psubscribe(self, patterns: &[&str]) -> Result<Subscriber, RedisError> {
        Subscriber::start(self.wire, b"PSUBSCRIBE", patterns)
    }
}

/// Opens the TCP connection, with every timeout set before the first byte.
fn open_tcp(host_port: &str, timeouts: &Timeouts) -> Result<TcpStream, RedisError> {
    let failed = |error| RedisError::Connect { address: host_port.to_string(), error };
    let candidates: Vec<_> = host_port.to_socket_addrs().map_err(failed)?.collect();
    // `localhost` may resolve to ::1 and 127.0.0.1 while Redis listens on
    // only one of them, so each address gets its turn.
    let mut last_error = std::io::Error::new(std::io::ErrorKind::NotFound, "no address found");
    for candidate in candidates {
        match TcpStream::connect_timeout(&candidate, timeouts.connect) {
            Ok(stream) => {
                stream.set_read_timeout(Some(timeouts.read)).map_err(failed)?;
                stream.set_write_timeout(Some(timeouts.write)).map_err(failed)?;
                // Commands are small and each waits for its reply: send at
                // once rather than let Nagle's algorithm hold them back.
                stream.set_nodelay(true).map_err(failed)?;
                return Ok(stream);
            }
            Err(error) => last_error = error,
        }
    }
    Err(failed(last_error))
}

fn expect_status(command: &'static str, reply: Reply, expected: &str) -> Result<(), RedisError> {
    match reply {
        Reply::Simple(status) if status == expected => Ok(()),
        other => Err(RedisError::unexpected(command, &other)),
    }
}

fn integer(command: &'static str, reply: Reply) -> Result<i64, RedisError> {
    match reply {
        Reply::Integer(n) => Ok(n),
        other => Err(RedisError::unexpected(command, &other)),
    }
}

/// An array of bulk strings, as `LRANGE` and `HGETALL` return.
fn bulk_list(command: &'static str, reply: Reply) -> Result<Vec<Vec<u8>>, RedisError> {
    let Reply::Array(items) = reply else { return Err(RedisError::unexpected(command, &reply)) };
    items
        .into_iter()
        .map(|item| match item {
            Reply::Bulk(bytes) => Ok(bytes),
            other => Err(RedisError::unexpected(command, &other)),
        })
        .collect()
}
