//! # The wire: one socket to Redis, and whether it is still in step
//!
//! A command connection (`client.rs`) and a subscriber (`subscriber.rs`)
//! are two ways of using the same thing: a buffered socket, the limits
//! every reply is held to, and a flag that says whether an earlier error
//! has left half a reply unread, putting the stream out of step for good
//! (`error.rs`). That shared part lives here, below both, so neither of
//! them has to import the other's internals.
//!
//! Read next: `src/redis/client.rs`.

use std::io::{BufReader, Write};
use std::net::TcpStream;

use super::error::RedisError;
use super::limits::RespLimits;
use super::resp::{encode_command, read_reply, Reply};

/// The socket, and the bookkeeping a command connection and a subscriber
/// share: the limits replies are held to, and whether an earlier error has
/// put the stream out of step (see `src/redis/error.rs`).
#[derive(Debug)]
pub struct Wire {
    /// Buffered for reading; writes go straight to the socket underneath
    /// (`get_mut`), so one socket serves both directions.
    stream: BufReader<TcpStream>,
    limits: RespLimits,
    usable: bool,
}

impl Wire {
    pub fn new(stream: BufReader<TcpStream>, limits: RespLimits) -> Wire {
        Wire { stream, limits, usable: true }
    }

    /// What replies are held to from now on.
    pub fn set_limits(&mut self, limits: RespLimits) {
        self.limits = limits;
    }

    /// Sends one command, whole.
    pub fn send(&mut self, args: &[&[u8]]) -> Result<(), RedisError> {
        self.check_usable()?;
        let result = self.stream.get_mut().write_all(&encode_command(args));
        self.note(result.map_err(RedisError::from_io))
    }

    /// Reads one reply. An error *reply* is returned as `Ok(Reply::Error)`:
    /// what it means is the caller's business.
    pub fn receive(&mut self) -> Result<Reply, RedisError> {
        self.check_usable()?;
        let result = read_reply(&mut self.stream, &self.limits).map_err(RedisError::from);
        self.note(result)
    }

    /// The buffered stream, for a subscriber's wait for the next byte.
    pub fn stream(&mut self) -> &mut BufReader<TcpStream> {
        &mut self.stream
    }

    pub fn check_usable(&self) -> Result<(), RedisError> {
        if self.usable {
            Ok(())
        } else {
            Err(RedisError::Unusable)
        }
    }

    /// Passes `result` through, marking the wire unusable on an error that
    /// may have left part of a reply unread.
    pub fn note<T>(&mut self, result: Result<T, RedisError>) -> Result<T, RedisError> {
        if let Err(error) = &result {
            if !error.leaves_connection_usable() {
                self.usable = false;
            }
        }
        result
    }
}
