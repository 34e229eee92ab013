//! # The room's feed: what the HTTP transports read
//!
//! A WebSocket member is *in* the room: it has an outbox, and the room
//! pushes every event into it. The HTTP transports reach the same room
//! from outside, three ways, and this file is the room's side of each:
//!
//! - **short polling** asks "what came after seq 41?" and gets an answer at
//!   once: [`Room::messages_since`], a read of the record in
//!   `src/chat/history.rs`;
//! - **long polling** asks the same, but if the answer is "nothing yet" it
//!   waits: [`Room::wait_for_messages`] sleeps on the room's `Condvar`,
//!   which every new message signals;
//! - **Server-Sent Events** keep a response open and have each message
//!   pushed into it: [`Room::listen`] registers an outbox, like a member's
//!   but holding `text/event-stream` bytes instead of WebSocket frames.
//!
//! And one way in: [`Room::post`], a message sent with `POST /api/send` by
//! someone who is not a member at all.
//!
//! Each asks from a position: "after seq 41", or `None`, "from now on",
//! which is the newest `seq` at the moment the room looks (under its lock,
//! so nothing said meanwhile can fall between "now" and the first answer).
//!
//! All of them carry chat messages only (`message` events), not joins,
//! leaves, renames or files: those are about the members of the WebSocket
//! room, and a file's bytes could not go into a text feed anyway. So the `seq`
//! numbers a feed client sees have gaps, and a gap means nothing. A *loss*
//! is always said out loud, with `truncated` (see `history.rs`).
//!
//! ## Nothing lost, nothing twice
//!
//! Every method here does its work under the room's one lock, the lock
//! that `say` holds while it stamps, records and delivers. That is what
//! makes the hand-over exact: when an event stream starts at seq 41,
//! `listen` copies the recorded messages after 41 into the new outbox and
//! adds the listener *in the same critical section*. A message is either
//! stamped before (and is in the copy) or after (and is delivered to the
//! listener): never both, never neither. The long poll's check-then-wait
//! is safe for the same reason: `Condvar::wait` releases the lock and
//! starts waiting in one step, so a message cannot slip in between.
//!
//! Read next: `src/chat/http_api.rs`, the HTTP endpoints built on this.

use std::fmt;
use std::sync::mpsc;
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use super::link::Emitted;
use super::{Note, Room, State};
use crate::chat::bus::envelope::Change;
use crate::chat::event_stream;
use crate::chat::history::Catchup;
use crate::chat::names::{clean_name, NameError};
use crate::chat::outbox::{push_or_give_up, Frame, Outbox};
use crate::chat::protocol::Stamp;
use crate::log;

/// An event-stream listener's number, for the log and for `unlisten`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ListenerId(pub u64);

/// An event-stream connection, as the room knows it.
#[derive(Debug)]
pub(super) struct Listener {
    id: ListenerId,
    outbox: Arc<Outbox>,
}

/// What [`Room::listen`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listening {
    pub id: ListenerId,
    /// Where it starts: after this `seq`.
    pub since: u64,
    /// Recorded messages queued for the listener before the live ones.
    pub backlog: usize,
    /// The listener asked for messages the record no longer holds, and was
    /// sent a `truncated` event first.
    pub truncated: bool,
}

/// Why [`Room::post`] refused a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostError {
    /// The name breaks the rules of `names.rs`.
    Name(NameError),
    /// A member of the room has this name right now.
    NameTaken(String),
    Empty,
    TooLong {
        bytes: usize,
        limit: usize,
    },
    /// The room is shared through Redis, and the queue to Redis is full.
    Busy,
    /// The message went to Redis but did not come back in time; it may
    /// still be delivered.
    Unconfirmed,
}

impl fmt::Display for PostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PostError::Name(error) => write!(f, "name refused: {error}"),
            PostError::NameTaken(name) => write!(
                f,
                "{name:?} is the name of a member of the room right now; \
                 HTTP senders may not speak as a member"
            ),
            PostError::Empty => f.write_str("an empty message was not sent"),
            PostError::TooLong { bytes, limit } => {
                write!(f, "message too long: {bytes} bytes, the limit is {limit}")
            }
            PostError::Busy => {
                f.write_str("the room is busy (its link to Redis is backed up): not sent")
            }
            PostError::Unconfirmed => f.write_str(
                "the message was handed to Redis but did not come back in time; \
                 it may still appear",
            ),
        }
    }
}

