//! Tests of the room shared through Redis (`link.rs`), with no Redis:
//! the test plays the bus. It takes the jobs the room queued, and hands
//! events back with `deliver_from_bus`, numbered as Redis would, or
//! declares the link lost. Everything the room does ends in an outbox, so
//! that is where the tests look.

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use super::*;
use crate::chat::outbox::{too_slow_goodbye, Encoded, Outbox};
use crate::chat::room::tests::named;
use crate::chat::room::{Emitted, MemberId};
use crate::config::Limits;
use crate::websocket::frame::{encode_frame, FrameHeader, Opcode};

/// A room shared as process `me`, with a queue of `queue_bytes`.
fn shared_room(queue_bytes: usize) -> (Room, Arc<PublishQueue>, u64) {
    let room = Room::new("main", &Limits::default());
    let queue = Arc::new(PublishQueue::new(queue_bytes));
    attach(&room, &queue, Duration::from_secs(3600));
    assert!(room.go_shared(&room.sync_point(), Snapshot::default()));
    let epoch = room.link_epoch().expect("shared");
    (room, queue, epoch)
}

/// Plugs a link into `room`, as `start` does.
fn attach(room: &Room, queue: &Arc<PublishQueue>, confirm_wait: Duration) {
    let link = Link::new(ProcessId::new("me"), Arc::clone(queue), confirm_wait);
    room.with_lock(|state| state.numbering = Some(Box::new(link)));
}

/// A message from outside the room, emitted and waited for, as
/// `POST /api/send` does it (`src/push/feed.rs`): its `seq`, once back.
fn post(room: &Room, text: &str) -> Result<u64, &'static str> {
    let change = Change::Message { from: "web".into(), text: text.into() };
    let decided = Decided { member: None, change, file: None };
    match room.with_lock(|locked| locked.emit(decided)) {
        Emitted::Delivered(stamp) => Ok(stamp.seq),
        Emitted::Away(confirmed, within) => {
            confirmed.recv_timeout(within).map(|stamp| stamp.seq).map_err(|_| "unconfirmed")
        }
        Emitted::Refused(_) => Err("refused"),
    }
}

fn outbox() -> Arc<Outbox> {
    Arc::new(Outbox::new(&Limits::default(), too_slow_goodbye))
}

/// Each frame waiting in `outbox`, its payload as text.
fn drain(outbox: &Outbox) -> Vec<String> {
    let mut batch = Vec::new();
    outbox.take_all(&mut batch, Duration::ZERO);
    let payload = |frame: &Encoded| {
        let mut bytes = &frame[..];
        FrameHeader::read_from(&mut bytes).unwrap();
        String::from_utf8_lossy(bytes).into_owned()
    };
    batch.iter().map(payload).collect()
}

/// Plays Redis for the next queued job: numbers it `seq` and hands it
/// back on the subscription of `epoch`.
fn round_trip(room: &Room, queue: &PublishQueue, epoch: u64, seq: u64) -> Arc<Envelope> {
    let job = queue.pop(Duration::ZERO).expect("a queued job");
    assert_eq!(job.epoch, epoch);
    room.deliver_from_bus(epoch, seq, (*job.envelope).clone());
    job.envelope
}

fn from_elsewhere(member: u64, change: Change) -> Envelope {
    let (origin, time) = (ProcessId::new("elsewhere"), 1_700_000_000_000);
    Envelope { origin, id: 1, member: Some(MemberId(member)), time, change, file: None }
}

