//! # The load generator's own side of the wire, kept out of the way
//!
//! A load generator measures the server only while it is faster than the
//! server. `pipeline` once read each echo with `Client::recv`, which is
//! right for an application (a fresh `Message` the caller may keep, its
//! UTF-8 checked) and wrong for a benchmark: per 16 KiB echo it allocated,
//! copied, validated and freed, and the WebSocket client spent a third
//! more CPU per message than the TCP client beside it, on a core that was
//! already the busier of the two (`docs/performance.md`).
//!
//! So both of `pipeline`'s clients, WebSocket and raw TCP, now do the same
//! least work on the same kind of buffer:
//! - [`EchoReader`] reads whatever has arrived into one buffer, zeroed
//!   once, and compares each echo in place with the message sent. For
//!   WebSocket it first reads the frame header with the library's
//!   [`FrameHeader`] and checks it is the frame expected. Equal bytes also
//!   prove a text echo is valid UTF-8: the message sent was.
//! - [`masked_frame`] appends a frame to the writer's batch in one pass:
//!   the header, then the payload XORed with a fresh masking key as it is
//!   copied, where the TCP writer only copies. Keys come from
//!   [`RandomSource`], which reads `/dev/urandom` 4 KiB at a time: one
//!   system call per 1,024 keys, not one per frame.
//!
//! Comparing is the one pass over every byte that no echo server makes.
//! At 1 MiB it alone can keep the load generator slower than the server
//! it measures, so `--compare-every N` compares one echo in `N` (the
//! others are still read, counted, and their headers checked): a way to
//! ask "how fast is the server?" rather than "how fast is the client?".
//!
//! Every key is fresh, as RFC 6455 §5.3 asks of every client: a load
//! generator that reused a few pre-masked frames would be cheaper still,
//! but would be measuring a client no browser is.
//!
//! Read next: `pipeline.rs`, which drives these two.

use std::io::{self, Read};
use std::net::TcpStream;

use duplex::client::RandomSource;
use duplex::websocket::{extend_masked, FrameHeader, Opcode, ReadError};

/// How much the reader asks the kernel for at a time: what the raw TCP
/// yardstick reads at a time, and what duplex grows to when busy.
const READ_BUFFER: usize = 256 * 1024;

/// Reads echoes and checks each is the message sent, without copying it
/// out of the read buffer.
pub struct EchoReader {
    stream: TcpStream,
    buffer: Vec<u8>,
    /// `start..end` of `buffer` has been read and not yet checked.
    start: usize,
    end: usize,
    expected: Vec<u8>,
    /// `Some(opcode)`: every echo is one unmasked WebSocket frame of this
    /// opcode; `None`: raw TCP, the bytes alone.
    framing: Option<Opcode>,
    /// The payload of one echo in this many is compared (`--compare-every`).
    compare_every: usize,
    echoes: usize,
    /// How many `read`s brought bytes: with `echoes`, how finely the
    /// server's echoes arrive.
    reads: usize,
}

impl EchoReader {
    pub fn new(
        stream: TcpStream,
        expected: Vec<u8>,
        framing: Option<Opcode>,
        compare_every: usize,
    ) -> EchoReader {
        let buffer = vec![0; READ_BUFFER];
        let (echoes, reads) = (0, 0);
        let (start, end) = (0, 0);
        EchoReader { stream, buffer, start, end, expected, framing, compare_every, echoes, reads }
    }

    /// How many `read`s have brought bytes so far.
    pub fn reads(&self) -> usize {
        self.reads
    }

