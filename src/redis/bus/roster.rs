//! # The roster: who is in the room, as the events tell it
//!
//! A `welcome` lists the members. In one process that list could be read
//! off the members with outboxes. Once processes share the room through
//! Redis it cannot: members connected to other processes have no outbox
//! here, and even our own members' names can be ahead of what everyone
//! has been told (a rename that is on its way to Redis and back).
//!
//! So the roster is kept by the *delivered events*, and nothing else:
//! a `join` adds an entry, a `leave` removes it, a `rename` renames it, in
//! the order of their `seq`. A newcomer's `welcome` is built from it at
//! the moment its own `join` is delivered, so the list it gets is exactly
//! the room as of that `seq`, on every process alike, and every event
//! after it is one the newcomer receives.
//!
//! Each entry says which process the member is connected to ([`ProcessId`])
//! and the `seq` of its `join`, which orders the list: "in order of
//! arrival" means the same thing on every process.
//!
//! Names are indexed too: a newcomer's name must not be one a member of
//! another process holds, and that question is asked at every join, with
//! the room locked. So the roster keeps, beside its list, a map from each
//! name to the processes whose members hold it (`Roster::taken_elsewhere`
//! is a lookup, not a walk over the list); every change to an entry goes
//! through the few methods below, which keep the two in step.
//!
//! The roster holds every member of the room, on every process, this one
//! included, as the delivered events tell it: a rename is decided before
//! it is told, so the room's own list of names can run ahead of it. The
//! room asks for it through its seam (`Numbering::roster` for a
//! `welcome`, `Numbering::held_elsewhere` for a name), and this process's
//! entries are what it writes back into Redis when it (re)joins.
//!
//! Two things replace entries wholesale, both in `src/redis/bus/link.rs`:
//! the snapshot a process loads from Redis when it (re)joins the shared
//! room, and the periodic refresh that removes the members of a process
//! that has died (its entries in Redis expired).
//!
//! Read next: `src/redis/bus/envelope.rs`, how events travel.

use std::collections::HashMap;

use super::envelope::ProcessId;
use crate::chat::protocol::Change;
use crate::chat::room::MemberId;

/// One member of the room, on whichever process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterEntry {
    pub origin: ProcessId,
    pub member: MemberId,
    pub name: String,
    /// The `seq` of the member's `join`.
    pub joined: u64,
}

/// What a wholesale replacement changed, for the log.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RosterChanges {
    pub gone: Vec<RosterEntry>,
    pub found: Vec<RosterEntry>,
}

/// Every member of the room, in order of their `join`.
#[derive(Debug, Default)]
pub(super) struct Roster {
    entries: Vec<RosterEntry>,
    /// Each name in `entries`, and the process of every entry holding it
    /// (almost always one: two only when two processes gave out the same
    /// name at the same moment).
    holders: HashMap<String, Vec<ProcessId>>,
}

impl Roster {
    /// Adds a member, keeping the order. A `join` usually has the highest
    /// `seq` so far and goes at the end.
    pub(super) fn join(&mut self, entry: RosterEntry) {
        self.leave(&entry.origin, entry.member); // never twice
        index(&mut self.holders, &entry);
        let at = self.entries.partition_point(|e| e.joined <= entry.joined);
        self.entries.insert(at, entry);
    }

    pub(super) fn leave(&mut self, origin: &ProcessId, member: MemberId) {
        let Roster { entries, holders } = self;
        entries.retain(|e| {
            let gone = e.member == member && &e.origin == origin;
            if gone {
                unindex(holders, e);
            }
            !gone
        });
    }

    pub(super) fn rename(&mut self, origin: &ProcessId, member: MemberId, to: &str) {
        let entry = self.entries.iter_mut().find(|e| e.member == member && &e.origin == origin);
        if let Some(entry) = entry {
            unindex(&mut self.holders, entry);
            entry.name = to.to_string();
            index(&mut self.holders, entry);
        }
    }

