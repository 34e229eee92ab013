//! # The room's side of Redis: alone, or shared
//!
//! A room is in one of two modes:
//!
//! - **alone**: it numbers each event itself (`History::stamp`) and
//!   delivers it at once (`State::apply`). This is the room without
//!   `--redis`, and the room whose link to Redis is down.
//! - **shared**: it numbers nothing. A decided event is put in an
//!   [`Envelope`], handed to the publish queue (`src/chat/bus/queue.rs`)
//!   and remembered as *pending*; nothing is delivered yet. When it comes
//!   back on the subscription, numbered by Redis, [`Room::deliver_from_bus`]
//!   delivers it, exactly like an event from any other process. So this
//!   process's members get their own events in the same order as everyone
//!   else's: Redis's.
//!
//! `State::emit` is where the two modes part. It never waits: pushing to
//! the queue either succeeds or is refused at once (Redis is too slow),
//! and a refused message earns its sender an `error` event.
//!
//! ## Losing the link, and getting it back
//!
//! When a thread of `src/chat/bus/` finds the link broken (a timeout, a
//! closed connection, a full queue for a join), it calls
//! [`Room::link_lost`]. The room goes **alone** at once, and delivers
//! every pending event itself, numbered locally: they may or may not have
//! reached Redis, but they reach the members here, exactly once. Members
//! here keep chatting with each other; members elsewhere do not hear them.
//!
//! Every loss starts a new *epoch*. Jobs queued under an old epoch are
//! thrown away by the publisher, and a subscription of an old epoch
//! delivers nothing. One event can still slip through: one the publisher
//! was sending at the moment of the loss, which reached Redis after all.
//! It comes back as our own event with no pending entry, and is recorded
//! but not delivered again (its members already have it).
//!
//! To get back, the subscriber thread takes a [`SyncPoint`] (the epoch,
//! the newest `seq` handed out here, and our members), subscribes, and
//! runs the sync script: it raises Redis's counter to at least our newest
//! `seq`, so numbers never go back, rewrites our members' entries, and
//! reads the history and the other processes' members. [`Room::go_shared`]
//! then swaps all of that in, unless something happened here in the
//! meantime (a local event would have used a number Redis does not know
//! about); then the subscriber simply tries again.
//!
//! Subscribing *before* reading is what makes the hand-over exact: every
//! event numbered after the snapshot is on the subscription, and every
//! event up to it is in the snapshot; `deliver_from_bus` skips those
//! numbered at or below the snapshot's `as_of`.
//!
//! Read next: `src/chat/bus/mod.rs`, the threads on the other side.

use std::collections::VecDeque;
use std::sync::mpsc::SyncSender;
use std::sync::Arc;
use std::time::Duration;

use super::roster::RosterEntry;
use super::{MemberId, Note, Room, State};
use crate::chat::bus::envelope::{Change, Envelope, ProcessId};
use crate::chat::bus::queue::{Job, PublishQueue, QueueFull};
use crate::chat::history::{now_millis, Recorded};
use crate::chat::outbox::Frame;
use crate::chat::protocol::Stamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Alone,
    Shared,
}

/// The room's link to Redis, or its absence.
#[derive(Debug)]
pub(super) struct Link {
    /// This process, as envelopes and the roster name it.
    pub(super) origin: ProcessId,
    mode: Mode,
    /// Goes up by one every time the link is lost.
    epoch: u64,
    /// `None` without `--redis`: the room is alone for good.
    queue: Option<Arc<PublishQueue>>,
    /// Our events handed to the queue, not yet back from Redis, oldest
    /// first.
    pending: VecDeque<Pending>,
    /// The `id` of our next envelope.
    next_event: u64,
    /// How long `POST /api/send` waits for its message to come back.
    pub(super) confirm_wait: Duration,
}

#[derive(Debug)]
struct Pending {
    envelope: Arc<Envelope>,
    /// Told the stamp once the event is delivered (`POST /api/send`).
    confirm: Option<SyncSender<Stamp>>,
}

/// What [`State::emit`] did with an event.
#[derive(Debug)]
pub(super) enum Emitted {
    /// Numbered here and delivered (the room is alone).
    Delivered(Stamp),
    /// On its way to Redis; it is delivered when it comes back.
    Queued,
    /// The queue is full: nothing was sent or delivered.
    Full(Arc<Envelope>),
}

