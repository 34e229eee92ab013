//! # `pipeline`: many messages in flight on one connection
//!
//! With one message in flight (`rtt`) every message pays a full wake-up on
//! each side. With W in flight, a server that reads whatever has arrived
//! and writes all its answers at once pays one `read`, one `write` and one
//! wake-up per *batch*, so small messages become cheap; and large messages
//! stop being about system calls at all and become about copying bytes
//! (kernel to user, unmasking, user to kernel). This scenario measures
//! both, at 64 B, 16 KiB (text) and 1 MiB (binary).
//!
//! A WebSocket is full duplex, and so is this client: one thread writes,
//! another reads, on the same connection. They share a *window* of W
//! credits: the writer spends one per message, the reader returns one per
//! echo. Without the window the writer could run arbitrarily far ahead;
//! with a single thread doing both, a large message could deadlock (each
//! side blocked writing, neither reading). The reader signals the writer
//! only when the window goes from empty to non-empty, the same "wake only
//! on the transition" trick a good server outbox uses.

use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use duplex::client::RandomSource;
use duplex::websocket::frame::MAX_HEADER_LEN;
use duplex::websocket::Opcode;

use crate::options::{size_name, Options};
use crate::procfs::{thread_cpu_ns, Cost, Noise, Snapshot};
use crate::report::{self, Figures, Grain};
use crate::rtt::{ws_client, STALL};
use crate::stats::{fmt, ResultLine};
use crate::target::Target;
use crate::wire::{masked_frame, EchoReader};
use crate::yardstick;

/// The writer puts up to this many bytes of frames into one `write`: small
/// messages leave in batches, as a real pipelining client would send them.
const BATCH_BYTES: usize = 256 * 1024;

/// Sizes below this are sent as text (and UTF-8 checked on both sides);
/// from it up, as binary, as the scenarios ask.
const BINARY_FROM: usize = 1024 * 1024;

/// The credits shared by writer and reader.
struct Window {
    credits: Mutex<usize>,
    returned: Condvar,
    stop: AtomicBool,
}

/// One server measured in a pipeline run: duplex, a rival WebSocket echo
/// server (`--rival`), or the raw TCP yardstick.
struct Side {
    label: String,
    target: Target,
    websocket: bool,
}

pub fn run(options: &Options, ws: bool, tcp: bool) -> Result<(), String> {
    let sizes = options.sizes.clone().unwrap_or_else(|| vec![64, 16 * 1024, 1024 * 1024]);
    let mut sides = Vec::new();
    if ws {
        sides.push(Side { label: "ws".into(), target: Target::duplex(options)?, websocket: true });
        for (name, command) in &options.rivals {
            let target = Target::rival(command, options)?;
            sides.push(Side { label: name.clone(), target, websocket: true });
        }
    }
    if tcp {
        let target = Target::yardstick(options)?;
        sides.push(Side { label: "tcp".into(), target, websocket: false });
    }
    let window = options.window;
    let servers: Vec<u32> = sides.iter().filter_map(|side| side.target.pid()).collect();
    for &size in &sizes {
        let noise = Noise::start(&servers);
        // Default: 512 MiB of payload or 200,000 messages, whichever is less.
        let messages = options.messages.unwrap_or((512 * 1024 * 1024 / size).clamp(1, 200_000));
        let kind = if size >= BINARY_FROM { "binary" } else { "text" };
        println!(
            "pipeline: {messages} {kind} messages of {} B, {window} in flight, {} run(s)",
            size, options.runs
        );
        let mut runs: Vec<Vec<Figures>> = sides.iter().map(|_| Vec::new()).collect();
        for round in 1..=options.runs {
            let mut line = format!("  run {round}:");
            // Interleaved, and in a different order each round, so that a
            // burst of load from elsewhere on the machine is shared out.
            for turn in 0..sides.len() {
                let index = (turn + round - 1) % sides.len();
                let side = &sides[index];
                let (stream, framing) = connect(side, size)?;
                let server = side.target.pid();
                let run = measure(stream, framing, server, size, messages, window, options)?;
                line += &format!(" | {} {}", side.label, run.brief());
                runs[index].push(run);
            }
            if runs.len() > 1 && ws {
                line += &format!(" | ws/{} {}", sides[1].label, fmt(ratio_of_last(&runs)));
            }
            println!("{line}");
        }
        let mut result = ResultLine::new(if ws { "pipeline" } else { "tcp-pipeline" });
        result.add("size", size_name(size)).add("kind", kind).add("window", window);
        result.add("messages", messages).add("runs", options.runs);
        for (side, side_runs) in sides.iter().zip(&runs) {
            report::summarize(&side.label, side_runs, &mut result);
        }
        if ws {
            for (side, side_runs) in sides.iter().zip(&runs).skip(1) {
                report::ratio(&side.label, &runs[0], side_runs, |run| run.mbps, &mut result);
            }
        }
        result.noise(&noise, &servers).print();
    }
    Ok(())
}

