//! # Configuration: every bound in one place
//!
//! A server that talks to strangers must put a number on everything a
//! stranger can make it spend: bytes of memory, seconds of waiting, threads.
//! This chapter gathers those numbers so that a reader can audit them at a
//! glance, and so that each one carries the reason it has the value it has.
//!
//! [`Config`] is what `main.rs` builds from the command line (see
//! [`Config::from_args`]); [`Limits`] is the part every protocol layer reads.
//! The protocol modules never parse flags themselves: they receive the
//! numbers they need, which keeps them usable outside this server.
//!
//! This file is at the bottom of the house: it imports nothing from the
//! crate. The flags of an optional layer (`push`, `redis`) and the limits
//! only it reads exist only when that layer is built, so a build without
//! it has no such flag in `--help`. What a flag's value *means* is its
//! layer's business: `--redis` is kept here as the text given, and read
//! by `src/redis/address.rs`.
//!
//! Read next: `src/http/mod.rs`, the first protocol these numbers guard.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

// The limits and `--help` lines of each optional layer, in a file of its
// own: only a build with that layer has them.
#[cfg(feature = "push")]
pub mod push_limits;
#[cfg(feature = "redis")]
pub mod redis_limits;

/// One kibibyte, so that limits read as `64 * KIB` rather than `65536`.
pub const KIB: usize = 1024;
/// One mebibyte.
pub const MIB: usize = 1024 * KIB;

