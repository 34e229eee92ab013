//! # The publish queue: where events wait for Redis
//!
//! The room decides what happens under its lock, and the rule of
//! `src/chat/room.rs` is that nothing under that lock does I/O. Publishing
//! to Redis is I/O: a round trip on a good day, a timeout on a bad one. So
//! the room does not publish; it *queues*. [`PublishQueue::push`] never
//! blocks, and the publisher thread (`src/redis/bus/publisher.rs`) takes
//! the events out and sends them, one at a time, in order.
//!
//! The queue is bounded in bytes, for the reason an outbox is
//! (`src/chat/outbox.rs`): a bound in events would hold a hundred short
//! lines in a few KiB or a hundred files in 800 MiB. When Redis is slow
//! and the queue is full, `push` refuses, at once: a message's sender is
//! told so, and a join, leave or rename takes the room alone instead
//! (`queue_full` in `link.rs`); nobody's reader thread ever waits for
//! Redis. Like an outbox, an empty queue takes any one event, so a file
//! bigger than the bound can still be sent when nothing else is waiting.
//!
//! Each job carries the *epoch* of the link it was queued under (see
//! `src/redis/bus/link.rs`). When the link to Redis is lost, the room
//! delivers everything still pending by itself and starts a new epoch; the
//! publisher then throws away jobs of the old epoch instead of publishing
//! them late.
//!
//! Read next: `src/redis/bus/settings.rs`, then `publisher.rs`, the
//! thread that empties it.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::envelope::Envelope;
use crate::chat::protocol::Change;

/// One event to publish.
#[derive(Debug, Clone)]
pub struct Job {
    /// The link epoch it was queued under.
    pub epoch: u64,
    /// Shared with the room's list of pending events, which keeps it in
    /// case it has to be delivered without Redis after all.
    pub envelope: Arc<Envelope>,
}

impl Job {
    /// What the job is counted as: its text or file, and a fixed part for
    /// the envelope around it.
    fn cost(&self) -> usize {
        const ENVELOPE: usize = 256;
        ENVELOPE
            + match &self.envelope.change {
                Change::Message { from, text } => from.len() + text.len(),
                Change::File { size, .. } => *size,
                Change::Join { name } | Change::Leave { name, .. } => name.len(),
                Change::Rename { from, to } => from.len() + to.len(),
            }
    }
}

/// The queue refused a job: too many bytes are waiting already.
#[derive(Debug)]
pub struct QueueFull(pub Job);

#[derive(Debug, Default)]
struct State {
    jobs: VecDeque<Job>,
    bytes: usize,
}

/// A byte-bounded queue of jobs, from the room to the publisher thread.
#[derive(Debug)]
pub struct PublishQueue {
    max_bytes: usize,
    state: Mutex<State>,
    ready: Condvar,
}

impl PublishQueue {
    pub fn new(max_bytes: usize) -> PublishQueue {
        PublishQueue { max_bytes, state: Mutex::default(), ready: Condvar::new() }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `job`, or gives it back if it does not fit. Never blocks.
    pub fn push(&self, job: Job) -> Result<(), QueueFull> {
        let mut state = self.lock();
        let cost = job.cost();
        if !state.jobs.is_empty() && state.bytes + cost > self.max_bytes {
            return Err(QueueFull(job));
        }
        state.bytes += cost;
        state.jobs.push_back(job);
        self.ready.notify_one();
        Ok(())
    }

    /// The oldest job, waiting at most `wait` for one.
    pub fn pop(&self, wait: Duration) -> Option<Job> {
        let deadline = Instant::now() + wait;
        let mut state = self.lock();
        loop {
            if let Some(job) = state.jobs.pop_front() {
                state.bytes -= job.cost();
                return Some(job);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            // May wake early, or for nothing: the loop looks again.
            state = self.ready.wait_timeout(state, left).unwrap_or_else(PoisonError::into_inner).0;
        }
    }

    /// Bytes waiting (for tests and the curious).
    pub fn queued_bytes(&self) -> usize {
        self.lock().bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redis::bus::envelope::ProcessId;

    fn job(text: &str) -> Job {
        let envelope = Envelope {
            origin: ProcessId::new("1-a"),
            id: 1,
            member: None,
            time: 0,
            change: Change::Message { from: String::new(), text: text.to_string() },
            file: None,
        };
        Job { epoch: 0, envelope: Arc::new(envelope) }
    }

    #[test]
    fn jobs_come_out_in_order_and_the_bound_is_in_bytes() {
        let queue = PublishQueue::new(1000);
        let big = "x".repeat(5000);
        queue.push(job(&big)).expect("an empty queue takes anything");
        assert!(queue.push(job("a")).is_err(), "but nothing after it");
        let popped = queue.pop(Duration::ZERO).unwrap();
        assert!(matches!(&popped.envelope.change, Change::Message { text, .. } if text == &big));
        assert_eq!(queue.queued_bytes(), 0);
        queue.push(job("one")).unwrap();
        queue.push(job("two")).unwrap();
        let texts: Vec<String> = (0..2)
            .map(|_| match &queue.pop(Duration::ZERO).unwrap().envelope.change {
                Change::Message { text, .. } => text.clone(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(texts, ["one", "two"]);
        assert!(queue.pop(Duration::from_millis(1)).is_none());
    }

    #[test]
    fn a_waiting_publisher_is_woken_by_a_push() {
        let queue = Arc::new(PublishQueue::new(1000));
        let taker = {
            let queue = Arc::clone(&queue);
            // Far longer than any test: only the push can end this wait.
            std::thread::spawn(move || queue.pop(Duration::from_secs(3600)).is_some())
        };
        queue.push(job("wake up")).unwrap();
        assert!(taker.join().unwrap());
    }
}
