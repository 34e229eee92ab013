//! A real `redis-server` for the integration tests, one per test.
//!
//! Each server listens on a free loopback port (never 6379, where a
//! developer's own Redis may run), keeps nothing on disk (`--save ''`,
//! `--appendonly no`, a fresh temporary `--dir`), and is killed when its
//! [`RedisServer`] is dropped. Readiness is observed, not assumed: the
//! server logs to our pipe, and we wait for its "Ready to accept
//! connections" line, with [`PATIENCE`] as the bound.
//!
//! Picking the port: Redis cannot be told `--port 0` ("any free port") for
//! TCP, so a port is found by binding a listener to `127.0.0.1:0` and
//! releasing it. Another process may take it in between; Redis then exits
//! with "Address already in use", and we try again with a new port, a few
//! times.
//!
//! If `redis-server` is not installed, the suites' runner
//! (`tests/common/suite.rs`) skips the tests that need it and says so in a
//! banner; with `DUPLEX_REQUIRE_REDIS=1`, as in CI (`.ci/run` installs it),
//! they run anyway and fail here, loudly.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Instant;

use super::PATIENCE;

/// How many fresh ports to try before giving up.
const PORT_ATTEMPTS: usize = 5;

/// A running `redis-server`, killed (and its folder removed) on drop.
pub struct RedisServer {
    child: Child,
    pub port: u16,
    pub password: Option<String>,
    dir: ScratchDir,
    log: Log,
}

/// The server's working folder, removed when dropped: after the server is
/// killed, or when a failed start panics.
struct ScratchDir(PathBuf);

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Every line the server has written, shared with the threads reading it.
type Log = Arc<Mutex<Vec<String>>>;

/// Why one launch did not produce a ready server.
enum LaunchError {
    PortTaken,
    Failed(String),
}

impl RedisServer {
    /// A server with no password.
    pub fn start() -> RedisServer {
        RedisServer::start_with(None)
    }

    /// A server that requires `AUTH password`.
    pub fn start_with_password(password: &str) -> RedisServer {
        RedisServer::start_with(Some(password))
    }

    fn start_with(password: Option<&str>) -> RedisServer {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let dir = ScratchDir(std::env::temp_dir().join(format!(
            "duplex-redis-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        )));
        std::fs::create_dir_all(&dir.0).expect("create a folder for redis-server");
        for _ in 0..PORT_ATTEMPTS {
            let port = free_port();
            match launch(port, password, &dir.0) {
                Ok((child, log)) => {
                    let password = password.map(str::to_string);
                    return RedisServer { child, port, password, dir, log };
                }
                Err(LaunchError::PortTaken) => continue,
                Err(LaunchError::Failed(log)) => panic!("redis-server did not start:\n{log}"),
            }
        }
        panic!("redis-server found no free port in {PORT_ATTEMPTS} attempts");
    }

    /// `127.0.0.1:PORT`, as `RedisConnection::connect` takes it.
    pub fn host_port(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The `--redis` URL for this server, password included and encoded.
    pub fn url(&self) -> String {
        match &self.password {
            Some(password) => format!("redis://:{}@{}", percent_encode(password), self.host_port()),
            None => format!("redis://{}", self.host_port()),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the server with SIGKILL, as a crash would, and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts a new server on the same port with the same password, after
    /// [`RedisServer::kill`]. Nothing survives: there is no persistence.
    pub fn restart(&mut self) {
        self.kill();
        match launch(self.port, self.password.as_deref(), &self.dir.0) {
            Ok((child, log)) => {
                self.child = child;
                self.log = log;
            }
            Err(LaunchError::PortTaken) => panic!("port {} was taken during restart", self.port),
            Err(LaunchError::Failed(log)) => panic!("redis-server did not restart:\n{log}"),
        }
    }

    /// Everything the server has logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill(); // then the fields drop, the folder with them
    }
}

/// A duplex process sharing the room through `redis`, with `extra` flags,
/// once its log says the room is shared.
pub fn shared_duplex(redis: &RedisServer, extra: &[&str]) -> super::TestServer {
    let address = redis.host_port();
    let mut args = vec!["--redis", address.as_str()];
    args.extend_from_slice(extra);
    let server = super::TestServer::start(&args);
    server.wait_for_log("redis: room main shared through");
    server
}

/// A port nothing was listening on a moment ago.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local address").port()
}

/// Starts `redis-server` on `port` and waits until it is ready or gone.
fn launch(
    port: u16,
    password: Option<&str>,
    dir: &std::path::Path,
) -> Result<(Child, Log), LaunchError> {
    let mut command = Command::new("redis-server");
    command
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
        .arg("--dir")
        .arg(dir)
        // An empty log file name means standard output, which we read.
        .args(["--logfile", ""]);
    if let Some(password) = password {
        command.args(["--requirepass", password]);
    }
    let mut child = match command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn() {
        Ok(child) => child,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => panic!(
            "redis-server is not installed, and the Redis tests need a real one \
             ({} is set). Install it (Debian: apt-get install redis-server; \
             .ci/run does this).",
            super::suite::REQUIRE_REDIS
        ),
        Err(error) => panic!("cannot run redis-server: {error}"),
    };

    let log: Log = Arc::default();
    let (line_tx, line_rx) = mpsc::channel();
    for output in [
        Box::new(child.stdout.take().expect("stdout")) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().expect("stderr")),
    ] {
        let (log, line_tx) = (Arc::clone(&log), line_tx.clone());
        // Keeps reading for the server's whole life, so it never blocks on
        // a full pipe; the channel just goes unread after startup.
        std::thread::spawn(move || {
            for line in BufReader::new(output).lines().map_while(Result::ok) {
                log.lock().unwrap().push(line.clone());
                let _ = line_tx.send(line);
            }
        });
    }
    drop(line_tx); // the channel disconnects when both pipes close: the server exited

    let deadline = Instant::now() + PATIENCE;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match line_rx.recv_timeout(left) {
            Ok(line) if line.contains("Ready to accept connections") => return Ok((child, log)),
            Ok(_) => {}
            Err(_) => {
                // Exited, or not ready in time: either way, make sure it is
                // gone before reporting.
                let _ = child.kill();
                let _ = child.wait();
                let text = log.lock().unwrap().join("\n");
                if text.contains("Address already in use") {
                    return Err(LaunchError::PortTaken);
                }
                return Err(LaunchError::Failed(text));
            }
        }
    }
}

/// Encodes everything but RFC 3986's unreserved characters.
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
