//! # What a process costs, read from `/proc`
//!
//! Linux publishes a process's bill in plain text under `/proc/PID/`:
//! - `status`: `VmRSS` (resident memory: pages really in RAM, not merely
//!   reserved) and `Threads`;
//! - `task/TID/schedstat`: the CPU time each thread has run, then the
//!   time it spent *runnable but waiting* for a core (on the run queue),
//!   both in nanoseconds;
//! - `task/TID/status`: `voluntary_ctxt_switches`, how many times the
//!   thread blocked (went to sleep waiting for something, e.g. a read) and
//!   `nonvoluntary_ctxt_switches`, how many times it was preempted.
//!
//! Voluntary switches are the "wake-ups" of a blocking design: a thread
//! that sleeps in `read` and is woken by a packet costs one. Dividing them
//! and the CPU time by the messages of a run says what one message cost the
//! server, which is what explains the throughput figures. The run-queue
//! time explains latency: a thread woken to deliver a message that then
//! waits behind 999 others for the one core adds that wait to the
//! message's delay.
//!
//! Threads that have already exited are no longer listed under `task/`,
//! so the per-thread sums cover live threads only; every scenario reads
//! them while its connections are still open.

use std::fs;
use std::io;

/// One reading of a process.
#[derive(Debug, Clone, Copy, Default)]
pub struct Snapshot {
    pub rss_kib: u64,
    /// `VmHWM`, the "high water mark": the largest RSS the process has had.
    pub peak_rss_kib: u64,
    pub threads: u64,
    /// CPU time of the live threads, nanoseconds.
    pub cpu_ns: u64,
    /// Time the live threads spent runnable, waiting for a core, nanoseconds.
    pub queued_ns: u64,
    /// Voluntary context switches of the live threads: blocking waits.
    pub waits: u64,
    /// Involuntary context switches: preemptions.
    pub preemptions: u64,
}

impl Snapshot {
    /// Reads `status`, and with `per_thread`, every thread's CPU time and
    /// switches (skip that for 10,000 threads: it reads 20,000 files).
    pub fn read(pid: u32, per_thread: bool) -> io::Result<Snapshot> {
        let status = fs::read_to_string(format!("/proc/{pid}/status"))?;
        let mut snapshot = Snapshot {
            rss_kib: field(&status, "VmRSS:"),
            peak_rss_kib: field(&status, "VmHWM:"),
            threads: field(&status, "Threads:"),
            ..Snapshot::default()
        };
        if per_thread {
            for entry in fs::read_dir(format!("/proc/{pid}/task"))? {
                let path = entry?.path();
                // A thread may exit between the listing and the read.
                let Ok(schedstat) = fs::read_to_string(path.join("schedstat")) else { continue };
                let Ok(status) = fs::read_to_string(path.join("status")) else { continue };
                let mut times = schedstat.split_whitespace().map(|t| t.parse().unwrap_or(0));
                snapshot.cpu_ns += times.next().unwrap_or(0);
                snapshot.queued_ns += times.next().unwrap_or(0);
                snapshot.waits += field(&status, "voluntary_ctxt_switches:");
                snapshot.preemptions += field(&status, "nonvoluntary_ctxt_switches:");
            }
        }
        Ok(snapshot)
    }

    /// What happened between `earlier` and `self`.
    pub fn since(&self, earlier: &Snapshot) -> Snapshot {
        Snapshot {
            rss_kib: self.rss_kib.saturating_sub(earlier.rss_kib),
            peak_rss_kib: self.peak_rss_kib.saturating_sub(earlier.peak_rss_kib),
            threads: self.threads.saturating_sub(earlier.threads),
            cpu_ns: self.cpu_ns.saturating_sub(earlier.cpu_ns),
            queued_ns: self.queued_ns.saturating_sub(earlier.queued_ns),
            waits: self.waits.saturating_sub(earlier.waits),
            preemptions: self.preemptions.saturating_sub(earlier.preemptions),
        }
    }
}

/// The number after `name` on its line of a `/proc` status file (0 if the
/// line is missing: an older kernel, say).
fn field(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|number| number.parse().ok())
        .unwrap_or(0)
}

/// CPU time (user + system) of a whole process so far, in seconds, from
/// `/proc/PID/stat`. Unlike the per-thread sums it includes threads that
/// have exited, but it ticks in hundredths of a second (`USER_HZ`, which
/// Linux fixes at 100 for everything it reports in `/proc`).
pub fn process_cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else { return f64::NAN };
    // The command name (field 2) is in parentheses and may hold spaces:
    // count fields from the last ')'. utime and stime are fields 14, 15.
    let Some((_, rest)) = stat.rsplit_once(')') else { return f64::NAN };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
    match (ticks(11), ticks(12)) {
        (Some(user), Some(system)) => (user + system) / 100.0,
        _ => f64::NAN,
    }
}

