//! # JSON, written by hand
//!
//! Every event the chat room sends is one JSON object (RFC 8259). Writing
//! JSON takes a page of code; a library would hide the one part worth
//! seeing, which is *escaping*: the text inside a JSON string comes from
//! strangers, and one unescaped `"` would let a stranger end the string and
//! write fields of their own (`{"text":"hi","from":"admin"}`).
//!
//! RFC 8259 §7 says what must be escaped inside a string:
//!
//! - `"` (it would end the string) and `\` (it starts an escape);
//! - every control character U+0000 to U+001F. A raw newline inside a
//!   string is not valid JSON, and `JSON.parse` refuses it.
//!
//! We write those controls as `\u00XX`, one rule for all 32 of them (JSON
//! also allows `\n`, `\t` and friends; `\u000a` means the same).
//!
//! Two more, which JSON does *not* require:
//!
//! - U+2028 and U+2029 (line and paragraph separator) are legal in a JSON
//!   string but were illegal in a JavaScript string literal until ES2019.
//!   JSON pasted into a `<script>` (or `eval`ed by an old library) would
//!   break on them, so we write `\u2028` and `\u2029`. It costs nothing.
//! - We do *not* escape `<`, `>` or `/`. They only matter when JSON is
//!   pasted into HTML (`</script>` would end the script element); this
//!   server never does that, and the page reads JSON with `JSON.parse` and
//!   shows text with `textContent`, never as markup.
//!
//! Everything else, including every non-ASCII character and emoji, is
//! written as raw UTF-8: JSON text exchanged between systems is UTF-8
//! (RFC 8259 §8.1), and so is a WebSocket text frame.
//!
//! Read next: `src/json/read.rs`, the same JSON read back, strictly.

use std::fmt::Write as _;

/// Appends `text` as a JSON string, quotes included.
///
/// Runs of characters that need no escape are copied in one `push_str`;
/// the loop only stops at the few characters that do.
pub fn write_string(out: &mut String, text: &str) {
    out.reserve(text.len() + 2);
    out.push('"');
    let mut clean_from = 0;
    for (at, c) in text.char_indices() {
        if !matches!(c, '"' | '\\' | '\u{0}'..='\u{1f}' | '\u{2028}' | '\u{2029}') {
            continue;
        }
        out.push_str(&text[clean_from..at]);
        // Writing to a String cannot fail. `{:04x}` pads to four hex
        // digits: U+0007 becomes \u0007.
        let _ = match c {
            '"' | '\\' => write!(out, "\\{c}"),
            _ => write!(out, "\\u{:04x}", u32::from(c)),
        };
        clean_from = at + c.len_utf8();
    }
    out.push_str(&text[clean_from..]);
    out.push('"');
}

/// Appends `[a,b,...]`, each item written by `write_item` (escaped as a
/// string, or copied as it is).
fn write_array<'a>(
    out: &mut String,
    items: impl IntoIterator<Item = &'a str>,
    write_item: impl Fn(&mut String, &str),
) {
    out.push('[');
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_item(out, item);
    }
    out.push(']');
}

/// Builds one JSON object, field by field.
///
/// ```
/// use duplex::json::write::Object;
/// let mut event = Object::new();
/// event.string("type", "message").number("seq", 7).string("text", "say \"hi\"");
/// assert_eq!(event.finish(), r#"{"type":"message","seq":7,"text":"say \"hi\""}"#);
/// ```
///
/// Keys are written as given: they are constants in our code, never text
/// from a client, and the debug assertion below keeps it that way.
#[derive(Debug)]
pub struct Object {
    out: String,
    empty: bool,
}

impl Object {
    pub fn new() -> Object {
        Object { out: String::from("{"), empty: true }
    }

    fn key(&mut self, key: &str) -> &mut String {
        debug_assert!(key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
        if !self.empty {
            self.out.push(',');
        }
        self.empty = false;
        self.out.push('"');
        self.out.push_str(key);
        self.out.push_str("\":");
        &mut self.out
    }

    /// A string field, escaped.
    pub fn string(&mut self, key: &str, value: &str) -> &mut Object {
        write_string(self.key(key), value);
        self
    }

    /// A number field. JavaScript numbers are doubles, exact for integers
    /// up to 2^53; sequence numbers and millisecond times stay far below.
    pub fn number(&mut self, key: &str, value: u64) -> &mut Object {
        let _ = write!(self.key(key), "{value}");
        self
    }

    /// An array of strings.
    pub fn strings<'a>(
        &mut self,
        key: &str,
        values: impl IntoIterator<Item = &'a str>,
    ) -> &mut Object {
        write_array(self.key(key), values, write_string);
        self
    }

