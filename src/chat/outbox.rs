//! # The outbox: where a slow reader's backlog waits, and where it stops
//!
//! Every chat member has an outbox: a queue of encoded WebSocket frames
//! waiting for that member's writer thread to put them on the socket.
//! The room *pushes* frames in; the writer *takes* them out. Pushing never
//! blocks and never does I/O, which is what lets the room hold its lock
//! while it pushes (see `room.rs`).
//!
//! What is queued is [`Encoded`]: bytes encoded once and shared, by
//! pointer, by every outbox they were pushed into. For a chat member that
//! is one or more whole WebSocket frames; the HTTP push layer reuses this
//! queue unchanged for Server-Sent Events (`src/push/event_stream.rs`).
//!
//! ## The slow-consumer policy lives here
//!
//! The queue is bounded in **bytes**, not in frames: a bound of "100
//! frames" holds 100 short lines in a few KiB but 100 images in 800 MiB.
//! And, as Redis judges a client's output buffer, it is judged **over
//! time**, not at one instant: one sender can fill every outbox in a
//! millisecond, before a busy machine has scheduled the writers that would
//! empty them, and a member that keeps up perfectly must not be dropped
//! for that. So there are two limits (`--outbox-soft-bytes`,
//! `--outbox-hard-bytes`, `--outbox-grace`; the defaults and their reasons
//! are in `src/config.rs`):
//!
//! - a **soft** limit (1 MiB by default), which the backlog may pass for a
//!   while: a push that finds it above the soft limit for longer than the
//!   **grace** (3 s) finds the member too slow ([`PushError::Behind`]);
//! - a **hard** limit (8 MiB), the memory bound, which it may not pass at
//!   all ([`PushError::Overflow`]).
//!
//! Either way that push *cuts the member off*, in the same step under the
//! outbox's lock: the backlog is thrown away and replaced by one goodbye,
//! for a WebSocket member a close frame with code 1008, "policy violation"
//! (RFC 6455 §7.4.1; [`too_slow_goodbye`]). Nobody else waits for it. The
//! backlog is what waits *behind* the writer: taking a batch empties it,
//! and a backlog that falls back under the soft limit starts its grace
//! afresh.
//!
//! Three details that matter:
//!
//! - **A wake-up only when the queue was empty.** The writer sleeps on a
//!   `Condvar` while the queue is empty. A push signals it only when the
//!   queue goes from empty to non-empty: if the queue already held
//!   something, the writer is either awake or already signalled. (A thread
//!   may put even that signal off until its burst is over: `wakeups.rs`.
//!   And a thread writing in the writer's place looks at the queue again
//!   when it is done, and wakes the writer for what came meanwhile.)
//! - **The writer takes everything at once** ([`Outbox::take_all`]) and
//!   writes it with one `writev` call. A member who fell behind by fifty
//!   messages catches up in one system call, not fifty. The queue's `Vec` is
//!   *swapped* with the writer's empty one, so after warm-up no batch
//!   allocates.
//! - **An empty outbox accepts any one push**, however large. Files may be
//!   bigger than the soft limit (8 MiB against 1 MiB by default); refusing
//!   them would make every file a disconnection. So the limits bound the
//!   *backlog behind* whatever is being written, and a member holds at most
//!   about twice the hard limit (or twice the largest frame) in memory: one
//!   batch in flight and one queued. The frames themselves are shared
//!   `Arc`s, so a file queued for a hundred members is in memory once.
//!
//! ## The close frame is the last frame
//!
//! RFC 6455 §5.5.1: after sending a Close frame, an endpoint "MUST NOT
//! send any more data frames". Here that is a property of the queue, not of
//! good timing: the pushes that queue a close frame ([`Outbox::push_last`]
//! for the member's own close, and cutting a member off for the 1008 one)
//! also stop the outbox taking anything else, *under the same lock*. A
//! broadcast that arrives a microsecond later finds the outbox closed
//! ([`PushError::Closed`]) and is skipped; it cannot slip in behind the
//! close frame while the member is still on its way out of the room.
//!
//! From that moment the outbox is *draining*: the writer sends what is
//! queued, and then stops. [`Outbox::draining_since`] says when that
//! began, so the writer can give the drain a total deadline (`member.rs`).
//!
//! ## Fields for a thread that writes in the writer's place
//!
//! Three fields of the queue (`socket_free`, `socket_to_lend`,
//! `unfinished`) are there for an improvement taught later, after the
//! deferred wake-ups it builds on: a thread that pays a deferred wake-up
//! may write a small batch in the sleeping writer's place
//! (`src/chat/outbox/handover.rs`). On a first reading, skip them.
//!
//! Read next: `src/chat/outbox_writer.rs`, how a member's own `WebSocket`
//! writes into its outbox.

