//! # The subscriber thread: hearing the room, and getting it back
//!
//! One thread per process listens on the room's channel and hands every
//! event to the room ([`Room::deliver_from_bus`]). It is also the thread
//! that (re)joins the shared room, because joining starts with subscribing.
//!
//! **Joining** ([`join_shared_room`]), in this order:
//!
//! 1. open a connection and `SUBSCRIBE` to the channel, and wait for the
//!    confirmation: from here on, every event published reaches us;
//! 2. on a second connection, run the sync script (`scripts.rs`): it
//!    raises the counter to at least our newest `seq`, writes our members
//!    into our hash, and reads the history and the other processes'
//!    members, all at one instant, numbered `as_of`;
//! 3. [`Room::go_shared`]: the room takes the snapshot and starts queuing
//!    its events for Redis instead of numbering them itself.
//!
//! Events published between 1 and 2 wait in the subscription's socket;
//! the room skips those numbered up to `as_of` (the snapshot has them).
//! Nothing falls between the two, and nothing is counted twice.
//!
//! **Listening** (`listen`) is a loop on `Subscriber::receive`, which
//! waits at most [`IDLE_TICK`] for a push. Each tick it checks whether the
//! room still has the link it joined with (the publisher may have found it
//! broken), and after a heartbeat of silence it sends `PING`: a Redis that
//! does not answer within the read timeout counts as gone, even if its TCP
//! connection says nothing (a machine that lost power sends no FIN).
//!
//! **Losing the link**: any error that leaves the subscription unusable
//! is reported with [`Room::link_lost`], and the thread tries to join
//! again: at once, then after 100 ms, 200 ms, 400 ms... up to
//! `--redis-backoff-max` ([`Backoff`]). Doubling keeps a process from
//! hammering a Redis that is struggling to come back; the cap keeps the
//! wait short once it is back. (With thousands of processes, each wait
//! would also get a random part, "jitter", so they do not all retry in
//! the same millisecond; two processes do not need it.)
//!
//! That ends the chat chapters. Read next: `src/server/mod.rs`, where
//! connections come from.

use std::fmt;
use std::thread;
use std::time::{Duration, Instant};

use super::envelope::Envelope;
use super::link::LinkedRoom;
use super::scripts;
use super::settings::BusSettings;
use crate::chat::room::Room;
use crate::chat::wakeups;
use crate::log;
use crate::redis::{split_sequenced, RedisConnection, RedisError, Subscriber, SubscriberEvent};

/// How long one wait for a push lasts: how quickly the thread notices that
/// the publisher has declared the link lost.
pub const IDLE_TICK: Duration = Duration::from_millis(250);

/// The first wait before a second attempt to reconnect.
pub const FIRST_RETRY: Duration = Duration::from_millis(100);

/// Attempts at the sync script before giving up on one connection: each
/// fails only if a local event happened during the round trip.
const SYNC_ATTEMPTS: usize = 5;

/// A subscription, and the link it belongs to.
#[derive(Debug)]
pub struct Session {
    subscriber: Subscriber,
    epoch: u64,
    as_of: u64,
}

impl Session {
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The counter at the snapshot: the shared room continues after it.
    pub fn as_of(&self) -> u64 {
        self.as_of
    }
}

/// Why joining the shared room failed.
#[derive(Debug)]
pub enum JoinError {
    Redis(RedisError),
    /// Local events kept happening while the snapshot was taken.
    Unsettled,
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinError::Redis(error) => write!(f, "{error}"),
            JoinError::Unsettled => f.write_str("the room kept changing during the sync"),
        }
    }
}

impl From<RedisError> for JoinError {
    fn from(error: RedisError) -> Self {
        JoinError::Redis(error)
    }
}

/// Subscribes, syncs and switches the room to shared (see the top of this
/// file). Returns the subscription, and the connection the sync ran on,
/// which the publisher may use.
pub fn join_shared_room(
    room: &Room,
    settings: &BusSettings,
) -> Result<(Session, RedisConnection), JoinError> {
    let open = || -> Result<RedisConnection, RedisError> {
        let mut connection = RedisConnection::open(&settings.address, &settings.timeouts)?;
        connection.set_limits(settings.resp_limits.clone());
        Ok(connection)
    };
    let subscriber = open()?.subscribe(&[settings.keys.channel.as_str()])?;
    let mut commands = open()?;
    for _ in 0..SYNC_ATTEMPTS {
        let point = room.sync_point();
        let snapshot = scripts::sync(&mut commands, &settings.keys, &point, settings.ttl)?;
        let as_of = snapshot.as_of;
        if room.go_shared(&point, snapshot) {
            return Ok((Session { subscriber, epoch: point.epoch, as_of }, commands));
        }
    }
    Err(JoinError::Unsettled)
}

