//! Shared helpers for the integration tests: start the real `duplex`
//! binary on a free port, talk to it over real sockets, and read its log.
//!
//! Every read has a timeout, so a broken server fails a test instead of
//! hanging it; nothing waits by sleeping: tests wait for the event itself
//! (a line on stdout, a line in the log, a byte on a socket).

#![allow(dead_code)] // each test file uses its own subset
pub mod chat; // a chat member over WebSocket, and JSON field accessors
pub mod push; // HTTP clients for the chat room's /api/ (polls, event streams)
pub mod redis; // a real redis-server for the Redis tests
pub mod suite; // the runner of the Redis suites: skips loudly without redis-server

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use duplex::websocket::{
    encode_frame, CloseCode, CloseFrame, Incoming, MessageReader, Opcode, Role,
};

/// How long any single wait in a test may take before the test fails.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// A running server process, killed when dropped.
pub struct TestServer {
    child: Child,
    pub addr: SocketAddr,
    log: Arc<(Mutex<Vec<String>>, Condvar)>,
}

impl TestServer {
    /// Starts `duplex --addr 127.0.0.1:0 ARGS...` and waits for its
    /// `listening on` line.
    pub fn start(args: &[&str]) -> TestServer {
        TestServer::start_with_env(args, &[])
    }

    /// [`TestServer::start`] with variables added to its environment.
    pub fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> TestServer {
        let mut child = Command::new(env!("CARGO_BIN_EXE_duplex"))
            .args(["--addr", "127.0.0.1:0"])
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start duplex");

        let stdout = child.stdout.take().expect("stdout");
        let (line_tx, line_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = line_tx.send(line);
        });

        let log: Arc<(Mutex<Vec<String>>, Condvar)> = Arc::default();
        let stderr = child.stderr.take().expect("stderr");
        let log_writer = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let (lines, changed) = &*log_writer;
                lines.lock().unwrap().push(line);
                changed.notify_all();
            }
        });

        let line = line_rx.recv_timeout(PATIENCE).expect("server printed its address");
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .parse()
            .expect("address");
        TestServer { child, addr, log }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn url(&self, path: &str) -> String {
        format!("ws://{}{}", self.addr, path)
    }

    /// A TCP connection with read and write timeouts set.
    pub fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(self.addr).expect("connect");
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        stream.set_write_timeout(Some(PATIENCE)).unwrap();
        stream
    }

    /// Waits until a log line contains `needle`, and returns it.
    pub fn wait_for_log(&self, needle: &str) -> String {
        let (lines, changed) = &*self.log;
        let deadline = Instant::now() + PATIENCE;
        let mut guard = lines.lock().unwrap();
        loop {
            if let Some(line) = guard.iter().find(|l| l.contains(needle)) {
                return line.clone();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "no log line containing {needle:?} in:\n{}", guard.join("\n"));
            guard = changed.wait_timeout(guard, left).unwrap().0;
        }
    }

    /// Counts log lines containing `needle` right now.
    pub fn log_count(&self, needle: &str) -> usize {
        self.log.0.lock().unwrap().iter().filter(|l| l.contains(needle)).count()
    }

    /// The server's resident memory in KiB, from /proc.
    pub fn rss_kib(&self) -> u64 {
        proc_status_field(self.pid(), "VmRSS:")
    }

    pub fn threads(&self) -> u64 {
        proc_status_field(self.pid(), "Threads:")
    }

    /// How many of the server's file descriptors are sockets, not counting
    /// 0, 1 and 2 (inherited from whoever runs the tests, which may be
    /// anything). From the links in `/proc/PID/fd`, which read
    /// `socket:[INODE]` for a socket.
    pub fn sockets(&self) -> usize {
        let fds = std::fs::read_dir(format!("/proc/{}/fd", self.pid())).expect("/proc/PID/fd");
        fds.filter_map(Result::ok)
            .filter(|fd| fd.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) > Some(2))
            // A descriptor closed while we look has no link any more.
            .filter_map(|fd| std::fs::read_link(fd.path()).ok())
            .filter(|target| target.to_string_lossy().starts_with("socket:"))
            .count()
    }
}

