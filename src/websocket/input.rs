//! # Reading in bulk: a buffer that grows when busy, shrinks when idle
//!
//! Every `read` is a system call, and on a small machine a system call
//! costs about as much as copying several kilobytes. A connection that
//! reads 4 KiB at a time pays two or three of them for every 16 KiB
//! message; one that reads 256 KiB at a time pays one for sixteen such
//! messages, like a plain TCP echo does. But a buffer is memory, and safe
//! Rust must zero a buffer before it reads into it, which makes every byte
//! of it resident: 256 KiB for each of 10,000 idle connections would be
//! 2.5 GB for nothing.
//!
//! So [`InputBuffer`] changes size with the traffic:
//! - it starts small (4 KiB), enough for the handshake's leftovers and the
//!   frames of a chat;
//! - when a read fills it to the brim, more is probably waiting in the
//!   kernel, so the next refill uses a large buffer (256 KiB);
//! - when the connection goes quiet (a read times out, see
//!   `connection.rs`), [`shrink`](InputBuffer::shrink) gives the large
//!   buffer back.
//!
//! A `read` (rather than `fill_buf`) asking for 4 KiB or more, with
//! nothing buffered, goes straight into the caller's memory: the payload
//! of a large message is read into the message itself, never copied, and
//! the buffer stays small while such messages flow.
//!
//! It is `std::io::BufReader` with one more idea, and like everything in
//! `src/websocket/` it works on any `Read`, not only sockets.
//!
//! Read next: `src/websocket/connection.rs`, which reads through this.

use std::io::{self, BufRead, BufReader, Read};

/// The size an input buffer starts at, and shrinks back to.
pub const SMALL_INPUT: usize = 4 * 1024;

/// The size it grows to while a stream is busy: what the raw TCP
/// yardstick of `duplex-bench` reads at a time (docs/performance.md).
pub const LARGE_INPUT: usize = 256 * 1024;

/// A buffered reader whose buffer grows when the stream is busy.
#[derive(Debug)]
pub struct InputBuffer<R> {
    inner: R,
    /// Initialised memory; `start..end` is what has been read and not yet
    /// consumed. Empty (no allocation) until the first read.
    buffer: Vec<u8>,
    start: usize,
    end: usize,
    /// The last refill filled the whole buffer.
    was_full: bool,
}

impl<R: Read> InputBuffer<R> {
    pub fn new(inner: R) -> InputBuffer<R> {
        InputBuffer { inner, buffer: Vec::new(), start: 0, end: 0, was_full: false }
    }

    /// Takes over a `BufReader`, keeping the bytes it had already read
    /// (a client's first frames may arrive right behind its handshake).
    pub fn from_buf_reader(reader: BufReader<R>) -> InputBuffer<R> {
        let mut buffer = reader.buffer().to_vec();
        let end = buffer.len();
        if end > 0 {
            buffer.resize(end.max(SMALL_INPUT), 0);
        }
        InputBuffer { inner: reader.into_inner(), buffer, start: 0, end, was_full: false }
    }

    /// The bytes read but not yet consumed.
    pub fn buffer(&self) -> &[u8] {
        &self.buffer[self.start..self.end]
    }

    /// Gives back a large buffer, if nothing is waiting in it.
    pub fn shrink(&mut self) {
        if self.start == self.end && self.buffer.len() > SMALL_INPUT {
            self.buffer = Vec::new();
            (self.start, self.end) = (0, 0);
            self.was_full = false;
        }
    }

    /// The reader underneath (e.g. a socket, to set a deadline on it).
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    pub fn into_inner(self) -> R {
        self.inner
    }

    /// How many bytes the buffer can hold right now (for tests and docs).
    pub fn capacity(&self) -> usize {
        self.buffer.len()
    }

    /// The size the next refill should use.
    fn next_size(&self) -> usize {
        if self.was_full || self.buffer.len() > SMALL_INPUT {
            LARGE_INPUT
        } else {
            SMALL_INPUT
        }
    }
}

