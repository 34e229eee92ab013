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
//! The queue is bounded in **bytes**, not in frames: a bound of "100
//! frames" holds 100 short lines in a few KiB but 100 images in 800 MiB.
//! And it is judged **over time**, not at one instant ([`OutboxLimits`],
//! as Redis judges a client's output buffer): one sender can fill every
//! outbox in a millisecond, before a busy machine has scheduled the writers
//! that would empty them, and a member that keeps up perfectly must not be
//! dropped for that. So there are two limits:
//!
//! - a **soft** limit (1 MiB by default), which the backlog may pass for a
//!   while: a push that finds it above the soft limit for longer than the
//!   **grace** (3 s) is refused ([`PushError::Behind`]);
//! - a **hard** limit (8 MiB), the memory bound, which it may not pass at
//!   all ([`PushError::Overflow`]).
//!
//! Either way the member is judged too slow: its backlog is thrown away and
//! replaced by one close frame, code 1008, "policy violation" (RFC 6455
//! §7.4.1; see [`Outbox::abort`]). Nobody else waits for it. The backlog is
//! what waits *behind* the writer: taking a batch empties it, and a
//! backlog that falls back under the soft limit starts its grace afresh.
//!
//! Three details that matter:
//!
//! - **A wake-up only when the queue was empty.** The writer sleeps on a
//!   `Condvar` while the queue is empty. A push signals it only when the
//!   queue goes from empty to non-empty: if the queue already held
//!   something, the writer is either awake or already signalled. (The room
//!   goes one step further and puts the signal off until a burst is over,
//!   with [`push_all_quietly`](Outbox::push_all_quietly) and `wakeups.rs`.)
//! - **The writer takes everything at once** ([`Outbox::take_all`]) and
//!   writes it with one `writev` call. A member who fell behind by fifty
//!   messages catches up in one system call, not fifty. The queue's `Vec` is
//!   *swapped* with the writer's empty one, so after warm-up no batch
//!   allocates.
//! - **An empty outbox accepts any one push**, however large. Files may be
//!   bigger than the bound (8 MiB against 1 MiB by default); refusing them
//!   would make every file a disconnection. So the bound limits the
//!   *backlog behind* whatever is being written, and a member holds at most
//!   about twice the bound (or twice the largest frame) in memory: one batch
//!   in flight and one queued. The frames themselves are shared `Arc`s, so
//!   a file queued for a hundred members is in memory once.
//!
//! ## The close frame is the last frame
//!
//! RFC 6455 §5.5.1: after sending a Close frame, an endpoint "MUST NOT
//! send any more data frames". Here that is a property of the queue, not of
//! good timing: the pushes that queue a close frame ([`Outbox::push_last`]
//! for the member's own close, [`Outbox::abort`] for the 1008 one) also stop
//! the outbox taking anything else, *under the same lock*. A broadcast that
//! arrives a microsecond later finds the outbox closed
//! ([`PushError::Closed`]) and is skipped; it cannot slip in behind the
//! close frame while the member is still on its way out of the room.
//!
//! From that moment the outbox is *draining*: the writer sends what is
//! queued, and then stops. [`Outbox::draining_since`] says when that
//! began, so the writer can give the drain a total deadline (`member.rs`).
//!
//! Read next: `src/chat/outbox_writer.rs`, how a member's own `WebSocket`
//! writes into its outbox.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::websocket::frame::{encode_frame, Opcode};
use crate::websocket::{CloseCode, CloseFrame};

/// Bytes ready for the wire, encoded once and shared (an `Arc`) by every
/// outbox they were pushed into: one or more whole WebSocket frames for a
/// chat member, whole Server-Sent Events for an event-stream listener.
pub type Encoded = Arc<[u8]>;

/// What [`Outbox::take_all_within`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    /// Frames were moved into the batch.
    Frames,
    /// Nothing arrived in time; the outbox is still open.
    TimedOut,
    /// The outbox is closed and empty: the writer's cue to stop.
    Finished,
}