/// The subscriber thread: listen while the link holds, rejoin when not.
pub fn run(room: &Room, settings: &BusSettings, mut session: Option<Session>) {
    loop {
        let current = match session.take() {
            Some(session) => session,
            None => rejoin(room, settings),
        };
        listen(room, settings, current);
    }
}

/// Tries to join the shared room until it works, waiting longer after
/// each failure, and logs the recovery.
fn rejoin(room: &Room, settings: &BusSettings) -> Session {
    let alone_since = Instant::now();
    let mut backoff = Backoff::new(FIRST_RETRY, settings.backoff_max);
    let mut attempt = 1;
    loop {
        match join_shared_room(room, settings) {
            Ok((session, _commands)) => {
                log!(
                    "redis: link restored after {attempt} attempt(s), {:.1?} alone; \
                     seq continues from {}",
                    alone_since.elapsed(),
                    session.as_of
                );
                return session;
            }
            Err(error) => {
                let wait = backoff.next_wait();
                log!("redis: reconnect attempt {attempt} failed: {error}; next in {wait:?}");
                // The backoff itself: this thread has nothing else to do.
                thread::sleep(wait);
                attempt += 1;
            }
        }
    }
}

/// Hands every event to the room until the link is lost.
fn listen(room: &Room, settings: &BusSettings, session: Session) {
    let Session { mut subscriber, epoch, .. } = session;
    if let Err(error) = subscriber.set_idle_timeout(IDLE_TICK) {
        room.link_lost(epoch, &format!("subscription: {error}"));
        return;
    }
    let mut last_heard = Instant::now();
    let mut ping_sent: Option<Instant> = None;
    // Events from Redis come in bursts too: wake each member's writer once
    // per burst, when the subscription's socket runs dry, not once per
    // event (`src/chat/wakeups.rs`; dropping the guard wakes what is owed).
    let _deferring = wakeups::defer_on_this_thread();
    loop {
        if room.link_epoch() != Some(epoch) {
            return; // lost, and reported, by the publisher
        }
        if !subscriber.has_buffered() {
            wakeups::wake_pending();
        }
        match subscriber.receive() {
            Ok(SubscriberEvent::Message { payload, .. }) => {
                last_heard = Instant::now();
                deliver(room, epoch, &payload);
            }
            Ok(SubscriberEvent::Pong(_)) => {
                last_heard = Instant::now();
                ping_sent = None;
            }
            Ok(SubscriberEvent::Idle) => match ping_sent {
                Some(sent) if sent.elapsed() >= settings.timeouts.read => {
                    room.link_lost(epoch, "Redis did not answer a PING");
                    return;
                }
                Some(_) => {}
                None if last_heard.elapsed() >= settings.heartbeat => {
                    if let Err(error) = subscriber.ping(b"duplex") {
                        room.link_lost(epoch, &format!("subscription: {error}"));
                        return;
                    }
                    ping_sent = Some(Instant::now());
                }
                None => {}
            },
            // Confirmations of (un)subscribing: nothing to do.
            Ok(_) => {}
            Err(error) if error.leaves_connection_usable() => {
                log!("redis: subscription: {error}; carrying on");
            }
            Err(error) => {
                room.link_lost(epoch, &format!("subscription: {error}"));
                return;
            }
        }
    }
}

/// One message from the channel: `SEQ ENVELOPE`, read and delivered. A
/// message that cannot be read is logged and skipped; the room goes on.
fn deliver(room: &Room, epoch: u64, payload: &[u8]) {
    let Some((seq, body)) = split_sequenced(payload) else {
        log!("redis: a message without a seq on the channel; skipped");
        return;
    };
    match Envelope::decode(body) {
        Ok(envelope) => room.deliver_from_bus(epoch, seq, envelope),
        Err(error) => log!("redis: event {seq} could not be read ({error}); skipped"),
    }
}

/// Waits that double after each failure, up to a cap.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    pub fn new(first: Duration, max: Duration) -> Backoff {
        Backoff { next: first.min(max), max }
    }

    /// The wait before the next attempt.
    pub fn next_wait(&mut self) -> Duration {
        let wait = self.next;
        self.next = (self.next * 2).min(self.max);
        wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_millis(1000));
        let waits: Vec<u128> = (0..7).map(|_| backoff.next_wait().as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 800, 1000, 1000, 1000]);
    }
}
