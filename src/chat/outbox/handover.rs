//! # Writing in a sleeping writer's place: a second measured improvement
//!
//! Batching the wake-ups (`src/chat/wakeups.rs`) helps when messages come
//! in bursts. In a chat they mostly come one at a time, at the pace people
//! type, and then there is nothing to batch: every message still costs
//! every member a wake-up, and waking a writer costs more than the write it
//! then makes (a `futex` call, a switch to its thread, one `writev`, a
//! switch away). At 1,000 members and 50 messages a second that put the
//! slowest deliveries (p99) at 1.3 to 2 times those of a Node `ws` room,
//! whose one thread wakes nobody.
//!
//! So the thread that pays a deferred wake-up, which holds no lock at that
//! moment, may do the writer's work instead ([`Outbox`]'s
//! `write_in_writer_place`, below). If the writer is asleep with nothing in
//! hand and at most 16 KiB waits, it takes the batch, marks the socket
//! busy (`socket_free` in `outbox.rs`: a writer woken meanwhile waits for
//! it, so the two never write at once), writes the batch with one
//! `writev`, and hands the socket back. The writer sleeps on, and no one
//! was woken. The p99 went below Node's (`docs/performance.md`, "Paced
//! fan-out beside Node `ws`").
//!
//! Two traps, and how they are met:
//!
//! - **That thread delivers to everyone, so it must never wait on one slow
//!   reader.** std has no non-blocking send for a single call, and
//!   `set_nonblocking` would change the socket for the member's reader
//!   thread too. But the socket's *write timeout* can be set to 1 ms for
//!   the one `writev` and put back.
//! - **A write the timeout cuts short leaves part of a frame.** The rest
//!   goes back to the front of the queue, cut at the byte, the writer is
//!   woken for it, and from then on only the writer writes to that member:
//!   a member whose buffers are full costs a delivering thread one clock
//!   tick, once. If the member is later cut off as too slow, that rest is
//!   kept ahead of the 1008 close (`unfinished` in `outbox.rs`), so the
//!   close never lands inside a frame.
//!
//! With `--trace` it is off (`member.rs` lends no socket): the writer
//! thread is where sent frames are traced.
//!
//! Read next: `src/chat/protocol.rs`, what the events look like.

use std::io::{IoSlice, Write};
use std::sync::Arc;
use std::time::Duration;

use super::{Encoded, Outbox};
use crate::chat::wakeups;

/// At most this much is written in a sleeping writer's place: a chat line
/// or a few, never a file.
const LENT_BYTES: usize = 16 * 1024;

/// How long a write in the writer's place may block. The kernel rounds it
/// up to one clock tick, 1 to 4 ms. Not zero: std refuses a zero timeout
/// (`set_write_timeout` returns `InvalidInput`), and `None` would mean
/// "block for ever". The socket's own timeout is put back right after,
/// because the writer's writes count on it (`session.rs` sets it).
const LENT_TIMEOUT: Duration = Duration::from_millis(1);

impl Outbox {
    /// Writes what waits, if it is small and the writer is asleep, from
    /// this thread, which pays a deferred wake-up outside every lock.
    /// Returns whether the writer may sleep on: `false` means wake it.
    fn write_in_writer_place(&self) -> bool {
        let mut queue = self.lock();
        let lendable = queue.socket_free && !queue.waiting.is_empty() && queue.bytes <= LENT_BYTES;
        let lent = queue.socket_to_lend.clone().filter(|_| lendable);
        let Some((socket, write_timeout)) = lent else { return false };
        let mut batch = Vec::new();
        queue.take_into(&mut batch);
        // Counted from the batch itself, not from `queue.bytes`: cutting a
        // member off swaps its backlog for the goodbye without recounting.
        let total: usize = batch.iter().map(|frame| frame.len()).sum();
        // The socket is ours until we hand it back: a writer woken now waits
        // (`take_all`). The lock is let go for the write, so pushes go on.
        queue.socket_free = false;
        drop(queue);
        let slices: Vec<IoSlice<'_>> = batch.iter().map(|frame| IoSlice::new(frame)).collect();
        let _ = socket.set_write_timeout(Some(LENT_TIMEOUT));
        let written = (&*socket).write_vectored(&slices).unwrap_or(0);
        let _ = socket.set_write_timeout(Some(write_timeout));
        let mut queue = self.lock();
        queue.socket_free = true;
        if written < total {
            // The reader is slow (or gone): the rest goes back in front,
            // cut at the byte, for the writer, which waits as long as its
            // own timeout says. In front, because frames pushed during the
            // write are queued behind it; at the byte, because TCP is a
            // byte stream and the peer already has the first `written`
            // bytes. This thread never waits on it again (`socket_to_lend`).
            let rest: Encoded = Arc::from(&batch.concat()[written..]);
            queue.bytes += rest.len();
            queue.waiting.insert(0, rest);
            (queue.unfinished, queue.socket_to_lend) = (true, None);
        }
        queue.is_idle()
    }
}

