//! # Chunked bodies: a length for each piece
//!
//! `Content-Length` needs the whole size before the first byte. A client
//! that streams (a file being compressed, a pipe, a message typed as it
//! goes) does not know it, so HTTP/1.1 lets it send the body in chunks,
//! each preceded by its own size in hexadecimal (RFC 9112 §7.1):
//!
//! ```text
//! 5;note=first\r\n      chunk-size, an optional extension, CRLF
//! hello\r\n             exactly 5 bytes of data, then CRLF
//! 1A\r\n                26 bytes follow (hex digits, either case)
//! abcdefghijklmnopqrstuvwxyz\r\n
//! 0\r\n                 the last chunk: size zero
//! Checksum: 9c2f\r\n    trailer fields (optional)
//! \r\n                  an empty line ends the body
//! ```
//!
//! Every recipient MUST be able to decode this (§7.1). Decoding it is also
//! where a parser is most tempted to be generous, and generosity is what
//! request smuggling feeds on: when a proxy in front and this server read
//! the same bytes as different chunks, the bytes after "the end" of one
//! request become a request of their own (chapter 2 of the course shows
//! the shapes, CL.TE, TE.CL and TE.TE, byte by byte). So [`decode_chunked`]
//! follows the grammar to the letter and refuses everything else with 400:
//!
//! - `chunk-size = 1*HEXDIG`: no sign, no `0x`, no spaces around it. The
//!   value is added up with checked arithmetic, because §7.1 warns that a
//!   size can be longer than any integer, and one that wraps to a small
//!   number is the classic way to hide a request inside a chunk.
//! - Extensions (`;name` or `;name=value`, §7.1.1) are checked against the
//!   grammar, then ignored, as the RFC requires of unknown ones. All the
//!   extensions of one body together may take [`MAX_EXTENSION_BYTES`].
//! - Every line ends in CRLF, and the data of a chunk is followed by
//!   exactly CRLF. A lone LF is refused here, although §2.2 lets the head
//!   accept one: that permission covers the start-line and fields, while
//!   the chunked grammar says CRLF, and parsers that disagree about a lone
//!   LF inside a body (one ends the size line there, another keeps reading
//!   it as extension or data) are a known smuggling pair.
//! - The trailer section is read with the head's rules and limits, then
//!   thrown away (§7.1.2 allows discarding it). Nothing in it, not even
//!   `Content-Length` or `Transfer-Encoding`, can change how the message
//!   was framed: it arrives after the framing is over.
//!
//! Sizes are judged before anything is allocated or copied: the whole
//! decoded body may not pass `max_body`, the same limit a `Content-Length`
//! body gets, so `FFFFFFFF\r\n` costs nothing but a `413`. A client that
//! stops halfway simply never finishes, and the server's deadline for the
//! request ends it.
//!
//! The decoder reads from a `BufRead`, not a bare `Read`: it must stop at
//! the exact byte where the body ends, because the next request on the
//! connection may already be in the buffer, and a line can only be found
//! without reading past it if unread bytes can be left where they are.
//!
//! Read next: `src/http/response.rs`.

use std::io::{self, BufRead, Read, Write};

use super::error::HttpError;
use super::headers::{is_token, read_fields};
use super::line::{read_line, unexpected_end, Line, LineEnding};
use crate::config::Limits;

/// All the chunk extensions of one body together, in bytes. Nobody sends
/// them in practice; §7.1.1 asks a server to limit them "to an amount
/// reasonable for the services provided", and this is generous.
pub const MAX_EXTENSION_BYTES: usize = 4 * 1024;

/// Room on a chunk-size line for the size itself: 16 hex digits hold any
/// `u64`; the rest allows leading zeros, which the grammar permits.
const MAX_SIZE_DIGITS: usize = 32;

/// Decodes one chunked body from `reader` into `body`, stopping right
/// after its last byte, and returns how many data bytes it held.
///
/// `max_body` bounds the decoded data; `limits` bounds the trailer section
/// as it bounds a head.
pub fn decode_chunked<R: BufRead, W: Write>(
    reader: &mut R,
    body: &mut W,
    max_body: usize,
    limits: &Limits,
) -> Result<u64, HttpError> {
    let mut data_left = max_body as u64;
    let mut extension_bytes_left = MAX_EXTENSION_BYTES;
    loop {
        let line =
            match read_line(reader, MAX_SIZE_DIGITS + extension_bytes_left, LineEnding::Crlf)? {
                Line::Complete(line) => line,
                Line::TooLong => return Err(HttpError::BadChunk("chunk-size line too long")),
                Line::End => return Err(unexpected_end()),
            };
        let ChunkLine { size, extension_bytes } = parse_chunk_line(&line)?;
        extension_bytes_left = extension_bytes_left
            .checked_sub(extension_bytes)
            .ok_or(HttpError::BadChunk("chunk extensions too long"))?;
        if size == 0 {
            break;
        }
        if size > data_left {
            return Err(HttpError::BodyTooLarge);
        }
        data_left -= size;
        copy_chunk_data(reader, body, size)?;
    }
    // The trailer section gets a budget of its own, as large as a head's:
    // what a client may put in the head it may put at the end.
    read_fields(reader, limits.max_header_bytes, limits.max_headers, LineEnding::Crlf)?;
    Ok(max_body as u64 - data_left)
}

