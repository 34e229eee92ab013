//! # The command line of `duplex-bench`
//!
//! Flags are parsed by hand, as in `src/config.rs`: there are few, and the
//! loop is shorter than a library's documentation. Every count has a
//! default that makes one run last a second or two on a small machine, so
//! that "several runs and their median" stays cheap.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The text `--help` prints.
pub const USAGE: &str = "\
duplex-bench: a load generator for duplex, with a raw-TCP yardstick

usage: duplex-bench SCENARIO [options]

scenarios:
  rtt        C clients, each sends a message to /echo and waits for it, M times
  pipeline   one connection with W messages in flight, for each --size
  fanout     R members of /chat and one sender: deliveries/s, latency, losses
  hold       K idle connections to --path: the server's RSS and threads per connection
  tcp        the rtt and pipeline work through the raw TCP echo server alone

options:
  --clients C          rtt: concurrent clients (default 1)
  --messages M         rtt: round trips per client (default 20000);
                       pipeline: messages per size (default: 512 MiB of payload, at most 200000);
                       fanout: messages sent (default 200000 / R, at least 200)
  --size LIST          payload bytes, k/m suffixes, comma-separated
                       (rtt default 64; pipeline default 64,16k,1m; sizes below 1m are text)
  --window W           pipeline: messages in flight (default 16)
  --members R          fanout: chat members (default 100)
  --rate N             fanout: messages per second, 0 = as fast as possible (default 0)
  --connections K      hold: connections (default 5000)
  --path PATH          hold: the endpoint (default /echo)
  --offer EXTENSION    hold, fanout: every connection offers this Sec-WebSocket-Extensions
                       value, which the server must accept (e.g. permessage-deflate, with
                       --server-args --deflate); compressed messages are inflated
  --runs N             repetitions; medians and ranges are reported (default 5)
  --time SECS          hard time limit of each run; it then stops and reports (default 20)
  --server-bin PATH    the duplex to start (default: target/release/duplex beside this program)
  --server-args ARGS   extra arguments for it, space-separated
  --server-cpu LIST    start the servers under `taskset -c LIST` (e.g. 0)
  --server-log PATH    append the server's log here (default: discarded)
  --addr HOST:PORT     use a duplex that is already running (no /proc figures)
  --also HOST:PORT     fanout: put every second member on this second duplex,
                       one sharing the room through Redis (`--redis`)
  --tcp-buffer BYTES   read buffer of the raw TCP echo server (default 256k, what a
                       plain echo reads at a time; 8k shows the cost of small reads)
  --rival NAME=COMMAND pipeline, fanout: also measure another WebSocket echo (or
                       chat) server, started as COMMAND (space-separated; it must
                       print `listening on ws://ADDR`), e.g. tests/yardsticks/; repeatable
  --compare-every N    pipeline: compare every Nth echo with the message, byte for byte
                       (default 1: every echo); the others are read and counted, and
                       their frame headers checked, but their payloads not compared
  --no-yardstick       rtt, pipeline: skip the raw TCP comparison
  --help               print this text
";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    Rtt,
    Pipeline,
    Fanout,
    Hold,
    Tcp,
    /// Internal: the yardstick server, started by `rtt`, `pipeline`, `tcp`.
    TcpEchoServer,
}

#[derive(Debug, Clone)]
pub struct Options {
    pub scenario: Scenario,
    pub clients: usize,
    pub messages: Option<usize>,
    pub sizes: Option<Vec<usize>>,
    pub window: usize,
    pub members: usize,
    pub rate: f64,
    pub connections: usize,
    pub path: String,
    /// hold, fanout: the `Sec-WebSocket-Extensions` offer each connection
    /// (each member) makes.
    pub offer: Option<String>,
    pub runs: usize,
    pub time: Duration,
    pub server_bin: Option<PathBuf>,
    pub server_args: Vec<String>,
    pub server_cpu: Option<String>,
    pub server_log: Option<PathBuf>,
    pub addr: Option<SocketAddr>,
    /// fanout: a second server sharing the room; half the members go there.
    pub also: Option<SocketAddr>,
    pub tcp_buffer: usize,
    /// pipeline: other WebSocket echo servers, by name, and how to start them.
    pub rivals: Vec<(String, Vec<String>)>,
    pub no_yardstick: bool,
    /// pipeline: compare the payload of one echo in this many.
    pub compare_every: usize,
}

