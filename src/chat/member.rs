//! # A member's connection: one reader thread, one writer thread
//!
//! After the `101 Switching Protocols`, the connection's thread (see
//! `src/server/session.rs`) calls [`serve`] and becomes the member's
//! **reader**: it waits for frames, and turns each message into something
//! the room does. It starts a second thread, the **writer**, that does one
//! thing: take everything in the member's outbox and write it to the socket.
//!
//! ```text
//!              reader thread (conn-7)             writer thread (conn-7-writer)
//!  socket ──▶ WebSocket::recv ──▶ room.say ──┐
//!                  │ pong, close             ├──▶ outbox ──▶ take_all ──▶ writev ──▶ socket
//!                  └──▶ OutboxWriter ────────┘        ▲
//!                                  other members' ────┘ room.say, room.leave, ...
//! ```
//!
//! Why two threads? Because a member must receive while it sends, and a
//! blocking `read` cannot also wait for "the room has something for you".
//! And why must only the writer write? Frames from the room (pushed by
//! *other* members' threads) and control frames from this member's own
//! `WebSocket` (pongs, the close reply) must not interleave mid-frame. So
//! the `WebSocket` is given an [`OutboxWriter`] instead of the socket:
//! every byte for this member goes through the outbox, in order, and one
//! thread writes them all. With that, the pings, pongs, keepalive, closing
//! handshake and protocol errors of `websocket/connection.rs` work here
//! unchanged. (A later chapter, `outbox/handover.rs`, lets another thread
//! write a small batch while the writer sleeps. It takes the batch from
//! the same queue and the socket with it, so still one thread at a time
//! writes, in the queue's order.)
//!
//! How a member ends, and how the other thread finds out:
//!
//! - **the reader ends** (clean close, protocol error, idle timeout, peer
//!   gone): it leaves the room, closes the outbox, and joins the writer,
//!   which first writes what is still queued (such as the close reply);
//! - **the writer fails** (write error, or no progress within the write
//!   timeout) **or the member is found too slow** (`outbox.rs`: it writes
//!   the 1008 close frame first): it shuts the socket down, both ways. The reader,
//!   blocked in `read`, wakes up with end-of-file and ends as above.
//!
//! Leaving the room happens in a `Drop` guard (`Membership`), so a member
//! leaves exactly once whichever way it ends, a panic included.
//!
//! Two rules from RFC 6455 shape the ending:
//!
//! - **Nothing after our close frame** (§5.5.1: no data frames after
//!   Close). Our close frame (the reply to the peer's, §5.5.1, or the one
//!   that fails the connection, §7.1.7) is queued while the member is
//!   still in the room, and the room keeps broadcasting until it has left.
//!   So the push that queues the close frame also closes the outbox
//!   (`outbox_writer.rs`); broadcasts after it are refused.
//! - **Then close the TCP connection** (§7.1.1: the server should close it
//!   first, once the handshake is done). But the writer must first drain
//!   what is queued before the close frame, up to a whole outbox, and a
//!   peer that reads slowly *but steadily* never trips the write timeout,
//!   which only fires when a write makes no progress at all. So the drain
//!   has a total deadline: once the outbox has stopped taking pushes, the
//!   writer has one write timeout *in all* to finish (each write may block
//!   only for what is left of it); past it, the writer gives up and shuts
//!   the socket down, and both threads and the connection's slot are free
//!   again.
//!
//! Read next: `src/chat/wakeups.rs`, the first of two improvements to all
//! this, each measured.