/// Why a push was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushError {
    /// The backlog would pass the hard limit: the member is too slow.
    Overflow,
    /// The backlog has been above the soft limit for longer than the grace:
    /// the member is too slow.
    Behind,
    /// The outbox is closing or finished; nothing more goes out.
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Accepting pushes.
    Open,
    /// No more pushes; the writer sends what is queued, then stops.
    Draining,
    /// The writer has stopped; the queue stays empty.
    Finished,
}

/// What the outbox's lock guards.
#[derive(Debug)]
struct Queue {
    waiting: Vec<Encoded>,
    /// Bytes in `waiting`. What the writer has taken is no longer counted.
    bytes: usize,
    phase: Phase,
    /// When the phase left `Open`: the start of the drain, which the
    /// writer gives a deadline.
    draining_since: Option<Instant>,
    /// Set by [`Outbox::abort`]: the member was disconnected as too slow.
    aborted: bool,
    /// How many pushes found the queue empty, and so owed the writer a
    /// wake-up (for tests and teaching).
    wakeups: u64,
    /// Since when the backlog has been above the soft limit, if it is.
    above_soft_since: Option<Instant>,
}

/// The two limits and the grace of one outbox (see the top of this file;
/// the defaults and their reasons are in `src/config.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboxLimits {
    pub soft: usize,
    pub hard: usize,
    pub grace: Duration,
}

impl OutboxLimits {
    pub fn from(limits: &crate::config::Limits) -> OutboxLimits {
        OutboxLimits {
            soft: limits.outbox_soft_bytes,
            hard: limits.outbox_hard_bytes,
            grace: limits.outbox_grace,
        }
    }
}

/// A byte-bounded queue of frames for one member.
#[derive(Debug)]
pub struct Outbox {
    limits: OutboxLimits,
    queue: Mutex<Queue>,
    /// Signalled when the queue becomes non-empty or the phase changes.
    ready: Condvar,
}

impl Outbox {
    /// An outbox that holds at most `limit` bytes of backlog, at any
    /// instant: one limit, no grace.
    pub fn new(limit: usize) -> Outbox {
        Outbox::with_limits(OutboxLimits { soft: limit, hard: limit, grace: Duration::ZERO })
    }

    /// An outbox judged over time, as a chat member's is.
    pub fn with_limits(limits: OutboxLimits) -> Outbox {
        let queue = Queue {
            waiting: Vec::new(),
            bytes: 0,
            phase: Phase::Open,
            draining_since: None,
            aborted: false,
            wakeups: 0,
            above_soft_since: None,
        };
        Outbox { limits, queue: Mutex::new(queue), ready: Condvar::new() }
    }

    /// A panic on another thread while it held this lock leaves the queue
    /// in a valid state (every method changes it in one step), so we carry
    /// on rather than spread the panic to every member of the room.
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues one frame; see [`push_all`](Self::push_all).
    pub fn push(&self, frame: Encoded) -> Result<(), PushError> {
        self.push_all(&[frame])
    }

    /// Queues `frames` together: all of them or none. A `file` event and the
    /// file's bytes go in one call, so a member never gets the announcement
    /// without the file. Never blocks; wakes the writer if it was idle.
    pub fn push_all(&self, frames: &[Encoded]) -> Result<(), PushError> {
        let mut queue = self.lock();
        self.enqueue(&mut queue, frames)
    }

    /// Queues `frames` like [`push_all`](Self::push_all), but does not
    /// signal the writer. `Ok(true)`: the queue was empty, so the writer
    /// may be asleep and the caller owes it a [`wake`](Self::wake). The
    /// room's broadcasts use this to wake writers once per burst
    /// (`room.rs`, `wakeups.rs`).
    pub fn push_all_quietly(&self, frames: &[Encoded]) -> Result<bool, PushError> {
        let mut queue = self.lock();
        self.enqueue_quietly(&mut queue, frames)
    }

