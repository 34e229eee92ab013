//! # Many connections on one thread: nonblocking sockets, the same codec
//!
//! [`duplex::client::Client`] is blocking: one connection, one thread
//! waiting in `read`. That is the right client for `rtt`, `pipeline` and
//! `fanout`, where every connection is busy. It is the wrong one for
//! holding 10,000 chat members: the server already spends 20,000 threads
//! on them (a reader and a writer each), and this machine runs about
//! 30,000 in all. (A `Client` also keeps `/dev/urandom` open for its
//! masking keys: two file descriptors per connection, and a process may
//! have 20,000.)
//!
//! So `hold` keeps its connections on a few threads. Each socket is put in
//! *nonblocking* mode: a `read` with nothing to read returns `WouldBlock`
//! at once instead of sleeping. A thread sweeps its sockets, reads
//! whatever has arrived, and cuts it into frames with duplex's own
//! [`MessageReader`], which reads from any `Read`, a byte slice included.
//! A frame cut in half by a read simply waits in `pending` for the rest:
//! the reader reports the half as "unexpected end", and the sweep tries
//! again when more bytes are there. Pings are answered with pongs, so the
//! server's keepalive sees a live member.
//!
//! The handshake is written out here rather than taken from `Client`,
//! because bytes the server sends right behind its `101` response must not
//! be lost in a buffer this code cannot reach.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use base64::Engine;
use duplex::client::RandomSource;
#[cfg(feature = "deflate")]
use duplex::websocket::extension::DeflateAgreement;
use duplex::websocket::handshake::accept_key;
use duplex::websocket::{Incoming, Message, MessageReader, Opcode, ReadError, Role};

use crate::wire::masked_frame;

/// Longest `101` response head accepted.
const MAX_HEAD: usize = 16 * 1024;

/// Largest message accepted from the server (a chat `welcome` with a long
/// member list is the biggest thing `hold` receives).
const MAX_MESSAGE: usize = 16 * 1024 * 1024;

/// One WebSocket connection on a nonblocking socket.
pub struct MuxClient {
    stream: TcpStream,
    /// Bytes read but not yet a whole frame.
    pending: Vec<u8>,
    reader: MessageReader,
}

/// With permessage-deflate agreed, compressed messages are inflated on the
/// way in, as a browser does.
#[cfg(feature = "deflate")]
fn inflating(mut reader: MessageReader, extension: Option<&str>) -> MessageReader {
    if extension.is_some_and(|offer| offer.starts_with("permessage-deflate")) {
        let agreed = DeflateAgreement { server_max_window_bits: 15, window_bits_requested: false };
        reader.set_codec(Some(agreed.codec()));
    }
    reader
}

impl MuxClient {
    /// Connects to `addr`, upgrades `resource` (blocking, at most
    /// `timeout`), then switches the socket to nonblocking. With
    /// `extension`, the handshake offers it in `Sec-WebSocket-Extensions`,
    /// and the server must accept it.
    pub fn connect(
        addr: SocketAddr,
        resource: &str,
        extension: Option<&str>,
        random: &mut RandomSource,
        timeout: Duration,
    ) -> Result<MuxClient, String> {
        let stream = TcpStream::connect_timeout(&addr, timeout).map_err(|e| e.to_string())?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        stream.set_read_timeout(Some(timeout)).map_err(|e| e.to_string())?;
        let mut key_bytes = [0u8; 16];
        random.fill(&mut key_bytes).map_err(|e| e.to_string())?;
        let key = base64::engine::general_purpose::STANDARD.encode(key_bytes);
        let offer = match extension {
            Some(extension) => format!("Sec-WebSocket-Extensions: {extension}\r\n"),
            None => String::new(),
        };
        let request = format!(
            "GET {resource} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{offer}\r\n"
        );
        (&stream).write_all(request.as_bytes()).map_err(|e| e.to_string())?;

        // Read until the blank line that ends the head; whatever came
        // after it is the first frames, and is kept.
        let mut received = Vec::new();
        let mut chunk = [0u8; 4096];
        let head_end = loop {
            if let Some(at) = received.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            if received.len() > MAX_HEAD {
                return Err("response head too long".to_string());
            }
            match (&stream).read(&mut chunk) {
                Ok(0) => return Err("closed during the handshake".to_string()),
                Ok(n) => received.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("handshake: {e}")),
            }
        };
        let head = String::from_utf8_lossy(&received[..head_end]).to_ascii_lowercase();
        let status = head.lines().next().unwrap_or_default().to_string();
        if !status.starts_with("http/1.1 101") {
            return Err(format!("upgrade refused: {}", status.trim()));
        }
        let accept = format!("sec-websocket-accept: {}", accept_key(&key).to_ascii_lowercase());
        if !head.lines().any(|line| line.trim() == accept) {
            return Err("Sec-WebSocket-Accept does not match our key".to_string());
        }
        if let Some(extension) = extension {
            let name = extension.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
            let accepted = head.lines().any(|line| {
                line.starts_with("sec-websocket-extensions:") && line.contains(name.as_str())
            });
            if !accepted {
                return Err(format!("the server did not accept {name}"));
            }
        }
        stream.set_nonblocking(true).map_err(|e| e.to_string())?;
        let reader = MessageReader::new(Role::Client, MAX_MESSAGE);
        #[cfg(feature = "deflate")]
        let reader = inflating(reader, extension);
        Ok(MuxClient { stream, pending: received[head_end..].to_vec(), reader })
    }

    /// Reads everything that has arrived, hands each whole message to
    /// `on_message`, and answers pings. Returns the bytes read; an error
    /// means the connection is over.
    pub fn poll(
        &mut self,
        scratch: &mut [u8],
        random: &mut RandomSource,
        mut on_message: impl FnMut(&Message),
    ) -> io::Result<usize> {
        let mut total = 0;
        loop {
            match (&self.stream).read(scratch) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => {
                    self.pending.extend_from_slice(&scratch[..n]);
                    total += n;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let mut consumed = 0;
        loop {
            let mut rest = &self.pending[consumed..];
            if rest.is_empty() {
                break;
            }
            // The server never fragments, so a frame that does not parse
            // yet is a frame whose end has not arrived.
            let item = match self.reader.read(&mut rest) {
                Ok(item) => item,
                Err(ReadError::Io(e)) if e.kind() == io::ErrorKind::UnexpectedEof => break,
                Err(ReadError::Io(e)) => return Err(e),
                Err(ReadError::Protocol(e)) => return Err(io::Error::other(e.to_string())),
            };
            consumed = self.pending.len() - rest.len();
            match item {
                Incoming::Message(message) => on_message(&message),
                Incoming::Ping(payload) => self.send(Opcode::Pong, &payload, random)?,
                Incoming::Pong(_) => {}
                Incoming::Close(_) => return Err(io::ErrorKind::ConnectionAborted.into()),
            }
        }
        self.pending.drain(..consumed);
        Ok(total)
    }

    /// Sends one small frame. On a nonblocking socket a write can fail with
    /// `WouldBlock` when the send buffer is full; for the few short frames
    /// `hold` sends (a pong, one chat line) into an idle socket, it is not.
    pub fn send(
        &self,
        opcode: Opcode,
        payload: &[u8],
        random: &mut RandomSource,
    ) -> io::Result<()> {
        let mut frame = Vec::with_capacity(payload.len() + 14);
        masked_frame(&mut frame, opcode, payload, random);
        (&self.stream).write_all(&frame)
    }
}
