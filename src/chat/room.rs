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
//! delivering to the members in this process (`deliver`). A later
//! transport (long-polling from the same history, or a fan-out across
//! processes) would reuse the first and replace or extend the second.
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
//! Read next: `src/chat/history.rs`, the sequence numbers and the record.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::history::History;
use super::names::{clean_name, guest_name, unique_name, NameError};
use super::outbox::{push_or_abort, Frame, Outbox};
use super::protocol::{FileInfo, RoomEvent, Welcome};
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
}

#[derive(Debug)]
struct State {
    /// In order of arrival. A `Vec` is plenty: it is scanned on join and
    /// rename, and iterated on every broadcast anyway.
    members: Vec<Member>,
    next_member: u64,
    next_guest: u64,
    history: History,
    /// Members cut off as too slow while the lock was held; logged by
    /// [`Room::unlock`] once it is released (logging is I/O).
    cut_off: Vec<String>,
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
            cut_off: Vec::new(),
        };
        Room {
            name: name.to_string(),
            max_text: limits.max_chat_text,
            max_file: limits.max_chat_file,
            state: Mutex::new(state),
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
    fn unlock(mut state: MutexGuard<'_, State>) {
        let cut_off = std::mem::take(&mut state.cut_off);
        drop(state);
        for name in cut_off {
            log!("chat: {name} is too slow (outbox full): disconnecting with 1008");
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
        let (_, message) = state.history.publish(&RoomEvent::Message { from: &name, text });
        state.deliver(&[text_frame(&message)], None);
        Room::unlock(state);
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
                state.cut_off.push(name);
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

    /// Pushes the same frames to every member (but `skip`). A member whose
    /// outbox overflows is cut off as too slow, by `push_or_abort`, and the
    /// loop goes on to the next member without waiting for anyone.
    fn deliver(&mut self, frames: &[Frame], skip: Option<MemberId>) {
        for member in self.members.iter().filter(|m| Some(m.id) != skip) {
            if push_or_abort(&member.outbox, frames) {
                self.cut_off.push(member.name.clone());
            }
        }
    }
}

/// One JSON event as a WebSocket text frame, ready to share. (Building the
/// `Arc` copies the frame once more; that is once per event, not per member.)
pub fn text_frame(json: &str) -> Frame {
    Arc::from(encode_frame(Opcode::Text, json.as_bytes(), None))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::outbox::too_slow_goodbye;
    use crate::websocket::frame::FrameHeader;

    fn room() -> Room {
        Room::new("main", &Limits::default())
    }

    fn outbox() -> Arc<Outbox> {
        Arc::new(Outbox::new(Limits::default().outbox_bytes))
    }

    /// What the member's writer would take now (without waiting for more).
    fn pending(outbox: &Outbox) -> Vec<Frame> {
        let mut batch = Vec::new();
        if outbox.queued_bytes() > 0 {
            outbox.take_all(&mut batch);
        }
        batch
    }

    /// The same, each frame's payload as text.
    fn drain(outbox: &Outbox) -> Vec<String> {
        let payload = |frame: &Frame| {
            let mut bytes = &frame[..];
            let header = FrameHeader::read_from(&mut bytes).unwrap();
            assert_eq!(header.payload_len as usize, bytes.len(), "one whole frame per push");
            String::from_utf8_lossy(bytes).into_owned()
        };
        pending(outbox).iter().map(payload).collect()
    }

    #[test]
    fn join_welcomes_the_newcomer_and_tells_the_others() {
        let room = room();
        let (a, b) = (outbox(), outbox());
        let ann = room.join(Some("ann"), Arc::clone(&a));
        assert_eq!((ann.name.as_str(), ann.members), ("ann", 1));
        room.join(Some("  bob "), Arc::clone(&b));
        let to_ann = drain(&a);
        assert!(to_ann[0].starts_with(r#"{"type":"welcome","room":"main","you":"ann","seq":1,"#));
        assert!(to_ann[1].starts_with(r#"{"type":"join","seq":2,"#), "{}", to_ann[1]);
        assert!(to_ann[1].ends_with(r#","name":"bob"}"#));
        let to_bob = drain(&b);
        assert_eq!(to_bob.len(), 1, "no join event for oneself: {to_bob:?}");
        assert!(to_bob[0].contains(r#""you":"bob","seq":2,"members":["ann","bob"],"history":[]"#));
    }

    #[test]
    fn a_message_is_encoded_once_and_shared_with_everyone() {
        let room = room();
        let boxes: Vec<_> = (0..3).map(|_| outbox()).collect();
        let ids: Vec<_> = boxes.iter().map(|o| room.join(None, Arc::clone(o)).id).collect();
        boxes.iter().for_each(|o| drop(pending(o)));
        room.say(ids[1], "hello");
        let frames: Vec<Frame> = boxes.iter().flat_map(|o| pending(o)).collect();
        assert_eq!(frames.len(), 3, "the sender gets its own copy too");
        assert!(frames.iter().all(|f| Arc::ptr_eq(f, &frames[0])), "one allocation for all");
        assert!(String::from_utf8_lossy(&frames[0]).contains(r#""from":"guest-2","text":"hello""#));
    }

    #[test]
    fn names_default_refused_and_taken() {
        let room = room();
        assert_eq!(room.join(None, outbox()).name, "guest-1");
        assert_eq!(room.join(Some("ann"), outbox()).name, "ann");
        assert_eq!(room.join(Some("ann"), outbox()).name, "ann-2");
        let told = outbox();
        assert_eq!(room.join(Some("a\u{1b}[31mred"), Arc::clone(&told)).name, "guest-2");
        let events = drain(&told);
        assert!(events[1].starts_with(r#"{"type":"error","reason":"name refused: "#));
        assert_eq!(room.member_names(), ["guest-1", "ann", "ann-2", "guest-2"]);
    }

    #[test]
    fn rename_is_checked_and_broadcast() {
        let room = room();
        let a = outbox();
        let ann = room.join(Some("ann"), Arc::clone(&a)).id;
        let bob = room.join(Some("bob"), outbox()).id;
        drop(pending(&a));
        assert_eq!(room.rename(bob, "ann"), Ok(()));
        assert_eq!(room.rename(ann, "ann"), Ok(()), "no-op");
        assert_eq!(room.rename(ann, "\u{7}"), Err(NameError::Forbidden('\u{7}')));
        assert_eq!(room.member_names(), ["ann", "ann-2"]);
        let events = drain(&a);
        assert_eq!(events.len(), 1, "{events:?}");
        assert!(events[0].ends_with(r#","from":"bob","to":"ann-2"}"#));
    }

    #[test]
    fn leave_is_broadcast_exactly_once() {
        let room = room();
        let a = outbox();
        room.join(Some("ann"), Arc::clone(&a));
        let bob = room.join(Some("bob"), outbox()).id;
        assert_eq!(room.leave(bob, "left"), Some(("bob".to_string(), 1)));
        assert_eq!(room.leave(bob, "left"), None);
        let leaves: Vec<_> = drain(&a).into_iter().filter(|e| e.contains("leave")).collect();
        assert_eq!(leaves.len(), 1);
        assert!(leaves[0].ends_with(r#""name":"bob","reason":"left"}"#));
    }

    #[test]
    fn files_go_to_the_others_with_their_announcement() {
        let room = room();
        let (a, b) = (outbox(), outbox());
        let ann = room.join(Some("ann"), Arc::clone(&a)).id;
        room.join(Some("bob"), Arc::clone(&b));
        drop((pending(&a), pending(&b)));
        let info = FileInfo { mime: "image/png".into(), name: Some("x.png".into()) };
        room.share_file(ann, &info, 3, Arc::from(encode_frame(Opcode::Binary, b"png", None)));
        assert!(pending(&a).is_empty(), "the sender does not get its file back");
        let to_bob = drain(&b);
        assert!(to_bob[0].contains(r#""from":"ann","size":3,"mime":"image/png","name":"x.png""#));
        assert_eq!(to_bob[1], "png");
    }

    #[test]
    fn a_slow_member_is_cut_off_and_nobody_else_notices() {
        let limits = Limits { outbox_bytes: 64 * 1024, ..Limits::default() };
        let room = Room::new("main", &limits);
        let (fast, slow) = (outbox(), Arc::new(Outbox::new(limits.outbox_bytes)));
        let ann = room.join(Some("ann"), Arc::clone(&fast)).id;
        room.join(Some("sloth"), Arc::clone(&slow));
        drop(pending(&fast)); // welcome and join
        let mut received = 0;
        for i in 0..100 {
            room.say(ann, &format!("{i:01000}"));
            // ann's writer keeps up; sloth's never takes anything.
            received += pending(&fast).len();
        }
        assert!(slow.was_aborted());
        assert!(!fast.was_aborted());
        assert_eq!(received, 100);
        let last = pending(&slow);
        assert_eq!(last, vec![too_slow_goodbye()], "the backlog was replaced by a close frame");
    }
}
