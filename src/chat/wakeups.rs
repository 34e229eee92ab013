//! # Waking writers in batches: a measured improvement
//!
//! The room as `room.rs` first describes it pushes a frame into each
//! member's outbox, and the outbox signals that member's sleeping writer
//! thread. That is correct, and it is slow in one particular way: waking
//! a sleeping thread is the most expensive thing fan-out does. On the test
//! machine a wake-up across cores costs tens of microseconds, far more
//! than queueing a frame; with one wake-up per member per message, 1,000
//! members received about 56,000 messages a second in all
//! (`docs/performance.md`).
//!
//! The fix is to wake each writer once per *burst* instead of once per
//! message. A member's *reader* thread, which is the one broadcasting what
//! its member says, puts its wake-ups off ([`defer_on_this_thread`]): a
//! push that finds an outbox empty ([`Outbox::push`]) notes that this
//! thread owes its writer a wake-up ([`wake_soon`]) instead of waking it.
//! The thread pays what it owes when it is about to block waiting for more
//! input: [`WakeBeforeBlocking`] is the member's socket reader, and it
//! calls [`wake_pending`] every time it must ask the socket for more.
//! While messages keep arriving, they pile up in the outboxes; when the
//! burst ends, each writer is woken once and sends the whole pile in one
//! `writev`. The same 1,000 members then received about 1.6 million
//! messages a second.
//!
//! Two rules keep this safe:
//! - A wake is never lost. What is owed is paid before the thread blocks
//!   on its socket, and when it stops deferring: when the guard
//!   [`Deferring`] is dropped, however that happens, a panic included.
//!   (A lost wake would be bad: the writer would sleep with frames queued,
//!   and later pushes would not wake it, since its queue is not empty.)
//! - Only threads that asked for it defer. Any other thread that pushes
//!   (an HTTP sender, say) wakes writers at once.
//!
//! Paying a deferred wake-up may do more than wake. The thread pays it
//! outside every lock, so it may write a small batch to the socket in the
//! sleeping writer's place, and wake no one ([`Sleeper::wake`]; how, and
//! the traps, in `outbox/handover.rs`). This file knows the writer only as a
//! [`Sleeper`].
//!
//! The list is per *thread* (a `thread_local!`) rather than passed around,
//! because the room is called from many places and only the caller knows
//! whether it is about to read again.
//!
//! [`Outbox::push`]: super::outbox::Outbox::push
//!
//! Read next: `src/chat/outbox/handover.rs`, the second improvement:
//! paying a wake-up by doing the writer's work.

use std::cell::RefCell;
use std::io::{self, BufReader, Read};
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use crate::websocket::Hangup;

thread_local! {
    /// `Some` while this thread defers its wake-ups: each writer it owes
    /// one.
    static OWED: RefCell<Option<Vec<Arc<dyn Sleeper>>>> = const { RefCell::new(None) };
}

/// From now on, until the returned guard is dropped, this thread's
/// wake-ups wait for [`wake_pending`].
///
/// Called again while a guard lives, it keeps the list it finds: a fresh
/// one would throw away wake-ups already owed, and a writer left asleep
/// with frames queued is never woken by later pushes. The inner guard's
/// drop then pays everything early and ends the deferring: early, never
/// lost.
pub fn defer_on_this_thread() -> Deferring {
    OWED.with(|owed| _ = owed.borrow_mut().get_or_insert_with(Vec::new));
    Deferring(PhantomData)
}

/// This thread defers its wake-ups while this lives; dropping it wakes
/// whatever is owed. (Not `Send`: it belongs to the thread that made it.)
#[must_use]
pub struct Deferring(PhantomData<*const ()>);

impl Drop for Deferring {
    fn drop(&mut self) {
        wake_pending();
        OWED.with(|owed| *owed.borrow_mut() = None);
    }
}

/// A sleeping writer thread, as this file sees it: something to wake.
/// (An outbox: this file needs to know nothing else about it.)
pub trait Sleeper: Send + Sync {
    /// Wakes the writer. `deferred` says the wake-up is paid late, by
    /// the thread that owed it, outside every lock: that thread may do
    /// the writer's work in its place instead (`outbox/handover.rs`).
    fn wake(&self, deferred: bool);
}

/// Wakes `writer`: now, or, if this thread defers, at its next
/// [`wake_pending`].
pub fn wake_soon(writer: &Arc<impl Sleeper + 'static>) {
    OWED.with(|owed| match owed.borrow_mut().as_mut() {
        Some(list) => list.push(writer.clone()),
        None => writer.wake(false),
    });
}

/// Wakes now every writer this thread owes a wake-up (none if it does not
/// defer). Cheap when there is nothing to do.
pub fn wake_pending() {
    let owed = OWED.with(|owed| owed.borrow_mut().as_mut().map(std::mem::take));
    for writer in owed.into_iter().flatten() {
        writer.wake(true);
    }
}

/// A member's socket reader that pays its debts before it may block: every
/// read it passes on to the socket is preceded by [`wake_pending`]. Reads
/// served from bytes already here (`leftover`, what arrived with the
/// upgrade) cannot block, and wake nobody.
///
/// Wrapped in the buffer the member's `WebSocket` reads through, it is
/// asked for more only when that buffer is empty: exactly the moment the
/// burst of messages already received has been handled.
pub struct WakeBeforeBlocking<R> {
    leftover: io::Cursor<Vec<u8>>,
    socket: R,
}