    /// The entries, in order of arrival.
    pub(super) fn entries(&self) -> impl Iterator<Item = &RosterEntry> {
        self.entries.iter()
    }

    /// Follows one delivered event, numbered `seq`, of member `member` of
    /// process `origin` (ours included): a `join` adds, a `leave` removes,
    /// a `rename` renames.
    pub(super) fn follow(
        &mut self,
        seq: u64,
        origin: &ProcessId,
        member: Option<MemberId>,
        change: &Change,
    ) {
        let Some(member) = member else { return };
        match change {
            Change::Join { name } => {
                let entry =
                    RosterEntry { origin: origin.clone(), member, name: name.clone(), joined: seq };
                self.join(entry);
            }
            Change::Leave { .. } => self.leave(origin, member),
            Change::Rename { to, .. } => self.rename(origin, member, to),
            _ => {}
        }
    }

    /// Is `name` held by a member of another process than `me`? One hash
    /// lookup.
    pub(super) fn taken_elsewhere(&self, me: &ProcessId, name: &str) -> bool {
        self.holders.get(name).is_some_and(|origins| origins.iter().any(|o| o != me))
    }

    /// Replaces every entry of a process other than `me` with `others`,
    /// and says what that changed.
    pub(super) fn replace_others(
        &mut self,
        me: &ProcessId,
        mut others: Vec<RosterEntry>,
    ) -> RosterChanges {
        others.retain(|e| &e.origin != me);
        let (mine, theirs): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.entries).into_iter().partition(|e| &e.origin == me);
        let same = |a: &RosterEntry, b: &RosterEntry| a.origin == b.origin && a.member == b.member;
        let changes = RosterChanges {
            gone: theirs
                .iter()
                .filter(|old| !others.iter().any(|new| same(old, new)))
                .cloned()
                .collect(),
            found: others
                .iter()
                .filter(|new| !theirs.iter().any(|old| same(old, new)))
                .cloned()
                .collect(),
        };
        self.entries = mine;
        self.entries.extend(others);
        // Stable: equal `joined` keep their order.
        self.entries.sort_by_key(|e| e.joined);
        // Rare (a rejoin, a periodic refresh), so the index is simply
        // rebuilt rather than patched.
        self.holders.clear();
        for entry in &self.entries {
            index(&mut self.holders, entry);
        }
        changes
    }
}

/// The log line for a wholesale replacement that changed something.
pub fn describe(changes: &RosterChanges) -> String {
    let list = |entries: &[RosterEntry]| -> String {
        let names: Vec<String> =
            entries.iter().map(|e| format!("{} (process {})", e.name, e.origin)).collect();
        if names.is_empty() {
            "nobody".to_string()
        } else {
            names.join(", ")
        }
    };
    format!(
        "redis: member list refreshed from Redis: gone {}; found {}",
        list(&changes.gone),
        list(&changes.found)
    )
}

/// Notes that `entry`'s process holds `entry.name`.
fn index(holders: &mut HashMap<String, Vec<ProcessId>>, entry: &RosterEntry) {
    holders.entry(entry.name.clone()).or_default().push(entry.origin.clone());
}

