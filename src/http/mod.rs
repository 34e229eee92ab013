//! # HTTP/1.1: just enough, done carefully
//!
//! Every WebSocket connection begins life as an HTTP/1.1 request (RFC 6455
//! §4.1), and the pages that open those WebSockets are served over HTTP too.
//! So before a single frame is sent, this server must read requests from
//! strangers and answer them. This chapter is that part.
//!
//! HTTP is specified in two layers, and the code follows the split:
//!
//! - **RFC 9112** (HTTP/1.1): the bytes on the wire. How a request line and
//!   header lines look, where the head ends, how long the body is.
//! - **RFC 9110** (HTTP semantics): what those bytes mean. Status codes,
//!   `Host`, `Connection`, conditional requests (`If-None-Match`), dates.
//!
//! Request bodies arrive with a `Content-Length` or in chunks
//! (`Transfer-Encoding: chunked`), and both are read under the same limit.
//! What we leave out, on purpose: transfer codings other than chunked,
//! ranges, compression, HTTP/2. Each is a fine feature and none is needed
//! to serve a few pages and upgrade to WebSocket. Leaving out a feature is
//! safe only when the parser *refuses* what it does not implement, instead
//! of guessing; and implementing one is safe only when the parser is
//! strict about it. You will see both rules repeatedly.
//!
//! Read in this order:
//!
//! 1. [`request`]: parsing a request head under hard limits.
//! 2. [`error`]: every refusal, and the status code it earns.
//! 3. [`line`](mod@line): reading one line under a byte budget, and line endings.
//! 4. [`headers`]: header fields, token lists, and the rules for one line.
//! 5. [`framing`]: where a body ends, and the checks that keep this server
//!    and any proxy in front of it agreeing on where one request ends and
//!    the next begins (request smuggling).
//! 6. [`chunked`]: decoding a chunked body, strictly.
//!    (With the `push` layer, `body` then reads a body into memory.)
//! 7. [`response`]: status codes, writing a response, HTTP dates.
//! 8. [`percent`]: `%XX` escapes, and why paths are checked after decoding.
//! 9. [`static_files`]: mapping a URL onto a folder without handing out the
//!    rest of the disk.
//!
//! Read next: `src/websocket/handshake.rs`, where one particular `GET`
//! request turns the connection into something that is no longer HTTP.

#[cfg(feature = "push")]
pub mod body;
pub mod chunked;
pub mod error;
pub mod framing;
pub mod headers;
pub mod line;
pub mod percent;
pub mod request;
pub mod response;
pub mod static_files;

#[cfg(feature = "push")]
pub use body::{read_body, read_request_body};
pub use framing::{answer_expectation, discard_body, discard_request_body, BodyFraming};
pub use request::{read_request, Headers, HttpError, Request, Version};
pub use response::{Body, Response, Status};
