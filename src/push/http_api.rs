//! # The room over plain HTTP: sending, short polling, long polling
//!
//! Chapter 1 (`docs/01-why-websocket.md`) describes the ways people pushed
//! messages to browsers before WebSocket. This file and
//! `event_stream.rs` build them, on the *same* room as `/chat`, so the
//! page `www/compare.html` can show all four side by side:
//!
//! | request | what it does |
//! |---|---|
//! | `POST /api/send?name=ann` | body: the message text. Says it in the room. |
//! | `GET /api/messages?since=41` | short poll: the messages after seq 41, at once |
//! | `GET /api/messages?since=41&wait=30` | long poll: the same, but waits up to 30 s for one |
//! | `GET /api/messages` | no `since`: "from now", so no messages, and the newest `seq` |
//! | `GET /api/events` | Server-Sent Events (`event_stream.rs`) |
//!
//! Every transport gets the very same JSON for a message, with the very
//! same `seq`, because all of them read it from one record
//! (`src/chat/history.rs`) or have it pushed by one room
//! (`src/push/feed.rs`). `docs/protocol.md` §9 is the reference.
//!
//! HTTP details worth noticing:
//!
//! - **Polls must not be cached.** `GET /api/messages?since=41` is a
//!   different answer every time; a browser or proxy cache that kept one
//!   would show a frozen room. `Cache-Control: no-store` forbids it.
//! - **A long poll holds a thread.** In this thread-per-connection server a
//!   waiting request is a parked thread, counted against
//!   `--max-connections` like a WebSocket. A client that gives up while we
//!   wait is only noticed when we answer.
//! - **The body is read under a limit** (`--max-chat-text`) that is checked
//!   from `Content-Length`, or from each chunk's size, before anything is
//!   allocated: `read_request_body` in `src/http/body.rs`, called from
//!   `src/server/session.rs`.
//! - **Errors are JSON too**, `{"error":"..."}`, with a status that says
//!   whose fault it is ([`ApiError::status`]).
//!
//! Read next: `src/push/sse.rs` and `event_stream.rs`, the fourth way.

use std::fmt;
use std::time::Duration;

use super::feed::{Feed, PostError};
use crate::config::Limits;
use crate::http::{Request, Response, Status};
use crate::json::write::Object;
use crate::log;

