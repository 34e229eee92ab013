//! # The feed: the room, heard from outside
//!
//! A WebSocket member is *in* the room: it has an outbox, and the room
//! pushes every event into it. The HTTP transports reach the same room
//! from outside, three ways. The [`Feed`] is how: it plugs into the room's
//! seam as an [`Audience`] (`src/chat/room.rs`), which the room tells of
//! every event it delivers, under its lock, in order. This file is the
//! feed's side of each transport:
//!
//! - **short polling** asks "what came after seq 41?" and gets an answer at
//!   once: [`Feed::messages_since`], a read of the room's record
//!   (`src/chat/history.rs`);
//! - **long polling** asks the same, but if the answer is "nothing yet" it
//!   waits: [`Feed::wait_for_messages`] sleeps on the feed's `Condvar`,
//!   which every new message signals;
//! - **Server-Sent Events** keep a response open and have each message
//!   pushed into it: [`Feed::listen`] registers an outbox, like a member's
//!   but holding `text/event-stream` bytes instead of WebSocket frames.
//!
//! And one way in: [`Feed::post`], a message sent with `POST /api/send` by
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
//! Every look at the record happens under the room's one lock, the lock
//! the room holds while it numbers, records and delivers, and while it
//! tells the feed. That is what makes the hand-over exact: when an event
//! stream starts at seq 41, `listen` copies the recorded messages after
//! 41 into the new outbox and adds the listener *in the same critical
//! section*. A message is either numbered before (and is in the copy) or
//! after (and is pushed to the listener): never both, never neither.
//!
//! The feed has a lock of its own, for its listeners and its count of
//! messages heard, always taken *after* the room's (never the other way
//! round, so the two cannot deadlock). The long poll's check-then-wait is
//! exact for the same reason as above: it notes the count under the room's
//! lock, in the same look as the record, and sleeps only while the count
//! has not moved; `Condvar::wait` releases the feed's lock and starts
//! waiting in one step, so a message cannot slip in between.
//!
//! Read next: `src/push/endpoint.rs`, where a request enters the layer,
//! then `http_api.rs`, the HTTP endpoints built on this.

use std::fmt;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::catchup::{catch_up, Catchup};
use super::sse;
use crate::chat::names::{clean_name, NameError};
use crate::chat::outbox::{too_slow_reason, Encoded, Outbox, PushError};
use crate::chat::protocol::{Change, Stamp};
use crate::chat::room::{Audience, Decided, Emitted, Locked, Room};
use crate::config::Limits;
use crate::log;

/// An event-stream listener's number, for the log and for `unlisten`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ListenerId(pub u64);

/// An event-stream connection, as the feed knows it.
#[derive(Debug)]
struct Listener {
    id: ListenerId,
    outbox: Arc<Outbox>,
}

/// What [`Feed::listen`] did.
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

/// Why [`Feed::post`] refused a message.
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
    /// The room could not send it on (shared through Redis, and the queue
    /// to Redis is full); the reason is the room's.
    Busy(String),
    /// The message was taken away to be numbered but did not come back in
    /// time; it may still be delivered.
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
            PostError::Busy(why) => write!(f, "{why}: not sent"),
            PostError::Unconfirmed => f.write_str(
                "the message was handed to Redis but did not come back in time; \
                 it may still appear",
            ),
        }
    }
}

impl std::error::Error for PostError {}

/// The room as the HTTP transports see it. Share it behind an `Arc`.
pub struct Feed {
    room: Arc<Room>,
    max_text: usize,
    heard: Mutex<Heard>,
    /// Signalled (`notify_all`) after every new chat message, for the long
    /// polls asleep in [`Feed::wait_for_messages`].
    news: Condvar,
}

/// What the feed's own lock guards.
#[derive(Debug, Default)]
struct Heard {
    /// Chat messages heard so far: a long poll sleeps while this is still
    /// what it was when it last looked at the record.
    messages: u64,
    listeners: Vec<Listener>,
    next_listener: u64,
    /// Long polls asleep on `news` (for tests and the curious).
    long_polls: usize,
}

/// The piece plugged into the room: it passes what the room tells it to
/// the feed.
struct Ear(Arc<Feed>);

impl Audience for Ear {
    fn hear(&mut self, stamp: Stamp, change: &Change, json: &str, notes: &mut Vec<String>) {
        if let Change::Message { .. } = change {
            self.0.hear_message(stamp.seq, json, notes);
        }
    }
}

