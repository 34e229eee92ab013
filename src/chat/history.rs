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
//! here, because it is the part other transports would share: a
//! long-polling endpoint would answer "what came after seq 41?" from this
//! record.
//!
//! Read next: `src/chat/outbox.rs`, where delivered frames wait.

use std::collections::VecDeque;
use std::time::{SystemTime, UNIX_EPOCH};

use super::protocol::{RoomEvent, Stamp};

/// How many messages a newcomer is shown.
pub const HISTORY_MESSAGES: usize = 100;

/// Stamps events and keeps the recent messages, rendered as JSON.
#[derive(Debug)]
pub struct History {
    last_seq: u64,
    /// Rendered `message` events, oldest first.
    messages: VecDeque<String>,
    bytes: usize,
    max_bytes: usize,
}

impl History {
    /// A record of at most [`HISTORY_MESSAGES`] messages and `max_bytes`
    /// bytes of JSON.
    pub fn new(max_bytes: usize) -> History {
        History { last_seq: 0, messages: VecDeque::new(), bytes: 0, max_bytes }
    }

    /// Stamps `event`, renders it, and records it if it is a chat message.
    /// Returns the stamp and the JSON.
    pub fn publish(&mut self, event: &RoomEvent<'_>) -> (Stamp, String) {
        self.last_seq += 1;
        let stamp = Stamp { seq: self.last_seq, time: now_millis() };
        let json = event.to_json(Some(stamp));
        if let RoomEvent::Message { .. } = event {
            self.bytes += json.len();
            self.messages.push_back(json.clone());
            // Oldest out first. A single message bigger than the whole byte
            // bound is not kept at all.
            while self.messages.len() > HISTORY_MESSAGES || self.bytes > self.max_bytes {
                let Some(oldest) = self.messages.pop_front() else { break };
                self.bytes -= oldest.len();
            }
        }
        (stamp, json)
    }

    /// The recorded messages, oldest first, each one JSON object.
    pub fn messages(&self) -> impl Iterator<Item = &str> {
        self.messages.iter().map(String::as_str)
    }

    /// The newest sequence number handed out (0 before the first event).
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }
}

fn now_millis() -> u64 {
    // A clock set before 1970 is a broken clock; 0 says so plainly.
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn say(history: &mut History, text: &str) -> Stamp {
        history.publish(&RoomEvent::Message { from: "ann", text }).0
    }

    #[test]
    fn every_event_gets_the_next_seq_but_only_messages_are_kept() {
        let mut history = History::new(1 << 20);
        let (join, json) = history.publish(&RoomEvent::Join { name: "ann" });
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
}
