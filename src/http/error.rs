//! # What can go wrong with a request, and the status each earns
//!
//! Every refusal is a value of [`HttpError`], and each one knows the
//! status code it maps to (RFC 9110 §15), so the server answers `414` for a
//! long URI and `431` for a flood of headers without a table of its own.
//! An I/O error maps to no status at all: the peer is gone or too slow, and
//! nobody is left to read an answer.
//!
//! Read next: `src/http/headers.rs`.

use std::fmt;
use std::io;

use super::response::Status;

/// Everything that can go wrong while reading a request.
#[derive(Debug)]
pub enum HttpError {
    /// The connection failed, timed out, or closed in the middle of a head
    /// (reported as `UnexpectedEof`). There is nobody left to answer.
    Io(io::Error),
    UriTooLong,
    HeadersTooLarge,
    TooManyHeaders,
    Malformed(&'static str),
    /// HTTP/1.1 without a `Host` field, any request with two of them, or a
    /// `Host` value that is not `host[:port]`.
    BadHost,
    BadContentLength,
    UnsupportedTransferEncoding,
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
            HttpError::Io(_) => None,
            HttpError::UriTooLong => Some(Status::URI_TOO_LONG),
            HttpError::HeadersTooLarge | HttpError::TooManyHeaders => {
                Some(Status::HEADER_FIELDS_TOO_LARGE)
            }
            HttpError::Malformed(_) | HttpError::BadHost | HttpError::BadContentLength => {
                Some(Status::BAD_REQUEST)
            }
            HttpError::UnsupportedTransferEncoding => Some(Status::NOT_IMPLEMENTED),
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
            HttpError::UnsupportedTransferEncoding => {
                f.write_str("Transfer-Encoding not supported")
            }
            HttpError::BodyTooLarge => f.write_str("request body too large"),
            HttpError::VersionNotSupported => f.write_str("HTTP version not supported"),
            HttpError::ExpectationFailed => f.write_str("only Expect: 100-continue is supported"),
        }
    }
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
