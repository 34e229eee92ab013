//! # Display names: text from strangers that everyone else will see
//!
//! A member's name arrives in the URL (`/chat?name=ann`, percent-decoded by
//! [`name_in_query`], RFC 3986 §2.1) or in a `/nick NEW` message, and is
//! then shown to every other member. So it gets the rules a shared label
//! needs:
//!
//! - in the URL, it decodes to UTF-8 (`%ff` and `%zz` do not);
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
//! ## Finding a free suffix, fast
//!
//! Uniqueness is checked under the room's lock, at every join, so it must
//! not grow with the square of the room. Trying `ann-2`, `ann-3`, ... in
//! turn, each time asking "is it taken?" by walking the member list, does:
//! the 5,000th `ann` made 5,000 tries of 5,000 comparisons each, and the
//! lock was held for tens of milliseconds per join. Two things fix it:
//!
//! - the room keeps the taken names in a hash set, so one try is one
//!   lookup, whatever the size of the room;
//! - [`Suffixes`] remembers, for each contested name, where the next search
//!   should start: the number after the last one given. The 5,000th `ann`
//!   tries `ann`, then `ann-5000`, and is done.
//!
//! The price is that a number is not handed out again while the plain name
//! is taken: with `ann` to `ann-5` in the room, if `ann-2` leaves, the next
//! `ann` is still `ann-6`, not `ann-2`. Once `ann` itself is free, it is
//! given as is, and counting starts again from 2.
//!
//! A name that breaks a rule is refused, not repaired: on joining, the
//! member becomes `guest-N`; on `/nick`, the member gets an `error` event.
//!
//! Not handled, on purpose: look-alike characters (Cyrillic `а` for Latin
//! `a`) and case (`Ann` and `ann` are different names). Both matter for a
//! real service; both need tables far bigger than this chapter.
//!
//! That ends the minimal room. Read next: `src/server/mod.rs`, where
//! `/chat` upgrades are routed to [`serve`](super::serve) (the names for
//! client authors are in `docs/protocol.md`). The optional layers come
//! after the core: `src/push/` (the room over plain HTTP) and
//! `src/redis/bus/` (one room across processes).

use std::collections::HashMap;
use std::fmt;

use crate::http::percent::percent_decode;

/// The longest name, in characters.
pub const MAX_NAME_CHARS: usize = 32;

/// Why a requested name was refused. `Undecodable`: the `name` in the URL
/// is not percent-encoded UTF-8 (`%zz`, `%ff`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameError {
    Undecodable,
    Empty,
    TooLong { chars: usize },
    Forbidden(char),
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Undecodable => f.write_str("the name in the URL is not percent-encoded UTF-8"),
            Self::Empty => f.write_str("a name needs at least one visible character"),
            Self::TooLong { chars } => {
                write!(f, "a name has at most {MAX_NAME_CHARS} characters, not {chars}")
            }
            Self::Forbidden(c) => {
                write!(f, "a name may not contain the character U+{:04X}", *c as u32)
            }
        }
    }
}

impl std::error::Error for NameError {}

/// Checks a requested name and returns it trimmed.
pub fn clean_name(requested: &str) -> Result<&str, NameError> {
    let name = requested.trim();
    let chars = name.chars().count();
    match name.chars().find(|&c| is_forbidden(c)) {
        _ if name.is_empty() => Err(NameError::Empty),
        Some(c) => Err(NameError::Forbidden(c)),
        None if chars > MAX_NAME_CHARS => Err(NameError::TooLong { chars }),
        None => Ok(name),
    }
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

/// The `name` parameter of a query string (`name=ann&x=1`), decoded as
/// HTML forms encode it (`+` is a space, `%XX` a byte, RFC 3986 §2.1):
/// `None` when there is none, an error when its value does not decode to
/// UTF-8. The first `name=` counts, decodable or not.
///
/// ([`Request::query_param`](crate::http::Request::query_param) answers
/// `None` for both cases, so a member asking for `%ff` would become a
/// guest without being told why. A refused name always gets an `error`.)
pub fn name_in_query(query: Option<&str>) -> Option<Result<String, NameError>> {
    let decode = |text: &str| String::from_utf8(percent_decode(text, true)?).ok();
    query?.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        // A key that does not decode is not `name`: `?` skips the pair.
        (decode(key)? == "name").then(|| decode(value).ok_or(NameError::Undecodable))
    })
}

/// Most names whose next suffix is remembered. Past this, the memory is
/// simply cleared: a hint only saves work, and the search is right
/// without it. The bound keeps a stream of distinct contested names from
/// growing the map for ever.
const MAX_HINTS: usize = 4096;

/// Gives out `wanted`, or `wanted-N` when `wanted` is taken, remembering
/// per name where the next search for a free `N` should start (see the top
/// of this file).
#[derive(Debug, Default)]
pub struct Suffixes {
    next: HashMap<String, u64>,
    /// How many names have been tried (for tests and teaching).
    pub probes: u64,
}