use std::io::{self, BufReader, IoSlice, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use super::names::name_in_query;
use super::outbox::{too_slow_goodbye, Encoded, Outbox};
use super::outbox_writer::OutboxWriter;
use super::protocol::{Command, FileInfo};
use super::room::{MemberId, Room};
use super::wakeups::{self, WakeBeforeBlocking};
use crate::config::Limits;
use crate::http::Request;
use crate::log;
use crate::threads;
use crate::websocket::connection::write_all_gathered;
use crate::websocket::extension::MessageCodec;
use crate::websocket::frame::{encode_frame, Opcode};
use crate::websocket::trace::{Direction, Tracer};
use crate::websocket::{CloseCode, Closed, Hangup, Keepalive, Message, ProtocolError, WebSocket};

/// Serves one chat member on an upgraded connection, until it ends.
///
/// `reader` is the connection's buffered reader (it may already hold the
/// client's first frames), with its read timeout set to the ping interval;
/// `socket` is the same connection, for the writer thread, with its write
/// timeout set. `codec` is the per-message extension the handshake agreed
/// to (permessage-deflate, `--deflate`), if any.
pub fn serve<R: Read + Hangup>(
    request: &Request,
    reader: BufReader<R>,
    socket: Arc<TcpStream>,
    room: &Room,
    limits: &Limits,
    tracer: Option<Arc<Tracer>>,
    codec: Option<Arc<dyn MessageCodec>>,
) -> Closed {
    let outbox = Arc::new(Outbox::new(limits, too_slow_goodbye));
    if tracer.is_none() {
        // A thread paying a deferred wake-up may write small batches to this
        // socket while the writer sleeps (`outbox/handover.rs`). Not with
        // `--trace`: the writer traces what it sends, so then it alone writes.
        outbox.lend_socket(Arc::clone(&socket), limits.write_timeout);
    }
    let writer = spawn_writer(Arc::clone(&outbox), Arc::clone(&socket), tracer.clone(), limits);
    let writer = match writer {
        Ok(writer) => writer,
        Err(error) => {
            // No writer, so this thread may write: 1013 "try again later",
            // and then the same ending as every other (`WebSocket::end`),
            // so that a client whose first frames we never read still gets
            // the close frame instead of a reset.
            let mut websocket = WebSocket::server(reader, &*socket, largest(limits));
            let _ = websocket.close(CloseCode::Other(1013), "server busy");
            websocket.end(limits.close_linger);
            return Closed::Dropped(error);
        }
    };
    // `name_in_query`, not `Request::query_param`: a name that does not
    // decode must be refused with an `error`, not mistaken for no name.
    let requested = name_in_query(request.query());
    // Borrowed as `Room::join` takes it: `Option<Result<&str, NameError>>`.
    let requested = requested.as_ref().map(|name| name.as_deref().map_err(Clone::clone));
    // What this member says (its `join` first) is broadcast from this
    // thread, and the wake-ups it owes the other members' writers wait
    // until this thread is about to read from its socket again
    // (`WakeBeforeBlocking`), so a burst costs each writer one wake-up
    // (`wakeups.rs`). In a storm of joins, a writer still busy with the
    // last one needs none.
    let deferring = wakeups::defer_on_this_thread();
    let id = room.join(requested, Arc::clone(&outbox), codec.clone());
    // `reason`: what the others are told if we panic.
    let (writer, reason) = (Some(writer), "server error");
    let mut membership = Membership { room, id, outbox: Arc::clone(&outbox), writer, reason };

    // Reads from the connection, writes into the outbox (see the top).
    let (input, output) = (WakeBeforeBlocking::around(reader), OutboxWriter(Arc::clone(&outbox)));
    let mut websocket = WebSocket::server(input, output, largest(limits));
    let (ping_interval, idle_timeout) = (limits.ping_interval, limits.idle_timeout);
    websocket.set_keepalive(Keepalive { ping_interval, idle_timeout });
    websocket.set_tracer(tracer);
    websocket.set_message_codec(codec);
    let mut closed = converse(&mut websocket, room, id, limits);
    drop(deferring);
    if outbox.was_aborted() {
        // The reader saw only end-of-file, once the writer hung up; say
        // what really happened.
        closed = Closed::Failed(ProtocolError::new(CloseCode::PolicyViolation, "too slow"));
    }
    membership.reason = leave_reason(&closed);
    drop(membership);
    // The writer has written everything, our close frame last: end the
    // conversation as `/echo` does, so that the close reaches a member
    // that is still sending (`WebSocket::end`).
    websocket.end(limits.close_linger);
    closed
}

/// The largest message worth reading: a text or a file at their limits.
/// Anything bigger is refused by the codec with close 1009 before it is
/// read, instead of being read whole only to be refused with an `error`.
fn largest(limits: &Limits) -> usize {
    limits.max_message.min(limits.max_chat_text.max(limits.max_chat_file))
}

/// The reader's loop: every message becomes one call on the room.
fn converse<R: Read>(
    websocket: &mut WebSocket<WakeBeforeBlocking<R>, OutboxWriter>,
    room: &Room,
    me: MemberId,
    limits: &Limits,
) -> Closed {
    // From the last `/file TYPE NAME`, for the next binary message.
    let mut next_file = FileInfo::default();
    let refuse = |reason: &str| room.with_lock(|state| state.core.tell(me, reason));
    // What a member is told about a message or a file over its limit.
    let too_large = |what, size, max| refuse(&format!("{what}: {size} bytes, the limit is {max}"));
    loop {
        match websocket.recv() {
            Err(closed) => return closed,
            Ok(Message::Text(text)) => match Command::parse(&text) {
                Command::Nick(name) => {
                    if let Err(error) = room.rename(me, name) {
                        refuse(&format!("/nick refused: {error}"));
                    }
                }
                Command::File(info) => next_file = info,
                Command::Say("") => refuse("an empty message was not sent"),
                Command::Say(text) if text.len() > limits.max_chat_text => {
                    too_large("message too long", text.len(), limits.max_chat_text)
                }
                Command::Say(text) => room.say(me, text),
            },
            Ok(Message::Binary(bytes)) if bytes.len() > limits.max_chat_file => {
                next_file = FileInfo::default(); // the refused file's description goes with it
                too_large("file too large", bytes.len(), limits.max_chat_file);
            }
            Ok(Message::Binary(bytes)) => {
                // Encoded here, outside the room's lock: it is the big one.
                let frame: Encoded = Arc::from(encode_frame(Opcode::Binary, &bytes, None));
                room.share_file(me, &std::mem::take(&mut next_file), bytes.len(), frame);
            }
        }
    }
}

/// What the others are told when a member goes.
fn leave_reason(closed: &Closed) -> &'static str {
    match closed {
        Closed::ByPeer(_) | Closed::ByUs(_) => "left",
        Closed::Failed(error) if error.code == CloseCode::PolicyViolation => "too slow",
        Closed::Failed(error) if error.code == CloseCode::MessageTooBig => "message too big",
        Closed::Failed(_) => "protocol error",
        Closed::IdleTimeout => "timed out",
        Closed::Dropped(_) => "connection lost",
    }
}