#[test]
fn our_events_are_delivered_when_they_come_back_numbered() {
    let (room, queue, epoch) = shared_room(1 << 20);
    let ann = outbox();
    let id = room.join(Some(Ok("ann")), Arc::clone(&ann), None);
    assert_eq!(drain(&ann), Vec::<String>::new(), "no welcome before the join is back");
    round_trip(&room, &queue, epoch, 41);
    let welcome = drain(&ann);
    assert!(welcome[0].contains(r#""you":"ann","seq":41,"members":["ann"]"#), "{welcome:?}");

    room.say(id, "hi");
    assert_eq!(drain(&ann), Vec::<String>::new(), "not yet: it is on its way to Redis");
    round_trip(&room, &queue, epoch, 43); // 42 went to another process's event
    let said = drain(&ann);
    assert!(said[0].starts_with(r#"{"type":"message","seq":43,"#), "{said:?}");

    let bob = Change::Join { name: "bob".into() };
    room.deliver_from_bus(epoch, 44, from_elsewhere(1, bob.clone()));
    room.deliver_from_bus(epoch, 44, from_elsewhere(1, bob)); // a repeat: skipped
    let joined = drain(&ann);
    assert_eq!(joined.len(), 1, "{joined:?}");
    assert!(joined[0].ends_with(r#""name":"bob"}"#));
    assert_eq!(room.member_names(), ["ann", "bob"]);
    assert_eq!(room.pending_events(), 0);
}

#[test]
fn losing_the_link_delivers_what_is_pending_here_exactly_once() {
    let (room, queue, epoch) = shared_room(1 << 20);
    let ann = outbox();
    let id = room.join(Some(Ok("ann")), Arc::clone(&ann), None);
    round_trip(&room, &queue, epoch, 1);
    drain(&ann);
    room.say(id, "one");
    room.say(id, "two");
    let late = queue.pop(Duration::ZERO).unwrap(); // "one", already sent when the link broke
    room.link_lost(epoch, "a test");
    room.link_lost(epoch, "the other thread noticed too");
    assert_eq!(room.link_epoch(), None);
    let here = drain(&ann);
    assert_eq!(here.len(), 2, "{here:?}");
    assert!(here[0].contains(r#""seq":2,"#) && here[0].ends_with(r#""text":"one"}"#));
    assert!(here[1].contains(r#""seq":3,"#) && here[1].ends_with(r#""text":"two"}"#));
    room.deliver_from_bus(epoch, 2, (*late.envelope).clone());
    assert_eq!(drain(&ann), Vec::<String>::new(), "the old epoch delivers nothing");

    room.say(id, "three"); // alone: numbered and delivered at once
    assert!(drain(&ann)[0].contains(r#""seq":4,"#));

    let point = room.sync_point();
    assert_eq!((point.floor, point.ours.len()), (4, 1));
    assert!(room.go_shared(&point, Snapshot { as_of: 9, ..Snapshot::default() }));
    let epoch = room.link_epoch().unwrap();
    // "one" reached Redis after all, and comes back on the new link.
    room.deliver_from_bus(epoch, 10, (*late.envelope).clone());
    assert_eq!(drain(&ann), Vec::<String>::new(), "ann has it already");
    let recorded = room.with_lock(|locked| locked.core.history.recorded.clone());
    let after_nine: Vec<u64> = recorded.iter().map(|r| r.seq).filter(|&seq| seq > 9).collect();
    assert_eq!(after_nine, [10], "but the history has it, as everyone's does");
}

#[test]
fn a_rejoin_is_refused_if_something_happened_here_meanwhile() {
    let (room, _queue, epoch) = shared_room(1 << 20);
    room.link_lost(epoch, "a test");
    let point = room.sync_point();
    post(&room, "said while the snapshot was being read").unwrap();
    assert!(!room.go_shared(&point, Snapshot { as_of: point.floor, ..Snapshot::default() }));
    assert!(room.go_shared(&room.sync_point(), Snapshot::default()));
}

#[test]
fn a_full_queue_refuses_a_message_but_never_a_join() {
    let (room, queue, epoch) = shared_room(300);
    let ann = outbox();
    let id = room.join(Some(Ok("ann")), Arc::clone(&ann), None);
    round_trip(&room, &queue, epoch, 1);
    drain(&ann);
    room.say(id, "fits"); // an empty queue takes anything
    room.say(id, "does not fit");
    let told = drain(&ann);
    assert_eq!(told.len(), 1, "{told:?}");
    assert!(told[0].starts_with(r#"{"type":"error","reason":"the room is busy"#));
    // A join cannot be dropped: the room goes alone and delivers it here.
    let bob = outbox();
    room.join(Some(Ok("bob")), Arc::clone(&bob), None);
    assert_eq!(room.link_epoch(), None);
    assert!(drain(&bob)[0].contains(r#""members":["ann","bob"]"#));
    let to_ann = drain(&ann);
    assert!(to_ann[0].ends_with(r#""text":"fits"}"#) && to_ann[1].contains(r#""name":"bob""#));
}

#[test]
fn a_file_skips_its_sender_only_on_the_senders_process() {
    let (room, queue, epoch) = shared_room(1 << 20);
    let ann = outbox();
    let id = room.join(Some(Ok("ann")), Arc::clone(&ann), None);
    round_trip(&room, &queue, epoch, 1);
    drain(&ann);
    let change = Change::File { from: "eve".into(), size: 3, mime: "x/y".into(), name: None };
    let mut file = from_elsewhere(id.0, change); // eve has ann's number, elsewhere
    file.file = Some(Arc::from(encode_frame(Opcode::Binary, b"abc", None)));
    room.deliver_from_bus(epoch, 2, file);
    let got = drain(&ann);
    assert!(got[0].contains(r#""from":"eve""#) && got[1] == "abc", "{got:?}");
    let info = crate::chat::protocol::FileInfo::default();
    room.share_file(id, &info, 3, Arc::from(encode_frame(Opcode::Binary, b"xyz", None)));
    round_trip(&room, &queue, epoch, 3);
    assert_eq!(drain(&ann), Vec::<String>::new(), "ann's own file is not sent back to her");
}

#[test]
fn a_post_answers_once_its_message_is_back() {
    let (room, queue, epoch) = shared_room(1 << 20);
    let room = Arc::new(room);
    let poster = {
        let room = Arc::clone(&room);
        thread::spawn(move || post(&room, "hello"))
    };
    // Wakes when the post has queued its message (the wait is only a bound).
    let job = queue.pop(Duration::from_secs(10)).expect("the post queued its message");
    room.deliver_from_bus(epoch, 5, (*job.envelope).clone());
    assert_eq!(poster.join().unwrap(), Ok(5));

    let (impatient, _queue, _) = shared_room(1 << 20);
    attach(&impatient, &Arc::new(PublishQueue::new(1)), Duration::ZERO);
    assert!(impatient.go_shared(&impatient.sync_point(), Snapshot::default()));
    assert_eq!(post(&impatient, "lost in the post"), Err("unconfirmed"));
}

#[test]
fn a_refresh_applies_only_when_redis_and_the_room_are_in_step() {
    let (room, queue, epoch) = shared_room(1 << 20);
    room.join(Some(Ok("ann")), outbox(), None);
    round_trip(&room, &queue, epoch, 1);
    room.deliver_from_bus(epoch, 2, from_elsewhere(7, Change::Join { name: "bob".into() }));
    assert_eq!(room.member_names(), ["ann", "bob"]);
    // Read when the counter was 1: bob had not joined yet. Not applied.
    assert!(!room.refresh_roster(epoch, 1, Vec::new()));
    assert_eq!(room.member_names(), ["ann", "bob"]);
    // Read at 2, and bob's entries had expired: his process is gone.
    assert!(room.refresh_roster(epoch, 2, Vec::new()));
    assert_eq!(room.member_names(), ["ann"]);
    assert!(room.settled_roster(epoch).is_some_and(|ours| ours.len() == 1));
}

#[test]
fn names_held_elsewhere_are_taken_here_until_they_change() {
    let (room, queue, epoch) = shared_room(1 << 20);
    let ann = Change::Join { name: "ann".into() };
    room.deliver_from_bus(epoch, 1, from_elsewhere(1, ann));
    assert_eq!(named(&room, room.join(Some(Ok("ann")), outbox(), None)), "ann-2");
    round_trip(&room, &queue, epoch, 2);
    let rename = Change::Rename { from: "ann".into(), to: "anna".into() };
    room.deliver_from_bus(epoch, 3, from_elsewhere(1, rename));
    assert_eq!(named(&room, room.join(Some(Ok("anna")), outbox(), None)), "anna-2");
    round_trip(&room, &queue, epoch, 4);
    assert_eq!(
        named(&room, room.join(Some(Ok("ann")), outbox(), None)),
        "ann",
        "renamed away: free"
    );
    round_trip(&room, &queue, epoch, 5);
    let leave = Change::Leave { name: "anna".into(), reason: "left".into() };
    room.deliver_from_bus(epoch, 6, from_elsewhere(1, leave));
    assert_eq!(named(&room, room.join(Some(Ok("anna")), outbox(), None)), "anna", "left: free");
}

#[test]
fn a_reloaded_record_counts_what_it_forgot_as_dropped() {
    let mut history = History::new(1 << 20);
    let said = |seq: u64| {
        let change = Change::Message { from: "ann".into(), text: format!("m{seq}") };
        Recorded { seq, json: Arc::from(change.to_json(Some(Stamp { seq, time: 1 }))) }
    };
    history.keep(said(7));
    // Seq 8, said here while Redis was away...
    history.record(
        Stamp { seq: 8, time: 1 },
        &Change::Message { from: "ann".into(), text: "alone".into() },
    );
    // ...and back with Redis, whose history lacks 8 and holds 9 from elsewhere.
    load_history(&mut history, vec![said(7), said(9)], 12, 0);
    assert_eq!(history.last_seq, 12);
    assert_eq!(
        crate::chat::history::tests::messages(&history).len(),
        2,
        "a welcome shows Redis's history"
    );
    assert_eq!(history.dropped_through, 8, "8 is gone for good, and a poll is told so");
    // What the list itself had trimmed counts too, and nothing goes back.
    load_history(&mut history, vec![said(9)], 12, 8);
    assert_eq!((history.dropped_through, history.recorded.len()), (8, 1));
}
