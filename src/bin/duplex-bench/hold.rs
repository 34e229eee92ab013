//! # `hold`: what an idle connection costs
//!
//! Most WebSocket connections are idle most of the time: a chat tab open in
//! the background. Thread per connection pays for each one with a thread
//! (its stack, its kernel task) and whatever buffers it holds while it
//! sleeps in `read`. This scenario opens K connections, lets them sit, and
//! reads the server's `VmRSS` and `Threads` from `/proc/PID/status` before
//! and after: the difference, divided by K, is the price of one connection.
//!
//! The connections live on a few threads here (see `mux.rs`): idle
//! connections need no thread each, and this machine could not give them
//! one anyway. Each thread opens its share, and keeps reading whatever the
//! server sends, so that chat members are never "too slow".
//!
//! For `/chat`, joining is not free: every join is announced to everyone
//! already there, so K members cost K²/2 deliveries (50 million for
//! 10,000). Once all have joined, one member says a line, and the scenario
//! waits until every member has received it: the promise that "a broadcast
//! still reaches all of them", and, because every member receives events
//! in order, proof that the whole storm of joins was delivered too.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use duplex::client::RandomSource;
use duplex::websocket::{Message, Opcode};

use crate::mux::MuxClient;
use crate::options::Options;
use crate::procfs::{process_cpu_seconds, Noise, Snapshot};
use crate::stats::{fmt, ResultLine};
use crate::target::Target;

/// Threads that open and then read the connections.
const SWEEPERS: usize = 4;

/// Time for the server to finish the work each connection started (log
/// lines, first reads) before its memory is read.
const SETTLE: Duration = Duration::from_secs(1);

/// Shortest nap between two sweeps. Reading a socket costs two system
/// calls (the data, then `WouldBlock`) however little has arrived, so
/// while a storm of join events is under way the sweepers let a few
/// milliseconds of it pile up per socket. Nobody here is waiting for a
/// reply, so the delay costs nothing.
const MIN_NAP: Duration = Duration::from_millis(20);

/// Longest nap of a sweeper that found nothing to read: idle connections
/// cost no CPU worth mentioning, busy ones are read at once.
const MAX_NAP: Duration = Duration::from_millis(50);

/// What the sweepers and the main thread share.
#[derive(Default)]
struct Board {
    opened: AtomicUsize,
    failed: AtomicUsize,
    /// Connections that ended while held (the server closed them).
    ended: AtomicUsize,
    /// Chat members that have received their `welcome`: they are in the
    /// room. (A finished handshake is not enough: the server adds the
    /// member to the room just after it.)
    welcomed: AtomicUsize,
    /// Members that have received the check broadcast.
    reached: AtomicUsize,
    /// The check line; set once, when everyone has joined.
    marker: OnceLock<String>,
    /// Asks sweeper 0 to say the marker through its first connection.
    say_marker: AtomicBool,
    stop: AtomicBool,
    first_error: Mutex<Option<String>>,
}

impl Board {
    fn error(&self, error: String) {
        let mut first = self.first_error.lock().unwrap_or_else(|e| e.into_inner());
        first.get_or_insert(error);
    }
}

