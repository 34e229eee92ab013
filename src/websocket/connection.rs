//! # A connection: the codec plus the rules of conversation
//!
//! `frame.rs` and `message.rs` say what bytes mean. This chapter adds what
//! an endpoint must *do* about them:
//!
//! - answer every ping with a pong carrying the same payload (§5.5.2–3),
//!   until our own close frame has gone out: nothing follows it (§5.5.1);
//! - run the closing handshake: when the peer sends Close, send Close back
//!   (echoing its code) and stop (§5.5.1, §7.1.2);
//! - fail the connection on a protocol error: send Close with the right
//!   code, then stop (§7.1.7);
//! - keep the connection alive: after a quiet spell, ping; after a longer
//!   one, give up.
//!
//! [`WebSocket`] owns a buffered reader and a write buffer over any
//! `Read`/`Write` pair. It still knows nothing of sockets: a read timeout is
//! just an `io::Error` of kind `WouldBlock` or `TimedOut`, which the server
//! layer arranges by setting the socket's timeout to the ping interval.
//!
//! Writes are gathered in a buffer and flushed when the reader has nothing
//! left to process: an echo of ten small pipelined messages costs one
//! `write` system call, not ten.
//!
//! Read next: `src/websocket/trace.rs`, then `src/echo.rs`, the smallest
//! program built on all this.

use std::io::{self, BufRead, BufReader, IoSlice, Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::close::{CloseCode, CloseFrame, ProtocolError};
use super::extension::MessageCodec;
use super::frame::{extend_masked, FrameHeader, Opcode, ReadError};
use super::input::InputBuffer;
use super::message::{Discarded, Incoming, Message, MessageReader, Role};
use super::trace::{Direction, Tracer};
// A read timeout means the same here as for HTTP: `WouldBlock` or `TimedOut`.
pub use crate::http::error::is_timeout;

// The client's side of a connection (`src/client.rs` builds on it): only
// with the `client` layer.
#[cfg(feature = "client")]
mod client_end;

/// How the conversation ended. Every way out of [`WebSocket::recv`] is one
/// of these, so the server can log one clear line per connection.
#[derive(Debug)]
pub enum Closed {
    /// The peer sent Close and we answered: a clean close. `None` is a
    /// close frame with no code (1005).
    ByPeer(Option<CloseFrame>),
    /// We sent Close first (see [`WebSocket::close`]), and the peer answered.
    ByUs(CloseCode),
    /// The peer broke the protocol or a limit; we sent Close with this code.
    Failed(ProtocolError),
    /// The peer was silent past the idle timeout; we sent Close 1001.
    IdleTimeout,
    /// The transport failed or ended without a close frame (what a browser
    /// reports as 1006).
    Dropped(io::Error),
}

impl std::fmt::Display for Closed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Closed::ByPeer(Some(frame)) => {
                write!(f, "peer closed with {} {:?}", frame.code, frame.reason)
            }
            Closed::ByPeer(None) => f.write_str("peer closed with no code (1005)"),
            Closed::ByUs(code) => write!(f, "we closed with {code}"),
            Closed::Failed(error) => write!(f, "failed: {error}"),
            Closed::IdleTimeout => f.write_str("idle timeout (1001)"),
            Closed::Dropped(error) if error.kind() == io::ErrorKind::UnexpectedEof => {
                f.write_str("dropped without a close frame (1006)")
            }
            Closed::Dropped(error) => write!(f, "dropped (1006): {error}"),
        }
    }
}

/// What a transport offers so that a conversation can end politely (see
/// [`WebSocket::end`]): stop sending, so that the peer reads the end of
/// the stream right after our last frame, and bound how long reading may
/// still take, in all. (The server's socket reader implements it with
/// `shutdown(Write)` and a deadline: `src/server/stream.rs`.)
pub trait Hangup {
    fn stop_writing(&mut self, linger: Duration);
}

/// When to ping, and when to give up on a silent peer.
#[derive(Debug, Clone, Copy)]
pub struct Keepalive {
    pub ping_interval: Duration,
    pub idle_timeout: Duration,
}

/// Payloads at least this large are not copied into the write buffer:
/// what is queued, the new header and the payload leave together in one
/// gathered write (`writev`). Copying costs more than it looks: measured
/// on the 2-core test machine, the copy of a 16 KiB payload was a quarter
/// of the server's time per echo (docs/performance.md). Smaller payloads
/// are cheaper to copy than to gather.
const GATHER_WRITE: usize = 2 * 1024;

/// A write buffer a burst of frames left larger than this is given back.
const KEEP_BUFFER: usize = 64 * 1024;