/// Every limit the server enforces, each with the reason for its default.
///
/// Limits are checked *before* memory is allocated: a header that declares
/// a 1 GiB frame is refused from its length field, never by running out of
/// memory while trying to hold it.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Longest request line (`GET /path HTTP/1.1`). Browsers cap URLs near
    /// 2 MB, but nothing in `www/` needs more than a few hundred bytes;
    /// 8 KiB is the figure most servers use. Past it: `414 URI Too Long`.
    pub max_request_line: usize,
    /// Largest header block. Cookies are the only thing that gets big in
    /// practice. Past it: `431 Request Header Fields Too Large`.
    pub max_header_bytes: usize,
    /// Most header lines. Each costs a small allocation; a client that sends
    /// thousands is probing. Past it: `431`.
    pub max_headers: usize,
    /// Largest request body the server will read (and throw away) so the next
    /// request on a keep-alive connection starts at the right byte. Static
    /// files and the upgrade need no body, so this stays small. Past it:
    /// `413 Content Too Large` and the connection is closed.
    pub max_request_body: usize,
    /// The whole request (its head, and the body if one is read) must
    /// arrive within this time, counted from its first byte. A per-read
    /// timeout alone does not stop a "slowloris" client that sends one byte
    /// just before each timeout expires; a deadline for the whole request
    /// does.
    pub header_deadline: Duration,
    /// How long a keep-alive connection may sit idle between requests.
    pub keep_alive_idle: Duration,
    /// Largest WebSocket message, after reassembly of its fragments.
    /// RFC 6455 §10.4 leaves the limit to the server. Past it: close 1009.
    pub max_message: usize,
    /// Largest chat text message (a `/chat` concern, but a bound all the
    /// same). Past it the sender gets an `error` event.
    pub max_chat_text: usize,
    /// Largest file relayed through the chat room as a binary message.
    pub max_chat_file: usize,
    /// A chat member's outbox (its backlog of frames not yet taken by its
    /// writer) is judged over time, the way Redis judges a client's output
    /// buffer (`client-output-buffer-limit`): a *soft* limit that may be
    /// crossed for a while, and a *hard* one that may not. Bytes rather than
    /// messages, so a flood of images and a flood of short lines cost the
    /// same memory.
    ///
    /// The soft limit: a backlog that stays above it for longer than
    /// [`outbox_grace`](Self::outbox_grace) is too slow (close 1008). 1 MiB
    /// is 32 messages of 32 KiB, or thousands of chat lines: far more than
    /// a member that keeps up ever has waiting, except for an instant. It
    /// also sets the history's bound (half of it), so a `welcome` fits.
    pub outbox_soft_bytes: usize,
    /// The hard limit: a push past it drops the member at once (close
    /// 1008). This is the memory bound. One sender can put megabytes in
    /// every outbox in a millisecond, faster than a busy machine schedules
    /// the writers that empty them, so the hard limit leaves room for such a
    /// burst: 8 MiB, a few seconds of what a fast reader can take. The
    /// frames are shared (`Arc`s), so the room's whole backlog stays near
    /// one member's hard limit, not members times it.
    pub outbox_hard_bytes: usize,
    /// How long a backlog may stay above the soft limit. A reader that
    /// keeps up, on a loaded machine, drains a burst within milliseconds;
    /// 3 s is hundreds of times that, and still drops a member that stopped
    /// reading within seconds of its backlog passing the soft limit (its
    /// socket's buffers fill first), well inside the write timeout.
    pub outbox_grace: Duration,
    /// A blocked write gives up after this long. Without it, a peer that
    /// stops reading parks our writer thread forever.
    pub write_timeout: Duration,
    /// Send a ping after this much silence from the peer (RFC 6455 §5.5.2
    /// lets either side ping at any time).
    pub ping_interval: Duration,
    /// Drop a WebSocket peer that has sent nothing at all for this long.
    /// Twice the ping interval: an alive peer answers the ping with a pong
    /// well inside that window. It is also how long one message may take
    /// to arrive once its first byte is here (close 1008 past it), so that
    /// a frame dribbled a byte at a time cannot hold a thread forever.
    pub idle_timeout: Duration,
    /// After our last words on a connection (a close frame, or an HTTP
    /// refusal such as `413`), how long we go on reading and discarding what
    /// the peer still sends before closing. Closing with unread bytes makes
    /// the kernel send a TCP reset, and a peer still uploading then loses
    /// our answer (`src/server/stream.rs`). A time bound, not a byte budget,
    /// so that a large message already in flight can finish arriving (16 MiB
    /// takes milliseconds on a LAN); 2 s also bounds how long a peer that
    /// never stops sending holds the thread.
    pub close_linger: Duration,
    /// Most connections served at once. Each costs a thread and a file
    /// descriptor; beyond the cap a connection gets `503` and is closed, so
    /// the process never runs into the operating system's limits.
    pub max_connections: usize,
    /// The `push` layer's limits (`config/push_limits.rs`).
    #[cfg(feature = "push")]
    pub push: push_limits::PushLimits,
    /// Stack size for each connection thread. The default 2 MiB is mostly
    /// untouched virtual memory, but it is reserved address space and it
    /// bounds how many threads fit; our handlers use a few KiB of stack.
    pub thread_stack: usize,
    /// The `redis` layer's limits (`config/redis_limits.rs`).
    #[cfg(feature = "redis")]
    pub redis: redis_limits::RedisLimits,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_request_line: 8 * KIB,
            max_header_bytes: 64 * KIB,
            max_headers: 100,
            max_request_body: 64 * KIB,
            header_deadline: Duration::from_secs(10),
            keep_alive_idle: Duration::from_secs(30),
            max_message: 16 * MIB,
            max_chat_text: 64 * KIB,
            max_chat_file: 8 * MIB,
            outbox_soft_bytes: MIB,
            outbox_hard_bytes: 8 * MIB,
            outbox_grace: Duration::from_secs(3),
            write_timeout: Duration::from_secs(10),
            ping_interval: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            close_linger: Duration::from_secs(2),
            max_connections: 10_000,
            #[cfg(feature = "push")]
            push: push_limits::PushLimits::default(),
            thread_stack: 128 * KIB,
            #[cfg(feature = "redis")]
            redis: redis_limits::RedisLimits::default(),
        }
    }
}

