//! # Where a body ends
//!
//! A request's body has no end marker of its own. The head says how to
//! find it, in one of two ways (RFC 9112 §6):
//!
//! - `Content-Length: 5`: the next five bytes;
//! - `Transfer-Encoding: chunked`: chunks, each with its size, until a
//!   chunk of size zero (`chunked.rs`).
//!
//! With neither, a request has no body. This is the most dangerous decision
//! in an HTTP/1.1 server, because it is also where the *next* request
//! begins. If a proxy in front of this server and the server itself decide
//! differently, whatever one of them takes for "the rest of the body" the
//! other parses as a new request: request smuggling. The defence the RFC
//! describes is not to refuse chunked bodies but to parse strictly, and
//! to refuse every head whose framing two honest parsers could read in
//! two ways ([`Request::body_framing`]).
//!
//! Whatever the framing, the server throws a body away through one call,
//! [`discard_request_body`], so that the next request starts at the right
//! byte. The minimal server wants no body at all; the `push` layer's
//! `POST /api/send` reads one into memory (`body.rs`, compiled only with
//! that layer), through the same framing.
//!
//! Read next: `src/http/chunked.rs`, the chunked decoder.

use std::io::{self, BufRead, Read, Write};

use super::chunked::decode_chunked;
use super::error::HttpError;
use super::headers::{is_token, trim_whitespace};
use super::line::unexpected_end;
use super::request::{Request, Version};
use crate::config::Limits;

/// How a request's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    /// Exactly this many bytes: `Content-Length`, or 0 when the head has
    /// neither field.
    Length(u64),
    /// `Transfer-Encoding: chunked`: the length is learnt while reading.
    Chunked,
}

impl Request {
    /// How the body of this request is delimited (RFC 9112 §6.3), or why
    /// that cannot be trusted. [`crate::http::read_request`] checks this
    /// before it returns a request, so a head with bad framing never
    /// reaches a handler. Every refusal here ends the connection, because
    /// after it nobody can say where the next request starts.
    ///
    /// With `Transfer-Encoding`, in this order:
    /// - in an HTTP/1.0 request: `400`. HTTP/1.0 has no transfer codings,
    ///   so a 1.0 hop on the path ignores the field and frames the message
    ///   differently; §6.1 says to treat the framing as faulty.
    /// - with `Content-Length` as well: `400`. This is CL.TE / TE.CL, the
    ///   textbook smuggling pair. §6.1 lets a server either refuse or
    ///   ignore `Content-Length`; we refuse, because a message that tells
    ///   two stories about its length came from a broken or hostile
    ///   sender, and answering it teaches an attacker nothing.
    /// - the codings, as a list (see `transfer_codings`): `chunked`
    ///   must be the last, and only the last, else `400` (§6.3: without
    ///   it last, the length cannot be determined).
    /// - any coding before the final `chunked` (`gzip, chunked`): `501`
    ///   (§6.1). We implement none; the body could be found, but not
    ///   understood.
    ///
    /// Without it, `Content-Length`, which must be plain digits and, if
    /// repeated, the same number every time (§6.3 rule 5: `400`; RFC 9110
    /// §8.6 allows identical repeats such as `5, 5`).
    pub fn body_framing(&self) -> Result<BodyFraming, HttpError> {
        if self.headers.count("transfer-encoding") == 0 {
            return self.declared_length().map(BodyFraming::Length);
        }
        if self.version == Version::Http10 {
            return Err(HttpError::BadTransferEncoding("Transfer-Encoding in an HTTP/1.0 request"));
        }
        if self.headers.count("content-length") > 0 {
            return Err(HttpError::BadTransferEncoding(
                "both Transfer-Encoding and Content-Length",
            ));
        }
        let codings = transfer_codings(self)?;
        let Some((last, earlier)) = codings.split_last() else {
            return Err(HttpError::BadTransferEncoding("an empty Transfer-Encoding"));
        };
        if !last.eq_ignore_ascii_case("chunked") {
            return Err(HttpError::BadTransferEncoding("chunked is not the final coding"));
        }
        // `chunked, chunked`: §7.1 forbids applying it twice. Reading it as
        // one is a guess, and TE.TE attacks live in such guesses.
        if earlier.iter().any(|coding| coding_name(coding).eq_ignore_ascii_case("chunked")) {
            return Err(HttpError::BadTransferEncoding("chunked applied more than once"));
        }
        if !earlier.is_empty() {
            return Err(HttpError::UnsupportedTransferEncoding);
        }
        Ok(BodyFraming::Chunked)
    }

    /// The body's length, for a caller that must know it before reading.
    /// A chunked body states none, so for it this is `LengthRequired`
    /// (`411`); a WebSocket upgrade, which may carry no body, uses this to
    /// insist on none.
    pub fn content_length(&self) -> Result<u64, HttpError> {
        match self.body_framing()? {
            BodyFraming::Length(length) => Ok(length),
            BodyFraming::Chunked => Err(HttpError::LengthRequired),
        }
    }

