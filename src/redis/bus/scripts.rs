//! # The room in Redis: keys, and the scripts that change them
//!
//! Everything one room keeps in Redis, for the room `main`:
//!
//! ```text
//! duplex:room:main:seq               string  the counter: the last seq handed out
//! duplex:room:main:history           list    the last 100 messages, "SEQ ENVELOPE", oldest first
//! duplex:room:main:events            channel every event, "SEQ ENVELOPE" (pub/sub, not a key)
//! duplex:room:main:processes         set     ids of the processes that have members
//! duplex:room:main:members:PROCESS   hash    MEMBER-ID -> "JOIN-SEQ NAME", expires unless refreshed
//! ```
//!
//! Each change is one Lua script, run by `EVAL`, because a script runs
//! atomically: no other command runs in Redis until it returns.
//!
//! - [`ROOM_EVENT_SCRIPT`] is phase one's `SEQUENCED_PUBLISH_SCRIPT`
//!   (`src/redis/sequenced.rs`) grown by the member list: it numbers the
//!   event, records it if it is a message, updates the sender's process's
//!   members hash if it is a join, leave or rename, and publishes it. So
//!   the counter, the history, the member hashes and the order on the
//!   channel always tell the same story: whoever reads the hashes when the
//!   counter says 41 sees the members as events 1 to 41 left them.
//! - [`SYNC_SCRIPT`] is run by a process (re)joining the shared room (see
//!   `src/redis/bus/link.rs`): raise the counter, rewrite our hash, read
//!   the history and everyone else's hashes, all at one instant.
//! - [`ROSTER_SCRIPT`] reads the counter and the other hashes, for the
//!   periodic refresh; [`OURS_SCRIPT`] rewrites our hash, for the heartbeat.
//!
//! ## Why a hash per process, and expiry
//!
//! Redis 7.0 (Debian's) cannot expire one field of a hash, only a whole
//! key. A process that crashes never says its members left, so their
//! entries must go by themselves: each process keeps its own hash, and
//! refreshes its expiry every heartbeat (`PEXPIRE`, milliseconds). Once a
//! process stops, its hash disappears one TTL after its last heartbeat.
//! The set `processes` says which hashes to look at; a name in it whose
//! hash has gone is removed by the next script that notices.
//!
//! Traps:
//! - Redis Cluster routes each command by its keys, so a script must name
//!   every key it touches in `KEYS`. [`SYNC_SCRIPT`] and [`ROSTER_SCRIPT`]
//!   build hash names from the set's members inside Lua, which a single
//!   Redis allows and a cluster does not. (Putting `{main}` in every name,
//!   a "hash tag", would keep a room's keys on one cluster node.)
//! - A script blocks all of Redis while it runs. These loop over the
//!   processes and their members: a few hundred entries for a classroom,
//!   microseconds. A room of a million members would want another design.
//! - `redis.call('GET', key)` of a missing key is `false` in Lua, not
//!   `nil`: `tonumber(x or '0')` handles both.
//!
//! Read next: `src/redis/bus/queue.rs`, where events wait for the script.

use std::time::Duration;

use super::envelope::{Envelope, ProcessId};
use super::link::{Snapshot, SyncPoint};
use super::roster::RosterEntry;
use crate::chat::history::{Recorded, HISTORY_MESSAGES};
use crate::chat::protocol::{Change, Stamp};
use crate::chat::room::MemberId;
use crate::redis::{split_sequenced, RedisConnection, RedisError, Reply};

/// Every name one room uses in Redis, built once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomKeys {
    pub counter: String,
    pub history: String,
    pub channel: String,
    pub registry: String,
    /// `duplex:room:main:members:`, to which a process id is appended.
    pub members_prefix: String,
    /// This process's members hash.
    pub ours: String,
    pub origin: ProcessId,
}

impl RoomKeys {
    pub fn new(room: &str, origin: &ProcessId) -> RoomKeys {
        let base = format!("duplex:room:{room}:");
        let members_prefix = format!("{base}members:");
        RoomKeys {
            counter: format!("{base}seq"),
            history: format!("{base}history"),
            channel: format!("{base}events"),
            registry: format!("{base}processes"),
            ours: format!("{members_prefix}{origin}"),
            members_prefix,
            origin: origin.clone(),
        }
    }
}