/// What a chunk-size line says.
#[derive(Debug, PartialEq, Eq)]
struct ChunkLine {
    size: u64,
    /// Bytes after the size: the extensions, counted against their budget.
    extension_bytes: usize,
}

/// `chunk-size [ chunk-ext ]` (RFC 9112 §7.1), without its CRLF.
fn parse_chunk_line(line: &[u8]) -> Result<ChunkLine, HttpError> {
    let digits = line.iter().take_while(|byte| byte.is_ascii_hexdigit()).count();
    if digits == 0 {
        return Err(HttpError::BadChunk("chunk size is not a hexadecimal number"));
    }
    let mut size: u64 = 0;
    for &digit in &line[..digits] {
        // `to_digit` cannot fail: these bytes were just checked.
        let value = u64::from(char::from(digit).to_digit(16).unwrap_or(0));
        size = size
            .checked_mul(16)
            .and_then(|size| size.checked_add(value))
            .ok_or(HttpError::BadChunk("chunk size does not fit in 64 bits"))?;
    }
    let extensions = &line[digits..];
    check_extensions(extensions)?;
    Ok(ChunkLine { size, extension_bytes: extensions.len() })
}

/// `chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )`
/// with `chunk-ext-name = token` and `chunk-ext-val = token / quoted-string`
/// (RFC 9112 §7.1.1). BWS ("bad" whitespace) may be read but never sent;
/// it is allowed only where the grammar puts it, so `5 \r\n` (a space
/// after the size, with no `;` after it) is refused.
fn check_extensions(mut rest: &[u8]) -> Result<(), HttpError> {
    while !rest.is_empty() {
        rest = skip_whitespace(rest);
        rest =
            rest.strip_prefix(b";").ok_or(HttpError::BadChunk("expected ';' after chunk size"))?;
        rest = skip_whitespace(rest);
        let name = token_length(rest);
        if name == 0 {
            return Err(HttpError::BadChunk("chunk extension name is not a token"));
        }
        rest = &rest[name..];
        let after_name = skip_whitespace(rest);
        if let Some(value) = after_name.strip_prefix(b"=") {
            let value = skip_whitespace(value);
            let length = match value.first() {
                Some(b'"') => quoted_string_length(value)?,
                _ => token_length(value),
            };
            if length == 0 {
                return Err(HttpError::BadChunk("chunk extension value is empty or not a token"));
            }
            rest = &value[length..];
        }
    }
    Ok(())
}

/// How many leading bytes of `bytes` form a token (RFC 9110 §5.6.2).
fn token_length(bytes: &[u8]) -> usize {
    bytes.iter().take_while(|&&byte| is_token(&[byte])).count()
}

/// The length of the `quoted-string` (RFC 9110 §5.6.4) that `bytes` starts
/// with, quotes included. Inside: tab, space, visible ASCII but `"` and
/// `\`, and bytes above 0x7F; or a backslash escaping one of those or a
/// quote. CR, LF and NUL can appear in neither form.
fn quoted_string_length(bytes: &[u8]) -> Result<usize, HttpError> {
    let unterminated = HttpError::BadChunk("bad quoted string in chunk extension");
    let allowed =
        |byte: u8| byte == b'\t' || byte == b' ' || byte.is_ascii_graphic() || byte >= 0x80;
    let mut index = 1;
    while let Some(&byte) = bytes.get(index) {
        match byte {
            b'"' => return Ok(index + 1),
            b'\\' => match bytes.get(index + 1) {
                Some(&escaped) if allowed(escaped) => index += 2,
                _ => return Err(unterminated),
            },
            _ if allowed(byte) => index += 1,
            _ => return Err(unterminated),
        }
    }
    Err(unterminated)
}

/// Skips optional whitespace: spaces and tabs.
fn skip_whitespace(bytes: &[u8]) -> &[u8] {
    let spaces = bytes.iter().take_while(|&&byte| byte == b' ' || byte == b'\t').count();
    &bytes[spaces..]
}

/// Copies exactly `size` bytes of chunk data, then checks the CRLF that
/// must follow them (§7.1). Anything else there means the size lied, and
/// the bytes we would read next cannot be trusted to be the next chunk.
fn copy_chunk_data<R: BufRead, W: Write>(
    reader: &mut R,
    body: &mut W,
    size: u64,
) -> Result<(), HttpError> {
    let copied = io::copy(&mut reader.by_ref().take(size), body)?;
    if copied < size {
        return Err(unexpected_end());
    }
    let mut ending = [0; 2];
    reader.read_exact(&mut ending).map_err(|error| match error.kind() {
        io::ErrorKind::UnexpectedEof => unexpected_end(),
        _ => HttpError::Io(error),
    })?;
    if &ending != b"\r\n" {
        return Err(HttpError::BadChunk("chunk data not followed by CRLF"));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
