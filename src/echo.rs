//! # `/echo`: the smallest WebSocket endpoint
//!
//! Everything a client sends comes back unchanged: text as text, binary as
//! binary, a fragmented message as one whole message (RFC 6455 §5.6 data
//! frames, reassembled per §5.4; the echo sends each back as one frame). It is the endpoint
//! that `echo.websocket.org` made famous, here at home, and the one the
//! Autobahn|Testsuite exercises (see `docs/conformance.md`).
//!
//! All the protocol work (pings, the closing handshake, UTF-8, limits) is
//! done by [`WebSocket`]; what is left is one loop. Replies are *queued*,
//! not sent: `recv` flushes them when it runs out of input, so a client that
//! pipelines many small messages gets its echoes in a few large writes.
//!
//! Read next: `src/chat/mod.rs`, the endpoint with many members.

use std::io::{Read, Write};

use crate::websocket::{Closed, WebSocket};

/// Echoes messages until the conversation ends, and says how it ended.
pub fn run<R: Read, W: Write>(socket: &mut WebSocket<R, W>) -> Closed {
    loop {
        match socket.recv() {
            Ok(message) => {
                if let Err(error) = socket.queue_message(message) {
                    return Closed::Dropped(error);
                }
            }
            Err(closed) => return closed,
        }
    }
}
