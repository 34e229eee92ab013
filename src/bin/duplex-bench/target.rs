//! # The server under test, in a process of its own
//!
//! The server runs as a separate process, never as threads of the load
//! generator: then its memory and CPU time can be read from `/proc/PID/`
//! without the generator's own mixed in, each process has its own limit
//! of open files, and with `--server-cpu` the server can be pinned to one
//! core (`taskset -c`) while the load runs on the other.
//!
//! Both servers, `duplex` and the raw TCP yardstick, print one line when
//! they are ready, `listening on SCHEME://ADDR`; waiting for that line (with
//! a timeout) is how we know the port is open, with no sleeping and hoping.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use crate::options::Options;

/// How long a server may take to print its address.
const STARTUP: Duration = Duration::from_secs(10);

/// A server process (killed when dropped), or one we were pointed at.
pub struct Target {
    pub addr: SocketAddr,
    child: Option<Child>,
    /// Kept open: closing it would hand the server a broken pipe.
    _stdout: Option<ChildStdout>,
}

impl Target {
    /// The `duplex` under test: `--addr` if given, else a fresh process.
    pub fn duplex(options: &Options) -> Result<Target, String> {
        if let Some(addr) = options.addr {
            return Ok(Target { addr, child: None, _stdout: None });
        }
        let program = match &options.server_bin {
            Some(path) => path.clone(),
            None => default_server_bin(),
        };
        let mut args = vec!["--addr".to_string(), "127.0.0.1:0".to_string()];
        args.extend(options.server_args.iter().cloned());
        Target::spawn(program, &args, options)
    }

    /// The raw TCP echo server: this same program, `tcp-echo-server`.
    pub fn yardstick(options: &Options) -> Result<Target, String> {
        let program = std::env::current_exe().map_err(|e| format!("own path: {e}"))?;
        let args = ["tcp-echo-server".to_string(), format!("--tcp-buffer={}", options.tcp_buffer)];
        Target::spawn(program, &args, options)
    }

    /// Another WebSocket echo server (`--rival`), started from its command.
    pub fn rival(command: &[String], options: &Options) -> Result<Target, String> {
        let (program, args) = command.split_first().ok_or("an empty --rival command")?;
        Target::spawn(PathBuf::from(program), args, options)
    }

    fn spawn(program: PathBuf, args: &[String], options: &Options) -> Result<Target, String> {
        // `taskset -c CPUS PROGRAM ARGS` sets the affinity and then *execs*
        // the program, so the child's PID is the server's own.
        let mut command = match &options.server_cpu {
            Some(cpus) => {
                let mut command = Command::new("taskset");
                command.arg("-c").arg(cpus).arg(&program);
                command
            }
            None => Command::new(&program),
        };
        command.args(args).stdin(Stdio::null()).stdout(Stdio::piped());
        // The server logs a line per connection; nobody reads a pipe here,
        // and a full pipe would block the server, so the log goes to a file
        // or nowhere.
        match &options.server_log {
            Some(path) => {
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                command.stderr(file);
            }
            None => {
                command.stderr(Stdio::null());
            }
        }
        let mut child = command.spawn().map_err(|e| format!("start {}: {e}", program.display()))?;
        let Some(stdout) = child.stdout.take() else {
            let _ = child.kill();
            return Err("server stdout was not captured".to_string());
        };
        match read_address(stdout) {
            Ok((addr, stdout)) => {
                // The PID is printed for whoever wants to watch the server
                // while it runs (`top -H -p PID`, `perf record -p PID`).
                let name = program.file_name().unwrap_or_default().to_string_lossy();
                println!("  [{name} pid {} on {addr}]", child.id());
                Ok(Target { addr, child: Some(child), _stdout: Some(stdout) })
            }
            Err(error) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(format!("{}: {error}", program.display()))
            }
        }
    }

    /// The server's PID, when we started it (and so may read its `/proc`).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// `ws://ADDR/path`.
    pub fn url(&self, path: &str) -> String {
        format!("ws://{}{path}", self.addr)
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `target/release/duplex`, next to this program when both were built by
/// `cargo build --release`.
fn default_server_bin() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("duplex")))
        .filter(|path| path.exists())
        .unwrap_or_else(|| PathBuf::from("target/release/duplex"))
}

/// Waits for `listening on SCHEME://ADDR` on the server's stdout. The read
/// happens on a helper thread so that the wait can time out.
fn read_address(stdout: ChildStdout) -> Result<(SocketAddr, ChildStdout), String> {
    let (sender, receiver) = mpsc::channel();
    thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let result = reader.read_line(&mut line).map(|_| line);
        // The reader's buffer holds nothing more: the server prints one line.
        let _ = sender.send((result, reader.into_inner()));
    });
    let (line, stdout) = receiver
        .recv_timeout(STARTUP)
        .map_err(|_| format!("printed no address within {STARTUP:?}"))?;
    let line = line.map_err(|e| format!("reading its stdout: {e}"))?;
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .and_then(|url| url.split_once("://"))
        .and_then(|(_, addr)| addr.parse().ok())
        .ok_or_else(|| format!("unexpected first line {line:?}"))?;
    Ok((addr, stdout))
}
