//! # The opening handshake: from HTTP to WebSocket
//!
//! A WebSocket connection starts life as an ordinary HTTP/1.1 `GET`
//! (RFC 6455 §4.1) asking to switch protocols:
//!
//! ```text
//! GET /echo HTTP/1.1
//! Host: 127.0.0.1:8080
//! Upgrade: websocket
//! Connection: Upgrade
//! Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==
//! Sec-WebSocket-Version: 13
//! Origin: http://127.0.0.1:8080
//! ```
//!
//! and the server agrees with `101 Switching Protocols` (§4.2.2):
//!
//! ```text
//! HTTP/1.1 101 Switching Protocols
//! Upgrade: websocket
//! Connection: Upgrade
//! Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
//! ```
//!
//! After the blank line that ends this response, both sides speak frames
//! (`frame.rs`) on the same TCP connection.
//!
//! `Sec-WebSocket-Key` and `Sec-WebSocket-Accept` are not security. They
//! prove that the server *understood* the WebSocket request (a plain HTTP
//! server or a cache would not know to hash the key with the magic GUID),
//! so a client cannot be fooled into talking frames to something that is
//! not a WebSocket server. The real guard against other web sites is the
//! `Origin` check below.
//!
//! Browsers apply no same-origin policy to WebSocket: any page on any site
//! can open `ws://127.0.0.1:8080/chat`, and the browser will send along the
//! user's cookies. Only the server can refuse, by checking `Origin`
//! (RFC 6455 §10.2). This is how cross-site WebSocket hijacking is stopped.
//!
//! This module decides and builds; it does no I/O. The server writes the
//! [`Response`] it returns.
//!
//! Read next: `src/websocket/frame.rs`.

use base64::Engine;

use super::extension::DeflateAgreement;
use crate::http::{Request, Response, Status, Version};

/// The GUID every server appends to the client's key (RFC 6455 §1.3).
pub const WEBSOCKET_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The only protocol version RFC 6455 defines.
pub const WEBSOCKET_VERSION: &str = "13";

/// Computes `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key` (§4.2.2):
/// base64 of the SHA-1 of the key (as sent, still base64) followed by the
/// GUID.
///
/// ```
/// use duplex::websocket::handshake::accept_key;
/// // The example from RFC 6455 §1.3.
/// assert_eq!(accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
/// ```
pub fn accept_key(key: &str) -> String {
    let mut sha1 = sha1_smol::Sha1::new();
    sha1.update(key.as_bytes());
    sha1.update(WEBSOCKET_GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(sha1.digest().bytes())
}

/// Why an upgrade request was refused, each with the status it earns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandshakeError {
    /// Only `GET` can open a WebSocket (§4.1). → 405
    MethodNotGet,
    /// HTTP/1.0 has no `Upgrade` mechanism we accept (§4.1). → 400
    NotHttp11,
    /// `Upgrade` does not name `websocket`. → 400
    MissingUpgradeWebsocket,
    /// `Connection` does not list the `Upgrade` token. → 400
    MissingConnectionUpgrade,
    /// `Sec-WebSocket-Key` is absent, repeated, or not 16 bytes in base64. → 400
    BadKey,
    /// `Sec-WebSocket-Version` is not 13. → 426, with the version we speak.
    UnsupportedVersion,
    /// The `Origin` is neither this server's own nor allowed. → 403
    ForbiddenOrigin(String),
    /// More than one `Origin` line: which one would a proxy check? → 400
    DuplicateOrigin,
    /// The request carries a body. Its bytes would be read as frames, but
    /// they belong to HTTP: a protocol switch happens only after a whole
    /// message (RFC 9110 §7.8). → 400
    BodyNotAllowed,
}

impl HandshakeError {
    pub fn status(&self) -> Status {
        match self {
            HandshakeError::MethodNotGet => Status::METHOD_NOT_ALLOWED,
            HandshakeError::UnsupportedVersion => Status::UPGRADE_REQUIRED,
            HandshakeError::ForbiddenOrigin(_) => Status::FORBIDDEN,
            _ => Status::BAD_REQUEST,
        }
    }

    /// The HTTP response that refuses the upgrade.
    pub fn response(&self) -> Response {
        let response = Response::error(self.status(), &self.to_string());
        match self {
            // §4.2.2: tell the client which versions we do speak.
            HandshakeError::UnsupportedVersion => {
                response.header("Sec-WebSocket-Version", WEBSOCKET_VERSION)
            }
            HandshakeError::MethodNotGet => response.header("Allow", "GET"),
            _ => response,
        }
    }
}