impl Feed {
    /// A feed for `room`, plugged into it: from now on it hears every
    /// message the room delivers.
    pub fn attach(room: &Arc<Room>, limits: &Limits) -> Arc<Feed> {
        let feed = Arc::new(Feed {
            room: Arc::clone(room),
            max_text: limits.max_chat_text,
            heard: Mutex::new(Heard { next_listener: 1, ..Heard::default() }),
            news: Condvar::new(),
        });
        room.with_lock(|state| state.core.audience.push(Box::new(Ear(Arc::clone(&feed)))));
        feed
    }

    pub fn room(&self) -> &Room {
        &self.room
    }

    fn lock(&self) -> MutexGuard<'_, Heard> {
        self.heard.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A chat message from outside the room (`POST /api/send`): numbered,
    /// recorded and delivered exactly like a member's, with `from` set to
    /// `name`. Returns its stamp, once it is delivered here: at once in a
    /// room alone; in a shared room once it is back from Redis (waiting,
    /// outside the lock, as long as the room says it may take), so a poll
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
        let change = Change::Message { from: name.to_string(), text: text.to_string() };
        let decided = Decided { member: None, change, file: None };
        let emitted = self.room.with_lock(|locked: &mut Locked| {
            if locked.is_taken(name) {
                return Err(PostError::NameTaken(name.to_string()));
            }
            Ok(locked.emit(decided))
        })?;
        match emitted {
            Emitted::Delivered(stamp) => Ok(stamp),
            Emitted::Away(confirmed, within) => {
                confirmed.recv_timeout(within).map_err(|_| PostError::Unconfirmed)
            }
            Emitted::Refused(why) => Err(PostError::Busy(why)),
        }
    }

    /// The recorded messages after `since` (`None`: from now, so none),
    /// at once: a short poll.
    pub fn messages_since(&self, since: Option<u64>) -> Catchup {
        self.look(since).0
    }

    /// The record after `since`, and the count of messages heard, in one
    /// look under the room's lock.
    fn look(&self, since: Option<u64>) -> (Catchup, u64) {
        self.room.with_lock(|locked| {
            let history = &locked.core.history;
            let catchup = catch_up(history, since.unwrap_or(history.last_seq));
            (catchup, self.lock().messages)
        })
    }

    /// The recorded messages after `since`; if there are none yet, waits
    /// up to `wait` for one: a long poll. Returns as soon as there is
    /// something to say (a message, or that the record does not reach), or
    /// with no messages once the wait is over.
    ///
    /// The first time it finds nothing, it logs that it is going to wait,
    /// and looks again: something may have been said in between. That log
    /// line is a promise tests rely on: "there was nothing after `since`
    /// when I looked", so a message sent after it is one this request
    /// waited for.
    pub fn wait_for_messages(&self, since: Option<u64>, wait: Duration) -> Catchup {
        let deadline = Instant::now() + wait;
        // "From now" is fixed at the first look, not at every look.
        let since = Some(since.unwrap_or_else(|| self.look(None).0.last_seq));
        let mut announced = false;
        loop {
            let (catchup, heard) = self.look(since);
            let left = deadline.saturating_duration_since(Instant::now());
            if !catchup.messages.is_empty() || catchup.truncated || left.is_zero() {
                return catchup;
            }
            if !announced {
                let after = catchup.after;
                log!("long poll: nothing after seq {after} yet; waiting up to {wait:?}");
                announced = true;
                continue;
            }
            // Sleeps while no message has been heard since the look. A
            // wake-up means "something was said" (or nothing: spurious),
            // so the loop looks again.
            let mut state = self.lock();
            state.long_polls += 1;
            while state.messages == heard {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                let woken = self.news.wait_timeout(state, left);
                state = woken.unwrap_or_else(PoisonError::into_inner).0;
            }
            state.long_polls -= 1;
        }
    }

    /// How many long polls are asleep right now.
    pub fn long_polls_waiting(&self) -> usize {
        self.lock().long_polls
    }

    /// Adds an event-stream listener that starts after `since`. Its outbox
    /// gets, in one push, `head` (the response head, so it leaves in the
    /// same write as what follows), a `truncated` event if the record does
    /// not reach back to `since`, and the recorded messages after it. Every
    /// later message is pushed as it is said.
    pub fn listen(&self, since: Option<u64>, outbox: Arc<Outbox>, head: Encoded) -> Listening {
        self.room.with_lock(|locked| {
            let history = &locked.core.history;
            let since = since.unwrap_or(history.last_seq);
            let catchup = catch_up(history, since);
            let mut frames = Vec::with_capacity(catchup.messages.len() + 2);
            frames.push(head);
            if catchup.truncated {
                frames.push(sse::truncated_event(since, catchup.after));
            }
            let backlog = catchup.messages.len();
            let events = catchup.messages.iter().map(|m| sse::message_event(m.seq, &m.json));
            frames.extend(events);
            // A fresh outbox takes any one push, so this cannot cut anyone off.
            let _ = outbox.push(&frames);
            let mut state = self.lock();
            let id = ListenerId(state.next_listener);
            state.next_listener += 1;
            state.listeners.push(Listener { id, outbox });
            Listening { id, since, backlog, truncated: catchup.truncated }
        })
    }

    /// Removes a listener. Safe to call more than once.
    pub fn unlisten(&self, id: ListenerId) {
        self.lock().listeners.retain(|listener| listener.id != id);
    }

    /// How many event streams are open.
    pub fn listener_count(&self) -> usize {
        self.lock().listeners.len()
    }

    /// A message the room delivered (under its lock): pushed to every
    /// event-stream listener, encoded once, and the long polls woken. A
    /// listener that cannot keep up is cut off by the same rule as a member
    /// (`outbox.rs`), with an event instead of a close frame.
    fn hear_message(&self, seq: u64, json: &str, notes: &mut Vec<String>) {
        let mut state = self.lock();
        state.messages += 1;
        if !state.listeners.is_empty() {
            let frame = [sse::message_event(seq, json)];
            for listener in &state.listeners {
                if let Err(why @ (PushError::Overflow | PushError::Behind)) =
                    listener.outbox.push(&frame)
                {
                    let (id, reason) = (listener.id.0, too_slow_reason(why));
                    notes.push(format!("chat: event stream {id} is {reason}: ending it"));
                }
            }
        }
        drop(state);
        self.news.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Limits;
    use std::thread;

    fn room() -> Arc<Feed> {
        with(&Limits::default())
    }

    fn with(limits: &Limits) -> Arc<Feed> {
        Feed::attach(&Arc::new(Room::new("main", limits)), limits)
    }

    fn outbox() -> Arc<Outbox> {
        Arc::new(Outbox::new(&Limits::default(), sse::too_slow_goodbye))
    }

    fn drain_text(outbox: &Outbox) -> String {
        let mut batch = Vec::new();
        outbox.take_all(&mut batch, Duration::ZERO);
        batch.iter().map(|frame| String::from_utf8_lossy(frame).into_owned()).collect()
    }

    #[test]
    fn posts_are_messages_with_the_next_seq_for_everyone() {
        let room = room();
        let member = outbox();
        room.room().join(Some(Ok("ann")), Arc::clone(&member), None); // seq 1
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
        let room = with(&Limits { max_chat_text: 5, ..Limits::default() });
        room.room().join(Some(Ok("ann")), outbox(), None);
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
        let room = room();
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
        let head: Encoded = Arc::from(&b"HEAD\r\n\r\n"[..]);
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
        let room = with(&Limits { outbox_soft_bytes: 4096, ..Limits::default() });
        for i in 0..40 {
            room.post("ann", &format!("message {i}")).unwrap(); // 2 KiB of record
        }
        let stream = Arc::new(Outbox::new(&Limits::default(), sse::too_slow_goodbye));
        let listening = room.listen(Some(0), Arc::clone(&stream), Arc::from(&b""[..]));
        assert!(listening.truncated);
        let text = drain_text(&stream);
        assert!(text.starts_with("event: truncated\n"), "{text:?}");
    }

    #[test]
    fn a_listener_that_stops_reading_is_cut_off_with_an_event() {
        let limits = Limits { outbox_hard_bytes: 8 * 1024, ..Limits::default() };
        let room = with(&limits);
        let stream = Arc::new(Outbox::new(&limits, sse::too_slow_goodbye));
        room.listen(None, Arc::clone(&stream), Arc::from(&b""[..]));
        drain_text(&stream);
        for _ in 0..20 {
            room.post("ann", &"x".repeat(1000)).unwrap();
        }
        assert!(stream.was_aborted());
        assert_eq!(
            drain_text(&stream).as_bytes(),
            &*sse::too_slow_goodbye(crate::chat::outbox::PushError::Overflow)
        );
    }
}
