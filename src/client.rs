//! # The other end: a blocking WebSocket client
//!
//! A server is only half of a protocol. This chapter writes the client's
//! half with the same codec, which makes both sides of RFC 6455 readable
//! in one place:
//!
//! 1. open a TCP connection to the host in a `ws://` URL;
//! 2. send the upgrade request with a fresh random `Sec-WebSocket-Key`
//!    (§4.1);
//! 3. read the `101 Switching Protocols` response and check that
//!    `Sec-WebSocket-Accept` is the hash of *our* key (§4.2.2): proof that
//!    the other end is a WebSocket server and not, say, a cache replaying an
//!    old response;
//! 4. from then on, mask every frame with a fresh random key (§5.3).
//!
//! Why masking keys must be unpredictable (§10.3): masking exists to stop
//! a script in a web page from choosing the exact bytes that cross the
//! network. If the script could predict the key, it could pre-mask its
//! payload so that the *masked* bytes spell out an HTTP request, and a
//! confused proxy on the path might cache an attacker's response for a
//! real site. So keys come from the operating system's random source
//! (`/dev/urandom`), never from a counter or the clock.
//!
//! The integration tests, the terminal chat client (`src/bin/duplex-chat.rs`)
//! and the load generator are all built on [`Client`].
//!
//! `wss://` (WebSocket over TLS) is out of scope: TLS is not something to
//! write by hand. Put a TLS-terminating proxy in front (see
//! `docs/08-security.md`).
//!
//! Read next: `src/redis/mod.rs`, a second wire protocol written by hand.

use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;

use crate::config::Limits;
use crate::http::Headers;
use crate::server::stream::SharedStream;
use crate::websocket::handshake::accept_key;
use crate::websocket::{CloseCode, Closed, Message, WebSocket};

/// The parts of a `ws://host:port/path?query` URL a client needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsUrl {
    pub host: String,
    pub port: u16,
    /// Path and query, as sent in the request line.
    pub resource: String,
}

impl WsUrl {
    /// Parses a `ws://` URL. (`http://` is accepted too, for convenience:
    /// it names the same server.)
    pub fn parse(url: &str) -> Result<WsUrl, ClientError> {
        let rest = url
            .strip_prefix("ws://")
            .or_else(|| url.strip_prefix("http://"))
            .ok_or_else(|| ClientError::BadUrl(format!("{url}: only ws:// URLs are supported")))?;
        let (authority, resource) = match rest.find(['/', '?']) {
            Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], rest[i..].to_string()),
            Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
            None => (rest, "/".to_string()),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) if !port.contains(']') => {
                let port =
                    port.parse().map_err(|_| ClientError::BadUrl(format!("{url}: bad port")))?;
                (host, port)
            }
            _ => (authority, 80),
        };
        if host.is_empty() {
            return Err(ClientError::BadUrl(format!("{url}: no host")));
        }
        Ok(WsUrl { host: host.to_string(), port, resource })
    }

    /// The `Host` header value: the port is left out when it is 80.
    fn host_header(&self) -> String {
        if self.port == 80 {
            self.host.clone()
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// Why a connection could not be made.
#[derive(Debug)]
pub enum ClientError {
    BadUrl(String),
    Io(io::Error),
    /// The server answered with something other than 101.
    Refused {
        status: u16,
        reason: String,
    },
    /// The 101 response was not a valid WebSocket acceptance.
    BadHandshake(&'static str),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::BadUrl(message) => write!(f, "bad URL: {message}"),
            ClientError::Io(error) => write!(f, "i/o error: {error}"),
            ClientError::Refused { status, reason } => {
                write!(f, "server refused the upgrade: {status} {reason}")
            }
            ClientError::BadHandshake(why) => write!(f, "bad handshake response: {why}"),
        }
    }
}

impl std::error::Error for ClientError {}

impl From<io::Error> for ClientError {
    fn from(error: io::Error) -> Self {
        ClientError::Io(error)
    }
}

/// Random bytes from the operating system, read in blocks so that a
/// masking key per frame does not cost a system call per frame.
pub struct RandomSource(BufReader<File>);

impl RandomSource {
    pub fn open() -> io::Result<RandomSource> {
        Ok(RandomSource(BufReader::with_capacity(4096, File::open("/dev/urandom")?)))
    }

    pub fn fill(&mut self, bytes: &mut [u8]) -> io::Result<()> {
        self.0.read_exact(bytes)
    }
}

/// Extra settings for [`Client::connect_with`].
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Sent as `Origin`, as a browser would.
    pub origin: Option<String>,
    /// Offered in `Sec-WebSocket-Protocol`.
    pub subprotocols: Vec<String>,
    /// Largest message accepted from the server.
    pub max_message: usize,
    /// Bounds the TCP connect and the wait for the 101 response.
    pub handshake_timeout: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            origin: None,
            subprotocols: Vec::new(),
            max_message: Limits::default().max_message,
            handshake_timeout: Duration::from_secs(10),
        }
    }
}

