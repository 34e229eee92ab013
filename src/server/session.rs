//! # One connection's life
//!
//! Each connection thread runs [`serve`]: a loop of HTTP/1.1 requests on
//! one TCP connection (keep-alive, RFC 9112 §9.3), until the client closes,
//! goes idle, asks to close, sends something we refuse, or upgrades to a
//! WebSocket, after which the same thread runs the WebSocket endpoint.
//!
//! The timeouts live here, because here is where the socket is:
//! - between requests, the connection may idle for `keep_alive_idle`;
//! - once a request's first byte arrives, the whole head (and its body)
//!   must arrive within `header_deadline` (the slowloris defence);
//! - after an upgrade, reads time out every `ping_interval`, which is what
//!   drives the keepalive pings in `websocket/connection.rs`;
//! - every write gives up after `write_timeout`.
//!
//! Routing is a `match` on the path: few endpoints, easy to read.
//!
//! RFC sections: persistent connections, RFC 9112 §9.3; `Expect:
//! 100-continue`, RFC 9110 §10.1.1; `Upgrade` as an offer the server may
//! decline, RFC 9110 §7.8; `408`, RFC 9110 §15.5.9. Besides
//! files and the two WebSocket endpoints there is the chat room's HTTP face
//! under `/api/` (`src/push/endpoint.rs`): ordinary requests, except that a
//! long poll may hold its answer for a while, and that `GET /api/events`
//! (`src/push/event_stream.rs`) never finishes its response: it takes the
//! connection over, as an upgrade does, until the stream ends.
//!
//! Read next: `src/server/stream.rs`, the socket shared by reader and
//! writer, and the deadline reader.

use std::fmt;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Instant;

use super::shared::Shared;
use super::stream::{close_gracefully, SharedStream, SocketReader};
use crate::http::{
    answer_expectation, discard_request_body, read_request, static_files, HttpError, Request,
    Response, Status, Version,
};
use crate::log;
#[cfg(feature = "push")]
use crate::push::endpoint::{self, Unanswered};
#[cfg(feature = "push")]
use crate::push::event_stream::StreamEnd;
use crate::websocket::connection::is_timeout;
use crate::websocket::handshake::{self, HandshakeError};
use crate::websocket::trace::Tracer;
use crate::websocket::{Closed, Keepalive, WebSocket};
use crate::{chat, echo};

/// Capacity of each connection's read buffer; see `serve`.
const READ_BUFFER: usize = 4 * 1024;

/// The reader every request on a connection is read through. It is kept
/// across requests and handed to the WebSocket after an upgrade, because it
/// may already hold bytes the client sent ahead.
type ConnectionReader = BufReader<SocketReader>;

/// Why a connection ended: the subject of its last log line.
pub enum Ending {
    ClientClosed,
    KeepAliveIdle,
    /// We answered and closed: `Connection: close`, or HTTP/1.0.
    Answered,
    Refused(HttpError),
    Handshake(HandshakeError),
    WebSocket(Closed),
    /// A Server-Sent Events response ran until it ended.
    #[cfg(feature = "push")]
    EventStream(StreamEnd),
    Io(io::Error),
}

impl fmt::Display for Ending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ending::ClientClosed => f.write_str("client closed"),
            Ending::KeepAliveIdle => f.write_str("idle between requests"),
            Ending::Answered => f.write_str("answered, connection: close"),
            Ending::Refused(HttpError::Io(error)) if is_timeout(error) => {
                write!(f, "request too slow (408): {error}")
            }
            Ending::Refused(error) => match error.status() {
                Some(status) => write!(f, "bad request ({}): {error}", status.code()),
                None => write!(f, "request not completed: {error}"),
            },
            Ending::Handshake(error) => {
                write!(f, "upgrade refused ({}): {error}", error.status().code())
            }
            Ending::WebSocket(closed) => write!(f, "websocket {closed}"),
            #[cfg(feature = "push")]
            Ending::EventStream(end) => write!(f, "event stream {end}"),
            Ending::Io(error) => write!(f, "i/o error: {error}"),
        }
    }
}

