//! # `fanout`: one sender, R chat members
//!
//! Echo is one reader and one writer. A chat room is the opposite shape:
//! one message in, R copies out. Here a thread per connection pays the
//! most: every member has a writer thread on the server, and a message
//! for R members may wake R threads. duplex's room encodes each event once
//! and its outbox wakes a writer only when its queue goes from empty to
//! non-empty (`src/chat/outbox.rs`), so a burst of messages costs one
//! wake-up per member, not one per message per member. This scenario
//! measures how far that gets:
//!
//! - R members join `/chat`; then one more, the sender, joins, and every
//!   member waits until it has seen the sender's `join`: from then on,
//!   nothing else is in flight;
//! - the sender says M messages, each carrying its number and the moment
//!   it was sent, as fast as it can or paced at `--rate` per second;
//! - each member checks that it gets all M, in order, and how long each
//!   took to arrive. Deliveries/s is R × M over the time from the first
//!   send to the last arrival; a message a member never got is *lost*.
//!
//! The members are read by one thread (`sweeper.rs`), so that they cost
//! less than the server; the sender is a blocking `Client`.
//!
//! Every run uses a fresh server, so no run sees another's history.
//! The wire protocol is `docs/protocol.md`. Another chat server that
//! speaks enough of it (`tests/yardsticks/ws-chat/`, on Node's `ws`) is
//! measured in the same rounds with `--rival NAME=COMMAND`, or alone with
//! `--addr`.

use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use duplex::client::{Client, RandomSource};
use duplex::websocket::connection::is_timeout;
use duplex::websocket::{Closed, Opcode};

use crate::options::{size_name, Options};
use crate::procfs::{Cost, Noise, Snapshot};
use crate::rtt::ws_client;
use crate::stats::{fmt, ResultLine, Spread};
use crate::sweeper::{open_members, since_start, Board, Sweeper};
use crate::target::Target;
use crate::wire::masked_frame;

struct Run {
    deliveries_per_s: f64,
    p50: f64,
    p99: f64,
    lost: usize,
    server: Cost,
    /// CPU of the sweeping thread here, per delivery.
    client: Cost,
    /// Mean time of one sweep over all members: the latencies' resolution.
    sweep_us: f64,
    errors: Vec<String>,
}

pub fn run(options: &Options) -> Result<(), String> {
    let members = options.members;
    let messages = options.messages.unwrap_or((200_000 / members).max(200));
    let size = options.sizes.as_ref().and_then(|s| s.first().copied()).unwrap_or(64);
    let pace =
        if options.rate > 0.0 { format!("{} msg/s", options.rate) } else { "unpaced".into() };
    println!(
        "fanout: {members} members x {messages} messages of {size} B, {pace}, {} run(s), \
         at most {:?} each",
        options.runs, options.time
    );
    // duplex first, then each `--rival` chat server (tests/yardsticks/).
    let labels: Vec<&str> = std::iter::once("duplex")
        .chain(options.rivals.iter().map(|(name, _)| name.as_str()))
        .collect();
    let mut runs: Vec<Vec<Run>> = labels.iter().map(|_| Vec::new()).collect();
    // Each run's server has ended, and been counted, before the next starts.
    let noise = Noise::start(&[]);
    for round in 1..=options.runs {
        // Interleaved, in a different order each round, as in `pipeline`.
        for turn in 0..labels.len() {
            let index = (turn + round - 1) % labels.len();
            let server = match index {
                0 => Target::duplex(options)?,
                rival => Target::rival(&options.rivals[rival - 1].1, options)?,
            };
            let run = measure(&server, options, round, members, messages, size)?;
            println!(
                "  run {round}: {} {} deliveries/s, p50 {} µs, p99 {} µs, lost {}{}",
                labels[index],
                fmt(run.deliveries_per_s),
                fmt(run.p50),
                fmt(run.p99),
                run.lost,
                if run.errors.is_empty() { "" } else { " (errors!)" }
            );
            runs[index].push(run);
        }
    }
    let mut result = ResultLine::new("fanout");
    result.add("members", members).add("messages", messages).add("size", size_name(size));
    result.num("rate", options.rate).add("runs", options.runs);
    for (index, (label, side_runs)) in labels.iter().zip(&runs).enumerate() {
        // duplex's keys carry no prefix, as before rivals existed.
        let prefix = if index == 0 { String::new() } else { format!("{label}_") };
        summarize(label, &prefix, side_runs, &mut result);
    }
    for (label, side_runs) in labels.iter().zip(&runs).skip(1) {
        // Per round: each round's two runs were made one right after the other.
        let ratios: Vec<f64> =
            runs[0].iter().zip(side_runs).map(|(ours, theirs)| ours.p99 / theirs.p99).collect();
        let ratio = Spread::of(&ratios);
        println!("p99 duplex/{label}: {}", ratio.show());
        result.num(&format!("p99_ratio_{label}"), ratio.median);
        result.num(&format!("p99_ratio_{label}_min"), ratio.min);
        result.num(&format!("p99_ratio_{label}_max"), ratio.max);
    }
    result.noise(&noise, &[]).print();
    Ok(())
}

