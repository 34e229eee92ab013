//! # The link: the room's `Numbering`, alone or shared
//!
//! The room (`src/chat/room.rs`) numbers its own events, unless something
//! plugged into its seam, [`Numbering`], does. [`Link`] is that something:
//! [`start`](super::start) plugs it in as the room's `Locked::numbering`,
//! and from then on the room hands every decided event to [`Link::route`].
//! The link is in one of two modes:
//!
//! - **alone**: it has the room number the event itself and deliver it at
//!   once (`Core::number_here`).
//!   This is the room whose link to Redis is down.
//! - **shared**: it numbers nothing. A decided event is put in an
//!   [`Envelope`], handed to the publish queue (`queue.rs`) and
//!   remembered as *pending*; nothing is delivered yet. When it comes back
//!   on the subscription, numbered by Redis,
//!   [`deliver_from_bus`](LinkedRoom::deliver_from_bus) has the room deliver
//!   it, exactly like an event from any other process. So this
//!   process's members get their own events in the same order as everyone
//!   else's: Redis's. Whoever waits for one of ours (`POST /api/send`) is
//!   told its stamp then, through the receiver [`Link::route`] handed back.
//!
//! [`Link::route`] is where the two modes part. It never waits: pushing to
//! the queue either succeeds or is refused at once (Redis is too slow),
//! and a refused message earns its sender an `error` event. It also keeps
//! the *roster*, the room's members on every process, ours included
//! (`roster.rs`), which the room asks for when it checks a name or
//! welcomes a newcomer.
//!
//! ## Losing the link, and getting it back
//!
//! When a thread of the bus finds the link broken (a timeout, a closed
//! connection), it calls [`link_lost`](LinkedRoom::link_lost); a join,
//! leave or rename that finds the publish queue full does the same from
//! the room's side (`queue_full`). The room goes **alone** at once, and
//! delivers every pending event itself, numbered locally: they may or may
//! not have reached Redis, but they reach the members here, exactly once.
//! Members here keep chatting with each other; members elsewhere do not
//! hear them.
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
//! reads the history and the other processes' members. [`go_shared`](LinkedRoom::go_shared)
//! then swaps all of that in, unless something happened here in the
//! meantime (a local event would have used a number Redis does not know
//! about); then the subscriber simply tries again.
//!
//! Subscribing *before* reading is what makes the hand-over exact: every
//! event numbered after the snapshot is on the subscription, and every
//! event up to it is in the snapshot; `deliver_from_bus` skips those
//! numbered at or below the snapshot's `as_of`.
//!
//! The bus's threads reach the link through the room's lock, with
//! `Room::with_lock` (`with_link` finds the link among what the lock
//! guards); [`LinkedRoom`] wraps each such visit in a method named for what
//! it does.
//!
//! Read next: `src/redis/bus/roster.rs`, the members on every process.

use std::any::Any;
use std::collections::VecDeque;
use std::sync::mpsc::{self, SyncSender};
use std::sync::Arc;
use std::time::Duration;

use super::envelope::{Envelope, ProcessId};
use super::queue::{Job, PublishQueue, QueueFull};
use super::roster::{describe, Roster, RosterEntry};
use crate::chat::history::{now_millis, History, Recorded};
use crate::chat::protocol::{Change, Stamp};
use crate::chat::room::{Core, Decided, Emitted, Locked, Numbering, Room};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Alone,
    Shared,
}

/// The room's link to Redis: its [`Numbering`].
#[derive(Debug)]
pub struct Link {
    /// This process, as envelopes and the roster name it.
    origin: ProcessId,
    mode: Mode,
    /// Goes up by one every time the link is lost.
    epoch: u64,
    queue: Arc<PublishQueue>,
    /// Our events handed to the queue, not yet back from Redis, oldest
    /// first.
    pending: VecDeque<Pending>,
    /// The `id` of our next envelope.
    next_event: u64,
    /// How long `POST /api/send` waits for its message to come back.
    confirm_wait: Duration,
    /// The room's members on every process, ours included, as the
    /// delivered events tell it.
    roster: Roster,
}

