//! # Negotiating an extension: the offers, and permessage-deflate's terms
//!
//! A client lists the extensions it would like in
//! `Sec-WebSocket-Extensions` (RFC 6455 §9), in order of preference, each
//! with parameters:
//!
//! ```text
//! Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits, x-other
//! ```
//!
//! and the server answers with the ones it accepts, or with no header at
//! all. An extension the server did not answer must not be used. The
//! grammar (§9.1) is HTTP's: `name *( ";" param [ "=" value ] )`, the
//! value a token or a quoted string, offers separated by commas, possibly
//! over several header lines. [`parse_offers`] reads it.
//!
//! The only extension in wide use is permessage-deflate (RFC 7692):
//! compress each message. Its parameters are negotiated here, by
//! [`negotiate_deflate`], with RFC 7692's rules (§5, §7.1): an offer with an
//! unknown parameter, a parameter given twice, or a value out of range is
//! *declined*; the server tries the next offer, and if none is acceptable
//! the handshake still succeeds, without compression.
//!
//! This file is compiled only with the `deflate` Cargo feature: a server
//! that has no codec accepts no extension, and need not read the offers.
//!
//! Read next: `src/websocket/permessage_deflate.rs`.

use super::extension::{DeflateAgreement, PERMESSAGE_DEFLATE};
use crate::http::Request;

/// One extension as offered: its name and parameters, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    pub name: String,
    /// Each parameter with its value, if it has one (quotes removed).
    pub params: Vec<(String, Option<String>)>,
}

/// The header does not follow the grammar of RFC 6455 §9.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MalformedExtensions;

/// Parses every `Sec-WebSocket-Extensions` line into offers. Several lines
/// are one list, as if joined with commas (RFC 9110 §5.3). Empty list
/// elements (`a, , b`) are allowed, as in every HTTP list (RFC 9110 §5.6.1).
///
/// ```
/// use duplex::websocket::negotiation::parse_offers;
///
/// let offers = parse_offers(["permessage-deflate; client_max_window_bits=\"10\", x-y"]).unwrap();
/// assert_eq!(offers[0].name, "permessage-deflate");
/// assert_eq!(offers[0].params, [("client_max_window_bits".into(), Some("10".into()))]);
/// assert_eq!(offers[1].name, "x-y");
/// ```
pub fn parse_offers<'a>(
    lines: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<Offer>, MalformedExtensions> {
    let mut offers = Vec::new();
    for line in lines {
        let mut scanner = Scanner { rest: line };
        loop {
            scanner.skip_whitespace();
            if scanner.rest.is_empty() {
                break;
            }
            if scanner.take(',') {
                continue; // an empty element
            }
            offers.push(scanner.offer()?);
            scanner.skip_whitespace();
            if !scanner.rest.is_empty() && !scanner.take(',') {
                return Err(MalformedExtensions);
            }
        }
    }
    Ok(offers)
}

/// A cursor over one header line.
struct Scanner<'a> {
    rest: &'a str,
}

impl Scanner<'_> {
    /// HTTP's optional whitespace: spaces and tabs (RFC 9110 §5.6.3).
    fn skip_whitespace(&mut self) {
        self.rest = self.rest.trim_start_matches([' ', '\t']);
    }

    fn take(&mut self, wanted: char) -> bool {
        match self.rest.strip_prefix(wanted) {
            Some(rest) => {
                self.rest = rest;
                true
            }
            None => false,
        }
    }

    /// A token: one or more of RFC 9110 §5.6.2's `tchar`.
    fn token(&mut self) -> Result<String, MalformedExtensions> {
        let end = self.rest.find(|c: char| !is_token_char(c)).unwrap_or(self.rest.len());
        if end == 0 {
            return Err(MalformedExtensions);
        }
        let (token, rest) = self.rest.split_at(end);
        self.rest = rest;
        Ok(token.to_string())
    }

    /// A quoted string, unescaped (RFC 9110 §5.6.4).
    fn quoted(&mut self) -> Result<String, MalformedExtensions> {
        let mut value = String::new();
        let mut chars = self.rest.char_indices().skip(1); // the opening quote
        while let Some((index, c)) = chars.next() {
            match c {
                '"' => {
                    self.rest = &self.rest[index + 1..];
                    return Ok(value);
                }
                '\\' => value.push(chars.next().ok_or(MalformedExtensions)?.1),
                c => value.push(c),
            }
        }
        Err(MalformedExtensions) // no closing quote
    }

    /// `name *( OWS ";" OWS param [ OWS "=" OWS value ] )`
    fn offer(&mut self) -> Result<Offer, MalformedExtensions> {
        let name = self.token()?;
        let mut params = Vec::new();
        loop {
            self.skip_whitespace();
            if !self.take(';') {
                return Ok(Offer { name, params });
            }
            self.skip_whitespace();
            let param = self.token()?;
            self.skip_whitespace();
            let value = if self.take('=') {
                self.skip_whitespace();
                let value = if self.rest.starts_with('"') { self.quoted()? } else { self.token()? };
                // §9.1: a quoted value, unescaped, must still be a token.
                if value.is_empty() || !value.chars().all(is_token_char) {
                    return Err(MalformedExtensions);
                }
                Some(value)
            } else {
                None
            };
            params.push((param, value));
        }
    }
}

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

