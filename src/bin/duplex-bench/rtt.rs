//! # `rtt`: one message in flight, and the cost of a round trip
//!
//! Each of C clients sends a message, waits for its echo, and sends the
//! next, M times. With one message in flight nothing can be batched: every
//! round trip costs, on each side, a `write`, a `read`, and one thread
//! going to sleep and being woken up. So this scenario measures *latency*
//! and the fixed cost per message, and the raw-TCP yardstick beside it
//! shows how much of that cost is the kernel's and how much is WebSocket's
//! (framing, masking, the UTF-8 check) and duplex's.
//!
//! A round trip is timed from just before the send to just after the whole
//! echo has arrived and been checked; throughput is all the round trips of
//! all clients over the time from the common start to the last finish.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use duplex::client::Client;
use duplex::websocket::Message;

use crate::options::{size_name, Options};
use crate::procfs::{thread_cpu_ns, Cost, Noise, Snapshot};
use crate::report::{self, Figures};
use crate::stats::{fmt, ResultLine, Samples};
use crate::target::Target;
use crate::yardstick;

/// A read or write blocked longer than this means the peer is stuck: the
/// run stops and reports an error instead of hanging.
pub const STALL: Duration = Duration::from_secs(5);

/// Round trips done before timing starts: connections, caches and the
/// scheduler settle, and the first page faults are out of the way.
const WARM_UP: usize = 200;

/// One connection that can echo one message: WebSocket or raw TCP.
trait Echo: Send {
    fn round_trip(&mut self) -> Result<(), String>;
}

struct WsEcho {
    client: Client,
    message: Message,
}

impl Echo for WsEcho {
    fn round_trip(&mut self) -> Result<(), String> {
        self.client.send(&self.message).map_err(|e| format!("send: {e}"))?;
        match self.client.recv() {
            Ok(reply) if reply == self.message => Ok(()),
            Ok(_) => Err("the echo differs from the message".to_string()),
            Err(closed) => Err(format!("recv: {closed}")),
        }
    }
}

struct TcpEcho {
    stream: TcpStream,
    message: Vec<u8>,
    reply: Vec<u8>,
}

impl Echo for TcpEcho {
    fn round_trip(&mut self) -> Result<(), String> {
        self.stream.write_all(&self.message).map_err(|e| format!("write: {e}"))?;
        self.stream.read_exact(&mut self.reply).map_err(|e| format!("read: {e}"))?;
        if self.reply != self.message {
            return Err("the echo differs from the message".to_string());
        }
        Ok(())
    }
}

/// Opens a blocking WebSocket client, with every wait bounded by [`STALL`].
pub fn ws_client(url: &str) -> Result<Client, String> {
    let client = Client::connect(url).map_err(|e| format!("connect {url}: {e}"))?;
    client.set_read_timeout(Some(STALL)).map_err(|e| e.to_string())?;
    client.tcp().set_write_timeout(Some(STALL)).map_err(|e| e.to_string())?;
    Ok(client)
}

/// Runs `rtt` (or its raw-TCP half for `tcp`): `ws` and `tcp` say which
/// servers to measure; runs alternate between them, so each pair of figures
/// was taken under the same conditions.
pub fn run(options: &Options, ws: bool, tcp: bool) -> Result<(), String> {
    let size = options.sizes.as_ref().and_then(|s| s.first().copied()).unwrap_or(64);
    let messages = options.messages.unwrap_or(20_000);
    let clients = options.clients;
    let text = "x".repeat(size);
    let duplex = if ws { Some(Target::duplex(options)?) } else { None };
    let yard = if tcp { Some(Target::yardstick(options)?) } else { None };
    let servers: Vec<u32> = duplex.iter().chain(&yard).filter_map(Target::pid).collect();
    let noise = Noise::start(&servers);
    println!(
        "rtt: {clients} client(s) x {messages} round trips of {size} B, {} run(s), at most {:?} each",
        options.runs, options.time
    );
    let (mut ws_runs, mut tcp_runs) = (Vec::new(), Vec::new());
    for round in 1..=options.runs {
        let mut line = format!("  run {round}:");
        if let Some(server) = &duplex {
            let url = server.url("/echo");
            let connect = || -> Result<Box<dyn Echo>, String> {
                let message = Message::Text(text.clone());
                Ok(Box::new(WsEcho { client: ws_client(&url)?, message }))
            };
            let run = measure(&connect, server.pid(), clients, messages, options.time)?;
            line += &format!(" ws {}", run.brief());
            ws_runs.push(run);
        }
        if let Some(server) = &yard {
            let connect = || -> Result<Box<dyn Echo>, String> {
                let stream = yardstick::connect(server.addr, STALL).map_err(|e| e.to_string())?;
                Ok(Box::new(TcpEcho { stream, message: text.clone().into(), reply: vec![0; size] }))
            };
            let run = measure(&connect, server.pid(), clients, messages, options.time)?;
            line += &format!(" | tcp {}", run.brief());
            tcp_runs.push(run);
        }
        if let (Some(ws), Some(tcp)) = (ws_runs.last(), tcp_runs.last()) {
            line += &format!(" | ratio {}", fmt(ws.rate / tcp.rate));
        }
        println!("{line}");
    }
    let mut result = ResultLine::new(if ws { "rtt" } else { "tcp-rtt" });
    result.add("clients", clients).add("messages", messages).add("size", size_name(size));
    result.add("runs", options.runs);
    report::summarize("ws", &ws_runs, &mut result);
    report::summarize("tcp", &tcp_runs, &mut result);
    report::ratio("tcp", &ws_runs, &tcp_runs, |run| run.rate, &mut result);
    result.noise(&noise, &servers).print();
    Ok(())
}

