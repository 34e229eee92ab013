//! # The client end of a connection
//!
//! The same [`WebSocket`] serves both ends; what differs for a client is
//! small, and lives here, compiled only with the `client` Cargo feature
//! (the server never needs it):
//!
//! - every frame it sends is masked, with a key nobody can predict
//!   (RFC 6455 §5.3; `Sender::queue_header` asks `mask_keys` for one);
//! - a single-threaded client must wait for "input or a timeout" without
//!   ever cutting a frame in half ([`WebSocket::poll_input`]);
//! - it may ping on its own, to measure a round trip.
//!
//! Read next: `src/client.rs`, the handshake from the other side.

use std::io::{self, BufRead, BufReader, Read, Write};

use super::{is_timeout, WebSocket};
use crate::websocket::frame::Opcode;
use crate::websocket::message::Role;

impl<R: Read, W: Write> WebSocket<R, W> {
    /// The client end; every frame is masked with a key from `mask_keys`,
    /// which must be unpredictable (see `src/client.rs`).
    pub fn client(
        reader: BufReader<R>,
        writer: W,
        max_message: usize,
        mask_keys: Box<dyn FnMut() -> [u8; 4] + Send>,
    ) -> WebSocket<R, W> {
        WebSocket::new(reader, writer, Role::Client, max_message, Some(mask_keys))
    }

    /// Waits, at most the transport's read timeout, for the peer's next
    /// byte, without consuming anything. `Ok(false)`: nothing came in time.
    /// `Ok(true)`: a byte (or the end of the stream) is ready, and `recv`
    /// will not wait for the *start* of a frame. Pending output is flushed
    /// first.
    ///
    /// This is how a single-threaded client waits for "input or a timeout"
    /// safely: a timeout here loses nothing, while a timeout in the middle
    /// of `recv` could strike inside a frame, after part of it has been
    /// consumed, and leave the reader out of step with the stream.
    pub fn poll_input(&mut self) -> io::Result<bool> {
        if self.reader.buffer().is_empty() {
            self.flush()?;
        }
        match self.reader.fill_buf() {
            Ok(_) => Ok(true),
            Err(error) if is_timeout(&error) => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// Sends a ping now (a client may want to measure round trips).
    pub fn ping(&mut self, payload: &[u8]) -> io::Result<()> {
        self.sender.send_frame(Opcode::Ping, payload)
    }
}