impl std::error::Error for PostError {}

impl Room {
    /// A chat message from outside the room (`POST /api/send`): stamped,
    /// recorded and delivered exactly like a member's, with `from` set to
    /// `name`. Returns its stamp, once it is delivered here: at once in a
    /// room alone; in a shared room once it is back from Redis (waiting,
    /// outside the lock, at most the link's confirmation time), so a poll
    /// that follows the answer finds the message.
    ///
    /// The sender is not a member: no `join`, no outbox, no name reserved.
    /// Its name follows the rules for member names, and may not be one a
    /// member has right now: at any moment, a name in the room means one
    /// speaker. (This is not authentication. Nothing stops anyone from
    /// posting as `ann` while ann is away, or from joining as `ann` after
    /// someone posted under that name; see `docs/protocol.md`.)
    pub fn post(&self, name: &str, text: &str) -> Result<Stamp, PostError> {
        let name = clean_name(name).map_err(PostError::Name)?;
        if text.is_empty() {
            return Err(PostError::Empty);
        }
        if text.len() > self.max_text {
            return Err(PostError::TooLong { bytes: text.len(), limit: self.max_text });
        }
        let mut state = self.lock();
        if state.has(name) {
            return Err(PostError::NameTaken(name.to_string()));
        }
        let (confirm, confirmed) = mpsc::sync_channel(1);
        let wait = state.link.confirm_wait;
        let change = Change::Message { from: name.to_string(), text: text.to_string() };
        let emitted = state.emit(None, change, None, Some(confirm));
        self.unlock(state);
        match emitted {
            Emitted::Delivered(stamp) => Ok(stamp),
            Emitted::Queued => confirmed.recv_timeout(wait).map_err(|_| PostError::Unconfirmed),
            Emitted::Full(_) => Err(PostError::Busy),
        }
    }

    /// The recorded messages after `since` (`None`: from now, so none),
    /// at once: a short poll.
    pub fn messages_since(&self, since: Option<u64>) -> Catchup {
        let state = self.lock();
        state.history.since(state.position(since))
    }

    /// The recorded messages after `since`; if there are none yet, waits
    /// up to `wait` for one: a long poll. Returns as soon as there is
    /// something to say (a message, or that the record does not reach), or
    /// with no messages once the wait is over.
    ///
    /// The first time it finds nothing, it logs that it is going to wait.
    /// Not under the lock (logging is I/O), so it lets go, logs, and looks
    /// again: something may have been said in between. That log line is a
    /// promise tests rely on: "there was nothing after `since` when I
    /// looked", so a message sent after it is one this request waited for.
    pub fn wait_for_messages(&self, since: Option<u64>, wait: Duration) -> Catchup {
        let deadline = Instant::now() + wait;
        let mut announced = false;
        let mut state = self.lock();
        let since = state.position(since);
        loop {
            let catchup = state.history.since(since);
            let left = deadline.saturating_duration_since(Instant::now());
            if !catchup.messages.is_empty() || catchup.truncated || left.is_zero() {
                return catchup;
            }
            if !announced {
                drop(state);
                log!("long poll: nothing after seq {since} yet; waiting up to {wait:?}");
                announced = true;
                state = self.lock();
                continue;
            }
            // Releases the lock while asleep, takes it back on waking. A
            // wake-up means "something was said", not "something for you"
            // (and may even be spurious), so the loop looks again.
            state.long_polls += 1;
            state = self.news.wait_timeout(state, left).unwrap_or_else(PoisonError::into_inner).0;
            state.long_polls -= 1;
        }
    }

    /// How many long polls are asleep on the room's `Condvar` right now.
    pub fn long_polls_waiting(&self) -> usize {
        self.lock().long_polls
    }