#[derive(Debug)]
struct Pending {
    envelope: Arc<Envelope>,
    /// Told the stamp once the event is delivered here, for whoever waits
    /// for it (`POST /api/send`; no one, for most events).
    confirm: SyncSender<Stamp>,
}

impl Pending {
    /// The event, as the room delivers it (one of ours), and who to tell.
    fn into_decided(self) -> (Decided, SyncSender<Stamp>) {
        let Envelope { member, change, file, .. } = (*self.envelope).clone();
        (Decided { member, change, file }, self.confirm)
    }
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
    /// A link for process `origin`, alone until the first
    /// [`go_shared`](LinkedRoom::go_shared).
    pub fn new(origin: ProcessId, queue: Arc<PublishQueue>, confirm_wait: Duration) -> Link {
        Link {
            origin,
            mode: Mode::Alone,
            epoch: 0,
            queue,
            pending: VecDeque::new(),
            next_event: 1,
            confirm_wait,
            roster: Roster::default(),
        }
    }

    /// The link is gone: number and deliver everything pending here.
    fn go_alone(&mut self, reason: &str, core: &mut Core) {
        if self.mode != Mode::Shared {
            return;
        }
        self.mode = Mode::Alone;
        self.epoch += 1;
        let pending = std::mem::take(&mut self.pending);
        let delivered_here = pending.len();
        for pending in pending {
            let (decided, confirm) = pending.into_decided();
            if let Emitted::Delivered(stamp) = self.here(decided, core) {
                let _ = confirm.try_send(stamp);
            }
        }
        let mut line = format!("redis: link lost ({reason}); members here keep chatting locally");
        if delivered_here > 0 {
            line +=
                &format!("; {delivered_here} event(s) on their way to Redis delivered here only");
        }
        core.notes.push(line);
    }

    /// Our members as the delivered events have told them.
    fn ours(&self) -> Vec<RosterEntry> {
        self.roster.entries().filter(|e| e.origin == self.origin).cloned().collect()
    }

    /// Has the room number and deliver an event itself: its number is the
    /// next one (`History::stamp`), and the roster follows it first, so
    /// that the `welcome` a `join` brings already lists its member.
    fn here(&mut self, decided: Decided, core: &mut Core) -> Emitted {
        let seq = core.history.stamp().seq; // the number `number_here` will give it
        self.roster.follow(seq, &self.origin, decided.member, &decided.change);
        core.number_here(decided, Some(&*self))
    }

    fn is_current(&self, epoch: u64) -> bool {
        self.mode == Mode::Shared && self.epoch == epoch
    }
}

impl Numbering for Link {
    /// Alone: numbered and delivered here. Shared: into the publish queue,
    /// never waiting.
    fn route(&mut self, decided: Decided, core: &mut Core) -> Emitted {
        if self.mode == Mode::Alone {
            return self.here(decided, core);
        }
        let Decided { member, change, file } = decided;
        let envelope = Envelope {
            origin: self.origin.clone(),
            id: self.next_event,
            member,
            time: now_millis(),
            change,
            file,
        };
        self.next_event += 1;
        let envelope = Arc::new(envelope);
        let job = Job { epoch: self.epoch, envelope: Arc::clone(&envelope) };
        let (confirm, confirmed) = mpsc::sync_channel(1);
        let pending = Pending { envelope, confirm };
        if let Err(QueueFull(_)) = self.queue.push(job) {
            return self.queue_full(pending, core);
        }
        self.pending.push_back(pending);
        Emitted::Away(confirmed, self.confirm_wait)
    }

    fn held_elsewhere(&self, name: &str) -> bool {
        self.roster.taken_elsewhere(&self.origin, name)
    }

    fn roster(&self) -> Vec<String> {
        self.roster.entries().map(|e| e.name.clone()).collect()
    }
}

