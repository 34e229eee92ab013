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
//! its member says, does not wake writers at once. It notes which outboxes
//! went from empty to non-empty ([`push_soon`]) and wakes them all when it
//! is about to block waiting for more input: [`WakeBeforeBlocking`] is the
//! member's socket reader, and it calls [`wake_pending`] every time its
//! buffer is empty and it must ask the socket for more. While messages
//! keep arriving, they pile up in the outboxes; when the burst ends, each
//! writer is woken once and sends the whole pile in one `writev`. The same
//! 1,000 members then received about 1.6 million messages a second.
//!
//! Two rules keep this safe:
//! - A wake is never lost. The pending list is flushed before the thread
//!   blocks on its socket and when it stops deferring; and it is flushed by
//!   its `Drop` if the thread ends any other way, a panic included.
//!   (A lost wake would be bad: the writer would sleep with frames queued,
//!   and later pushes would not wake it, since its queue is not empty.)
//! - Only threads that asked for it defer ([`defer_on_this_thread`]). Any
//!   other thread that broadcasts (an HTTP sender, say) wakes writers at
//!   once, as before.
//!
//! The list is per *thread* (a `thread_local!`) rather than passed around,
//! because the room is called from many places and only the caller knows
//! whether it is about to read again.
//!
//! Read next: `src/chat/protocol.rs`, what the events look like.

use std::cell::RefCell;
use std::io::{self, Read};
use std::sync::Arc;
use std::time::Duration;

use super::outbox::{Encoded, Outbox, PushError};
use crate::websocket::Hangup;

/// Outboxes whose writers this thread owes a wake-up.
struct Owed(Vec<Arc<Outbox>>);

impl Drop for Owed {
    fn drop(&mut self) {
        for outbox in self.0.drain(..) {
            outbox.wake();
        }
    }
}

thread_local! {
    /// `Some` while this thread defers its wake-ups.
    static PENDING: RefCell<Option<Owed>> = const { RefCell::new(None) };
}

/// From now on, this thread's wake-ups wait for [`wake_pending`].
pub fn defer_on_this_thread() {
    PENDING.with(|pending| *pending.borrow_mut() = Some(Owed(Vec::new())));
}

/// Wakes now every writer this thread owes a wake-up (none if it does not
/// defer). Cheap when there is nothing to do.
pub fn wake_pending() {
    let owed = PENDING.with(|pending| match pending.borrow_mut().as_mut() {
        Some(Owed(list)) if !list.is_empty() => std::mem::take(list),
        _ => Vec::new(),
    });
    for outbox in owed {
        outbox.wake();
    }
}

/// Stops deferring, waking whatever is owed.
pub fn stop_deferring() {
    // Dropping the `Owed` wakes what it holds.
    let pending = PENDING.with(|pending| pending.borrow_mut().take());
    drop(pending);
}

/// The push every broadcast makes: queue `frames` without signalling, and
/// if the writer was idle, owe it a wake-up: now, or, on a thread that
/// defers, before this thread next waits for input.
pub fn push_soon(outbox: &Arc<Outbox>, frames: &[Encoded]) -> Result<(), PushError> {
    if !outbox.push_all_quietly(frames)? {
        return Ok(()); // not idle: awake, or already owed a wake-up
    }
    let deferred = PENDING.with(|pending| match pending.borrow_mut().as_mut() {
        Some(Owed(list)) => {
            list.push(Arc::clone(outbox));
            true
        }
        None => false,
    });
    if !deferred {
        outbox.wake();
    }
    Ok(())
}

/// A member's socket reader that pays its debts before it may block: every
/// read it passes on to the socket is preceded by [`wake_pending`]. Reads
/// served from bytes already here (`leftover`, what arrived with the
/// upgrade) cannot block, and wake nobody.
///
/// Wrapped in the `BufReader` the member's `WebSocket` reads through, it
/// is asked for more only when that buffer is empty: exactly the moment
/// the burst of messages already received has been handled.
pub struct WakeBeforeBlocking<R> {
    pub leftover: io::Cursor<Vec<u8>>,
    pub socket: R,
}

impl<R: Read> Read for WakeBeforeBlocking<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if (self.leftover.position() as usize) < self.leftover.get_ref().len() {
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
    fn frame(text: &str) -> Encoded {
        Arc::from(text.as_bytes())
    }

    fn take(outbox: &Outbox) -> usize {
        let mut batch = Vec::new();
        outbox.take_all(&mut batch);
        batch.len()
    }

    #[test]
    fn a_deferring_thread_owes_one_wake_per_outbox_per_burst() {
        let outboxes: Vec<Arc<Outbox>> = (0..3).map(|_| Arc::new(Outbox::new(1 << 20))).collect();
        defer_on_this_thread();
        for message in 0..10 {
            for outbox in &outboxes {
                push_soon(outbox, &[frame(&format!("m{message}"))]).unwrap();
            }
        }
        let owed = PENDING.with(|p| p.borrow().as_ref().map_or(0, |Owed(list)| list.len()));
        assert_eq!(owed, 3, "one wake-up owed per outbox, not per message");
        wake_pending();
        let owed = PENDING.with(|p| p.borrow().as_ref().map_or(0, |Owed(list)| list.len()));
        assert_eq!(owed, 0);
        stop_deferring();
        for outbox in &outboxes {
            assert_eq!(outbox.wakeups(), 1);
            assert_eq!(take(outbox), 10);
        }
    }

    #[test]
    fn a_thread_that_does_not_defer_owes_nothing() {
        let outbox = Arc::new(Outbox::new(1 << 20));
        push_soon(&outbox, &[frame("now")]).unwrap();
        assert!(PENDING.with(|p| p.borrow().is_none()));
        assert_eq!(take(&outbox), 1);
    }

    #[test]
    fn the_reader_wakes_before_asking_the_socket_but_not_for_leftover_bytes() {
        let outbox = Arc::new(Outbox::new(1 << 20));
        defer_on_this_thread();
        push_soon(&outbox, &[frame("owed")]).unwrap();
        let socket: &[u8] = b"from the socket";
        let mut reader =
            WakeBeforeBlocking { leftover: io::Cursor::new(b"early".to_vec()), socket };
        let mut buf = [0u8; 64];
        assert_eq!(reader.read(&mut buf).unwrap(), 5);
        let owed = PENDING.with(|p| p.borrow().as_ref().map_or(0, |Owed(list)| list.len()));
        assert_eq!(owed, 1, "leftover bytes are no reason to wake anyone");
        assert_eq!(reader.read(&mut buf).unwrap(), 15);
        let owed = PENDING.with(|p| p.borrow().as_ref().map_or(0, |Owed(list)| list.len()));
        assert_eq!(owed, 0, "paid before the socket read");
        stop_deferring();
    }
}