/// A member of the room, for as long as this value lives.
///
/// Dropping it, however that happens (a return, a `?`, a panic unwinding),
/// leaves the room, lets the writer finish and waits for it. `Room::leave`
/// does nothing the second time, so the `leave` event goes out exactly once.
struct Membership<'a> {
    room: &'a Room,
    id: MemberId,
    outbox: Arc<Outbox>,
    writer: Option<JoinHandle<io::Result<()>>>,
    reason: &'static str,
}

impl Drop for Membership<'_> {
    fn drop(&mut self) {
        // Leave first, so the others hear about it at once, even if our
        // writer still needs up to a write timeout to give up on a dead peer.
        self.room.leave(self.id, self.reason);
        self.outbox.close();
        match self.writer.take().map(JoinHandle::join) {
            Some(Ok(Err(error))) => log!("chat: writer stopped: {error}"),
            Some(Err(_)) => log!("chat: writer thread panicked"),
            _ => {}
        }
    }
}

/// Starts the writer thread, named after the connection's (`conn-7-writer`)
/// so log lines say whose it is.
fn spawn_writer(
    outbox: Arc<Outbox>,
    socket: Arc<TcpStream>,
    tracer: Option<Arc<Tracer>>,
    limits: &Limits,
) -> io::Result<JoinHandle<io::Result<()>>> {
    let name = format!("{}-writer", thread::current().name().unwrap_or("conn"));
    let drain_time = limits.write_timeout;
    // Counted against the process's thread budget (`src/threads.rs`): a
    // writer that does not fit is refused here, and the member gets 1013.
    threads::spawn(name, limits.thread_stack, move || {
        let mut writer = Writer { outbox, socket, tracer, drain_time, clean: false };
        let result = write_until_closed(&writer);
        writer.clean = result.is_ok() && !writer.outbox.was_aborted();
        result
    })
}

