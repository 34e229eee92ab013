//! # The record: sequence numbers, time, and recent messages
//!
//! Before an event that concerns the whole room goes out, it is *stamped*:
//! it gets the next sequence number (`seq`, one more than the last, so a
//! client can tell whether it missed something) and the server's clock
//! (`time`, milliseconds since the Unix epoch, so every member shows the
//! same time whatever its own clock says). Chat messages are also
//! *recorded*, so that a newcomer sees what was said before it arrived.
//!
//! The record is bounded twice: at most [`HISTORY_MESSAGES`] messages, and
//! at most a number of bytes (half an outbox, as the room sets it). The
//! byte bound is what keeps a newcomer's `welcome`, which carries the whole
//! history, small enough to send: a hundred 64 KiB messages would make a
//! 6 MiB welcome, and every reconnecting page would ask for one.
//!
//! This part is separate from delivering events to the members connected
//! here, because it is the part every transport shares. The WebSocket
//! members get each event pushed as it happens; the HTTP transports
//! (`src/push/http_api.rs`, `src/push/event_stream.rs`) ask this record
//! "what came after seq 41?" ([`History::since`]). So each recorded message
//! keeps its `seq` beside its JSON.
//!
//! ## Numbered here, or numbered elsewhere
//!
//! Stamping ([`History::stamp`]) and recording ([`History::record`]) are
//! two calls, because they do not always happen in the same process. A
//! room alone numbers its events itself. A room shared with other
//! processes through Redis (`--redis`, `src/redis/bus/link.rs`) gets the
//! numbers from Redis, and this record becomes a *mirror* of the history
//! list kept there: loaded whole when the process joins the shared room
//! ([`History::replace`]), then kept up to date by recording, in order,
//! every message that arrives from the subscription. A `welcome` is still
//! built from memory, under the room's lock, and every process shows a
//! newcomer the same history.
//!
//! ## Saying so when the record does not reach
//!
//! A record that forgets must say *when* it has forgotten something a
//! client asks for, or the client would take a gap for silence. The record
//! remembers the newest `seq` it has dropped ([`History::since`] compares
//! with it): a client that last saw seq 41 while message 45 has already
//! been dropped is told `truncated`. Sequence numbers alone could not tell
//! it, because `seq` counts joins, leaves and renames too: a jump from 41
//! to 47 in the messages is normal.
//!
//! Read next: `src/chat/outbox.rs`, where delivered frames wait.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use super::protocol::{RoomEvent, Stamp};

/// How many messages a newcomer is shown.
pub const HISTORY_MESSAGES: usize = 100;

/// One recorded `message` event: its number and its JSON, shared (an
/// `Arc`) so that handing it to a long-polling request or an event stream
/// copies a pointer, not the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub seq: u64,
    pub json: Arc<str>,
}

/// What the record holds after a given `seq`: the answer to "what did I
/// miss?".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catchup {
    /// Every recorded message after `after`, oldest first.
    pub messages: Vec<Recorded>,
    /// The `seq` these messages follow. It is the `seq` the client asked
    /// with, unless that was `truncated`: then it is the newest message
    /// the record has dropped (or 0, after a restart).
    pub after: u64,
    /// Something the client asked for is no longer here: messages after
    /// its `seq` were dropped, or its `seq` is ahead of the room (the
    /// server restarted and numbering began again).
    pub truncated: bool,
    /// The newest `seq` of any event so far. A client asks next time with
    /// this, and skips the joins and leaves it does not want.
    pub last_seq: u64,
}

/// Stamps events and keeps the recent messages, rendered as JSON.
#[derive(Debug)]
pub struct History {
    last_seq: u64,
    /// Rendered `message` events, oldest first.
    messages: VecDeque<Recorded>,
    bytes: usize,
    max_bytes: usize,
    /// The `seq` of the newest message dropped from the record (0: none).
    /// Every message after it is still here.
    dropped_through: u64,
}

impl History {
    /// A record of at most [`HISTORY_MESSAGES`] messages and `max_bytes`
    /// bytes of JSON.
    pub fn new(max_bytes: usize) -> History {
        History { last_seq: 0, messages: VecDeque::new(), bytes: 0, max_bytes, dropped_through: 0 }
    }

    /// The next number, and the time: numbering done in this process, as
    /// one process alone does it (and as a process cut off from Redis
    /// does it, until it is back).
    pub fn stamp(&mut self) -> Stamp {
        Stamp { seq: self.last_seq + 1, time: now_millis() }
    }

