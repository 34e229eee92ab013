//! # Delivery: the one place a numbered event reaches the members
//!
//! Whoever numbered an event (this process alone, or Redis for every
//! process sharing the room), it ends up here, in [`State::apply`], with
//! its stamp. Holding the room's lock, `apply`:
//!
//! 1. renders the members' JSON once and *records* it (`History::record`:
//!    the number, and the last 100 messages for newcomers);
//! 2. encodes the WebSocket frame once, and pushes the same `Arc` into
//!    every welcomed member's outbox (`deliver`), and a message also into
//!    every event stream's (`deliver_to_listeners`, `room/feed.rs`);
//! 3. keeps the roster (`room/roster.rs`): a `join` adds, a `leave`
//!    removes, a `rename` renames;
//! 4. for a `join` of one of *our* members, sends it its `welcome`, built
//!    from memory right there: the roster, the record and the `join`'s own
//!    `seq`. Nothing can come between the `join` and the `welcome`, so the
//!    newcomer misses nothing and gets nothing twice.
//!
//! Who gets what:
//!
//! - a member whose `welcome` has not been sent yet gets nothing: its
//!   `welcome` will cover all of it;
//! - a `file` goes to everyone but its sender, who is identified by its
//!   process ([`ProcessId`](crate::chat::bus::envelope::ProcessId)) and
//!   its number there: a member of another process with the same number is
//!   somebody else.
//!
//! Read next: `src/chat/history.rs`, the sequence numbers and the record.
//! (Where events come from when the room is shared is `room/link.rs`,
//! later in the order of `src/chat/mod.rs`.)

use std::sync::Arc;

use super::roster::RosterEntry;
use super::{text_frame, MemberId, Note, State};
use crate::chat::bus::envelope::{Change, Envelope};
use crate::chat::outbox::{push_or_abort, push_or_abort_batched, Frame};
use crate::chat::protocol::{RoomEvent, Stamp, Welcome};

impl State {
    /// Records `envelope`'s event under `stamp` and delivers it to the
    /// members here. See the top of this file.
    pub(super) fn apply(&mut self, stamp: Stamp, envelope: &Envelope) {
        let ours = envelope.origin == self.link.origin;
        let json = self.history.record(stamp, &envelope.change.event());
        let frame = text_frame(&json);
        let origin = &envelope.origin;
        match (&envelope.change, envelope.member) {
            (Change::Join { name }, Some(member)) => {
                self.deliver(&[frame], None);
                let entry = RosterEntry {
                    origin: origin.clone(),
                    member,
                    name: name.clone(),
                    joined: stamp.seq,
                };
                self.roster.join(entry);
                if ours {
                    self.welcome(member, name, stamp.seq);
                }
            }
            (Change::Leave { .. }, member) => {
                self.deliver(&[frame], None);
                if let Some(member) = member {
                    self.roster.leave(origin, member);
                }
            }
            (Change::Rename { to, .. }, member) => {
                self.deliver(&[frame], None);
                if let Some(member) = member {
                    self.roster.rename(origin, member, to);
                }
            }
            (Change::Message { .. }, _) => {
                self.deliver(&[frame], None);
                self.deliver_to_listeners(stamp.seq, &json);
                self.news = true;
            }
            (Change::File { .. }, member) => {
                // `Envelope::decode` and `Room::share_file` always attach
                // the bytes; an announcement without them would break the
                // promise that the bytes follow it, so none is sent.
                let Some(file) = &envelope.file else { return };
                let sender = if ours { member } else { None };
                self.deliver(&[frame, Arc::clone(file)], sender);
            }
            // A join without a member cannot be built by this code; one
            // from the network is recorded (it has a `seq`) and shown.
            (Change::Join { .. }, None) => self.deliver(&[frame], None),
        }
    }

    /// Pushes the same frames to every welcomed member (but `skip`). A
    /// member whose outbox overflows is cut off as too slow, by
    /// `push_or_abort_batched`, and the loop goes on to the next member
    /// without waiting for anyone. Writers are woken in batches
    /// (`wakeups.rs`).
    pub(super) fn deliver(&mut self, frames: &[Frame], skip: Option<MemberId>) {
        let receivers = self.members.iter().filter(|m| m.welcomed && Some(m.id) != skip);
        for member in receivers {
            if push_or_abort_batched(&member.outbox, frames) {
                self.notes.push(Note::TooSlow(member.name.clone()));
            }
        }
    }

    /// The newcomer's first frame: the room as of its own `join` (`seq`),
    /// followed by whatever was held for it. `you` is the name its `join`
    /// announced, so the `rename` events that may follow make sense.
    fn welcome(&mut self, id: MemberId, you: &str, seq: u64) {
        let Some(member) = self.members.iter_mut().find(|m| m.id == id) else {
            return; // it left before its join came back
        };
        let welcome = RoomEvent::Welcome(Welcome {
            room: &self.about.name,
            you,
            members: self.roster.names().collect(),
            history: self.history.messages().collect(),
            seq,
            max_text: self.about.max_text,
            max_file: self.about.max_file,
        });
        let mut frames = vec![text_frame(&welcome.to_json(None))];
        frames.append(&mut member.held);
        member.welcomed = true;
        // The outbox has had nothing from the room yet, so this one push
        // fits however big the welcome is (an empty outbox takes any push;
        // at most a pong the member's own WebSocket queued is ahead of it).
        if push_or_abort(&member.outbox, &frames) {
            self.notes.push(Note::TooSlow(member.name.clone()));
        }
    }
}