/// Connects `clients` connections, warms them up, then lets them all go at
/// once; stops each at `messages` round trips or at the time limit.
fn measure(
    connect: &dyn Fn() -> Result<Box<dyn Echo>, String>,
    server: Option<u32>,
    clients: usize,
    messages: usize,
    time: Duration,
) -> Result<Figures, String> {
    let echoes = (0..clients).map(|_| connect()).collect::<Result<Vec<_>, _>>()?;
    // Two meeting points: `ready` when every client has warmed up (the
    // server's counters are read then), `go` to start the clock together.
    let ready = Arc::new(Barrier::new(clients + 1));
    let go = Arc::new(Barrier::new(clients + 1));
    let deadline = Instant::now() + time;
    let mut workers = Vec::new();
    for mut echo in echoes {
        let (ready, go) = (Arc::clone(&ready), Arc::clone(&go));
        workers.push(thread::spawn(move || {
            let mut error = (0..WARM_UP.min(messages)).find_map(|_| echo.round_trip().err());
            ready.wait();
            go.wait();
            let start = Instant::now();
            let cpu_start = thread_cpu_ns();
            let mut samples = Samples::with_capacity(messages);
            while error.is_none() && samples.len() < messages && Instant::now() < deadline {
                let sent = Instant::now();
                match echo.round_trip() {
                    Ok(()) => samples.push(sent.elapsed()),
                    Err(e) => error = Some(e),
                }
            }
            let cpu = thread_cpu_ns().saturating_sub(cpu_start);
            (samples, start, Instant::now(), cpu, error, echo)
        }));
    }
    ready.wait();
    let before = server.and_then(|pid| Snapshot::read(pid, true).ok());
    go.wait();
    let mut all = Samples::default();
    let (mut first, mut last, mut errors, mut open) = (None, None, Vec::new(), Vec::new());
    let mut client_cpu_ns = 0;
    for worker in workers {
        let (samples, start, end, cpu, error, echo) =
            worker.join().map_err(|_| "a client thread panicked".to_string())?;
        client_cpu_ns += cpu;
        all.extend(samples);
        first = Some(first.map_or(start, |f: Instant| f.min(start)));
        last = Some(last.map_or(end, |l: Instant| l.max(end)));
        errors.extend(error);
        open.push(echo); // closed only after the server has been read
    }
    let after = server.and_then(|pid| Snapshot::read(pid, true).ok());
    let count = all.len();
    let cost = match (before, after) {
        (Some(before), Some(after)) => Cost::per(&after.since(&before), count as u64),
        _ => Cost::unknown(),
    };
    drop(open);
    let seconds = match (first, last) {
        (Some(first), Some(last)) => last.duration_since(first).as_secs_f64(),
        _ => f64::NAN,
    };
    let (p50, p99) = (all.percentile_us(0.50), all.percentile_us(0.99));
    let client = Cost::cpu(client_cpu_ns, count as u64);
    let rate = count as f64 / seconds;
    Ok(Figures { rate, mbps: f64::NAN, p50, p99, server: cost, client, grain: None, errors })
}
