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
//! Read next: `src/client.rs`, the other end of the connection.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

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
        // About to (perhaps) block on the socket: first wake the chat
        // writers this thread's broadcasts queued frames for, so none of
        // them waits while we do (`src/chat/wakeups.rs`).
        crate::chat::wakeups::wake_pending();
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

/// Closes a connection without losing the last bytes we wrote (RFC 9112
/// §9.6, "Tear-down": close the sending side first, keep reading until the
/// peer closes or a while has passed, then close fully).
///
/// If a socket is closed while unread data sits in its receive buffer,
/// the kernel answers with a TCP reset, and a reset can overtake our final
/// response or close frame on its way to the peer. So: stop writing (the
/// peer sees end-of-file), then read and discard whatever the peer still
/// sends, for a short, bounded while, and only then close.
pub fn close_gracefully(stream: &TcpStream) {
    let _ = stream.shutdown(Shutdown::Write);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let give_up = Instant::now() + Duration::from_secs(2);
    let mut sink = [0u8; 4096];
    let mut budget: usize = 256 * 1024;
    while budget > 0 && Instant::now() < give_up {
        match (&*stream).read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(n) => budget = budget.saturating_sub(n),
        }
    }
}
