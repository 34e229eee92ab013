//! # The fan-out's members: a thousand connections, one thread
//!
//! `fanout` needs members that cost less than the server, or it would
//! measure itself. A thread per member would pay, on this side too, one
//! wake-up per delivery. So the members are nonblocking connections
//! (`mux.rs`), and one [`Sweeper`] thread reads them all in turn, without
//! ever sleeping while the run lasts. It keeps its core busy, which is why
//! the load generator should be pinned to the core the server is not on.
//! An arrival is noticed within one sweep; the mean sweep time is reported
//! as the resolution of the latencies.
//!
//! Each member checks the messages it receives: all of them, in order, and
//! how long each took from the sender's stamp to its arrival.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use duplex::client::RandomSource;
use duplex::websocket::Message;

use crate::mux::MuxClient;
use crate::procfs::thread_cpu_ns;
use crate::rtt::STALL;
use crate::stats::Samples;

/// Threads that open the members' connections, one after another each.
const OPENERS: usize = 4;

/// The clock all threads stamp and read messages with.
pub fn since_start() -> Duration {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed()
}

/// What the members saw, all together.
#[derive(Default)]
pub struct Seen {
    pub samples: Samples,
    pub received: usize,
    pub out_of_order: usize,
    pub last_arrival: Option<Duration>,
}

/// Opens `count` members from a few threads, each with its own random
/// source for the handshake keys, each offering `offer` (see `--offer`).
pub fn open_members(
    addr: SocketAddr,
    count: usize,
    offer: Option<&str>,
    deadline: Instant,
) -> Result<Vec<MuxClient>, String> {
    let openers: Vec<_> = (0..OPENERS)
        .map(|opener| {
            let offer = offer.map(str::to_string);
            thread::spawn(move || {
                let mut random = RandomSource::open().map_err(|e| e.to_string())?;
                let mut clients = Vec::new();
                for i in (opener..count).step_by(OPENERS) {
                    if Instant::now() >= deadline {
                        return Err("time limit reached while members joined".to_string());
                    }
                    let resource = format!("/chat?name=m{i}");
                    let offer = offer.as_deref();
                    let client = MuxClient::connect(addr, &resource, offer, &mut random, STALL)?;
                    clients.push(client);
                }
                Ok(clients)
            })
        })
        .collect();
    let mut all = Vec::with_capacity(count);
    for opener in openers {
        all.extend(opener.join().map_err(|_| "an opener panicked".to_string())??);
    }
    Ok(all)
}

/// What the sender, the sweeper and the main thread tell each other.
#[derive(Default)]
pub struct Board {
    /// Members that have seen the sender join.
    pub ready: AtomicUsize,
    /// The sender has sent everything it will send.
    pub sent: AtomicBool,
    pub stop: AtomicBool,
}

/// One member: its connection, and where it is in the sequence.
struct Member {
    client: MuxClient,
    ready: bool,
    next: usize,
}

/// The thread that reads every member.
pub struct Sweeper {
    members: Vec<Member>,
    join: String,
    /// The sender's name in quotes, as it appears in a member list.
    quoted: String,
    tag: String,
    messages: usize,
    pub seen: Seen,
    pub errors: Vec<String>,
    /// Mean time of one sweep over all members, in µs.
    pub sweep_us: f64,
}

impl Sweeper {
    pub fn new(clients: Vec<MuxClient>, sender_name: &str, tag: &str, messages: usize) -> Sweeper {
        Sweeper {
            members: clients
                .into_iter()
                .map(|client| Member { client, ready: false, next: 0 })
                .collect(),
            join: format!("\"name\":\"{sender_name}\""),
            quoted: format!("\"{sender_name}\""),
            tag: tag.to_string(),
            messages,
            seen: Seen::default(),
            errors: Vec::new(),
            sweep_us: f64::NAN,
        }
    }