/// `KEYS`: counter, history, registry, our members hash. `ARGV`: channel,
/// envelope, messages kept (0 for anything but a message), member change
/// (`''`, `join`, `rename`, `leave`), member id, name (joined or renamed
/// to), our process id, TTL in ms. Returns the event's `seq`.
///
/// Why this repeats [`SEQUENCED_PUBLISH_SCRIPT`](crate::redis::SEQUENCED_PUBLISH_SCRIPT)
/// instead of calling it: Redis runs one script per `EVAL`, and a script
/// cannot call another, so the member-hash update must sit *inside* the
/// same script, between the numbering and the `PUBLISH`, for the three to
/// be one atomic step. And a Lua text cannot be built from another at
/// compile time in Rust (`concat!` takes literals, not constants). So
/// both exist: the general one in `src/redis/` (phase one, and its
/// tests), and this one, the same lines with the members in the middle.
/// A test below checks that the shared lines stay the same.
pub const ROOM_EVENT_SCRIPT: &str = "\
local seq = redis.call('INCR', KEYS[1])
local stamped = seq .. ' ' .. ARGV[2]
local keep = tonumber(ARGV[3])
if keep > 0 then
  redis.call('RPUSH', KEYS[2], stamped)
  redis.call('LTRIM', KEYS[2], -keep, -1)
end
local change = ARGV[4]
if change == 'join' then
  redis.call('HSET', KEYS[4], ARGV[5], seq .. ' ' .. ARGV[6])
elseif change == 'rename' then
  local old = redis.call('HGET', KEYS[4], ARGV[5])
  local joined = old and string.match(old, '^%d+') or seq
  redis.call('HSET', KEYS[4], ARGV[5], joined .. ' ' .. ARGV[6])
elseif change == 'leave' then
  redis.call('HDEL', KEYS[4], ARGV[5])
end
if change ~= '' then
  redis.call('SADD', KEYS[3], ARGV[7])
  redis.call('PEXPIRE', KEYS[4], ARGV[8])
end
redis.call('PUBLISH', ARGV[1], stamped)
return seq
";

/// The shared part of the scripts below, with `KEYS[1]` the counter,
/// `KEYS[2]` the registry, `ARGV[1]` our process id and `ARGV[2]` the
/// members hash prefix: the other processes' hashes, as a flat list
/// `process, {field, value, ...}, process, ...`; a registered process
/// whose hash has expired is struck from the registry.
macro_rules! read_others {
    () => {
        "\
local others = {}
for _, process in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  if process ~= ARGV[1] then
    local entries = redis.call('HGETALL', ARGV[2] .. process)
    if #entries == 0 then
      redis.call('SREM', KEYS[2], process)
    else
      table.insert(others, process)
      table.insert(others, entries)
    end
  end
end
"
    };
}

/// Rewrites our hash from `ARGV[5]` on (field, value pairs), with
/// `KEYS[2]` the registry, `KEYS[3]` our hash, `ARGV[1]` our id and
/// `ARGV[4]` the TTL in ms.
macro_rules! write_ours {
    () => {
        "\
redis.call('DEL', KEYS[3])
for i = 5, #ARGV, 2 do
  redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1])
end
if #ARGV >= 5 then
  redis.call('PEXPIRE', KEYS[3], ARGV[4])
  redis.call('SADD', KEYS[2], ARGV[1])
end
"
    };
}

/// `KEYS`: counter, registry, our hash, history. `ARGV`: our id, members
/// prefix, floor, TTL in ms, then our members as field, value pairs.
/// Raises the counter to the floor, rewrites our hash, and returns
/// `{counter, history, others}`.
pub const SYNC_SCRIPT: &str = concat!(
    "\
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current < tonumber(ARGV[3]) then
  redis.call('SET', KEYS[1], ARGV[3])
  current = tonumber(ARGV[3])
end
",
    write_ours!(),
    read_others!(),
    "return {current, redis.call('LRANGE', KEYS[4], 0, -1), others}\n"
);

/// `KEYS`: counter, registry. `ARGV`: our id, members prefix. Returns
/// `{counter, others}`.
pub const ROSTER_SCRIPT: &str =
    concat!(read_others!(), "return {tonumber(redis.call('GET', KEYS[1]) or '0'), others}\n");

/// `KEYS`: counter (unused), registry, our hash. `ARGV`: our id, members
/// prefix (unused), floor (unused), TTL in ms, our members as pairs. The
/// unused slots keep the argument positions of [`SYNC_SCRIPT`].
pub const OURS_SCRIPT: &str = concat!(write_ours!(), "return 1\n");