/// Serves one connection from accept to close, and says why it ended.
pub fn serve(stream: TcpStream, shared: &Shared) -> Ending {
    let limits = &shared.config.limits;
    let peer = stream.peer_addr().map(|a| a.to_string()).unwrap_or_else(|_| "?".into());
    // Small frames should leave at once; Nagle's algorithm would hold them
    // back waiting for an acknowledgement. We batch writes ourselves.
    let _ = stream.set_nodelay(true);
    let _ = stream.set_write_timeout(Some(limits.write_timeout));
    let stream = SharedStream(Arc::new(stream));
    log!("opened from {peer}");
    // 4 KiB holds any ordinary request head and the frames of a chat. The
    // buffer is zero-filled on first use (safe Rust cannot read into
    // uninitialised memory through our own reader type), so every byte of
    // it is resident for as long as the connection lives: 8 KiB made an
    // idle `/echo` connection cost 19.5 KiB, 4 KiB makes it 15.6 KiB
    // (docs/performance.md). Large payloads bypass it anyway.
    let reader = BufReader::with_capacity(READ_BUFFER, SocketReader::new(stream.clone()));
    let ending = serve_requests(reader, &stream, shared);
    // A WebSocket endpoint has already ended its connection the same way,
    // frame by frame (`WebSocket::end`).
    if !matches!(ending, Ending::WebSocket(_)) {
        close_gracefully(&stream, limits.close_linger);
    }
    ending
}

/// The keep-alive loop: one request per turn.
fn serve_requests(mut reader: ConnectionReader, stream: &SharedStream, shared: &Shared) -> Ending {
    let limits = &shared.config.limits;
    loop {
        if let Err(ending) = wait_for_request(&mut reader, shared) {
            return ending;
        }
        reader.get_mut().set_deadline(Instant::now() + limits.header_deadline);
        let request = match read_request(&mut reader, limits) {
            Ok(Some(request)) => request,
            Ok(None) => return Ending::ClientClosed,
            Err(error) => return refuse(stream, error),
        };
        // `Upgrade` is an offer the server may ignore (RFC 9110 §7.8): only
        // the WebSocket endpoints take it up; any other path is plain HTTP.
        if handshake::is_upgrade_request(&request) && is_websocket_endpoint(request.path()) {
            return upgrade(request, reader, stream, shared);
        }
        let close = request.wants_close();
        let response = match answer(&request, &mut reader, stream, shared) {
            Ok(response) => response,
            Err(ending) => return ending,
        };
        log!("{} {} -> {}", request.method, request.target, response.status.code());
        if let Err(error) = write_response(stream, response, request.method == "HEAD", close) {
            return Ending::Io(error);
        }
        if close {
            return Ending::Answered;
        }
    }
}

/// Waits, at most the keep-alive idle time, for the first byte of the next
/// request. The head's deadline starts only when a byte has arrived.
fn wait_for_request(reader: &mut ConnectionReader, shared: &Shared) -> Result<(), Ending> {
    let idle = shared.config.limits.keep_alive_idle;
    reader.get_mut().set_timeout(Some(idle)).map_err(Ending::Io)?;
    match reader.fill_buf() {
        Ok([]) => Err(Ending::ClientClosed),
        Ok(_) => Ok(()),
        Err(error) if is_timeout(&error) => Err(Ending::KeepAliveIdle),
        Err(error) => Err(Ending::Io(error)),
    }
}

/// Answers a request we could not accept with its status, then closes:
/// after a malformed request we cannot know where the next one starts.
/// A head that missed its deadline gets `408 Request Timeout` (RFC 9110
/// §15.5.9); a peer that vanished gets nothing.
fn refuse(stream: &SharedStream, error: HttpError) -> Ending {
    if let Some(status) = error.status() {
        let _ = write_response(stream, Response::error(status, &error.to_string()), false, true);
    }
    Ending::Refused(error)
}

/// The paths that speak WebSocket.
fn is_websocket_endpoint(path: &str) -> bool {
    matches!(path, "/echo" | "/chat")
}

/// Reads the rest of a plain HTTP request and answers it. Its body, if any,
/// is read and thrown away, so the next request starts at the right byte:
/// no endpoint of the minimal server wants one. With the push layer,
/// `/api/` is that layer's (`src/push/endpoint.rs`), body and all.
fn answer(
    request: &Request,
    reader: &mut ConnectionReader,
    stream: &SharedStream,
    shared: &Shared,
) -> Result<Response, Ending> {
    let limits = &shared.config.limits;
    #[cfg(feature = "push")]
    if endpoint::is_api(request) {
        return endpoint::serve(request, reader, &stream.0, &shared.feed, limits).map_err(
            |unanswered| match unanswered {
                Unanswered::Refused(error) => refuse(stream, error),
                Unanswered::Streamed(end) => Ending::EventStream(end),
            },
        );
    }
    let mut writer = stream.clone();
    answer_expectation(request, &mut writer, limits.max_request_body)
        .and_then(|()| discard_request_body(reader, request, limits))
        .map_err(|error| refuse(stream, error))?;
    Ok(route(request, shared))
}

