//! # The room: members, history, and fan-out
//!
//! This is the chat room, and it knows nothing of sockets or threads. A
//! member is a name and an [`Outbox`]; everything the room does ends in
//! pushing frames into outboxes. Who reads and writes sockets is
//! `member.rs`'s business.
//!
//! ## Fan-out: one message, many members
//!
//! When ann says "hi", the room, holding its one lock:
//!
//! 1. *stamps* the event: the next sequence number, and the time;
//! 2. *records* it: the last 100 messages are kept for newcomers (both
//!    steps are `history.rs`), and notes who is in the room
//!    (`room/roster.rs`);
//! 3. renders the JSON **once** and encodes the WebSocket frame **once**,
//!    into an `Arc<[u8]>`;
//! 4. *delivers* it: pushes a clone of that `Arc` (a pointer and a counter
//!    increment, not a copy of the bytes) into every member's outbox, ann's
//!    included: her own copy is her acknowledgement.
//!
//! Then it lets go of the lock. Pushing under the lock is what gives every
//! member the same order of events: two messages said at the same moment
//! are stamped and pushed one after the other, never interleaved.
//!
//! Holding a lock while doing I/O would let one stuck socket freeze the
//! room, so the rule is: **the room lock is never held across I/O.**
//! Everything done under it is memory work, proportional to the event and
//! the number of members. Pushing never blocks (see `outbox.rs`); the bytes
//! reach the sockets later, on each member's writer thread.
//!
//! Stamping is kept apart from recording-and-delivering. A room event is
//! first *decided* (who joins, under which name; what is said, by whom),
//! then *numbered*, then *delivered* (`State::apply`, in `room/apply.rs`,
//! the one place an event reaches the members). The HTTP transports reuse
//! the record and add to the delivery (`room/feed.rs`): a message also
//! goes, encoded once as a Server-Sent Event, to every event-stream
//! listener, and wakes every long-polling request.
//!
//! ## One room, many processes
//!
//! That seam is what lets the room span processes (`--redis`, chapter 10).
//! Alone, a process numbers an event itself and delivers it at once, under
//! one lock, as above. Sharing the room, it *queues* the decided event for
//! Redis instead (`room/link.rs`), without waiting; Redis numbers it, and
//! every process, this one included, delivers it when it comes back on the
//! subscription, in Redis's one order. The lock is still never held
//! across I/O: the publishing and the listening happen on threads of their
//! own (`src/chat/bus/`), which call into the room like any member's
//! thread does.
//!
//! ## The slow-consumer policy
//!
//! A member who stops reading (a frozen tab, a phone in a tunnel) cannot be
//! allowed to slow down anybody else, or to make the server hold an
//! unbounded backlog for them. So: when a push does not fit into a
//! member's outbox (1 MiB of backlog by default), that member's backlog is
//! dropped, a close frame with code **1008** and the reason "too slow" is
//! queued in its place, and the member is disconnected. The push that
//! failed costs the room a few instructions; the others never wait. The
//! member's `leave` follows once its connection has wound down. The cut-off
//! is logged at once, but only after the lock is released: logging is I/O
//! (the room keeps `Note`s while locked, and logs them in `unlock`).
//!
//! ## Named rooms
//!
//! One room per server is enough for now. A [`Room`] has a name and no
//! global state, so `/chat/ROOM` would need only a map from names to rooms
//! (and a bound on how many may exist) in front of this type.
//!
//! Read next: `src/chat/room/apply.rs`, delivery, then
//! `src/chat/history.rs`. (The room's other parts come later, in the order
//! of `src/chat/mod.rs`: `room/feed.rs` with the HTTP transports,
//! `room/link.rs` with Redis; `room/roster.rs` and `room/notes.rs` are
//! short asides.)

mod apply;
mod feed;
mod link;
mod notes;
mod roster;

pub use feed::{ListenerId, Listening, PostError};
pub use link::{Snapshot, SyncPoint};
pub use roster::{RosterChanges, RosterEntry};

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use super::bus::envelope::Change;
use super::history::History;
use super::names::{clean_name, guest_name, NameCount, NameError, Suffixes};
use super::outbox::{push_or_abort, Frame, Outbox};
use super::protocol::{FileInfo, RoomEvent};
use crate::config::Limits;
use crate::log;
use crate::websocket::frame::{encode_frame, Opcode};
use link::{Emitted, Link};
use notes::Note;
use roster::Roster;