/// Where this process stands when it (re)joins the shared room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncPoint {
    pub epoch: u64,
    /// The newest `seq` handed out here: Redis's counter must not be below.
    pub floor: u64,
    /// Our members, to write into Redis.
    pub ours: Vec<RosterEntry>,
}

/// The shared room as Redis holds it, read at one instant (`as_of`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// The counter when it was read: every event up to it is reflected here.
    pub as_of: u64,
    /// The history list, rendered, oldest first.
    pub history: Vec<Recorded>,
    /// The newest `seq` the history list no longer holds (0: none).
    pub trimmed_through: u64,
    /// The other processes' members.
    pub others: Vec<RosterEntry>,
}

impl Link {
    /// No Redis: a room on its own, for good.
    pub(super) fn alone() -> Link {
        Link {
            origin: ProcessId::new("local"),
            mode: Mode::Alone,
            epoch: 0,
            queue: None,
            pending: VecDeque::new(),
            next_event: 1,
            confirm_wait: Duration::ZERO,
        }
    }
}

impl State {
    /// Numbers and delivers an event here, or queues it for Redis,
    /// depending on the mode. Never waits.
    pub(super) fn emit(
        &mut self,
        member: Option<MemberId>,
        change: Change,
        file: Option<Frame>,
        confirm: Option<SyncSender<Stamp>>,
    ) -> Emitted {
        let link = &mut self.link;
        let envelope = Envelope {
            origin: link.origin.clone(),
            id: link.next_event,
            member,
            time: now_millis(),
            change,
            file,
        };
        link.next_event += 1;
        if let (Mode::Shared, Some(queue)) = (link.mode, &link.queue) {
            let envelope = Arc::new(envelope);
            let job = Job { epoch: link.epoch, envelope: Arc::clone(&envelope) };
            return match queue.push(job) {
                Ok(()) => {
                    link.pending.push_back(Pending { envelope, confirm });
                    Emitted::Queued
                }
                Err(QueueFull(job)) => Emitted::Full(job.envelope),
            };
        }
        let stamp = self.history.stamp();
        self.apply(stamp, &envelope);
        Emitted::Delivered(stamp)
    }

    /// A join, leave or rename: these may not be dropped like a message,
    /// or the processes would disagree on who is in the room. If Redis
    /// cannot take one, the link counts as lost: the room goes alone,
    /// delivers it here, and the rejoin later tells Redis who is here.
    pub(super) fn emit_roster_change(&mut self, member: MemberId, change: Change) {
        if let Emitted::Full(envelope) = self.emit(Some(member), change, None, None) {
            self.go_alone("the publish queue is full");
            let stamp = self.history.stamp();
            self.apply(stamp, &envelope);
        }
    }

    /// The link is gone: number and deliver everything pending here.
    fn go_alone(&mut self, reason: &str) {
        if self.link.mode != Mode::Shared {
            return;
        }
        self.link.mode = Mode::Alone;
        self.link.epoch += 1;
        let pending = std::mem::take(&mut self.link.pending);
        let delivered_here = pending.len();
        for Pending { envelope, confirm } in pending {
            let stamp = self.history.stamp();
            self.apply(stamp, &envelope);
            if let Some(confirm) = confirm {
                let _ = confirm.try_send(stamp);
            }
        }
        self.notes.push(Note::LinkLost { reason: reason.to_string(), delivered_here });
    }
}

impl Room {
    /// Prepares the room to be shared through Redis, as process `origin`.
    /// It stays alone until the first [`go_shared`](Self::go_shared).
    /// Call before any member joins.
    pub fn attach_bus(&self, origin: ProcessId, queue: Arc<PublishQueue>, confirm_wait: Duration) {
        let mut state = self.lock();
        debug_assert!(state.members.is_empty(), "attach before serving");
        state.link.origin = origin;
        state.link.queue = Some(queue);
        state.link.confirm_wait = confirm_wait;
    }

    /// The epoch of the shared link, or `None` while the room is alone.
    pub fn link_epoch(&self) -> Option<u64> {
        let state = self.lock();
        (state.link.mode == Mode::Shared).then_some(state.link.epoch)
    }