/// Payloads handed over by [`WebSocket::queue_message`] wait, uncopied,
/// until this many bytes of them are queued (or the next flush); then they
/// leave in one gathered write. The same size as the largest read.
const GATHER_BYTES: usize = 256 * 1024;

/// ... or until this many are queued: each costs two `IoSlice`s, and the
/// kernel takes at most 1,024 per `writev`.
const GATHER_COUNT: usize = 64;

/// One WebSocket connection over a reader and a writer.
pub struct WebSocket<R, W> {
    reader: InputBuffer<R>,
    incoming: MessageReader,
    sender: Sender<W>,
    keepalive: Option<Keepalive>,
    /// When the peer's last byte arrived.
    last_heard: Instant,
    /// When the frame being read, with the rest of its message, must be
    /// in (see [`Watched`]).
    message_deadline: Option<Instant>,
}

/// The sending half: everything needed to put a frame on the wire. It is
/// apart from the reading half so that a ping can go out while a frame is
/// half read (see [`Watched`]).
struct Sender<W> {
    writer: W,
    /// Frames waiting to be written. Starts empty: an idle connection
    /// holds no write buffer at all.
    outgoing: Vec<u8>,
    /// Large payloads waiting to be written, each with the length of
    /// `outgoing` when it was queued: it goes out right after those bytes.
    payloads: Vec<(usize, Vec<u8>)>,
    payload_bytes: usize,
    /// Where the client end gets a masking key for each frame. `None` on
    /// the server end: a server never masks (§5.1).
    mask_keys: Option<Box<dyn FnMut() -> [u8; 4] + Send>>,
    /// We have sent Close (with this code); nothing may follow it.
    close_sent: Option<CloseCode>,
    /// A write failed (see [`Sender::break_down`]); nothing more is written.
    broken: Option<io::ErrorKind>,
    /// Set only with `--trace`; see `trace.rs`.
    tracer: Option<Arc<Tracer>>,
    /// The negotiated per-message extension, if any (`extension.rs`).
    codec: Option<Arc<dyn MessageCodec>>,
}

impl<R: Read, W: Write> WebSocket<R, W> {
    /// The server end. `reader` is the buffered reader the HTTP request was
    /// read through: bytes the client sent right behind its handshake are
    /// already in its buffer and must not be lost.
    pub fn server(reader: BufReader<R>, writer: W, max_message: usize) -> WebSocket<R, W> {
        WebSocket::new(reader, writer, Role::Server, max_message, None)
    }

    /// Either end; `mask_keys` is for the client end only (`client_end.rs`).
    fn new(
        reader: BufReader<R>,
        writer: W,
        role: Role,
        max_message: usize,
        mask_keys: Option<Box<dyn FnMut() -> [u8; 4] + Send>>,
    ) -> WebSocket<R, W> {
        WebSocket {
            reader: InputBuffer::from_buf_reader(reader),
            incoming: MessageReader::new(role, max_message),
            sender: Sender {
                writer,
                outgoing: Vec::new(),
                payloads: Vec::new(),
                payload_bytes: 0,
                mask_keys,
                close_sent: None,
                broken: None,
                tracer: None,
                codec: None,
            },
            keepalive: None,
            last_heard: Instant::now(),
            message_deadline: None,
        }
    }

    /// Prints every frame, both ways, through `tracer` (`--trace`), if
    /// there is one.
    pub fn set_tracer(&mut self, tracer: Option<Arc<Tracer>>) {
        self.incoming.set_tracer(tracer.clone());
        self.sender.tracer = tracer;
    }

    /// Uses the per-message extension agreed in the handshake (permessage-
    /// deflate), if any: received messages with RSV1 are decoded by `codec`,
    /// and sent messages are encoded by it when it finds that worthwhile.
    pub fn set_message_codec(&mut self, codec: Option<Arc<dyn MessageCodec>>) {
        self.incoming.set_codec(codec.clone());
        self.sender.codec = codec;
    }

    /// Turns on pings after `ping_interval` of silence and a close after
    /// `idle_timeout`. The transport's read timeout must be set to
    /// `ping_interval` (or less) for the pings to happen on time.
    pub fn set_keepalive(&mut self, keepalive: Keepalive) {
        self.keepalive = Some(keepalive);
    }