use std::net::TcpStream;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::wakeups;
use crate::config::Limits;
use crate::websocket::frame::{encode_frame, Opcode};
use crate::websocket::{CloseCode, CloseFrame};

pub mod handover;

/// Bytes ready for the wire, encoded once and shared (an `Arc`) by every
/// outbox they were pushed into: one or more whole WebSocket frames for a
/// chat member, whole Server-Sent Events for an event-stream listener.
pub type Encoded = Arc<[u8]>;

/// Why a push was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushError {
    /// The backlog would pass the hard limit: the member is too slow, and
    /// this push cut it off.
    Overflow,
    /// The backlog has been above the soft limit for longer than the grace:
    /// the member is too slow, and this push cut it off.
    Behind,
    /// The outbox is closed (the member is leaving, or was cut off);
    /// nothing more goes out.
    Closed,
}

/// A byte-bounded queue of frames for one member.
#[derive(Debug)]
pub struct Outbox {
    /// The soft and hard limits, in bytes, and the grace (see the top).
    soft: usize,
    hard: usize,
    grace: Duration,
    /// What a member found too slow gets instead of its backlog.
    goodbye: fn(PushError) -> Encoded,
    queue: Mutex<Queue>,
    /// Signalled when the queue becomes non-empty or closes, or when a
    /// thread that wrote in the writer's place is done.
    ready: Condvar,
}

/// What the outbox's lock guards. It starts empty and open.
#[derive(Debug, Default)]
struct Queue {
    waiting: Vec<Encoded>,
    /// Bytes in `waiting`. What the writer has taken is no longer counted.
    /// (Cutting the member off leaves it as it was: nothing more is pushed.)
    bytes: usize,
    /// Since when the backlog has been above the soft limit, if it is.
    above_soft_since: Option<Instant>,
    /// When the outbox stopped taking pushes, if it has: the start of the
    /// drain, which the writer gives a deadline.
    draining_since: Option<Instant>,
    /// The member was cut off as too slow.
    aborted: bool,
    /// The socket is free: the writer waits in `take_all` with no batch in
    /// hand, and no other thread writes in its place. Only then may one.
    /// One flag for both, because both mean "nobody is writing": `take_all`
    /// sets it when the writer goes to wait, and whoever takes the next
    /// batch clears it under this lock, the writer or a thread writing in
    /// its place. So at most one thread writes to the socket at a time, and
    /// two batches never interleave on the wire.
    socket_free: bool,
    /// The member's socket and the writer's write timeout, for a thread
    /// that writes in the writer's place. `None` for an event stream, with
    /// `--trace`, and once such a write fell short: from then on only the
    /// writer writes.
    socket_to_lend: Option<(Arc<TcpStream>, Duration)>,
    /// `waiting[0]` is the unwritten end of a frame that such a write left,
    /// cut at the byte: the peer already has the start, so the rest must
    /// be the very next bytes on the wire, and cutting the member off keeps
    /// it, so the 1008 close follows it instead of landing inside a frame.
    unfinished: bool,
}

impl Outbox {
    /// An empty outbox with the limits in `limits`. `goodbye` is what it
    /// holds instead of its backlog once its reader is found too slow: the
    /// 1008 close frame for a WebSocket member ([`too_slow_goodbye`]), an
    /// event for an event stream.
    pub fn new(limits: &Limits, goodbye: fn(PushError) -> Encoded) -> Outbox {
        Outbox {
            // Never above the hard limit (`src/config.rs` refuses that too).
            soft: limits.outbox_soft_bytes.min(limits.outbox_hard_bytes),
            hard: limits.outbox_hard_bytes,
            grace: limits.outbox_grace,
            goodbye,
            queue: Mutex::new(Queue::default()),
            ready: Condvar::new(),
        }
    }