impl wakeups::Sleeper for Outbox {
    fn wake(&self, deferred: bool) {
        if !(deferred && self.write_in_writer_place()) {
            self.ready.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::net::{TcpListener, TcpStream};
    use std::thread::JoinHandle;
    use std::time::Instant;

    use super::*;
    use crate::chat::outbox::{too_slow_goodbye, PushError};
    use crate::config::Limits;

    fn bounded(limit: usize) -> Arc<Outbox> {
        let (outbox_soft_bytes, outbox_hard_bytes) = (limit, limit);
        let limits = Limits { outbox_soft_bytes, outbox_hard_bytes, ..Limits::default() };
        Arc::new(Outbox::new(&limits, too_slow_goodbye))
    }

    /// Both ends of a loopback connection: ours (lent to the outbox) and
    /// the peer's, which reads with a timeout.
    fn connection() -> (Arc<TcpStream>, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let ours = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (peer, _) = listener.accept().unwrap();
        peer.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        (Arc::new(ours), peer)
    }

    /// A member's writer thread on `socket`, which counts the batches it
    /// writes. Returns once the writer waits in `take_all`.
    fn sleeping_writer(outbox: &Arc<Outbox>, socket: &Arc<TcpStream>) -> JoinHandle<usize> {
        let (outbox_for_writer, socket) = (Arc::clone(outbox), Arc::clone(socket));
        let writer = std::thread::spawn(move || {
            let (mut batch, mut batches) = (Vec::new(), 0);
            while outbox_for_writer.take_all(&mut batch, Duration::MAX) {
                batch.iter().for_each(|frame| (&*socket).write_all(frame).unwrap());
                batch.clear();
                batches += 1;
            }
            batches
        });
        // Polled, not slept on: the writer must be asleep before the push.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !outbox.lock().socket_free {
            assert!(Instant::now() < deadline, "the writer never went to sleep");
            std::thread::yield_now();
        }
        writer
    }

    #[test]
    fn a_deferred_wake_up_to_a_sleeping_writer_is_paid_by_writing_for_it() {
        let (socket, mut peer) = connection();
        let outbox = bounded(1024);
        outbox.lend_socket(Arc::clone(&socket), Duration::from_secs(10));
        let writer = sleeping_writer(&outbox, &socket);
        let deferring = wakeups::defer_on_this_thread();
        outbox.push(&[Arc::from(&b"hello, "[..]), Arc::from(&b"world"[..])]).unwrap();
        drop(deferring); // pays: writes here, on this thread
        let mut arrived = [0u8; 12];
        peer.read_exact(&mut arrived).unwrap();
        assert_eq!(&arrived, b"hello, world");
        assert!(outbox.lock().socket_free, "the socket is handed back to the writer");
        outbox.close();
        assert_eq!(writer.join().unwrap(), 0, "the writer was never woken to write");
    }

    #[test]
    fn a_write_in_the_writer_place_that_falls_short_leaves_the_rest_to_the_writer() {
        let (socket, mut peer) = connection();
        let outbox = bounded(1024 * 1024);
        outbox.lend_socket(Arc::clone(&socket), Duration::from_secs(10));
        let writer = sleeping_writer(&outbox, &socket);
        // The peer reads nothing yet, so the socket's buffers fill up, and
        // one of these writes in the writer's place must fall short.
        let mut sent = Vec::new();
        for chunk in 0..1000 {
            let bytes: Vec<u8> = (0..LENT_BYTES).map(|i| (i % 251 + chunk) as u8).collect();
            sent.extend_from_slice(&bytes);
            let deferring = wakeups::defer_on_this_thread();
            outbox.push(&[Arc::from(bytes)]).unwrap();
            drop(deferring); // blocks one clock tick at most
            if outbox.lock().socket_to_lend.is_none() {
                break;
            }
        }
        assert!(
            outbox.lock().socket_to_lend.is_none(),
            "a write fell short: only the writer writes"
        );
        let mut arrived = vec![0u8; sent.len()];
        peer.read_exact(&mut arrived).unwrap();
        assert!(arrived == sent, "nothing lost, nothing twice, in order");
        outbox.close();
        assert_eq!(writer.join().unwrap(), 1, "the writer wrote what was left");
    }

    /// Record `seq` of thread `from`: a header and a body of one byte
    /// repeated, so a record cut, doubled or spliced into another shows.
    fn record(from: u8, seq: u32) -> Vec<u8> {
        let mut bytes = vec![from];
        bytes.extend(seq.to_be_bytes());
        bytes.resize(2048, from.wrapping_mul(31).wrapping_add(seq as u8));
        bytes
    }

    /// A stress test: it cannot force the rare interleavings, only give
    /// them many chances (a push paid while another thread writes in the
    /// writer's place, a writer woken then), so it runs a few rounds.
    #[test]
    fn threads_that_write_in_the_writer_place_lose_nothing_and_repeat_nothing() {
        for _round in 0..3 {
            let (socket, mut peer) = connection();
            let outbox = bounded(64 * 1024 * 1024); // never too slow here
            outbox.lend_socket(Arc::clone(&socket), Duration::from_secs(10));
            let writer = sleeping_writer(&outbox, &socket);
            let (threads, each) = (8u8, 2000u32);
            // Each thread pushes its records in order, paying what it owes
            // every one, two or three pushes, while the others do the same
            // and the peer reads: batches go out from the writer and in its
            // place, one at a time, in the queue's order.
            let pushers: Vec<JoinHandle<()>> = (0..threads)
                .map(|from| {
                    let outbox = Arc::clone(&outbox);
                    std::thread::spawn(move || {
                        let _deferring = wakeups::defer_on_this_thread();
                        for seq in 0..each {
                            outbox.push(&[Arc::from(record(from, seq))]).unwrap();
                            if seq % (u32::from(from) % 3 + 1) == 0 {
                                wakeups::wake_pending();
                            }
                        }
                    })
                })
                .collect();
            let mut next = vec![0u32; usize::from(threads)];
            let mut arrived = record(0, 0);
            for _ in 0..u32::from(threads) * each {
                peer.read_exact(&mut arrived).unwrap(); // a lost wake-up times out here
                let from = arrived[0];
                let seq = u32::from_be_bytes(arrived[1..5].try_into().unwrap());
                assert!(arrived == record(from, seq), "a record arrived whole");
                assert_eq!(seq, next[usize::from(from)], "each thread's records, once, in order");
                next[usize::from(from)] += 1;
            }
            pushers.into_iter().for_each(|pusher| pusher.join().unwrap());
            outbox.close();
            writer.join().unwrap();
        }
    }

    #[test]
    fn cutting_a_member_off_keeps_the_end_of_a_frame_a_short_write_left() {
        let outbox = bounded(100);
        let tail: Encoded = Arc::from(&b"the end of a frame"[..]);
        {
            let mut queue = outbox.lock();
            (queue.waiting, queue.bytes, queue.unfinished) = (vec![Arc::clone(&tail)], 18, true);
        }
        assert_eq!(outbox.push(&[Arc::from(vec![b'x'; 100])]), Err(PushError::Overflow));
        let mut batch = Vec::new();
        assert!(outbox.take_all(&mut batch, Duration::ZERO));
        assert_eq!(batch, vec![tail, too_slow_goodbye(PushError::Overflow)]);
    }

    #[test]
    fn a_goodbye_written_for_the_writer_after_a_cut_off_is_not_taken_for_short() {
        let (socket, mut peer) = connection();
        let outbox = bounded(100);
        outbox.lend_socket(Arc::clone(&socket), Duration::from_secs(10));
        outbox.lock().socket_free = true; // as if its writer slept in `take_all`
        let deferring = wakeups::defer_on_this_thread();
        // A wake-up is owed; then the member is cut off: the 60 bytes give
        // way to the goodbye, which is shorter.
        outbox.push(&[Arc::from(vec![b'x'; 60])]).unwrap();
        assert_eq!(outbox.push(&[Arc::from(vec![b'y'; 60])]), Err(PushError::Overflow));
        drop(deferring); // pays: writes the goodbye here
        let goodbye = too_slow_goodbye(PushError::Overflow);
        let mut arrived = vec![0u8; goodbye.len()];
        peer.read_exact(&mut arrived).unwrap();
        assert_eq!(&arrived[..], &goodbye[..]);
        let queue = outbox.lock();
        assert!(queue.waiting.is_empty() && !queue.unfinished, "nothing was left unwritten");
        assert!(queue.socket_to_lend.is_some(), "a whole write is not taken for a short one");
    }
}
