//! # The publisher thread: events out, and the heartbeat
//!
//! One thread per process owns the connection that runs commands. It
//! takes the events the room queued (`queue.rs`), oldest first, and runs
//! each through the room event script (`scripts.rs`), which numbers,
//! records and publishes it. It does not deliver anything: the event
//! comes back on the subscription, numbered, and is delivered then.
//!
//! Between events, every heartbeat (`--redis-heartbeat`, 5 s), it:
//!
//! 1. refreshes our members hash: if none of our events is on its way
//!    (`Room::settled_roster`), it rewrites the hash from the roster,
//!    which repairs it after anything (Redis restarted, the hash expired
//!    while we were stuck); if some are, it only extends the expiry, since
//!    the roster is about to change;
//! 2. reads the counter and the other processes' hashes, and offers them
//!    to the room (`Room::refresh_roster`): that is how the members of a
//!    process that died leave the member list, once their hash expires.
//!
//! Rewriting is exact because this thread is the only one that publishes:
//! every event queued before the roster was read has been published and
//! delivered (or the roster would not be settled), and every event queued
//! after it is published after this heartbeat.
//!
//! Any error counts as a broken link: the connection is dropped, and
//! [`Room::link_lost`] makes the room deliver everything pending by itself
//! and starts a new epoch. Jobs of an old epoch are skipped (the room
//! delivered them), and the next job of the new epoch opens a fresh
//! connection. Reconnecting with backoff is the subscriber's business: it
//! decides when the room is shared again.
//!
//! Read next: `src/redis/bus/subscriber.rs`.

use std::time::Instant;

use super::link::LinkedRoom;
use super::queue::{Job, PublishQueue};
use super::scripts;
use super::settings::BusSettings;
use crate::chat::room::Room;
use crate::redis::RedisConnection;

/// A command connection, and the link epoch it was opened for.
pub type EpochConnection = (u64, RedisConnection);

/// The publisher thread's loop. `connection` is the one the first sync ran
/// on, if any.
pub fn run(
    room: &Room,
    queue: &PublishQueue,
    settings: &BusSettings,
    mut connection: Option<EpochConnection>,
) {
    let mut next_heartbeat = Instant::now() + settings.heartbeat;
    loop {
        let wait = next_heartbeat.saturating_duration_since(Instant::now());
        if let Some(job) = queue.pop(wait) {
            publish(room, settings, &mut connection, job);
        }
        if Instant::now() >= next_heartbeat {
            heartbeat(room, settings, &mut connection);
            next_heartbeat = Instant::now() + settings.heartbeat;
        }
    }
}

/// Publishes one job, unless its epoch is over.
fn publish(
    room: &Room,
    settings: &BusSettings,
    connection: &mut Option<EpochConnection>,
    job: Job,
) {
    if room.link_epoch() != Some(job.epoch) {
        return; // the room delivered it by itself when the link was lost
    }
    let Some(redis) = connection_for(room, settings, connection, job.epoch) else { return };
    if let Err(error) = scripts::publish(redis, &settings.keys, &job.envelope, settings.ttl) {
        *connection = None;
        room.link_lost(job.epoch, &format!("publishing: {error}"));
    }
}

/// See the top of this file.
fn heartbeat(room: &Room, settings: &BusSettings, connection: &mut Option<EpochConnection>) {
    let Some(epoch) = room.link_epoch() else { return };
    let Some(redis) = connection_for(room, settings, connection, epoch) else { return };
    let (keys, ttl) = (&settings.keys, settings.ttl);
    let refreshed = match room.settled_roster(epoch) {
        Some(ours) => scripts::rewrite_ours(redis, keys, &ours, ttl),
        None => scripts::keep_ours_alive(redis, keys, ttl),
    };
    match refreshed.and_then(|()| scripts::read_roster(redis, keys)) {
        Ok((as_of, others)) => {
            room.refresh_roster(epoch, as_of, others);
        }
        Err(error) => {
            *connection = None;
            room.link_lost(epoch, &format!("heartbeat: {error}"));
        }
    }
}

/// The connection for `epoch`: the one we have if it was opened for this
/// epoch, or a new one (after a loss, the old one is not trusted). When
/// none can be opened, the link of `epoch` is lost.
fn connection_for<'c>(
    room: &Room,
    settings: &BusSettings,
    connection: &'c mut Option<EpochConnection>,
    epoch: u64,
) -> Option<&'c mut RedisConnection> {
    if !matches!(connection, Some((opened_for, _)) if *opened_for == epoch) {
        *connection = None;
        match RedisConnection::open(&settings.address, &settings.timeouts) {
            Ok(redis) => *connection = Some((epoch, redis)),
            Err(error) => {
                room.link_lost(epoch, &format!("publisher cannot connect: {error}"));
                return None;
            }
        }
    }
    connection.as_mut().map(|(_, redis)| redis)
}
