//! # The server: a thread per connection
//!
//! This is where duplex owns its sockets and threads (the others: each
//! chat member's writer thread, `src/chat/member.rs`, and with `--redis`
//! the two threads that talk to Redis, `src/redis/bus/`). Its design is the
//! simplest one that works: an accept loop, and for every
//! connection a thread of its own that reads a request, answers it, and
//! blocks whenever it waits. No event loop, no futures, no callbacks; the
//! operating system's scheduler does the multiplexing.
//!
//! The usual objection is cost, and the answers are in the numbers:
//! - memory: a thread's stack is reserved address space, touched only as
//!   deep as the code goes; we ask for a small one (`Limits::thread_stack`);
//! - file descriptors: one per connection, because reader and writer share
//!   one socket through an `Arc` (see `stream.rs`);
//! - a cap (`Limits::max_connections`): past it a new connection gets
//!   `503 Service Unavailable` and is closed, so a flood cannot push the
//!   process into the operating system's limits and crash it.
//!
//! Connection management is RFC 9112 §9; the cap's `503` and `Retry-After`
//! are RFC 9110 §15.6.4 and §10.2.3.
//!
//! It is also where the HTTP push layer's feed (`src/push/`) is plugged
//! into the chat room, when that Cargo feature is built. The server names
//! nothing of Redis: with `--redis`, `main.rs` shares the room through it
//! (`src/redis/bus/`) between [`Server::bind`] and [`Server::serve`].
//!
//! Read next: `src/server/session.rs`, what one connection's thread does.

pub mod session;
pub mod shared;
pub mod stream;

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

pub use self::shared::Shared;
use crate::chat::Room;
use crate::config::Config;
use crate::http::{Response, Status};
use crate::log;
#[cfg(feature = "push")]
use crate::push::Feed;
use crate::threads;
use crate::websocket::handshake::Policy;

/// A listening server, bound but not yet serving.
pub struct Server {
    listener: TcpListener,
    /// What every connection shares; a layer started before
    /// [`serve`](Self::serve) plugs into its room (`main.rs`).
    pub shared: Arc<Shared>,
}

impl Server {
    /// Binds the listening socket. With port 0 the operating system picks
    /// a free port; [`local_addr`](Self::local_addr) tells which.
    pub fn bind(config: Config) -> io::Result<Server> {
        let listener = TcpListener::bind(config.addr)?;
        let echo_policy = Policy {
            allowed_origins: config.allowed_origins.clone(),
            subprotocols: vec![],
            deflate: config.deflate,
        };
        // The chat speaks no subprotocol (docs/protocol.md §1), whatever
        // `/echo` does.
        let chat_policy = Policy { subprotocols: vec![], ..echo_policy.clone() };
        let chat = Arc::new(Room::new("main", &config.limits));
        let shared = Shared {
            #[cfg(feature = "push")]
            feed: Feed::attach(&chat, &config.limits),
            config,
            echo_policy,
            chat_policy,
            active: AtomicUsize::new(0),
            chat,
        };
        let shared = Arc::new(shared);
        Ok(Server { listener, shared })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Prints the one line scripts wait for, then accepts connections
    /// forever, one thread each.
    pub fn serve(self) -> io::Result<()> {
        let mut stdout = io::stdout().lock();
        writeln!(stdout, "listening on http://{}", self.local_addr()?)?;
        stdout.flush()?;
        drop(stdout);
        let budget = threads::process_budget().limit();
        log!("thread budget: {budget} threads (from vm.max_map_count)");
        let mut next_id: u64 = 1;
        for incoming in self.listener.incoming() {
            match incoming {
                Ok(stream) => {
                    start_connection(stream, next_id, &self.shared);
                    next_id += 1;
                }
                Err(error) => {
                    log!("accept failed: {error}");
                    // Out of file descriptors (EMFILE) fails every accept at
                    // once; pause instead of spinning on the error.
                    thread::sleep(Duration::from_millis(50));
                }
            }
        }
        Ok(())
    }
}

/// Counts a connection while it lives; dropping it frees the place.
struct Slot(Arc<Shared>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::AcqRel);
    }
}

fn take_slot(shared: &Arc<Shared>) -> Option<Slot> {
    let before = shared.active.fetch_add(1, Ordering::AcqRel);
    if before >= shared.config.limits.max_connections {
        shared.active.fetch_sub(1, Ordering::AcqRel);
        return None;
    }
    Some(Slot(Arc::clone(shared)))
}

fn start_connection(stream: TcpStream, id: u64, shared: &Arc<Shared>) {
    let Some(slot) = take_slot(shared) else {
        let cap = shared.config.limits.max_connections;
        refuse_over_capacity(stream, &format!("{cap} connections already open"));
        return;
    };
    // Threads are counted too (`src/threads.rs`): the operating system's
    // mapping limit caps them, and a chat member needs two.
    let Some(permit) = threads::process_budget().try_acquire() else {
        let limit = threads::process_budget().limit();
        refuse_over_capacity(stream, &format!("all {limit} threads of the budget in use"));
        return;
    };
    let shared = Arc::clone(shared);
    let stack = shared.config.limits.thread_stack;
    let spawned = threads::spawn_with(permit, format!("conn-{id}"), stack, move || {
        let ending = session::serve(stream, &shared);
        // Free the place first, so that whoever reads this line knows the
        // server will accept one more connection.
        drop(slot);
        log!("closed: {ending}");
    });
    if let Err(error) = spawned {
        // The closure, and with it the stream, is dropped: the client sees
        // its connection closed, and the server goes on.
        log!("conn-{id}: could not start a thread: {error}");
    }
}

/// Answers `503` on the accept thread itself, which must never block: the
/// response is tiny, so it fits the socket's send buffer, and the write
/// timeout bounds the rest.
fn refuse_over_capacity(stream: TcpStream, why: &str) {
    log!("refused a connection: {why} (503)");
    let _ = stream.set_write_timeout(Some(Duration::from_millis(200)));
    let response = Response::error(Status::SERVICE_UNAVAILABLE, "too many connections")
        .header("Retry-After", "1");
    let mut writer = &stream;
    let _ = response.write_to(&mut writer, false, true);
    // Read what the client has already sent, without waiting, so closing
    // does not turn into a reset that could destroy the 503 in flight.
    if stream.set_nonblocking(true).is_ok() {
        let mut sink = [0u8; 4096];
        while let Ok(n) = (&stream).read(&mut sink) {
            if n == 0 {
                break;
            }
        }
    }
    let _ = stream.shutdown(std::net::Shutdown::Both);
}