impl std::fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HandshakeError::MethodNotGet => f.write_str("a WebSocket upgrade must be a GET"),
            HandshakeError::NotHttp11 => f.write_str("a WebSocket upgrade needs HTTP/1.1"),
            HandshakeError::MissingUpgradeWebsocket => f.write_str("missing Upgrade: websocket"),
            HandshakeError::MissingConnectionUpgrade => f.write_str("missing Connection: Upgrade"),
            HandshakeError::BadKey => {
                f.write_str("Sec-WebSocket-Key must be 16 bytes in base64, sent once")
            }
            HandshakeError::UnsupportedVersion => f.write_str("Sec-WebSocket-Version must be 13"),
            HandshakeError::ForbiddenOrigin(origin) => write!(f, "origin {origin:?} not allowed"),
            HandshakeError::DuplicateOrigin => f.write_str("more than one Origin header"),
            HandshakeError::BodyNotAllowed => {
                f.write_str("an upgrade request must not carry a body")
            }
        }
    }
}

impl std::error::Error for HandshakeError {}

/// What one WebSocket endpoint is willing to accept. A server with
/// several endpoints keeps one for each.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Origins allowed besides the server's own; `"*"` allows every origin.
    pub allowed_origins: Vec<String>,
    /// Subprotocols this endpoint speaks, in no particular order.
    pub subprotocols: Vec<String>,
    /// Agree to permessage-deflate when offered (`--deflate`; off by
    /// default). When false, no handshake ever accepts an extension.
    pub deflate: bool,
}

/// An accepted upgrade: what the 101 response needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upgrade {
    /// The value for `Sec-WebSocket-Accept`.
    pub accept: String,
    /// The subprotocol chosen, if the client offered one we speak.
    pub subprotocol: Option<String>,
    /// permessage-deflate, if offered acceptably and allowed by the policy.
    pub compression: Option<DeflateAgreement>,
}

/// Is this request asking for a WebSocket at all? A request without
/// `Upgrade: websocket` is ordinary HTTP and goes to the file server.
pub fn is_upgrade_request(request: &Request) -> bool {
    request.headers.has_token("Upgrade", "websocket")
}

/// Checks an upgrade request against RFC 6455 §4.2.1 and our policy.
pub fn validate(request: &Request, policy: &Policy) -> Result<Upgrade, HandshakeError> {
    if request.method != "GET" {
        return Err(HandshakeError::MethodNotGet);
    }
    if request.version != Version::Http11 {
        return Err(HandshakeError::NotHttp11);
    }
    // Both headers are token lists compared without regard to case:
    // `Connection: keep-alive, Upgrade` (what Firefox sends) must pass.
    if !request.headers.has_token("Upgrade", "websocket") {
        return Err(HandshakeError::MissingUpgradeWebsocket);
    }
    if !request.headers.has_token("Connection", "upgrade") {
        return Err(HandshakeError::MissingConnectionUpgrade);
    }
    if request.headers.get_all("Sec-WebSocket-Version").ne([WEBSOCKET_VERSION]) {
        return Err(HandshakeError::UnsupportedVersion);
    }
    if !matches!(request.content_length(), Ok(0)) {
        return Err(HandshakeError::BodyNotAllowed);
    }
    let key = single_key(request).ok_or(HandshakeError::BadKey)?;
    check_origin(request, policy)?;
    // permessage-deflate, only if the policy allows it (`negotiation.rs`).
    // Built without `deflate`, the server has no codec, so it accepts no
    // extension and need not read the offers: a server answers only the
    // extensions it accepts, and may ignore the rest (RFC 6455 §9.1).
    #[cfg(feature = "deflate")]
    let compression = policy.deflate.then(|| super::negotiation::agreement_for(request)).flatten();
    #[cfg(not(feature = "deflate"))]
    let compression = None;
    Ok(Upgrade {
        accept: accept_key(key),
        subprotocol: choose_subprotocol(request, policy),
        compression,
    })
}

/// The key must be present once and decode to exactly 16 bytes (§4.1).
fn single_key(request: &Request) -> Option<&str> {
    if request.headers.count("Sec-WebSocket-Key") != 1 {
        return None;
    }
    let key = request.headers.get("Sec-WebSocket-Key")?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(key).ok()?;
    (decoded.len() == 16).then_some(key)
}

/// The `Origin` rule: no `Origin` at all (not a browser: curl, a test, a
/// native app) passes, and so does the page's own origin; any other needs
/// to be allowed by name, or by `*`.
fn check_origin(request: &Request, policy: &Policy) -> Result<(), HandshakeError> {
    if request.headers.count("Origin") > 1 {
        return Err(HandshakeError::DuplicateOrigin);
    }
    let Some(origin) = request.headers.get("Origin") else {
        return Ok(());
    };
    let allowed_by_name = policy
        .allowed_origins
        .iter()
        .any(|allowed| allowed == "*" || allowed.eq_ignore_ascii_case(origin));
    let same_origin =
        request.headers.get("Host").is_some_and(|host| origin_matches_host(origin, host));
    if allowed_by_name || same_origin {
        Ok(())
    } else {
        Err(HandshakeError::ForbiddenOrigin(origin.to_string()))
    }
}