/// The whole configuration of one server process.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to listen. Port 0 asks the operating system for a free port;
    /// the real address is printed at start.
    pub addr: SocketAddr,
    /// The folder static files are served from.
    pub root: PathBuf,
    /// Origins allowed to open WebSockets besides the page's own
    /// (`--allow-origin`, repeatable; `*` allows every origin).
    pub allowed_origins: Vec<String>,
    /// Print every handshake and frame (`--trace`).
    pub trace: bool,
    /// Agree to permessage-deflate (RFC 7692) when a client offers it
    /// (`--deflate`). Off by default, as in most servers: compression
    /// costs CPU on every message, and compressing secrets beside text an
    /// attacker chooses leaks them (CRIME, BREACH; docs/11-compression.md).
    pub deflate: bool,
    /// Share the chat room with other processes through this Redis
    /// (`--redis`; chapter 10), as given: `HOST:PORT` or a `redis://` URL,
    /// read by `src/redis/address.rs`. `None`: the room lives in this
    /// process alone, and no Redis is ever contacted.
    #[cfg(feature = "redis")]
    pub redis: Option<String>,
    /// The numbers.
    pub limits: Limits,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            // `cargo run` from any folder must find the pages, so the default
            // is the `www/` that ships beside Cargo.toml, fixed at compile time.
            root: PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/www")),
            allowed_origins: Vec::new(),
            trace: false,
            deflate: false,
            #[cfg(feature = "redis")]
            redis: None,
            limits: Limits::default(),
        }
    }
}

/// What the command line asked for: run a server, or print help.
#[derive(Debug)]
pub enum Action {
    Run(Box<Config>),
    Help,
}

/// A command line that could not be understood. Its `Display` is the
/// message printed before the usage text.
#[derive(Debug, PartialEq, Eq)]
pub struct ArgError(pub String);

impl fmt::Display for ArgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ArgError {}

/// The text `--help` prints: the core's flags, then each built layer's.
pub fn usage() -> String {
    let mut text = String::from(USAGE_CORE);
    #[cfg(feature = "push")]
    text.push_str(push_limits::USAGE);
    #[cfg(feature = "redis")]
    text.push_str(redis_limits::USAGE);
    if cfg!(feature = "deflate") {
        text += USAGE_DEFLATE;
    }
    text + USAGE_END
}

const USAGE_CORE: &str = "\
duplex: a WebSocket server written from first principles

usage: duplex [options]

  --addr HOST:PORT        where to listen (default 127.0.0.1:8080; port 0 picks a free port)
  --root DIR              folder of static files (default: the www/ beside Cargo.toml)
  --allow-origin ORIGIN   also accept WebSockets from this Origin (repeatable; * allows all)
  --max-connections N     connections served at once (default 10000)
  --max-message BYTES     largest WebSocket message (default 16777216)
  --max-chat-text BYTES   largest chat text message (default 65536)
  --max-chat-file BYTES   largest file relayed through the chat (default 8388608)
  --outbox-soft-bytes BYTES  a member's backlog may stay above this only for the grace (default 1048576)
  --outbox-hard-bytes BYTES  a member's backlog past this is dropped at once (default 8388608)
  --outbox-grace SECS     how long a backlog may stay above the soft limit (default 3)
  --header-timeout SECS   a request must arrive within this, from its first byte (default 10)
  --keep-alive-timeout SECS  close an HTTP connection idle this long (default 30)
  --ping-interval SECS    ping a silent peer after this long (default 30)
  --idle-timeout SECS     drop a peer silent for this long (default 60)
  --write-timeout SECS    give up on a write that makes no progress this long (default 10)
";

/// The flag of the `deflate` layer (`src/deflate/`).
const USAGE_DEFLATE: &str = "\
  --deflate               agree to permessage-deflate (RFC 7692) when a client offers it
";

const USAGE_END: &str = "\
  --trace                 print every handshake and frame
  --help                  print this text
";