    /// Lets a thread that pays a deferred wake-up write to `socket` in the
    /// sleeping writer's place (`outbox/handover.rs`).
    /// `write_timeout` is the one the writer's own writes use.
    pub fn lend_socket(&self, socket: Arc<TcpStream>, write_timeout: Duration) {
        self.lock().socket_to_lend = Some((socket, write_timeout));
    }

    /// A panic on another thread while it held this lock leaves the queue
    /// in a valid state (every method changes it in one step), so we carry
    /// on rather than spread the panic to every member of the room.
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `frames` together: all of them or none. A `file` event and the
    /// file's bytes go in one call, so a member never gets the announcement
    /// without the file. Never blocks. If the writer was idle, it is woken:
    /// at once, or, on a thread that puts its wake-ups off, before that
    /// thread next waits for input (`wakeups.rs`), when it may write a
    /// small batch in the writer's place instead (`outbox/handover.rs`).
    ///
    /// Why `self: &Arc<Self>` and not `&self`: a wake-up put off is paid
    /// later, after the room's lock is released, and perhaps after this
    /// member has left the room and the room has dropped its `Arc`. So the
    /// thread's list of wake-ups owed keeps a clone of the `Arc` itself,
    /// and the outbox lives until that wake-up is paid.
    ///
    /// `Overflow` or `Behind`: this push found the member too slow and cut
    /// it off (see the top of this file). `Closed`: the frames have no one
    /// to go to.
    pub fn push(self: &Arc<Self>, frames: &[Encoded]) -> Result<(), PushError> {
        // `true`: the queue was empty, so the writer may be asleep.
        if self.enqueue(&mut self.lock(), frames)? {
            wakeups::wake_soon(self);
        }
        Ok(())
    }

    /// Queues `frames`, which end with a close frame, and closes the outbox
    /// in the same step: every later push is refused, so nothing can follow
    /// the close frame onto the wire (RFC 6455 §5.5.1). What is already
    /// queued still goes out first, then the writer stops. A member too
    /// slow even for this is cut off, and the 1008 close is its last frame.
    pub fn push_last(self: &Arc<Self>, frames: &[Encoded]) -> Result<(), PushError> {
        let mut queue = self.lock();
        self.enqueue(&mut queue, frames)?;
        self.stop_taking(&mut queue);
        Ok(())
    }

    /// The push itself, with the lock held. `Ok(true)`: the queue was
    /// empty, so the writer may be asleep. (An empty queue takes any one
    /// push: see the top of this file.)
    fn enqueue(&self, queue: &mut Queue, frames: &[Encoded]) -> Result<bool, PushError> {
        if queue.draining_since.is_some() {
            return Err(PushError::Closed);
        }
        let was_empty = queue.waiting.is_empty();
        let backlog = queue.bytes + frames.iter().map(|frame| frame.len()).sum::<usize>();
        if let Some(why) = self.too_slow(queue, backlog) {
            // Gives up on this member: drops the backlog, queues the goodbye
            // in its place, and stops taking pushes, in one step, so the
            // goodbye is the last thing the member receives. What the writer
            // has already taken is still written whole, so the goodbye never
            // lands in the middle of a frame.
            queue.waiting.truncate(usize::from(queue.unfinished));
            queue.waiting.push((self.goodbye)(why));
            queue.aborted = true;
            self.stop_taking(queue);
            return Err(why);
        }
        queue.waiting.extend(frames.iter().cloned());
        queue.bytes = backlog;
        Ok(was_empty)
    }

