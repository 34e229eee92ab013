//! # JSON, read back strictly
//!
//! `json.rs` writes the chat's events; this chapter reads them, for the
//! programs at the other end: the terminal client (`src/bin/duplex-chat.rs`)
//! and the integration tests. It is a recursive-descent reader of RFC 8259,
//! one function per rule of the grammar (§2 to §7), into [`JsonValue`].
//!
//! *Strict* means it accepts exactly what the RFC allows, and refuses the
//! near misses that lenient readers let through, because two readers that
//! disagree about one document is how "parser differential" bugs start:
//!
//! - Whitespace is four bytes only: space, tab, LF, CR (§2). No comments,
//!   no byte order mark (§8.1 allows ignoring one; we refuse it).
//! - Numbers (§6): no `+1`, no leading zero (`01`), no `.5` or `1.`, no
//!   `NaN` or `Infinity`. A literal too large for a double (`1e400`) is
//!   refused rather than read as infinity.
//! - Strings (§7): a raw control character (U+0000 to U+001F) must have
//!   been escaped; meeting one is an error. DEL (U+007F) is fine raw.
//! - `\uXXXX` names a UTF-16 code unit, so a character outside the Basic
//!   Multilingual Plane (😀 is U+1F600) is written as *two* escapes, a
//!   surrogate pair: `\ud83d\ude00`. A surrogate without its partner fits
//!   the grammar, and §8.2 calls what readers then do "unpredictable". A
//!   Rust `String` cannot hold one, so we refuse it.
//! - Trap: `u32::from_str_radix("+04F", 16)` succeeds. Hex digits are
//!   checked one by one, so `\u+04F` is refused.
//! - After the value only whitespace may follow: `{"a":1}x` is an error,
//!   not `{"a":1}`.
//!
//! Duplicate keys are allowed by the RFC ("SHOULD be unique"), and readers
//! differ on which one wins: `JSON.parse` keeps the *last*. We keep every
//! pair in order, and [`JsonValue::get`] returns the *first*. Code whose
//! answer must agree with a browser's should refuse duplicates instead.
//!
//! Limits: the nesting depth is capped, because each level is a stack frame
//! here, and `[[[[…` a million deep would overflow the stack, which aborts
//! the whole process rather than returning an error. The input's size is
//! the caller's business (a WebSocket message is already bounded).
//!
//! Read next: `src/chat/names.rs`, the rules for display names; or this
//! reader at work in `src/bin/duplex-chat.rs`.

use std::fmt;

/// One JSON value.
#[derive(Debug, Clone, PartialEq)]
pub enum JsonValue {
    Null,
    Bool(bool),
    /// Every number is a double, as in JavaScript: integers are exact up to
    /// 2^53, which is why the chat protocol promises to stay below it.
    Number(f64),
    String(String),
    Array(Vec<JsonValue>),
    /// The pairs in the order written, duplicates kept (see the header).
    Object(Vec<(String, JsonValue)>),
}

impl JsonValue {
    /// The first value under `key`, if this is an object that has one.
    pub fn get(&self, key: &str) -> Option<&JsonValue> {
        match self {
            JsonValue::Object(pairs) => pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            JsonValue::String(text) => Some(text),
            _ => None,
        }
    }

    pub fn as_number(&self) -> Option<f64> {
        match self {
            JsonValue::Number(number) => Some(*number),
            _ => None,
        }
    }

    /// A whole number from 0 to 2^53; `None` for anything a double might
    /// have rounded (or that is not a whole number at all).
    pub fn as_u64(&self) -> Option<u64> {
        const EXACT_LIMIT: f64 = 9_007_199_254_740_992.0; // 2^53
        let number = self.as_number()?;
        (number.fract() == 0.0 && (0.0..=EXACT_LIMIT).contains(&number)).then_some(number as u64)
    }