impl Config {
    /// Parses the command line (without the program name).
    ///
    /// Flags are parsed by hand: there are few of them, and a learner can
    /// read this loop faster than a library's documentation.
    pub fn from_args<I>(args: I) -> Result<Action, ArgError>
    where
        I: IntoIterator<Item = String>,
    {
        let mut config = Config::default();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            // `--flag=value` and `--flag value` are both accepted.
            let (name, inline) = match arg.split_once('=') {
                Some((name, value)) if name.starts_with("--") => {
                    (name.to_string(), Some(value.to_string()))
                }
                _ => (arg, None),
            };
            let mut flag = Flag { name: &name, inline, rest: &mut args };
            let limits = &mut config.limits;
            match name.as_str() {
                "--help" | "-h" => return Ok(Action::Help),
                "--trace" => config.trace = true,
                "--deflate" if cfg!(feature = "deflate") => config.deflate = true,
                "--deflate" => {
                    return Err(ArgError("--deflate needs the Cargo feature `deflate`".into()))
                }
                "--addr" => config.addr = parse_addr(&flag.text()?)?,
                "--root" => config.root = PathBuf::from(flag.text()?),
                "--allow-origin" => config.allowed_origins.push(flag.text()?),
                "--max-connections" => limits.max_connections = flag.number()?,
                "--max-message" => limits.max_message = flag.number()?,
                "--max-chat-text" => limits.max_chat_text = flag.number()?,
                "--max-chat-file" => limits.max_chat_file = flag.number()?,
                "--outbox-soft-bytes" => limits.outbox_soft_bytes = flag.number()?,
                "--outbox-hard-bytes" => limits.outbox_hard_bytes = flag.number()?,
                "--outbox-grace" => limits.outbox_grace = flag.seconds()?,
                "--header-timeout" => limits.header_deadline = flag.seconds()?,
                "--keep-alive-timeout" => limits.keep_alive_idle = flag.seconds()?,
                "--ping-interval" => limits.ping_interval = flag.seconds()?,
                "--idle-timeout" => limits.idle_timeout = flag.seconds()?,
                "--write-timeout" => limits.write_timeout = flag.seconds()?,
                #[cfg(feature = "push")]
                "--long-poll-max" => limits.push.long_poll_max = flag.seconds()?,
                #[cfg(feature = "push")]
                "--heartbeat" => limits.push.event_stream_heartbeat = flag.seconds()?,
                #[cfg(feature = "redis")]
                "--redis" => config.redis = Some(flag.text()?),
                #[cfg(feature = "redis")]
                "--redis-heartbeat" => limits.redis.heartbeat = flag.seconds()?,
                #[cfg(feature = "redis")]
                "--redis-queue-bytes" => limits.redis.queue_bytes = flag.number()?,
                #[cfg(feature = "redis")]
                "--redis-backoff-max" => limits.redis.backoff_max = flag.seconds()?,
                other => return Err(ArgError(format!("unknown option {other:?}"))),
            }
        }
        let limits = &config.limits;
        if limits.outbox_soft_bytes > limits.outbox_hard_bytes {
            return Err(ArgError("--outbox-soft-bytes is above --outbox-hard-bytes".into()));
        }
        Ok(Action::Run(Box::new(config)))
    }
}

/// One flag being read, and where its value comes from: after its `=`, or
/// else the next argument.
struct Flag<'a> {
    name: &'a str,
    inline: Option<String>,
    rest: &'a mut dyn Iterator<Item = String>,
}

impl Flag<'_> {
    fn text(&mut self) -> Result<String, ArgError> {
        let value = self.inline.take().or_else(|| self.rest.next());
        value.ok_or_else(|| ArgError(format!("{} needs a value", self.name)))
    }

    fn number(&mut self) -> Result<usize, ArgError> {
        let text = self.text()?;
        match text.parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(ArgError(format!("{}: {text:?} is not a positive number", self.name))),
        }
    }

    /// Seconds, as a positive number between a millisecond and a year: a
    /// smaller timeout would round to zero (which sockets refuse), a larger
    /// one would overflow a `Duration` (`1e30` would panic in
    /// `from_secs_f64`).
    fn seconds(&mut self) -> Result<Duration, ArgError> {
        const YEAR: f64 = 365.0 * 24.0 * 3600.0;
        let text = self.text()?;
        match text.parse::<f64>() {
            Ok(s) if (0.001..=YEAR).contains(&s) => Ok(Duration::from_secs_f64(s)),
            _ => Err(ArgError(format!(
                "{}: {text:?} is not a number of seconds between 0.001 and a year",
                self.name
            ))),
        }
    }
}