impl Link {
    /// The queue to Redis is full. A message or a file is refused (a slow
    /// Redis costs a message, never a wait). A join, leave or rename may
    /// not be dropped like that, or the processes would disagree on who is
    /// in the room: the link counts as lost, the room goes alone and
    /// delivers it here, and the rejoin later tells Redis who is here.
    fn queue_full(&mut self, pending: Pending, core: &mut Core) -> Emitted {
        match &pending.envelope.change {
            Change::Message { from, .. } | Change::File { from, .. } => {
                core.notes.push(format!(
                    "redis: the publish queue is full (Redis is slow or unreachable); \
                     {from}'s message was refused"
                ));
                let why = "the room is busy (its link to Redis is backed up)";
                if let Some(sender) = pending.envelope.member {
                    core.tell(sender, &format!("{why}: not sent"));
                }
                Emitted::Refused(why.into())
            }
            _ => {
                self.go_alone("the publish queue is full", core);
                self.here(pending.into_decided().0, core)
            }
        }
    }
}

/// Replaces the room's record with the history list Redis holds, when the
/// process (re)joins the shared room: `messages` oldest first, `last_seq`
/// the newest number handed out anywhere, `trimmed_through` the newest
/// `seq` the list itself no longer holds (0: it never dropped anything).
///
/// What the record held and the list does not (messages said here while
/// Redis was away) counts as dropped, so a poll from before them is told
/// `truncated` rather than silently given less (`src/push/catchup.rs`).
pub fn load_history(
    history: &mut History,
    messages: Vec<Recorded>,
    last_seq: u64,
    trimmed_through: u64,
) {
    let held = std::mem::take(&mut history.recorded);
    let forgotten = held.iter().filter(|old| !messages.contains(old)).map(|old| old.seq);
    let forgotten_through = forgotten.max().unwrap_or(0);
    history.dropped_through = history.dropped_through.max(forgotten_through).max(trimmed_through);
    history.last_seq = history.last_seq.max(last_seq);
    for recorded in messages {
        history.keep(recorded);
    }
}

/// Runs `f` under the room's lock with its [`Link`]; `None` if the room's
/// [`Numbering`] is not one (or it has none). The room stores it as a
/// `dyn Numbering`, and only this layer knows what it really is, so it
/// asks: `Any` turns the trait object back into a `Link`.
fn with_link<T>(room: &Room, f: impl FnOnce(&mut Link, &mut Core) -> T) -> Option<T> {
    room.with_lock(|Locked { core, numbering }| {
        let numbering = numbering.as_deref_mut()? as &mut dyn Any;
        Some(f(numbering.downcast_mut::<Link>()?, core))
    })
}

/// What the bus's threads ask of a room whose [`Numbering`] is a [`Link`].
/// Each method is one visit under the room's lock.
pub trait LinkedRoom {
    /// The epoch of the shared link, or `None` while the room is alone.
    fn link_epoch(&self) -> Option<u64>;
    /// Where this process stands, for the sync script.
    fn sync_point(&self) -> SyncPoint;
    /// Switches to shared with what the sync script read, unless anything
    /// happened here since `point` was taken. Returns whether it switched.
    fn go_shared(&self, point: &SyncPoint, snapshot: Snapshot) -> bool;
    /// An event from the subscription of `epoch`, numbered `seq` by Redis.
    fn deliver_from_bus(&self, epoch: u64, seq: u64, envelope: Envelope);
    /// The link of `epoch` is broken; `reason` is for the log.
    fn link_lost(&self, epoch: u64, reason: &str);
    /// The other processes' members as Redis held them at `as_of`.
    fn refresh_roster(&self, epoch: u64, as_of: u64, others: Vec<RosterEntry>) -> bool;
    /// Our members, if none of our events is on its way to Redis.
    fn settled_roster(&self, epoch: u64) -> Option<Vec<RosterEntry>>;
    /// How many of our events are on their way to Redis.
    fn pending_events(&self) -> usize;
}

impl LinkedRoom for Room {
    fn link_epoch(&self) -> Option<u64> {
        with_link(self, |link: &mut Link, _| (link.mode == Mode::Shared).then_some(link.epoch))
            .flatten()
    }