/// duplex's last figure over the next side's.
fn ratio_of_last(runs: &[Vec<Figures>]) -> f64 {
    match (runs[0].last(), runs[1].last()) {
        (Some(ws), Some(other)) => ws.mbps / other.mbps,
        _ => f64::NAN,
    }
}

/// A fresh connection to one side, ready for [`measure`]: its socket,
/// and for WebSocket the opcode every frame carries.
fn connect(side: &Side, size: usize) -> Result<(TcpStream, Option<Opcode>), String> {
    let opcode = if size >= BINARY_FROM { Opcode::Binary } else { Opcode::Text };
    if side.websocket {
        // The handshake is the library's; after it, `EchoReader` and the
        // writer work on the socket directly (`wire.rs` says why).
        let client = ws_client(&side.target.url("/echo"))?;
        Ok((client.tcp().try_clone().map_err(|e| e.to_string())?, Some(opcode)))
    } else {
        let stream = yardstick::connect(side.target.addr, STALL).map_err(|e| e.to_string())?;
        Ok((stream, None))
    }
}

/// The message of a given size: printable ASCII (valid text), varied so a
/// misplaced byte would show.
fn payload(size: usize) -> Vec<u8> {
    (0..size).map(|i| b'a' + (i % 26) as u8).collect()
}

/// Sends `messages` with at most `window` in flight and reads every echo;
/// stops early at the time limit or at the first error.
fn measure(
    stream: TcpStream,
    framing: Option<Opcode>,
    server: Option<u32>,
    size: usize,
    messages: usize,
    window: usize,
    options: &Options,
) -> Result<Figures, String> {
    let (time, message) = (options.time, payload(size));
    // The writer's own handle on the socket: a second file descriptor,
    // harmless for one connection.
    let writer_stream = stream.try_clone().map_err(|e| e.to_string())?;
    let framer = match framing {
        Some(opcode) => {
            let random = RandomSource::open().map_err(|e| e.to_string())?;
            Framer::WebSocket { opcode, payload: message.clone(), random }
        }
        None => Framer::Tcp { payload: message.clone() },
    };
    let mut reader = EchoReader::new(stream, message, framing, options.compare_every);
    let window_state = Window {
        credits: Mutex::new(window),
        returned: Condvar::new(),
        stop: AtomicBool::new(false),
    };
    let deadline = Instant::now() + time;
    let before = server.and_then(|pid| Snapshot::read(pid, true).ok());
    let start = Instant::now();
    let reader_cpu = thread_cpu_ns();
    let (received, client_cpu_ns, writes, error) = thread::scope(|scope| {
        let writer =
            scope.spawn(|| write_all(writer_stream, framer, &window_state, size, messages));
        let mut received = 0;
        let mut error = None;
        while received < messages {
            // The clock is read once per 64 echoes, not per echo: at 64 B
            // a clock read per message would be a visible part of the cost.
            if received % 64 == 0 && Instant::now() >= deadline {
                break;
            }
            if let Err(e) = reader.next_echo() {
                error = Some(e);
                break;
            }
            received += 1;
            let mut credits = window_state.credits.lock().unwrap_or_else(|e| e.into_inner());
            *credits += 1;
            if *credits == 1 {
                window_state.returned.notify_one();
            }
        }
        // Stop the writer: wake it if it waits for credits, and shut the
        // socket if it is blocked in a write the server will never drain.
        window_state.stop.store(true, Ordering::Release);
        window_state.returned.notify_one();
        if received < messages {
            reader.shutdown();
        }
        let reader_cpu = thread_cpu_ns().saturating_sub(reader_cpu);
        let (writer_cpu, writes, writer_error) =
            writer.join().unwrap_or((0, 0, Some("the writer panicked".to_string())));
        (received, reader_cpu + writer_cpu, writes, error.or(writer_error))
    });
    let seconds = start.elapsed().as_secs_f64();
    let after = server.and_then(|pid| Snapshot::read(pid, true).ok());
    let cost = match (before, after) {
        (Some(before), Some(after)) => Cost::per(&after.since(&before), received as u64),
        _ => Cost::unknown(),
    };
    let error = error.or_else(|| {
        (received < messages).then(|| format!("time limit: {received} of {messages} echoed"))
    });
    let rate = received as f64 / seconds;
    let client = Cost::cpu(client_cpu_ns, received as u64);
    let (mbps, errors) = (rate * size as f64 / 1e6, error.into_iter().collect());
    let grain = Grain {
        echoes_per_read: received as f64 / reader.reads().max(1) as f64,
        messages_per_write: received as f64 / writes.max(1) as f64,
    };
    let (p50, p99) = (f64::NAN, f64::NAN);
    Ok(Figures { rate, mbps, p50, p99, server: cost, client, grain: Some(grain), errors })
}

