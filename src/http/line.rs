//! # One line, under a budget
//!
//! HTTP/1.1 is read a line at a time: the request line, each header
//! field, each chunk-size line of a chunked body, each trailer field
//! (RFC 9112 §2.1, §7.1). Every one of those reads goes through
//! `read_line`, which never buffers more than its budget, however long
//! a stranger keeps sending bytes without a newline.
//!
//! A line ends in CRLF. RFC 9112 §2.2 lets a recipient of the *start-line
//! and fields* also accept a lone LF, and the head does (`LineEnding::CrlfOrLf`:
//! old scripts and hand-typed `nc` sessions send it, and no program on the
//! path can read `\n` as anything but an end of line). Inside a chunked
//! body the grammar says CRLF and nothing else, and there we hold to it
//! (`LineEnding::Crlf`); `chunked.rs` says why. A bare CR is refused
//! everywhere: §2.2 allows treating it as invalid, and a program that read
//! it as a line break would see different lines than we do.
//!
//! Read next: `src/http/headers.rs`.

use std::io::{self, BufRead, Read};

use super::error::HttpError;

/// Which line endings a reader accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LineEnding {
    /// CRLF, or a lone LF (RFC 9112 §2.2's "MAY"): for the request head.
    CrlfOrLf,
    /// CRLF only: for the lines of a chunked body.
    Crlf,
}

/// The outcome of reading one line with a byte budget.
pub(super) enum Line {
    /// The connection ended before the first byte of the line.
    End,
    /// A complete line, without its line ending.
    Complete(Vec<u8>),
    /// More than the budget arrived without a line ending.
    TooLong,
}

/// Reads one line of at most `max_len` bytes, not counting its ending.
///
/// `take` is what makes this safe: `read_until` alone would keep buffering
/// for as long as a client sends bytes without a newline.
pub(super) fn read_line<R: BufRead>(
    reader: &mut R,
    max_len: usize,
    ending: LineEnding,
) -> Result<Line, HttpError> {
    let budget = max_len as u64 + 2;
    let mut line = Vec::new();
    reader.by_ref().take(budget).read_until(b'\n', &mut line)?;
    if line.is_empty() {
        return Ok(Line::End);
    }
    if !line.ends_with(b"\n") {
        // No newline: the budget ran out, or the peer hung up mid-line.
        return if line.len() as u64 == budget { Ok(Line::TooLong) } else { Err(unexpected_end()) };
    }
    line.pop();
    match line.last() {
        Some(b'\r') => {
            line.pop();
        }
        _ if ending == LineEnding::Crlf => {
            return Err(HttpError::BadChunk("line ends in a bare LF, not CRLF"))
        }
        _ => {}
    }
    if line.len() > max_len {
        return Ok(Line::TooLong);
    }
    if line.contains(&b'\r') {
        return Err(HttpError::Malformed("bare CR in line"));
    }
    Ok(Line::Complete(line))
}

/// The peer hung up in the middle of a head or body. We report it as I/O
/// rather than `Malformed` because nobody is left to read a 400.
pub(super) fn unexpected_end() -> HttpError {
    HttpError::Io(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed mid-request"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_line(bytes: &[u8], ending: LineEnding) -> Result<Line, HttpError> {
        read_line(&mut &bytes[..], 8, ending)
    }

    #[test]
    fn endings() {
        assert!(
            matches!(one_line(b"abc\r\n", LineEnding::Crlf), Ok(Line::Complete(l)) if l == b"abc")
        );
        assert!(
            matches!(one_line(b"abc\n", LineEnding::CrlfOrLf), Ok(Line::Complete(l)) if l == b"abc")
        );
        assert!(matches!(one_line(b"abc\n", LineEnding::Crlf), Err(HttpError::BadChunk(_))));
        for ending in [LineEnding::Crlf, LineEnding::CrlfOrLf] {
            assert!(matches!(one_line(b"a\rb\r\n", ending), Err(HttpError::Malformed(_))));
            assert!(matches!(one_line(b"", ending), Ok(Line::End)));
            assert!(matches!(one_line(b"abc", ending), Err(HttpError::Io(_))));
            assert!(matches!(one_line(b"123456789\r\n", ending), Ok(Line::TooLong)));
            assert!(matches!(one_line(b"12345678\r\n", ending), Ok(Line::Complete(_))));
        }
    }

    #[test]
    fn reads_no_further_than_the_line() {
        let mut reader = &b"one\r\ntwo\r\n"[..];
        assert!(
            matches!(read_line(&mut reader, 8, LineEnding::Crlf), Ok(Line::Complete(l)) if l == b"one")
        );
        assert_eq!(reader, b"two\r\n");
    }
}
