//! # Header fields
//!
//! After the request line come header fields, one per line:
//! `name: value` (RFC 9112 §5, RFC 9110 §5). This chapter holds the
//! [`Headers`] collection the rest of the server queries, and the rules for
//! one header line, each of which closes a door that some attack has used.
//!
//! Two traps for newcomers:
//! - Names are case-insensitive (`Upgrade`, `upgrade`, `UPGRADE` are one
//!   field), values often are not.
//! - Many values are *lists*: `Connection: keep-alive, Upgrade` has two
//!   tokens, and the same list may be split over several lines. Asking
//!   "does the value equal `Upgrade`?" is the classic bug; [`Headers::has_token`]
//!   asks the right question.
//!
//! The same rules read the *trailer* fields that may close a chunked body
//! (RFC 9112 §7.1.2), through the same `read_fields` and under the same
//! limits as the head's.
//!
//! Read next: `src/http/framing.rs`.

use std::io::BufRead;

use super::error::HttpError;
use super::line::{read_line, unexpected_end, Line, LineEnding};

/// Header fields in arrival order. A `Vec` rather than a map: names repeat
/// (a header may be split over several lines, RFC 9110 §5.3), order can
/// matter, and a few dozen entries are searched faster than they are hashed.
#[derive(Debug, Clone, Default)]
pub struct Headers {
    /// `(name as sent, value trimmed of surrounding whitespace)`.
    fields: Vec<(String, String)>,
}

impl Headers {
    /// Appends a field (for building requests in tests and tools).
    pub fn push(&mut self, name: &str, value: &str) {
        self.fields.push((name.to_string(), trim_whitespace(value).to_string()));
    }

    /// The first value for `name`. Field names are case-insensitive
    /// (RFC 9110 §5.1): `host`, `Host` and `HOST` are the same field.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(field, _)| field.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// Every value for `name`, one per line received.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.fields
            .iter()
            .filter(move |(field, _)| field.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// How many lines carried `name`.
    pub fn count(&self, name: &str) -> usize {
        self.get_all(name).count()
    }

    /// Whether the comma-separated list in `name` contains `token`.
    ///
    /// A list may arrive as one line or several (`Connection: keep-alive`
    /// then `Connection: Upgrade`), and both mean the same (RFC 9110 §5.3),
    /// so all lines are searched. Comparing the whole value with `==` is
    /// the classic mistake: Firefox sends `Connection: keep-alive, Upgrade`.
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.get_all(name)
            .flat_map(|value| value.split(','))
            .any(|item| trim_whitespace(item).eq_ignore_ascii_case(token))
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.fields.iter().map(|(name, value)| (name.as_str(), value.as_str()))
    }
}

/// Reads field lines up to the empty line that ends them: a head's
/// header section, or a chunked body's trailer section. At most
/// `max_lines` fields of `max_bytes` together, counting line contents
/// without line endings; past either, `431`.
pub(super) fn read_fields<R: BufRead>(
    reader: &mut R,
    max_bytes: usize,
    max_lines: usize,
    ending: LineEnding,
) -> Result<Headers, HttpError> {
    let mut headers = Headers::default();
    let mut bytes_left = max_bytes;
    loop {
        let line = match read_line(reader, bytes_left, ending)? {
            Line::Complete(line) => line,
            Line::TooLong => return Err(HttpError::HeadersTooLarge),
            Line::End => return Err(unexpected_end()),
        };
        if line.is_empty() {
            return Ok(headers);
        }
        if headers.fields.len() == max_lines {
            return Err(HttpError::TooManyHeaders);
        }
        bytes_left = bytes_left.saturating_sub(line.len());
        let (name, value) = parse_header_line(&line)?;
        headers.push(&name, &value);
    }
}

/// `field-name ":" OWS field-value OWS` (RFC 9112 §5).
pub(super) fn parse_header_line(line: &[u8]) -> Result<(String, String), HttpError> {
    // A line that starts with whitespace continues the previous one
    // ("obs-fold"). §5.2 lets a server reject it, and we do: unfolding is
    // one more place for two parsers to disagree.
    if matches!(line.first(), Some(b' ' | b'\t')) {
        return Err(HttpError::Malformed("obsolete line folding"));
    }
    let colon = line
        .iter()
        .position(|&b| b == b':')
        .ok_or(HttpError::Malformed("header line without a colon"))?;
    let (name, value) = (&line[..colon], &line[colon + 1..]);
    // `Host : evil` must be refused (§5.1, a MUST): some proxies strip the
    // space and see `Host`, others see a different field named `Host `.
    if name.last().is_some_and(|&b| b == b' ' || b == b'\t') {
        return Err(HttpError::Malformed("whitespace before colon"));
    }
    if !is_token(name) {
        return Err(HttpError::Malformed("header name is not a token"));
    }
    // RFC 9110 §5.5: CR, LF and NUL in values are dangerous and must be
    // refused; other control characters are invalid too, and no browser
    // sends them. Tab is allowed.
    if value.iter().any(|&b| b.is_ascii_control() && b != b'\t') {
        return Err(HttpError::Malformed("control character in header value"));
    }
    // Bytes above 0x7F are legal ("obs-text", historically Latin-1), but no
    // header we read needs them, and refusing them lets values be `String`.
    let value = std::str::from_utf8(value)
        .map_err(|_| HttpError::Malformed("header value is not UTF-8"))?;
    let name = String::from_utf8_lossy(name).into_owned();
    Ok((name, trim_whitespace(value).to_string()))
}

/// A `token` (RFC 9110 §5.6.2): the characters allowed in methods and
/// header names. Anything else would let a name smuggle in a delimiter.
pub fn is_token(bytes: &[u8]) -> bool {
    const SYMBOLS: &[u8] = b"!#$%&'*+-.^_`|~";
    !bytes.is_empty() && bytes.iter().all(|b| b.is_ascii_alphanumeric() || SYMBOLS.contains(b))
}

/// Trims optional whitespace ("OWS": spaces and tabs, RFC 9110 §5.6.3).
/// `str::trim` would also strip other Unicode spaces, which HTTP does not.
pub(super) fn trim_whitespace(text: &str) -> &str {
    text.trim_matches([' ', '\t'])
}
