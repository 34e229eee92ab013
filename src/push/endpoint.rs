//! # The layer's entrance: a request under `/api/`
//!
//! The connection loop (`src/server/session.rs`) hands every request whose
//! path starts with `/api/` to [`serve`], and nothing else of this layer
//! is on its path. From here a request goes one of three ways:
//!
//! - `POST /api/send` has a body, the message: it is read into memory under
//!   the chat's text limit (`--max-chat-text`), checked before anything is
//!   allocated (`src/http/body.rs`). Any other body is thrown away.
//! - `GET /api/events` takes its connection over until the stream ends
//!   (`event_stream.rs`), as an upgrade does.
//! - Everything else is an ordinary answer (`http_api.rs`); a long poll
//!   may hold it for a while.
//!
//! Read next: `src/push/http_api.rs`.

use std::io::BufRead;
use std::net::TcpStream;

use super::event_stream::{self, StreamEnd};
use super::feed::Feed;
use super::http_api;
use crate::config::Limits;
use crate::http::{
    answer_expectation, discard_request_body, read_request_body, HttpError, Request, Response,
};

/// Why [`serve`] has no response for the connection loop to write.
pub enum Unanswered {
    /// The request could not be read to its end; answer it with the
    /// error's status and close.
    Refused(HttpError),
    /// An event stream was served on the connection, and has ended.
    Streamed(StreamEnd),
}

/// Is this a request for the HTTP face of the room?
pub fn is_api(request: &Request) -> bool {
    request.path().starts_with("/api/")
}

/// Reads the rest of an `/api/` request (its body) and answers it.
pub fn serve<R: BufRead>(
    request: &Request,
    reader: &mut R,
    socket: &TcpStream,
    feed: &Feed,
    limits: &Limits,
) -> Result<Response, Unanswered> {
    let body = read_body(request, reader, socket, limits).map_err(Unanswered::Refused)?;
    if http_api::is_event_stream(request) {
        return match event_stream::serve(request, socket, feed, limits) {
            Ok(end) => Err(Unanswered::Streamed(end)),
            Err(error) => Ok(error.response()),
        };
    }
    Ok(http_api::respond(request, &body, feed, limits))
}

/// Reads the body of the one request that wants it, bounded by the chat's
/// text limit, and reads and throws away any other, so the next request
/// starts at the right byte.
fn read_body<R: BufRead>(
    request: &Request,
    reader: &mut R,
    mut socket: &TcpStream,
    limits: &Limits,
) -> Result<Vec<u8>, HttpError> {
    if !http_api::takes_body(request) {
        answer_expectation(request, &mut socket, limits.max_request_body)?;
        return discard_request_body(reader, request, limits).map(|()| Vec::new());
    }
    answer_expectation(request, &mut socket, limits.max_chat_text)?;
    read_request_body(reader, request, limits.max_chat_text, limits)
}