fn parse_addr(text: &str) -> Result<SocketAddr, ArgError> {
    use std::net::ToSocketAddrs;
    // ToSocketAddrs accepts names such as `localhost:8080` as well as
    // literal addresses; the first address it resolves to is used.
    text.to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .ok_or_else(|| ArgError(format!("--addr: {text:?} is not HOST:PORT")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Action, ArgError> {
        Config::from_args(args.iter().map(|s| s.to_string()))
    }

    fn run(args: &[&str]) -> Config {
        match parse(args) {
            Ok(Action::Run(config)) => *config,
            other => panic!("expected a config, got {other:?}"),
        }
    }

    #[test]
    fn defaults_listen_on_loopback_8080() {
        let config = run(&[]);
        assert_eq!(config.addr.to_string(), "127.0.0.1:8080");
        assert!(config.root.ends_with("www"));
        assert_eq!(config.limits.max_connections, 10_000);
        assert_eq!(config.limits.max_message, 16 * MIB);
        assert_eq!(config.limits.idle_timeout, Duration::from_secs(60));
    }

    #[test]
    fn flags_with_space_or_equals() {
        let config = run(&["--addr", "127.0.0.1:0", "--root=/tmp", "--allow-origin", "*"]);
        assert_eq!(config.addr.port(), 0);
        assert_eq!(config.root, PathBuf::from("/tmp"));
        assert_eq!(config.allowed_origins, vec!["*".to_string()]);
        let config = run(&["--write-timeout", "1.5", "--ping-interval=0.25"]);
        assert_eq!(config.limits.write_timeout, Duration::from_millis(1500));
        assert_eq!(config.limits.ping_interval, Duration::from_millis(250));
    }

    #[test]
    #[cfg(feature = "push")]
    fn push_flags() {
        let config = run(&["--long-poll-max", "1.5", "--heartbeat=0.25"]);
        assert_eq!(config.limits.push.long_poll_max, Duration::from_millis(1500));
        assert_eq!(config.limits.push.event_stream_heartbeat, Duration::from_millis(250));
    }

    #[test]
    #[cfg(feature = "redis")]
    fn redis_is_off_unless_asked_for() {
        assert!(run(&[]).redis.is_none());
        let config = run(&["--redis", "127.0.0.1:6390", "--redis-heartbeat", "0.5"]);
        assert_eq!(config.redis.as_deref(), Some("127.0.0.1:6390"));
        assert_eq!(config.limits.redis.heartbeat, Duration::from_millis(500));
        // What the address means is `src/redis/address.rs`'s business, and
        // tested there; `main.rs` refuses a bad one before starting.
    }

    #[test]
    fn a_layer_left_out_leaves_no_flag() {
        assert_eq!(usage().contains("--redis"), cfg!(feature = "redis"));
        assert_eq!(usage().contains("--long-poll-max"), cfg!(feature = "push"));
        assert_eq!(usage().contains("--deflate"), cfg!(feature = "deflate"));
        assert_eq!(parse(&["--redis", "127.0.0.1:6390"]).is_ok(), cfg!(feature = "redis"));
        assert_eq!(parse(&["--heartbeat", "1"]).is_ok(), cfg!(feature = "push"));
        assert!(usage().starts_with("duplex: ") && usage().ends_with("print this text\n"));
    }

    #[test]
    fn help_and_errors() {
        assert!(matches!(parse(&["--help"]), Ok(Action::Help)));
        assert!(parse(&["--bogus"]).is_err());
        assert!(parse(&["--addr"]).is_err());
        assert!(parse(&["--addr", "not an address"]).is_err());
        assert!(parse(&["--max-connections", "0"]).is_err());
        assert!(parse(&["--idle-timeout", "-1"]).is_err());
        assert!(parse(&["--idle-timeout", "1e30"]).is_err());
        assert!(parse(&["--idle-timeout", "1e-10"]).is_err());
        assert!(parse(&["--idle-timeout", "NaN"]).is_err());
    }
}