/// A member's number, unique for the life of the room in this process
/// (names are not: they change, and come back after someone leaves).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MemberId(pub u64);

/// Who joined, as the room decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Joined {
    pub id: MemberId,
    pub name: String,
    /// How many members are connected to this process now.
    pub members: usize,
}

/// A chat room. Share it between connection threads behind an `Arc`, or
/// inside a struct that is.
#[derive(Debug)]
pub struct Room {
    name: String,
    max_text: usize,
    state: Mutex<State>,
    /// Signalled (`notify_all`) after every new chat message, for the
    /// long-polling requests waiting in `Room::wait_for_messages`. It is
    /// paired with `state`'s lock: a `Condvar` always waits on one mutex.
    news: Condvar,
}

#[derive(Debug)]
struct State {
    /// What every `welcome` says about the room itself.
    about: About,
    /// The members connected to this process, in order of arrival. A
    /// `Vec` is plenty: it is iterated on every broadcast anyway.
    members: Vec<Member>,
    /// The names of `members`, indexed, so that checking whether a name is
    /// free does not walk the list (`names.rs`). Kept in step with
    /// `members` by `join`, `leave` and `rename`, the only places a member
    /// or its name changes.
    names_here: NameCount,
    /// Where the search for a free `ann-N` starts, per contested name.
    suffixes: Suffixes,
    next_member: u64,
    next_guest: u64,
    history: History,
    /// Everyone in the room, on every process, as the delivered events
    /// tell it (`room/roster.rs`).
    roster: Roster,
    /// Alone, or sharing the room through Redis (`room/link.rs`).
    link: Link,
    /// Event-stream (Server-Sent Events) connections, which receive chat
    /// messages only; see `room/feed.rs`.
    listeners: Vec<feed::Listener>,
    next_listener: u64,
    /// Long polls asleep on `Room::news` (for tests and the curious).
    long_polls: usize,
    /// A chat message was delivered while the lock was held: wake the
    /// long polls once it is released.
    news: bool,
    /// What happened while the lock was held that deserves a log line;
    /// logged by [`Room::unlock`] once it is released (logging is I/O).
    notes: Vec<Note>,
}

#[derive(Debug)]
struct About {
    name: String,
    max_text: usize,
    max_file: usize,
}

#[derive(Debug)]
struct Member {
    id: MemberId,
    /// The name as the room decided it: what its next message is sent
    /// under, and what another newcomer may not take.
    name: String,
    outbox: Arc<Outbox>,
    /// Has its `welcome` been sent? Until then nothing else is delivered
    /// to it: the welcome covers everything before it.
    welcomed: bool,
    /// Frames for this member that must follow its `welcome` (such as the
    /// `error` saying its name was refused).
    held: Vec<Frame>,
}

/// Most frames held for a member before its `welcome`. Only `error`s are
/// held, one per refused message, and a client can send refusable
/// messages (empty ones) much faster than a failing Redis answers: the
/// bound keeps that from costing memory. What does not fit is dropped.
const MAX_HELD: usize = 16;

impl Member {
    fn hold(&mut self, frame: Frame) {
        if self.held.len() < MAX_HELD {
            self.held.push(frame);
        }
    }
}