/// Plain HTTP: the WebSocket endpoints explain themselves, everything
/// else is a file.
fn route(request: &Request, shared: &Shared) -> Response {
    match request.path() {
        "/echo" | "/chat" => {
            Response::error(Status::UPGRADE_REQUIRED, "this endpoint speaks WebSocket")
                .header("Upgrade", "websocket")
                .header("Connection", "Upgrade")
        }
        // Built without the push layer, its paths are not found, like any
        // other path this server does not serve (not "405" from the files).
        path if path.starts_with("/api/") => {
            Response::error(Status::NOT_FOUND, "no such endpoint (built without `push`)")
        }
        _ => static_files::serve(&shared.config.root, request),
    }
}

fn write_response(
    stream: &SharedStream,
    response: Response,
    head_only: bool,
    close: bool,
) -> io::Result<()> {
    // One buffer for status line and headers, so they leave in one write.
    let mut writer = BufWriter::new(stream.clone());
    response.write_to(&mut writer, head_only, close)?;
    writer.flush()
}

/// The upgrade: check the handshake, answer 101, and hand the connection
/// (with the reader that may hold early frames) to the endpoint.
fn upgrade(
    request: Request,
    mut reader: ConnectionReader,
    stream: &SharedStream,
    shared: &Shared,
) -> Ending {
    let limits = &shared.config.limits;
    let path = request.path().to_string();
    let upgrade = match handshake::validate(&request, shared.policy_for(&path)) {
        Ok(upgrade) => upgrade,
        Err(error) => {
            let _ = write_response(stream, error.response(), false, true);
            return Ending::Handshake(error);
        }
    };
    let tracer = shared.config.trace.then(|| Arc::new(Tracer::new(connection_name())));
    if let Err(error) = send_acceptance(stream, &request, &upgrade, tracer.as_deref()) {
        return Ending::Io(error);
    }
    log!("upgraded {path} to WebSocket");
    if let Err(error) = reader.get_mut().set_timeout(Some(limits.ping_interval)) {
        return Ending::Io(error);
    }
    // Only a build with `deflate` ever agrees to compress.
    #[cfg(feature = "deflate")]
    let codec = upgrade.compression.map(|agreement| agreement.codec());
    #[cfg(not(feature = "deflate"))]
    let codec = None;
    if path == "/chat" {
        let socket = Arc::clone(&stream.0);
        let closed = chat::serve(&request, reader, socket, &shared.chat, limits, tracer, codec);
        return Ending::WebSocket(closed);
    }
    drop(request);
    let mut socket = WebSocket::server(reader, stream.clone(), limits.max_message);
    socket.set_message_codec(codec);
    socket.set_keepalive(Keepalive {
        ping_interval: limits.ping_interval,
        idle_timeout: limits.idle_timeout,
    });
    socket.set_tracer(tracer);
    let closed = echo::run(&mut socket);
    socket.end(limits.close_linger);
    Ending::WebSocket(closed)
}

/// Writes the `101` response. With `--trace`, the request and the response
/// are printed first, exactly as the response goes on the wire.
fn send_acceptance(
    stream: &SharedStream,
    request: &Request,
    upgrade: &handshake::Upgrade,
    tracer: Option<&Tracer>,
) -> io::Result<()> {
    let mut head = Vec::new();
    handshake::accept_response(upgrade).write_to(&mut head, false, false)?;
    if let Some(tracer) = tracer {
        tracer.handshake("handshake request", &request_head(request));
        tracer.handshake("handshake response", &String::from_utf8_lossy(&head));
    }
    let mut writer = stream.clone();
    writer.write_all(&head)
}

/// The request head, rebuilt from the parsed request for the tracer.
fn request_head(request: &Request) -> String {
    let version = match request.version {
        Version::Http10 => "HTTP/1.0",
        Version::Http11 => "HTTP/1.1",
    };
    let mut head = format!("{} {} {version}\n", request.method, request.target);
    for (name, value) in request.headers.iter() {
        head += &format!("{name}: {value}\n");
    }
    head
}

/// This thread's name (`conn-N`), which labels its log and trace lines.
fn connection_name() -> String {
    std::thread::current().name().unwrap_or("conn").to_string()
}