/// A connected WebSocket client.
pub struct Client {
    socket: WebSocket<SharedStream, SharedStream>,
    stream: Arc<TcpStream>,
    /// The subprotocol the server chose, if any.
    pub subprotocol: Option<String>,
}

impl Client {
    /// Connects and completes the handshake.
    pub fn connect(url: &str) -> Result<Client, ClientError> {
        Client::connect_with(url, &ClientOptions::default())
    }

    pub fn connect_with(url: &str, options: &ClientOptions) -> Result<Client, ClientError> {
        let url = WsUrl::parse(url)?;
        let stream = open_tcp(&url, options.handshake_timeout)?;
        let mut random = RandomSource::open()?;
        let mut key_bytes = [0u8; 16];
        random.fill(&mut key_bytes)?;
        let key = base64::engine::general_purpose::STANDARD.encode(key_bytes);

        let shared = SharedStream(Arc::new(stream));
        shared.0.set_read_timeout(Some(options.handshake_timeout))?;
        (&*shared.0).write_all(upgrade_request(&url, &key, options).as_bytes())?;
        let mut reader = BufReader::new(shared.clone());
        let headers = read_response_head(&mut reader)?;
        check_acceptance(&headers, &key)?;
        let subprotocol = headers.get("Sec-WebSocket-Protocol").map(str::to_string);
        shared.0.set_read_timeout(None)?;

        let next_key = Box::new(move || {
            let mut key = [0u8; 4];
            // /dev/urandom does not run dry; if reading it fails the
            // system is broken, and a zero key is still a valid frame.
            let _ = random.fill(&mut key);
            key
        });
        let stream = Arc::clone(&shared.0);
        let socket = WebSocket::client(reader, shared, options.max_message, next_key);
        Ok(Client { socket, stream, subprotocol })
    }

    /// Waits for the next message (pings are answered on the way).
    pub fn recv(&mut self) -> Result<Message, Closed> {
        self.socket.recv()
    }

    pub fn send(&mut self, message: &Message) -> io::Result<()> {
        self.socket.send(message)
    }

    pub fn send_text(&mut self, text: &str) -> io::Result<()> {
        self.send(&Message::Text(text.to_string()))
    }

    pub fn send_binary(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.send(&Message::Binary(bytes.to_vec()))
    }

    /// Queues without flushing; [`flush`](Self::flush) or `recv` sends.
    pub fn queue(&mut self, message: &Message) -> io::Result<()> {
        self.socket.queue(message)
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.socket.flush()
    }

    pub fn ping(&mut self, payload: &[u8]) -> io::Result<()> {
        self.socket.ping(payload)
    }

    /// Starts the closing handshake; then call `recv` until it returns
    /// `Err(Closed::ByUs(_))`.
    pub fn close(&mut self, code: CloseCode, reason: &str) -> io::Result<()> {
        self.socket.close(code, reason)
    }

    /// Bounds every wait in `recv`; a timeout ends it with
    /// `Closed::Dropped` of kind `WouldBlock`/`TimedOut`.
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.stream.set_read_timeout(timeout)
    }

    /// Waits up to `timeout` for the server to send something, consuming
    /// nothing; `Ok(true)` means `recv` has a frame (or the end) to read.
    /// A client that must also watch the keyboard polls with a short
    /// timeout and then calls `recv` with a generous one, so that a timeout
    /// never strikes in the middle of a frame (see
    /// [`WebSocket::poll_input`]).
    pub fn poll(&mut self, timeout: Duration) -> io::Result<bool> {
        let previous = self.stream.read_timeout()?;
        self.stream.set_read_timeout(Some(timeout))?;
        let ready = self.socket.poll_input();
        self.stream.set_read_timeout(previous)?;
        ready
    }

    /// The TCP connection, e.g. to drop it abruptly in a test.
    pub fn tcp(&self) -> &TcpStream {
        &self.stream
    }
}