impl Room {
    pub fn new(name: &str, limits: &Limits) -> Room {
        let state = State {
            about: About {
                name: name.to_string(),
                max_text: limits.max_chat_text,
                max_file: limits.max_chat_file,
            },
            members: Vec::new(),
            names_here: NameCount::default(),
            suffixes: Suffixes::default(),
            next_member: 1,
            next_guest: 1,
            // Half an outbox, so that a newcomer's `welcome`, which carries
            // the whole history, always fits in its outbox.
            history: History::new(limits.outbox_bytes / 2),
            roster: Roster::default(),
            link: Link::alone(),
            listeners: Vec::new(),
            next_listener: 1,
            long_polls: 0,
            news: false,
            notes: Vec::new(),
        };
        Room {
            name: name.to_string(),
            max_text: limits.max_chat_text,
            state: Mutex::new(state),
            news: Condvar::new(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// A panic while the lock was held (a bug) leaves the state usable:
    /// every method changes it in steps that each keep it consistent. So
    /// the room carries on instead of every member panicking after it.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Releases the lock, *then* wakes the long polls if a chat message
    /// was delivered, *then* logs what was noted while it was held. Wake
    /// after the unlock, not before: a woken request must take the lock to
    /// read the message, and would only block on it. Log last: it is slow.
    fn unlock(&self, mut state: MutexGuard<'_, State>) {
        let notes = std::mem::take(&mut state.notes);
        let news = std::mem::take(&mut state.news);
        drop(state);
        if news {
            self.news.notify_all();
        }
        for note in notes {
            log!("{note}");
        }
    }

    /// Adds a member. `requested` is the name from the URL, if any; a name
    /// that breaks the rules of `names.rs` becomes `guest-N` and the
    /// newcomer is told why. Everyone else gets a `join`, the newcomer a
    /// `welcome`, both when the `join` is delivered: at once in a process
    /// alone, once it is back from Redis in a shared room.
    pub fn join(&self, requested: Option<&str>, outbox: Arc<Outbox>) -> Joined {
        self.join_from_url(requested.map(Ok), outbox)
    }

    /// [`join`](Self::join), with the name as it came out of the URL: none,
    /// a decoded name, or one that could not be decoded
    /// ([`name_in_query`](super::names::name_in_query)), which is refused
    /// like any other bad name.
    pub fn join_from_url(
        &self,
        requested: Option<Result<&str, NameError>>,
        outbox: Arc<Outbox>,
    ) -> Joined {
        let mut guard = self.lock();
        let state = &mut *guard;
        let (name, refused) = match requested.map(|name| name.and_then(clean_name)) {
            Some(Ok(wanted)) => (state.unique_name(wanted, None), None),
            refused => {
                // Copied out and back: the closure borrows all of `state`.
                let mut counter = state.next_guest;
                let name = guest_name(&mut counter, |n| state.has(n));
                state.next_guest = counter;
                (name, refused.and_then(Result::err))
            }
        };
        let id = MemberId(state.next_member);
        state.next_member += 1;
        let mut held = Vec::new();
        if let Some(error) = refused {
            let reason = format!("name refused: {error}; you are {name}");
            held.push(text_frame(&RoomEvent::Error { reason: &reason }.to_json(None)));
        }
        let member = Member { id, name: name.clone(), outbox, welcomed: false, held };
        state.names_here.add(&name);
        state.members.push(member);
        state.emit_roster_change(id, Change::Join { name: name.clone() });
        let joined = Joined { id, name, members: state.members.len() };
        self.unlock(guard);
        joined
    }

    /// Removes a member and tells the others why. Safe to call more than
    /// once: only the first call finds the member, so `leave` is broadcast
    /// exactly once. Returns the name it had and how many remain here.
    pub fn leave(&self, id: MemberId, reason: &str) -> Option<(String, usize)> {
        let mut state = self.lock();
        let index = state.members.iter().position(|m| m.id == id)?;
        let member = state.members.remove(index);
        state.names_here.remove(&member.name);
        let change = Change::Leave { name: member.name.clone(), reason: reason.to_string() };
        state.emit_roster_change(id, change);
        let remaining = state.members.len();
        self.unlock(state);
        Some((member.name, remaining))
    }

    /// A chat message, to everyone including its sender. The caller has
    /// checked its length against [`Limits::max_chat_text`].
    pub fn say(&self, from: MemberId, text: &str) {
        let mut state = self.lock();
        let Some(name) = state.name_of(from).map(str::to_string) else { return };
        let change = Change::Message { from: name, text: text.to_string() };
        if let Emitted::Full(_) = state.emit(Some(from), change, None, None) {
            state.refuse_for_now(from, "message");
        }
        self.unlock(state);
    }

    /// Renames a member, applying the same rules as on joining (a taken
    /// name gets a suffix). Renaming to one's own name changes nothing.
    pub fn rename(&self, who: MemberId, requested: &str) -> Result<(), NameError> {
        let wanted = clean_name(requested)?;
        let mut state = self.lock();
        let Some(old) = state.name_of(who).map(str::to_string) else { return Ok(()) };
        let new = state.unique_name(wanted, Some(&old));
        if new == old {
            return Ok(());
        }
        if let Some(member) = state.members.iter_mut().find(|m| m.id == who) {
            member.name = new.clone();
            state.names_here.remove(&old);
            state.names_here.add(&new);
        }
        state.emit_roster_change(who, Change::Rename { from: old, to: new });
        self.unlock(state);
        Ok(())
    }

    /// A file, to everyone *but* its sender: a `file` event and then the
    /// bytes, pushed together so nothing comes between them. `frame` is
    /// the binary frame, encoded by the caller outside the lock (a file is
    /// large, and its frame does not depend on anything the lock guards).
    pub fn share_file(&self, from: MemberId, info: &FileInfo, size: usize, frame: Frame) {
        let mut state = self.lock();
        let Some(name) = state.name_of(from).map(str::to_string) else { return };
        let (mime, name_of_file) = (info.mime.clone(), info.name.clone());
        let change = Change::File { from: name, size, mime, name: name_of_file };
        if let Emitted::Full(_) = state.emit(Some(from), change, Some(frame), None) {
            state.refuse_for_now(from, "file");
        }
        self.unlock(state);
    }

    /// An event for one member only (`error`). A member not welcomed yet
    /// gets it right after its `welcome`, which is always the first frame.
    pub fn tell(&self, to: MemberId, event: &RoomEvent<'_>) {
        let mut state = self.lock();
        let frame = text_frame(&event.to_json(None));
        if let Some(member) = state.members.iter_mut().find(|m| m.id == to) {
            if !member.welcomed {
                member.hold(frame);
            } else if push_or_abort(&member.outbox, &[frame]) {
                let name = member.name.clone();
                state.notes.push(Note::TooSlow(name));
            }
        }
        self.unlock(state);
    }

    /// Names of the members, on every process, in order of arrival.
    pub fn member_names(&self) -> Vec<String> {
        self.lock().roster.names().map(str::to_string).collect()
    }
}

impl State {
    /// Is `name` taken: by a member here (under the name it has now), or
    /// by a member of another process (as far as this one has heard)? Two
    /// hash lookups, however big the room (`names.rs`).
    fn has(&self, name: &str) -> bool {
        self.names_here.contains(name) || self.roster.taken_elsewhere(&self.link.origin, name)
    }

    /// `wanted`, or `wanted-N` if it is taken (`names.rs`). `mine` is the
    /// renaming member's current name, which does not count as taken: a
    /// member may rename to the name it has. (The test is `has`, spelled
    /// out field by field: `self.suffixes` is borrowed mutably meanwhile,
    /// so the closure may borrow only the other fields.)
    fn unique_name(&mut self, wanted: &str, mine: Option<&str>) -> String {
        let (here, roster, origin) = (&self.names_here, &self.roster, &self.link.origin);
        let is_taken = |name: &str| {
            Some(name) != mine && (here.contains(name) || roster.taken_elsewhere(origin, name))
        };
        self.suffixes.unique_name(wanted, mine, is_taken)
    }

    fn name_of(&self, id: MemberId) -> Option<&str> {
        self.members.iter().find(|m| m.id == id).map(|m| m.name.as_str())
    }

    /// The publish queue was full: the member's `what` is not sent, and
    /// the member is told (a slow Redis costs a message, never a wait).
    fn refuse_for_now(&mut self, who: MemberId, what: &str) {
        let Some(member) = self.members.iter_mut().find(|m| m.id == who) else { return };
        let reason = format!("the room is busy (its link to Redis is backed up): {what} not sent");
        let frame = text_frame(&RoomEvent::Error { reason: &reason }.to_json(None));
        if member.welcomed {
            push_or_abort(&member.outbox, &[frame]);
        } else {
            member.hold(frame);
        }
        let name = member.name.clone();
        self.notes.push(Note::QueueFull(name));
    }
}

/// One JSON event as a WebSocket text frame, ready to share. (Building the
/// `Arc` copies the frame once more; that is once per event, not per member.)
pub fn text_frame(json: &str) -> Frame {
    Arc::from(encode_frame(Opcode::Text, json.as_bytes(), None))
}

// The room's tests are a chapter of their own: `room/tests.rs`.
#[cfg(test)]
mod tests;