/// The handshake's choice (RFC 6455 §9.1, RFC 7692 §5): the first
/// acceptable permessage-deflate offer in the request's
/// `Sec-WebSocket-Extensions`. A header that does not parse, like an offer
/// with unknown parameters, is declined, not refused: the handshake goes
/// on without the extension.
pub fn agreement_for(request: &Request) -> Option<DeflateAgreement> {
    let offers = parse_offers(request.headers.get_all("Sec-WebSocket-Extensions")).ok()?;
    negotiate_deflate(&offers)
}

/// Accepts the first acceptable permessage-deflate offer (RFC 7692 §5).
/// Offers of other extensions are passed over.
pub fn negotiate_deflate(offers: &[Offer]) -> Option<DeflateAgreement> {
    offers
        .iter()
        .filter(|offer| offer.name.eq_ignore_ascii_case(PERMESSAGE_DEFLATE))
        .find_map(accept_deflate_offer)
}

/// One offer's parameters against RFC 7692 §7.1. `None` declines it.
fn accept_deflate_offer(offer: &Offer) -> Option<DeflateAgreement> {
    let mut agreement =
        DeflateAgreement { server_max_window_bits: 15, window_bits_requested: false };
    let mut seen: Vec<&str> = Vec::new();
    for (name, value) in &offer.params {
        // §7.1: "an extension negotiation offer [with] multiple parameters
        // with the same name" is declined.
        if seen.iter().any(|earlier| earlier.eq_ignore_ascii_case(name)) {
            return None;
        }
        seen.push(name);
        match (name.to_ascii_lowercase().as_str(), value.as_deref()) {
            // Both take no value (§7.1.1.1, §7.1.1.2). We would have asked
            // for them anyway.
            ("server_no_context_takeover" | "client_no_context_takeover", None) => {}
            // §7.1.2.1: the value is required. We honour it: every match
            // distance is ours to choose.
            ("server_max_window_bits", Some(value)) => {
                agreement.server_max_window_bits = window_bits(value)?;
                agreement.window_bits_requested = true;
            }
            // §7.1.2.2: the client *can* limit its window; with or
            // without a value, it is only a hint, and our inflater
            // handles any window up to 32 KiB.
            ("client_max_window_bits", None) => {}
            ("client_max_window_bits", Some(value)) => {
                window_bits(value)?;
            }
            _ => return None, // unknown parameter, or a value where none belongs
        }
    }
    Some(agreement)
}

/// §7.1.2: "a decimal integer value without leading zeroes between 8 and
/// 15, inclusive".
fn window_bits(value: &str) -> Option<u8> {
    if value.starts_with('0') || !value.bytes().all(|b| b.is_ascii_digit()) || value.len() > 2 {
        return None;
    }
    value.parse().ok().filter(|bits| (8..=15).contains(bits))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn negotiate(header: &str) -> Option<DeflateAgreement> {
        negotiate_deflate(&parse_offers([header]).ok()?)
    }

    #[test]
    fn what_browsers_send() {
        let agreement = negotiate("permessage-deflate; client_max_window_bits").unwrap();
        assert_eq!(agreement.server_max_window_bits, 15);
        assert_eq!(
            agreement.response_header(),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
        );
    }

    #[test]
    fn the_window_asked_for_is_granted_and_named() {
        let agreement = negotiate("permessage-deflate; server_max_window_bits=9").unwrap();
        assert_eq!(agreement.server_max_window_bits, 9);
        assert!(agreement.response_header().ends_with("; server_max_window_bits=9"));
        let quoted = negotiate("permessage-deflate; server_max_window_bits=\"10\"").unwrap();
        assert_eq!(quoted.server_max_window_bits, 10);
    }

    #[test]
    fn bad_offers_are_declined_and_the_next_one_is_taken() {
        for bad in [
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; server_max_window_bits=7",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; server_max_window_bits=09",
            "permessage-deflate; client_max_window_bits=0",
            "permessage-deflate; server_no_context_takeover=1",
            "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
            "permessage-deflate; mystery",
            "x-webkit-deflate-frame",
        ] {
            assert_eq!(negotiate(bad), None, "{bad}");
        }
        let second = negotiate(
            "permessage-deflate; server_max_window_bits=20, permessage-deflate; server_max_window_bits=12",
        );
        assert_eq!(second.map(|a| a.server_max_window_bits), Some(12));
    }

    #[test]
    fn the_grammar() {
        let offers = parse_offers(["a; b=c ;d, , e", "f;g=\"h\\i\""]).unwrap();
        let names: Vec<&str> = offers.iter().map(|offer| offer.name.as_str()).collect();
        assert_eq!(names, ["a", "e", "f"]);
        assert_eq!(offers[0].params, [("b".into(), Some("c".into())), ("d".into(), None)]);
        assert_eq!(offers[2].params, [("g".into(), Some("hi".into()))]);
        for broken in ["a;", "a; =b", "a; b=\"c", "a b", "a; b=\"c d\"", "; a"] {
            assert_eq!(parse_offers([broken]), Err(MalformedExtensions), "{broken}");
        }
    }
}