    /// Signals the writer that frames are waiting.
    pub fn wake(&self) {
        self.ready.notify_one();
    }

    /// Queues `frames`, which end with a close frame, and closes the outbox
    /// in the same step: every later push is refused, so nothing can follow
    /// the close frame onto the wire (RFC 6455 §5.5.1). What is already
    /// queued still goes out first, then the writer stops. Refused like any
    /// push if the outbox is closed or the frames do not fit.
    pub fn push_last(&self, frames: &[Encoded]) -> Result<(), PushError> {
        let mut queue = self.lock();
        self.enqueue(&mut queue, frames)?;
        self.start_draining(&mut queue);
        Ok(())
    }

    /// The push itself, with the lock held, and the wake-up it owes.
    fn enqueue(&self, queue: &mut Queue, frames: &[Encoded]) -> Result<(), PushError> {
        if self.enqueue_quietly(queue, frames)? {
            self.ready.notify_one();
        }
        Ok(())
    }

    /// The phase, the limits, and whether the queue was empty. (An empty
    /// queue takes any one push: see the top of this file.)
    fn enqueue_quietly(&self, queue: &mut Queue, frames: &[Encoded]) -> Result<bool, PushError> {
        if queue.phase != Phase::Open {
            return Err(PushError::Closed);
        }
        let size: usize = frames.iter().map(|frame| frame.len()).sum();
        let was_empty = queue.waiting.is_empty();
        let backlog = queue.bytes + size;
        if !was_empty && backlog > self.limits.hard {
            return Err(PushError::Overflow);
        }
        if !was_empty && backlog > self.limits.soft {
            // The grace starts at the first push above the soft limit. The
            // clock is read only while the backlog is above it: a member
            // that keeps up never pays for it.
            match queue.above_soft_since {
                None => queue.above_soft_since = Some(Instant::now()),
                Some(since) if since.elapsed() >= self.limits.grace => {
                    return Err(PushError::Behind);
                }
                Some(_) => {}
            }
        }
        queue.waiting.extend(frames.iter().cloned());
        queue.bytes += size;
        if was_empty {
            queue.wakeups += 1;
        }
        Ok(was_empty)
    }

    /// No more pushes from now on; the writer sends what is queued, then
    /// stops. Only the first call counts (the drain starts once).
    fn start_draining(&self, queue: &mut Queue) {
        if queue.phase == Phase::Open {
            queue.phase = Phase::Draining;
            queue.draining_since = Some(Instant::now());
        }
        self.ready.notify_one();
    }

    /// Waits until there is something to write, then moves *all* of it into
    /// `batch` (which must be empty). Returns `false` when the outbox is
    /// closed and everything has been taken: the writer's cue to stop.
    pub fn take_all(&self, batch: &mut Vec<Encoded>) -> bool {
        self.take(batch, None) == Taken::Frames
    }

    /// The same, but waits at most `wait`. An event-stream writer uses the
    /// quiet time to send a heartbeat (`src/push/event_stream.rs`).
    pub fn take_all_within(&self, batch: &mut Vec<Encoded>, wait: Duration) -> Taken {
        self.take(batch, Some(Instant::now() + wait))
    }

