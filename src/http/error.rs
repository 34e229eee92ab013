//! # What can go wrong with a request, and the status each earns
//!
//! Every refusal is a value of [`HttpError`], and each one knows the
//! status code it maps to (RFC 9110 §15), so the server answers `414` for a
//! long URI and `431` for a flood of headers without a table of its own.
//! An I/O error that is a timeout (the request did not arrive within the
//! deadline the server's reader enforces) maps to `408 Request Timeout`
//! (RFC 9110 §15.5.9): the client may still be there to read it. Any other
//! I/O error maps to no status at all: the peer is gone, and nobody is
//! left to read an answer.
//!
//! Read next: `src/http/line.rs`.

use std::fmt;
use std::io;

use super::response::Status;

/// Everything that can go wrong while reading a request.
#[derive(Debug)]
pub enum HttpError {
    /// The connection failed, timed out, or closed in the middle of a head
    /// or body (reported as `UnexpectedEof`). Only a timeout is answered.
    Io(io::Error),
    UriTooLong,
    HeadersTooLarge,
    TooManyHeaders,
    Malformed(&'static str),
    /// HTTP/1.1 without a `Host` field, any request with two of them, or a
    /// `Host` value that is not `host[:port]`.
    BadHost,
    BadContentLength,
    /// Framing that cannot be trusted (RFC 9112 §6.1, §6.3): `chunked` not
    /// the final coding, `Transfer-Encoding` together with `Content-Length`,
    /// or in an HTTP/1.0 request.
    BadTransferEncoding(&'static str),
    /// A transfer coding we do not implement (anything but `chunked`),
    /// applied before a final `chunked`.
    UnsupportedTransferEncoding,
    /// A chunked body that breaks the grammar of RFC 9112 §7.1.
    BadChunk(&'static str),
    /// The caller needs the body's length before reading it, and a chunked
    /// body does not state one (RFC 9110 §15.5.12).
    LengthRequired,
    BodyTooLarge,
    VersionNotSupported,
    /// An `Expect` other than `100-continue` (RFC 9110 §10.1.1).
    ExpectationFailed,
}

impl HttpError {
    /// The status to answer with, or `None` when the connection should just
    /// be closed. After any of these the connection must be closed: once
    /// the parser has lost its place in the byte stream it cannot find the
    /// start of the next request again.
    pub fn status(&self) -> Option<Status> {
        match self {
            HttpError::Io(error) if is_timeout(error) => Some(Status::REQUEST_TIMEOUT),
            HttpError::Io(_) => None,
            HttpError::UriTooLong => Some(Status::URI_TOO_LONG),
            HttpError::HeadersTooLarge | HttpError::TooManyHeaders => {
                Some(Status::HEADER_FIELDS_TOO_LARGE)
            }
            HttpError::Malformed(_)
            | HttpError::BadHost
            | HttpError::BadContentLength
            | HttpError::BadTransferEncoding(_)
            | HttpError::BadChunk(_) => Some(Status::BAD_REQUEST),
            HttpError::UnsupportedTransferEncoding => Some(Status::NOT_IMPLEMENTED),
            HttpError::LengthRequired => Some(Status::LENGTH_REQUIRED),
            HttpError::BodyTooLarge => Some(Status::CONTENT_TOO_LARGE),
            HttpError::VersionNotSupported => Some(Status::HTTP_VERSION_NOT_SUPPORTED),
            HttpError::ExpectationFailed => Some(Status::EXPECTATION_FAILED),
        }
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::Io(error) => write!(f, "i/o error while reading request: {error}"),
            HttpError::UriTooLong => f.write_str("request line too long"),
            HttpError::HeadersTooLarge => f.write_str("header block too large"),
            HttpError::TooManyHeaders => f.write_str("too many header lines"),
            HttpError::Malformed(what) => write!(f, "malformed request: {what}"),
            HttpError::BadHost => f.write_str("missing, duplicate or invalid Host header"),
            HttpError::BadContentLength => f.write_str("invalid or conflicting Content-Length"),
            HttpError::BadTransferEncoding(what) => write!(f, "untrustworthy framing: {what}"),
            HttpError::UnsupportedTransferEncoding => {
                f.write_str("a transfer coding other than chunked")
            }
            HttpError::BadChunk(what) => write!(f, "malformed chunked body: {what}"),
            HttpError::LengthRequired => {
                f.write_str("a body of unstated length where one is needed")
            }
            HttpError::BodyTooLarge => f.write_str("request body too large"),
            HttpError::VersionNotSupported => f.write_str("HTTP version not supported"),
            HttpError::ExpectationFailed => f.write_str("only Expect: 100-continue is supported"),
        }
    }
}

/// A read that gave up waiting. A socket with a read timeout reports
/// `WouldBlock` on Unix and `TimedOut` on Windows; a deadline reader may
/// say `TimedOut` itself.
pub fn is_timeout(error: &io::Error) -> bool {
    matches!(error.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut)
}

impl std::error::Error for HttpError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            HttpError::Io(error) => Some(error),
            _ => None,
        }
    }
}

impl From<io::Error> for HttpError {
    fn from(error: io::Error) -> Self {
        HttpError::Io(error)
    }
}
