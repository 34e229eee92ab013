//! # The room: members, history, and fan-out
//!
//! This is the chat room, and it knows nothing of sockets or threads. A
//! member is a name and an [`Outbox`]; everything the room does ends in
//! pushing bytes into outboxes. Who reads and writes sockets is
//! `member.rs`'s business.
//!
//! ## Fan-out: one message, many members
//!
//! When ann says "hi", the room, holding its one lock:
//!
//! 1. *decides* the event ([`Decided`]): who says what, under which name;
//! 2. *numbers* it ([`Core::number_here`]): the next sequence number,
//!    and the time (`History::stamp`);
//! 3. renders the JSON **once** and *records* it (`History::record`: the
//!    last 100 messages are kept for newcomers), and encodes the WebSocket
//!    frame **once**, into an `Arc<[u8]>` ([`text_frame`]);
//! 4. *delivers* it: pushes a clone of that `Arc` (a pointer and a
//!    counter increment, not a copy of the bytes) into every member's
//!    outbox, ann's included: her own copy is her acknowledgement.
//!    Members whose connection agreed to permessage-deflate (`--deflate`)
//!    get a compressed copy instead, also made once and shared
//!    (`MessageCodec::encode_shared`; `docs/11-compression.md`).
//!
//! Steps 3 and 4 are [`Core::deliver`]. Then it lets go of the lock.
//! Pushing under the lock is what gives every member the same order of
//! events: two messages said at the same moment are numbered and pushed
//! one after the other, never interleaved.
//!
//! Holding a lock while doing I/O would let one stuck socket freeze the
//! room, so the rule is: **the room lock is never held across I/O.**
//! Everything done under it is memory work, proportional to the event and
//! the number of members. Pushing never blocks (`outbox.rs`); the bytes
//! reach the sockets later, outside the lock: on each member's writer
//! thread, or on the thread that pays a deferred wake-up (below). Even
//! the log waits: what deserves a log line is noted under the lock and
//! written by `Room::with_lock` once the lock is released (logging is I/O
//! too).
//!
//! ## The slow-consumer policy
//!
//! A member who stops reading (a frozen tab, a phone in a tunnel) cannot be
//! allowed to slow down anybody else, or to make the server hold an
//! unbounded backlog for them; and a member who keeps up must never be
//! taken for one during a burst. So a push that a member's outbox refuses
//! as too slow (its backlog above the soft limit for longer than the
//! grace, or past the hard limit: `outbox.rs`) cuts that member off: its
//! backlog is dropped, a close frame with code **1008** is queued in its
//! place, and the member is disconnected. The push that failed costs the
//! room a few instructions; the others never wait. The member's `leave`
//! follows once its connection has wound down.
//!
//! ## Waking the writers: two improvements, measured
//!
//! [`Outbox::push`] wakes an idle writer at once, except on a thread that
//! puts its wake-ups off: a member's reader thread wakes every writer it
//! owes once per burst of messages rather than once per message: 56,000
//! deliveries a second to 1,000 members became 1.6 million (`wakeups.rs`,
//! `docs/performance.md`). And when it pays such a wake-up, it may write a
//! small batch itself, in the sleeping writer's place, and wake no one
//! (`outbox/handover.rs`): with one message at a time to 1,000 members,
//! the slowest deliveries (p99) went below a Node `ws` room's.
//!
//! ## The seam: where layers plug in
//!
//! Alone, a room numbers each event itself, as it decides it. Two optional
//! layers change that, and the room names neither of them; they plug into
//! two interfaces it defines here, each by a field set under the room's
//! lock ([`Room::with_lock`]): `Locked::numbering` and `Core::audience`.
//!
//! - [`Numbering`], *who numbers an event*. A room shared with other
//!   processes through Redis (`src/redis/bus/`, `--redis`) hands each
//!   decided event away instead of numbering it, and delivers it through
//!   [`Core::deliver`] when it comes back numbered, in the one order every
//!   process agrees on.
//! - [`Audience`], *who else hears it*. The HTTP push layer (`src/push/`)
//!   hears every delivered event, under the same lock, and passes messages
//!   on to event streams and long polls.
//!
//! ## Named rooms
//!
//! One room per server is enough for now. A [`Room`] has a name
//! (`Core::room_name`, which every `welcome` carries) and no global
//! state, so `/chat/ROOM` would need only a map from names to rooms (and
//! a bound on how many may exist) in front of this type.
//!
//! Read next: `src/chat/history.rs`, the numbers and the record.

