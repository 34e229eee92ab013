//! # One TCP connection, shared by a reader and a writer
//!
//! A WebSocket is full duplex: one thread may block reading while another
//! writes. `TcpStream` allows that without cloning the socket, because
//! `&TcpStream` implements both `Read` and `Write`. [`SharedStream`] wraps an
//! `Arc<TcpStream>` so the reading half and the writing half can each own a
//! handle to the *same* socket. (`TcpStream::try_clone` would also work,
//! but it duplicates the file descriptor: two per connection instead of
//! one, and a server that holds 10,000 connections cares.)
//!
//! [`SocketReader`] adds the one thing the protocol layers cannot do for
//! themselves: a *deadline* for a whole request head. A read timeout alone
//! restarts with every byte, so a "slowloris" client that sends one byte
//! every few seconds would hold its thread forever. Before each read the
//! reader sets the socket's timeout to whatever is left until the deadline.
//!
//! And it ends every connection: [`close_gracefully`] (and, for a
//! WebSocket, `WebSocket::end` through [`Hangup`]) make sure our last words (a `413`, a close
//! frame) reach a peer that is still sending, instead of being destroyed
//! by a TCP reset.
//!
//! Read next: `src/client.rs`, the other end of the connection.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::websocket::Hangup;

/// A handle on a socket that several owners share.
#[derive(Debug, Clone)]
pub struct SharedStream(pub Arc<TcpStream>);

impl Read for SharedStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self.0).read(buf)
    }
}

impl Write for SharedStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self.0).write(buf)
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        (&*self.0).write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(()) // a TcpStream has no user-space buffer to flush
    }
}

/// The reading side of a connection, with an optional deadline.
#[derive(Debug)]
pub struct SocketReader {
    stream: SharedStream,
    deadline: Option<Instant>,
}

impl SocketReader {
    pub fn new(stream: SharedStream) -> SocketReader {
        SocketReader { stream, deadline: None }
    }

    /// Every read must finish before `deadline`.
    pub fn set_deadline(&mut self, deadline: Instant) {
        self.deadline = Some(deadline);
    }

    /// No deadline; each read waits at most `timeout` (`None`: forever).
    pub fn set_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.deadline = None;
        self.stream.0.set_read_timeout(timeout)
    }
}

impl Read for SocketReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(deadline) = self.deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "deadline passed"));
            }
            self.stream.0.set_read_timeout(Some(left))?;
        }
        self.stream.read(buf)
    }
}

/// Every connection ends here, so the rule lives in one place: **our last
/// words must reach the peer.** (RFC 9112 §9.6, "Tear-down"; RFC 6455
/// §7.1.1 and §7.1.7.)
///
/// The trap: if a socket is closed while unread bytes sit in its receive
/// buffer, the kernel does not send the polite end-of-stream (FIN), it
/// sends a reset (RST), and the peer's kernel throws away whatever it had
/// not yet handed to the application. A client still uploading when we
/// refuse it (an HTTP body over the limit: `413`; a message over the limit:
/// close 1009) is exactly such a peer: its next write fails with `EPIPE`
/// or `ECONNRESET`, and our answer, already in its receive buffer, is lost.
/// Its library reports "connection reset" or 1006 instead of the reason.
///
/// So a connection ends in three steps:
/// 1. stop writing: `shutdown(Write)` sends the FIN after our last bytes,
///    which also tells the peer we have nothing more to say;
/// 2. read and discard what the peer still sends (nothing is kept), until
///    it is done: its end of stream, or for a WebSocket its close frame
///    (`WebSocket::end`), or until `linger`
///    (`Limits::close_linger`) has passed since the first step. A time
///    bound rather than a byte budget: a 16 MiB message in flight takes
///    milliseconds to finish arriving, and a peer that never stops sending
///    holds the thread no longer than `linger`;
/// 3. close. If the time ran out, unread bytes may remain and the peer gets
///    its reset: it had `linger` to stop.
pub fn close_gracefully(stream: &SharedStream, linger: Duration) {
    let mut reader = SocketReader::new(stream.clone());
    reader.stop_writing(linger);
    let mut chunk = vec![0u8; DISCARD_CHUNK];
    // Ends at the peer's end of stream, at the deadline, or on a reset.
    while matches!(reader.read(&mut chunk), Ok(1..)) {}
}

/// Steps 1 and 2 of [`close_gracefully`], for any reader of the socket:
/// sends our end of stream, and gives whatever is still read `linger` in
/// all. A WebSocket ends through the same steps, frame by frame
/// (`WebSocket::end`, which stops at the peer's close frame).
impl Hangup for SocketReader {
    fn stop_writing(&mut self, linger: Duration) {
        let _ = self.stream.0.shutdown(Shutdown::Write);
        self.set_deadline(Instant::now() + linger);
    }
}

/// How much is read at a time while discarding.
const DISCARD_CHUNK: usize = 64 * 1024;