pub fn run(options: &Options) -> Result<(), String> {
    let server = Target::duplex(options)?;
    let pid = server.pid().ok_or("hold reads the server's /proc: start it here, not --addr")?;
    let deadline = Instant::now() + options.time;
    let wanted = options.connections;
    let chat = options.path.starts_with("/chat");
    println!("hold: {wanted} connections to {}, at most {:?}", options.path, options.time);
    thread::sleep(SETTLE);
    let before = Snapshot::read(pid, false).map_err(|e| format!("/proc/{pid}: {e}"))?;
    let noise = Noise::start(&[pid]);

    let board = Arc::new(Board::default());
    let (server_cpu, own_cpu) = (process_cpu_seconds(pid), process_cpu_seconds(std::process::id()));
    let started = Instant::now();
    let sweepers: Vec<_> = (0..SWEEPERS)
        .map(|i| {
            let count = wanted / SWEEPERS + usize::from(i < wanted % SWEEPERS);
            let (board, addr, path) = (Arc::clone(&board), server.addr, options.path.clone());
            let offer = options.offer.clone();
            thread::spawn(move || sweep(i, count, addr, &path, offer.as_deref(), &board, deadline))
        })
        .collect();
    let settled = |board: &Board| {
        board.opened.load(Ordering::Acquire) + board.failed.load(Ordering::Acquire) >= wanted
    };
    while !settled(&board) && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    let open_seconds = started.elapsed().as_secs_f64();
    let held = board.opened.load(Ordering::Acquire);
    let mut welcomed_seconds = f64::NAN;

    let mut broadcast_seconds = f64::NAN;
    if chat {
        let waiting = |board: &Board| {
            let alive = held.saturating_sub(board.ended.load(Ordering::Acquire));
            alive > 0 && board.welcomed.load(Ordering::Acquire) < alive
        };
        while waiting(&board) && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(10));
        }
        welcomed_seconds = started.elapsed().as_secs_f64();
        let _ = board.marker.set(format!("hold check {}", started.elapsed().as_nanos()));
        board.say_marker.store(true, Ordering::Release);
        let all_reached = |board: &Board| {
            let alive = held.saturating_sub(board.ended.load(Ordering::Acquire));
            board.reached.load(Ordering::Acquire) >= alive
        };
        while !all_reached(&board) && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(10));
        }
        // Events arrive in order, so when the line has reached everyone,
        // so has every join before it: this is when the storm is over.
        broadcast_seconds = started.elapsed().as_secs_f64();
    }
    let server_cpu = process_cpu_seconds(pid) - server_cpu;
    let own_cpu = process_cpu_seconds(std::process::id()) - own_cpu;
    thread::sleep(SETTLE);
    let after = Snapshot::read(pid, false).map_err(|e| format!("/proc/{pid}: {e}"))?;
    board.stop.store(true, Ordering::Release);
    for sweeper in sweepers {
        let _ = sweeper.join();
    }

    let (failed, ended) =
        (board.failed.load(Ordering::Acquire), board.ended.load(Ordering::Acquire));
    let reached = board.reached.load(Ordering::Acquire);
    let grown = after.since(&before);
    let per = held.max(1) as f64;
    println!(
        "  held {held} of {wanted} in {} s ({failed} failed, {ended} ended while held)",
        fmt(open_seconds)
    );
    if chat {
        let welcomed = board.welcomed.load(Ordering::Acquire);
        println!("  {welcomed} of {held} welcomed into the room after {} s", fmt(welcomed_seconds));
        println!(
            "  a line said then reached {reached} of {held}, {} s after the start",
            fmt(broadcast_seconds)
        );
    }
    println!("  CPU until then: server {} s, this program {} s", fmt(server_cpu), fmt(own_cpu));
    println!(
        "  server: RSS {} -> {} KiB (peak {} KiB), threads {} -> {}",
        before.rss_kib, after.rss_kib, after.peak_rss_kib, before.threads, after.threads
    );
    println!(
        "  per connection: {} KiB RSS (peak {} KiB), {} threads",
        fmt(grown.rss_kib as f64 / per),
        fmt(after.peak_rss_kib.saturating_sub(before.rss_kib) as f64 / per),
        fmt(grown.threads as f64 / per)
    );
    // A process that has died but not been waited for is a zombie: still
    // listed, with no memory. That is how a crash shows here.
    let alive = after.rss_kib > 0;
    if !alive {
        println!("  THE SERVER IS GONE: it died while holding the connections (see --server-log)");
    }
    if let Some(error) = board.first_error.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
        println!("  first error: {error}");
    }
    let mut result = ResultLine::new("hold");
    result.add("path", &options.path).add("connections", wanted).add("held", held);
    result
        .add("server_alive", alive)
        .add("failed", failed)
        .add("ended", ended)
        .num("open_s", open_seconds);
    if chat {
        result.add("welcomed", board.welcomed.load(Ordering::Acquire));
        result.num("welcomed_s", welcomed_seconds);
        result.add("reached", reached).num("reached_s", broadcast_seconds);
    }
    result.num("server_cpu_s", server_cpu).num("client_cpu_s", own_cpu);
    result.add("rss_before_kib", before.rss_kib).add("rss_after_kib", after.rss_kib);
    result.add("rss_peak_kib", after.peak_rss_kib);
    result.add("threads_before", before.threads).add("threads_after", after.threads);
    result.num("rss_kib_per_conn", grown.rss_kib as f64 / per);
    result.num("peak_kib_per_conn", after.peak_rss_kib.saturating_sub(before.rss_kib) as f64 / per);
    result.num("threads_per_conn", grown.threads as f64 / per);
    result.noise(&noise, &[pid]).print();
    Ok(())
}

