//! Small tools the referees share: HTTP over one kept-alive connection,
//! a handshake with extra headers, frames built byte by byte.

use std::io::{BufReader, Write};
use std::net::TcpStream;

use crate::common::{read_response, HttpResponse, TestServer, UPGRADE_HEADERS};

/// One keep-alive HTTP connection: several requests, one after another,
/// so a wrong `Content-Length` shows up as a garbled next response.
pub struct Connection {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Connection {
    pub fn open(server: &TestServer) -> Connection {
        let stream = server.connect();
        let writer = stream.try_clone().expect("clone the stream");
        Connection { reader: BufReader::new(stream), writer }
    }

    /// Sends `METHOD TARGET` with `headers` (each ending in CRLF) and
    /// reads the response.
    pub fn request(&mut self, method: &str, target: &str, headers: &str) -> HttpResponse {
        let head = format!("{method} {target} HTTP/1.1\r\nHost: test\r\n{headers}\r\n");
        self.writer.write_all(head.as_bytes()).expect("send a request");
        read_response(&mut self.reader, method == "HEAD")
    }

    pub fn get(&mut self, target: &str) -> HttpResponse {
        self.request("GET", target, "")
    }

    /// The local address, which names this connection in the server's log
    /// (`opened from 127.0.0.1:PORT`).
    pub fn local_addr(&self) -> std::net::SocketAddr {
        self.writer.local_addr().expect("local address")
    }
}

/// An upgrade request to `path` with the usual headers, `Host` as given,
/// and `extra` (each line ending in CRLF). Returns the response and the
/// connection, still open.
pub fn upgrade_with_host(
    server: &TestServer,
    path: &str,
    host: &str,
    extra: &str,
) -> (HttpResponse, BufReader<TcpStream>) {
    let stream = server.connect();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n{UPGRADE_HEADERS}{extra}\r\n");
    (&stream).write_all(request.as_bytes()).expect("send the upgrade");
    let mut reader = BufReader::new(stream);
    let response = read_response(&mut reader, true);
    (response, reader)
}

/// [`upgrade_with_host`] with the server's own address as `Host`.
pub fn upgrade(server: &TestServer, path: &str, extra: &str) -> HttpResponse {
    upgrade_with_host(server, path, &server.addr.to_string(), extra).0
}

/// The three ways §5.2 lets a frame say its payload length.
#[derive(Clone, Copy, Debug)]
pub enum LengthForm {
    Seven,
    Sixteen,
    SixtyFour,
}

/// A final, masked client frame whose length is written in `form`,
/// whether or not that form is the shortest that fits.
pub fn frame_with_length_form(opcode: u8, payload: &[u8], form: LengthForm) -> Vec<u8> {
    let mask = [0x11, 0x22, 0x33, 0x44];
    let mut frame = vec![0x80 | opcode];
    let length = payload.len();
    match form {
        LengthForm::Seven => {
            assert!(length <= 125, "the 7-bit form holds at most 125");
            frame.push(0x80 | length as u8);
        }
        LengthForm::Sixteen => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&u16::try_from(length).expect("fits 16 bits").to_be_bytes());
        }
        LengthForm::SixtyFour => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(length as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, byte)| byte ^ mask[i % 4]));
    frame
}

/// Starts the server with flags an exercise adds. Until the exercise is
/// done the server refuses them, and the referee says so plainly rather
/// than failing on a missing `listening on` line.
pub fn server_with(args: &[&str]) -> TestServer {
    let mut probe: Vec<&str> = args.to_vec();
    probe.push("--help");
    let exited = crate::common::run_until_exit(&probe);
    assert!(
        exited.status.success(),
        "the server does not accept {args:?} yet:\n{}",
        exited.stderr.lines().find(|line| !line.trim().is_empty()).unwrap_or("")
    );
    TestServer::start(args)
}

/// The server's name for the connection `local` opened (`conn-N`), from
/// its `opened from` log line.
pub fn thread_of(server: &TestServer, local: std::net::SocketAddr) -> String {
    let line = server.wait_for_log(&format!("opened from {local}"));
    let start = line.find("[conn-").expect("a connection thread's line") + 1;
    let end = start + line[start..].find(']').expect("a closing bracket");
    line[start..end].to_string()
}

/// Waits until the server has finished with the connection `local`
/// opened: its thread logs `closed:` as its very last act.
pub fn wait_until_served(server: &TestServer, local: std::net::SocketAddr) {
    let thread = thread_of(server, local);
    server.wait_for_log(&format!("[{thread}] closed:"));
}

/// A bound on a whole wait made of many reads: a stream that keeps
/// sending something else (heartbeats, say) never trips a read timeout,
/// so a loop waiting for one particular thing needs a deadline of its own.
pub struct Deadline(std::time::Instant);

impl Deadline {
    pub fn start() -> Deadline {
        Deadline(std::time::Instant::now() + crate::common::PATIENCE)
    }

    /// Fails the test once the deadline has passed.
    pub fn check(&self, waiting_for: &str) {
        assert!(std::time::Instant::now() < self.0, "gave up waiting for {waiting_for}");
    }
}
