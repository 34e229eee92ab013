//! # Reading a request head
//!
//! An HTTP/1.1 request head is lines of text (RFC 9112 §2.1):
//!
//! ```text
//! GET /chat?name=ada HTTP/1.1\r\n     request line (§3)
//! Host: example.org\r\n               header lines (§5)
//! Connection: keep-alive, Upgrade\r\n
//! \r\n                                an empty line ends the head
//! ```
//!
//! It looks easy to parse, and that is the danger. The text comes from a
//! stranger, so every loop here is bounded: a line is read with a byte
//! budget ([`Limits`]), never "until newline, however long that takes".
//! And every rule in RFC 9112 that says "MUST reject" is here, because
//! each one closes a hole that has been used for real attacks, most of them
//! *request smuggling*: two programs on the path (a proxy and this server)
//! disagreeing about where one request ends and the next begins.
//!
//! Where the body after the head ends is the subject of `framing.rs`.
//!
//! Read next: `error.rs`, the refusals and their status codes.

use std::io::BufRead;

pub use super::error::HttpError;
use super::headers::read_fields;
pub use super::headers::{is_token, Headers};
use super::line::{read_line, Line, LineEnding};
pub use super::percent::percent_decode;
use crate::config::Limits;

/// The protocol versions this server speaks. HTTP/0.9 has no headers and
/// HTTP/2 is a binary protocol that never arrives in this text form.
/// A later HTTP/1 minor version (`HTTP/1.2`) is read as HTTP/1.1: RFC 9110
/// §2.5 tells a recipient to treat it as the highest minor version it
/// implements, since minor versions are compatible by design.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Http10,
    Http11,
}

/// One parsed request head. The body, if any, is still in the reader.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// The request target (RFC 9112 §3.2), reduced to origin-form:
    /// `/path?query`, still percent-encoded, or `*`.
    pub target: String,
    pub version: Version,
    pub headers: Headers,
}

impl Request {
    /// The target before any `?`, still percent-encoded.
    pub fn path(&self) -> &str {
        match self.target.split_once('?') {
            Some((path, _)) => path,
            None => &self.target,
        }
    }

    pub fn query(&self) -> Option<&str> {
        self.target.split_once('?').map(|(_, query)| query)
    }

    /// The first `name=value` pair in the query, decoded the way HTML forms
    /// encode it (`+` is a space). `None` when absent, badly escaped, or not
    /// UTF-8.
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query()?.split('&').find_map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let key = String::from_utf8(percent_decode(key, true)?).ok()?;
            if key != name {
                return None;
            }
            String::from_utf8(percent_decode(value, true)?).ok()
        })
    }

    /// Whether the client wants the connection closed after the response.
    /// HTTP/1.1 keeps connections open unless told otherwise; HTTP/1.0
    /// closes them unless told otherwise (RFC 9112 §9.3).
    pub fn wants_close(&self) -> bool {
        let connection_has = |token| self.headers.has_token("connection", token);
        connection_has("close")
            || (self.version == Version::Http10 && !connection_has("keep-alive"))
    }

    /// Does the client wait for `100 Continue` before sending its body
    /// (RFC 9110 §10.1.1)? Only `100-continue` is defined; any other
    /// expectation must be refused with `417`. HTTP/1.0 predates the
    /// mechanism, so there the field is ignored, as the RFC requires.
    pub fn expects_continue(&self) -> Result<bool, HttpError> {
        let Some(expect) = self.headers.get("expect") else { return Ok(false) };
        if self.version == Version::Http10 {
            return Ok(false);
        }
        if expect.eq_ignore_ascii_case("100-continue") {
            Ok(true)
        } else {
            Err(HttpError::ExpectationFailed)
        }
    }
}

/// Empty lines tolerated before a request line (RFC 9112 §2.2 asks us to
/// skip "at least one"; some clients send a stray CRLF after a body).
const MAX_LEADING_EMPTY_LINES: usize = 4;