impl Options {
    /// Parses the arguments after the program name; `Ok(None)` means help.
    pub fn from_args<I: IntoIterator<Item = String>>(args: I) -> Result<Option<Options>, String> {
        let mut args = args.into_iter();
        let scenario = match args.next().as_deref() {
            None | Some("--help" | "-h" | "help") => return Ok(None),
            Some("rtt") => Scenario::Rtt,
            Some("pipeline") => Scenario::Pipeline,
            Some("fanout") => Scenario::Fanout,
            Some("hold") => Scenario::Hold,
            Some("tcp") => Scenario::Tcp,
            Some("tcp-echo-server") => Scenario::TcpEchoServer,
            Some(other) => return Err(format!("unknown scenario {other:?}")),
        };
        let mut options = Options {
            scenario,
            clients: 1,
            messages: None,
            sizes: None,
            window: 16,
            members: 100,
            rate: 0.0,
            connections: 5000,
            path: "/echo".to_string(),
            offer: None,
            runs: 5,
            time: Duration::from_secs(20),
            server_bin: None,
            server_args: Vec::new(),
            server_cpu: None,
            server_log: None,
            addr: None,
            also: None,
            tcp_buffer: 256 * 1024,
            rivals: Vec::new(),
            no_yardstick: false,
            compare_every: 1,
        };
        while let Some(flag) = args.next() {
            let (flag, inline) = match flag.split_once('=') {
                Some((f, v)) => (f.to_string(), Some(v.to_string())),
                None => (flag, None),
            };
            let mut value =
                || inline.clone().or_else(|| args.next()).ok_or(format!("{flag} needs a value"));
            match flag.as_str() {
                "--help" | "-h" => return Ok(None),
                "--clients" => options.clients = positive(&flag, &value()?)?,
                "--messages" => options.messages = Some(positive(&flag, &value()?)?),
                "--size" => options.sizes = Some(sizes(&value()?)?),
                "--window" => options.window = positive(&flag, &value()?)?,
                "--members" => options.members = positive(&flag, &value()?)?,
                "--rate" => options.rate = number(&flag, &value()?)?,
                "--connections" => options.connections = positive(&flag, &value()?)?,
                "--path" => options.path = value()?,
                "--offer" => options.offer = Some(value()?),
                "--runs" => options.runs = positive(&flag, &value()?)?,
                "--time" => {
                    options.time = Duration::from_secs_f64(number(&flag, &value()?)?.max(0.001))
                }
                "--server-bin" => options.server_bin = Some(PathBuf::from(value()?)),
                "--server-args" => {
                    options.server_args = value()?.split_whitespace().map(String::from).collect()
                }
                "--server-cpu" => options.server_cpu = Some(value()?),
                "--server-log" => options.server_log = Some(PathBuf::from(value()?)),
                "--addr" => {
                    let text = value()?;
                    let addr = text.parse().map_err(|_| format!("--addr: {text:?}"))?;
                    options.addr = Some(addr);
                }
                "--also" => {
                    let text = value()?;
                    let addr = text.parse().map_err(|_| format!("--also: {text:?}"))?;
                    options.also = Some(addr);
                }
                "--tcp-buffer" => options.tcp_buffer = size(&value()?)?,
                "--rival" => options.rivals.push(rival(&value()?)?),
                "--no-yardstick" => options.no_yardstick = true,
                "--compare-every" => options.compare_every = positive(&flag, &value()?)?,
                other => return Err(format!("unknown option {other:?}")),
            }
        }
        Ok(Some(options))
    }
}

fn positive(flag: &str, text: &str) -> Result<usize, String> {
    match text.replace('_', "").parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("{flag}: {text:?} is not a positive number")),
    }
}

fn number(flag: &str, text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(n) if n >= 0.0 && n.is_finite() => Ok(n),
        _ => Err(format!("{flag}: {text:?} is not a number")),
    }
}

/// `NAME=PROGRAM ARGS...`.
fn rival(text: &str) -> Result<(String, Vec<String>), String> {
    let (name, command) = text.split_once('=').ok_or(format!("--rival: {text:?} has no NAME="))?;
    let command: Vec<String> = command.split_whitespace().map(String::from).collect();
    if name.is_empty() || command.is_empty() {
        return Err(format!("--rival: {text:?} needs a name and a command"));
    }
    Ok((name.to_string(), command))
}

/// `64`, `16k`, `1m`: bytes, kibibytes, mebibytes.
pub fn size(text: &str) -> Result<usize, String> {
    let lower = text.trim().to_ascii_lowercase();
    let (digits, unit) = match lower.strip_suffix('k') {
        Some(digits) => (digits, 1024),
        None => match lower.strip_suffix('m') {
            Some(digits) => (digits, 1024 * 1024),
            None => (lower.as_str(), 1),
        },
    };
    match digits.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n * unit),
        _ => Err(format!("{text:?} is not a size such as 64, 16k or 1m")),
    }
}

fn sizes(text: &str) -> Result<Vec<usize>, String> {
    text.split(',').map(size).collect()
}

/// A size the way `--size` spells it: `16k` rather than `16384`.
pub fn size_name(bytes: usize) -> String {
    if bytes >= 1024 * 1024 && bytes.is_multiple_of(1024 * 1024) {
        format!("{}m", bytes / (1024 * 1024))
    } else if bytes >= 1024 && bytes.is_multiple_of(1024) {
        format!("{}k", bytes / 1024)
    } else {
        bytes.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Option<Options>, String> {
        Options::from_args(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn sizes_read_and_print_alike() {
        assert_eq!(size("64"), Ok(64));
        assert_eq!(size("16k"), Ok(16 * 1024));
        assert_eq!(size("1M"), Ok(1024 * 1024));
        assert!(size("0").is_err() && size("x").is_err());
        assert_eq!(size_name(16 * 1024), "16k");
        assert_eq!(size_name(1024 * 1024), "1m");
        assert_eq!(size_name(100), "100");
    }

    #[test]
    fn flags() {
        let options =
            parse(&["pipeline", "--size", "64,16k", "--window=8", "--runs", "3"]).unwrap().unwrap();
        assert_eq!(options.scenario, Scenario::Pipeline);
        assert_eq!(options.sizes, Some(vec![64, 16 * 1024]));
        assert_eq!((options.window, options.runs), (8, 3));
        assert!(parse(&["--help"]).unwrap().is_none());
        assert!(parse(&["nonsense"]).is_err());
        assert!(parse(&["rtt", "--clients", "0"]).is_err());
        assert!(parse(&["rtt", "--bogus"]).is_err());
        let options = parse(&["pipeline", "--rival", "t=bin/echo --fast"]).unwrap().unwrap();
        assert_eq!(options.rivals, vec![("t".into(), vec!["bin/echo".into(), "--fast".into()])]);
        assert!(parse(&["pipeline", "--rival", "nameless"]).is_err());
    }
}