    fn take(&self, batch: &mut Vec<Encoded>, deadline: Option<Instant>) -> Taken {
        debug_assert!(batch.is_empty());
        let mut queue = self.lock();
        loop {
            if !queue.waiting.is_empty() {
                std::mem::swap(&mut queue.waiting, batch);
                queue.bytes = 0;
                queue.above_soft_since = None;
                return Taken::Frames;
            }
            if queue.phase != Phase::Open {
                queue.phase = Phase::Finished;
                return Taken::Finished;
            }
            // `wait` releases the lock while asleep. It may also return for
            // no reason at all (a "spurious wake-up"), which is why it sits
            // in a loop that checks the queue again.
            queue = match deadline {
                None => self.ready.wait(queue).unwrap_or_else(PoisonError::into_inner),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Taken::TimedOut;
                    }
                    let waited = self.ready.wait_timeout(queue, left);
                    waited.unwrap_or_else(PoisonError::into_inner).0
                }
            };
        }
    }

    /// No more pushes; the writer finishes what is queued, then stops.
    pub fn close(&self) {
        let mut queue = self.lock();
        self.start_draining(&mut queue);
    }

    /// Gives up on this member: drops the backlog, queues `goodbye` (a close
    /// frame) in its place, and refuses everything after it, in one step,
    /// as [`push_last`](Self::push_last) does: the goodbye is the last thing
    /// the member receives. What the writer has already taken is still
    /// written whole, so the goodbye never lands in the middle of a frame.
    ///
    /// An outbox that is already draining is left alone: whatever it ends
    /// with (the member's own close frame, queued by `push_last`) stays its
    /// last frame.
    pub fn abort(&self, goodbye: Encoded) {
        let mut queue = self.lock();
        if queue.phase != Phase::Open {
            return;
        }
        queue.waiting.clear();
        queue.bytes = 0;
        queue.above_soft_since = None;
        // An empty, open outbox takes any one push, so this cannot fail.
        let _ = self.enqueue(&mut queue, &[goodbye]);
        queue.aborted = true;
        self.start_draining(&mut queue);
    }

    /// The writer has stopped (or failed): drop whatever is left and refuse
    /// every later push, so a dead member's outbox holds no memory.
    pub fn finish(&self) {
        let mut queue = self.lock();
        queue.waiting = Vec::new();
        queue.bytes = 0;
        queue.phase = Phase::Finished;
        self.ready.notify_one();
    }

    /// When the outbox stopped taking pushes (`close`, `push_last` or
    /// `abort`), if it has: the writer's drain deadline counts from here.
    pub fn draining_since(&self) -> Option<Instant> {
        self.lock().draining_since
    }

    /// Was this member disconnected as too slow?
    pub fn was_aborted(&self) -> bool {
        self.lock().aborted
    }

    /// Bytes queued and not yet taken by the writer.
    pub fn queued_bytes(&self) -> usize {
        self.lock().bytes
    }

    /// How many pushes found the queue empty (and owed a wake-up).
    pub fn wakeups(&self) -> u64 {
        self.lock().wakeups
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

/// Pushes `frames`, and applies the slow-consumer rule if they do not fit:
/// the backlog is replaced by `goodbye` (a close frame for a WebSocket
/// member; the push layer passes an event for an event stream). Returns
/// why, when this push is the one that cut the member off. A member that
/// is leaving refuses the frames (`Closed`): they have no one to go to.
pub fn push_or_abort(
    outbox: &Outbox,
    frames: &[Encoded],
    goodbye: fn(PushError) -> Encoded,
) -> Option<PushError> {
    match outbox.push_all(frames) {
        Err(why @ (PushError::Overflow | PushError::Behind)) => {
            outbox.abort(goodbye(why));
            Some(why)
        }
        Ok(()) | Err(PushError::Closed) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(text: &str) -> Encoded {
        Arc::from(encode_frame(Opcode::Text, text.as_bytes(), None))
    }

    fn take(outbox: &Outbox) -> Vec<Encoded> {
        let mut batch = Vec::new();
        assert!(outbox.take_all(&mut batch));
        batch
    }

    fn bytes(n: usize) -> Encoded {
        Arc::from(vec![b'x'; n])
    }

    #[test]
    fn above_the_soft_limit_a_backlog_has_its_grace_and_no_more() {
        let limits = OutboxLimits { soft: 10, hard: 1000, grace: Duration::ZERO };
        let outbox = Outbox::with_limits(limits);
        outbox.push(bytes(8)).unwrap();
        outbox.push(bytes(8)).unwrap(); // 16 > 10: the grace starts now
        assert_eq!(outbox.push(bytes(1)), Err(PushError::Behind), "a zero grace is over");
        // A backlog the writer takes starts afresh.
        assert_eq!(take(&outbox).len(), 2);
        outbox.push(bytes(8)).unwrap();
        outbox.push(bytes(8)).unwrap();
        assert_eq!(outbox.queued_bytes(), 16);
    }

    #[test]
    fn within_its_grace_a_backlog_may_grow_to_the_hard_limit_only() {
        let hour = Duration::from_secs(3600);
        let outbox = Outbox::with_limits(OutboxLimits { soft: 10, hard: 100, grace: hour });
        for _ in 0..10 {
            outbox.push(bytes(10)).unwrap(); // up to 100: over soft, in its grace
        }
        assert_eq!(outbox.push(bytes(1)), Err(PushError::Overflow));
        assert_eq!(outbox.queued_bytes(), 100);
        let reason = |why| {
            let frame = too_slow_goodbye(why);
            String::from_utf8_lossy(&frame[4..]).into_owned()
        };
        assert_eq!(reason(PushError::Overflow), "too slow: outbox full");
        assert_eq!(reason(PushError::Behind), "too slow: behind for too long");
    }

    #[test]
    fn frames_come_out_in_order_all_at_once() {
        let outbox = Outbox::new(1024);
        let frames: Vec<Encoded> = ["a", "b", "c"].into_iter().map(frame).collect();
        for f in &frames {
            outbox.push(Arc::clone(f)).unwrap();
        }
        assert_eq!(outbox.queued_bytes(), 9);
        let batch = take(&outbox);
        assert_eq!(batch, frames);
        // The same allocations: a push shares the frame, it does not copy it.
        assert!(batch.iter().zip(&frames).all(|(a, b)| Arc::ptr_eq(a, b)));
        assert_eq!(outbox.queued_bytes(), 0);
    }

    #[test]
    fn one_wakeup_per_burst() {
        let outbox = Outbox::new(1024);
        for _ in 0..10 {
            outbox.push(frame("x")).unwrap();
        }
        assert_eq!(outbox.wakeups(), 1);
        take(&outbox);
        for _ in 0..5 {
            outbox.push(frame("y")).unwrap();
        }
        assert_eq!(outbox.wakeups(), 2);
    }

    #[test]
    fn the_bound_is_in_bytes_and_an_empty_outbox_takes_anything() {
        let outbox = Outbox::new(10);
        let big = frame(&"z".repeat(100)); // 102 bytes, ten times the bound
        outbox.push(Arc::clone(&big)).unwrap();
        assert_eq!(outbox.push(frame("a")), Err(PushError::Overflow));
        assert_eq!(take(&outbox), vec![big]);
        outbox.push(frame("1234")).unwrap(); // 6 bytes
        assert_eq!(outbox.push(frame("12345")), Err(PushError::Overflow)); // 6 + 7 > 10
        outbox.push(frame("12")).unwrap(); // 6 + 4 = 10: exactly at the bound is fine

        // All or nothing: a pair that does not fit leaves the queue as it was.
        assert_eq!(outbox.push_all(&[frame(""), frame("")]), Err(PushError::Overflow));
        assert_eq!(take(&outbox).len(), 2);
    }

    #[test]
    fn overflow_drops_the_backlog_for_one_close_frame() {
        let outbox = Outbox::new(8);
        outbox.push(frame("hello")).unwrap();
        assert!(push_or_abort(&outbox, &[frame("world")], too_slow_goodbye).is_some());
        assert!(outbox.was_aborted());
        assert!(
            push_or_abort(&outbox, &[frame("again")], too_slow_goodbye).is_none(),
            "cut off once"
        );
        let batch = take(&outbox);
        assert_eq!(batch, vec![too_slow_goodbye(PushError::Overflow)]);
        assert_eq!(&batch[0][2..4], &1008u16.to_be_bytes());
        assert_eq!(outbox.push(frame("late")), Err(PushError::Closed));
        assert!(!outbox.take_all(&mut Vec::new()), "the writer is told to stop");
    }

    fn close_frame() -> Encoded {
        Arc::from(encode_frame(Opcode::Close, &1000u16.to_be_bytes(), None))
    }

    #[test]
    fn nothing_can_follow_a_frame_pushed_last() {
        let outbox = Outbox::new(1024);
        outbox.push(frame("before")).unwrap();
        assert_eq!(outbox.draining_since(), None);
        outbox.push_last(&[close_frame()]).unwrap();
        assert!(outbox.draining_since().is_some(), "the drain has started");
        // The room's next broadcast, a microsecond too late: refused, not
        // queued behind the close frame (RFC 6455 §5.5.1).
        assert_eq!(outbox.push(frame("after")), Err(PushError::Closed));
        assert_eq!(outbox.push_last(&[close_frame()]), Err(PushError::Closed));
        // Being found too slow now changes nothing: the close is still last.
        outbox.abort(too_slow_goodbye(PushError::Overflow));
        assert!(!outbox.was_aborted());
        assert_eq!(take(&outbox), vec![frame("before"), close_frame()]);
        assert!(!outbox.take_all(&mut Vec::new()), "then the writer is told to stop");
    }

    #[test]
    fn a_last_frame_that_does_not_fit_is_refused_and_closes_nothing() {
        let outbox = Outbox::new(8);
        outbox.push(frame("hello")).unwrap();
        assert_eq!(outbox.push_last(&[close_frame()]), Err(PushError::Overflow));
        assert_eq!(outbox.draining_since(), None, "still open: the caller decides");
        // What the caller (`OutboxWriter`) then does: the 1008 close, which
        // is just as final.
        assert!(push_or_abort(&outbox, &[close_frame()], too_slow_goodbye).is_some());
        assert!(outbox.draining_since().is_some());
        assert_eq!(outbox.push(frame("late")), Err(PushError::Closed));
        assert_eq!(take(&outbox), vec![too_slow_goodbye(PushError::Overflow)]);
    }

    #[test]
    fn close_lets_the_writer_finish_the_queue() {
        let outbox = Outbox::new(1024);
        outbox.push(frame("last words")).unwrap();
        outbox.close();
        assert_eq!(outbox.push(frame("too late")), Err(PushError::Closed));
        assert_eq!(take(&outbox).len(), 1);
        assert!(!outbox.take_all(&mut Vec::new()));
        assert!(!outbox.was_aborted());
    }

    #[test]
    fn take_within_times_out_on_an_empty_outbox_and_sees_the_end() {
        let outbox = Outbox::new(1024);
        let mut batch = Vec::new();
        let quick = Duration::from_millis(1);
        assert_eq!(outbox.take_all_within(&mut batch, quick), Taken::TimedOut);
        outbox.push(frame("x")).unwrap();
        assert_eq!(outbox.take_all_within(&mut batch, quick), Taken::Frames);
        assert_eq!(batch.len(), 1);
        batch.clear();
        outbox.close();
        assert_eq!(outbox.take_all_within(&mut batch, quick), Taken::Finished);
    }

    #[test]
    fn a_waiting_writer_is_woken() {
        let outbox = Arc::new(Outbox::new(1024));
        let writer = {
            let outbox = Arc::clone(&outbox);
            std::thread::spawn(move || {
                let mut taken = 0;
                let mut batch = Vec::new();
                while outbox.take_all(&mut batch) {
                    taken += batch.len();
                    batch.clear();
                }
                taken
            })
        };
        for _ in 0..100 {
            outbox.push(frame("m")).unwrap();
        }
        outbox.close();
        assert_eq!(writer.join().unwrap(), 100);
    }
}