/// Does `http://127.0.0.1:8080` name the same host and port as the `Host`
/// header `127.0.0.1:8080`? A port left out means the scheme's default
/// (80 for http, 443 for https). The opaque origin `null` (sandboxed
/// frames, `file:` pages) matches nothing.
pub fn origin_matches_host(origin: &str, host: &str) -> bool {
    let Some((scheme, authority)) = origin.split_once("://") else {
        return false;
    };
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "http" => 80,
        "https" => 443,
        _ => return false,
    };
    match (host_and_port(authority, default_port), host_and_port(host, default_port)) {
        (Some(a), Some(b)) => a.0.eq_ignore_ascii_case(b.0) && a.1 == b.1,
        _ => false,
    }
}

/// Splits `host[:port]`, keeping IPv6 literals such as `[::1]:8080` whole.
fn host_and_port(authority: &str, default_port: u16) -> Option<(&str, u16)> {
    let colon = match authority.rfind(':') {
        Some(i) if !authority[i..].contains(']') => Some(i),
        _ => None,
    };
    match colon {
        Some(i) => Some((&authority[..i], authority[i + 1..].parse().ok()?)),
        None => Some((authority, default_port)),
    }
}

/// §4.2.2: the client lists subprotocols in order of preference; the
/// server picks one it speaks, or answers none at all.
fn choose_subprotocol(request: &Request, policy: &Policy) -> Option<String> {
    request
        .headers
        .get_all("Sec-WebSocket-Protocol")
        .flat_map(|line| line.split(','))
        // HTTP whitespace is space and tab only (RFC 9110 §5.6.3), not
        // every Unicode space `str::trim` would remove.
        .map(|offered| offered.trim_matches([' ', '\t']))
        .find(|offered| policy.subprotocols.iter().any(|ours| ours == offered))
        .map(str::to_string)
}