    pub fn as_array(&self) -> Option<&[JsonValue]> {
        match self {
            JsonValue::Array(items) => Some(items),
            _ => None,
        }
    }
}

/// How deep [`parse`] lets arrays and objects nest. A chat `welcome` is 3.
pub const DEFAULT_MAX_DEPTH: usize = 64;

/// Reads one JSON text, nesting at most [`DEFAULT_MAX_DEPTH`] deep.
///
/// ```
/// use duplex::json::read::{parse, JsonValue};
/// let event = parse(r#"{"type":"message","text":"hi \ud83d\ude00"}"#).unwrap();
/// assert_eq!(event.get("text").and_then(JsonValue::as_str), Some("hi 😀"));
/// assert!(parse(r#"{"type":"message"} trailing"#).is_err());
/// ```
pub fn parse(text: &str) -> Result<JsonValue, JsonError> {
    parse_with_max_depth(text, DEFAULT_MAX_DEPTH)
}

/// Reads one JSON text; `max_depth` bounds how deep arrays and objects nest.
pub fn parse_with_max_depth(text: &str, max_depth: usize) -> Result<JsonValue, JsonError> {
    let mut reader = Reader { text, at: 0, depth: 0, max_depth };
    let value = reader.value()?;
    reader.skip_whitespace();
    if reader.at < text.len() {
        return Err(reader.error(JsonErrorKind::TrailingCharacters));
    }
    Ok(value)
}

/// Why a text is not JSON, and the byte offset where the reader noticed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError {
    pub at: usize,
    pub kind: JsonErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonErrorKind {
    /// The text ended in the middle of a value.
    UnexpectedEnd,
    /// `found` cannot appear here; `expected` says what could.
    Unexpected {
        found: char,
        expected: &'static str,
    },
    /// A raw control character inside a string (it must be escaped).
    ControlCharacter(u8),
    /// A backslash followed by something other than `"\/bfnrtu`.
    UnknownEscape(char),
    /// `\u` not followed by four hex digits.
    BadUnicodeEscape,
    /// Half a surrogate pair, alone.
    LoneSurrogate(u32),
    BadNumber,
    /// A number literal beyond the range of a double.
    NumberTooLarge,
    /// Arrays and objects nested deeper than the limit.
    TooDeep(usize),
    /// Something other than whitespace after the value.
    TrailingCharacters,
}

impl fmt::Display for JsonErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JsonErrorKind::UnexpectedEnd => f.write_str("the text ends in the middle of a value"),
            JsonErrorKind::Unexpected { found, expected } => {
                write!(f, "expected {expected}, found {found:?}")
            }
            JsonErrorKind::ControlCharacter(byte) => {
                write!(f, "raw control character U+{byte:04X} in a string (it must be escaped)")
            }
            JsonErrorKind::UnknownEscape(c) => write!(f, "unknown escape \\{c}"),
            JsonErrorKind::BadUnicodeEscape => f.write_str("\\u must have four hex digits"),
            JsonErrorKind::LoneSurrogate(unit) => {
                write!(f, "lone surrogate \\u{unit:04x} (half of a pair, alone)")
            }
            JsonErrorKind::BadNumber => f.write_str("malformed number"),
            JsonErrorKind::NumberTooLarge => f.write_str("number too large for a double"),
            JsonErrorKind::TooDeep(limit) => write!(f, "nested more than {limit} deep"),
            JsonErrorKind::TrailingCharacters => f.write_str("more text after the value"),
        }
    }
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.kind, self.at)
    }
}

impl std::error::Error for JsonError {}

/// The reader's position in the text.
///
/// `at` only ever stops on a character boundary: it moves byte by byte
/// over ASCII, and UTF-8 never uses an ASCII byte inside a multi-byte
/// character, so slicing `text` at `at` cannot split one.
struct Reader<'a> {
    text: &'a str,
    at: usize,
    depth: usize,
    max_depth: usize,
}