/// Reads one request head. `Ok(None)` means the peer closed the connection
/// cleanly before sending anything: the normal end of a keep-alive
/// connection. The head is fully validated, including `Host` and the body
/// framing, so callers can trust `body_framing()` on what this returns.
pub fn read_request<R: BufRead>(
    reader: &mut R,
    limits: &Limits,
) -> Result<Option<Request>, HttpError> {
    let Some(line) = read_request_line(reader, limits.max_request_line)? else {
        return Ok(None);
    };
    let (method, target, version) = parse_request_line(&line)?;
    let headers =
        read_fields(reader, limits.max_header_bytes, limits.max_headers, LineEnding::CrlfOrLf)?;
    let request = Request { method, target, version, headers };

    // RFC 9112 §3.2: HTTP/1.1 requires exactly one Host; two Hosts in any
    // version is an ambiguity a proxy could resolve differently than us;
    // and a Host that is not `host[:port]` "MUST" get a 400.
    let host_lines = request.headers.count("host");
    if host_lines > 1 || (version == Version::Http11 && host_lines == 0) {
        return Err(HttpError::BadHost);
    }
    if request.headers.get("host").is_some_and(|host| !is_valid_host(host)) {
        return Err(HttpError::BadHost);
    }
    request.body_framing()?;
    Ok(Some(request))
}

/// Is `value` a `Host` field value, `uri-host [ ":" port ]` (RFC 9110
/// §7.2, RFC 3986 §3.2.2)? A name or IPv4 address made of unreserved
/// characters, percent escapes and sub-delimiters, or an IPv6 literal in
/// brackets; then an optional port of digits. Anything else (a space, a
/// `/`, an `@`) could make two programs on the path route the request to
/// different places.
pub fn is_valid_host(value: &str) -> bool {
    let (host, port) = match value.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') => (host, Some(port)),
        _ => (value, None),
    };
    let port_ok = port.is_none_or(|port| port.bytes().all(|b| b.is_ascii_digit()));
    let host_ok = if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        !inner.is_empty() && inner.bytes().all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
    } else {
        const ALLOWED: &[u8] = b"-._~%!$&'()*+,;=";
        host.bytes().all(|b| b.is_ascii_alphanumeric() || ALLOWED.contains(&b))
    };
    port_ok && host_ok
}

/// Reads the request line, skipping a few empty lines before it.
fn read_request_line<R: BufRead>(
    reader: &mut R,
    max_len: usize,
) -> Result<Option<Vec<u8>>, HttpError> {
    for _ in 0..=MAX_LEADING_EMPTY_LINES {
        match read_line(reader, max_len, LineEnding::CrlfOrLf)? {
            Line::End => return Ok(None),
            Line::TooLong => return Err(HttpError::UriTooLong),
            Line::Complete(line) if line.is_empty() => continue,
            Line::Complete(line) => return Ok(Some(line)),
        }
    }
    Err(HttpError::Malformed("too many empty lines before request line"))
}

/// `method SP request-target SP HTTP-version` (RFC 9112 §3), exactly one
/// space between parts: a parser that splits on "any whitespace" accepts
/// requests a stricter proxy would read differently. The whole line is
/// checked before the version is judged, so a malformed line is a `400`
/// even when its version would have earned a `505`.
fn parse_request_line(line: &[u8]) -> Result<(String, String, Version), HttpError> {
    let parts: Vec<&[u8]> = line.split(|&byte| byte == b' ').collect();
    let [method, target, version] = parts[..] else {
        return Err(HttpError::Malformed("request line is not METHOD SP target SP version"));
    };
    if !is_token(method) {
        return Err(HttpError::Malformed("method is not a token"));
    }
    let target = parse_target(target)?;
    let version = parse_version(version)?;
    // Token bytes are ASCII, so this conversion cannot fail.
    let method = String::from_utf8_lossy(method).into_owned();
    Ok((method, target, version))
}

fn parse_version(text: &[u8]) -> Result<Version, HttpError> {
    match text {
        b"HTTP/1.0" => Ok(Version::Http10),
        // `HTTP/1.1`, and `HTTP/1.2` to `HTTP/1.9` read as 1.1 (RFC 9110 §2.5).
        [b'H', b'T', b'T', b'P', b'/', b'1', b'.', minor] if minor.is_ascii_digit() => {
            Ok(Version::Http11)
        }
        // Well-formed but not ours (`HTTP/2.0`, `HTTP/0.9`): RFC 9110 §15.6.6.
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            Err(HttpError::VersionNotSupported)
        }
        _ => Err(HttpError::Malformed("bad HTTP version")),
    }
}

