//! # Catching up: "what came after seq 41?"
//!
//! A WebSocket member is pushed every event as it happens. A client of
//! the HTTP transports is not: it asks, and the answer comes from the
//! room's record (`src/chat/history.rs`, the last 100 messages, each with
//! its `seq`). A short poll, a long poll and an event stream that resumes
//! from `Last-Event-ID` all ask the same question, answered here.
//!
//! The answer must say *when* the record no longer reaches back that far,
//! or the client would take a gap for silence: `truncated`.
//!
//! Read next: `src/push/feed.rs`.

use crate::chat::history::{History, Recorded};

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

/// The recorded messages after `seq`, and whether the record still
/// reaches back that far.
///
/// The trap: a client that says "after 500" to a room whose newest
/// event is 12 is not "up to date"; the server restarted under it, and
/// numbering began again. Waiting for seq 501 would make it miss the
/// next 489 messages, so it is answered from the start, `truncated`.
pub fn catch_up(history: &History, seq: u64) -> Catchup {
    let (after, truncated) = if seq > history.last_seq {
        (0, true)
    } else if seq < history.dropped_through {
        (history.dropped_through, true)
    } else {
        (seq, false)
    };
    // Oldest first, so the ones wanted are at the end: count them from
    // the back, then copy (pointers) in order.
    let recorded = &history.recorded;
    let wanted = recorded.iter().rev().take_while(|r| r.seq > after).count();
    let messages = recorded.iter().skip(recorded.len() - wanted).cloned().collect();
    Catchup { messages, after, truncated, last_seq: history.last_seq }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::history::tests::{publish, say};
    use crate::chat::history::HISTORY_MESSAGES;
    use crate::chat::protocol::{Change, Stamp};
    use std::sync::Arc;

    #[test]
    fn since_answers_what_came_after_and_says_when_it_cannot() {
        let mut history = History::new(1 << 20);
        assert_eq!(catch_up(&history, 0).messages, []);
        publish(&mut history, &Change::Join { name: "ann".into() }); // seq 1, not recorded
        for i in 0..3 {
            say(&mut history, &format!("m{i}")); // seq 2, 3, 4
        }
        let seqs = |c: &Catchup| c.messages.iter().map(|r| r.seq).collect::<Vec<_>>();
        let all = catch_up(&history, 0);
        assert_eq!((seqs(&all), all.truncated, all.last_seq), (vec![2, 3, 4], false, 4));
        assert!(all.messages[0].json.ends_with(r#""text":"m0"}"#));
        assert_eq!(seqs(&catch_up(&history, 3)), [4]);
        assert_eq!(seqs(&catch_up(&history, 4)), Vec::<u64>::new());
        // Ahead of the room: the server restarted. Everything, truncated.
        let ahead = catch_up(&history, 99);
        assert_eq!((seqs(&ahead), ahead.after, ahead.truncated), (vec![2, 3, 4], 0, true));
    }

    #[test]
    fn a_record_numbered_elsewhere_is_kept_in_order() {
        let mut history = History::new(1 << 20);
        let said = |text: &str| Change::Message { from: "ann".into(), text: text.into() };
        let stamp = |seq| Stamp { seq, time: 1_700_000_000_000 };
        let json = history.record(stamp(7), &said("from redis"));
        assert!(json.starts_with(r#"{"type":"message","seq":7,"time":1700000000000,"#));
        assert_eq!(history.last_seq, 7);
        say(&mut history, "said here"); // seq 8
        let after_six = catch_up(&history, 6);
        assert_eq!(after_six.messages.iter().map(|r| r.seq).collect::<Vec<_>>(), [7, 8]);
    }

    #[test]
    fn a_gap_the_record_admits_to_is_reported_truncated() {
        let mut history = History::new(1 << 20);
        let said = |seq, text: &str| {
            let change = Change::Message { from: "ann".into(), text: text.into() };
            Recorded { seq, json: Arc::from(change.to_json(None)) }
        };
        history.keep(said(7, "seven"));
        history.keep(said(9, "nine"));
        history.last_seq = 12;
        history.dropped_through = 8; // 8 was lost, as a reload from Redis may say
                                     // A client that saw 7 missed 8 for good: it is told so, and gets
                                     // what follows the gap.
        let after_seven = catch_up(&history, 7);
        assert!(after_seven.truncated && after_seven.after == 8, "{after_seven:?}");
        assert_eq!(after_seven.messages.iter().map(|r| r.seq).collect::<Vec<_>>(), [9]);
        assert!(!catch_up(&history, 8).truncated);
    }

    #[test]
    fn since_says_truncated_once_the_record_has_dropped_what_was_asked_for() {
        let mut history = History::new(1 << 20);
        for i in 0..(HISTORY_MESSAGES + 5) {
            say(&mut history, &format!("m{i}")); // seq 1 to 105; 1 to 5 dropped
        }
        let old = catch_up(&history, 3);
        assert!(old.truncated);
        assert_eq!(old.after, 5, "the newest message dropped");
        assert_eq!(old.messages.len(), HISTORY_MESSAGES);
        assert_eq!(old.messages[0].seq, 6);
        let edge = catch_up(&history, 5);
        assert!(!edge.truncated, "everything after 5 is still here");
        assert_eq!(edge.messages.len(), HISTORY_MESSAGES);
    }
}