/// Everything an `/api/...` request can get wrong, each with its status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// No endpoint at this path.
    NotFound(String),
    /// The endpoint exists, but not for this method. `allow` lists the
    /// methods it takes, for the `Allow` header RFC 9110 §15.5.6 requires.
    MethodNotAllowed { allow: &'static str },
    /// `POST /api/send` without `?name=` or `X-Chat-Name`.
    MissingName,
    /// The room refused the message.
    Post(PostError),
    /// A message body that is not UTF-8 text.
    NotUtf8,
    /// A query parameter or header that is not what it should be.
    BadParameter { name: &'static str, value: String },
}

impl ApiError {
    pub fn bad_parameter(name: &'static str, value: &str) -> ApiError {
        // Echoed back in the error, so bounded: a value may be 8 KiB.
        let value = value.chars().take(40).collect();
        ApiError::BadParameter { name, value }
    }

    /// The status to answer with. 4xx for what the client can fix by
    /// sending something else; 503 when the room, shared through Redis,
    /// cannot take the message right now (try again later).
    pub fn status(&self) -> Status {
        match self {
            ApiError::Post(PostError::Busy(_) | PostError::Unconfirmed) => {
                Status::SERVICE_UNAVAILABLE
            }
            ApiError::NotFound(_) => Status::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => Status::METHOD_NOT_ALLOWED,
            // The name is fine, just not available: "understood, but
            // refused" (RFC 9110 §15.5.4).
            ApiError::Post(PostError::NameTaken(_)) => Status::CONFLICT,
            ApiError::Post(PostError::TooLong { .. }) => Status::CONTENT_TOO_LARGE,
            ApiError::MissingName
            | ApiError::Post(_)
            | ApiError::NotUtf8
            | ApiError::BadParameter { .. } => Status::BAD_REQUEST,
        }
    }

    /// The error as a response: its status, and `{"error":"..."}`.
    pub fn response(&self) -> Response {
        let body = Object::new().string("error", &self.to_string()).finish();
        let response = Response::new(self.status()).body(JSON, body.into_bytes());
        match self {
            ApiError::MethodNotAllowed { allow } => response.header("Allow", *allow),
            // RFC 9110 §10.2.3: when to ask again.
            _ if self.status() == Status::SERVICE_UNAVAILABLE => {
                response.header("Retry-After", "1")
            }
            _ => response,
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::NotFound(path) => write!(f, "no API endpoint at {path}"),
            ApiError::MethodNotAllowed { allow } => write!(f, "this endpoint takes {allow}"),
            ApiError::MissingName => {
                f.write_str("say who you are: ?name=NAME or an X-Chat-Name header")
            }
            ApiError::Post(error) => write!(f, "{error}"),
            ApiError::NotUtf8 => f.write_str("the message is not UTF-8 text"),
            ApiError::BadParameter { name, value } => write!(f, "{name}: {value:?} is not valid"),
        }
    }
}

impl std::error::Error for ApiError {}

impl From<PostError> for ApiError {
    fn from(error: PostError) -> Self {
        ApiError::Post(error)
    }
}

const JSON: &str = "application/json";

/// Does this request carry a body we want? Only the message of
/// `POST /api/send`; every other body is read and thrown away.
pub fn takes_body(request: &Request) -> bool {
    request.method == "POST" && request.path() == "/api/send"
}

/// Is this the event stream, which takes over its connection?
pub fn is_event_stream(request: &Request) -> bool {
    request.path() == "/api/events"
}

/// Answers an `/api/...` request other than the event stream. A long poll
/// blocks this thread until it is answered.
pub fn respond(request: &Request, body: &[u8], feed: &Feed, limits: &Limits) -> Response {
    let answer = match request.path() {
        "/api/send" => send(request, body, feed),
        "/api/messages" => messages(request, feed, limits),
        other => Err(ApiError::NotFound(other.to_string())),
    };
    answer.unwrap_or_else(|error| error.response())
}

/// `POST /api/send`: the body is the text, exactly as sent (like a
/// WebSocket text frame: no trimming, newlines kept). Answers
/// `{"seq":N,"time":T}`, the stamp the message got.
fn send(request: &Request, body: &[u8], feed: &Feed) -> Result<Response, ApiError> {
    if request.method != "POST" {
        return Err(ApiError::MethodNotAllowed { allow: "POST" });
    }
    // The query parameter is percent-decoded UTF-8, so any name fits. A
    // header is taken as it is: browsers can only put Latin-1 in a header,
    // and the parser accepts only UTF-8, so non-ASCII names need `?name=`.
    let name = request
        .query_param("name")
        .or_else(|| request.headers.get("X-Chat-Name").map(str::to_string))
        .ok_or(ApiError::MissingName)?;
    let text = std::str::from_utf8(body).map_err(|_| ApiError::NotUtf8)?;
    let stamp = feed.post(&name, text)?;
    let json = Object::new().number("seq", stamp.seq).number("time", stamp.time).finish();
    Ok(Response::new(Status::OK).header("Cache-Control", "no-store").body(JSON, json.into_bytes()))
}

/// `GET /api/messages?since=SEQ[&wait=SECONDS]`: short poll, or long poll
/// when `wait` is given and above zero.
fn messages(request: &Request, feed: &Feed, limits: &Limits) -> Result<Response, ApiError> {
    if request.method != "GET" && request.method != "HEAD" {
        return Err(ApiError::MethodNotAllowed { allow: "GET, HEAD" });
    }
    let since = since_parameter(request)?;
    let wait = match request.query_param("wait") {
        Some(text) => parse_wait(&text)?.min(limits.push.long_poll_max),
        None => Duration::ZERO,
    };
    let catchup = if wait.is_zero() {
        feed.messages_since(since)
    } else {
        let catchup = feed.wait_for_messages(since, wait);
        if catchup.messages.is_empty() && !catchup.truncated {
            log!("long poll: nothing after seq {} within {wait:?}", catchup.after);
        }
        catchup
    };
    // `truncated` is a JSON literal; `raw` writes it as given.
    let json = Object::new()
        .number("last_seq", catchup.last_seq)
        .raw("truncated", if catchup.truncated { "true" } else { "false" })
        .raw_array("messages", catchup.messages.iter().map(|m| &*m.json))
        .finish();
    Ok(Response::new(Status::OK).header("Cache-Control", "no-store").body(JSON, json.into_bytes()))
}

/// `?since=SEQ`: after that `seq`. Absent: from now on (the answer is
/// then empty, and its `last_seq` is where to poll from next).
pub fn since_parameter(request: &Request) -> Result<Option<u64>, ApiError> {
    match request.query_param("since") {
        Some(text) => text.parse().map(Some).map_err(|_| ApiError::bad_parameter("since", &text)),
        None => Ok(None),
    }
}

/// `wait` in seconds, whole or not (`0.5`). Negative, NaN and infinite
/// values are refused rather than guessed at.
fn parse_wait(text: &str) -> Result<Duration, ApiError> {
    text.parse::<f64>()
        .ok()
        .and_then(|seconds| Duration::try_from_secs_f64(seconds).ok())
        .ok_or_else(|| ApiError::bad_parameter("wait", text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{Body, Headers, Version};

    fn request(method: &str, target: &str, headers: &[(&str, &str)]) -> Request {
        let mut fields = Headers::default();
        fields.push("Host", "x");
        for (name, value) in headers {
            fields.push(name, value);
        }
        Request {
            method: method.into(),
            target: target.into(),
            version: Version::Http11,
            headers: fields,
        }
    }

    fn feed() -> std::sync::Arc<Feed> {
        let room = std::sync::Arc::new(crate::chat::Room::new("main", &Limits::default()));
        Feed::attach(&room, &Limits::default())
    }

    fn answer(feed: &Feed, method: &str, target: &str, body: &[u8]) -> (u16, String) {
        let response = respond(&request(method, target, &[]), body, feed, &Limits::default());
        let text = match response.body {
            Body::Bytes(bytes) => String::from_utf8(bytes).unwrap(),
            other => panic!("unexpected body {other:?}"),
        };
        (response.status.code(), text)
    }

    #[test]
    fn send_then_poll() {
        let room = feed();
        let (status, body) = answer(&room, "POST", "/api/send?name=ann", b"hi \"there\"");
        assert_eq!(status, 200);
        assert!(body.starts_with(r#"{"seq":1,"time":"#), "{body}");
        let (status, body) = answer(&room, "GET", "/api/messages?since=0", b"");
        assert_eq!(status, 200);
        assert!(body.starts_with(
            r#"{"last_seq":1,"truncated":false,"messages":[{"type":"message","seq":1,"#
        ));
        assert!(body.ends_with(r#""from":"ann","text":"hi \"there\""}]}"#), "{body}");
        let (_, body) = answer(&room, "GET", "/api/messages?since=1&wait=0", b"");
        assert_eq!(body, r#"{"last_seq":1,"truncated":false,"messages":[]}"#);
        let (_, body) = answer(&room, "GET", "/api/messages", b"");
        assert_eq!(body, r#"{"last_seq":1,"truncated":false,"messages":[]}"#, "from now");
    }

    #[test]
    fn the_name_may_come_in_a_header() {
        let room = feed();
        let request = request("POST", "/api/send", &[("X-Chat-Name", "bob")]);
        let response = respond(&request, b"yo", &room, &Limits::default());
        assert_eq!(response.status, Status::OK);
        assert!(room.messages_since(Some(0)).messages[0].json.contains(r#""from":"bob""#));
    }

    #[test]
    fn every_mistake_has_its_status() {
        let room = feed();
        let outbox = crate::chat::outbox::Outbox::new(
            &Limits::default(),
            crate::chat::outbox::too_slow_goodbye,
        );
        room.room().join(Some(Ok("ann")), std::sync::Arc::new(outbox), None);
        let cases: [(&str, &str, &[u8], u16); 9] = [
            ("POST", "/api/send", b"hi", 400),
            ("POST", "/api/send?name=ann", b"hi", 409),
            ("POST", "/api/send?name=%07", b"hi", 400),
            ("POST", "/api/send?name=bob", b"", 400),
            ("POST", "/api/send?name=bob", b"\xff", 400),
            ("GET", "/api/send?name=bob", b"", 405),
            ("GET", "/api/messages?since=x", b"", 400),
            ("GET", "/api/messages?wait=-1", b"", 400),
            ("GET", "/api/nothing", b"", 404),
        ];
        for (method, target, body, status) in cases {
            let (code, text) = answer(&room, method, target, body);
            assert_eq!(code, status, "{method} {target}: {text}");
            assert!(text.starts_with(r#"{"error":""#), "{text}");
        }
        let response =
            respond(&request("PUT", "/api/messages", &[]), b"", &room, &Limits::default());
        assert!(response.headers.contains(&("Allow".into(), "GET, HEAD".into())));
    }

    #[test]
    fn waits_are_parsed_and_capped() {
        assert_eq!(parse_wait("1.5"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_wait("0"), Ok(Duration::ZERO));
        for bad in ["-1", "NaN", "inf", "soon", ""] {
            assert!(parse_wait(bad).is_err(), "{bad}");
        }
        // A wait far beyond the cap ends at the cap: here, at once.
        let room = feed();
        let mut limits = Limits::default();
        limits.push.long_poll_max = Duration::from_millis(1);
        let request = request("GET", "/api/messages?wait=86400", &[]);
        assert_eq!(respond(&request, b"", &room, &limits).status, Status::OK);
    }
}
