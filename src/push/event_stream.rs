//! # Server-Sent Events: `GET /api/events`
//!
//! Server-Sent Events (WHATWG HTML Living Standard, §9.2 "Server-sent
//! events") are push over one plain HTTP response that never ends. The
//! browser's `EventSource` sends an ordinary `GET`; the server answers
//! `200` with `Content-Type: text/event-stream` and then keeps writing
//! events, each a few lines of text and a blank line (§9.2.5, "Parsing an
//! event stream"):
//!
//! ```text
//! HTTP/1.1 200 OK
//! Content-Type: text/event-stream
//! Cache-Control: no-cache
//! Connection: close
//!
//! retry: 2000
//!
//! id: 7
//! data: {"type":"message","seq":7,"time":1795253237250,"from":"ann","text":"hi"}
//!
//! : keepalive
//!
//! ```
//!
//! - `data:` is the event's text. A payload with a line break would need
//!   one `data:` line per line. Ours never has one: it is JSON, whose
//!   strings escape CR and LF (`src/json/write.rs`), so one line always
//!   does. That matters, because a raw CR or LF would end the field early.
//! - `id:` is what makes resumption work. The browser remembers the last
//!   `id` it saw, and when the stream drops it reconnects by itself and
//!   sends it back in a `Last-Event-ID` header. We use the message's `seq`,
//!   so "resume after the last id" is exactly [`Feed::listen`]'s "after
//!   seq N", from the same record the long polls read.
//! - `retry:` tells the browser how long to wait before reconnecting.
//! - `event:` names the event; the page listens for it with
//!   `addEventListener(name, ...)`. Unnamed events arrive at `onmessage`.
//!   We name the two unusual ones: `truncated` (the record does not reach
//!   back to `Last-Event-ID`) and `dropped` (this listener was too slow).
//! - A line starting with `:` is a comment: the browser ignores it. We
//!   send `: keepalive` when the stream has been quiet for a while.
//!
//! ## HTTP details that matter
//!
//! - **No `Content-Length`.** The length of an endless body is unknown, so
//!   the body ends when the connection closes (RFC 9112 §6.3, the last
//!   rule): `Connection: close` says so, and this connection carries no
//!   second request. (Chunked transfer coding would also work; closing is
//!   simpler and costs nothing for a response that lasts until the end.)
//! - **`Cache-Control: no-cache`**, so no cache answers for the stream.
//! - **Buffering proxies.** A proxy that collects a response before passing
//!   it on would hold every event back. nginx does so by default; the
//!   `X-Accel-Buffering: no` header turns that off for this response.
//!
//! ## One thread, and the slow listener
//!
//! An event stream never reads from its client, so unlike a WebSocket
//! member (two threads, `member.rs`) it needs one: the connection's thread
//! becomes the stream's writer. Messages reach it through an outbox, the
//! very same byte-bounded queue members have (`outbox.rs`), filled by the
//! room under its lock and emptied here with one `writev` per batch. A
//! listener that stops reading is cut off by the same rule as a member:
//! when its outbox finds it too slow (past the hard limit, or above the
//! soft one for longer than the grace), its backlog is replaced by one
//! `dropped` event and the stream ends. Unlike a WebSocket page, an
//! `EventSource` then reconnects by itself with `Last-Event-ID`, and
//! catches up from the record: nothing lost as far back as the record
//! reaches, and an explicit `truncated` event beyond that.
//!
//! A client that goes away is noticed at the next write that fails; when
//! nothing is said, that is the next heartbeat's.
//!
//! That ends the push layer. Read next: `src/server/mod.rs`, where the
//! server plugs it into the room.
//! (Where `/api/...` requests are routed is `src/server/session.rs`.)

use std::fmt;
use std::io::{self, Write};
use std::net::TcpStream;
use std::sync::Arc;

use super::feed::{Feed, ListenerId};
use super::http_api::{since_parameter, ApiError};
use super::sse;
use crate::chat::member::{drain_deadline, write_batch};
use crate::chat::outbox::{Encoded, Outbox};
use crate::config::Limits;
use crate::http::response::http_date;
use crate::http::Request;
use crate::log;

/// How long the browser waits before reconnecting, in milliseconds (the
/// `retry:` field). Browsers default to a few seconds; 2 s is a little
/// quicker without letting a thousand dropped pages hammer a restarting
/// server all at once.
pub const RETRY_MS: u64 = 2000;

/// What a quiet stream gets now and then: a comment, ignored by browsers.
pub const HEARTBEAT: &[u8] = b": keepalive\n\n";

/// How an event stream ended.
#[derive(Debug)]
pub enum StreamEnd {
    /// Its outbox found it too slow (`outbox.rs`): it got a `dropped`
    /// event and was closed.
    TooSlow,
    /// A write failed or made no progress within the write timeout: the
    /// client has gone, or stopped reading.
    WriteFailed(io::Error),
}

impl fmt::Display for StreamEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StreamEnd::TooSlow => f.write_str("too slow, sent `dropped`"),
            StreamEnd::WriteFailed(error) => write!(f, "write failed: {error}"),
        }
    }
}

/// Where a stream starts: after the `seq` in `Last-Event-ID` (the browser
/// reconnecting), else after `?since=`, else from now on (`None`). The
/// header wins because the browser reconnects to the *same URL*: a page
/// that opened `/api/events?since=40` and has since seen up to 90 comes
/// back with `?since=40` and `Last-Event-ID: 90`.
pub fn start_position(request: &Request) -> Result<Option<u64>, ApiError> {
    match request.headers.get("Last-Event-ID").filter(|id| !id.is_empty()) {
        Some(id) => id.parse().map(Some).map_err(|_| ApiError::bad_parameter("Last-Event-ID", id)),
        None => since_parameter(request),
    }
}