/// What the writer thread holds. Dropped when the thread stops, even by
/// panic: it empties the outbox for good and, unless the reader asked us
/// to stop (`clean`), hangs up so the reader wakes.
struct Writer {
    outbox: Arc<Outbox>,
    socket: Arc<TcpStream>,
    tracer: Option<Arc<Tracer>>,
    /// How long the rest may take once the outbox is closed (see the top).
    drain_time: Duration,
    clean: bool,
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.outbox.finish();
        if !self.clean {
            // A `read` blocked on another thread returns end-of-file now.
            // Anything we wrote before this still reaches the peer, followed
            // by the end of the stream.
            let _ = self.socket.shutdown(Shutdown::Both);
        }
    }
}

/// The writer's loop: take everything, write it, repeat until closed.
/// Once the outbox has been closed, the rest must be written within
/// `drain_time` (see the top of this file).
fn write_until_closed(writer: &Writer) -> io::Result<()> {
    let Writer { outbox, socket, tracer, drain_time, .. } = writer;
    let mut batch = Vec::new();
    let check = || drain_deadline(outbox, socket, *drain_time);
    while outbox.take_all(&mut batch, Duration::MAX) {
        if let Some(tracer) = tracer {
            // `--trace` for what the room sends. Control frames (pong,
            // close, ping) were traced by the member's `WebSocket` when it
            // queued them; a control opcode has its 0x08 bit set (RFC 6455
            // §5.2, §5.5), data opcodes never do. The exception: once the
            // member is cut off as too slow, the batch is the outbox's own
            // 1008 close, which no `WebSocket` saw.
            let cut_off = outbox.was_aborted();
            let untraced =
                |frame: &&Encoded| cut_off || frame.first().is_some_and(|b| b & 0x08 == 0);
            for frame in batch.iter().filter(untraced) {
                tracer.frames_in(Direction::Sent, frame);
            }
        }
        // `&TcpStream` is itself `Write`, so the shared `Arc` is enough.
        if let Err(error) = write_batch(&mut &**socket, &batch, check) {
            // A write cut short at the deadline fails as "would block";
            // say what really happened.
            return Err(check().err().unwrap_or(error));
        }
        batch.clear();
        // After a burst of thousands of frames, give the memory back.
        batch.shrink_to(1024);
    }
    Ok(())
}

/// The check a writer runs before each write ([`write_batch`]'s `check`).
/// While the outbox is open, there is no limit but the socket's write
/// timeout, per write. Once it has stopped taking pushes, the rest must be
/// written within `drain_time` of that moment: past it, stop; before it,
/// let the write about to start block no longer than the time left. (The
/// socket's write timeout counts per call, so without this the call under
/// way could outlast the deadline by a whole write timeout.)
pub fn drain_deadline(outbox: &Outbox, socket: &TcpStream, drain_time: Duration) -> io::Result<()> {
    let Some(since) = outbox.draining_since() else { return Ok(()) };
    match drain_time.checked_sub(since.elapsed()) {
        Some(left) if !left.is_zero() => socket.set_write_timeout(Some(left)),
        _ => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("still writing {drain_time:?} after the close: gave up"),
        )),
    }
}