/// Prints one side's medians and ranges, and adds them to the `RESULT` line.
fn summarize(label: &str, prefix: &str, runs: &[Run], result: &mut ResultLine) {
    let spread = |figure: fn(&Run) -> f64| Spread::of(&runs.iter().map(figure).collect::<Vec<_>>());
    let (rate, p50, p99) = (spread(|r| r.deliveries_per_s), spread(|r| r.p50), spread(|r| r.p99));
    let (cpu, waits) = (spread(|r| r.server.cpu_us), spread(|r| r.server.waits));
    let queued = spread(|r| r.server.queued_us);
    let client_cpu = spread(|r| r.client.cpu_us);
    let lost: usize = runs.iter().map(|r| r.lost).sum();
    println!(
        "  {label}: deliveries/s {}, p50 {} µs, p99 {} µs",
        rate.show(),
        p50.show(),
        p99.show()
    );
    let sweep = spread(|r| r.sweep_us);
    println!(
        "   per delivery: server {} µs CPU, {} waits, {} µs on the run queue; members here {} µs \
         CPU; lost {lost} in all",
        fmt(cpu.median),
        fmt(waits.median),
        fmt(queued.median),
        fmt(client_cpu.median)
    );
    println!("   one sweep over all members took {} µs on average", fmt(sweep.median));
    for error in runs.iter().flat_map(|r| &r.errors).take(5) {
        println!("   error: {error}");
    }
    let key = |name: &str| format!("{prefix}{name}");
    result.num(&key("deliveries_per_s"), rate.median);
    result.num(&key("deliveries_per_s_min"), rate.min).num(&key("deliveries_per_s_max"), rate.max);
    result.num(&key("p50_us"), p50.median).num(&key("p99_us"), p99.median);
    result.num(&key("p99_us_min"), p99.min).num(&key("p99_us_max"), p99.max);
    result.add(&key("lost"), lost);
    result.num(&key("server_cpu_us_per_delivery"), cpu.median);
    result.num(&key("server_waits_per_delivery"), waits.median);
    result.num(&key("server_queued_us_per_delivery"), queued.median);
    result.num(&key("client_cpu_us_per_delivery"), client_cpu.median);
    result.num(&key("sweep_us"), sweep.median);
    result.add(&key("errors"), runs.iter().map(|r| r.errors.len()).sum::<usize>());
}