use std::any::Any;
use std::collections::HashSet;
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use super::history::History;
use super::names::{clean_name, NameError, Suffixes};
use super::outbox::{too_slow_reason, Encoded, Outbox, PushError};
use super::protocol::{error_json, Change, FileInfo, Stamp, Welcome};
use crate::config::Limits;
use crate::log;
use crate::websocket::extension::{encoded_frame, MessageCodec};
use crate::websocket::frame::{encode_frame, Opcode};

/// A member's number, unique for the life of the room in this process
/// (names are not: they change, and come back after someone leaves).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MemberId(pub u64);

/// An event as the room decided it, not numbered yet.
#[derive(Debug)]
pub struct Decided {
    /// The member of this room it is about: its sender, or who joins,
    /// leaves or renames. `None` for a message from outside the room (an
    /// HTTP post) or an event from another process.
    pub member: Option<MemberId>,
    pub change: Change,
    /// A file's bytes, as one binary frame: `Some` exactly for a `File`.
    pub file: Option<Encoded>,
}

/// What became of an event (`Locked::emit`).
#[derive(Debug)]
pub enum Emitted {
    /// Numbered here and delivered.
    Delivered(Stamp),
    /// Taken away to be numbered elsewhere. The receiver is told its stamp
    /// once it is back and delivered here: within this time, or never.
    Away(Receiver<Stamp>, Duration),
    /// Not sent, and why (a message, when the way out is backed up). A
    /// member who sent it has been told (`Core::tell`).
    Refused(String),
}

/// Who numbers the room's events, when it is not the room itself. See
/// the top of this file; `src/redis/bus/link.rs` is the one there is.
pub trait Numbering: Any + Send {
    /// A decided event: numbered and delivered here and now (with
    /// [`Core::number_here`]), or taken away, or refused. Called under the
    /// room's lock: never block.
    fn route(&mut self, decided: Decided, core: &mut Core) -> Emitted;
    /// Does a member somewhere else (another process) hold `name`?
    fn held_elsewhere(&self, name: &str) -> bool;
    /// Everyone in the room, on every process, in order of their `join`,
    /// as the delivered events tell it (a newcomer's own `join` included).
    fn roster(&self) -> Vec<String>;
}

/// Who else hears the room's events: called under the room's lock, in
/// `seq` order, with the JSON the members got. Never block, never do I/O;
/// push lines for the log into `notes`.
pub trait Audience: Send {
    fn hear(&mut self, stamp: Stamp, change: &Change, json: &str, notes: &mut Vec<String>);
}

/// A chat room. Share it between connection threads behind an `Arc`.
pub struct Room {
    state: Mutex<Locked>,
}

/// What the room's one lock guards: its core, and who numbers its events
/// (a separate field, so that both can be borrowed at once).
pub struct Locked {
    pub core: Core,
    /// `None`: the room numbers its events itself. A layer plugs its
    /// [`Numbering`] in here, under the lock, before anyone joins.
    pub numbering: Option<Box<dyn Numbering>>,
}

/// The room itself: members, names, the record, who else hears.
#[derive(Default)]
pub struct Core {
    /// What every `welcome` says about the room: its name and limits.
    pub room_name: String,
    limits: Limits,
    /// The members connected to this process, in order of arrival. A
    /// `Vec` is plenty: it is walked on every broadcast anyway.
    members: Vec<Member>,
    /// The names of `members`, indexed, so that checking whether a name is
    /// free does not walk the list (`names.rs`).
    names_here: HashSet<String>,
    /// Where the search for a free `ann-N` starts, per contested name.
    suffixes: Suffixes,
    /// The last member number and `guest-N` handed out.
    members_ever: u64,
    guests_ever: u64,
    /// The numbers and the record (`history.rs`). A layer that numbers
    /// events elsewhere keeps it in step.
    pub history: History,
    /// Who else hears every event: a layer plugs its [`Audience`] in here.
    pub audience: Vec<Box<dyn Audience>>,
    /// Log lines noted under the lock, written by `Room::with_lock` once
    /// it is released. A layer adds its own here.
    pub notes: Vec<String>,
}

struct Member {
    id: MemberId,
    /// The name as the room decided it: what its next message is sent
    /// under, and what another newcomer may not take. (When events are
    /// numbered elsewhere, a rename is decided before it is told; the
    /// [`Numbering`] keeps the roster as told.)
    name: String,
    outbox: Arc<Outbox>,
    /// Has its `welcome` been sent? Until then nothing else is delivered
    /// to it: the welcome covers everything before it.
    welcomed: bool,
    /// Frames that must follow its `welcome` (an `error`), at most
    /// [`MAX_HELD`].
    held: Vec<Encoded>,
    /// The per-message extension its connection agreed to, if any.
    codec: Option<Arc<dyn MessageCodec>>,
}