    /// Waits for the next message, answering control frames on the way.
    ///
    /// Returns `Err(Closed)` once the conversation is over; the caller
    /// then drops the connection. Pending output is flushed before every
    /// wait for input.
    pub fn recv(&mut self) -> Result<Message, Closed> {
        loop {
            self.wait_for_input()?;
            // Once a frame has begun, the rest of it (and of its message)
            // must follow within the idle timeout; see `Watched`. The
            // clock starts with a message's first frame and keeps running
            // across the control frames between its fragments: `read`
            // returns after each of them, and restarting the clock there
            // would let a peer that answers our pings hold a message open
            // for ever. It is checked here as well as in `Watched`, which
            // looks only before it waits for bytes: a pong that
            // `wait_for_input` has already buffered is read without a wait.
            if !self.incoming.in_message() {
                self.message_deadline = self.keepalive.map(|k| Instant::now() + k.idle_timeout);
            } else if self.message_deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                return Err(self.fail(message_too_slow()));
            }
            let mut watched = Watched {
                inner: &mut self.reader,
                sender: &mut self.sender,
                keepalive: self.keepalive,
                last_heard: &mut self.last_heard,
                deadline: self.message_deadline,
                stopped: None,
            };
            let item = self.incoming.read(&mut watched);
            let stopped = watched.stopped;
            match item {
                Ok(Incoming::Message(message)) if self.sender.close_sent.is_none() => {
                    return Ok(message)
                }
                // After our Close, data is read and dropped (§1.4).
                Ok(Incoming::Message(_)) | Ok(Incoming::Pong(_)) => {}
                // Nor is a ping answered: nothing follows our Close (§5.5.1).
                Ok(Incoming::Ping(_)) if self.sender.close_sent.is_some() => {}
                Ok(Incoming::Ping(payload)) => {
                    self.sender.queue_frame(Opcode::Pong, &payload).map_err(Closed::Dropped)?
                }
                Ok(Incoming::Close(frame)) => return Err(self.answer_close(frame)),
                Err(ReadError::Protocol(error)) => return Err(self.fail(error)),
                Err(ReadError::Io(_)) if stopped == Some(Stopped::TooSlow) => {
                    return Err(self.fail(message_too_slow()))
                }
                Err(ReadError::Io(_)) if stopped == Some(Stopped::Silent) => {
                    let _ = self.sender.send_close(CloseCode::GoingAway, "idle timeout");
                    return Err(Closed::IdleTimeout);
                }
                Err(ReadError::Io(error)) => return Err(Closed::Dropped(error)),
            }
        }
    }

    /// Fails the connection (§7.1.7): our close frame, with the error's code.
    fn fail(&mut self, error: ProtocolError) -> Closed {
        // Best effort: the peer may already be gone.
        let _ = self.sender.send_close(error.code, error.reason);
        Closed::Failed(error)
    }

    /// Blocks until a byte is ready to read, flushing output first. On a
    /// read timeout, pings or gives up. Waiting with `fill_buf` consumes
    /// nothing, so a timeout here never leaves half a frame behind.
    fn wait_for_input(&mut self) -> Result<(), Closed> {
        if self.reader.buffer().is_empty() {
            self.flush().map_err(Closed::Dropped)?;
        }
        loop {
            match self.reader.fill_buf() {
                Ok([]) => return Err(Closed::Dropped(io::ErrorKind::UnexpectedEof.into())),
                Ok(_) => {
                    self.last_heard = Instant::now();
                    return Ok(());
                }
                Err(error) if is_timeout(&error) => self.on_quiet(error)?,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(Closed::Dropped(error)),
            }
        }
    }

    /// The peer has been quiet for a read timeout.
    fn on_quiet(&mut self, error: io::Error) -> Result<(), Closed> {
        let Some(keepalive) = self.keepalive else {
            return Err(Closed::Dropped(error));
        };
        // Quiet: give back the large input buffer, if the stream was busy.
        self.reader.shrink();
        let silent_for = self.last_heard.elapsed();
        if silent_for >= keepalive.idle_timeout || self.sender.close_sent.is_some() {
            let _ = self.sender.send_close(CloseCode::GoingAway, "idle timeout");
            return Err(Closed::IdleTimeout);
        }
        self.sender.send_keepalive_ping().map_err(Closed::Dropped)
    }

    /// The peer sent Close. If we started the handshake this is its answer;
    /// otherwise we answer with the same code (§5.5.1), and the connection
    /// is over either way.
    fn answer_close(&mut self, frame: Option<CloseFrame>) -> Closed {
        if let Some(code) = self.sender.close_sent {
            return Closed::ByUs(code);
        }
        let payload = match &frame {
            Some(frame) => CloseFrame::encode(frame.code, ""),
            None => Vec::new(), // no code received, none echoed
        };
        let _ = self.sender.send_frame(Opcode::Close, &payload);
        Closed::ByPeer(frame)
    }

    /// Starts the closing handshake; keep calling [`recv`](Self::recv)
    /// until it returns `Err(Closed::ByUs(_))` (the peer answered) or
    /// another ending.
    pub fn close(&mut self, code: CloseCode, reason: &str) -> io::Result<()> {
        self.sender.send_close(code, reason)
    }

    /// Once [`recv`](Self::recv) has returned its `Closed`: reads and drops
    /// whatever the peer still sends, until its close frame or the end of
    /// the stream, so that our close frame reaches a peer that is still
    /// writing (see [`MessageReader::discard_until_close`]). The caller
    /// bounds the time, through the transport's timeout.
    pub fn discard_until_close(&mut self) -> io::Result<Discarded> {
        self.flush()?;
        self.incoming.discard_until_close(&mut self.reader)
    }

    /// Sends a message now.
    pub fn send(&mut self, message: &Message) -> io::Result<()> {
        self.queue(message)?;
        self.flush()
    }

    /// Queues a message; it is written at the next [`flush`](Self::flush),
    /// which [`recv`](Self::recv) does before it waits for input.
    pub fn queue(&mut self, message: &Message) -> io::Result<()> {
        let sender = &mut self.sender;
        let encoded = sender.codec.as_ref().and_then(|codec| codec.encode(message.as_bytes()));
        match encoded {
            Some(encoded) => {
                let queued = sender.queue_frame_with_rsv1(message.opcode(), &encoded, true);
                if let (Some(tracer), Some(codec)) = (&sender.tracer, &sender.codec) {
                    let (name, opcode) = (codec.name(), message.opcode());
                    tracer.inflated(Direction::Sent, name, opcode, message.as_bytes());
                }
                queued
            }
            None => sender.queue_frame(message.opcode(), message.as_bytes()),
        }
    }

    /// Queues a message it may keep: a large payload is not copied but
    /// kept until the next flush, so that the echoes of many pipelined
    /// messages leave in one gathered write (`writev`) instead of one
    /// system call each.
    pub fn queue_message(&mut self, message: Message) -> io::Result<()> {
        if self.sender.codec.is_some() {
            return self.queue(&message); // compressed: a new payload anyway
        }
        self.sender.queue_owned(message.opcode(), message.into_bytes())
    }

    /// Writes everything queued, in one `write` where the transport allows.
    /// A failed write (typically a write timeout) is final: from then on
    /// every send, queue and flush fails without writing a byte.
    pub fn flush(&mut self) -> io::Result<()> {
        self.sender.flush()
    }
}