    /// A field whose value is already JSON (an object rendered earlier).
    /// The caller vouches for it: only output of [`Object::finish`] goes here.
    pub fn raw(&mut self, key: &str, json: &str) -> &mut Object {
        self.key(key).push_str(json);
        self
    }

    /// An array of values that are already JSON, as for [`raw`](Self::raw).
    pub fn raw_array<'a>(
        &mut self,
        key: &str,
        values: impl IntoIterator<Item = &'a str>,
    ) -> &mut Object {
        write_array(self.key(key), values, String::push_str);
        self
    }

    /// Closes the object and hands back the text.
    pub fn finish(&mut self) -> String {
        let mut out = std::mem::take(&mut self.out);
        out.push('}');
        out
    }
}

impl Default for Object {
    fn default() -> Self {
        Object::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quoted(text: &str) -> String {
        let mut out = String::new();
        write_string(&mut out, text);
        out
    }

    /// A deliberately small decoder for JSON strings, written from RFC 8259
    /// §7 and independent of the encoder above: if both agreed on a wrong
    /// rule the exact-output tests below would still catch it.
    fn decode(json: &str) -> Option<String> {
        let inner = json.strip_prefix('"')?.strip_suffix('"')?;
        let mut out = String::new();
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next()? {
                    '"' => out.push('"'),
                    '\\' => out.push('\\'),
                    '/' => out.push('/'),
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    'b' => out.push('\u{8}'),
                    'f' => out.push('\u{c}'),
                    'u' => {
                        let hex: String = chars.by_ref().take(4).collect();
                        // We never need surrogate pairs: only BMP characters
                        // are escaped, everything else is raw UTF-8.
                        out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                    }
                    _ => return None,
                },
                '"' => return None, // an unescaped quote ends the string early
                c if (c as u32) < 0x20 => return None, // raw controls are invalid JSON
                c => out.push(c),
            }
        }
        Some(out)
    }

    #[test]
    fn exact_output_for_the_characters_that_need_escaping() {
        assert_eq!(quoted(""), r#""""#);
        assert_eq!(quoted("plain"), r#""plain""#);
        assert_eq!(quoted(r#"say "hi""#), r#""say \"hi\"""#);
        assert_eq!(quoted(r"C:\dir"), r#""C:\\dir""#);
        assert_eq!(quoted("a\nb\tc\r"), r#""a\u000ab\u0009c\u000d""#);
        assert_eq!(quoted("\u{0}\u{1f}"), r#""\u0000\u001f""#);
        assert_eq!(quoted("\u{2028}\u{2029}"), r#""\u2028\u2029""#);
        // Not escaped: DEL, C1 controls, markup, slashes, astral characters.
        assert_eq!(quoted("\u{7f}\u{85}</script>😀"), "\"\u{7f}\u{85}</script>😀\"");
    }

    #[test]
    fn every_c0_control_is_escaped_and_decodes_back() {
        for code in 0u32..=0x1f {
            let c = char::from_u32(code).unwrap();
            let json = quoted(&format!("<{c}>"));
            assert_eq!(json, format!("\"<\\u{code:04x}>\""));
            assert!(json.bytes().all(|b| b >= 0x20), "raw control in {json:?}");
            assert_eq!(decode(&json), Some(format!("<{c}>")));
        }
    }

    #[test]
    fn tricky_strings_round_trip() {
        let tricky = [
            "\"",
            "\\",
            "\\\"",
            "\\u0041 is not A",
            "\"},\"from\":\"admin",
            "</script><script>alert(1)</script>",
            "emoji 😀 👨‍👩‍👧 and 𝄞",
            "e\u{301} vs \u{e9}, bom \u{feff}, zwj \u{200d}",
            "mixed \"\\\n\u{2028}😀<>&",
        ];
        for text in tricky {
            let json = quoted(text);
            assert_eq!(decode(&json).as_deref(), Some(text), "{json}");
        }
    }

    #[test]
    fn objects_and_arrays() {
        let mut inner = Object::new();
        let inner = inner.string("type", "message").number("seq", 1).finish();
        let mut outer = Object::new();
        let json = outer
            .string("type", "welcome")
            .strings("members", ["ann", "b\"ob"])
            .raw_array("history", [inner.as_str(), inner.as_str()])
            .raw("last", &inner)
            .finish();
        assert_eq!(
            json,
            r#"{"type":"welcome","members":["ann","b\"ob"],"history":[{"type":"message","seq":1},{"type":"message","seq":1}],"last":{"type":"message","seq":1}}"#
        );
        assert_eq!(Object::new().strings("none", []).finish(), r#"{"none":[]}"#);
    }
}
