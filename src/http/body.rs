//! # Reading a body into memory
//!
//! The minimal server wants no request body: it throws every one away
//! (`discard_request_body` in `framing.rs`). One endpoint of the `push`
//! layer, `POST /api/send`, wants its body, the message; this file reads
//! it, and is compiled only with that layer.
//!
//! Whatever the framing (`Content-Length` or chunked), a body is read
//! through one call, [`read_request_body`], so a handler never sees the
//! difference, and under a limit judged before anything is allocated: a
//! `Content-Length: 99999999999` costs nothing, and a chunked body is
//! counted chunk by chunk (`chunked.rs`).
//!
//! Read next: `src/http/response.rs`.

use std::io::{self, BufRead, Read};

use super::chunked::decode_chunked;
use super::error::HttpError;
use super::framing::BodyFraming;
use super::line::unexpected_end;
use super::request::Request;
use crate::config::Limits;

/// Reads the body of `request` into memory, whatever its framing, under
/// `max_body` bytes (`413` past it, judged before anything is allocated).
/// Afterwards `reader` stands at the first byte of the next request.
pub fn read_request_body<R: BufRead>(
    reader: &mut R,
    request: &Request,
    max_body: usize,
    limits: &Limits,
) -> Result<Vec<u8>, HttpError> {
    match request.body_framing()? {
        BodyFraming::Length(length) => read_body(reader, length, max_body),
        BodyFraming::Chunked => {
            let mut body = Vec::new();
            decode_chunked(reader, &mut body, max_body, limits)?;
            Ok(body)
        }
    }
}

/// Reads a body of `len` bytes into memory. The length is checked before
/// allocating: `Content-Length: 99999999999` must cost nothing.
pub fn read_body<R: Read>(reader: &mut R, len: u64, max: usize) -> Result<Vec<u8>, HttpError> {
    let len = usize::try_from(len).map_err(|_| HttpError::BodyTooLarge)?;
    if len > max {
        return Err(HttpError::BodyTooLarge);
    }
    let mut body = vec![0; len];
    reader.read_exact(&mut body).map_err(|error| match error.kind() {
        io::ErrorKind::UnexpectedEof => unexpected_end(),
        _ => HttpError::Io(error),
    })?;
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::read_request;

    /// Reads a head, then its body, then the next head: the test that the
    /// body ended exactly where it should.
    fn body_then_next(
        wire: &[u8],
        max_body: usize,
    ) -> (Result<Vec<u8>, HttpError>, Option<String>) {
        let limits = Limits { max_request_body: max_body, ..Limits::default() };
        let mut reader = wire;
        let request = read_request(&mut reader, &limits).unwrap().unwrap();
        let body = read_request_body(&mut reader, &request, max_body, &limits);
        let next = body
            .is_ok()
            .then(|| read_request(&mut reader, &limits).ok().flatten().map(|next| next.target))
            .flatten();
        (body, next)
    }

    #[test]
    fn either_framing_leaves_the_reader_at_the_next_request() {
        let by_length = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n\
            helloGET /next HTTP/1.1\r\nHost: x\r\n\r\n";
        let (body, next) = body_then_next(by_length, 10);
        assert_eq!(body.unwrap(), b"hello");
        assert_eq!(next.as_deref(), Some("/next"));

        let chunked = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
            3\r\nhel\r\n2\r\nlo\r\n0\r\n\r\nGET /next HTTP/1.1\r\nHost: x\r\n\r\n";
        let (body, next) = body_then_next(chunked, 10);
        assert_eq!(body.unwrap(), b"hello");
        assert_eq!(next.as_deref(), Some("/next"));

        // The chunked body is bounded by the same limit as a Content-Length one.
        let (body, _) = body_then_next(chunked, 4);
        assert!(matches!(body, Err(HttpError::BodyTooLarge)));
    }

    #[test]
    fn length_bodies_are_bounded_before_allocation() {
        assert_eq!(read_body(&mut &b"abcdef"[..], 3, 10).unwrap(), b"abc");
        assert!(matches!(read_body(&mut &b""[..], u64::MAX, 10), Err(HttpError::BodyTooLarge)));
        assert!(matches!(read_body(&mut &b"ab"[..], 3, 10), Err(HttpError::Io(_))));
    }
}