/// Most frames held for a member before its `welcome`. Only `error`s are
/// held, and a client can send refusable (empty) messages faster than its
/// `join` may come back when numbered elsewhere: the bound keeps that from
/// costing memory. What does not fit is dropped.
const MAX_HELD: usize = 16;

impl Room {
    pub fn new(name: &str, limits: &Limits) -> Room {
        // Half an outbox, so that a newcomer's `welcome`, which carries
        // the whole history, always fits in its outbox.
        let history = History::new(limits.outbox_soft_bytes / 2);
        let core =
            Core { room_name: name.into(), limits: limits.clone(), history, ..Core::default() };
        Room { state: Mutex::new(Locked { core, numbering: None }) }
    }

    /// Runs `f` under the room's lock, *then*, once the lock is released,
    /// logs what was noted while it was held. Every change to the room goes
    /// through here, the layers' included.
    ///
    /// A panic while the lock was held (a bug) leaves the state usable:
    /// every method changes it in steps that each keep it consistent. So
    /// the room carries on instead of every member panicking after it.
    pub fn with_lock<T>(&self, f: impl FnOnce(&mut Locked) -> T) -> T {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let result = f(&mut state);
        let notes = std::mem::take(&mut state.core.notes);
        drop(state);
        for note in notes {
            log!("{note}");
        }
        result
    }

    /// Adds a member. `requested` is the name from the URL, if any: a
    /// decoded name, or one that could not be decoded
    /// ([`name_in_query`](super::names::name_in_query)). A name that breaks
    /// the rules of `names.rs` becomes `guest-N` and the newcomer is told
    /// why. Everyone else gets a `join`, the newcomer a `welcome`, both when
    /// the `join` is delivered. `codec` is the per-message extension its
    /// connection agreed to (permessage-deflate, `--deflate`), if any: its
    /// events go out encoded by it when that is shorter.
    pub fn join(
        &self,
        requested: Option<Result<&str, NameError>>,
        outbox: Arc<Outbox>,
        codec: Option<Arc<dyn MessageCodec>>,
    ) -> MemberId {
        self.with_lock(|state| {
            // No name asked for, or one refused: a guest, told why only if refused.
            let (name, refused) = match requested.map(|name| name.and_then(clean_name)) {
                Some(Ok(wanted)) => (state.unique_name(wanted, None), None),
                refused => (state.guest_name(), refused.and_then(Result::err)),
            };
            let core = &mut state.core;
            core.members_ever += 1;
            let id = MemberId(core.members_ever);
            let (welcomed, held) = (false, Vec::new()); // until its `join` is delivered
            core.members.push(Member { id, name: name.clone(), outbox, welcomed, held, codec });
            core.names_here.insert(name.clone());
            let (room, here) = (&core.room_name, core.members.len());
            core.notes.push(format!("chat: {name} joined {room}; {here} here"));
            state.emit(decided(id, Change::Join { name: name.clone() }));
            if let Some(error) = refused {
                state.core.tell(id, &format!("name refused: {error}; you are {name}"));
            }
            id
        })
    }

    /// Removes a member and tells the others why. Safe to call more than
    /// once: only the first call finds the member, so `leave` is broadcast
    /// exactly once.
    pub fn leave(&self, id: MemberId, reason: &str) {
        self.with_lock(|state| {
            let core = &mut state.core;
            let Some(at) = core.members.iter().position(|m| m.id == id) else { return };
            let name = core.members.remove(at).name;
            core.names_here.remove(&name);
            let (room, here) = (&core.room_name, core.members.len());
            core.notes.push(format!("chat: {name} gone from {room}: {reason}; {here} here"));
            state.emit(decided(id, Change::Leave { name, reason: reason.to_string() }));
        });
    }

    /// A chat message, to everyone including its sender. The caller has
    /// checked its length against [`Limits::max_chat_text`].
    pub fn say(&self, from: MemberId, text: &str) {
        let text = text.to_string();
        self.send(from, |from| Change::Message { from, text }, None);
    }

    /// Renames a member, applying the same rules as on joining (a taken
    /// name gets a suffix). Renaming to one's own name changes nothing.
    pub fn rename(&self, who: MemberId, requested: &str) -> Result<(), NameError> {
        let wanted = clean_name(requested)?;
        self.with_lock(|state| {
            let Some(at) = state.core.members.iter().position(|m| m.id == who) else { return };
            let old = state.core.members[at].name.clone();
            let new = state.unique_name(wanted, Some(&old));
            if new != old {
                let core = &mut state.core;
                core.members[at].name = new.clone();
                core.names_here.remove(&old);
                core.names_here.insert(new.clone());
                state.emit(decided(who, Change::Rename { from: old, to: new }));
            }
        });
        Ok(())
    }