/// Writes a batch of frames with as few system calls as the kernel allows:
/// `write_vectored` (`writev(2)`) sends many buffers in one call, without
/// first copying them into one, the same loop the `WebSocket` writes its
/// own frames with (`write_all_gathered`). Each call waits at most the
/// socket's write timeout; a peer that reads nothing for that long gets an
/// error here, and is hung up on. `check` runs before every call and may
/// end the batch early with an error (the drain deadline,
/// [`drain_deadline`]).
pub fn write_batch<W: Write>(
    out: &mut W,
    batch: &[Encoded],
    check: impl Fn() -> io::Result<()>,
) -> io::Result<()> {
    let mut slices: Vec<IoSlice<'_>> = batch.iter().map(|frame| IoSlice::new(frame)).collect();
    write_all_gathered(out, &mut slices, check)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A socket that takes at most 3 bytes per call, the worst a kernel
    /// may do, and is interrupted now and then.
    struct TrickleWriter {
        written: Vec<u8>,
        calls: usize,
    }

    impl Write for TrickleWriter {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.calls += 1;
            if self.calls.is_multiple_of(5) {
                return Err(io::ErrorKind::Interrupted.into());
            }
            let n = buf.len().min(3);
            self.written.extend_from_slice(&buf[..n]);
            Ok(n)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn partial_writes_still_deliver_the_whole_batch_in_order() {
        let batch: Vec<Encoded> = ["one", "", "three", "a longer fourth frame"]
            .into_iter()
            .map(|text| Arc::from(encode_frame(Opcode::Text, text.as_bytes(), None)))
            .collect();
        let mut out = TrickleWriter { written: Vec::new(), calls: 0 };
        write_batch(&mut out, &batch, || Ok(())).unwrap();
        assert_eq!(out.written, batch.concat());
        let mut vectored = Vec::new();
        write_batch(&mut vectored, &batch, || Ok(())).unwrap();
        assert_eq!(vectored, batch.concat());
    }

    #[test]
    fn a_drain_has_a_deadline_and_a_check_can_stop_a_batch() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let socket = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let outbox = Outbox::new(&Limits::default(), too_slow_goodbye);
        // Open: no deadline at all, however long the writing takes.
        drain_deadline(&outbox, &socket, Duration::ZERO).unwrap();
        assert_eq!(socket.write_timeout().unwrap(), None);
        outbox.close();
        let hour = Duration::from_secs(3600);
        drain_deadline(&outbox, &socket, hour).unwrap();
        let left = socket.write_timeout().unwrap();
        assert!(left.is_some_and(|left| left <= hour), "{left:?}");
        let error = drain_deadline(&outbox, &socket, Duration::ZERO).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        // A check that fails stops the batch before the next write.
        let batch = vec![Arc::from(encode_frame(Opcode::Text, &[b'z'; 40], None))];
        let mut out = TrickleWriter { written: Vec::new(), calls: 0 };
        let stop = || drain_deadline(&outbox, &socket, Duration::ZERO);
        let result = write_batch(&mut out, &batch, stop);
        assert_eq!(result.map_err(|e| e.kind()), Err(io::ErrorKind::TimedOut));
        assert_eq!((out.calls, out.written.len()), (0, 0));
    }

    #[test]
    fn every_ending_has_a_reason() {
        let failed = |code| Closed::Failed(ProtocolError::new(code, "x"));
        assert_eq!(leave_reason(&Closed::ByPeer(None)), "left");
        assert_eq!(leave_reason(&failed(CloseCode::PolicyViolation)), "too slow");
        assert_eq!(leave_reason(&failed(CloseCode::ProtocolError)), "protocol error");
        assert_eq!(leave_reason(&failed(CloseCode::MessageTooBig)), "message too big");
        assert_eq!(leave_reason(&Closed::IdleTimeout), "timed out");
        let eof = Closed::Dropped(io::ErrorKind::UnexpectedEof.into());
        assert_eq!(leave_reason(&eof), "connection lost");
    }

    #[test]
    fn the_largest_message_read_is_a_text_or_a_file_at_its_limit() {
        let limits = Limits::default();
        assert_eq!(largest(&limits), limits.max_chat_file);
        let small = Limits { max_message: 1000, ..Limits::default() };
        assert_eq!(largest(&small), 1000);
    }
}
