//! # Percent-encoding
//!
//! URLs can only carry a limited set of characters, so everything else is
//! written as `%` and two hex digits (RFC 3986 §2.1): a space is `%20`,
//! `/` is `%2F`. Decoding is a few lines; the trap is *when* to decode. A
//! path must be checked for `..` and `/` **after** decoding, or `%2e%2e`
//! walks out of the web root (see `static_files.rs`).
//!
//! Read next: `src/http/static_files.rs`.

/// Decodes `%XX` escapes (RFC 3986 §2.1). `plus_as_space` applies the
/// HTML form rule for query strings; in a path, `+` is just a plus.
/// `None` when a `%` is not followed by two hex digits.
pub fn percent_decode(text: &str, plus_as_space: bool) -> Option<Vec<u8>> {
    let mut bytes = text.bytes();
    let mut decoded = Vec::with_capacity(text.len());
    while let Some(byte) = bytes.next() {
        decoded.push(match byte {
            b'%' => {
                let high = (bytes.next()? as char).to_digit(16)?;
                let low = (bytes.next()? as char).to_digit(16)?;
                (high * 16 + low) as u8
            }
            b'+' if plus_as_space => b' ',
            other => other,
        });
    }
    Some(decoded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%2Fb+c", false).unwrap(), b"a/b+c");
        assert_eq!(percent_decode("a%2fb+c", true).unwrap(), b"a/b c");
        assert_eq!(percent_decode("%4", false), None);
        assert_eq!(percent_decode("%zz", false), None);
        assert_eq!(percent_decode("%", false), None);
    }
}