    fn sync_point(&self) -> SyncPoint {
        let point = |link: &mut Link, core: &mut Core| SyncPoint {
            epoch: link.epoch,
            floor: core.history.last_seq,
            ours: link.ours(),
        };
        with_link(self, point).unwrap_or(SyncPoint { epoch: 0, floor: 0, ours: Vec::new() })
    }

    fn go_shared(&self, point: &SyncPoint, snapshot: Snapshot) -> bool {
        let switch = |link: &mut Link, core: &mut Core| {
            let history = &mut core.history;
            let unchanged = link.mode == Mode::Alone
                && link.epoch == point.epoch
                && history.last_seq == point.floor;
            if unchanged {
                load_history(history, snapshot.history, snapshot.as_of, snapshot.trimmed_through);
                let changes = link.roster.replace_others(&link.origin, snapshot.others);
                if !changes.gone.is_empty() {
                    core.notes.push(describe(&changes));
                }
                link.mode = Mode::Shared;
            }
            unchanged
        };
        with_link(self, switch).unwrap_or(false)
    }

    /// Delivered here, unless it is stale (another epoch), already known
    /// (in the snapshot), or ours and already delivered while alone.
    fn deliver_from_bus(&self, epoch: u64, seq: u64, envelope: Envelope) {
        with_link(self, |link: &mut Link, core| {
            if !link.is_current(epoch) || seq <= core.history.last_seq {
                return;
            }
            let stamp = Stamp { seq, time: envelope.time };
            if envelope.origin != link.origin {
                link.roster.follow(seq, &envelope.origin, envelope.member, &envelope.change);
                let Envelope { change, file, .. } = envelope;
                // `member: None`: not one of ours, whatever its number there.
                let decided = Decided { member: None, change, file };
                core.deliver(stamp, decided, Some(&*link));
                return;
            }
            let at = link.pending.iter().position(|p| p.envelope.id == envelope.id);
            match at.and_then(|at| link.pending.remove(at)) {
                Some(pending) => {
                    let (decided, confirm) = pending.into_decided();
                    link.roster.follow(seq, &link.origin, decided.member, &decided.change);
                    core.deliver(stamp, decided, Some(&*link));
                    let _ = confirm.try_send(stamp);
                }
                // Delivered here while alone: record it, so the history
                // agrees with the other processes', but do not repeat it.
                None => {
                    core.history.record(stamp, &envelope.change);
                }
            }
        });
    }

    /// A second report of the same loss (both threads noticed) changes
    /// nothing.
    fn link_lost(&self, epoch: u64, reason: &str) {
        with_link(self, |link: &mut Link, core| {
            if link.epoch == epoch {
                link.go_alone(reason, core);
            }
        });
    }

    /// Applied only if this room has delivered exactly up to `as_of`: then
    /// Redis and the room describe the same moment, and whatever differs is
    /// news (a crashed process whose entries expired, or a process that
    /// rewrote its entries after Redis came back). Returns whether it was
    /// applied; if not, the next refresh will be.
    fn refresh_roster(&self, epoch: u64, as_of: u64, others: Vec<RosterEntry>) -> bool {
        with_link(self, |link: &mut Link, core| {
            let in_step = link.is_current(epoch) && core.history.last_seq == as_of;
            if in_step {
                let changes = link.roster.replace_others(&link.origin, others);
                if !changes.gone.is_empty() || !changes.found.is_empty() {
                    core.notes.push(describe(&changes));
                }
            }
            in_step
        })
        .unwrap_or(false)
    }

    /// Our members as the delivered events tell it, if none of our events
    /// is on its way to Redis (then Redis holds exactly this); `None` if
    /// some are, or the room is not shared under `epoch`.
    fn settled_roster(&self, epoch: u64) -> Option<Vec<RosterEntry>> {
        with_link(self, |link: &mut Link, _| {
            (link.is_current(epoch) && link.pending.is_empty()).then(|| link.ours())
        })
        .flatten()
    }

    fn pending_events(&self) -> usize {
        with_link(self, |link: &mut Link, _| link.pending.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests;
