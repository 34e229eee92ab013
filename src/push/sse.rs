//! # Server-Sent Events on the wire: the three events the feed sends
//!
//! The format is `event_stream.rs`'s subject (WHATWG HTML §9.2.5): a few
//! `field: value` lines and a blank line per event. These are the events
//! themselves, each encoded once into [`Encoded`] bytes and shared by every
//! listener's outbox, exactly as a member's WebSocket frame is.
//!
//! Read next: `src/push/event_stream.rs`.

use std::sync::Arc;

use crate::chat::outbox::{Encoded, PushError};
use crate::json::write::Object;

/// One chat message as an event: `id` is its `seq`, `data` its JSON (the
/// same JSON a WebSocket member gets). Encoded once per message and shared
/// by every listener, like a member's frame.
pub fn message_event(seq: u64, json: &str) -> Encoded {
    debug_assert!(!json.contains(['\r', '\n']), "JSON escapes line breaks");
    Arc::from(format!("id: {seq}\ndata: {json}\n\n").into_bytes())
}

/// The record does not reach back to where the listener asked to start
/// (`since`): messages after it were dropped, or the server restarted. The
/// event's `id` moves the browser's position to `after`, the point the
/// messages that follow continue from.
pub fn truncated_event(since: u64, after: u64) -> Encoded {
    let data = Object::new()
        .string("type", "truncated")
        .number("since", since)
        .number("after", after)
        .finish();
    Arc::from(format!("event: truncated\nid: {after}\ndata: {data}\n\n").into_bytes())
}

/// The last event of a listener that could not keep up.
pub fn too_slow_goodbye(_why: PushError) -> Encoded {
    let data = Object::new().string("type", "dropped").string("reason", "too slow").finish();
    Arc::from(format!("event: dropped\ndata: {data}\n\n").into_bytes())
}