impl<W: Write> Sender<W> {
    fn send_close(&mut self, code: CloseCode, reason: &str) -> io::Result<()> {
        if self.close_sent.is_some() {
            return Ok(());
        }
        self.close_sent = Some(code);
        self.send_frame(Opcode::Close, &CloseFrame::encode(code, reason))
    }

    /// Any frame from the peer resets the silence; the pong to this ping
    /// is such a frame. The payload is free-form (§5.5.2).
    fn send_keepalive_ping(&mut self) -> io::Result<()> {
        self.send_frame(Opcode::Ping, b"duplex keepalive")
    }

    fn send_frame(&mut self, opcode: Opcode, payload: &[u8]) -> io::Result<()> {
        self.queue_frame(opcode, payload)?;
        self.flush()
    }

    fn queue_frame(&mut self, opcode: Opcode, payload: &[u8]) -> io::Result<()> {
        self.queue_frame_with_rsv1(opcode, payload, false)
    }

    /// `rsv1`: the payload is compressed (RFC 7692 §6).
    fn queue_frame_with_rsv1(
        &mut self,
        opcode: Opcode,
        payload: &[u8],
        rsv1: bool,
    ) -> io::Result<()> {
        self.check_usable()?;
        let mask = self.queue_header(opcode, payload, rsv1);
        match mask {
            Some(key) => extend_masked(&mut self.outgoing, payload, key, 0),
            None if payload.len() >= GATHER_WRITE => self.write_queued(payload)?,
            None => self.outgoing.extend_from_slice(payload),
        }
        Ok(())
    }

    /// Like `queue_frame`, keeping a large payload instead of copying it.
    fn queue_owned(&mut self, opcode: Opcode, payload: Vec<u8>) -> io::Result<()> {
        if self.mask_keys.is_some() || payload.len() < GATHER_WRITE {
            return self.queue_frame(opcode, &payload);
        }
        self.check_usable()?;
        self.queue_header(opcode, &payload, false);
        self.payload_bytes += payload.len();
        self.payloads.push((self.outgoing.len(), payload));
        if self.payload_bytes >= GATHER_BYTES || self.payloads.len() >= GATHER_COUNT {
            self.write_queued(&[])?;
        }
        Ok(())
    }

