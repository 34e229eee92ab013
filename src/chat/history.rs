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
//! members get each event pushed as it happens; the HTTP push layer
//! (`src/push/catchup.rs`) asks this record "what came after seq 41?". So
//! each recorded message keeps its `seq` beside its JSON.
//!
//! ## Numbered here, or numbered elsewhere
//!
//! Stamping ([`History::stamp`]) and recording ([`History::record`]) are
//! two calls, because they do not always happen in the same process. A
//! room alone numbers its events itself. A room shared with other
//! processes through Redis (`--redis`, `src/redis/bus/link.rs`) gets the
//! numbers from Redis, and this record becomes a *mirror* of the history
//! list kept there: loaded whole when the process joins the shared room
//! (`load_history` in that file), then kept up to date by recording, in order,
//! every message that arrives from the subscription. A `welcome` is still
//! built from memory, under the room's lock, and every process shows a
//! newcomer the same history.
//!
//! ## Saying so when the record does not reach
//!
//! A record that forgets must say *when* it has forgotten something a
//! client asks for, or the client would take a gap for silence. The record
//! remembers the newest `seq` it has dropped (`History::dropped_through`):
//! a client that last saw seq 41 while message 45 has already
//! been dropped is told `truncated`. Sequence numbers alone could not tell
//! it, because `seq` counts joins, leaves and renames too: a jump from 41
//! to 47 in the messages is normal.
//!
//! Read next: `src/chat/outbox.rs`, where delivered frames wait.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use super::protocol::{Change, Stamp};

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

/// Stamps events and keeps the recent messages, rendered as JSON.
///
/// The layers read its fields: the HTTP push layer answers "what came
/// after seq 41?" from `recorded` (`src/push/catchup.rs`), and a room
/// shared through Redis reloads the whole record from there
/// (`src/redis/bus/link.rs`). Only [`record`](Self::record) and such a
/// reload change it.
#[derive(Debug, Default)]
pub struct History {
    /// The newest sequence number handed out (0 before the first event).
    pub last_seq: u64,
    /// Rendered `message` events with their `seq`, oldest first.
    pub recorded: VecDeque<Recorded>,
    /// The bound on the bytes of JSON in `recorded`.
    max_bytes: usize,
    /// The `seq` of the newest message dropped from the record (0: none).
    /// Every message after it is still here.
    pub dropped_through: u64,
}

impl History {
    /// A record of at most [`HISTORY_MESSAGES`] messages and `max_bytes`
    /// bytes of JSON.
    pub fn new(max_bytes: usize) -> History {
        History { max_bytes, ..History::default() }
    }

    /// The next number, and the time: numbering done in this process, as
    /// one process alone does it (and as a process cut off from Redis
    /// does it, until it is back).
    ///
    /// It reserves nothing: `last_seq` moves only when the event is
    /// recorded. So stamp and record in one hold of the room's lock, as
    /// `Core::number_here` does, or two events get the same number.
    pub fn stamp(&self) -> Stamp {
        Stamp { seq: self.last_seq + 1, time: now_millis() }
    }

    /// Renders `event` with a stamp given to it elsewhere (by [`stamp`](Self::stamp),
    /// or by the counter in Redis that every process shares), records it
    /// if it is a chat message, and returns the JSON.
    ///
    /// Stamps must come in increasing order; the room makes sure of it
    /// (`src/redis/bus/link.rs` skips anything not newer than
    /// `last_seq`).
    pub fn record(&mut self, stamp: Stamp, event: &Change) -> String {
        debug_assert!(stamp.seq > self.last_seq, "stamps go up");
        self.last_seq = self.last_seq.max(stamp.seq);
        let json = event.to_json(Some(stamp));
        if let Change::Message { .. } = event {
            self.keep(Recorded { seq: stamp.seq, json: Arc::from(json.as_str()) });
        }
        json
    }

    /// Adds a rendered message at the end, dropping the oldest ones past
    /// either bound.
    pub fn keep(&mut self, recorded: Recorded) {
        self.recorded.push_back(recorded);
        // Oldest out first. A single message bigger than the whole byte
        // bound is not kept at all.
        while self.recorded.len() > HISTORY_MESSAGES || self.bytes() > self.max_bytes {
            let Some(oldest) = self.recorded.pop_front() else { break };
            self.dropped_through = oldest.seq;
        }
    }

    /// The bytes of JSON in the record. Added up when asked, rather than
    /// kept as a running total: a hundred lengths cost next to nothing, and
    /// `recorded` stays the one truth (a layer may take it whole and keep
    /// messages back in).
    fn bytes(&self) -> usize {
        self.recorded.iter().map(|recorded| recorded.json.len()).sum()
    }
}

/// The server's clock, as events carry it.
pub fn now_millis() -> u64 {
    // A clock set before 1970 is a broken clock; 0 says so plainly.
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Both steps at once, as a room alone takes them
    /// (`Core::number_here` stamps, `Core::deliver` records). Returns the stamp and the JSON.
    /// (The push layer's catch-up tests use these two as well.)
    pub(crate) fn publish(history: &mut History, event: &Change) -> (Stamp, String) {
        let stamp = history.stamp();
        (stamp, history.record(stamp, event))
    }

    /// The recorded messages, oldest first, each one JSON object.
    pub(crate) fn messages(history: &History) -> Vec<&str> {
        history.recorded.iter().map(|recorded| &*recorded.json).collect()
    }

    pub(crate) fn say(history: &mut History, text: &str) -> Stamp {
        publish(history, &Change::Message { from: "ann".into(), text: text.into() }).0
    }

    #[test]
    fn every_event_gets_the_next_seq_but_only_messages_are_kept() {
        let mut history = History::new(1 << 20);
        let (join, json) = publish(&mut history, &Change::Join { name: "ann".into() });
        assert_eq!(join.seq, 1);
        assert!(json.starts_with(r#"{"type":"join","seq":1,"time":"#));
        assert!(join.time > 1_600_000_000_000, "milliseconds since 1970");
        assert_eq!(say(&mut history, "hi").seq, 2);
        assert_eq!(history.last_seq, 2);
        let kept = messages(&history);
        assert_eq!(kept.len(), 1);
        assert!(kept[0].contains(r#""seq":2,"#) && kept[0].ends_with(r#""text":"hi"}"#));
    }

    #[test]
    fn the_last_hundred_messages_are_kept_in_order() {
        let mut history = History::new(1 << 20);
        for i in 0..150 {
            say(&mut history, &format!("m{i}"));
        }
        let kept = messages(&history);
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
        let kept: usize = messages(&history).iter().map(|json| json.len()).sum();
        assert_eq!(messages(&history).len(), 2);
        assert!(kept <= 3000);
        // A message larger than the bound is not kept at all.
        say(&mut history, &"y".repeat(5000));
        assert_eq!(messages(&history).len(), 0);
    }
}