    /// Adds an event-stream listener that starts after `since`. Its outbox
    /// gets, in one push, `head` (the response head, so it leaves in the
    /// same write as what follows), a `truncated` event if the record does
    /// not reach back to `since`, and the recorded messages after it. Every
    /// later message is pushed as it is said.
    pub fn listen(&self, since: Option<u64>, outbox: Arc<Outbox>, head: Frame) -> Listening {
        let mut state = self.lock();
        let since = state.position(since);
        let catchup = state.history.since(since);
        let mut frames = Vec::with_capacity(catchup.messages.len() + 2);
        frames.push(head);
        if catchup.truncated {
            frames.push(event_stream::truncated_event(since, catchup.after));
        }
        let backlog = catchup.messages.len();
        frames.extend(catchup.messages.iter().map(|m| event_stream::message_event(m.seq, &m.json)));
        // A fresh outbox takes any one push, so this cannot cut anyone off.
        push_or_give_up(&outbox, &frames, event_stream::too_slow_goodbye);
        let id = ListenerId(state.next_listener);
        state.next_listener += 1;
        state.listeners.push(Listener { id, outbox });
        self.unlock(state);
        Listening { id, since, backlog, truncated: catchup.truncated }
    }

    /// Removes a listener. Safe to call more than once.
    pub fn unlisten(&self, id: ListenerId) {
        self.lock().listeners.retain(|listener| listener.id != id);
    }

    /// How many event streams are open.
    pub fn listener_count(&self) -> usize {
        self.lock().listeners.len()
    }
}

impl State {
    /// A position: the `seq` asked for, or for `None` ("from now") the
    /// newest one handed out so far.
    fn position(&self, since: Option<u64>) -> u64 {
        since.unwrap_or(self.history.last_seq())
    }