    /// Does a push that makes the backlog `backlog` bytes find this member
    /// too slow? Never when the queue is empty: it takes any one push.
    fn too_slow(&self, queue: &mut Queue, backlog: usize) -> Option<PushError> {
        if queue.waiting.is_empty() || backlog <= self.soft {
            return None;
        }
        if backlog > self.hard {
            return Some(PushError::Overflow);
        }
        // The grace starts at the first push above the soft limit. The clock
        // is read only while the backlog is above it: a member that keeps up
        // never pays for it.
        match queue.above_soft_since {
            None => queue.above_soft_since = Some(Instant::now()),
            Some(since) => return (since.elapsed() >= self.grace).then_some(PushError::Behind),
        }
        None
    }

    /// No more pushes from now on; the writer sends what is queued, then
    /// stops. The drain starts once: later calls keep its start.
    fn stop_taking(&self, queue: &mut Queue) {
        queue.draining_since.get_or_insert_with(Instant::now);
        self.ready.notify_one();
    }

    /// Waits until there is something to write, then moves *all* of it into
    /// `batch` (which must be empty). Returns `false` when the outbox is
    /// closed and everything has been taken: the writer's cue to stop.
    ///
    /// It waits at most `wait`: an empty `batch` and `true` mean nothing
    /// came. A member's writer waits as long as it takes (`Duration::MAX`);
    /// an event-stream writer uses the quiet time to send a heartbeat
    /// (`src/push/event_stream.rs`).
    pub fn take_all(&self, batch: &mut Vec<Encoded>, wait: Duration) -> bool {
        let mut queue = self.lock();
        queue.socket_free = true;
        // `wait_timeout_while` releases the lock while asleep, and checks
        // the queue again after every wake-up, including the "spurious"
        // ones a `Condvar` is allowed to have for no reason at all. While
        // another thread writes in our place, the socket is not free: wait,
        // even if woken, or the two would write to the socket at once.
        // (Only a member's writer is written for, and it waits as long as
        // it takes, so it never stops waiting in the middle of that.)
        let keep_waiting = |queue: &mut Queue| !queue.socket_free || queue.is_idle();
        let waited = self.ready.wait_timeout_while(queue, wait, keep_waiting);
        let mut queue = waited.unwrap_or_else(PoisonError::into_inner).0;
        queue.socket_free = false;
        queue.take_into(batch)
    }

    /// No more pushes; the writer finishes what is queued, then stops.
    pub fn close(&self) {
        self.stop_taking(&mut self.lock());
    }

    /// The writer has stopped (or failed): drop whatever is left and refuse
    /// every later push, so a dead member's outbox holds no memory.
    pub fn finish(&self) {
        let mut queue = self.lock();
        queue.waiting = Vec::new();
        self.stop_taking(&mut queue);
    }

    /// When the outbox stopped taking pushes (`close`, `push_last`, or the
    /// member being cut off), if it has: the writer's drain deadline counts
    /// from here.
    pub fn draining_since(&self) -> Option<Instant> {
        self.lock().draining_since
    }

    /// Was this member cut off as too slow?
    pub fn was_aborted(&self) -> bool {
        self.lock().aborted
    }
}

impl Queue {
    /// Nothing to write, and more may come: the writer's time to sleep.
    fn is_idle(&self) -> bool {
        self.waiting.is_empty() && self.draining_since.is_none()
    }

    /// Moves everything waiting into `batch`. `false` once the outbox is
    /// closed and empty.
    fn take_into(&mut self, batch: &mut Vec<Encoded>) -> bool {
        debug_assert!(batch.is_empty());
        if self.waiting.is_empty() {
            return self.draining_since.is_none();
        }
        std::mem::swap(&mut self.waiting, batch);
        (self.bytes, self.unfinished) = (0, false);
        self.above_soft_since = None;
        true
    }
}

/// The close frame a member gets when it is judged too slow, saying which
/// limit it broke. 1008 is "policy violation" (RFC 6455 §7.4.1): the
/// policy is "keep up".
pub fn too_slow_goodbye(why: PushError) -> Encoded {
    let payload = CloseFrame::encode(CloseCode::PolicyViolation, too_slow_reason(why));
    Arc::from(encode_frame(Opcode::Close, &payload, None))
}