impl Reader<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    fn error(&self, kind: JsonErrorKind) -> JsonError {
        JsonError { at: self.at, kind }
    }

    /// What is at `at` cannot be there; say what could.
    fn unexpected(&self, expected: &'static str) -> JsonError {
        match self.text[self.at..].chars().next() {
            Some(found) => self.error(JsonErrorKind::Unexpected { found, expected }),
            None => self.error(JsonErrorKind::UnexpectedEnd),
        }
    }

    /// Steps over `byte` if it is next.
    fn eat(&mut self, byte: u8) -> bool {
        let here = self.peek() == Some(byte);
        self.at += usize::from(here);
        here
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn value(&mut self) -> Result<JsonValue, JsonError> {
        self.skip_whitespace();
        match self.peek() {
            Some(b'{') => self.nested(Reader::object),
            Some(b'[') => self.nested(Reader::array),
            Some(b'"') => self.string().map(JsonValue::String),
            Some(b't') => self.literal("true", JsonValue::Bool(true)),
            Some(b'f') => self.literal("false", JsonValue::Bool(false)),
            Some(b'n') => self.literal("null", JsonValue::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(self.unexpected("a value")),
        }
    }

    /// Counts a level of nesting around `read`, refusing one too many.
    fn nested(
        &mut self,
        read: fn(&mut Self) -> Result<JsonValue, JsonError>,
    ) -> Result<JsonValue, JsonError> {
        if self.depth == self.max_depth {
            return Err(self.error(JsonErrorKind::TooDeep(self.max_depth)));
        }
        self.depth += 1;
        let value = read(self);
        self.depth -= 1;
        value
    }

    fn literal(&mut self, word: &'static str, value: JsonValue) -> Result<JsonValue, JsonError> {
        if !self.text[self.at..].starts_with(word) {
            return Err(self.unexpected(word));
        }
        self.at += word.len();
        Ok(value)
    }

    /// `[ value, value ]`: after a comma a value is required, so `[1,]` fails.
    fn array(&mut self) -> Result<JsonValue, JsonError> {
        self.at += 1; // '['
        let mut items = Vec::new();
        self.skip_whitespace();
        if self.eat(b']') {
            return Ok(JsonValue::Array(items));
        }
        loop {
            items.push(self.value()?);
            self.skip_whitespace();
            if self.eat(b']') {
                return Ok(JsonValue::Array(items));
            }
            if !self.eat(b',') {
                return Err(self.unexpected("',' or ']'"));
            }
        }
    }

    /// `{ "key": value, ... }`: keys are strings, never bare words.
    fn object(&mut self) -> Result<JsonValue, JsonError> {
        self.at += 1; // '{'
        let mut pairs = Vec::new();
        self.skip_whitespace();
        if self.eat(b'}') {
            return Ok(JsonValue::Object(pairs));
        }
        loop {
            self.skip_whitespace();
            if self.peek() != Some(b'"') {
                return Err(self.unexpected("a string key"));
            }
            let key = self.string()?;
            self.skip_whitespace();
            if !self.eat(b':') {
                return Err(self.unexpected("':'"));
            }
            pairs.push((key, self.value()?));
            self.skip_whitespace();
            if self.eat(b'}') {
                return Ok(JsonValue::Object(pairs));
            }
            if !self.eat(b',') {
                return Err(self.unexpected("',' or '}'"));
            }
        }
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`, checked here;
    /// the conversion is left to `f64::from_str`, which rounds correctly.
    fn number(&mut self) -> Result<JsonValue, JsonError> {
        let start = self.at;
        let bad = JsonError { at: start, kind: JsonErrorKind::BadNumber };
        self.eat(b'-');
        match self.peek() {
            // A zero stands alone: `01` is not a number, `0.1` is.
            Some(b'0') if !matches!(self.text.as_bytes().get(self.at + 1), Some(b'0'..=b'9')) => {
                self.at += 1
            }
            Some(b'1'..=b'9') => {
                self.skip_digits();
            }
            _ => return Err(bad),
        }
        if self.eat(b'.') && !self.skip_digits() {
            return Err(bad);
        }
        if self.eat(b'e') || self.eat(b'E') {
            let _sign = self.eat(b'+') || self.eat(b'-');
            if !self.skip_digits() {
                return Err(bad);
            }
        }
        let number: f64 = self.text[start..self.at].parse().map_err(|_| bad.clone())?;
        if !number.is_finite() {
            return Err(JsonError { at: start, kind: JsonErrorKind::NumberTooLarge });
        }
        Ok(JsonValue::Number(number))
    }

    /// Steps over ASCII digits; true if there was at least one.
    fn skip_digits(&mut self) -> bool {
        let start = self.at;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.at += 1;
        }
        self.at > start
    }

    /// A string, quotes included. Runs of plain characters are copied in one
    /// `push_str`; the loop only stops at `"`, `\` and control bytes, all
    /// ASCII, so every slice taken lies on character boundaries.
    fn string(&mut self) -> Result<String, JsonError> {
        self.at += 1; // '"'
        let mut out = String::new();
        let mut plain_from = self.at;
        loop {
            let Some(byte) = self.peek() else {
                return Err(self.error(JsonErrorKind::UnexpectedEnd));
            };
            match byte {
                b'"' => {
                    out.push_str(&self.text[plain_from..self.at]);
                    self.at += 1;
                    return Ok(out);
                }
                b'\\' => {
                    out.push_str(&self.text[plain_from..self.at]);
                    out.push(self.escape()?);
                    plain_from = self.at;
                }
                0x00..=0x1f => return Err(self.error(JsonErrorKind::ControlCharacter(byte))),
                _ => self.at += 1,
            }
        }
    }

    /// One escape, from its backslash.
    fn escape(&mut self) -> Result<char, JsonError> {
        let start = self.at;
        self.at += 1; // '\'
        let Some(letter) = self.text[self.at..].chars().next() else {
            return Err(self.error(JsonErrorKind::UnexpectedEnd));
        };
        self.at += letter.len_utf8();
        Ok(match letter {
            '"' | '\\' | '/' => letter,
            'b' => '\u{8}',
            'f' => '\u{c}',
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            'u' => return self.unicode_escape(start),
            _ => return Err(JsonError { at: start, kind: JsonErrorKind::UnknownEscape(letter) }),
        })
    }

    /// The digits of `\uXXXX`, and of its partner if it starts a pair.
    fn unicode_escape(&mut self, start: usize) -> Result<char, JsonError> {
        let lone = |unit| JsonError { at: start, kind: JsonErrorKind::LoneSurrogate(unit) };
        let first = self.hex4()?;
        let code = match first {
            // A high surrogate: the low one must follow at once.
            0xD800..=0xDBFF => {
                if !self.text[self.at..].starts_with("\\u") {
                    return Err(lone(first));
                }
                self.at += 2;
                let second = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&second) {
                    return Err(lone(first));
                }
                // Each half carries ten bits of (code point - 0x10000).
                0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
            }
            0xDC00..=0xDFFF => return Err(lone(first)),
            _ => first,
        };
        // Every surrogate was handled above, so this cannot fail; still, an
        // error is cheaper to reason about than a panic.
        char::from_u32(code).ok_or(lone(code))
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let digits = self.text.as_bytes().get(self.at..self.at + 4);
        let Some(digits) = digits.filter(|d| d.iter().all(u8::is_ascii_hexdigit)) else {
            return Err(self.error(JsonErrorKind::BadUnicodeEscape));
        };
        self.at += 4;
        Ok(digits.iter().fold(0, |value, &d| value * 16 + char::from(d).to_digit(16).unwrap_or(0)))
    }
}

#[cfg(test)]
mod tests;
