//! # Limits: what a reply may cost
//!
//! Redis is a server we chose, not a stranger, so why hold its replies to
//! limits? Because the bytes on the socket are not always what we chose:
//! `--redis` may point at the wrong port (another program answers), a
//! proxy in between may be broken, Redis may be compromised, or a bug of
//! ours may desynchronise the stream so that payload bytes are read as
//! headers. Every chat process reads the same replies; a reply that can
//! crash one crashes all of them at once. So the rule of
//! `src/config.rs` holds here too: a length from the wire is checked
//! before it is used to allocate, and every bad input is a typed error.
//!
//! What an unchecked RESP reader lets a peer do, in a few bytes each:
//!
//! ```text
//! $9223372036854775807\r\n     "allocate 8 EiB": an abort, or the OOM killer
//! *4294967295\r\n              "reserve 4 billion slots" (Vec::with_capacity)
//! *1\r\n*1\r\n*1\r\n ...       one stack frame per 4 bytes: a stack overflow
//! +aaaaaaaa... (no CRLF)       "read until newline": memory until it is gone
//! $-7\r\n                      a negative length cast to usize is huge
//! ```
//!
//! [`RespLimits`] bounds each of these, and `read_reply` in
//! `src/redis/resp.rs` checks them before spending anything. The tests at
//! the end feed it hostile and mangled replies, including a small fuzzer.
//!
//! Read next: `src/redis/address.rs`, where to find Redis.

use std::fmt;
use std::io;

use crate::config::{KIB, MIB};

/// Bounds on one reply, each checked before memory is committed to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RespLimits {
    /// Longest line: a simple string, an error, or a length header. Redis's
    /// longest are error messages of a few hundred bytes; 64 KiB is ample.
    pub max_line: usize,
    /// Largest bulk string. The chat's largest event is a file relayed
    /// through the room (8 MiB by default, `--max-chat-file`); 16 MiB, the
    /// largest WebSocket message, leaves room for its envelope. (Redis's
    /// own cap, `proto-max-bulk-len`, is 512 MB.)
    pub max_bulk: usize,
    /// Most elements in one array. `LRANGE` of the history is 100 and
    /// `HGETALL` of a member list is two per member; a million covers both.
    pub max_array_len: usize,
    /// Deepest nesting of arrays. Pub/sub messages are one deep; `EVAL`
    /// can return nested tables, but ours returns an integer.
    pub max_depth: usize,
    /// Most memory one whole reply may take: payload bytes, line bytes, and
    /// one `Reply` slot per array element. The per-item limits above do not
    /// bound the total: a million bulk strings of 16 MiB each pass both.
    pub max_reply_bytes: usize,
}

impl Default for RespLimits {
    fn default() -> Self {
        RespLimits {
            max_line: 64 * KIB,
            max_bulk: 16 * MIB,
            max_array_len: 1 << 20,
            max_depth: 8,
            max_reply_bytes: 64 * MIB,
        }
    }
}

/// Why a reply could not be read.
#[derive(Debug)]
pub enum RespError {
    /// The transport failed, timed out, or ended (`UnexpectedEof`, also
    /// for a reply cut short).
    Io(io::Error),
    /// The first byte of a value is not one of `+ - : $ *`.
    UnknownType(u8),
    /// A line with nothing in it, not even a type byte.
    EmptyLine,
    /// A line ran past [`RespLimits::max_line`] without a line end.
    LineTooLong {
        limit: usize,
    },
    /// A line that ends in a bare LF or holds a stray CR, or a bulk string
    /// not followed by CRLF.
    BadTerminator,
    /// An integer or a length that is not `-?[0-9]+`, or overflows `i64`.
    BadNumber,
    /// A length below -1 (-1 alone means null).
    NegativeLength(i64),
    BulkTooLong {
        declared: u64,
        limit: usize,
    },
    ArrayTooLong {
        declared: u64,
        limit: usize,
    },
    /// Arrays nested deeper than [`RespLimits::max_depth`].
    TooDeep {
        limit: usize,
    },
    /// The reply as a whole would pass [`RespLimits::max_reply_bytes`].
    ReplyTooLarge {
        limit: usize,
    },
}

impl fmt::Display for RespError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RespError::Io(error) => write!(f, "i/o: {error}"),
            RespError::UnknownType(byte) => {
                write!(f, "unknown RESP type byte {:?} (0x{byte:02x})", char::from(*byte))
            }
            RespError::EmptyLine => f.write_str("empty line where a value should start"),
            RespError::LineTooLong { limit } => write!(f, "line longer than {limit} bytes"),
            RespError::BadTerminator => f.write_str("line or bulk string not ended by CRLF"),
            RespError::BadNumber => f.write_str("malformed integer or length"),
            RespError::NegativeLength(n) => write!(f, "negative length {n}"),
            RespError::BulkTooLong { declared, limit } => {
                write!(f, "bulk string of {declared} bytes (limit {limit})")
            }
            RespError::ArrayTooLong { declared, limit } => {
                write!(f, "array of {declared} elements (limit {limit})")
            }
            RespError::TooDeep { limit } => write!(f, "arrays nested deeper than {limit}"),
            RespError::ReplyTooLarge { limit } => write!(f, "reply larger than {limit} bytes"),
        }
    }
}