    /// Pushes one message to every event-stream listener, encoded once. A
    /// listener that cannot keep up is cut off by the same rule as a
    /// member (`outbox.rs`), with an event instead of a close frame.
    pub(super) fn deliver_to_listeners(&mut self, seq: u64, json: &str) {
        if self.listeners.is_empty() {
            return; // nobody to encode for
        }
        let frame = [event_stream::message_event(seq, json)];
        for listener in &self.listeners {
            if push_or_give_up(&listener.outbox, &frame, event_stream::too_slow_goodbye) {
                self.notes.push(Note::ListenerTooSlow(listener.id));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Limits;
    use std::thread;

    fn room() -> Room {
        Room::new("main", &Limits::default())
    }

    fn outbox() -> Arc<Outbox> {
        Arc::new(Outbox::new(Limits::default().outbox_bytes))
    }

    fn drain_text(outbox: &Outbox) -> String {
        let mut batch = Vec::new();
        if outbox.queued_bytes() > 0 {
            outbox.take_all(&mut batch);
        }
        batch.iter().map(|frame| String::from_utf8_lossy(frame).into_owned()).collect()
    }

    #[test]
    fn posts_are_messages_with_the_next_seq_for_everyone() {
        let room = room();
        let member = outbox();
        room.join(Some("ann"), Arc::clone(&member)); // seq 1
        drain_text(&member);
        let stamp = room.post("  web ", "hello").unwrap();
        assert_eq!(stamp.seq, 2);
        assert!(drain_text(&member).contains(r#""seq":2,"#));
        let catchup = room.messages_since(Some(0));
        assert_eq!(catchup.messages.len(), 1);
        assert!(catchup.messages[0].json.ends_with(r#""from":"web","text":"hello"}"#));
    }

    #[test]
    fn posts_are_refused_for_bad_or_taken_names_and_bad_text() {
        let room = Room::new("main", &Limits { max_chat_text: 5, ..Limits::default() });
        room.join(Some("ann"), outbox());
        assert_eq!(room.post("ann", "hi"), Err(PostError::NameTaken("ann".into())));
        assert_eq!(room.post(" ", "hi"), Err(PostError::Name(NameError::Empty)));
        assert_eq!(room.post("bob", ""), Err(PostError::Empty));
        assert_eq!(room.post("bob", "123456"), Err(PostError::TooLong { bytes: 6, limit: 5 }));
        assert!(room.post("bob", "12345").is_ok());
        assert_eq!(
            room.messages_since(Some(0)).messages.len(),
            1,
            "only the good one was recorded"
        );
    }

    #[test]
    fn a_long_poll_is_woken_by_a_message() {
        let room = Arc::new(room());
        let waiter = {
            let room = Arc::clone(&room);
            // A wait far longer than any test runs: only the message can end it.
            thread::spawn(move || room.wait_for_messages(Some(0), Duration::from_secs(3600)))
        };
        // Post only once the request is asleep on the Condvar, so it is
        // the wake-up that ends the wait, not the first look.
        let patience = Instant::now() + Duration::from_secs(10);
        while room.long_polls_waiting() == 0 {
            assert!(Instant::now() < patience, "the long poll never started waiting");
            thread::yield_now();
        }
        room.post("ann", "wake up").unwrap();
        let catchup = waiter.join().unwrap();
        assert_eq!(catchup.messages.len(), 1);
        assert!(catchup.messages[0].json.ends_with(r#""text":"wake up"}"#));
    }

    #[test]
    fn from_now_means_after_the_newest_seq() {
        let room = room();
        room.post("ann", "old").unwrap();
        assert_eq!(room.messages_since(None).messages, []);
        let stream = outbox();
        let listening = room.listen(None, Arc::clone(&stream), Arc::from(&b""[..]));
        assert_eq!((listening.since, listening.backlog), (1, 0));
        room.post("ann", "new").unwrap();
        let text = drain_text(&stream);
        assert!(text.contains(r#""text":"new"}"#) && !text.contains("old"), "{text}");
    }

    #[test]
    fn a_long_poll_with_nothing_to_say_ends_empty() {
        let catchup = room().wait_for_messages(Some(0), Duration::from_millis(1));
        assert!(catchup.messages.is_empty() && !catchup.truncated);
    }

    #[test]
    fn a_listener_gets_head_backlog_then_live_messages_once_each() {
        let room = room();
        room.post("ann", "one").unwrap(); // seq 1
        room.post("ann", "two").unwrap(); // seq 2
        let stream = outbox();
        let head: Frame = Arc::from(&b"HEAD\r\n\r\n"[..]);
        let listening = room.listen(Some(1), Arc::clone(&stream), head);
        assert_eq!((listening.backlog, listening.truncated), (1, false));
        room.post("ann", "three").unwrap(); // seq 3
        let text = drain_text(&stream);
        assert!(text.starts_with("HEAD\r\n\r\nid: 2\ndata: {"), "{text:?}");
        assert!(text.contains(r#""text":"two"}"#) && text.contains(r#""text":"three"}"#));
        assert!(!text.contains(r#""text":"one"}"#), "seq 1 was not asked for");
        assert_eq!(room.listener_count(), 1);
        room.unlisten(listening.id);
        room.unlisten(listening.id);
        room.post("ann", "four").unwrap();
        assert_eq!(drain_text(&stream), "", "no longer listening");
        assert_eq!(room.listener_count(), 0);
    }

    #[test]
    fn a_listener_too_far_behind_is_told_truncated() {
        let room = Room::new("main", &Limits { outbox_bytes: 4096, ..Limits::default() });
        for i in 0..40 {
            room.post("ann", &format!("message {i}")).unwrap(); // 2 KiB of record
        }
        let stream = Arc::new(Outbox::new(4096));
        let listening = room.listen(Some(0), Arc::clone(&stream), Arc::from(&b""[..]));
        assert!(listening.truncated);
        let text = drain_text(&stream);
        assert!(text.starts_with("event: truncated\n"), "{text:?}");
    }

    #[test]
    fn a_listener_that_stops_reading_is_cut_off_with_an_event() {
        let limits = Limits { outbox_bytes: 8 * 1024, ..Limits::default() };
        let room = Room::new("main", &limits);
        let stream = Arc::new(Outbox::new(limits.outbox_bytes));
        room.listen(None, Arc::clone(&stream), Arc::from(&b""[..]));
        drain_text(&stream);
        for _ in 0..20 {
            room.post("ann", &"x".repeat(1000)).unwrap();
        }
        assert!(stream.was_aborted());
        assert_eq!(drain_text(&stream).as_bytes(), &*event_stream::too_slow_goodbye());
    }
}