/// What a server that was expected to stop said and how it stopped.
pub struct Exited {
    pub status: std::process::ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `duplex --addr 127.0.0.1:0 ARGS...`, expecting it to exit by
/// itself within `PATIENCE`; a server that keeps running is killed and
/// the test fails.
pub fn run_until_exit(args: &[&str]) -> Exited {
    let child = Command::new(env!("CARGO_BIN_EXE_duplex"))
        .args(["--addr", "127.0.0.1:0"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start duplex");
    let pid = child.id();
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done_tx.send(child.wait_with_output());
    });
    match done_rx.recv_timeout(PATIENCE) {
        Ok(output) => {
            let output = output.expect("wait for duplex");
            Exited {
                status: output.status,
                stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            }
        }
        Err(_) => {
            let _ = Command::new("kill").arg("-KILL").arg(pid.to_string()).status();
            panic!("duplex {args:?} was still running after {PATIENCE:?}");
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn proc_status_field(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/{pid}/status"))
}

/// A parsed HTTP response.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Reads one response from `reader`. `head_only` for answers to HEAD.
pub fn read_response<R: BufRead>(reader: &mut R, head_only: bool) -> HttpResponse {
    let mut status_line = String::new();
    reader.read_line(&mut status_line).expect("status line");
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).expect("header line");
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').expect("colon");
        headers.push((name.to_string(), value.trim().to_string()));
    }
    let mut response = HttpResponse { status, headers, body: Vec::new() };
    let length: usize = response.header("Content-Length").map_or(0, |v| v.parse().unwrap());
    if !head_only && status != 101 && status != 304 {
        response.body = vec![0; length];
        reader.read_exact(&mut response.body).expect("body");
    }
    response
}

/// Sends raw bytes on a fresh connection and reads one response.
pub fn raw_request(server: &TestServer, bytes: &[u8]) -> HttpResponse {
    let mut stream = server.connect();
    stream.write_all(bytes).unwrap();
    read_response(&mut BufReader::new(stream), false)
}

pub fn get(server: &TestServer, path: &str) -> HttpResponse {
    raw_request(
        server,
        format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").as_bytes(),
    )
}

/// Reads until the server closes the connection (or the timeout hits);
/// true when it closed.
pub fn closed_by_server(stream: &mut TcpStream) -> bool {
    let mut sink = [0u8; 4096];
    loop {
        match stream.read(&mut sink) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

pub const UPGRADE_HEADERS: &str = "Upgrade: websocket\r\nConnection: Upgrade\r\n\
    Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";

/// A raw WebSocket peer: the handshake done by hand, frames written and
/// read with the library's codec, so tests can send what no polite client
/// would.
pub struct RawPeer {
    pub reader: BufReader<TcpStream>,
    pub writer: TcpStream,
    messages: MessageReader,
}

impl RawPeer {
    /// Connects to `path` and completes the handshake; `early` is sent in
    /// the same write as the request (frames right behind the head).
    pub fn open_with(server: &TestServer, path: &str, early: &[u8]) -> RawPeer {
        let stream = server.connect();
        let mut request =
            format!("GET {path} HTTP/1.1\r\nHost: {}\r\n{UPGRADE_HEADERS}\r\n", server.addr)
                .into_bytes();
        request.extend_from_slice(early);
        let mut writer = stream.try_clone().unwrap();
        writer.write_all(&request).unwrap();
        let mut reader = BufReader::new(stream);
        let response = read_response(&mut reader, true);
        assert_eq!(response.status, 101, "{response:?}");
        assert_eq!(response.header("Sec-WebSocket-Accept"), Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
        RawPeer { reader, writer, messages: MessageReader::new(Role::Client, 64 << 20) }
    }

    pub fn open(server: &TestServer, path: &str) -> RawPeer {
        RawPeer::open_with(server, path, &[])
    }

    /// Sends a frame masked as a client must (unless the test says not).
    pub fn send_frame(&mut self, fin: bool, opcode: Opcode, payload: &[u8]) {
        self.writer.write_all(&client_frame(fin, opcode, payload)).unwrap();
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).unwrap();
    }

    /// The next thing the server says.
    pub fn read(&mut self) -> Incoming {
        self.messages.read(&mut self.reader).expect("a frame from the server")
    }

    /// Reads until a close frame and returns its code; fails on anything
    /// but data before it.
    pub fn expect_close(&mut self) -> Option<CloseFrame> {
        loop {
            match self.read() {
                Incoming::Close(frame) => return frame,
                Incoming::Ping(_) | Incoming::Pong(_) | Incoming::Message(_) => {}
            }
        }
    }

    pub fn expect_close_code(&mut self) -> CloseCode {
        self.expect_close().expect("a close code").code
    }
}

/// A masked client frame.
pub fn client_frame(fin: bool, opcode: Opcode, payload: &[u8]) -> Vec<u8> {
    let mut frame = encode_frame(opcode, payload, Some([0xA1, 0xB2, 0xC3, 0xD4]));
    if !fin {
        frame[0] &= 0x7F;
    }
    frame
}