/// CPU seconds all cores of the machine have spent busy so far (everything
/// in the `cpu` line of `/proc/stat` but idle and iowait).
fn machine_busy_seconds() -> f64 {
    let Ok(stat) = fs::read_to_string("/proc/stat") else { return f64::NAN };
    let Some(line) = stat.lines().find(|line| line.starts_with("cpu ")) else { return f64::NAN };
    let ticks: Vec<f64> = line.split_whitespace().skip(1).filter_map(|t| t.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal ...
    let busy: f64 =
        ticks.iter().take(8).enumerate().filter(|(i, _)| *i != 3 && *i != 4).map(|(_, t)| t).sum();
    busy / 100.0
}

/// CPU seconds of this process and of its children that have ended
/// (the servers it started and has waited for).
fn own_cpu_seconds() -> f64 {
    let Ok(stat) = fs::read_to_string("/proc/self/stat") else { return f64::NAN };
    let Some((_, rest)) = stat.rsplit_once(')') else { return f64::NAN };
    let fields: Vec<f64> = rest.split_whitespace().filter_map(|f| f.parse().ok()).collect();
    // utime stime cutime cstime are fields 14-17; `rest` starts at field 3.
    fields.get(11..15).map_or(f64::NAN, |times| times.iter().sum::<f64>() / 100.0)
}

/// How busy *other* processes kept the machine while we measured: all
/// the CPU time the machine spent, minus ours and our servers'. On a
/// shared two-core machine this is the honest warning label of a figure.
pub struct Noise {
    started: std::time::Instant,
    machine: f64,
    ours: f64,
}

impl Noise {
    /// Starts counting; `servers` are the live servers we started.
    pub fn start(servers: &[u32]) -> Noise {
        let ours = own_cpu_seconds() + servers.iter().map(|&p| process_cpu_seconds(p)).sum::<f64>();
        Noise { started: std::time::Instant::now(), machine: machine_busy_seconds(), ours }
    }

    /// Cores' worth of CPU that others used, on average, since the start.
    pub fn others(&self, servers: &[u32]) -> f64 {
        let ours = own_cpu_seconds() + servers.iter().map(|&p| process_cpu_seconds(p)).sum::<f64>();
        let machine = machine_busy_seconds() - self.machine;
        let seconds = self.started.elapsed().as_secs_f64();
        ((machine - (ours - self.ours)) / seconds).max(0.0)
    }
}

/// CPU time the calling thread has run so far, in nanoseconds (0 if the
/// kernel does not say). The load generator's threads measure themselves
/// with it, because they have exited by the time a run is summed up.
pub fn thread_cpu_ns() -> u64 {
    fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|text| text.split_whitespace().next().and_then(|t| t.parse().ok()))
        .unwrap_or(0)
}

/// Per-message cost of a run on the server: CPU µs, blocking waits, and
/// µs its threads spent runnable but waiting for a core.
#[derive(Debug, Clone, Copy)]
pub struct Cost {
    pub cpu_us: f64,
    pub waits: f64,
    pub queued_us: f64,
}

impl Cost {
    pub fn per(delta: &Snapshot, messages: u64) -> Cost {
        let messages = messages.max(1) as f64;
        Cost {
            cpu_us: delta.cpu_ns as f64 / 1000.0 / messages,
            waits: delta.waits as f64 / messages,
            queued_us: delta.queued_ns as f64 / 1000.0 / messages,
        }
    }

    /// CPU time alone (for our own threads, whose waits are not counted).
    pub fn cpu(cpu_ns: u64, messages: u64) -> Cost {
        let cpu_us = cpu_ns as f64 / 1000.0 / messages.max(1) as f64;
        Cost { cpu_us, waits: f64::NAN, queued_us: f64::NAN }
    }

    pub fn unknown() -> Cost {
        Cost { cpu_us: f64::NAN, waits: f64::NAN, queued_us: f64::NAN }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_our_own_status() {
        let snapshot = Snapshot::read(std::process::id(), true).unwrap();
        assert!(snapshot.rss_kib > 0 && snapshot.threads >= 1);
        assert!(snapshot.cpu_ns > 0);
    }

    #[test]
    fn process_cpu_is_read() {
        assert!(process_cpu_seconds(std::process::id()) >= 0.0);
    }

    #[test]
    fn fields() {
        let text = "Name:\tx\nVmRSS:\t  1234 kB\nThreads:\t7\n";
        assert_eq!(field(text, "VmRSS:"), 1234);
        assert_eq!(field(text, "Threads:"), 7);
        assert_eq!(field(text, "Missing:"), 0);
    }
}