    /// Sweeps until every member has every message, or nothing has arrived
    /// for [`STALL`] after the sender finished, or the deadline. Returns the
    /// CPU time this thread spent once all members were ready.
    pub fn run(&mut self, board: &Board, deadline: Instant) -> u64 {
        let Ok(mut random) = RandomSource::open() else { return 0 };
        let mut scratch = vec![0u8; 64 * 1024];
        let wanted = self.members.len() * self.messages;
        let (mut sweeps, mut clock) = (0u64, None);
        let mut last_progress = Instant::now();
        let (join, quoted, tag) = (self.join.as_str(), self.quoted.as_str(), self.tag.as_str());
        let (seen, errors) = (&mut self.seen, &mut self.errors);
        while seen.received < wanted && Instant::now() < deadline {
            let mut bytes = 0;
            self.members.retain_mut(|member| {
                let polled = member.client.poll(&mut scratch, &mut random, |message| {
                    let Message::Text(text) = message else { return };
                    if !member.ready && sees_sender(text, join, quoted) {
                        member.ready = true;
                        board.ready.fetch_add(1, Ordering::AcqRel);
                    } else if let Some((number, stamp)) = bench_message(text, tag) {
                        let now = since_start();
                        seen.samples.push(now.saturating_sub(stamp));
                        seen.last_arrival = Some(now);
                        seen.received += 1;
                        seen.out_of_order += usize::from(number != member.next);
                        member.next = number + 1;
                    }
                });
                match polled {
                    Ok(read) => {
                        bytes += read;
                        true
                    }
                    Err(error) => {
                        errors.push(format!("a member's connection ended: {error}"));
                        false
                    }
                }
            });
            // The clock starts when everyone is ready: the join storm
            // before it is not the fan-out being measured.
            if clock.is_none() && board.ready.load(Ordering::Acquire) >= self.members.len() {
                clock = Some((thread_cpu_ns(), Instant::now()));
            }
            sweeps += u64::from(clock.is_some());
            if bytes > 0 {
                last_progress = Instant::now();
            } else if board.sent.load(Ordering::Acquire) && last_progress.elapsed() > STALL {
                break; // what has not arrived by now is lost
            }
        }
        let Some((cpu_start, since)) = clock else { return 0 };
        self.sweep_us = since.elapsed().as_secs_f64() * 1e6 / sweeps.max(1) as f64;
        thread_cpu_ns().saturating_sub(cpu_start)
    }
}

/// Does this event show the sender in the room? Its `join` does; but a
/// member whose own join was processed after the sender's (its handshake
/// finished first, its join came later) sees the sender in its `welcome`.
fn sees_sender(json: &str, join: &str, quoted: &str) -> bool {
    (json.contains("\"type\":\"join\"") && json.contains(join))
        || (json.starts_with("{\"type\":\"welcome\"") && json.contains(quoted))
}

/// `(number, sent at)` from a `message` event whose text is ours:
/// `TAG NUMBER NANOS padding`. The text is plain ASCII, so it appears in
/// the JSON unescaped and a substring search finds it.
fn bench_message(json: &str, tag: &str) -> Option<(usize, Duration)> {
    if !json.contains("\"type\":\"message\"") {
        return None;
    }
    let text = json.split_once("\"text\":\"")?.1;
    let mut words = text.strip_prefix(tag)?.split_whitespace();
    let number = words.next()?.parse().ok()?;
    let nanos = words.next()?.parse().ok()?;
    Some((number, Duration::from_nanos(nanos)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_messages_are_recognised() {
        let json =
            r#"{"type":"message","seq":8,"time":1,"from":"s","text":"fanout1 17 123456 xxxx"}"#;
        assert_eq!(bench_message(json, "fanout1"), Some((17, Duration::from_nanos(123456))));
        assert_eq!(bench_message(json, "fanout2"), None);
        let join = r#"{"type":"join","seq":9,"time":1,"name":"fanout1 1 2"}"#;
        assert_eq!(bench_message(join, "fanout1"), None);
    }

    #[test]
    fn the_sender_is_seen_in_a_join_or_a_welcome() {
        let (join, quoted) = ("\"name\":\"sender-1\"", "\"sender-1\"");
        let event = r#"{"type":"join","seq":9,"time":1,"name":"sender-1"}"#;
        assert!(sees_sender(event, join, quoted));
        let welcome = r#"{"type":"welcome","room":"main","you":"m3","members":["sender-1","m3"]}"#;
        assert!(sees_sender(welcome, join, quoted));
        let other = r#"{"type":"join","seq":9,"time":1,"name":"sender-10"}"#;
        assert!(!sees_sender(other, join, quoted));
    }
}