fn open_tcp(url: &WsUrl, timeout: Duration) -> Result<TcpStream, ClientError> {
    let mut last_error = None;
    for addr in (url.host.as_str(), url.port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(stream) => {
                stream.set_nodelay(true)?;
                return Ok(stream);
            }
            Err(error) => last_error = Some(error),
        }
    }
    Err(last_error.unwrap_or_else(|| io::Error::other("host has no address")).into())
}

fn upgrade_request(url: &WsUrl, key: &str, options: &ClientOptions) -> String {
    let mut request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n",
        url.resource,
        url.host_header()
    );
    if let Some(origin) = &options.origin {
        request += &format!("Origin: {origin}\r\n");
    }
    if !options.subprotocols.is_empty() {
        request += &format!("Sec-WebSocket-Protocol: {}\r\n", options.subprotocols.join(", "));
    }
    request + "\r\n"
}

/// Longest response head we read; a server that sends more is not one we
/// want to talk to.
const MAX_RESPONSE_HEAD: u64 = 16 * 1024;

/// Reads `HTTP/1.1 101 ...` and its headers. Anything else becomes
/// [`ClientError::Refused`] with the status the server gave.
fn read_response_head<R: BufRead>(reader: &mut R) -> Result<Headers, ClientError> {
    let mut limited = reader.take(MAX_RESPONSE_HEAD);
    let mut status_line = String::new();
    limited.read_line(&mut status_line)?;
    let mut parts = status_line.trim_end().splitn(3, ' ');
    let (version, status) = (parts.next(), parts.next().and_then(|s| s.parse::<u16>().ok()));
    let reason = parts.next().unwrap_or("").to_string();
    let Some(status) = status.filter(|_| version == Some("HTTP/1.1")) else {
        return Err(ClientError::BadHandshake("not an HTTP/1.1 status line"));
    };
    let mut headers = Headers::default();
    loop {
        let mut line = String::new();
        if limited.read_line(&mut line)? == 0 {
            return Err(ClientError::BadHandshake("response head cut short"));
        }
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            break;
        }
        let (name, value) =
            line.split_once(':').ok_or(ClientError::BadHandshake("header line without a colon"))?;
        headers.push(name.trim(), value.trim());
    }
    if status != 101 {
        return Err(ClientError::Refused { status, reason });
    }
    Ok(headers)
}

fn check_acceptance(headers: &Headers, key: &str) -> Result<(), ClientError> {
    if !headers.has_token("Upgrade", "websocket") || !headers.has_token("Connection", "upgrade") {
        return Err(ClientError::BadHandshake("missing Upgrade/Connection headers"));
    }
    if headers.get("Sec-WebSocket-Accept") != Some(accept_key(key).as_str()) {
        return Err(ClientError::BadHandshake("Sec-WebSocket-Accept does not match our key"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let url = WsUrl::parse("ws://127.0.0.1:8080/chat?name=ann").unwrap();
        assert_eq!((url.host.as_str(), url.port), ("127.0.0.1", 8080));
        assert_eq!(url.resource, "/chat?name=ann");
        let url = WsUrl::parse("ws://example.com").unwrap();
        assert_eq!((url.port, url.resource.as_str()), (80, "/"));
        assert_eq!(url.host_header(), "example.com");
        let url = WsUrl::parse("ws://example.com?x=1").unwrap();
        assert_eq!(url.resource, "/?x=1");
        assert!(WsUrl::parse("wss://example.com/").is_err());
        assert!(WsUrl::parse("ws://:80/").is_err());
        assert!(WsUrl::parse("ws://host:port/").is_err());
    }

    #[test]
    fn response_heads() {
        let key = "dGhlIHNhbXBsZSBub25jZQ==";
        let good =
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
            Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
        let headers = read_response_head(&mut &good[..]).unwrap();
        assert!(check_acceptance(&headers, key).is_ok());
        assert!(matches!(
            check_acceptance(&headers, "AAAAAAAAAAAAAAAAAAAAAA=="),
            Err(ClientError::BadHandshake(_))
        ));
        let refused = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n";
        match read_response_head(&mut &refused[..]) {
            Err(ClientError::Refused { status: 403, .. }) => {}
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn random_keys_differ() {
        let mut random = RandomSource::open().unwrap();
        let (mut a, mut b) = ([0u8; 16], [0u8; 16]);
        random.fill(&mut a).unwrap();
        random.fill(&mut b).unwrap();
        assert_ne!(a, b);
    }
}
