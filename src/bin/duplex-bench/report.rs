//! # One run's figures, and how several runs are summed up
//!
//! `rtt` and `pipeline` measure the same things on both servers: how fast
//! (messages/s, MB/s), how long a message waited (p50, p99), and what each
//! message cost the server and the load generator in CPU time and blocking
//! waits. Each measured side (`ws` or `tcp`) is summed up the same way:
//! one line for people, and keys on the `RESULT` line for scripts.
//!
//! The client's CPU is reported too, because a load generator can be the
//! bottleneck without anyone noticing: when the client spends more per
//! message than the server, the figures say more about the client.
//!
//! `pipeline` adds two questions that per-message CPU alone cannot answer.
//! *Is either core full?* CPU per message times messages per second is
//! how busy each side's core was; a side at 100% is the limit, and when
//! neither is, the two are taking turns. *How finely do the echoes flow?*
//! Echoes per client `read` and messages per client `write`: every system
//! call and every wake-up costs both sides, so the same bytes in smaller
//! pieces cost more CPU per message.

use crate::procfs::Cost;
use crate::stats::{fmt, ResultLine, Spread};

/// What one run measured on one side.
#[derive(Debug, Clone)]
pub struct Figures {
    pub rate: f64,
    /// Payload MB/s each way (`NaN` where it says nothing, as in `rtt`).
    pub mbps: f64,
    /// Latency percentiles in µs (`NaN` where not measured).
    pub p50: f64,
    pub p99: f64,
    /// Per message, on the server.
    pub server: Cost,
    /// Per message, in this program (all its client threads together).
    pub client: Cost,
    /// How finely the load generator read and wrote (`pipeline` only).
    pub grain: Option<Grain>,
    pub errors: Vec<String>,
}

/// How many messages the load generator moved per system call.
#[derive(Debug, Clone, Copy)]
pub struct Grain {
    pub echoes_per_read: f64,
    pub messages_per_write: f64,
}

impl Figures {
    /// The part of a `run N:` line for this side.
    pub fn brief(&self) -> String {
        let mut text = format!("{} msg/s", fmt(self.rate));
        if !self.mbps.is_nan() {
            text += &format!(" {} MB/s", fmt(self.mbps));
        }
        if !self.p50.is_nan() {
            text += &format!(" p50 {} p99 {} µs", fmt(self.p50), fmt(self.p99));
        }
        if !self.errors.is_empty() {
            text += " (errors!)";
        }
        text
    }
}

/// Median and range of one figure over the runs.
fn spread(runs: &[Figures], figure: impl Fn(&Figures) -> f64) -> Spread {
    Spread::of(&runs.iter().map(figure).collect::<Vec<_>>())
}

/// Prints the summary of one side and adds its keys (`PREFIX_...`) to the
/// result line.
pub fn summarize(prefix: &str, runs: &[Figures], result: &mut ResultLine) {
    if runs.is_empty() {
        return;
    }
    let rate = spread(runs, |r| r.rate);
    let mbps = spread(runs, |r| r.mbps);
    let (p50, p99) = (spread(runs, |r| r.p50), spread(runs, |r| r.p99));
    let server_cpu = spread(runs, |r| r.server.cpu_us);
    let server_waits = spread(runs, |r| r.server.waits);
    let client_cpu = spread(runs, |r| r.client.cpu_us);
    let mut line = format!("{prefix:>5}: {} msg/s", rate.show());
    if !mbps.median.is_nan() {
        line += &format!(", {} MB/s", mbps.show());
    }
    if !p50.median.is_nan() {
        line += &format!(", p50 {} µs, p99 {} µs", p50.show(), p99.show());
    }
    println!("{line}");
    println!(
        "{:>5}  per message: server {} µs CPU and {} waits, client {} µs CPU",
        "",
        fmt(server_cpu.median),
        fmt(server_waits.median),
        fmt(client_cpu.median)
    );
    if runs.iter().any(|r| r.grain.is_some()) {
        print_pipeline_lines(prefix, runs, result);
    }
    for error in runs.iter().flat_map(|r| &r.errors).take(5) {
        println!("{prefix:>5}: error: {error}");
    }
    let key = |name: &str| format!("{prefix}_{name}");
    result.num(&key("msgs_per_s"), rate.median);
    result.num(&key("msgs_per_s_min"), rate.min).num(&key("msgs_per_s_max"), rate.max);
    if !mbps.median.is_nan() {
        result.num(&key("mb_per_s"), mbps.median);
        result.num(&key("mb_per_s_min"), mbps.min).num(&key("mb_per_s_max"), mbps.max);
    }
    if !p50.median.is_nan() {
        result.num(&key("p50_us"), p50.median).num(&key("p99_us"), p99.median);
    }
    result.num(&key("server_cpu_us_per_msg"), server_cpu.median);
    result.num(&key("server_waits_per_msg"), server_waits.median);
    result.num(&key("client_cpu_us_per_msg"), client_cpu.median);
    result.add(&key("errors"), runs.iter().map(|r| r.errors.len()).sum::<usize>());
}

/// The two `pipeline` questions: how busy each core was (a fraction of
/// one core), and how many messages each client `read` and `write` moved.
fn print_pipeline_lines(prefix: &str, runs: &[Figures], result: &mut ResultLine) {
    let server_busy = spread(runs, |r| r.server.cpu_us * r.rate / 1e6);
    let client_busy = spread(runs, |r| r.client.cpu_us * r.rate / 1e6);
    let per_read = spread(runs, |r| r.grain.map_or(f64::NAN, |g| g.echoes_per_read));
    let per_write = spread(runs, |r| r.grain.map_or(f64::NAN, |g| g.messages_per_write));
    println!(
        "{:>5}  cores busy: server {}, client {}; client: {} echoes per read, {} messages per write",
        "",
        fmt(server_busy.median),
        fmt(client_busy.median),
        fmt(per_read.median),
        fmt(per_write.median)
    );
    let key = |name: &str| format!("{prefix}_{name}");
    result.num(&key("server_busy"), server_busy.median);
    result.num(&key("client_busy"), client_busy.median);
    result.num(&key("client_echoes_per_read"), per_read.median);
    result.num(&key("client_messages_per_write"), per_write.median);
}

/// duplex's figure as a fraction of another side's (raw TCP, or a rival
/// server), run by run (each pair was measured in the same round), then
/// its median and range. The raw TCP ratio keeps the plain `ratio` keys.
pub fn ratio(
    other: &str,
    ws: &[Figures],
    theirs: &[Figures],
    figure: impl Fn(&Figures) -> f64,
    result: &mut ResultLine,
) {
    if ws.is_empty() || theirs.is_empty() {
        return;
    }
    let ratios: Vec<f64> = ws.iter().zip(theirs).map(|(w, t)| figure(w) / figure(t)).collect();
    let ratio = Spread::of(&ratios);
    println!("ratio ws/{other}: {}", ratio.show());
    let key = if other == "tcp" { "ratio".to_string() } else { format!("ratio_{other}") };
    result.num(&key, ratio.median);
    result.num(&format!("{key}_min"), ratio.min).num(&format!("{key}_max"), ratio.max);
}