    /// Should `100 Continue` go out before the body is read (RFC 9110
    /// §10.1.1)? Only if the client waits for it, and the body may be
    /// accepted under `max_body`. For a `Content-Length` body that is known
    /// now: if it is too large, we stay silent and the final `413` arrives
    /// before a useless upload. A chunked body shows its size only as it
    /// arrives, so it is invited, and judged chunk by chunk.
    pub fn should_send_continue(&self, max_body: usize) -> Result<bool, HttpError> {
        if !self.expects_continue()? {
            return Ok(false);
        }
        Ok(match self.body_framing()? {
            BodyFraming::Length(length) => length > 0 && length <= max_body as u64,
            BodyFraming::Chunked => true,
        })
    }

    /// `Content-Length` values, all lines, all list items.
    fn declared_length(&self) -> Result<u64, HttpError> {
        let mut length = None;
        for item in self.headers.get_all("content-length").flat_map(|v| v.split(',')) {
            let item = trim_whitespace(item);
            if item.is_empty() || !item.bytes().all(|b| b.is_ascii_digit()) {
                return Err(HttpError::BadContentLength);
            }
            // Digits only, so the one way `parse` can fail is overflow.
            let value: u64 = item.parse().map_err(|_| HttpError::BadContentLength)?;
            if length.is_some_and(|seen| seen != value) {
                return Err(HttpError::BadContentLength);
            }
            length = Some(value);
        }
        Ok(length.unwrap_or(0))
    }
}

/// The transfer codings of a request, in the order they were applied.
///
/// `Transfer-Encoding` is a list (RFC 9110 §5.6.1), and a list may be
/// split over several field lines, which mean the same as one line joined
/// with commas (§5.3): so `Transfer-Encoding: gzip` followed by
/// `Transfer-Encoding: chunked` is `gzip, chunked`, and two lines of
/// `chunked` are `chunked, chunked`.
///
/// Empty elements (`, chunked` or `chunked,,`) are skipped: §5.6.1.2 says a
/// recipient MUST ignore "a reasonable number" of them, and the header
/// limits already bound the number. Every element that remains must be a
/// token, optionally with `;` parameters: `"chunked"` in quotes or
/// `chunked x` is refused, not repaired. A field with no elements at all
/// (`Transfer-Encoding:`) lists no codings, so `chunked` is not its final
/// one, and `body_framing` refuses it.
fn transfer_codings(request: &Request) -> Result<Vec<&str>, HttpError> {
    let mut codings = Vec::new();
    for item in request.headers.get_all("transfer-encoding").flat_map(|v| v.split(',')) {
        let item = trim_whitespace(item);
        if item.is_empty() {
            continue;
        }
        if !is_token(coding_name(item).as_bytes()) {
            return Err(HttpError::BadTransferEncoding("a transfer coding that is not a token"));
        }
        codings.push(item);
    }
    Ok(codings)
}

/// The name of a coding, without its parameters: `gzip` in `gzip;q=1`.
/// `chunked` has no parameters, so a final `chunked;x=1` is not `chunked`.
fn coding_name(coding: &str) -> &str {
    coding.split(';').next().map_or(coding, trim_whitespace)
}

/// A client that sent `Expect: 100-continue` waits for our go-ahead before
/// sending its body (RFC 9110 §10.1.1; curl does this for bodies over 1 KiB
/// and otherwise waits a second). We say `100 Continue` when the body will be
/// accepted, at most `max_body` bytes of it; when it will not, we say nothing
/// and the final `413` follows without the body ever being sent.
pub fn answer_expectation<W: Write>(
    request: &Request,
    writer: &mut W,
    max_body: usize,
) -> Result<(), HttpError> {
    if !request.should_send_continue(max_body)? {
        return Ok(());
    }
    writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").map_err(HttpError::Io)
}

/// Reads and throws away the body of `request`, whatever its framing,
/// under `limits.max_request_body`, so that the next request on a
/// keep-alive connection starts at the right byte. Forgetting this is a
/// smuggling bug of our own making: the body would be parsed as a request.
pub fn discard_request_body<R: BufRead>(
    reader: &mut R,
    request: &Request,
    limits: &Limits,
) -> Result<(), HttpError> {
    match request.body_framing()? {
        BodyFraming::Length(length) => discard_body(reader, length, limits),
        BodyFraming::Chunked => {
            decode_chunked(reader, &mut io::sink(), limits.max_request_body, limits).map(|_| ())
        }
    }
}

/// Reads and throws away a body of `len` bytes, under
/// `limits.max_request_body`.
pub fn discard_body<R: Read>(reader: &mut R, len: u64, limits: &Limits) -> Result<(), HttpError> {
    if len > limits.max_request_body as u64 {
        return Err(HttpError::BodyTooLarge);
    }
    let copied = io::copy(&mut reader.by_ref().take(len), &mut io::sink())?;
    if copied < len {
        return Err(unexpected_end());
    }
    Ok(())
}

#[cfg(test)]
mod tests;
