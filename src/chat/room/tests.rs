//! Tests of the room (`room.rs`): joining, names, fan-out of one shared
//! frame, renames, leaving exactly once, files, and the slow-consumer rule.
//! They drive the room directly, with outboxes and no sockets: everything
//! the room does ends in an outbox, so that is where the tests look.
//! The layers that plug into the room are tested in their own folders:
//! `src/push/feed.rs` and `src/redis/bus/link/tests.rs`.

use super::*;
use crate::chat::outbox::too_slow_goodbye;
use crate::websocket::frame::FrameHeader;

fn room() -> Room {
    Room::new("main", &Limits::default())
}

fn outbox() -> Arc<Outbox> {
    Arc::new(Outbox::new(&Limits::default(), too_slow_goodbye))
}

/// The name the room gave a member. (The Redis link's tests use it too.)
pub(crate) fn named(room: &Room, id: MemberId) -> String {
    let name =
        |state: &mut Locked| Some(state.core.members.iter().find(|m| m.id == id)?.name.clone());
    room.with_lock(name).expect("a member of the room")
}

/// What the member's writer would take now (without waiting for more).
fn pending(outbox: &Outbox) -> Vec<Encoded> {
    let mut batch = Vec::new();
    outbox.take_all(&mut batch, Duration::ZERO);
    batch
}

/// The same, each frame's payload as text.
fn drain(outbox: &Outbox) -> Vec<String> {
    let payload = |frame: &Encoded| {
        let mut bytes = &frame[..];
        let header = FrameHeader::read_from(&mut bytes).unwrap();
        assert_eq!(header.payload_len as usize, bytes.len(), "one whole frame per push");
        String::from_utf8_lossy(bytes).into_owned()
    };
    pending(outbox).iter().map(payload).collect()
}