impl<R: Read> WakeBeforeBlocking<R> {
    /// The connection's buffered reader, rebuilt around this: the bytes it
    /// already holds (frames sent right behind the handshake) come first.
    pub fn around(reader: BufReader<R>) -> BufReader<WakeBeforeBlocking<R>> {
        let leftover = io::Cursor::new(reader.buffer().to_vec());
        BufReader::new(WakeBeforeBlocking { leftover, socket: reader.into_inner() })
    }
}

impl<R: Read> Read for WakeBeforeBlocking<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.leftover.position() < self.leftover.get_ref().len() as u64 {
            return self.leftover.read(buf);
        }
        wake_pending();
        self.socket.read(buf)
    }
}

/// Ending the conversation is the socket's business.
impl<R: Hangup> Hangup for WakeBeforeBlocking<R> {
    fn stop_writing(&mut self, linger: Duration) {
        self.socket.stop_writing(linger);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::outbox::{too_slow_goodbye, Encoded, Outbox};
    use crate::config::Limits;

    fn outbox() -> Arc<Outbox> {
        Arc::new(Outbox::new(&Limits::default(), too_slow_goodbye))
    }

    fn frame(text: &str) -> Encoded {
        Arc::from(text.as_bytes())
    }

    fn take(outbox: &Outbox) -> usize {
        let mut batch = Vec::new();
        outbox.take_all(&mut batch, Duration::MAX);
        batch.len()
    }

    fn owed() -> Option<usize> {
        OWED.with(|owed| owed.borrow().as_ref().map(Vec::len))
    }

    #[test]
    fn a_deferring_thread_owes_one_wake_per_outbox_per_burst() {
        let outboxes: Vec<Arc<Outbox>> = (0..3).map(|_| outbox()).collect();
        let deferring = defer_on_this_thread();
        for message in 0..10 {
            for outbox in &outboxes {
                outbox.push(&[frame(&format!("m{message}"))]).unwrap();
            }
        }
        assert_eq!(owed(), Some(3), "one wake-up owed per outbox, not per message");
        wake_pending();
        assert_eq!(owed(), Some(0));
        assert_eq!(take(&outboxes[0]), 10);
        // A writer that has taken everything may sleep again: owed anew.
        outboxes[0].push(&[frame("again")]).unwrap();
        outboxes[0].push(&[frame("and again")]).unwrap();
        assert_eq!(owed(), Some(1));
        drop(deferring);
        assert_eq!(owed(), None, "paid, and no longer deferring");
        assert_eq!(take(&outboxes[0]), 2);
        for outbox in &outboxes[1..] {
            assert_eq!(take(outbox), 10);
        }
    }

    #[test]
    fn a_thread_that_does_not_defer_owes_nothing() {
        let outbox = outbox();
        outbox.push(&[frame("now")]).unwrap();
        assert_eq!(owed(), None);
        assert_eq!(take(&outbox), 1);
    }

    #[test]
    fn the_reader_wakes_before_asking_the_socket_but_not_for_leftover_bytes() {
        let outbox = outbox();
        let _deferring = defer_on_this_thread();
        outbox.push(&[frame("owed")]).unwrap();
        let socket: &[u8] = b"from the socket";
        let mut reader =
            WakeBeforeBlocking { leftover: io::Cursor::new(b"early".to_vec()), socket };
        let mut buf = [0u8; 64];
        assert_eq!(reader.read(&mut buf).unwrap(), 5);
        assert_eq!(owed(), Some(1), "leftover bytes are no reason to wake anyone");
        assert_eq!(reader.read(&mut buf).unwrap(), 15);
        assert_eq!(owed(), Some(0), "paid before the socket read");
    }

    /// A writer that only counts how often it is woken.
    struct CountingSleeper(std::sync::atomic::AtomicUsize);

    impl Sleeper for CountingSleeper {
        fn wake(&self, _deferred: bool) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    #[test]
    fn a_nested_guard_loses_nothing_the_outer_one_owes() {
        let writer = Arc::new(CountingSleeper(Default::default()));
        let woken = || writer.0.load(std::sync::atomic::Ordering::SeqCst);
        let outer = defer_on_this_thread();
        wake_soon(&writer);
        assert_eq!(woken(), 0, "deferred");
        drop(defer_on_this_thread());
        assert_eq!(woken(), 1, "the inner guard paid what the outer one owed");
        assert_eq!(owed(), None, "and ended the deferring");
        wake_soon(&writer);
        assert_eq!(woken(), 2, "no longer deferring: woken at once");
        drop(outer);
        assert_eq!(woken(), 2);
    }

    #[test]
    fn a_panic_still_pays_what_is_owed() {
        let outbox = outbox();
        let panicked = std::panic::catch_unwind(|| {
            let _deferring = defer_on_this_thread();
            outbox.push(&[frame("owed")]).unwrap();
            assert_eq!(owed(), Some(1));
            panic!("a bug, after the push");
        });
        assert!(panicked.is_err());
        assert_eq!(owed(), None, "the guard paid on the way out, and stopped deferring");
    }
}
