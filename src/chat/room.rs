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
//!    steps are `history.rs`);
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
//! Stamping-and-recording (`History::publish`) is kept apart from
//! delivering to the members in this process (`deliver`). The HTTP
//! transports reuse the first and add to the second (`room/feed.rs`):
//! a message also goes, encoded once as a Server-Sent Event, to every
//! event-stream listener, and wakes every long-polling request. A fan-out
//! across processes would keep the same seam: stamp and record once for
//! everyone, deliver in each process.
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
//! is logged at once, but only after the lock is released: logging is I/O.
//!
//! ## Named rooms
//!
//! One room per server is enough for now. A [`Room`] has a name and no
//! global state, so `/chat/ROOM` would need only a map from names to rooms
//! (and a bound on how many may exist) in front of this type.
//!
//! Read next: `src/chat/history.rs`, the sequence numbers and the record;
//! then `src/chat/room/feed.rs`, the room as the HTTP transports see it.

mod feed;

pub use feed::{ListenerId, Listening, PostError};

use std::fmt;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use super::history::History;
use super::names::{clean_name, guest_name, unique_name, NameError};
use super::outbox::{push_or_abort, Frame, Outbox};
use super::protocol::{FileInfo, RoomEvent, Stamp, Welcome};
use crate::config::Limits;
use crate::log;
use crate::websocket::frame::{encode_frame, Opcode};

/// A member's number, unique for the life of the room (names are not:
/// they change, and come back after someone leaves).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MemberId(pub u64);

/// Who joined, as the room decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Joined {
    pub id: MemberId,
    pub name: String,
    /// How many members the room has now.
    pub members: usize,
}

/// A chat room. Share it between connection threads behind an `Arc`, or
/// inside a struct that is.
#[derive(Debug)]
pub struct Room {
    name: String,
    max_text: usize,
    max_file: usize,
    state: Mutex<State>,
    /// Signalled (`notify_all`) after every new chat message, for the
    /// long-polling requests waiting in `Room::wait_for_messages`. It is
    /// paired with `state`'s lock: a `Condvar` always waits on one mutex.
    news: Condvar,
}

#[derive(Debug)]
struct State {
    /// In order of arrival. A `Vec` is plenty: it is scanned on join and
    /// rename, and iterated on every broadcast anyway.
    members: Vec<Member>,
    next_member: u64,
    next_guest: u64,
    history: History,
    /// Event-stream (Server-Sent Events) connections, which receive chat
    /// messages only; see `room/feed.rs`.
    listeners: Vec<feed::Listener>,
    next_listener: u64,
    /// Long polls asleep on `Room::news` (for tests and the curious).
    long_polls: usize,
    /// Who was cut off as too slow while the lock was held; logged by
    /// [`Room::unlock`] once it is released (logging is I/O).
    cut_off: Vec<CutOff>,
}

/// Someone the slow-consumer rule disconnected, for the log.
#[derive(Debug)]
enum CutOff {
    Member(String),
    Listener(ListenerId),
}

impl fmt::Display for CutOff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CutOff::Member(name) => {
                write!(f, "{name} is too slow (outbox full): disconnecting with 1008")
            }
            CutOff::Listener(id) => {
                write!(f, "event stream {} is too slow (outbox full): ending it", id.0)
            }
        }
    }
}

#[derive(Debug)]
struct Member {
    id: MemberId,
    name: String,
    outbox: Arc<Outbox>,
}