impl<R: Read> Read for InputBuffer<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        // Nothing buffered and a request of a small buffer's worth or more:
        // read straight into it. The stream is carrying large payloads, so
        // the next refill (a header) is small too: a large one would read
        // ahead a quarter of a megabyte of the next payload, only for it
        // to be copied out again.
        if self.start == self.end && out.len() >= SMALL_INPUT {
            self.was_full = false;
            self.shrink();
            return self.inner.read(out);
        }
        let available = self.fill_buf()?;
        let count = available.len().min(out.len());
        out[..count].copy_from_slice(&available[..count]);
        self.consume(count);
        Ok(count)
    }
}

impl<R: Read> BufRead for InputBuffer<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.start == self.end {
            let size = self.next_size();
            if self.buffer.len() != size {
                // Zeroed once per change of size, never per read.
                self.buffer = vec![0; size];
            }
            let count = self.inner.read(&mut self.buffer)?;
            self.was_full = count == self.buffer.len();
            self.start = 0;
            self.end = count;
        }
        Ok(&self.buffer[self.start..self.end])
    }

    fn consume(&mut self, amount: usize) {
        self.start = (self.start + amount).min(self.end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hands out at most `step` bytes per read, like a socket would.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let count = self.data.len().min(out.len()).min(self.step);
            out[..count].copy_from_slice(&self.data[..count]);
            self.data = &self.data[count..];
            Ok(count)
        }
    }

    #[test]
    fn grows_when_a_read_fills_it_and_shrinks_when_asked() {
        let data: Vec<u8> = (0..600_000u32).map(|i| i as u8).collect();
        let mut input = InputBuffer::new(Trickle { data: &data, step: usize::MAX });
        let mut out = vec![0; 100];
        input.read_exact(&mut out).unwrap();
        assert_eq!(input.capacity(), SMALL_INPUT);
        input.consume(SMALL_INPUT); // the rest of the first, full, read
        input.read_exact(&mut out).unwrap();
        assert_eq!(input.capacity(), LARGE_INPUT);
        assert_eq!(out[..2], [SMALL_INPUT as u8, (SMALL_INPUT + 1) as u8]);
        input.consume(LARGE_INPUT);
        assert!(input.buffer().is_empty());
        // A large read with nothing buffered goes around the buffer, and
        // the buffer goes back to small.
        let mut large = vec![0; 10_000];
        let count = input.read(&mut large).unwrap();
        assert_eq!(large[0], (SMALL_INPUT + LARGE_INPUT) as u8);
        assert_eq!((count, input.capacity()), (10_000, 0));
        assert!(input.buffer().is_empty()); // not a slice past the end
        assert_eq!(input.fill_buf().unwrap().len(), SMALL_INPUT);
        input.consume(SMALL_INPUT);
        input.shrink();
        assert_eq!(input.capacity(), SMALL_INPUT); // only a large buffer is given back
    }

    #[test]
    fn bytes_come_out_in_order_whatever_the_reads() {
        let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7) as u8).collect();
        for step in [1, 1000, 4096, 70_000, usize::MAX] {
            let mut input = InputBuffer::new(Trickle { data: &data, step });
            let mut out = Vec::new();
            for size in [3, 5000, 300_000].iter().cycle() {
                let mut piece = vec![0; *size];
                let count = input.read(&mut piece).unwrap();
                if count == 0 {
                    break;
                }
                out.extend_from_slice(&piece[..count]);
            }
            assert_eq!(out, data, "step {step}");
        }
    }

    #[test]
    fn keeps_what_a_buf_reader_had_read() {
        let mut reader = BufReader::new(&b"head\r\n\r\nframe bytes"[..]);
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let mut input = InputBuffer::from_buf_reader(reader);
        let mut rest = String::new();
        input.read_to_string(&mut rest).unwrap();
        assert_eq!(rest, "\r\nframe bytes");
    }
}
