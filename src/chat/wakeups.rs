//! # Waking writers in batches
//!
//! Every member's writer thread sleeps on its outbox until there is
//! something to send, and waking a sleeping thread is the most expensive
//! thing fan-out does: on the test machine a wake-up across cores costs
//! tens of microseconds, far more than queueing a frame
//! (`docs/performance.md`). If every broadcast woke every writer, a burst
//! of 100 messages to 1,000 members would cost 100,000 wake-ups.
//!
//! So a member's *reader* thread, which is the one broadcasting what its
//! member says, does not wake writers at once. It notes which outboxes
//! went from empty to non-empty ([`wake_soon`]) and wakes them all when it
//! is about to block waiting for more input ([`wake_pending`], called by
//! the server's socket reader before every read from the socket). While
//! messages keep arriving, they pile up in the outboxes; when the burst
//! ends, each writer is woken once and sends the whole pile in one write.
//!
//! Two rules keep this safe:
//! - A wake is never lost. The pending list is flushed before the thread
//!   blocks on its socket and when it stops deferring; and it is flushed by
//!   its `Drop` if the thread ends any other way, a panic included.
//!   (A lost wake would be bad: the writer would sleep with frames queued,
//!   and later pushes would not wake it, since its queue is not empty.)
//! - Only threads that asked for it defer ([`defer_on_this_thread`]). Any
//!   other thread that broadcasts (an HTTP sender, the Redis subscriber)
//!   wakes writers at once, as before.
//!
//! Read next: `src/chat/member.rs`, which turns deferral on for readers.

use std::cell::RefCell;
use std::sync::Arc;

use super::outbox::Outbox;

/// Outboxes whose writers this thread owes a wake-up.
struct Pending(Vec<Arc<Outbox>>);

impl Drop for Pending {
    fn drop(&mut self) {
        for outbox in self.0.drain(..) {
            outbox.wake();
        }
    }
}

thread_local! {
    /// `Some` while this thread defers its wake-ups.
    static PENDING: RefCell<Option<Pending>> = const { RefCell::new(None) };
}

/// From now on, this thread's wake-ups wait for [`wake_pending`].
pub fn defer_on_this_thread() {
    PENDING.with(|pending| *pending.borrow_mut() = Some(Pending(Vec::new())));
}

/// Wakes now every writer this thread owes a wake-up (none if it does not
/// defer). Cheap when there is nothing to do.
pub fn wake_pending() {
    let owed = PENDING.with(|pending| match pending.borrow_mut().as_mut() {
        Some(Pending(list)) if !list.is_empty() => std::mem::take(list),
        _ => Vec::new(),
    });
    for outbox in owed {
        outbox.wake();
    }
}

/// Stops deferring, waking whatever is owed.
pub fn stop_deferring() {
    // Dropping the `Pending` wakes what it holds.
    let pending = PENDING.with(|pending| pending.borrow_mut().take());
    drop(pending);
}

/// The writer of `outbox` has frames waiting: wake it now, or, on a thread
/// that defers, before this thread next waits for input.
pub fn wake_soon(outbox: &Arc<Outbox>) {
    let deferred = PENDING.with(|pending| match pending.borrow_mut().as_mut() {
        Some(Pending(list)) => {
            list.push(Arc::clone(outbox));
            true
        }
        None => false,
    });
    if !deferred {
        outbox.wake();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::outbox::{push_or_abort_batched, Frame};

    fn frame(text: &str) -> Frame {
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
                assert!(!push_or_abort_batched(outbox, &[frame(&format!("m{message}"))]));
            }
        }
        let owed = PENDING.with(|p| p.borrow().as_ref().map_or(0, |Pending(list)| list.len()));
        assert_eq!(owed, 3, "one wake-up owed per outbox, not per message");
        wake_pending();
        let owed = PENDING.with(|p| p.borrow().as_ref().map_or(0, |Pending(list)| list.len()));
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
        push_or_abort_batched(&outbox, &[frame("now")]);
        assert!(PENDING.with(|p| p.borrow().is_none()));
        assert_eq!(take(&outbox), 1);
    }
}