#[test]
fn join_welcomes_the_newcomer_and_tells_the_others() {
    let room = room();
    let (a, b) = (outbox(), outbox());
    let ann = room.join(Some(Ok("ann")), Arc::clone(&a), None);
    assert_eq!((named(&room, ann), room.member_names().len()), ("ann".into(), 1));
    room.join(Some(Ok("  bob ")), Arc::clone(&b), None);
    let to_ann = drain(&a);
    assert!(to_ann[0].starts_with(r#"{"type":"welcome","room":"main","you":"ann","seq":1,"#));
    assert!(to_ann[1].starts_with(r#"{"type":"join","seq":2,"#), "{}", to_ann[1]);
    assert!(to_ann[1].ends_with(r#","name":"bob"}"#));
    let to_bob = drain(&b);
    assert_eq!(to_bob.len(), 1, "no join event for oneself: {to_bob:?}");
    assert!(to_bob[0].contains(r#""you":"bob","seq":2,"members":["ann","bob"],"history":[]"#));
}

#[test]
fn a_message_is_encoded_once_and_shared_with_everyone() {
    let room = room();
    let boxes: Vec<_> = (0..3).map(|_| outbox()).collect();
    let ids: Vec<_> = boxes.iter().map(|o| room.join(None, Arc::clone(o), None)).collect();
    boxes.iter().for_each(|o| drop(pending(o)));
    room.say(ids[1], "hello");
    let frames: Vec<Encoded> = boxes.iter().flat_map(|o| pending(o)).collect();
    assert_eq!(frames.len(), 3, "the sender gets its own copy too");
    assert!(frames.iter().all(|f| Arc::ptr_eq(f, &frames[0])), "one allocation for all");
    assert!(String::from_utf8_lossy(&frames[0]).contains(r#""from":"guest-2","text":"hello""#));
}

#[test]
fn names_default_refused_and_taken() {
    let room = room();
    assert_eq!(named(&room, room.join(None, outbox(), None)), "guest-1");
    assert_eq!(named(&room, room.join(Some(Ok("ann")), outbox(), None)), "ann");
    assert_eq!(named(&room, room.join(Some(Ok("ann")), outbox(), None)), "ann-2");
    let told = outbox();
    assert_eq!(
        named(&room, room.join(Some(Ok("a\u{1b}[31mred")), Arc::clone(&told), None)),
        "guest-2"
    );
    let events = drain(&told);
    assert!(events[1].starts_with(r#"{"type":"error","reason":"name refused: "#));
    assert_eq!(room.member_names(), ["guest-1", "ann", "ann-2", "guest-2"]);
    // A guest name someone chose by hand is skipped.
    assert_eq!(named(&room, room.join(Some(Ok("guest-3")), outbox(), None)), "guest-3");
    assert_eq!(named(&room, room.join(None, outbox(), None)), "guest-4");
}

#[test]
fn rename_is_checked_and_broadcast() {
    let room = room();
    let a = outbox();
    let ann = room.join(Some(Ok("ann")), Arc::clone(&a), None);
    let bob = room.join(Some(Ok("bob")), outbox(), None);
    drop(pending(&a));
    assert_eq!(room.rename(bob, "ann"), Ok(()));
    assert_eq!(room.rename(ann, "ann"), Ok(()), "no-op");
    assert_eq!(room.rename(ann, "\u{7}"), Err(NameError::Forbidden('\u{7}')));
    assert_eq!(room.member_names(), ["ann", "ann-2"]);
    let events = drain(&a);
    assert_eq!(events.len(), 1, "{events:?}");
    assert!(events[0].ends_with(r#","from":"bob","to":"ann-2"}"#));
}

#[test]
fn leave_is_broadcast_exactly_once() {
    let room = room();
    let a = outbox();
    room.join(Some(Ok("ann")), Arc::clone(&a), None);
    let bob = room.join(Some(Ok("bob")), outbox(), None);
    room.leave(bob, "left");
    room.leave(bob, "left");
    assert_eq!(room.member_names(), ["ann"]);
    let leaves: Vec<_> = drain(&a).into_iter().filter(|e| e.contains("leave")).collect();
    assert_eq!(leaves.len(), 1);
    assert!(leaves[0].ends_with(r#""name":"bob","reason":"left"}"#));
}

#[test]
fn files_go_to_the_others_with_their_announcement() {
    let room = room();
    let (a, b) = (outbox(), outbox());
    let ann = room.join(Some(Ok("ann")), Arc::clone(&a), None);
    room.join(Some(Ok("bob")), Arc::clone(&b), None);
    drop((pending(&a), pending(&b)));
    let info = FileInfo { mime: "image/png".into(), name: Some("x.png".into()) };
    room.share_file(ann, &info, 3, Arc::from(encode_frame(Opcode::Binary, b"png", None)));
    assert!(pending(&a).is_empty(), "the sender does not get its file back");
    let to_bob = drain(&b);
    assert!(to_bob[0].contains(r#""from":"ann","size":3,"mime":"image/png","name":"x.png""#));
    assert_eq!(to_bob[1], "png");
}

#[test]
fn a_slow_member_is_cut_off_and_nobody_else_notices() {
    let limits = Limits { outbox_hard_bytes: 64 * 1024, ..Limits::default() };
    let room = Room::new("main", &limits);
    let (fast, slow) = (outbox(), Arc::new(Outbox::new(&limits, too_slow_goodbye)));
    let ann = room.join(Some(Ok("ann")), Arc::clone(&fast), None);
    room.join(Some(Ok("sloth")), Arc::clone(&slow), None);
    drop(pending(&fast)); // welcome and join
    let mut received = 0;
    for i in 0..100 {
        room.say(ann, &format!("{i:01000}"));
        // ann's writer keeps up; sloth's never takes anything.
        received += pending(&fast).len();
    }
    assert!(slow.was_aborted());
    assert!(!fast.was_aborted());
    assert_eq!(received, 100);
    let last = pending(&slow);
    assert_eq!(
        last,
        vec![too_slow_goodbye(PushError::Overflow)],
        "the backlog was replaced by a close frame"
    );
}

#[test]
fn a_crowd_asking_for_one_name_costs_two_tries_a_join() {
    let room = room();
    let mut given = std::collections::HashSet::new();
    for _ in 0..1000 {
        let name = named(&room, room.join(Some(Ok("ann")), outbox(), None));
        assert!(given.insert(name.clone()), "{name} given twice");
    }
    // Each join tried `ann`, then the one suffix the hint pointed at. Trying
    // from `ann-2` every time would be half a million tries.
    let probes = room.with_lock(|state| state.core.suffixes.probes);
    assert!(probes <= 2 * 1000, "{probes}");
}

#[test]
fn the_name_index_follows_joins_renames_and_leaves() {
    let room = room();
    let ann = room.join(Some(Ok("ann")), outbox(), None);
    let bob = room.join(Some(Ok("bob")), outbox(), None);
    room.rename(bob, "rob").unwrap();
    room.leave(ann, "left");
    room.with_lock(|state| {
        assert!(state.is_taken("rob"));
        assert!(!state.is_taken("bob"), "renamed away");
        assert!(!state.is_taken("ann"), "left");
    });
    // Both free again, so taken by the next to ask, without a suffix.
    assert_eq!(named(&room, room.join(Some(Ok("ann")), outbox(), None)), "ann");
    assert_eq!(named(&room, room.join(Some(Ok("bob")), outbox(), None)), "bob");
    assert_eq!(named(&room, room.join(Some(Ok("rob")), outbox(), None)), "rob-2");
}

#[test]
fn an_undecodable_name_is_refused_with_an_error_like_any_other() {
    let room = room();
    let told = outbox();
    let joined = room.join(Some(Err(NameError::Undecodable)), Arc::clone(&told), None);
    assert_eq!(named(&room, joined), "guest-1");
    let events = drain(&told);
    assert!(events[0].contains(r#""you":"guest-1""#), "{events:?}");
    assert!(events[1].starts_with(r#"{"type":"error","reason":"name refused: the name in the URL"#));
}