    /// Reads one echo and checks it.
    pub fn next_echo(&mut self) -> Result<(), String> {
        if let Some(opcode) = self.framing {
            self.expect_header(opcode)?;
        }
        let compare = self.echoes.is_multiple_of(self.compare_every);
        self.echoes += 1;
        let mut checked = 0;
        while checked < self.expected.len() {
            if self.start == self.end {
                self.refill()?;
            }
            let length = (self.end - self.start).min(self.expected.len() - checked);
            let arrived = &self.buffer[self.start..self.start + length];
            if compare && arrived != &self.expected[checked..checked + length] {
                return Err("an echo differs from the message".to_string());
            }
            self.start += length;
            checked += length;
        }
        Ok(())
    }

    /// Ends the connection both ways: a writer blocked on it wakes up.
    pub fn shutdown(&self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }

    /// Reads a frame header and checks it announces the echo: final,
    /// unmasked (a server never masks, §5.1), the opcode and length sent.
    fn expect_header(&mut self, opcode: Opcode) -> Result<(), String> {
        let header = loop {
            let mut unread = &self.buffer[self.start..self.end];
            match FrameHeader::read_from(&mut unread) {
                Ok(header) => {
                    self.start = self.end - unread.len();
                    break header;
                }
                // Only part of the header has arrived.
                Err(ReadError::Io(error)) if error.kind() == io::ErrorKind::UnexpectedEof => {
                    self.refill()?
                }
                Err(error) => return Err(format!("echo frame: {error}")),
            }
        };
        let expected = FrameHeader::new(opcode, self.expected.len());
        if header != expected {
            let (opcode, length) = (header.opcode, header.payload_len);
            return Err(format!("expected the echo, got a {opcode:?} frame of {length} B"));
        }
        Ok(())
    }

    /// Reads more: appends to what is buffered, first moving a partial
    /// header to the front if the buffer's end has been reached.
    fn refill(&mut self) -> Result<(), String> {
        if self.start == self.end {
            (self.start, self.end) = (0, 0);
        } else if self.end == self.buffer.len() {
            self.buffer.copy_within(self.start..self.end, 0);
            (self.start, self.end) = (0, self.end - self.start);
        }
        match self.stream.read(&mut self.buffer[self.end..]) {
            Ok(0) => Err("the server closed the connection".to_string()),
            Ok(read) => {
                self.end += read;
                self.reads += 1;
                Ok(())
            }
            Err(error) if error.kind() == io::ErrorKind::Interrupted => Ok(()),
            Err(error) => Err(format!("read: {error}")),
        }
    }
}