impl Room {
    pub fn new(name: &str, limits: &Limits) -> Room {
        let state = State {
            members: Vec::new(),
            next_member: 1,
            next_guest: 1,
            // Half an outbox, so that a newcomer's `welcome`, which carries
            // the whole history, always fits in its outbox.
            history: History::new(limits.outbox_bytes / 2),
            listeners: Vec::new(),
            next_listener: 1,
            long_polls: 0,
            cut_off: Vec::new(),
        };
        Room {
            name: name.to_string(),
            max_text: limits.max_chat_text,
            max_file: limits.max_chat_file,
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

    /// Releases the lock, *then* logs who was cut off while it was held.
    /// (A method that returns before delivering anything just drops its
    /// guard: it cannot have cut anyone off.)
    fn unlock(state: MutexGuard<'_, State>) {
        Room::unlock_then(state, || {});
    }

    /// [`unlock`](Self::unlock) after a new chat message: also wakes every
    /// long-polling request. After the unlock, not before: a woken request
    /// must take the lock to read the message, and would only block on it.
    /// And before the logging, which is slow.
    fn unlock_with_news(&self, state: MutexGuard<'_, State>) {
        Room::unlock_then(state, || self.news.notify_all());
    }

    fn unlock_then(mut state: MutexGuard<'_, State>, then: impl FnOnce()) {
        let cut_off = std::mem::take(&mut state.cut_off);
        drop(state);
        then();
        for who in cut_off {
            log!("chat: {who}");
        }
    }

    /// Adds a member. `requested` is the name from the URL, if any; a name
    /// that breaks the rules of `names.rs` becomes `guest-N` and the
    /// newcomer is told why. The newcomer gets a `welcome`; everyone else a
    /// `join`.
    pub fn join(&self, requested: Option<&str>, outbox: Arc<Outbox>) -> Joined {
        let mut guard = self.lock();
        let state = &mut *guard;
        let (name, refused) = match requested.map(clean_name) {
            Some(Ok(wanted)) => (unique_name(wanted, |n| state.has(n)), None),
            refused => {
                let members = &state.members;
                let name =
                    guest_name(&mut state.next_guest, |n| members.iter().any(|m| m.name == n));
                (name, refused.and_then(Result::err))
            }
        };
        let id = MemberId(state.next_member);
        state.next_member += 1;

        // Deliver `join` before adding the newcomer: they learn the same
        // thing from their `welcome`.
        let (stamp, join) = state.history.publish(&RoomEvent::Join { name: &name });
        state.deliver(&[text_frame(&join)], None);

        let members = state.members.iter().map(|m| m.name.as_str()).chain([name.as_str()]);
        let welcome = RoomEvent::Welcome(Welcome {
            room: &self.name,
            you: &name,
            members: members.collect(),
            history: state.history.messages().collect(),
            seq: stamp.seq,
            max_text: self.max_text,
            max_file: self.max_file,
        });
        let mut frames = vec![text_frame(&welcome.to_json(None))];
        if let Some(error) = refused {
            let reason = format!("name refused: {error}; you are {name}");
            frames.push(text_frame(&RoomEvent::Error { reason: &reason }.to_json(None)));
        }
        // One push into a fresh, empty outbox, which takes any one push
        // however big: a crowded room's welcome is never refused.
        push_or_abort(&outbox, &frames);
        state.members.push(Member { id, name: name.clone(), outbox });
        let joined = Joined { id, name, members: state.members.len() };
        Room::unlock(guard);
        joined
    }

    /// Removes a member and tells the others why. Safe to call more than
    /// once: only the first call finds the member, so `leave` is broadcast
    /// exactly once. Returns the name it had and how many remain.
    pub fn leave(&self, id: MemberId, reason: &str) -> Option<(String, usize)> {
        let mut state = self.lock();
        let index = state.members.iter().position(|m| m.id == id)?;
        let member = state.members.remove(index);
        let event = RoomEvent::Leave { name: &member.name, reason };
        let (_, leave) = state.history.publish(&event);
        state.deliver(&[text_frame(&leave)], None);
        let remaining = state.members.len();
        Room::unlock(state);
        Some((member.name, remaining))
    }

    /// A chat message, to everyone including its sender. The caller has
    /// checked its length against [`Limits::max_chat_text`].
    pub fn say(&self, from: MemberId, text: &str) {
        let mut state = self.lock();
        let Some(name) = state.name_of(from).map(str::to_string) else { return };
        state.publish_message(&name, text);
        self.unlock_with_news(state);
    }

    /// Renames a member, applying the same rules as on joining (a taken
    /// name gets a suffix). Renaming to one's own name changes nothing.
    pub fn rename(&self, who: MemberId, requested: &str) -> Result<(), NameError> {
        let wanted = clean_name(requested)?;
        let mut state = self.lock();
        let Some(old) = state.name_of(who).map(str::to_string) else { return Ok(()) };
        let new = unique_name(wanted, |n| n != old && state.has(n));
        if new == old {
            return Ok(());
        }
        let (_, rename) = state.history.publish(&RoomEvent::Rename { from: &old, to: &new });
        if let Some(member) = state.members.iter_mut().find(|m| m.id == who) {
            member.name = new;
        }
        state.deliver(&[text_frame(&rename)], None);
        Room::unlock(state);
        Ok(())
    }

    /// A file, to everyone *but* its sender: a `file` event and then the
    /// bytes, pushed together so nothing comes between them. `frame` is
    /// the binary frame, encoded by the caller outside the lock (a file is
    /// large, and its frame does not depend on anything the lock guards).
    pub fn share_file(&self, from: MemberId, info: &FileInfo, size: usize, frame: Frame) {
        let mut state = self.lock();
        let Some(name) = state.name_of(from).map(str::to_string) else { return };
        let event =
            RoomEvent::File { from: &name, size, mime: &info.mime, name: info.name.as_deref() };
        let (_, announcement) = state.history.publish(&event);
        state.deliver(&[text_frame(&announcement), frame], Some(from));
        Room::unlock(state);
    }

    /// An event for one member only (`error`).
    pub fn tell(&self, to: MemberId, event: &RoomEvent<'_>) {
        let mut state = self.lock();
        let frame = text_frame(&event.to_json(None));
        if let Some(member) = state.members.iter().find(|m| m.id == to) {
            if push_or_abort(&member.outbox, &[frame]) {
                let name = member.name.clone();
                state.cut_off.push(CutOff::Member(name));
            }
        }
        Room::unlock(state);
    }

    /// Names of the members, in order of arrival.
    pub fn member_names(&self) -> Vec<String> {
        self.lock().members.iter().map(|m| m.name.clone()).collect()
    }
}

impl State {
    fn has(&self, name: &str) -> bool {
        self.members.iter().any(|m| m.name == name)
    }

    fn name_of(&self, id: MemberId) -> Option<&str> {
        self.members.iter().find(|m| m.id == id).map(|m| m.name.as_str())
    }

    /// A chat message, whoever sent it (a member, or an HTTP request; see
    /// `room/feed.rs`): stamp and record it, then deliver it to the members
    /// as a WebSocket frame and to the event-stream listeners as an event.
    fn publish_message(&mut self, from: &str, text: &str) -> Stamp {
        let (stamp, message) = self.history.publish(&RoomEvent::Message { from, text });
        self.deliver(&[text_frame(&message)], None);
        self.deliver_to_listeners(stamp.seq, &message);
        stamp
    }

    /// Pushes the same frames to every member (but `skip`). A member whose
    /// outbox overflows is cut off as too slow, by `push_or_abort`, and the
    /// loop goes on to the next member without waiting for anyone.
    fn deliver(&mut self, frames: &[Frame], skip: Option<MemberId>) {
        for member in self.members.iter().filter(|m| Some(m.id) != skip) {
            if push_or_abort(&member.outbox, frames) {
                self.cut_off.push(CutOff::Member(member.name.clone()));
            }
        }
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