    /// A file, to everyone *but* its sender: a `file` event and then the
    /// bytes, pushed together so nothing comes between them. `frame` is
    /// the binary frame, encoded by the caller outside the lock (a file is
    /// large, and its frame does not depend on anything the lock guards).
    pub fn share_file(&self, from: MemberId, info: &FileInfo, size: usize, frame: Encoded) {
        let (mime, name) = (info.mime.clone(), info.name.clone());
        self.send(from, |from| Change::File { from, size, mime, name }, Some(frame));
    }

    /// A message or a file from a member, under its current name. (If the
    /// room's [`Numbering`] refuses it, it tells the sender why.)
    fn send(&self, id: MemberId, change: impl FnOnce(String) -> Change, file: Option<Encoded>) {
        self.with_lock(|state| {
            let Some(member) = state.core.members.iter().find(|m| m.id == id) else { return };
            state.emit(Decided { file, ..decided(id, change(member.name.clone())) });
        });
    }

    /// Names of the members, on every process, in order of arrival.
    pub fn member_names(&self) -> Vec<String> {
        self.with_lock(|state| state.core.roster(state.numbering.as_deref()))
    }
}

/// A decided event of one of our members, without a file.
fn decided(member: MemberId, change: Change) -> Decided {
    Decided { member: Some(member), change, file: None }
}

impl Locked {
    /// Numbers and delivers an event here, unless the room's
    /// [`Numbering`] takes it away or refuses it. Never waits.
    pub fn emit(&mut self, decided: Decided) -> Emitted {
        match self.numbering.as_deref_mut() {
            Some(numbering) => numbering.route(decided, &mut self.core),
            None => self.core.number_here(decided, None),
        }
    }

    /// Is `name` taken: by a member here (under the name it has now), or
    /// by a member elsewhere? Hash lookups, however big the room.
    pub fn is_taken(&self, name: &str) -> bool {
        self.core.names_here.contains(name)
            || self.numbering.as_ref().is_some_and(|n| n.held_elsewhere(name))
    }

    /// `wanted`, or `wanted-N` if it is taken (`names.rs`). `mine` is the
    /// renaming member's current name, which does not count as taken.
    fn unique_name(&mut self, wanted: &str, mine: Option<&str>) -> String {
        // Taken out for the call, so that `is_taken` may look at the rest.
        let mut suffixes = std::mem::take(&mut self.core.suffixes);
        let name = suffixes.unique_name(wanted, mine, |n| Some(n) != mine && self.is_taken(n));
        self.core.suffixes = suffixes;
        name
    }

    /// The next free `guest-N` (someone may have chosen `guest-3` by hand).
    fn guest_name(&mut self) -> String {
        loop {
            self.core.guests_ever += 1;
            let name = format!("guest-{}", self.core.guests_ever);
            if !self.is_taken(&name) {
                return name;
            }
        }
    }
}

impl Core {
    /// Numbers `decided` here, with the next number (`History::stamp`), and
    /// delivers it: what a room alone does with every event. `numbering` is
    /// the room's [`Numbering`] when that is who calls.
    pub fn number_here(&mut self, decided: Decided, numbering: Option<&dyn Numbering>) -> Emitted {
        let stamp = self.history.stamp();
        self.deliver(stamp, decided, numbering);
        Emitted::Delivered(stamp)
    }

    /// Records `decided` under `stamp` and delivers it: to the audience,
    /// to every welcomed member here, and for a `join` of one of ours, a
    /// `welcome` to the newcomer right after it. `numbering` (if any) says
    /// who else is in the room, for that welcome. The one place an event
    /// reaches the members, whoever numbered it.
    pub fn deliver(&mut self, stamp: Stamp, decided: Decided, numbering: Option<&dyn Numbering>) {
        let json = self.history.record(stamp, &decided.change);
        for audience in &mut self.audience {
            audience.hear(stamp, &decided.change, &json, &mut self.notes);
        }
        match decided.file {
            // The bytes follow the announcement, to everyone but the sender.
            Some(file) => self.broadcast(&json, &[text_frame(&json), file], decided.member),
            None => self.broadcast(&json, &[text_frame(&json)], None),
        }
        if let (Change::Join { name }, Some(id)) = (&decided.change, decided.member) {
            self.welcome(id, name, stamp.seq, numbering);
        }
    }