    /// Renders `event` with a stamp given to it elsewhere (by [`stamp`](Self::stamp),
    /// or by the counter in Redis that every process shares), records it
    /// if it is a chat message, and returns the JSON.
    ///
    /// Stamps must come in increasing order; the room makes sure of it
    /// (`src/redis/bus/link.rs` skips anything not newer than
    /// [`last_seq`](Self::last_seq)).
    pub fn record(&mut self, stamp: Stamp, event: &RoomEvent<'_>) -> String {
        debug_assert!(stamp.seq > self.last_seq, "stamps go up");
        self.last_seq = self.last_seq.max(stamp.seq);
        let json = event.to_json(Some(stamp));
        if let RoomEvent::Message { .. } = event {
            self.keep(Recorded { seq: stamp.seq, json: Arc::from(json.as_str()) });
        }
        json
    }

    fn keep(&mut self, recorded: Recorded) {
        self.bytes += recorded.json.len();
        self.messages.push_back(recorded);
        // Oldest out first. A single message bigger than the whole byte
        // bound is not kept at all.
        while self.messages.len() > HISTORY_MESSAGES || self.bytes > self.max_bytes {
            let Some(oldest) = self.messages.pop_front() else { break };
            self.bytes -= oldest.json.len();
            self.dropped_through = oldest.seq;
        }
    }

    /// Replaces the record with one loaded from elsewhere: the history list
    /// in Redis, when a process (re)joins the shared room. `messages` are
    /// oldest first; `last_seq` is the newest number handed out anywhere;
    /// `trimmed_through` is the newest `seq` the list itself no longer
    /// holds (0: it never dropped anything).
    ///
    /// What this record held and the new one does not (messages said here
    /// while Redis was away) counts as dropped, so a poll from before them
    /// is told `truncated` rather than silently given less.
    pub fn replace(&mut self, messages: Vec<Recorded>, last_seq: u64, trimmed_through: u64) {
        let forgotten = self.messages.iter().filter(|old| !messages.contains(old));
        let forgotten_through = forgotten.map(|old| old.seq).max().unwrap_or(0);
        self.dropped_through = self.dropped_through.max(forgotten_through).max(trimmed_through);
        self.messages.clear();
        self.bytes = 0;
        self.last_seq = self.last_seq.max(last_seq);
        for recorded in messages {
            self.keep(recorded);
        }
    }

    /// The recorded messages, oldest first, each one JSON object.
    pub fn messages(&self) -> impl Iterator<Item = &str> {
        self.messages.iter().map(|recorded| &*recorded.json)
    }

    /// The newest sequence number handed out (0 before the first event).
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// The recorded messages after `seq`, and whether the record still
    /// reaches back that far.
    ///
    /// The trap: a client that says "after 500" to a room whose newest
    /// event is 12 is not "up to date"; the server restarted under it, and
    /// numbering began again. Waiting for seq 501 would make it miss the
    /// next 489 messages, so it is answered from the start, `truncated`.
    pub fn since(&self, seq: u64) -> Catchup {
        let (after, truncated) = if seq > self.last_seq {
            (0, true)
        } else if seq < self.dropped_through {
            (self.dropped_through, true)
        } else {
            (seq, false)
        };
        // Oldest first, so the ones wanted are at the end: count them from
        // the back, then copy (pointers) in order.
        let wanted = self.messages.iter().rev().take_while(|r| r.seq > after).count();
        let messages = self.messages.iter().skip(self.messages.len() - wanted).cloned().collect();
        Catchup { messages, after, truncated, last_seq: self.last_seq }
    }
}