fn measure(
    server: &Target,
    options: &Options,
    round: usize,
    members: usize,
    messages: usize,
    size: usize,
) -> Result<Run, String> {
    let deadline = Instant::now() + options.time;
    // Names and message texts carry the run, so nothing stale is counted.
    let sender_name = format!("sender-{round}");
    let tag = format!("fanout{round}");
    let board = Board::default();

    let started = Instant::now();
    // With `--also`, the members are split between two processes that
    // share the room through Redis; the sender stays on the first.
    let offer = options.offer.as_deref();
    let clients = match options.also {
        None => open_members(server.addr, members, offer, deadline)?,
        Some(second) => {
            let mut clients = open_members(server.addr, members - members / 2, offer, deadline)?;
            clients.extend(open_members(second, members / 2, offer, deadline)?);
            clients
        }
    };
    let opened = started.elapsed();
    let mut sweeper = Sweeper::new(clients, &sender_name, &tag, messages);

    // The sender is a member too: its own messages come back to it as
    // acknowledgements, and must be read or its outbox would overflow. It
    // is a blocking `Client`, with one thread writing and one reading.
    let sender = ws_client(&server.url(&format!("/chat?name={sender_name}")))?;
    let stream = sender.tcp().try_clone().map_err(|e| e.to_string())?;
    let (before, after, first_send, sent, client_cpu_ns) = thread::scope(|scope| {
        let drain = scope.spawn(|| drain_until(sender, &board.stop, deadline));
        let sweeping = scope.spawn(|| sweeper.run(&board, deadline));
        while board.ready.load(Ordering::Acquire) < members && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
        // Every join is announced to everyone already there: R joins cost
        // the server R²/2 deliveries before the first message.
        println!(
            "  run {round}: {members} members joined in {} s; all had seen the sender's join \
             after {} s",
            fmt(opened.as_secs_f64()),
            fmt(started.elapsed().as_secs_f64())
        );
        let before = server.pid().and_then(|pid| Snapshot::read(pid, true).ok());
        let first_send = since_start();
        let sent = if board.ready.load(Ordering::Acquire) < members {
            Err("not every member saw the sender join".to_string())
        } else {
            send(stream, &tag, messages, size, options.rate, deadline)
        };
        board.sent.store(true, Ordering::Release);
        let client_cpu_ns = sweeping.join().unwrap_or(0);
        // Read while everyone, the sender included, is still connected:
        // the server's threads must be alive for their CPU time to be
        // counted, and a room that writes from the sender's thread does
        // its work there.
        let after = server.pid().and_then(|pid| Snapshot::read(pid, true).ok());
        board.stop.store(true, Ordering::Release);
        let _ = drain.join();
        (before, after, first_send, sent, client_cpu_ns)
    });
    let Sweeper { seen, mut errors, sweep_us, .. } = sweeper;
    errors.extend(sent.err());
    if seen.out_of_order > 0 {
        errors.push(format!("{} messages arrived out of order", seen.out_of_order));
    }
    let received = seen.received;
    let server_cost = match (before, after) {
        (Some(before), Some(after)) => Cost::per(&after.since(&before), received as u64),
        _ => Cost::unknown(),
    };
    let last = seen.last_arrival.unwrap_or(first_send);
    let mut samples = seen.samples;
    Ok(Run {
        deliveries_per_s: received as f64 / last.saturating_sub(first_send).as_secs_f64(),
        p50: samples.percentile_us(0.50),
        p99: samples.percentile_us(0.99),
        lost: (members * messages).saturating_sub(received),
        server: server_cost,
        client: Cost::cpu(client_cpu_ns, received as u64),
        sweep_us,
        errors,
    })
}

/// The sender: one frame per message, each written as soon as it is due.
fn send(
    mut stream: TcpStream,
    tag: &str,
    messages: usize,
    size: usize,
    rate: f64,
    deadline: Instant,
) -> Result<(), String> {
    let mut random = RandomSource::open().map_err(|e| e.to_string())?;
    let start = since_start();
    let mut frame = Vec::new();
    for number in 0..messages {
        if rate > 0.0 {
            let due = start + Duration::from_secs_f64(number as f64 / rate);
            let now = since_start();
            if due > now {
                thread::sleep(due - now);
            }
        }
        if Instant::now() >= deadline {
            return Err(format!("time limit: sent {number} of {messages}"));
        }
        let mut text = format!("{tag} {number} {} ", since_start().as_nanos());
        while text.len() < size {
            text.push('x');
        }
        frame.clear();
        masked_frame(&mut frame, Opcode::Text, text.as_bytes(), &mut random);
        stream.write_all(&frame).map_err(|e| format!("send: {e}"))?;
    }
    Ok(())
}

/// Reads and drops everything the sender is sent, until told to stop.
/// (A read that times out leaves the `Client` usable: it had consumed
/// nothing.)
fn drain_until(mut client: Client, stop: &AtomicBool, deadline: Instant) {
    let _ = client.set_read_timeout(Some(Duration::from_millis(100)));
    while !stop.load(Ordering::Acquire) && Instant::now() < deadline {
        match client.recv() {
            Ok(_) => {}
            Err(Closed::Dropped(error)) if is_timeout(&error) => {}
            Err(_) => return,
        }
    }
}