/// The status line and headers, and the `retry:` hint. Written by hand
/// rather than with `Response`, which always frames its body with a
/// `Content-Length`: exactly what an endless body cannot have.
fn response_head() -> Encoded {
    let head = format!(
        "HTTP/1.1 200 OK\r\n\
         Date: {}\r\n\
         Server: duplex\r\n\
         Content-Type: text/event-stream\r\n\
         Cache-Control: no-cache\r\n\
         X-Accel-Buffering: no\r\n\
         Connection: close\r\n\
         \r\n\
         retry: {RETRY_MS}\n\n",
        http_date(std::time::SystemTime::now())
    );
    Arc::from(head.into_bytes())
}

/// Serves `GET /api/events` on this connection until the stream ends.
/// `Err` means no stream was started: answer the error and carry on.
pub fn serve(
    request: &Request,
    socket: &TcpStream,
    feed: &Feed,
    limits: &Limits,
) -> Result<StreamEnd, ApiError> {
    if request.method != "GET" {
        return Err(ApiError::MethodNotAllowed { allow: "GET" });
    }
    let since = start_position(request)?;
    let outbox = Arc::new(Outbox::new(limits, sse::too_slow_goodbye));
    let listening = feed.listen(since, Arc::clone(&outbox), response_head());
    let _open = OpenStream { feed, id: listening.id, outbox: &outbox };
    log!(
        "{} {} -> 200, event stream {}: after seq {}, {} recorded message(s){}; {} open",
        request.method,
        request.target,
        listening.id.0,
        listening.since,
        listening.backlog,
        if listening.truncated { ", truncated" } else { "" },
        feed.listener_count()
    );
    Ok(write_until_ended(&outbox, socket, limits))
}

/// The writer's loop, as in `member.rs`, plus a heartbeat when quiet. As
/// there, once the outbox is closed (a listener found too slow), what is
/// left must be written within the write timeout. Unlike there, no other
/// thread ever writes in this one's place: a stream's outbox is lent no
/// socket (`Outbox::lend_socket`, `src/chat/outbox/handover.rs`), so this
/// loop alone writes, the heartbeat included.
fn write_until_ended(outbox: &Outbox, mut socket: &TcpStream, limits: &Limits) -> StreamEnd {
    let mut batch = Vec::new();
    let check = move || drain_deadline(outbox, socket, limits.write_timeout);
    while outbox.take_all(&mut batch, limits.push.event_stream_heartbeat) {
        let written = if batch.is_empty() {
            socket.write_all(HEARTBEAT) // quiet for a while
        } else {
            write_batch(&mut socket, &batch, check)
        };
        if let Err(error) = written {
            return StreamEnd::WriteFailed(error);
        }
        batch.clear();
    }
    // Only being cut off closes a listener's outbox, after queueing the
    // `dropped` event, which has now been written.
    StreamEnd::TooSlow
}

/// A listener of the room, for as long as this value lives: dropping it
/// (on any return, or a panic) leaves the room and frees the outbox.
struct OpenStream<'a> {
    feed: &'a Feed,
    id: ListenerId,
    outbox: &'a Outbox,
}

impl Drop for OpenStream<'_> {
    fn drop(&mut self) {
        self.feed.unlisten(self.id);
        self.outbox.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{Headers, Version};
    use crate::push::sse::{message_event, too_slow_goodbye, truncated_event};

    fn request(target: &str, last_event_id: Option<&str>) -> Request {
        let mut headers = Headers::default();
        headers.push("Host", "x");
        if let Some(id) = last_event_id {
            headers.push("Last-Event-ID", id);
        }
        Request { method: "GET".into(), target: target.into(), version: Version::Http11, headers }
    }

    #[test]
    fn events_are_one_block_each_in_the_documented_format() {
        let json = r#"{"type":"message","seq":7,"text":"a\u000ab"}"#;
        assert_eq!(&*message_event(7, json), format!("id: 7\ndata: {json}\n\n").as_bytes());
        assert_eq!(
            &*truncated_event(3, 5),
            &b"event: truncated\nid: 5\ndata: {\"type\":\"truncated\",\"since\":3,\"after\":5}\n\n"
                [..]
        );
        assert!(too_slow_goodbye(crate::chat::outbox::PushError::Overflow)
            .starts_with(b"event: dropped\ndata: {"));
        assert!(too_slow_goodbye(crate::chat::outbox::PushError::Overflow).ends_with(b"}\n\n"));
    }

    #[test]
    fn the_head_has_no_length_and_says_close() {
        let head = String::from_utf8(response_head().to_vec()).unwrap();
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(head.contains("\r\nContent-Type: text/event-stream\r\n"));
        assert!(head.contains("\r\nCache-Control: no-cache\r\n"));
        assert!(head.contains("\r\nConnection: close\r\n\r\nretry: 2000\n\n"));
        assert!(!head.to_ascii_lowercase().contains("content-length"));
    }

    #[test]
    fn last_event_id_wins_over_since() {
        assert_eq!(start_position(&request("/api/events", None)).unwrap(), None);
        assert_eq!(start_position(&request("/api/events?since=4", None)).unwrap(), Some(4));
        assert_eq!(start_position(&request("/api/events?since=4", Some("9"))).unwrap(), Some(9));
        assert_eq!(start_position(&request("/api/events?since=4", Some(""))).unwrap(), Some(4));
        assert!(start_position(&request("/api/events", Some("nine"))).is_err());
        assert!(start_position(&request("/api/events?since=-1", None)).is_err());
    }
}