impl std::error::Error for RespError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RespError::Io(error) => Some(error),
            _ => None,
        }
    }
}

impl From<io::Error> for RespError {
    fn from(error: io::Error) -> Self {
        RespError::Io(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redis::resp::{encode_reply, read_reply, Reply};

    fn read_with(bytes: &[u8], limits: &RespLimits) -> Result<Reply, RespError> {
        read_reply(&mut &bytes[..], limits)
    }

    fn read(bytes: &[u8]) -> Result<Reply, RespError> {
        read_with(bytes, &RespLimits::default())
    }

    fn is_eof(result: &Result<Reply, RespError>) -> bool {
        matches!(result, Err(RespError::Io(e)) if e.kind() == io::ErrorKind::UnexpectedEof)
    }

    #[test]
    fn hostile_lengths_and_numbers_are_refused() {
        // If any of these allocated what it declares, the test process
        // would abort; getting a typed error back is the proof it did not.
        type Expected = fn(&RespError) -> bool;
        let cases: &[(&[u8], Expected)] = &[
            (b"$9223372036854775807\r\n", |e| matches!(e, RespError::BulkTooLong { .. })),
            (b"$16777217\r\n", |e| matches!(e, RespError::BulkTooLong { declared: 16777217, .. })),
            (b"*4294967295\r\n", |e| matches!(e, RespError::ArrayTooLong { .. })),
            (b"$-2\r\n", |e| matches!(e, RespError::NegativeLength(-2))),
            (b"*-9223372036854775808\r\n", |e| matches!(e, RespError::NegativeLength(_))),
            (b"$99999999999999999999\r\n", |e| matches!(e, RespError::BadNumber)),
            (b"$12a\r\n", |e| matches!(e, RespError::BadNumber)),
            (b"$ 5\r\nhello\r\n", |e| matches!(e, RespError::BadNumber)),
            (b"*\r\n", |e| matches!(e, RespError::BadNumber)),
            // Integers: `str::parse` would take `+5`; RESP does not.
            (b":9223372036854775808\r\n", |e| matches!(e, RespError::BadNumber)),
            (b":+5\r\n", |e| matches!(e, RespError::BadNumber)),
            (b":-\r\n", |e| matches!(e, RespError::BadNumber)),
            (b":0x1\r\n", |e| matches!(e, RespError::BadNumber)),
        ];
        for (bytes, expected) in cases {
            let result = read(bytes);
            assert!(
                matches!(&result, Err(e) if expected(e)),
                "{:?} gave {result:?}",
                String::from_utf8_lossy(bytes)
            );
        }
    }

    #[test]
    fn bad_framing_is_refused() {
        assert!(matches!(read(b"+OK\n"), Err(RespError::BadTerminator)));
        assert!(matches!(read(b"+O\rK\r\n"), Err(RespError::BadTerminator)));
        assert!(matches!(read(b"$5\r\nhelloXY"), Err(RespError::BadTerminator)));
        assert!(matches!(read(b"$3\r\nhello\r\n"), Err(RespError::BadTerminator)));
        assert!(matches!(read(b"\r\n"), Err(RespError::EmptyLine)));
        assert!(matches!(read(b"%1\r\n"), Err(RespError::UnknownType(b'%'))));
        assert!(matches!(read(b">3\r\n"), Err(RespError::UnknownType(b'>'))));
        assert!(matches!(read(b"HTTP/1.1 400 Bad Request\r\n"), Err(RespError::UnknownType(b'H'))));
    }

    #[test]
    fn lines_are_bounded() {
        let limits = RespLimits { max_line: 8, ..RespLimits::default() };
        assert_eq!(read_with(b"+1234567\r\n", &limits).unwrap(), Reply::Simple("1234567".into()));
        assert!(matches!(
            read_with(b"+12345678\r\n", &limits),
            Err(RespError::LineTooLong { limit: 8 })
        ));
        // No line end at all: stopped at the limit, not at the end of input.
        let endless = [b'+'; 1000];
        assert!(matches!(read_with(&endless, &limits), Err(RespError::LineTooLong { .. })));
    }

    #[test]
    fn nesting_is_bounded() {
        let limits = RespLimits { max_depth: 3, ..RespLimits::default() };
        assert!(read_with(b"*1\r\n*1\r\n*1\r\n:1\r\n", &limits).is_ok());
        assert!(matches!(
            read_with(b"*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n", &limits),
            Err(RespError::TooDeep { limit: 3 })
        ));
        // A million levels with the default limit: an error, not a crash.
        let deep = b"*1\r\n".repeat(1_000_000);
        assert!(matches!(read(&deep), Err(RespError::TooDeep { limit: 8 })));
    }

    #[test]
    fn the_whole_reply_is_bounded() {
        let limits = RespLimits { max_reply_bytes: 100, ..RespLimits::default() };
        let bulk_of = |n: usize| encode_reply(&Reply::Bulk(vec![b'x'; n]));
        assert!(read_with(&bulk_of(90), &limits).is_ok());
        assert!(matches!(read_with(&bulk_of(120), &limits), Err(RespError::ReplyTooLarge { .. })));
        // Many small values add up: each costs a slot as well as its bytes.
        let many = encode_reply(&Reply::Array(vec![Reply::Integer(0); 50]));
        assert!(matches!(read_with(&many, &limits), Err(RespError::ReplyTooLarge { .. })));
    }

    #[test]
    fn a_promise_without_data_is_eof_not_a_big_allocation() {
        // Within the limits, but the data never comes.
        assert!(is_eof(&read(b"$16777216\r\nabc")));
        assert!(is_eof(&read(b"*1048576\r\n:1\r\n")));
    }

    /// A sample of every type, nested, to cut and mangle.
    fn sample_replies() -> Vec<Vec<u8>> {
        let message = Reply::Array(vec![
            Reply::Bulk(b"message".to_vec()),
            Reply::Bulk(b"chat:main".to_vec()),
            Reply::Bulk(b"7 {\"text\":\"hi\\r\\n\"}".to_vec()),
        ]);
        let mixed = Reply::Array(vec![
            Reply::Simple("OK".into()),
            Reply::Error("ERR bad".into()),
            Reply::Integer(-12345),
            Reply::Nil,
            Reply::Array(vec![Reply::Bulk(vec![0, 13, 10, 255]), Reply::Array(vec![])]),
        ]);
        vec![encode_reply(&message), encode_reply(&mixed), b"*-1\r\n".to_vec(), b":0\r\n".to_vec()]
    }

    #[test]
    fn every_truncation_is_eof() {
        for whole in sample_replies() {
            assert!(read(&whole).is_ok());
            for cut in 0..whole.len() {
                let result = read(&whole[..cut]);
                assert!(is_eof(&result), "cut at {cut} of {whole:?}: {result:?}");
            }
        }
    }

    /// xorshift64: a tiny deterministic generator, so a failing case can be
    /// reproduced from its seed without a dependency.
    struct Xorshift(u64);

    impl Xorshift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    #[test]
    fn mangled_replies_give_errors_not_panics() {
        // Small limits, so that a mutated length that slips through a check
        // cannot make the test slow or big either.
        let limits = RespLimits {
            max_line: 64,
            max_bulk: 256,
            max_array_len: 16,
            max_depth: 4,
            max_reply_bytes: 4 * KIB,
        };
        let interesting = [b'\r', b'\n', b'-', b'*', b'$', b'9', b'0', b':', b'+', 0xff];
        let samples = sample_replies();
        let mut random = Xorshift(0x5eed_1234_abcd_0001);
        let (mut ok, mut failed) = (0, 0);
        for round in 0..20_000 {
            let mut bytes = samples[round % samples.len()].clone();
            for _ in 0..=random.below(3) {
                let at = random.below(bytes.len());
                match random.below(4) {
                    0 => bytes[at] = interesting[random.below(interesting.len())],
                    1 => bytes[at] = random.next() as u8,
                    2 => {
                        bytes.remove(at);
                    }
                    _ => bytes.insert(at, interesting[random.below(interesting.len())]),
                }
                if bytes.is_empty() {
                    bytes.push(b'*');
                }
            }
            // Reading must return, one way or the other, with no panic; and
            // whatever it accepts must be made of what was actually sent: no
            // amplification. (+16: a stray byte in a simple string comes
            // back as the three bytes of U+FFFD.)
            match read_with(&bytes, &limits) {
                Ok(reply) => {
                    assert!(encode_reply(&reply).len() <= bytes.len() + 16, "{bytes:?}");
                    ok += 1;
                }
                Err(_) => failed += 1,
            }
        }
        // Both outcomes happen, so the mutations are neither all harmless
        // nor all fatal: the fuzzer is exercising the parser.
        assert!(ok > 100 && failed > 100, "ok {ok}, failed {failed}");
    }
}