/// The server's clock, as events carry it.
pub fn now_millis() -> u64 {
    // A clock set before 1970 is a broken clock; 0 says so plainly.
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both steps at once, as a room alone takes them (`State::emit` stamps,
    /// `State::apply` records). Returns the stamp and the JSON.
    fn publish(history: &mut History, event: &RoomEvent<'_>) -> (Stamp, String) {
        let stamp = history.stamp();
        (stamp, history.record(stamp, event))
    }

    fn say(history: &mut History, text: &str) -> Stamp {
        publish(history, &RoomEvent::Message { from: "ann", text }).0
    }

    #[test]
    fn every_event_gets_the_next_seq_but_only_messages_are_kept() {
        let mut history = History::new(1 << 20);
        let (join, json) = publish(&mut history, &RoomEvent::Join { name: "ann" });
        assert_eq!(join.seq, 1);
        assert!(json.starts_with(r#"{"type":"join","seq":1,"time":"#));
        assert!(join.time > 1_600_000_000_000, "milliseconds since 1970");
        assert_eq!(say(&mut history, "hi").seq, 2);
        assert_eq!(history.last_seq(), 2);
        let kept: Vec<&str> = history.messages().collect();
        assert_eq!(kept.len(), 1);
        assert!(kept[0].contains(r#""seq":2,"#) && kept[0].ends_with(r#""text":"hi"}"#));
    }

    #[test]
    fn the_last_hundred_messages_are_kept_in_order() {
        let mut history = History::new(1 << 20);
        for i in 0..150 {
            say(&mut history, &format!("m{i}"));
        }
        let kept: Vec<&str> = history.messages().collect();
        assert_eq!(kept.len(), HISTORY_MESSAGES);
        assert!(kept[0].ends_with(r#""text":"m50"}"#));
        assert!(kept[99].ends_with(r#""text":"m149"}"#));
    }

    #[test]
    fn the_history_is_bounded_in_bytes_too() {
        let mut history = History::new(3000);
        for _ in 0..10 {
            say(&mut history, &"x".repeat(1000));
        }
        let kept: usize = history.messages().map(str::len).sum();
        assert_eq!(history.messages().count(), 2);
        assert!(kept <= 3000);
        // A message larger than the bound is not kept at all.
        say(&mut history, &"y".repeat(5000));
        assert_eq!(history.messages().count(), 0);
    }

    #[test]
    fn since_answers_what_came_after_and_says_when_it_cannot() {
        let mut history = History::new(1 << 20);
        assert_eq!(history.since(0).messages, []);
        publish(&mut history, &RoomEvent::Join { name: "ann" }); // seq 1, not recorded
        for i in 0..3 {
            say(&mut history, &format!("m{i}")); // seq 2, 3, 4
        }
        let seqs = |c: &Catchup| c.messages.iter().map(|r| r.seq).collect::<Vec<_>>();
        let all = history.since(0);
        assert_eq!((seqs(&all), all.truncated, all.last_seq), (vec![2, 3, 4], false, 4));
        assert!(all.messages[0].json.ends_with(r#""text":"m0"}"#));
        assert_eq!(seqs(&history.since(3)), [4]);
        assert_eq!(seqs(&history.since(4)), Vec::<u64>::new());
        // Ahead of the room: the server restarted. Everything, truncated.
        let ahead = history.since(99);
        assert_eq!((seqs(&ahead), ahead.after, ahead.truncated), (vec![2, 3, 4], 0, true));
    }

    #[test]
    fn a_record_numbered_elsewhere_is_kept_in_order_and_can_be_replaced() {
        let mut history = History::new(1 << 20);
        let said = |text| RoomEvent::Message { from: "ann", text };
        let stamp = |seq| Stamp { seq, time: 1_700_000_000_000 };
        let json = history.record(stamp(7), &said("from redis"));
        assert!(json.starts_with(r#"{"type":"message","seq":7,"time":1700000000000,"#));
        assert_eq!(history.last_seq(), 7);
        // Seq 8, said here while Redis was away...
        say(&mut history, "said here, alone");
        // ...and back with Redis, whose history lacks 8 and holds 9 from elsewhere.
        let nine = Recorded { seq: 9, json: Arc::from(said("elsewhere").to_json(Some(stamp(9)))) };
        let seven = history.since(6).messages[0].clone();
        history.replace(vec![seven, nine], 12, 0);
        assert_eq!(history.last_seq(), 12);
        assert_eq!(history.messages().count(), 2, "a welcome shows Redis's history");
        // A client that saw 7 missed 8 for good: it is told so, and gets
        // what follows the gap.
        let after_seven = history.since(7);
        assert!(after_seven.truncated && after_seven.after == 8, "{after_seven:?}");
        assert_eq!(after_seven.messages.iter().map(|r| r.seq).collect::<Vec<_>>(), [9]);
        assert!(!history.since(8).truncated);
    }

    #[test]
    fn since_says_truncated_once_the_record_has_dropped_what_was_asked_for() {
        let mut history = History::new(1 << 20);
        for i in 0..(HISTORY_MESSAGES + 5) {
            say(&mut history, &format!("m{i}")); // seq 1 to 105; 1 to 5 dropped
        }
        let old = history.since(3);
        assert!(old.truncated);
        assert_eq!(old.after, 5, "the newest message dropped");
        assert_eq!(old.messages.len(), HISTORY_MESSAGES);
        assert_eq!(old.messages[0].seq, 6);
        let edge = history.since(5);
        assert!(!edge.truncated, "everything after 5 is still here");
        assert_eq!(edge.messages.len(), HISTORY_MESSAGES);
    }
}