/// Publishes one event with [`ROOM_EVENT_SCRIPT`]; returns its `seq`.
pub fn publish(
    redis: &mut RedisConnection,
    keys: &RoomKeys,
    envelope: &Envelope,
    ttl: Duration,
) -> Result<u64, RedisError> {
    let member = envelope.member.map(|m| m.0.to_string()).unwrap_or_default();
    let (keep, change, name) = match &envelope.change {
        Change::Message { .. } => (HISTORY_MESSAGES, "", ""),
        Change::File { .. } => (0, "", ""),
        Change::Join { name } => (0, "join", name.as_str()),
        Change::Rename { to, .. } => (0, "rename", to.as_str()),
        Change::Leave { .. } => (0, "leave", ""),
    };
    let (keep, ttl) = (keep.to_string(), millis(ttl));
    let payload = envelope.encode();
    let keys_used =
        [&keys.counter, &keys.history, &keys.registry, &keys.ours].map(|k| k.as_bytes());
    let args: [&[u8]; 8] = [
        keys.channel.as_bytes(),
        &payload,
        keep.as_bytes(),
        change.as_bytes(),
        member.as_bytes(),
        name.as_bytes(),
        keys.origin.as_str().as_bytes(),
        ttl.as_bytes(),
    ];
    match redis.eval(ROOM_EVENT_SCRIPT, &keys_used, &args)? {
        Reply::Integer(seq) if seq > 0 => Ok(seq.unsigned_abs()),
        other => Err(RedisError::unexpected("EVAL (room event)", &other)),
    }
}

/// Runs [`SYNC_SCRIPT`] for a process at `point`.
pub fn sync(
    redis: &mut RedisConnection,
    keys: &RoomKeys,
    point: &SyncPoint,
    ttl: Duration,
) -> Result<Snapshot, RedisError> {
    let reply = run_with_ours(redis, keys, SYNC_SCRIPT, point.floor, &point.ours, ttl, true)?;
    let parts = match reply {
        Reply::Array(parts) => parts,
        other => return Err(RedisError::unexpected("EVAL (sync)", &other)),
    };
    let [Reply::Integer(as_of), Reply::Array(history), Reply::Array(others)] = &parts[..] else {
        let got = format!("array of {} values", parts.len());
        return Err(RedisError::UnexpectedReply { command: "EVAL (sync)", got });
    };
    let history = render_history(history);
    let trimmed_through = match history.first() {
        Some(first) if history.len() >= HISTORY_MESSAGES => first.seq.saturating_sub(1),
        _ => 0,
    };
    let as_of = as_of.unsigned_abs();
    Ok(Snapshot { as_of, history, trimmed_through, others: roster_from(others) })
}

/// Runs [`ROSTER_SCRIPT`]: the counter, and the other processes' members.
pub fn read_roster(
    redis: &mut RedisConnection,
    keys: &RoomKeys,
) -> Result<(u64, Vec<RosterEntry>), RedisError> {
    let keys_used = [keys.counter.as_bytes(), keys.registry.as_bytes()];
    let args = [keys.origin.as_str().as_bytes(), keys.members_prefix.as_bytes()];
    let parts = match redis.eval(ROSTER_SCRIPT, &keys_used, &args)? {
        Reply::Array(parts) => parts,
        other => return Err(RedisError::unexpected("EVAL (roster)", &other)),
    };
    match &parts[..] {
        [Reply::Integer(as_of), Reply::Array(others)] => {
            Ok((as_of.unsigned_abs(), roster_from(others)))
        }
        _ => {
            let got = format!("array of {} values", parts.len());
            Err(RedisError::UnexpectedReply { command: "EVAL (roster)", got })
        }
    }
}

/// Runs [`OURS_SCRIPT`]: our hash becomes exactly `ours`.
pub fn rewrite_ours(
    redis: &mut RedisConnection,
    keys: &RoomKeys,
    ours: &[RosterEntry],
    ttl: Duration,
) -> Result<(), RedisError> {
    run_with_ours(redis, keys, OURS_SCRIPT, 0, ours, ttl, false).map(|_| ())
}

/// `PEXPIRE` of our hash: the heartbeat when our members are in flux.
pub fn keep_ours_alive(
    redis: &mut RedisConnection,
    keys: &RoomKeys,
    ttl: Duration,
) -> Result<(), RedisError> {
    redis.command(&[b"PEXPIRE", keys.ours.as_bytes(), millis(ttl).as_bytes()]).map(|_| ())
}

/// [`SYNC_SCRIPT`] or [`OURS_SCRIPT`], which take the same arguments.
fn run_with_ours(
    redis: &mut RedisConnection,
    keys: &RoomKeys,
    script: &str,
    floor: u64,
    ours: &[RosterEntry],
    ttl: Duration,
    with_history: bool,
) -> Result<Reply, RedisError> {
    let mut keys_used =
        vec![keys.counter.as_bytes(), keys.registry.as_bytes(), keys.ours.as_bytes()];
    if with_history {
        keys_used.push(keys.history.as_bytes());
    }
    let (floor, ttl) = (floor.to_string(), millis(ttl));
    let pairs: Vec<(String, String)> = ours
        .iter()
        .map(|entry| (entry.member.0.to_string(), format!("{} {}", entry.joined, entry.name)))
        .collect();
    let mut args: Vec<&[u8]> = vec![
        keys.origin.as_str().as_bytes(),
        keys.members_prefix.as_bytes(),
        floor.as_bytes(),
        ttl.as_bytes(),
    ];
    for (field, value) in &pairs {
        args.push(field.as_bytes());
        args.push(value.as_bytes());
    }
    redis.eval(script, &keys_used, &args)
}