/// Accepts origin-form (`/path?q`), asterisk-form (`*`) and absolute-form
/// (`http://host/path`, which RFC 9112 §3.2.2 obliges servers to accept),
/// and reduces the last to origin-form so the rest of the server sees one
/// shape. Authority-form (`host:443`) is only for `CONNECT` proxies.
fn parse_target(text: &[u8]) -> Result<String, HttpError> {
    // URIs are ASCII (RFC 3986); anything else must arrive percent-encoded.
    // `#` starts a fragment, which never leaves the browser.
    if text.is_empty() || !text.iter().all(|&b| b.is_ascii_graphic() && b != b'#') {
        return Err(HttpError::Malformed("invalid characters in request target"));
    }
    let text = String::from_utf8_lossy(text).into_owned();
    if text.starts_with('/') || text == "*" {
        return Ok(text);
    }
    let lower = text.to_ascii_lowercase();
    let Some(scheme_end) = ["http://", "https://"].iter().find(|s| lower.starts_with(**s)) else {
        return Err(HttpError::Malformed("request target is not a path"));
    };
    // In absolute-form the authority replaces `Host` (§3.2.2); we serve one
    // site, so we keep only what follows it.
    let rest = &text[scheme_end.len()..];
    let path_start = rest.find(['/', '?']).unwrap_or(rest.len());
    if path_start == 0 {
        return Err(HttpError::Malformed("absolute URI without a host"));
    }
    match &rest[path_start..] {
        "" => Ok("/".to_string()),
        path if path.starts_with('?') => Ok(format!("/{path}")),
        path => Ok(path.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use std::io;

    use super::*;
    use crate::http::Status;

    fn parse(bytes: &[u8]) -> Result<Option<Request>, HttpError> {
        read_request(&mut &bytes[..], &Limits::default())
    }

    fn parse_ok(bytes: &[u8]) -> Request {
        parse(bytes).expect("valid request").expect("not EOF")
    }

    fn status_of(bytes: &[u8]) -> Option<u16> {
        parse(bytes).err().and_then(|error| error.status()).map(Status::code)
    }

    #[test]
    fn parses_a_simple_request() {
        let request =
            parse_ok(b"GET /chat?room=a%20b&x=1+2 HTTP/1.1\r\nHost: x\r\nX-Empty:\r\n\r\n");
        assert_eq!(request.method, "GET");
        assert_eq!(request.version, Version::Http11);
        assert_eq!(request.path(), "/chat");
        assert_eq!(request.query(), Some("room=a%20b&x=1+2"));
        assert_eq!(request.query_param("room").as_deref(), Some("a b"));
        assert_eq!(request.query_param("x").as_deref(), Some("1 2"));
        assert_eq!(request.query_param("missing"), None);
        assert_eq!(request.headers.get("HOST"), Some("x"));
        assert_eq!(request.headers.get("x-empty"), Some(""));
        assert_eq!(request.content_length().unwrap(), 0);
        assert!(!request.wants_close());
    }

    #[test]
    fn clean_eof_is_none_and_mid_head_eof_is_io() {
        assert!(parse(b"").unwrap().is_none());
        assert!(parse(b"\r\n").unwrap().is_none());
        for partial in [&b"GET / HT"[..], b"GET / HTTP/1.1\r\nHost: x\r\n"] {
            match parse(partial) {
                Err(HttpError::Io(error)) => assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof),
                other => panic!("expected UnexpectedEof, got {other:?}"),
            }
        }
    }

    #[test]
    fn line_endings() {
        let request = parse_ok(b"\r\n\nGET / HTTP/1.1\nHost: x\n\n");
        assert_eq!(request.headers.get("host"), Some("x"));
        assert_eq!(status_of(b"GET / HTTP/1.1\r\nHost: x\ry\r\n\r\n"), Some(400));
        assert_eq!(status_of(b"GET /\r HTTP/1.1\r\nHost: x\r\n\r\n"), Some(400));
    }

    #[test]
    fn request_line_shape() {
        for bad in [
            &b"GET  / HTTP/1.1\r\n\r\n"[..],
            b"GET / HTTP/1.1 \r\n\r\n",
            b"GET /\r\n\r\n",
            b"G(T / HTTP/1.1\r\n\r\n",
            b"GET / http/1.1\r\n\r\n",
            b"GET / HTTP/1.10\r\n\r\n",
            b"GET example.com HTTP/1.1\r\n\r\n",
            b"GET /a#frag HTTP/1.1\r\n\r\n",
            b"GET /\xc3\xa9 HTTP/1.1\r\n\r\n",
            b"GET http:///x HTTP/1.1\r\n\r\n",
            // Malformed first, version second: these are 400, not 505.
            b"GET /a#b HTTP/2.0\r\n\r\n",
            b"G(T / HTTP/3.0\r\n\r\n",
            b"GET  / HTTP/2.0\r\n\r\n",
            b"GET / HTTP/1.\r\n\r\n",
            b"GET / HTTP/1.a\r\n\r\n",
            b"GET / HTTP/11.1\r\n\r\n",
        ] {
            assert_eq!(status_of(bad), Some(400), "{}", String::from_utf8_lossy(bad));
        }
        assert_eq!(status_of(b"GET / HTTP/2.0\r\n\r\n"), Some(505));
        assert_eq!(status_of(b"GET / HTTP/0.9\r\n\r\n"), Some(505));
        assert_eq!(status_of(b"GET / HTTP/3.1\r\n\r\n"), Some(505));
    }

    #[test]
    fn a_later_http_1_minor_version_is_read_as_1_1() {
        for minor in ["2", "5", "9"] {
            let head = format!("GET / HTTP/1.{minor}\r\nHost: x\r\n\r\n");
            assert_eq!(parse_ok(head.as_bytes()).version, Version::Http11, "1.{minor}");
        }
        // As 1.1, it needs a Host like 1.1 does.
        assert!(matches!(parse(b"GET / HTTP/1.2\r\n\r\n"), Err(HttpError::BadHost)));
    }

    #[test]
    fn target_forms() {
        let target = |line: &str| parse_ok(format!("{line}\r\nHost: x\r\n\r\n").as_bytes()).target;
        assert_eq!(target("GET HTTP://example.com/a?b HTTP/1.1"), "/a?b");
        assert_eq!(target("GET http://example.com HTTP/1.1"), "/");
        assert_eq!(target("GET http://example.com?q=1 HTTP/1.1"), "/?q=1");
        assert_eq!(target("OPTIONS * HTTP/1.1"), "*");
    }

    #[test]
    fn request_line_limit() {
        let limits = Limits { max_request_line: 20, ..Limits::default() };
        let read = |line: &str| read_request(&mut line.as_bytes(), &limits);
        // "GET /12345678 HTTP/1.1" is 22 bytes; "GET /123456 HTTP/1.1" is 20.
        assert!(read("GET /123456 HTTP/1.1\r\nHost: x\r\n\r\n").is_ok());
        assert!(matches!(read("GET /12345678 HTTP/1.1\r\n\r\n"), Err(HttpError::UriTooLong)));
        assert!(matches!(read("GET /1234567 HTTP/1.1\n\n"), Err(HttpError::UriTooLong)));
        let endless = format!("GET /{}", "a".repeat(10_000));
        assert!(matches!(read(&endless), Err(HttpError::UriTooLong)));
    }

    #[test]
    fn header_limits() {
        let limits = Limits { max_header_bytes: 30, max_headers: 3, ..Limits::default() };
        let read = |head: &str| read_request(&mut head.as_bytes(), &limits);
        assert!(read("GET / HTTP/1.1\r\nHost: x\r\nA: 1\r\nB: 2\r\n\r\n").is_ok());
        let four = "GET / HTTP/1.1\r\nHost: x\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
        assert!(matches!(read(four), Err(HttpError::TooManyHeaders)));
        let big = format!("GET / HTTP/1.1\r\nHost: x\r\nA: {}\r\n\r\n", "v".repeat(30));
        assert!(matches!(read(&big), Err(HttpError::HeadersTooLarge)));
        assert_eq!(HttpError::TooManyHeaders.status().map(Status::code), Some(431));
    }

    #[test]
    fn header_line_rules() {
        for bad in [
            &b"GET / HTTP/1.1\r\nHost : x\r\n\r\n"[..],
            b"GET / HTTP/1.1\r\nHost: x\r\nA: 1\r\n  folded\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\nNo colon\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\n: empty name\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\nA: nul\0here\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\nA: \xff\r\n\r\n",
        ] {
            assert_eq!(status_of(bad), Some(400), "{}", String::from_utf8_lossy(bad));
        }
        let request = parse_ok(b"GET / HTTP/1.1\r\nHost: x\r\nA: \t spaced out \t\r\n\r\n");
        assert_eq!(request.headers.get("a"), Some("spaced out"));
    }

    #[test]
    fn host_rules() {
        assert!(matches!(parse(b"GET / HTTP/1.1\r\n\r\n"), Err(HttpError::BadHost)));
        let two = b"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n";
        assert!(matches!(parse(two), Err(HttpError::BadHost)));
        assert_eq!(parse_ok(b"GET / HTTP/1.0\r\n\r\n").version, Version::Http10);
        for bad in ["a b", "a/b", "user@host", "host:80x", "[::1", "[]", "h\\x"] {
            let request = format!("GET / HTTP/1.1\r\nHost: {bad}\r\n\r\n");
            assert!(matches!(parse(request.as_bytes()), Err(HttpError::BadHost)), "{bad}");
        }
        for good in ["example.com", "127.0.0.1:8080", "[::1]:8080", "xn--bcher-kva.example", "a_b"]
        {
            let request = format!("GET / HTTP/1.1\r\nHost: {good}\r\n\r\n");
            assert!(parse(request.as_bytes()).is_ok(), "{good}");
        }
    }

    #[test]
    fn expectations() {
        let expect = |version: &str, value: &str| {
            let text = format!("POST / {version}\r\nHost: t\r\nExpect: {value}\r\n\r\n");
            parse_ok(text.as_bytes()).expects_continue()
        };
        assert!(matches!(expect("HTTP/1.1", "100-continue"), Ok(true)));
        assert!(matches!(expect("HTTP/1.1", "100-Continue"), Ok(true)));
        assert!(matches!(expect("HTTP/1.1", "something-else"), Err(HttpError::ExpectationFailed)));
        assert!(matches!(expect("HTTP/1.0", "100-continue"), Ok(false)));
        assert!(matches!(
            parse_ok(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").expects_continue(),
            Ok(false)
        ));
    }

    #[test]
    fn connection_tokens_and_keep_alive() {
        let request = parse_ok(
            b"GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\nconnection: UPGRADE\r\n\r\n",
        );
        assert!(request.headers.has_token("Connection", "upgrade"));
        assert!(request.headers.has_token("connection", "Keep-Alive"));
        assert!(!request.headers.has_token("connection", "close"));
        assert_eq!(request.headers.count("connection"), 2);
        assert!(
            parse_ok(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: x, close\r\n\r\n").wants_close()
        );
        assert!(parse_ok(b"GET / HTTP/1.0\r\n\r\n").wants_close());
        assert!(!parse_ok(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").wants_close());
    }

    #[test]
    fn errors_map_to_statuses_and_read_well() {
        let timed_out = HttpError::from(io::Error::from(io::ErrorKind::TimedOut));
        assert_eq!(timed_out.status().map(Status::code), Some(408));
        let would_block = HttpError::from(io::Error::from(io::ErrorKind::WouldBlock));
        assert_eq!(would_block.status().map(Status::code), Some(408));
        let reset = HttpError::from(io::Error::from(io::ErrorKind::ConnectionReset));
        assert_eq!(reset.status(), None);
        assert_eq!(HttpError::UriTooLong.status().map(Status::code), Some(414));
        assert_eq!(HttpError::BodyTooLarge.status().map(Status::code), Some(413));
        assert_eq!(
            HttpError::Malformed("bare CR in line").to_string(),
            "malformed request: bare CR in line"
        );
    }
}