/// Undoes one [`index`] of `entry`.
fn unindex(holders: &mut HashMap<String, Vec<ProcessId>>, entry: &RosterEntry) {
    let Some(origins) = holders.get_mut(&entry.name) else { return };
    if let Some(at) = origins.iter().position(|o| o == &entry.origin) {
        origins.swap_remove(at);
    }
    if origins.is_empty() {
        holders.remove(&entry.name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(origin: &str, member: u64, name: &str, joined: u64) -> RosterEntry {
        RosterEntry {
            origin: ProcessId::new(origin),
            member: MemberId(member),
            name: name.into(),
            joined,
        }
    }

    /// The index says what a walk over the entries would say.
    fn assert_index_in_step(roster: &Roster) {
        let mut walked: HashMap<String, Vec<ProcessId>> = HashMap::new();
        for entry in &roster.entries {
            walked.entry(entry.name.clone()).or_default().push(entry.origin.clone());
        }
        let sorted = |map: &HashMap<String, Vec<ProcessId>>| {
            let mut pairs: Vec<(String, Vec<String>)> = map
                .iter()
                .map(|(name, origins)| {
                    let mut origins: Vec<String> = origins.iter().map(|o| o.to_string()).collect();
                    origins.sort();
                    (name.clone(), origins)
                })
                .collect();
            pairs.sort();
            pairs
        };
        assert_eq!(sorted(&roster.holders), sorted(&walked));
    }

    #[test]
    fn the_name_index_follows_every_change() {
        let (a, b) = (ProcessId::new("a"), ProcessId::new("b"));
        let mut roster = Roster::default();
        roster.join(entry("a", 1, "ann", 1));
        roster.join(entry("b", 1, "ann", 2)); // the same name, at the same moment
        roster.join(entry("b", 2, "bob", 3));
        roster.join(entry("b", 2, "bob", 3)); // a repeat
        assert_index_in_step(&roster);
        assert!(roster.taken_elsewhere(&a, "ann") && roster.taken_elsewhere(&b, "ann"));
        roster.leave(&b, MemberId(1));
        assert_index_in_step(&roster);
        assert!(!roster.taken_elsewhere(&a, "ann"), "only a's own member holds it now");
        roster.rename(&b, MemberId(2), "rob");
        assert_index_in_step(&roster);
        assert!(roster.taken_elsewhere(&a, "rob") && !roster.taken_elsewhere(&a, "bob"));
        roster.replace_others(&a, vec![entry("c", 5, "bob", 4)]);
        assert_index_in_step(&roster);
        assert!(roster.taken_elsewhere(&a, "bob") && !roster.taken_elsewhere(&a, "rob"));
        roster.leave(&a, MemberId(1));
        roster.leave(&ProcessId::new("c"), MemberId(5));
        assert_index_in_step(&roster);
        assert!(roster.holders.is_empty());
    }

    #[test]
    fn events_keep_the_roster_in_order_of_arrival() {
        let mut roster = Roster::default();
        roster.join(entry("a", 1, "ann", 3));
        roster.join(entry("b", 1, "bob", 5));
        roster.join(entry("a", 2, "cy", 4)); // late, but joined before bob
        assert_eq!(
            roster.entries().map(|e| e.name.as_str()).collect::<Vec<_>>(),
            ["ann", "cy", "bob"]
        );
        roster.rename(&ProcessId::new("b"), MemberId(1), "rob");
        roster.leave(&ProcessId::new("a"), MemberId(1));
        assert_eq!(roster.entries().map(|e| e.name.as_str()).collect::<Vec<_>>(), ["cy", "rob"]);
        assert!(roster.taken_elsewhere(&ProcessId::new("a"), "rob"));
        assert!(!roster.taken_elsewhere(&ProcessId::new("b"), "rob"), "our own member");
    }

    #[test]
    fn replacing_the_others_keeps_ours_and_reports_the_difference() {
        let mut roster = Roster::default();
        roster.join(entry("me", 1, "ann", 1));
        roster.join(entry("dead", 1, "ghost", 2));
        roster.join(entry("b", 1, "bob", 3));
        let fresh = vec![entry("b", 1, "bob", 3), entry("c", 9, "cy", 2), entry("me", 7, "x", 0)];
        let changes = roster.replace_others(&ProcessId::new("me"), fresh);
        assert_eq!(changes.gone, [entry("dead", 1, "ghost", 2)]);
        assert_eq!(changes.found, [entry("c", 9, "cy", 2)]);
        assert_eq!(
            roster.entries().map(|e| e.name.as_str()).collect::<Vec<_>>(),
            ["ann", "cy", "bob"]
        );
    }
}