/// How the writer turns the message into bytes on the wire.
enum Framer {
    /// A masked client frame, with a fresh key each time.
    WebSocket { opcode: Opcode, payload: Vec<u8>, random: RandomSource },
    /// Raw TCP: the bytes themselves.
    Tcp { payload: Vec<u8> },
}

impl Framer {
    /// Appends the next message to `out`.
    fn frame(&mut self, out: &mut Vec<u8>) {
        match self {
            Framer::WebSocket { opcode, payload, random } => {
                masked_frame(out, *opcode, payload, random)
            }
            Framer::Tcp { payload } => out.extend_from_slice(payload),
        }
    }
}

/// The writer thread: the CPU time it used, and how many writes it made.
fn write_all(
    stream: TcpStream,
    framer: Framer,
    window: &Window,
    size: usize,
    messages: usize,
) -> (u64, usize, Option<String>) {
    let start = thread_cpu_ns();
    let mut writes = 0;
    let error = write_batches(stream, framer, window, size, messages, &mut writes);
    (thread_cpu_ns().saturating_sub(start), writes, error)
}

/// Waits for credits, frames that many messages into one buffer and writes
/// it in one go. The buffer is allocated once and refilled for each batch.
fn write_batches(
    mut stream: TcpStream,
    mut framer: Framer,
    window: &Window,
    size: usize,
    messages: usize,
    writes: &mut usize,
) -> Option<String> {
    let per_batch = (BATCH_BYTES / size.max(1)).max(1);
    let mut batch = Vec::with_capacity(per_batch * (size + MAX_HEADER_LEN));
    let mut sent = 0;
    while sent < messages {
        let mut credits = window.credits.lock().unwrap_or_else(|e| e.into_inner());
        while *credits == 0 && !window.stop.load(Ordering::Acquire) {
            let wait = window.returned.wait_timeout(credits, Duration::from_millis(100));
            credits = wait.unwrap_or_else(|e| e.into_inner()).0;
        }
        if window.stop.load(Ordering::Acquire) {
            return None;
        }
        let count = (*credits).min(messages - sent).min(per_batch);
        *credits -= count;
        drop(credits);
        batch.clear();
        for _ in 0..count {
            framer.frame(&mut batch);
        }
        if let Err(error) = stream.write_all(&batch) {
            return Some(format!("write: {error}"));
        }
        *writes += 1;
        sent += count;
    }
    None
}