fn millis(duration: Duration) -> String {
    duration.as_millis().max(1).to_string()
}

/// The history list's messages, rendered as the members get them. An
/// entry that cannot be read is left out (and a poll will see a gap).
fn render_history(entries: &[Reply]) -> Vec<Recorded> {
    let mut history = Vec::with_capacity(entries.len());
    for entry in entries {
        let Reply::Bulk(stamped) = entry else { continue };
        let Some((seq, payload)) = split_sequenced(stamped) else { continue };
        let Ok(envelope) = Envelope::decode(payload) else { continue };
        if matches!(envelope.change, Change::Message { .. }) {
            let json = envelope.change.to_json(Some(Stamp { seq, time: envelope.time }));
            history.push(Recorded { seq, json: json.into() });
        }
    }
    history
}

/// `process, {field, value, ...}, ...` as roster entries; malformed
/// entries are left out.
fn roster_from(flat: &[Reply]) -> Vec<RosterEntry> {
    let mut entries = Vec::new();
    for pair in flat.chunks_exact(2) {
        let [Reply::Bulk(process), Reply::Array(fields)] = pair else { continue };
        let Some(origin) = std::str::from_utf8(process).ok().and_then(ProcessId::parse) else {
            continue;
        };
        for field_value in fields.chunks_exact(2) {
            let [Reply::Bulk(field), Reply::Bulk(value)] = field_value else { continue };
            let member = std::str::from_utf8(field).ok().and_then(|text| text.parse().ok());
            let joined_and_name = split_sequenced(value)
                .and_then(|(joined, name)| Some((joined, String::from_utf8(name.to_vec()).ok()?)));
            if let (Some(member), Some((joined, name))) = (member, joined_and_name) {
                let member = MemberId(member);
                entries.push(RosterEntry { origin: origin.clone(), member, name, joined });
            }
        }
    }
    entries
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redis::SEQUENCED_PUBLISH_SCRIPT;

    #[test]
    fn the_room_event_script_is_the_sequenced_publish_with_members_inside() {
        // Everything up to the end of the history trim, then the publish.
        let (numbering, publishing) = SEQUENCED_PUBLISH_SCRIPT
            .split_once("redis.call('PUBLISH'")
            .expect("the sequenced publish script publishes");
        assert!(ROOM_EVENT_SCRIPT.starts_with(numbering), "the numbering has drifted");
        let publish = format!("redis.call('PUBLISH'{publishing}");
        assert!(ROOM_EVENT_SCRIPT.ends_with(&publish), "the publishing has drifted");
        assert!(ROOM_EVENT_SCRIPT.len() > SEQUENCED_PUBLISH_SCRIPT.len());
    }

    #[test]
    fn keys_are_named_after_the_room_and_the_process() {
        let keys = RoomKeys::new("main", &ProcessId::new("42-ab"));
        assert_eq!(keys.counter, "duplex:room:main:seq");
        assert_eq!(keys.history, "duplex:room:main:history");
        assert_eq!(keys.channel, "duplex:room:main:events");
        assert_eq!(keys.registry, "duplex:room:main:processes");
        assert_eq!(keys.ours, "duplex:room:main:members:42-ab");
    }

    #[test]
    fn the_scripts_are_assembled_from_their_parts() {
        assert!(SYNC_SCRIPT.contains("redis.call('SET', KEYS[1], ARGV[3])"));
        assert!(SYNC_SCRIPT.contains("redis.call('DEL', KEYS[3])"));
        assert!(SYNC_SCRIPT.ends_with("others}\n"));
        assert!(ROSTER_SCRIPT.starts_with("local others = {}"));
        assert!(!OURS_SCRIPT.contains("LRANGE"));
    }

    #[test]
    fn roster_replies_are_read_and_malformed_entries_left_out() {
        let bulk = |text: &str| Reply::Bulk(text.as_bytes().to_vec());
        let flat = [
            bulk("7-aa"),
            Reply::Array(vec![bulk("3"), bulk("12 ann lee"), bulk("x"), bulk("13 bad id")]),
            bulk("bad:process"),
            Reply::Array(vec![bulk("1"), bulk("1 eve")]),
            bulk("8-bb"),
            Reply::Array(vec![bulk("4"), bulk("no seq")]),
        ];
        let entries = roster_from(&flat);
        let ann = RosterEntry {
            origin: ProcessId::new("7-aa"),
            member: MemberId(3),
            name: "ann lee".into(),
            joined: 12,
        };
        assert_eq!(entries, [ann]);
    }
}