/// The words for each way of being too slow, in close frames and logs.
pub fn too_slow_reason(why: PushError) -> &'static str {
    match why {
        PushError::Behind => "too slow: behind for too long",
        _ => "too slow: outbox full",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limited(soft: usize, hard: usize, grace: Duration) -> Arc<Outbox> {
        let (outbox_soft_bytes, outbox_hard_bytes, outbox_grace) = (soft, hard, grace);
        let limits =
            Limits { outbox_soft_bytes, outbox_hard_bytes, outbox_grace, ..Limits::default() };
        Arc::new(Outbox::new(&limits, too_slow_goodbye))
    }

    /// One limit, at any instant: no grace.
    fn bounded(limit: usize) -> Arc<Outbox> {
        limited(limit, limit, Duration::ZERO)
    }

    fn frame(text: &str) -> Encoded {
        Arc::from(encode_frame(Opcode::Text, text.as_bytes(), None))
    }

    fn take(outbox: &Outbox) -> Vec<Encoded> {
        let mut batch = Vec::new();
        assert!(outbox.take_all(&mut batch, Duration::MAX));
        batch
    }

    fn bytes(n: usize) -> Encoded {
        Arc::from(vec![b'x'; n])
    }

    #[test]
    fn above_the_soft_limit_a_backlog_has_its_grace_and_no_more() {
        let outbox = limited(10, 1000, Duration::ZERO);
        outbox.push(&[bytes(8)]).unwrap();
        // 16 > 10: the grace starts now. A backlog the writer takes starts
        // afresh.
        outbox.push(&[bytes(8)]).unwrap();
        assert_eq!(take(&outbox).len(), 2);
        outbox.push(&[bytes(8)]).unwrap();
        outbox.push(&[bytes(8)]).unwrap();
        assert_eq!(outbox.push(&[bytes(1)]), Err(PushError::Behind), "a zero grace is over");
        assert_eq!(take(&outbox), vec![too_slow_goodbye(PushError::Behind)]);
    }

    #[test]
    fn within_its_grace_a_backlog_may_grow_to_the_hard_limit_only() {
        let outbox = limited(10, 100, Duration::from_secs(3600));
        for _ in 0..10 {
            outbox.push(&[bytes(10)]).unwrap(); // up to 100: over soft, in its grace
        }
        assert_eq!(outbox.push(&[bytes(1)]), Err(PushError::Overflow));
        assert!(outbox.was_aborted());
        let reason = |why| {
            let frame = too_slow_goodbye(why);
            String::from_utf8_lossy(&frame[4..]).into_owned()
        };
        assert_eq!(reason(PushError::Overflow), "too slow: outbox full");
        assert_eq!(reason(PushError::Behind), "too slow: behind for too long");
    }

    #[test]
    fn frames_come_out_in_order_all_at_once() {
        let outbox = bounded(1024);
        let frames: Vec<Encoded> = ["a", "b", "c"].into_iter().map(frame).collect();
        for f in &frames {
            outbox.push(&[Arc::clone(f)]).unwrap();
        }
        let batch = take(&outbox);
        assert_eq!(batch, frames);
        // The same allocations: a push shares the frame, it does not copy it.
        assert!(batch.iter().zip(&frames).all(|(a, b)| Arc::ptr_eq(a, b)));
        let mut empty = Vec::new();
        assert!(outbox.take_all(&mut empty, Duration::ZERO));
        assert!(empty.is_empty(), "all of it was taken");
    }

    #[test]
    fn the_bound_is_in_bytes_and_an_empty_outbox_takes_anything() {
        let outbox = bounded(10);
        outbox.push(&[frame("1234")]).unwrap(); // 6 bytes
        outbox.push(&[frame("12")]).unwrap(); // 6 + 4 = 10: exactly at the bound is fine
        assert_eq!(take(&outbox).len(), 2);
        let big = frame(&"z".repeat(100)); // 102 bytes, ten times the bound
        outbox.push(&[Arc::clone(&big)]).unwrap();
        assert_eq!(take(&outbox), vec![big]);
    }

    #[test]
    fn overflow_drops_the_backlog_for_one_close_frame() {
        let outbox = bounded(8);
        outbox.push(&[frame("hello")]).unwrap();
        assert_eq!(outbox.push(&[frame("world")]), Err(PushError::Overflow));
        assert!(outbox.was_aborted());
        assert!(outbox.draining_since().is_some());
        assert_eq!(outbox.push(&[frame("again")]), Err(PushError::Closed), "cut off once");
        let batch = take(&outbox);
        assert_eq!(batch, vec![too_slow_goodbye(PushError::Overflow)]);
        assert_eq!(&batch[0][2..4], &1008u16.to_be_bytes());
        assert!(!outbox.take_all(&mut Vec::new(), Duration::MAX), "the writer is told to stop");
    }

    fn close_frame() -> Encoded {
        Arc::from(encode_frame(Opcode::Close, &1000u16.to_be_bytes(), None))
    }

    #[test]
    fn nothing_can_follow_a_frame_pushed_last() {
        let outbox = bounded(1024);
        outbox.push(&[frame("before")]).unwrap();
        assert_eq!(outbox.draining_since(), None);
        outbox.push_last(&[close_frame()]).unwrap();
        assert!(outbox.draining_since().is_some(), "the drain has started");
        // The room's next broadcast, a microsecond too late: refused, not
        // queued behind the close frame (RFC 6455 §5.5.1).
        assert_eq!(outbox.push(&[frame("after")]), Err(PushError::Closed));
        assert_eq!(outbox.push_last(&[close_frame()]), Err(PushError::Closed));
        assert!(!outbox.was_aborted());
        assert_eq!(take(&outbox), vec![frame("before"), close_frame()]);
        assert!(
            !outbox.take_all(&mut Vec::new(), Duration::MAX),
            "then the writer is told to stop"
        );
    }

    #[test]
    fn a_last_frame_that_does_not_fit_gives_way_to_the_1008_close() {
        let outbox = bounded(8);
        outbox.push(&[frame("hello")]).unwrap();
        assert_eq!(outbox.push_last(&[close_frame()]), Err(PushError::Overflow));
        assert!(outbox.was_aborted());
        assert_eq!(outbox.push(&[frame("late")]), Err(PushError::Closed));
        assert_eq!(take(&outbox), vec![too_slow_goodbye(PushError::Overflow)]);
    }

    #[test]
    fn close_lets_the_writer_finish_the_queue_and_finish_drops_it() {
        let outbox = bounded(1024);
        outbox.push(&[frame("last words")]).unwrap();
        outbox.close();
        assert_eq!(outbox.push(&[frame("too late")]), Err(PushError::Closed));
        assert_eq!(take(&outbox).len(), 1);
        assert!(!outbox.take_all(&mut Vec::new(), Duration::MAX));
        assert!(!outbox.was_aborted());

        let dead = bounded(1024);
        dead.push(&[frame("never written")]).unwrap();
        dead.finish();
        assert_eq!(dead.push(&[frame("too late")]), Err(PushError::Closed));
        assert!(!dead.take_all(&mut Vec::new(), Duration::MAX), "nothing is left");
    }

    #[test]
    fn take_all_times_out_on_an_empty_outbox_and_sees_the_end() {
        let outbox = bounded(1024);
        let mut batch = Vec::new();
        let quick = Duration::from_millis(1);
        assert!(outbox.take_all(&mut batch, quick));
        assert!(batch.is_empty(), "nothing came in time");
        outbox.push(&[frame("x")]).unwrap();
        assert!(outbox.take_all(&mut batch, quick));
        assert_eq!(batch.len(), 1);
        batch.clear();
        outbox.close();
        assert!(!outbox.take_all(&mut batch, quick));
    }

    #[test]
    fn a_waiting_writer_is_woken() {
        let outbox = bounded(1024);
        let writer = {
            let outbox = Arc::clone(&outbox);
            std::thread::spawn(move || {
                let mut taken = 0;
                let mut batch = Vec::new();
                while outbox.take_all(&mut batch, Duration::MAX) {
                    taken += batch.len();
                    batch.clear();
                }
                taken
            })
        };
        for _ in 0..100 {
            outbox.push(&[frame("m")]).unwrap();
        }
        outbox.close();
        assert_eq!(writer.join().unwrap(), 100);
    }
}