/// Where one connection is.
#[derive(Default)]
struct Progress {
    welcomed: bool,
    reached: bool,
}

/// One sweeper: opens `count` connections, reading the ones already open
/// every few connections, then keeps reading them all until told to stop.
fn sweep(
    index: usize,
    count: usize,
    addr: std::net::SocketAddr,
    path: &str,
    offer: Option<&str>,
    board: &Board,
    deadline: Instant,
) {
    let mut random = match RandomSource::open() {
        Ok(random) => random,
        Err(error) => {
            board.error(format!("/dev/urandom: {error}"));
            board.failed.fetch_add(count, Ordering::AcqRel);
            return;
        }
    };
    let mut members: Vec<(MuxClient, Progress)> = Vec::with_capacity(count);
    let mut scratch = vec![0u8; 64 * 1024];
    let mut nap = Duration::ZERO;
    let mut to_open = count;
    while !board.stop.load(Ordering::Acquire) {
        // Open a few, then read everyone: joins keep arriving meanwhile.
        for _ in 0..to_open.min(16) {
            to_open -= 1;
            if Instant::now() >= deadline {
                board.failed.fetch_add(1, Ordering::AcqRel);
                board.error("time limit reached while connecting".to_string());
                continue;
            }
            let timeout = Duration::from_secs(10);
            match MuxClient::connect(addr, path, offer, &mut random, timeout) {
                Ok(client) => {
                    members.push((client, Progress::default()));
                    board.opened.fetch_add(1, Ordering::AcqRel);
                }
                Err(error) => {
                    board.failed.fetch_add(1, Ordering::AcqRel);
                    board.error(error);
                }
            }
        }
        if index == 0 && board.say_marker.swap(false, Ordering::AcqRel) {
            let said = match (members.first(), board.marker.get()) {
                (Some((client, _)), Some(marker)) => {
                    client.send(Opcode::Text, marker.as_bytes(), &mut random).is_ok()
                }
                _ => false,
            };
            if !said {
                board.error("could not say the check line".to_string());
            }
        }
        let read = read_all(&mut members, &mut scratch, &mut random, board);
        // Nap between sweeps, even when there was something to read: the
        // bytes that pile up meanwhile are then read with one system call
        // per connection instead of one per event. (The server's outbox
        // does the same for its writes.) While connecting, no nap.
        if to_open > 0 {
            nap = Duration::ZERO;
        } else if read > 0 {
            nap = MIN_NAP;
            thread::sleep(nap);
        } else {
            nap = (nap * 2).clamp(MIN_NAP, MAX_NAP);
            thread::sleep(nap);
        }
    }
}

/// Reads every connection once; drops the ones that ended. Returns the
/// bytes read.
fn read_all(
    members: &mut Vec<(MuxClient, Progress)>,
    scratch: &mut [u8],
    random: &mut RandomSource,
    board: &Board,
) -> usize {
    let marker = board.marker.get();
    let mut total = 0;
    members.retain_mut(|(client, progress)| {
        let polled = client.poll(scratch, random, |message| {
            let Message::Text(text) = message else { return };
            if !progress.welcomed && text.starts_with("{\"type\":\"welcome\"") {
                progress.welcomed = true;
                board.welcomed.fetch_add(1, Ordering::AcqRel);
            }
            if !progress.reached && marker.is_some_and(|marker| text.contains(marker.as_str())) {
                progress.reached = true;
                board.reached.fetch_add(1, Ordering::AcqRel);
            }
        });
        match polled {
            Ok(bytes) => {
                total += bytes;
                true
            }
            Err(error) => {
                board.ended.fetch_add(1, Ordering::AcqRel);
                board.error(format!("a held connection ended: {error}"));
                false
            }
        }
    });
    total
}
