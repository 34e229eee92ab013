//! # Validating UTF-8 as it arrives
//!
//! A text message must be valid UTF-8 (RFC 6455 §5.6, §8.1), and an
//! endpoint that receives invalid text must fail the connection with close
//! code 1007. The catch: a message arrives in fragments, and a fragment
//! arrives in pieces, and a multi-byte character can be split anywhere. The
//! euro sign `€` is `E2 82 AC`; one fragment may end after `E2 82`.
//!
//! So the validator keeps the unfinished tail of the last piece (at most
//! three bytes) and completes it with the start of the next. It fails on
//! the *first* byte that can never be part of valid UTF-8, not at the end
//! of the message: a peer streaming a 16 MiB message whose second byte is
//! garbage is stopped at the second byte. (Autobahn's cases 6.4.x check this
//! "fail fast" behaviour.)
//!
//! The byte-level checking itself is done by `std::str::from_utf8`, which
//! is fast and exact: its error tells apart "invalid here"
//! (`error_len() == Some(_)`) from "valid so far, but cut short"
//! (`error_len() == None`). That distinction is all a streaming validator
//! needs.
//!
//! Read next: `src/websocket/message.rs`, which uses this on every text
//! fragment.

/// Streaming UTF-8 validation across arbitrary cuts.
#[derive(Debug, Default, Clone)]
pub struct Utf8Validator {
    /// The start of a character whose remaining bytes have not arrived.
    pending: [u8; 4],
    pending_len: usize,
}

/// The bytes can never be valid UTF-8, whatever follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidUtf8;

impl Utf8Validator {
    pub fn new() -> Utf8Validator {
        Utf8Validator::default()
    }

    /// Checks the next piece of text.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Result<(), InvalidUtf8> {
        // First finish the character left over from the previous piece,
        // one byte at a time: it needs at most three more.
        while self.pending_len > 0 {
            let Some((&next, rest)) = bytes.split_first() else {
                return Ok(());
            };
            self.pending[self.pending_len] = next;
            self.pending_len += 1;
            bytes = rest;
            match std::str::from_utf8(&self.pending[..self.pending_len]) {
                Ok(_) => self.pending_len = 0,
                Err(error) if error.error_len().is_some() => return Err(InvalidUtf8),
                Err(_) => {} // still cut short: wait for more
            }
        }

        match std::str::from_utf8(bytes) {
            Ok(_) => Ok(()),
            Err(error) if error.error_len().is_some() => Err(InvalidUtf8),
            Err(error) => {
                // Valid up to a character that the piece cuts short; keep its
                // first bytes (from_utf8 guarantees there are 1 to 3).
                let tail = &bytes[error.valid_up_to()..];
                self.pending[..tail.len()].copy_from_slice(tail);
                self.pending_len = tail.len();
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid_in_pieces(bytes: &[u8], cut: usize) -> Result<(), InvalidUtf8> {
        let mut validator = Utf8Validator::new();
        for piece in bytes.chunks(cut.max(1)) {
            validator.feed(piece)?;
        }
        // The message is over: a character still unfinished makes it
        // invalid. (The server learns this from `String::from_utf8`, which
        // checks the whole message once more: `finish` in `message.rs`.)
        match validator.pending_len {
            0 => Ok(()),
            _ => Err(InvalidUtf8),
        }
    }

    #[test]
    fn valid_text_passes_at_every_cut() {
        let text = "κόσμε € 𝄞 hello, 世界".as_bytes();
        for cut in 1..=text.len() {
            assert_eq!(valid_in_pieces(text, cut), Ok(()), "cut {cut}");
        }
    }

    #[test]
    fn invalid_text_fails_at_every_cut() {
        let cases: &[&[u8]] = &[
            b"\xff",
            b"abc\xc0\xafdef",   // overlong '/'
            b"\xed\xa0\x80",     // a UTF-16 surrogate
            b"\xf4\x90\x80\x80", // above U+10FFFF
            b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited", // Autobahn 6.x
            b"\xe2\x82",         // cut short at the end
        ];
        for bytes in cases {
            for cut in 1..=bytes.len() {
                assert_eq!(valid_in_pieces(bytes, cut), Err(InvalidUtf8), "{bytes:?} cut {cut}");
            }
        }
    }

    #[test]
    fn fails_at_the_first_impossible_byte() {
        let mut validator = Utf8Validator::new();
        assert_eq!(validator.feed(b"hello \xce"), Ok(()));
        // 0xCE needs a continuation byte; 'x' can never be one.
        assert_eq!(validator.feed(b"x"), Err(InvalidUtf8));

        let mut validator = Utf8Validator::new();
        // 0xF4 0x90 can only begin a code point above U+10FFFF: already
        // invalid, though the sequence is not finished.
        assert_eq!(validator.feed(b"\xf4\x90"), Err(InvalidUtf8));
    }
}