    /// Appends a frame header to `outgoing`; returns the masking key the
    /// payload must be masked with, if any.
    fn queue_header(&mut self, opcode: Opcode, payload: &[u8], rsv1: bool) -> Option<[u8; 4]> {
        let mask = self.mask_keys.as_mut().map(|next_key| next_key());
        let header = FrameHeader { mask, rsv1, ..FrameHeader::new(opcode, payload.len()) };
        if let Some(tracer) = &self.tracer {
            tracer.frame(Direction::Sent, &header, payload);
        }
        let (head, head_len) = header.encode();
        self.outgoing.extend_from_slice(&head[..head_len]);
        mask
    }

    /// Writes everything queued, then `last`, in one gathered write where
    /// the transport allows.
    fn write_queued(&mut self, last: &[u8]) -> io::Result<()> {
        let mut slices = Vec::with_capacity(2 * self.payloads.len() + 2);
        let mut written_up_to = 0;
        for (offset, payload) in &self.payloads {
            slices.push(IoSlice::new(&self.outgoing[written_up_to..*offset]));
            slices.push(IoSlice::new(payload));
            written_up_to = *offset;
        }
        slices.push(IoSlice::new(&self.outgoing[written_up_to..]));
        slices.push(IoSlice::new(last));
        let written = write_all_gathered(&mut self.writer, &mut slices, || Ok(()));
        self.outgoing.clear();
        self.payloads.clear();
        self.payload_bytes = 0;
        written.map_err(|error| self.break_down(error))
    }

    /// Flushes, unless nothing is queued (then not even a system call).
    fn flush_if_queued(&mut self) -> io::Result<()> {
        if self.outgoing.is_empty() && self.payloads.is_empty() {
            return Ok(());
        }
        self.flush()
    }

    fn flush(&mut self) -> io::Result<()> {
        self.check_usable()?;
        if !self.payloads.is_empty() {
            self.write_queued(&[])?;
        } else if !self.outgoing.is_empty() {
            let written = self.writer.write_all(&self.outgoing);
            self.outgoing.clear();
            written.map_err(|error| self.break_down(error))?;
        }
        // Give back memory a burst of large frames left behind.
        if self.outgoing.capacity() > KEEP_BUFFER {
            self.outgoing = Vec::new();
        }
        self.writer.flush().map_err(|error| self.break_down(error))
    }

    /// A write failed: the sender is broken for good. The trap is the
    /// write timeout: a `write_all` that gives up has already put an
    /// unknown part of the queue on the wire, perhaps half a frame. Writing
    /// the queue again from its start would send those bytes twice and
    /// corrupt the stream; and the rest of a half-written frame cannot
    /// usefully follow either, since a peer that stopped reading for a
    /// whole write timeout is not going to take it. So the queue is
    /// dropped, and every later queue, flush or close frame gets this
    /// error without writing a byte: the connection can only be dropped.
    fn break_down(&mut self, error: io::Error) -> io::Error {
        self.broken = Some(error.kind());
        error
    }

    /// Refuses to queue or write anything once the sender is broken.
    fn check_usable(&self) -> io::Result<()> {
        match self.broken {
            Some(kind) => Err(io::Error::new(kind, "an earlier write failed")),
            None => Ok(()),
        }
    }
}

impl<R: Read + Hangup, W: Write> WebSocket<R, W> {
    /// Ends the conversation, once [`recv`](Self::recv) has returned its
    /// `Closed`, so that our last frame reaches a peer that is still
    /// sending (chapter 5, "Making the close arrive"): flush, stop writing,
    /// then read and drop what the peer still sends until its close frame
    /// or its end of stream, for `linger` at most. `/echo` and the chat
    /// room both end here.
    pub fn end(&mut self, linger: Duration) {
        let _ = self.flush();
        self.reader.get_mut().stop_writing(linger);
        let _ = self.discard_until_close();
    }
}