    /// Where this process stands, for the sync script.
    pub fn sync_point(&self) -> SyncPoint {
        let state = self.lock();
        let ours = state.roster.of(&state.link.origin);
        SyncPoint { epoch: state.link.epoch, floor: state.history.last_seq(), ours }
    }

    /// Switches to shared with what the sync script read, unless anything
    /// happened here since `point` was taken. Returns whether it switched.
    pub fn go_shared(&self, point: &SyncPoint, snapshot: Snapshot) -> bool {
        let mut guard = self.lock();
        let state = &mut *guard;
        let unchanged = state.link.mode == Mode::Alone
            && state.link.epoch == point.epoch
            && state.history.last_seq() == point.floor;
        if unchanged {
            state.history.replace(snapshot.history, snapshot.as_of, snapshot.trimmed_through);
            let changes = state.roster.replace_others(&state.link.origin, snapshot.others);
            if !changes.gone.is_empty() {
                state.notes.push(Note::Roster(changes));
            }
            state.link.mode = Mode::Shared;
        }
        self.unlock(guard);
        unchanged
    }

    /// An event from the subscription of `epoch`, numbered `seq` by Redis:
    /// delivered here, unless it is stale (another epoch), already known
    /// (in the snapshot), or ours and already delivered while alone.
    pub fn deliver_from_bus(&self, epoch: u64, seq: u64, envelope: Envelope) {
        let mut guard = self.lock();
        let state = &mut *guard;
        let current = state.link.mode == Mode::Shared && state.link.epoch == epoch;
        if !current || seq <= state.history.last_seq() {
            return;
        }
        let stamp = Stamp { seq, time: envelope.time };
        if envelope.origin != state.link.origin {
            state.apply(stamp, &envelope);
        } else {
            let at = state.link.pending.iter().position(|p| p.envelope.id == envelope.id);
            match at.and_then(|at| state.link.pending.remove(at)) {
                Some(Pending { envelope, confirm }) => {
                    state.apply(stamp, &envelope);
                    if let Some(confirm) = confirm {
                        let _ = confirm.try_send(stamp);
                    }
                }
                // Delivered here while alone: record it, so the history
                // agrees with the other processes', but do not repeat it.
                None => {
                    state.history.record(stamp, &envelope.change.event());
                }
            }
        }
        self.unlock(guard);
    }

    /// The link of `epoch` is broken; `reason` is for the log. A second
    /// report of the same loss (both threads noticed) changes nothing.
    pub fn link_lost(&self, epoch: u64, reason: &str) {
        let mut state = self.lock();
        if state.link.epoch == epoch {
            state.go_alone(reason);
        }
        self.unlock(state);
    }

    /// The other processes' members as Redis held them when its counter
    /// was `as_of`. Applied only if this room has delivered exactly up to
    /// `as_of`: then Redis and the room describe the same moment, and
    /// whatever differs is news (a crashed process whose entries expired,
    /// or a process that rewrote its entries after Redis came back).
    /// Returns whether it was applied; if not, the next refresh will be.
    pub fn refresh_roster(&self, epoch: u64, as_of: u64, others: Vec<RosterEntry>) -> bool {
        let mut guard = self.lock();
        let state = &mut *guard;
        let in_step = state.link.mode == Mode::Shared
            && state.link.epoch == epoch
            && state.history.last_seq() == as_of;
        if in_step {
            let changes = state.roster.replace_others(&state.link.origin, others);
            if !changes.gone.is_empty() || !changes.found.is_empty() {
                state.notes.push(Note::Roster(changes));
            }
        }
        self.unlock(guard);
        in_step
    }

    /// Our members as the delivered events tell it, if none of our events
    /// is on its way to Redis (then Redis holds exactly this); `None` if
    /// some are, or the room is not shared under `epoch`.
    pub fn settled_roster(&self, epoch: u64) -> Option<Vec<RosterEntry>> {
        let state = self.lock();
        let settled = state.link.mode == Mode::Shared
            && state.link.epoch == epoch
            && state.link.pending.is_empty();
        settled.then(|| state.roster.of(&state.link.origin))
    }

    /// How many of our events are on their way to Redis.
    pub fn pending_events(&self) -> usize {
        self.lock().link.pending.len()
    }
}

#[cfg(test)]
mod tests;
