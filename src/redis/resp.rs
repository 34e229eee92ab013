//! # RESP2: the bytes between a client and Redis
//!
//! RESP (the REdis Serialization Protocol, version 2, as documented at
//! redis.io under "Redis serialization protocol specification") is a text
//! protocol with binary-safe strings. Every value starts with one *type
//! byte* and every line ends in CRLF (`\r\n`):
//!
//! ```text
//! +OK\r\n                      simple string: a line of text, no CR or LF inside
//! -ERR unknown command\r\n     error: like a simple string, but it is a failure
//! :42\r\n                      integer: signed 64-bit, in decimal
//! $5\r\nhello\r\n              bulk string: a length line, then that many bytes
//! $-1\r\n                      the null bulk string ("no value", e.g. GET of a missing key)
//! *2\r\n:1\r\n$1\r\nx\r\n      array: a count line, then that many values of any type
//! *-1\r\n                      the null array (e.g. a blocking pop that timed out)
//! ```
//!
//! A client always sends the same shape: an array of bulk strings, the
//! command name first. `PUBLISH chat:main hello` is
//! `*3\r\n$7\r\nPUBLISH\r\n$9\r\nchat:main\r\n$5\r\nhello\r\n`
//! ([`encode_command`]); Redis answers `:1\r\n`, the number of subscribers
//! that received it. Replies are read by [`read_reply`].
//!
//! Traps for newcomers:
//! - Bulk strings are *counted*, not terminated: a payload may contain
//!   `\r\n` or zero bytes, and the reader must not look for a line end
//!   inside it. The CRLF after the payload is still required, and checked.
//! - Redis also accepts "inline commands" (`PING\r\n`, what telnet sends).
//!   They split on spaces and cannot carry arbitrary bytes; a program should
//!   never use them.
//! - A reply is only as long as its header says, and that header comes from
//!   the other end of a socket. Every length is checked against
//!   [`RespLimits`] before anything is allocated (`src/redis/limits.rs`).
//! - RESP3 (after `HELLO 3`) adds types such as `%` maps and `>` pushes.
//!   We never send `HELLO`, so Redis speaks RESP2 to us, and any other
//!   type byte is an error, not a guess.
//!
//! This file knows no sockets: it works on any `BufRead` and `Write`, and
//! every rule is tested on byte slices.
//!
//! Read next: `src/redis/limits.rs`, the bounds every reply is held to.

use std::io::{self, BufRead, Read};

use super::limits::{RespError, RespLimits};

/// One value sent by Redis.
///
/// RESP2 has two spellings of "nothing", the null bulk string (`$-1`) and
/// the null array (`*-1`). No command we use gives them different meanings,
/// so both read as [`Reply::Nil`] (RESP3 merged them too, into `_`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `+OK`, `+PONG`: short status text. Redis only puts ASCII here; any
    /// other byte is shown as U+FFFD rather than failing the read.
    Simple(String),
    /// `-ERR ...`, `-WRONGTYPE ...`: the command failed, the connection did
    /// not. By convention the first word is an error code.
    Error(String),
    /// `:42`.
    Integer(i64),
    /// `$5\r\nhello`: any bytes at all.
    Bulk(Vec<u8>),
    /// `*2 ...`: values of any type, arrays included.
    Array(Vec<Reply>),
    /// `$-1` or `*-1`.
    Nil,
}

impl Reply {
    /// A short description for error messages: the kind and the size, never
    /// the contents (which may be megabytes, or a secret).
    pub fn describe(&self) -> String {
        match self {
            Reply::Simple(text) => format!("simple string {:?}", truncate(text)),
            Reply::Error(text) => format!("error {:?}", truncate(text)),
            Reply::Integer(n) => format!("integer {n}"),
            Reply::Bulk(bytes) => format!("bulk string of {} bytes", bytes.len()),
            Reply::Array(items) => format!("array of {} values", items.len()),
            Reply::Nil => "nil".to_string(),
        }
    }
}

fn truncate(text: &str) -> &str {
    match text.char_indices().nth(60) {
        Some((cut, _)) => &text[..cut],
        None => text,
    }
}