impl Suffixes {
    /// `wanted` if no one has it, else `wanted-N` for a free `N`. The base
    /// is shortened when needed so the result still fits
    /// [`MAX_NAME_CHARS`]. `mine` is the current name of a member who is
    /// renaming (`is_taken` must not count it): if it is already one of
    /// the `wanted-N`, it is kept, rather than swapped for another number.
    pub fn unique_name(
        &mut self,
        wanted: &str,
        mine: Option<&str>,
        is_taken: impl Fn(&str) -> bool,
    ) -> String {
        self.probes += 1;
        if !is_taken(wanted) {
            // Free again: the numbering starts over the next time it is
            // contested.
            self.next.remove(wanted);
            return wanted.to_string();
        }
        if let Some(mine) = mine.filter(|mine| is_suffixed(mine, wanted)) {
            return mine.to_string();
        }
        // Every number below the hint was given out (or found taken) since
        // `wanted` was last free: start at the hint. There are only so many
        // members, so the loop ends; and as the hint only goes up, all the
        // searches together try each number about once.
        let mut n = self.next.get(wanted).copied().unwrap_or(2);
        let name = loop {
            let name = with_suffix(wanted, n);
            self.probes += 1;
            if !is_taken(&name) {
                break name;
            }
            n += 1;
        };
        if self.next.len() >= MAX_HINTS && !self.next.contains_key(wanted) {
            self.next.clear();
        }
        self.next.insert(wanted.to_string(), n + 1);
        name
    }
}

/// Is `name` one of the `wanted-N` that [`Suffixes::unique_name`] gives?
fn is_suffixed(name: &str, wanted: &str) -> bool {
    // Written back, the number must give `name` again: that rules out
    // `ann-05` and `ann-+5`.
    let Some((_, digits)) = name.rsplit_once('-') else { return false };
    digits.parse().is_ok_and(|n: u64| n >= 2 && with_suffix(wanted, n) == name)
}

fn with_suffix(base: &str, n: u64) -> String {
    let suffix = format!("-{n}"); // ASCII: as many bytes as characters
    let base: String = base.chars().take(MAX_NAME_CHARS - suffix.len()).collect();
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
        let mut suffixes = Suffixes::default();
        assert_eq!(suffixes.unique_name("bob", None, |n| taken.contains(&n)), "bob");
        assert_eq!(suffixes.unique_name("ann", None, |n| taken.contains(&n)), "ann-3");
        let long = "y".repeat(MAX_NAME_CHARS);
        let renamed = suffixes.unique_name(&long, None, |n| n == long);
        assert_eq!(renamed, format!("{}-2", "y".repeat(MAX_NAME_CHARS - 2)));
        assert!(clean_name(&renamed).is_ok());
    }

    #[test]
    fn renaming_to_the_base_of_ones_own_suffixed_name_changes_nothing() {
        let taken = ["ann", "ann-7", "yyy"];
        let mut suffixes = Suffixes::default();
        // `ann-5` asks for `ann`: `ann-5` already is the answer.
        let is_taken = |n: &str| taken.contains(&n);
        assert_eq!(suffixes.unique_name("ann", Some("ann-5"), is_taken), "ann-5");
        assert_eq!(suffixes.unique_name("ann", Some("bob"), is_taken), "ann-2");
        assert_eq!(suffixes.unique_name("ann", Some("ann-05"), is_taken), "ann-3");
        assert_eq!(suffixes.unique_name("ann-7", Some("ann-7-2"), is_taken), "ann-7-2");
        let long = "y".repeat(MAX_NAME_CHARS);
        let mine = format!("{}-12", "y".repeat(MAX_NAME_CHARS - 3));
        assert_eq!(suffixes.unique_name(&long, Some(&mine), |n| n == long), mine);
    }

    #[test]
    fn five_thousand_anns_cost_two_tries_each() {
        let mut taken = std::collections::HashSet::new();
        let mut suffixes = Suffixes::default();
        let mut given = std::collections::HashSet::new();
        for _ in 0..5000 {
            let name = suffixes.unique_name("ann", None, |n| taken.contains(n));
            taken.insert(name.clone());
            assert!(given.insert(name.clone()), "{name} given twice");
        }
        assert!(given.contains("ann") && given.contains("ann-5000"));
        // One try for `ann`, one for the suffix the hint points at: linear.
        // Trying from 2 each time would have been 12.5 million tries.
        assert!(suffixes.probes <= 2 * 5000, "{} tries", suffixes.probes);
    }

    #[test]
    fn suffixes_are_not_reused_until_the_plain_name_is_free() {
        let mut taken = std::collections::HashSet::new();
        let mut suffixes = Suffixes::default();
        let mut join = |taken: &mut std::collections::HashSet<String>| {
            let name = suffixes.unique_name("ann", None, |n| taken.contains(n));
            taken.insert(name.clone());
            name
        };
        assert_eq!(
            [join(&mut taken), join(&mut taken), join(&mut taken)],
            ["ann", "ann-2", "ann-3"]
        );
        taken.remove("ann-2");
        assert_eq!(join(&mut taken), "ann-4", "the hint only goes up");
        taken.insert("ann-5".to_string()); // chosen by hand: skipped
        assert_eq!(join(&mut taken), "ann-6");
        taken.remove("ann");
        assert_eq!(join(&mut taken), "ann", "free again");
        assert_eq!(join(&mut taken), "ann-2", "and counting starts over");
        assert_eq!(join(&mut taken), "ann-7", "past the numbers still held");
    }

    #[test]
    fn the_name_in_a_query_is_decoded_or_refused() {
        let ok = |name: &str| Some(Ok(name.to_string()));
        assert_eq!(name_in_query(None), None);
        assert_eq!(name_in_query(Some("x=1")), None);
        assert_eq!(name_in_query(Some("name=ann")), ok("ann"));
        assert_eq!(name_in_query(Some("x=%zz&name=J%C3%BCrgen+K")), ok("Jürgen K"));
        assert_eq!(name_in_query(Some("n%61me=ann")), ok("ann"), "the key is decoded too");
        assert_eq!(name_in_query(Some("name")), ok(""), "present and empty");
        for bad in ["name=%ff", "name=%zz", "name=%", "name=ann%e2%82", "name=%ff&name=bob"] {
            assert_eq!(name_in_query(Some(bad)), Some(Err(NameError::Undecodable)), "{bad}");
        }
    }
}