/// The `101 Switching Protocols` response for an accepted upgrade.
pub fn accept_response(upgrade: &Upgrade) -> Response {
    let response = Response::new(Status::SWITCHING_PROTOCOLS)
        .header("Upgrade", "websocket")
        .header("Connection", "Upgrade")
        .header("Sec-WebSocket-Accept", upgrade.accept.clone());
    let response = match &upgrade.subprotocol {
        Some(protocol) => response.header("Sec-WebSocket-Protocol", protocol.clone()),
        None => response,
    };
    match &upgrade.compression {
        Some(agreement) => response.header("Sec-WebSocket-Extensions", agreement.response_header()),
        None => response,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Limits;
    use crate::http::read_request;

    const GOOD: &str = "GET /chat HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUpgrade: websocket\r\n\
        Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
        Sec-WebSocket-Version: 13\r\n";

    fn request(head: &str, extra: &str) -> Request {
        let text = format!("{head}{extra}\r\n");
        let mut bytes = text.as_bytes();
        read_request(&mut bytes, &Limits::default()).unwrap().unwrap()
    }

    fn check(head: &str, extra: &str) -> Result<Upgrade, HandshakeError> {
        validate(&request(head, extra), &Policy::default())
    }

    #[test]
    fn rfc_accept_key() {
        assert_eq!(accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn a_good_request_is_accepted() {
        let upgrade = check(GOOD, "").unwrap();
        assert_eq!(upgrade.accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert_eq!(upgrade.subprotocol, None);
        let response = accept_response(&upgrade);
        assert_eq!(response.status, Status::SWITCHING_PROTOCOLS);
    }

    #[test]
    fn each_missing_piece_is_refused() {
        let cases = [
            ("Upgrade: websocket\r\n", "Upgrade: h2c\r\n", HandshakeError::MissingUpgradeWebsocket),
            (
                "Connection: keep-alive, Upgrade\r\n",
                "Connection: keep-alive\r\n",
                HandshakeError::MissingConnectionUpgrade,
            ),
            ("dGhlIHNhbXBsZSBub25jZQ==", "dGhlIHNhbXBsZQ==", HandshakeError::BadKey),
            ("dGhlIHNhbXBsZSBub25jZQ==", "not base64!", HandshakeError::BadKey),
            ("Version: 13", "Version: 8", HandshakeError::UnsupportedVersion),
            ("GET /chat HTTP/1.1", "POST /chat HTTP/1.1", HandshakeError::MethodNotGet),
        ];
        for (from, to, expected) in cases {
            assert_eq!(check(&GOOD.replace(from, to), ""), Err(expected.clone()), "{to}");
        }
        let with_body = check(GOOD, "Content-Length: 5\r\n");
        assert_eq!(with_body, Err(HandshakeError::BodyNotAllowed));
        assert!(check(GOOD, "Content-Length: 0\r\n").is_ok());
        let two_origins = "Origin: http://127.0.0.1:8080\r\nOrigin: http://evil.example\r\n";
        assert_eq!(check(GOOD, two_origins), Err(HandshakeError::DuplicateOrigin));
        let twice = check(GOOD, "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n");
        assert_eq!(twice, Err(HandshakeError::BadKey));
        assert_eq!(HandshakeError::UnsupportedVersion.status(), Status::UPGRADE_REQUIRED);
        let response = HandshakeError::UnsupportedVersion.response();
        assert!(response.headers.iter().any(|(n, v)| n == "Sec-WebSocket-Version" && v == "13"));
    }

    #[test]
    fn header_values_are_case_insensitive() {
        let shouty = GOOD.replace("Upgrade: websocket", "UPGRADE: WebSocket");
        assert!(check(&shouty.replace("keep-alive, Upgrade", "UPGRADE"), "").is_ok());
    }

    #[test]
    fn origin_check() {
        assert!(check(GOOD, "Origin: http://127.0.0.1:8080\r\n").is_ok());
        assert!(check(GOOD, "Origin: HTTP://127.0.0.1:8080\r\n").is_ok());
        let evil = check(GOOD, "Origin: http://evil.example\r\n");
        assert_eq!(evil, Err(HandshakeError::ForbiddenOrigin("http://evil.example".into())));
        assert_eq!(evil.unwrap_err().status(), Status::FORBIDDEN);
        assert!(check(GOOD, "Origin: http://127.0.0.1:9999\r\n").is_err());
        assert!(check(GOOD, "Origin: null\r\n").is_err());

        let allowed =
            Policy { allowed_origins: vec!["http://evil.example".into()], ..Policy::default() };
        let req = request(GOOD, "Origin: http://evil.example\r\n");
        assert!(validate(&req, &allowed).is_ok());
        let everyone = Policy { allowed_origins: vec!["*".into()], ..Policy::default() };
        assert!(validate(&req, &everyone).is_ok());
    }

    #[test]
    fn origin_default_ports_and_ipv6() {
        assert!(origin_matches_host("http://example.com", "example.com"));
        assert!(origin_matches_host("http://example.com", "example.com:80"));
        assert!(origin_matches_host("https://example.com", "example.com:443"));
        assert!(!origin_matches_host("https://example.com", "example.com:80"));
        assert!(origin_matches_host("http://[::1]:8080", "[::1]:8080"));
        assert!(!origin_matches_host("http://[::1]:8080", "[::1]:8081"));
    }

    #[test]
    fn compression_only_when_the_policy_allows_it() {
        let offer = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n";
        let req = request(GOOD, offer);
        let off = validate(&req, &Policy::default()).unwrap();
        assert_eq!(off.compression, None);
        let response = accept_response(&off);
        assert!(!response.headers.iter().any(|(name, _)| name == "Sec-WebSocket-Extensions"));

        let on = Policy { deflate: true, ..Policy::default() };
        let upgrade = validate(&req, &on).unwrap();
        assert_eq!(upgrade.compression.is_some(), cfg!(feature = "deflate"));
        if cfg!(feature = "deflate") {
            let response = accept_response(&upgrade);
            let header =
                response.headers.iter().find(|(name, _)| name == "Sec-WebSocket-Extensions");
            assert_eq!(
                header.map(|(_, value)| value.as_str()),
                Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover")
            );
        }
        // Declined offers (and a header that does not parse) still upgrade.
        for declined in ["permessage-deflate; bogus", "permessage-deflate; =", "x-other"] {
            let header = format!("Sec-WebSocket-Extensions: {declined}\r\n");
            let upgrade = validate(&request(GOOD, &header), &on).unwrap();
            assert_eq!(upgrade.compression, None, "{declined}");
        }
    }

    #[test]
    fn subprotocol_negotiation() {
        let policy = Policy { subprotocols: vec!["chat.v1".into()], ..Policy::default() };
        let req = request(GOOD, "Sec-WebSocket-Protocol: chat.v2, chat.v1\r\n");
        assert_eq!(validate(&req, &policy).unwrap().subprotocol, Some("chat.v1".into()));
        let req = request(GOOD, "Sec-WebSocket-Protocol: mqtt\r\n");
        assert_eq!(validate(&req, &policy).unwrap().subprotocol, None);
    }
}