/// Appends one client frame to `out`, masked with a fresh key from the
/// operating system's random source, as RFC 6455 §5.3 requires of
/// clients: the header, then the payload XORed with the key as it is
/// copied (the library's `extend_masked`, one pass).
pub fn masked_frame(out: &mut Vec<u8>, opcode: Opcode, payload: &[u8], random: &mut RandomSource) {
    let mut key = [0u8; 4];
    let _ = random.fill(&mut key); // /dev/urandom does not fail; a zero key is still valid
    let header = FrameHeader { mask: Some(key), ..FrameHeader::new(opcode, payload.len()) };
    let (head, head_length) = header.encode();
    out.extend_from_slice(&head[..head_length]);
    extend_masked(out, payload, key, 0);
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::net::TcpListener;
    use std::time::Duration;

    use duplex::websocket::{apply_mask, encode_frame};

    use super::*;

    #[test]
    fn a_frame_written_in_one_pass_reads_back_as_the_payload() {
        let mut random = RandomSource::open().unwrap();
        for length in [0, 5, 125, 126, 1000, 70_000] {
            let payload: Vec<u8> = (0..length).map(|i| (i * 7) as u8).collect();
            let mut out = b"before".to_vec();
            masked_frame(&mut out, Opcode::Binary, &payload, &mut random);
            let mut frame = &out[6..];
            let header = FrameHeader::read_from(&mut frame).unwrap();
            assert_eq!((header.opcode, header.payload_len), (Opcode::Binary, length as u64));
            let mut unmasked = frame.to_vec();
            apply_mask(&mut unmasked, header.mask.unwrap(), 0);
            assert_eq!(unmasked, payload);
        }
    }

    /// A reader on one end of a loopback connection, and the other end.
    fn pair(expected: &[u8], framing: Option<Opcode>) -> (EchoReader, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let server = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (client, _) = listener.accept().unwrap();
        client.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        (EchoReader::new(client, expected.to_vec(), framing, 1), server)
    }

    #[test]
    fn echoes_split_inside_a_header_are_checked_and_a_wrong_frame_is_caught() {
        let message = b"hello, echo".to_vec();
        let frame = encode_frame(Opcode::Text, &message, None);
        let (mut reader, mut server) = pair(&message, Some(Opcode::Text));
        // Two echoes, the first split inside its header.
        server.write_all(&frame[..1]).unwrap();
        let writer = std::thread::spawn(move || {
            let mut rest = frame[1..].to_vec();
            rest.extend_from_slice(&encode_frame(Opcode::Text, &message, None));
            rest.extend_from_slice(&encode_frame(Opcode::Binary, b"hello, echo", None));
            server.write_all(&rest).unwrap();
            server
        });
        assert_eq!(reader.next_echo(), Ok(()));
        assert_eq!(reader.next_echo(), Ok(()));
        let wrong_opcode = reader.next_echo().unwrap_err();
        assert!(wrong_opcode.contains("Binary"), "{wrong_opcode}");
        drop(writer.join().unwrap());
    }

    #[test]
    fn raw_echoes_longer_than_the_buffer_are_compared_piece_by_piece() {
        let message: Vec<u8> = (0..READ_BUFFER * 2 + 3).map(|i| (i % 251) as u8).collect();
        let (mut reader, mut server) = pair(&message, None);
        let copy = message.clone();
        let writer = std::thread::spawn(move || server.write_all(&copy).map(|()| server));
        assert_eq!(reader.next_echo(), Ok(()));
        drop(writer.join().unwrap());
    }

    #[test]
    fn comparing_one_echo_in_two_skips_the_other_payloads_but_not_their_headers() {
        let echo = |opcode, text: &[u8]| encode_frame(opcode, text, None);
        let (mut reader, mut server) = pair(b"hello", Some(Opcode::Text));
        reader.compare_every = 2;
        let (right, wrong) = (echo(Opcode::Text, b"hello"), echo(Opcode::Text, b"HELLO"));
        server.write_all(&[right, wrong.clone(), wrong].concat()).unwrap();
        assert_eq!(reader.next_echo(), Ok(()));
        assert_eq!(reader.next_echo(), Ok(()), "the second payload is not compared");
        assert!(reader.next_echo().is_err(), "the third is");

        let (mut reader, mut server) = pair(b"hello", Some(Opcode::Text));
        reader.compare_every = 2;
        let (right, binary) = (echo(Opcode::Text, b"hello"), echo(Opcode::Binary, b"hello"));
        server.write_all(&[right, binary].concat()).unwrap();
        assert_eq!(reader.next_echo(), Ok(()));
        assert!(reader.next_echo().is_err(), "every header is checked");
    }

    #[test]
    fn reads_that_brought_bytes_are_counted() {
        let (mut reader, mut server) = pair(b"hello, echo", None);
        assert_eq!(reader.reads(), 0);
        server.write_all(b"hello, echo").unwrap();
        assert_eq!(reader.next_echo(), Ok(()));
        assert!(reader.reads() >= 1, "an echo was read without a counted read");
        server.write_all(b"hello, echo").unwrap();
        let before = reader.reads();
        assert_eq!(reader.next_echo(), Ok(()));
        assert!(reader.reads() > before);
    }

    #[test]
    fn one_wrong_byte_is_caught() {
        let (mut reader, mut server) = pair(b"hello, echo", None);
        server.write_all(b"hello, ECHO").unwrap();
        assert_eq!(reader.next_echo(), Err("an echo differs from the message".to_string()));
    }
}
