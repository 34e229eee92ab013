//! # The yardstick: a plain TCP echo server, and its clients
//!
//! To say whether a WebSocket server is fast, compare it with the fastest
//! thing that does the same job on the same machine: echoing bytes over
//! TCP with no protocol at all. This server is built exactly like duplex
//! (a thread per connection with the same small stack, `TCP_NODELAY`, a
//! read buffer of the size duplex reads through, 8 KiB by default) and
//! does the least any echo can do: one `read`, one `write` of what was
//! read, repeat. Whatever duplex spends beyond this is the price of
//! WebSocket and of duplex's own code; whatever both spend is the price of
//! the kernel: system calls, loopback TCP, and waking a sleeping thread.
//!
//! It runs as its own process (`duplex-bench tcp-echo-server`), started
//! and pinned the same way as duplex, so that the two are measured alike.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use duplex::config::Limits;

use crate::options::Options;

/// Serves forever (until the parent kills us).
pub fn serve(options: &Options) -> Result<(), String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    // The line `Target` waits for; println! flushes at the newline only
    // when stdout is a terminal, so flush by hand.
    let mut stdout = io::stdout().lock();
    writeln!(stdout, "listening on tcp://{addr}").and_then(|()| stdout.flush()).map_err(|e| {
        format!("stdout: {e}") // the parent went away
    })?;
    drop(stdout);
    let buffer = options.tcp_buffer;
    let stack = Limits::default().thread_stack;
    for incoming in listener.incoming() {
        match incoming {
            Ok(stream) => {
                let spawned =
                    thread::Builder::new().stack_size(stack).spawn(move || echo(stream, buffer));
                if let Err(error) = spawned {
                    eprintln!("tcp-echo-server: no thread for a connection: {error}");
                }
            }
            Err(error) => {
                eprintln!("tcp-echo-server: accept: {error}");
                thread::sleep(Duration::from_millis(50));
            }
        }
    }
    Ok(())
}

/// One `read`, one `write`: the least work an echo can do. The buffer is
/// zeroed once, when the connection starts, and never again.
fn echo(stream: TcpStream, buffer_size: usize) {
    let _ = stream.set_nodelay(true);
    let mut buffer = vec![0u8; buffer_size];
    loop {
        match (&stream).read(&mut buffer) {
            Ok(0) => return,
            Ok(n) => {
                if (&stream).write_all(&buffer[..n]).is_err() {
                    return;
                }
            }
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

/// A client connection to the yardstick, set up like a WebSocket client's:
/// `TCP_NODELAY`, and a bound on how long a read or write may block.
pub fn connect(addr: SocketAddr, stall: Duration) -> io::Result<TcpStream> {
    let stream = TcpStream::connect_timeout(&addr, stall)?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(stall))?;
    stream.set_write_timeout(Some(stall))?;
    Ok(stream)
}