/// Writes every byte of `slices`, gathering them into as few system calls
/// as the transport allows. (`Write::write_all_vectored` does this, but is
/// not yet stable.) A call may write only part of them (the socket's send
/// buffer filled up), so it loops, skipping what went out. `before_each`
/// runs before every call and may stop the writing with its error: the
/// chat's writer uses it for a deadline (`src/chat/member.rs`).
pub fn write_all_gathered<W: Write>(
    writer: &mut W,
    mut slices: &mut [IoSlice<'_>],
    before_each: impl Fn() -> io::Result<()>,
) -> io::Result<()> {
    IoSlice::advance_slices(&mut slices, 0); // skip empty slices
    while !slices.is_empty() {
        before_each()?;
        match writer.write_vectored(slices) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(written) => IoSlice::advance_slices(&mut slices, written),
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(())
}

/// A message (or frame) that missed its deadline (see [`Watched`]).
fn message_too_slow() -> ProtocolError {
    ProtocolError::new(CloseCode::PolicyViolation, "message too slow")
}

/// Why [`Watched`] stopped a read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stopped {
    /// The frame (with the rest of its message) missed its deadline.
    TooSlow,
    /// Nothing at all arrived for the idle timeout.
    Silent,
}

/// The reader a frame is read through: it keeps the keepalive rules
/// running *inside* a frame, and refuses to go on past a deadline.
///
/// Between frames, [`WebSocket::wait_for_input`] pings a quiet peer and
/// gives up on a silent one. Inside a frame the same must happen, or a
/// peer that stops after half a header would be dropped without a word
/// at the first read timeout. The outgoing side is free while a frame is
/// half read, and §5.4 allows control frames in the middle of a message:
/// so on a read timeout this reader sends the keepalive ping itself and
/// reads on, and after the idle timeout of silence it stops (close 1001,
/// exactly as between messages).
///
/// Silence is not the only stall. Every byte that arrives restarts the
/// transport's read timeout, so a peer that declares a 100-byte frame and
/// sends one byte every 29 seconds would hold its thread (and its
/// buffers) for the best part of an hour without ever being "idle": the
/// slowloris attack, one layer up from HTTP. So each frame, with the rest
/// of its message, gets the idle timeout as a deadline, checked before
/// every read (a clock read, no system call); past it the connection
/// fails with 1008. The deadline is set when a message's first frame
/// begins and is not moved by the pings and pongs between its fragments:
/// otherwise a peer that only answers our keepalive pings would hold a
/// 16 MiB message buffer open for ever.
struct Watched<'a, R, W> {
    inner: &'a mut InputBuffer<R>,
    sender: &'a mut Sender<W>,
    keepalive: Option<Keepalive>,
    last_heard: &'a mut Instant,
    deadline: Option<Instant>,
    stopped: Option<Stopped>,
}

impl<R: Read, W: Write> Watched<'_, R, W> {
    /// Runs `read` (which will read from the transport: nothing is
    /// buffered), pinging a quiet peer and retrying on a timeout, and
    /// giving up on silence or at the deadline.
    fn watch<T>(
        &mut self,
        mut read: impl FnMut(&mut InputBuffer<R>) -> io::Result<T>,
    ) -> io::Result<T> {
        // We are about to wait for the peer, so what is queued goes out
        // first, as `wait_for_input` does between frames. A pong queued for
        // a ping that came in with the start of a slow frame must go "as
        // soon as is practical" (§5.5.2), not when that frame is complete.
        self.sender.flush_if_queued()?;
        loop {
            // Silence is judged first: a peer that has sent nothing at all
            // gets the same 1001 inside a frame as between frames.
            let now = Instant::now();
            if self.keepalive.is_some_and(|k| now >= *self.last_heard + k.idle_timeout) {
                self.stopped = Some(Stopped::Silent);
                return Err(io::Error::new(io::ErrorKind::TimedOut, "idle timeout"));
            }
            if self.deadline.is_some_and(|deadline| now >= deadline) {
                self.stopped = Some(Stopped::TooSlow);
                return Err(io::Error::new(io::ErrorKind::TimedOut, "message too slow"));
            }
            match read(self.inner) {
                Ok(value) => {
                    *self.last_heard = Instant::now();
                    return Ok(value);
                }
                // Nothing may follow our close frame (§5.5.1), not even a
                // ping: after it, a quiet peer is simply given up on.
                Err(error) if is_timeout(&error) && self.sender.close_sent.is_some() => {
                    self.stopped = Some(Stopped::Silent);
                    return Err(error);
                }
                Err(error) if is_timeout(&error) && self.keepalive.is_some() => {
                    if !self.silent_too_long() {
                        self.sender.send_keepalive_ping()?;
                    }
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
    }

    fn silent_too_long(&self) -> bool {
        self.keepalive.is_some_and(|k| self.last_heard.elapsed() >= k.idle_timeout)
    }
}

// Bytes already buffered cannot block: then not even the clock is read.
impl<R: Read, W: Write> Read for Watched<'_, R, W> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.inner.buffer().is_empty() {
            self.watch(|inner| inner.read(buf))
        } else {
            self.inner.read(buf)
        }
    }
}