/// Encodes a command as RESP: an array of bulk strings.
///
/// The whole command is built in memory and written with one `write_all`.
/// Writing piece by piece would send many small TCP segments, and with
/// Nagle's algorithm on one side and delayed ACKs on the other that can
/// stall each command by tens of milliseconds.
///
/// ```
/// use duplex::redis::encode_command;
///
/// let bytes = encode_command(&[b"SET", b"greeting", b"hi\r\n"]);
/// assert_eq!(bytes, b"*3\r\n$3\r\nSET\r\n$8\r\ngreeting\r\n$4\r\nhi\r\n\r\n");
/// ```
pub fn encode_command(args: &[&[u8]]) -> Vec<u8> {
    // 16 bytes covers `$`, up to 13 digits and two CRLFs per argument.
    let capacity = 16 + args.iter().map(|arg| arg.len() + 16).sum::<usize>();
    let mut out = Vec::with_capacity(capacity);
    push_header(&mut out, b'*', args.len());
    for arg in args {
        push_header(&mut out, b'$', arg.len());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Encodes a reply the way Redis would send it. A client never needs
/// this; tests use it to build replies, and so can a fake Redis.
///
/// [`Reply::Nil`] is written as the null bulk string, `$-1`.
pub fn encode_reply(reply: &Reply) -> Vec<u8> {
    let mut out = Vec::new();
    write_reply(&mut out, reply);
    out
}

fn write_reply(out: &mut Vec<u8>, reply: &Reply) {
    let line = |out: &mut Vec<u8>, type_byte: u8, text: &[u8]| {
        out.push(type_byte);
        out.extend_from_slice(text);
        out.extend_from_slice(b"\r\n");
    };
    match reply {
        Reply::Simple(text) => line(out, b'+', text.as_bytes()),
        Reply::Error(text) => line(out, b'-', text.as_bytes()),
        Reply::Integer(n) => line(out, b':', n.to_string().as_bytes()),
        Reply::Nil => line(out, b'$', b"-1"),
        Reply::Bulk(bytes) => {
            push_header(out, b'$', bytes.len());
            out.extend_from_slice(bytes);
            out.extend_from_slice(b"\r\n");
        }
        Reply::Array(items) => {
            push_header(out, b'*', items.len());
            for item in items {
                write_reply(out, item);
            }
        }
    }
}

fn push_header(out: &mut Vec<u8>, type_byte: u8, count: usize) {
    out.push(type_byte);
    out.extend_from_slice(count.to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// The most a bulk string or array may allocate *ahead* of its data.
///
/// The declared length has passed its limit, but it is still only a
/// promise: a peer can declare 16 MiB and send 3 bytes. So memory grows as
/// bytes actually arrive, from at most this much up front.
const PREALLOCATE_AT_MOST: usize = 64 * 1024;

/// Reads one complete reply, holding it to `limits`.
///
/// Errors are typed ([`RespError`]): the transport failed or ended
/// (`RespError::Io`, with `UnexpectedEof` for a reply cut short), or the
/// bytes broke RESP or a limit. After any error the reader may have
/// consumed part of a reply, so the stream is out of step and must be
/// abandoned.
///
/// ```
/// use duplex::redis::{read_reply, Reply, RespLimits};
///
/// let mut wire: &[u8] = b"*2\r\n$7\r\nmessage\r\n:7\r\n";
/// let reply = read_reply(&mut wire, &RespLimits::default()).unwrap();
/// assert_eq!(reply, Reply::Array(vec![Reply::Bulk(b"message".to_vec()), Reply::Integer(7)]));
/// ```
pub fn read_reply<R: BufRead>(reader: &mut R, limits: &RespLimits) -> Result<Reply, RespError> {
    let mut budget = limits.max_reply_bytes;
    read_value(reader, limits, 0, &mut budget)
}

/// One value, `depth` arrays deep. `budget` is what the whole reply may
/// still cost; every line, payload and array slot is charged to it.
fn read_value<R: BufRead>(
    reader: &mut R,
    limits: &RespLimits,
    depth: usize,
    budget: &mut usize,
) -> Result<Reply, RespError> {
    let line = read_line(reader, limits.max_line)?;
    charge(budget, line.len(), limits)?;
    let Some((&type_byte, rest)) = line.split_first() else {
        return Err(RespError::EmptyLine);
    };
    match type_byte {
        b'+' => Ok(Reply::Simple(String::from_utf8_lossy(rest).into_owned())),
        b'-' => Ok(Reply::Error(String::from_utf8_lossy(rest).into_owned())),
        b':' => Ok(Reply::Integer(parse_integer(rest)?)),
        b'$' => {
            let Some(len) = parse_length(rest)? else { return Ok(Reply::Nil) };
            if len > limits.max_bulk as u64 {
                return Err(RespError::BulkTooLong { declared: len, limit: limits.max_bulk });
            }
            let len = len as usize; // fits: it is at most `max_bulk`, a usize
            charge(budget, len, limits)?;
            read_bulk_payload(reader, len).map(Reply::Bulk)
        }
        b'*' => {
            // The check comes before the count is even parsed. Without it,
            // `*1\r\n` repeated a million times (4 MB) recurses a million
            // frames deep and overflows the stack: a crash, not an error.
            if depth >= limits.max_depth {
                return Err(RespError::TooDeep { limit: limits.max_depth });
            }
            let Some(count) = parse_length(rest)? else { return Ok(Reply::Nil) };
            if count > limits.max_array_len as u64 {
                return Err(RespError::ArrayTooLong {
                    declared: count,
                    limit: limits.max_array_len,
                });
            }
            let count = count as usize;
            let slot = std::mem::size_of::<Reply>();
            let mut items = Vec::with_capacity(count.min(PREALLOCATE_AT_MOST / slot));
            for _ in 0..count {
                // Each element costs a slot in the Vec even when its wire
                // form is 4 bytes (`:0\r\n`), so slots count too.
                charge(budget, slot, limits)?;
                items.push(read_value(reader, limits, depth + 1, budget)?);
            }
            Ok(Reply::Array(items))
        }
        other => Err(RespError::UnknownType(other)),
    }
}

/// Takes `cost` from the reply's budget, or fails before it is spent.
fn charge(budget: &mut usize, cost: usize, limits: &RespLimits) -> Result<(), RespError> {
    match budget.checked_sub(cost) {
        Some(left) => {
            *budget = left;
            Ok(())
        }
        None => Err(RespError::ReplyTooLarge { limit: limits.max_reply_bytes }),
    }
}

/// Reads one line, without its CRLF, of at most `max_line` bytes.
///
/// The read is bounded (`take`): "read until newline" with no bound lets a
/// peer that never sends one fill our memory.
fn read_line<R: BufRead>(reader: &mut R, max_line: usize) -> Result<Vec<u8>, RespError> {
    let budget = max_line as u64 + 2; // the CRLF is not counted in the limit
    let mut line = Vec::new();
    reader.by_ref().take(budget).read_until(b'\n', &mut line)?;
    if !line.ends_with(b"\n") {
        // No LF: either the budget ran out, or the stream ended mid-line.
        return Err(if line.len() as u64 == budget {
            RespError::LineTooLong { limit: max_line }
        } else {
            RespError::Io(io::ErrorKind::UnexpectedEof.into())
        });
    }
    line.pop();
    // RESP lines end in CRLF, never a bare LF, and hold no other CR.
    if line.pop() != Some(b'\r') || line.contains(&b'\r') {
        return Err(RespError::BadTerminator);
    }
    Ok(line)
}

/// Reads exactly `len` payload bytes and the CRLF after them.
fn read_bulk_payload<R: BufRead>(reader: &mut R, len: usize) -> Result<Vec<u8>, RespError> {
    let mut payload = Vec::with_capacity(len.min(PREALLOCATE_AT_MOST));
    reader.by_ref().take(len as u64).read_to_end(&mut payload)?;
    if payload.len() < len {
        return Err(RespError::Io(io::ErrorKind::UnexpectedEof.into()));
    }
    let mut terminator = [0u8; 2];
    reader.read_exact(&mut terminator)?;
    if &terminator != b"\r\n" {
        // The length was a lie, or we lost our place: either way the next
        // byte is not where a reply starts.
        return Err(RespError::BadTerminator);
    }
    Ok(payload)
}

/// A RESP integer: an optional `-`, then 1 to 19 ASCII digits.
///
/// `str::parse::<i64>` alone would also accept `+5`, which RESP does not
/// allow, so the grammar is checked first; after that, the only way
/// `parse` can fail is overflow.
fn parse_integer(text: &[u8]) -> Result<i64, RespError> {
    let digits = text.strip_prefix(b"-").unwrap_or(text);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(RespError::BadNumber);
    }
    std::str::from_utf8(text).ok().and_then(|t| t.parse().ok()).ok_or(RespError::BadNumber)
}

/// The length of a bulk string or array: `None` for `-1` (the null),
/// otherwise a count that the caller checks against its limit.
fn parse_length(text: &[u8]) -> Result<Option<u64>, RespError> {
    match parse_integer(text)? {
        -1 => Ok(None),
        negative if negative < 0 => Err(RespError::NegativeLength(negative)),
        length => Ok(Some(length.unsigned_abs())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(bytes: &[u8]) -> Result<Reply, RespError> {
        read_reply(&mut &bytes[..], &RespLimits::default())
    }

    fn bulk(bytes: &[u8]) -> Reply {
        Reply::Bulk(bytes.to_vec())
    }

    #[test]
    fn the_specification_examples() {
        assert_eq!(read(b"+OK\r\n").unwrap(), Reply::Simple("OK".into()));
        assert_eq!(
            read(b"-ERR unknown command 'x'\r\n").unwrap(),
            Reply::Error("ERR unknown command 'x'".into())
        );
        assert_eq!(read(b":1000\r\n").unwrap(), Reply::Integer(1000));
        assert_eq!(read(b":-42\r\n").unwrap(), Reply::Integer(-42));
        assert_eq!(read(b":9223372036854775807\r\n").unwrap(), Reply::Integer(i64::MAX));
        assert_eq!(read(b":-9223372036854775808\r\n").unwrap(), Reply::Integer(i64::MIN));
        assert_eq!(read(b"$5\r\nhello\r\n").unwrap(), bulk(b"hello"));
        assert_eq!(read(b"$0\r\n\r\n").unwrap(), bulk(b""));
        assert_eq!(read(b"$-1\r\n").unwrap(), Reply::Nil);
        assert_eq!(read(b"*0\r\n").unwrap(), Reply::Array(vec![]));
        assert_eq!(read(b"*-1\r\n").unwrap(), Reply::Nil);
        assert_eq!(
            read(b"*2\r\n*3\r\n:1\r\n:2\r\n:3\r\n*2\r\n+Hello\r\n-World\r\n").unwrap(),
            Reply::Array(vec![
                Reply::Array(vec![Reply::Integer(1), Reply::Integer(2), Reply::Integer(3)]),
                Reply::Array(vec![Reply::Simple("Hello".into()), Reply::Error("World".into())]),
            ])
        );
        assert_eq!(
            read(b"*3\r\n$3\r\nfoo\r\n$-1\r\n$3\r\nbar\r\n").unwrap(),
            Reply::Array(vec![bulk(b"foo"), Reply::Nil, bulk(b"bar")])
        );
    }

    #[test]
    fn bulk_strings_are_binary_safe() {
        let payload = b"line one\r\nline two\0\xff";
        let wire = encode_reply(&bulk(payload));
        assert_eq!(&wire[..5], b"$20\r\n");
        assert_eq!(read(&wire).unwrap(), bulk(payload));
    }

    #[test]
    fn commands_are_arrays_of_bulk_strings() {
        assert_eq!(
            encode_command(&[b"PUBLISH", b"chat:main", b"hello"]),
            b"*3\r\n$7\r\nPUBLISH\r\n$9\r\nchat:main\r\n$5\r\nhello\r\n"
        );
        assert_eq!(encode_command(&[b"PING"]), b"*1\r\n$4\r\nPING\r\n");
        assert_eq!(
            encode_command(&[b"SET", b"", b"\r\n"]),
            b"*3\r\n$3\r\nSET\r\n$0\r\n\r\n$2\r\n\r\n\r\n"
        );
        // A command is itself a valid reply-shaped value: the reader takes
        // it back apart into the same arguments.
        let read_back = read(&encode_command(&[b"EVAL", b"return 1", b"0"])).unwrap();
        assert_eq!(read_back, Reply::Array(vec![bulk(b"EVAL"), bulk(b"return 1"), bulk(b"0")]));
    }

    #[test]
    fn encode_then_read_is_the_identity() {
        let reply = Reply::Array(vec![
            Reply::Simple("OK".into()),
            Reply::Error("ERR no".into()),
            Reply::Integer(-7),
            bulk(b"\r\n"),
            Reply::Nil,
            Reply::Array(vec![Reply::Array(vec![])]),
        ]);
        assert_eq!(read(&encode_reply(&reply)).unwrap(), reply);
    }

    #[test]
    fn replies_are_read_one_at_a_time() {
        let mut wire: &[u8] = b"+OK\r\n:1\r\n$-1\r\n";
        let limits = RespLimits::default();
        assert_eq!(read_reply(&mut wire, &limits).unwrap(), Reply::Simple("OK".into()));
        assert_eq!(read_reply(&mut wire, &limits).unwrap(), Reply::Integer(1));
        assert_eq!(read_reply(&mut wire, &limits).unwrap(), Reply::Nil);
        assert!(wire.is_empty());
    }

    #[test]
    fn describe_names_the_kind_not_the_contents() {
        assert_eq!(bulk(b"secret").describe(), "bulk string of 6 bytes");
        assert_eq!(Reply::Array(vec![Reply::Nil]).describe(), "array of 1 values");
        assert_eq!(
            Reply::Simple("x".repeat(100)).describe().len(),
            "simple string \"\"".len() + 60
        );
    }
}
