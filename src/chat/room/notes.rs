//! # What the room logs, and when
//!
//! Logging is I/O (a write to standard error, which may be a pipe that is
//! full), and the room's lock is never held across I/O. So whatever
//! deserves a log line while the lock is held is noted as a [`Note`], and
//! `Room::unlock` writes the notes out once the lock is released.
//!
//! The lines starting `redis:` are the ones an operator of a shared room
//! watches for, and the ones the tests in `tests/redis_rooms.rs` wait on.
//!
//! Read next: `src/chat/room/link.rs`.

use std::fmt;

use super::roster::{RosterChanges, RosterEntry};
use super::ListenerId;

/// Something worth a log line, noted under the lock.
#[derive(Debug)]
pub(super) enum Note {
    /// A member the slow-consumer rule disconnected.
    TooSlow(String),
    ListenerTooSlow(ListenerId),
    /// Redis cannot keep up: this member's message or file was refused.
    QueueFull(String),
    /// The link to Redis was lost; pending events were delivered here.
    LinkLost {
        reason: String,
        delivered_here: usize,
    },
    /// Redis's view of other processes' members differed from ours.
    Roster(RosterChanges),
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Note::TooSlow(name) => {
                write!(f, "chat: {name} is too slow (outbox full): disconnecting with 1008")
            }
            Note::ListenerTooSlow(id) => {
                write!(f, "chat: event stream {} is too slow (outbox full): ending it", id.0)
            }
            Note::QueueFull(name) => write!(
                f,
                "redis: the publish queue is full (Redis is slow or unreachable); \
                 {name}'s message was refused"
            ),
            Note::LinkLost { reason, delivered_here } => {
                write!(f, "redis: link lost ({reason}); members here keep chatting locally")?;
                match delivered_here {
                    0 => Ok(()),
                    n => write!(f, "; {n} event(s) on their way to Redis delivered here only"),
                }
            }
            Note::Roster(changes) => {
                let list = |entries: &[RosterEntry]| -> String {
                    let names: Vec<String> = entries
                        .iter()
                        .map(|e| format!("{} (process {})", e.name, e.origin))
                        .collect();
                    if names.is_empty() {
                        "nobody".to_string()
                    } else {
                        names.join(", ")
                    }
                };
                write!(
                    f,
                    "redis: member list refreshed from Redis: gone {}; found {}",
                    list(&changes.gone),
                    list(&changes.found)
                )
            }
        }
    }
}