impl<R: Read, W: Write> BufRead for Watched<'_, R, W> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.inner.buffer().is_empty() {
            self.watch(|inner| inner.fill_buf().map(|_| ()))?;
        }
        Ok(self.inner.buffer())
    }

    fn consume(&mut self, amount: usize) {
        self.inner.consume(amount);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::websocket::frame::encode_frame;

    const KEY: [u8; 4] = [1, 2, 3, 4];

    /// Runs a server-side connection over `input` until it closes; returns
    /// what it received, how it ended, and the bytes it wrote.
    fn converse(input: &[u8]) -> (Vec<Message>, Closed, Vec<u8>) {
        let mut ws = WebSocket::server(BufReader::new(input), Vec::new(), 1 << 20);
        let mut received = Vec::new();
        let closed = loop {
            match ws.recv() {
                Ok(message) => {
                    ws.queue(&message).unwrap();
                    received.push(message);
                }
                Err(closed) => break closed,
            }
        };
        ws.flush().unwrap();
        let written = ws.sender.writer;
        (received, closed, written)
    }

    #[test]
    fn echo_then_clean_close_echoes_the_code() {
        let mut input = encode_frame(Opcode::Text, b"hi", Some(KEY));
        input.extend(encode_frame(Opcode::Close, b"\x03\xe8bye", Some(KEY)));
        let (received, closed, written) = converse(&input);
        assert_eq!(received, vec![Message::Text("hi".into())]);
        assert!(matches!(closed, Closed::ByPeer(Some(CloseFrame { code: CloseCode::Normal, .. }))));
        let mut expected = encode_frame(Opcode::Text, b"hi", None);
        expected.extend(encode_frame(Opcode::Close, b"\x03\xe8", None));
        assert_eq!(written, expected);
    }

    #[test]
    fn large_payloads_are_gathered_with_what_was_queued() {
        let big: Vec<u8> = (0..5000u32).map(|i| i as u8).collect();
        let mut input = encode_frame(Opcode::Text, b"small", Some(KEY));
        input.extend(encode_frame(Opcode::Binary, &big, Some(KEY)));
        input.extend(encode_frame(Opcode::Close, b"\x03\xe8", Some(KEY)));
        let (_, _, written) = converse(&input);
        let mut expected = encode_frame(Opcode::Text, b"small", None);
        expected.extend(encode_frame(Opcode::Binary, &big, None));
        expected.extend(encode_frame(Opcode::Close, b"\x03\xe8", None));
        assert_eq!(written, expected);
    }

    #[test]
    fn ping_is_answered_with_the_same_payload() {
        let mut input = encode_frame(Opcode::Ping, b"12345", Some(KEY));
        input.extend(encode_frame(Opcode::Close, b"", Some(KEY)));
        let (_, closed, written) = converse(&input);
        assert!(matches!(closed, Closed::ByPeer(None)));
        let mut expected = encode_frame(Opcode::Pong, b"12345", None);
        expected.extend(encode_frame(Opcode::Close, b"", None));
        assert_eq!(written, expected);
    }

    #[test]
    fn protocol_error_sends_the_right_close_code() {
        let input = encode_frame(Opcode::Text, b"\xff", Some(KEY));
        let (_, closed, written) = converse(&input);
        match closed {
            Closed::Failed(error) => assert_eq!(error.code, CloseCode::InvalidPayload),
            other => panic!("{other:?}"),
        }
        assert_eq!(&written[..4], &[0x88, 33, 0x03, 0xef]);
    }

    #[test]
    fn eof_without_close_is_a_drop() {
        let input = encode_frame(Opcode::Binary, b"x", Some(KEY));
        let (received, closed, _) = converse(&input);
        assert_eq!(received, vec![Message::Binary(b"x".to_vec())]);
        assert!(matches!(closed, Closed::Dropped(_)));
    }

    #[test]
    fn client_frames_are_masked_and_read_back() {
        let mut client =
            WebSocket::client(BufReader::new(&b""[..]), Vec::new(), 100, Box::new(|| KEY));
        client.send(&Message::Text("Hello".into())).unwrap();
        let written = client.sender.writer;
        assert_eq!(written, encode_frame(Opcode::Text, b"Hello", Some(KEY)));
        let mut server = WebSocket::server(BufReader::new(&written[..]), Vec::new(), 100);
        assert_eq!(server.recv().unwrap(), Message::Text("Hello".into()));
    }
    /// Hands out `script` one step per read: bytes, or a read timeout.
    struct Scripted(std::collections::VecDeque<Option<Vec<u8>>>);

    impl Read for Scripted {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match self.0.pop_front() {
                None => Ok(0),
                Some(None) => Err(io::ErrorKind::WouldBlock.into()),
                Some(Some(bytes)) => {
                    let count = bytes.len().min(buf.len());
                    buf[..count].copy_from_slice(&bytes[..count]);
                    if count < bytes.len() {
                        self.0.push_front(Some(bytes[count..].to_vec()));
                    }
                    Ok(count)
                }
            }
        }
    }

    #[test]
    fn a_peer_quiet_inside_a_frame_is_pinged_and_read_on() {
        let frame = encode_frame(Opcode::Text, b"Hello", Some(KEY));
        let script = [Some(frame[..7].to_vec()), None, None, Some(frame[7..].to_vec())];
        let input = Scripted(script.into_iter().collect());
        let mut ws = WebSocket::server(BufReader::new(input), Vec::new(), 100);
        let long = Duration::from_secs(3600);
        ws.set_keepalive(Keepalive { ping_interval: long, idle_timeout: long });
        assert_eq!(ws.recv().unwrap(), Message::Text("Hello".into()));
        let written = ws.sender.writer;
        let ping = encode_frame(Opcode::Ping, b"duplex keepalive", None);
        assert_eq!(written, [ping.clone(), ping].concat());
    }

    #[test]
    fn a_peer_silent_inside_a_frame_gets_1001() {
        let frame = encode_frame(Opcode::Text, b"Hello", Some(KEY));
        let input = Scripted([Some(frame[..7].to_vec()), None].into_iter().collect());
        let mut ws = WebSocket::server(BufReader::new(input), Vec::new(), 100);
        ws.set_keepalive(Keepalive { ping_interval: Duration::ZERO, idle_timeout: Duration::ZERO });
        assert!(matches!(ws.recv(), Err(Closed::IdleTimeout)));
        let written = ws.sender.writer;
        assert_eq!(written, encode_frame(Opcode::Close, b"\x03\xe9idle timeout", None));
    }

    #[test]
    fn a_ping_after_our_close_is_not_answered() {
        let mut input = encode_frame(Opcode::Ping, b"late", Some(KEY));
        input.extend(encode_frame(Opcode::Close, b"\x03\xe8", Some(KEY)));
        let mut ws = WebSocket::server(BufReader::new(&input[..]), Vec::new(), 100);
        ws.close(CloseCode::Normal, "bye").unwrap();
        assert!(matches!(ws.recv(), Err(Closed::ByUs(CloseCode::Normal))));
        ws.flush().unwrap();
        let written = ws.sender.writer;
        // Our close frame is the last frame (§5.5.1): no pong after it.
        assert_eq!(written, encode_frame(Opcode::Close, b"\x03\xe8bye", None));
    }

    /// A socket whose write times out once, after taking `budget` bytes
    /// (as a peer that stops reading makes it), then takes everything.
    struct StallsOnce {
        wire: Vec<u8>,
        budget: usize,
        stalled: bool,
    }

    impl Write for StallsOnce {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.stalled {
                self.wire.extend_from_slice(buf);
                return Ok(buf.len());
            }
            if self.budget == 0 {
                self.stalled = true;
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let count = buf.len().min(self.budget);
            self.budget -= count;
            self.wire.extend_from_slice(&buf[..count]);
            Ok(count)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// After a write timeout, nothing more is written: not the queue again
    /// (its first bytes are already out), not a close frame.
    fn nothing_follows_a_failed_write(send: impl FnOnce(&mut WebSocket<&[u8], StallsOnce>)) {
        let writer = StallsOnce { wire: Vec::new(), budget: 10, stalled: false };
        let mut ws = WebSocket::server(BufReader::new(&b""[..]), writer, 1 << 20);
        send(&mut ws);
        assert!(ws.flush().is_err(), "a broken sender reports its error");
        assert!(ws.close(CloseCode::Normal, "").is_err());
        assert!(ws.send(&Message::Text("more".into())).is_err());
        let writer = ws.sender.writer;
        assert_eq!(writer.wire.len(), 10, "bytes were written after the failed write");
    }

    #[test]
    fn a_write_timeout_is_final_for_the_copied_path() {
        nothing_follows_a_failed_write(|ws| {
            ws.queue(&Message::Binary(vec![7; 100])).unwrap();
            assert_eq!(ws.flush().unwrap_err().kind(), io::ErrorKind::WouldBlock);
        });
    }

    #[test]
    fn a_write_timeout_is_final_for_the_gathered_path() {
        nothing_follows_a_failed_write(|ws| {
            let error = ws.queue_message(Message::Binary(vec![7; 300_000])).unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::WouldBlock);
        });
    }

    #[test]
    fn a_pong_goes_out_before_waiting_for_the_rest_of_a_frame() {
        // A ping, then the start of a frame, in one segment; then the
        // peer pauses (here: for good, and there is no keepalive).
        let mut segment = encode_frame(Opcode::Ping, b"now", Some(KEY));
        segment.extend_from_slice(&encode_frame(Opcode::Text, b"Hello", Some(KEY))[..7]);
        let input = Scripted([Some(segment), None].into_iter().collect());
        let mut ws = WebSocket::server(BufReader::new(input), Vec::new(), 100);
        assert!(matches!(ws.recv(), Err(Closed::Dropped(_))));
        let written = ws.sender.writer;
        assert_eq!(written, encode_frame(Opcode::Pong, b"now", None));
    }
}