    /// Pushes the same frames to every welcomed member (but `skip`). A
    /// member whose outbox refuses them as too slow (over its hard limit,
    /// or above its soft limit past the grace: `outbox.rs`) is cut off,
    /// and the loop goes on to the next member without waiting for anyone.
    /// Writers are woken once per burst (`wakeups.rs`).
    ///
    /// `frames` starts with the event's JSON, `json`, as a plain text
    /// frame. A member whose connection agreed to compression gets that
    /// first frame compressed instead. Every member with the same terms
    /// shares one codec, which compresses the event once and answers the
    /// others with the same bytes (`MessageCodec::encode_shared`).
    fn broadcast(&mut self, json: &str, frames: &[Encoded], skip: Option<MemberId>) {
        for member in self.members.iter().filter(|m| m.welcomed && Some(m.id) != skip) {
            // `None` (no codec, or compressing would not make it shorter):
            // the plain frames go.
            let compressed = member.codec.as_ref().and_then(|codec| {
                let first = codec.encode_shared(Opcode::Text, json.as_bytes())?;
                Some([&[first], &frames[1..]].concat())
            });
            push_to(member, compressed.as_deref().unwrap_or(frames), &mut self.notes);
        }
    }

    /// The newcomer's first frame: the room as of its own `join` (`seq`),
    /// followed by whatever was held for it. `you` is the name its `join`
    /// announced, so the `rename` events that may follow make sense.
    fn welcome(&mut self, id: MemberId, you: &str, seq: u64, numbering: Option<&dyn Numbering>) {
        // It may have left before its join was delivered.
        let Some(at) = self.members.iter().position(|m| m.id == id) else { return };
        self.members[at].welcomed = true;
        let members = &self.roster(numbering);
        let history = self.history.recorded.iter().map(|recorded| &*recorded.json).collect();
        let (room, limits) = (&self.room_name, &self.limits);
        // The welcome (with the history) is the largest event a member
        // gets, and it is its own: compressed for it alone.
        let json = Welcome { room, you, members, history, seq, limits }.to_json();
        let member = &mut self.members[at];
        let compressed = member.codec.as_ref().and_then(|codec| codec.encode(json.as_bytes()));
        let first = compressed.map(|encoded| encoded_frame(Opcode::Text, &encoded));
        let mut frames = vec![first.unwrap_or_else(|| text_frame(&json))];
        frames.append(&mut member.held);
        // Nothing from the room has been pushed to this outbox yet, so this
        // one push fits however big the welcome is (an empty outbox takes
        // any push; at most a pong is ahead of it).
        push_to(member, &frames, &mut self.notes);
    }

    /// Everyone in the room as the delivered events tell it, in order of
    /// their `join`: the welcomed members here, or, when events are
    /// numbered elsewhere, the [`Numbering`]'s roster of every process.
    fn roster(&self, numbering: Option<&dyn Numbering>) -> Vec<String> {
        match numbering {
            Some(numbering) => numbering.roster(),
            None => self.members.iter().filter(|m| m.welcomed).map(|m| m.name.clone()).collect(),
        }
    }

    /// An `error` event for one member, after its `welcome` if that has
    /// not gone yet.
    pub fn tell(&mut self, to: MemberId, reason: &str) {
        let frame = text_frame(&error_json(reason));
        let Some(member) = self.members.iter_mut().find(|m| m.id == to) else { return };
        if member.welcomed {
            push_to(member, &[frame], &mut self.notes);
        } else if member.held.len() < MAX_HELD {
            member.held.push(frame);
        }
    }
}

/// Every push the room makes: `frames` for one member, or, if it is too
/// slow to take them (`outbox.rs`), the 1008 close in place of its backlog.
/// Its writer is woken now or after the burst (`wakeups.rs`), or written
/// for (`outbox/handover.rs`). A member already leaving refuses them
/// (`Closed`): they have no one to go to.
fn push_to(member: &Member, frames: &[Encoded], notes: &mut Vec<String>) {
    if let Err(why @ (PushError::Overflow | PushError::Behind)) = member.outbox.push(frames) {
        let reason = too_slow_reason(why);
        notes.push(format!("chat: {} is {reason}: disconnecting with 1008", member.name));
    }
}

/// One JSON event as a WebSocket text frame, ready to share. (Building the
/// `Arc` copies the frame once more; that is once per event, not per member.)
pub fn text_frame(json: &str) -> Encoded {
    Arc::from(encode_frame(Opcode::Text, json.as_bytes(), None))
}

// The room's tests are a chapter of their own: `room/tests.rs`.
#[cfg(test)]
pub(crate) mod tests;
