//! # Display names: text from strangers that everyone else will see
//!
//! A member's name arrives in the URL (`/chat?name=ann`, percent-decoded by
//! [`Request::query_param`](crate::http::Request::query_param)) or in a
//! `/nick NEW` message, and is then shown to every other member. So it gets
//! the rules a shared label needs:
//!
//! - whitespace around it is trimmed (`"  ann "` is `ann`);
//! - it is 1 to [`MAX_NAME_CHARS`] characters (Unicode scalar values, not
//!   bytes: `Jürgen` is 6 characters and 7 bytes);
//! - it holds no control characters (a newline or a terminal escape in a
//!   name would garble logs and member lists), and none of the invisible
//!   *format* characters that let one name pass for another: bidirectional
//!   overrides (`evil` + U+202E + `gnp.exe` displays as `evilexe.png`),
//!   zero-width characters, and the byte order mark;
//! - it is unique in the room: a name already taken gets a suffix
//!   (`ann`, `ann-2`, `ann-3`).
//!
//! A name that breaks a rule is refused, not repaired: on joining, the
//! member becomes `guest-N`; on `/nick`, the member gets an `error` event.
//!
//! Not handled, on purpose: look-alike characters (Cyrillic `а` for Latin
//! `a`) and case (`Ann` and `ann` are different names). Both matter for a
//! real service; both need tables far bigger than this chapter.
//!
//! Read next: `src/server/session.rs`, where `/chat` upgrades are routed
//! to [`serve`](super::serve), and `docs/protocol.md`.

use std::fmt;

/// The longest name, in characters.
pub const MAX_NAME_CHARS: usize = 32;

/// Why a requested name was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameError {
    Empty,
    TooLong { chars: usize },
    Forbidden(char),
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameError::Empty => f.write_str("a name needs at least one visible character"),
            NameError::TooLong { chars } => {
                write!(f, "a name has at most {MAX_NAME_CHARS} characters, not {chars}")
            }
            NameError::Forbidden(c) => {
                write!(f, "a name may not contain the character U+{:04X}", *c as u32)
            }
        }
    }
}

impl std::error::Error for NameError {}

/// Checks a requested name and returns it trimmed.
pub fn clean_name(requested: &str) -> Result<&str, NameError> {
    let name = requested.trim();
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if let Some(c) = name.chars().find(|&c| is_forbidden(c)) {
        return Err(NameError::Forbidden(c));
    }
    let chars = name.chars().count();
    if chars > MAX_NAME_CHARS {
        return Err(NameError::TooLong { chars });
    }
    Ok(name)
}

/// Characters no name may contain. `char::is_control` covers C0
/// (U+0000–U+001F), DEL and C1 (U+0080–U+009F); the rest are the invisible
/// format characters that make two different names look the same.
pub(crate) fn is_forbidden(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{200B}'..='\u{200F}'   // zero-width space/joiners, LRM, RLM
            | '\u{2028}' | '\u{2029}' // line and paragraph separators
            | '\u{202A}'..='\u{202E}' // bidirectional embeddings and overrides
            | '\u{2060}'..='\u{2064}' // word joiner, invisible operators
            | '\u{2066}'..='\u{2069}' // bidirectional isolates
            | '\u{FEFF}') // byte order mark
}

/// `wanted` if no one has it, else `wanted-2`, `wanted-3`, ... The base is
/// shortened when needed so the result still fits [`MAX_NAME_CHARS`].
pub fn unique_name(wanted: &str, is_taken: impl Fn(&str) -> bool) -> String {
    if !is_taken(wanted) {
        return wanted.to_string();
    }
    // There are only so many members, so this loop ends: at most one more
    // turn than there are names taken.
    (2u64..)
        .map(|n| with_suffix(wanted, n))
        .find(|name| !is_taken(name))
        .unwrap_or_else(|| wanted.to_string())
}

/// `guest-N` for the first N at or after `counter` whose name is free
/// (someone may have chosen `guest-3` by hand). Advances the counter.
pub fn guest_name(counter: &mut u64, is_taken: impl Fn(&str) -> bool) -> String {
    loop {
        let name = format!("guest-{counter}");
        *counter += 1;
        if !is_taken(&name) {
            return name;
        }
    }
}

fn with_suffix(base: &str, n: u64) -> String {
    let suffix = format!("-{n}");
    let room = MAX_NAME_CHARS.saturating_sub(suffix.chars().count());
    let base: String = base.chars().take(room).collect();
    base + &suffix
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trimmed_and_checked() {
        assert_eq!(clean_name("  ann \t"), Ok("ann"));
        assert_eq!(clean_name("Jürgen 😀"), Ok("Jürgen 😀"));
        assert_eq!(clean_name("   "), Err(NameError::Empty));
        assert_eq!(clean_name(""), Err(NameError::Empty));
        assert_eq!(clean_name("a\u{7}b"), Err(NameError::Forbidden('\u{7}')));
        assert_eq!(clean_name("a\nb"), Err(NameError::Forbidden('\n')));
        assert_eq!(clean_name("evil\u{202E}gnp.exe"), Err(NameError::Forbidden('\u{202E}')));
        assert_eq!(clean_name("a\u{200B}b"), Err(NameError::Forbidden('\u{200B}')));
        assert_eq!(clean_name("a\u{85}x"), Err(NameError::Forbidden('\u{85}')));
        // U+0085 is a C1 control *and* Unicode whitespace: at either end,
        // `trim` removes it before the check sees it. Either way it is gone.
        assert_eq!(clean_name("\u{85}x"), Ok("x"));
    }

    #[test]
    fn length_counts_characters_not_bytes() {
        let longest = "é".repeat(MAX_NAME_CHARS); // 64 bytes, 32 characters
        assert_eq!(clean_name(&longest), Ok(longest.as_str()));
        let too_long = "x".repeat(MAX_NAME_CHARS + 1);
        assert_eq!(clean_name(&too_long), Err(NameError::TooLong { chars: 33 }));
    }

    #[test]
    fn taken_names_get_a_suffix_that_still_fits() {
        let taken = ["ann", "ann-2"];
        assert_eq!(unique_name("bob", |n| taken.contains(&n)), "bob");
        assert_eq!(unique_name("ann", |n| taken.contains(&n)), "ann-3");
        let long = "y".repeat(MAX_NAME_CHARS);
        let renamed = unique_name(&long, |n| n == long);
        assert_eq!(renamed, format!("{}-2", "y".repeat(MAX_NAME_CHARS - 2)));
        assert!(clean_name(&renamed).is_ok());
    }

    #[test]
    fn guests_skip_names_taken_by_hand() {
        let mut counter = 1;
        assert_eq!(guest_name(&mut counter, |n| n == "guest-1"), "guest-2");
        assert_eq!(guest_name(&mut counter, |_| false), "guest-3");
        assert_eq!(counter, 4);
    }
}
