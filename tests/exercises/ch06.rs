//! Chapter 6, the chat room (`docs/06-chat-room.md`).

use std::fs::OpenOptions;
use std::io::Write;

use crate::common::chat::{ChatMember, Fields};
use crate::common::{get, TestServer};
use crate::site::Site;
use crate::wire::{server_with, upgrade, wait_until_served};

#[test]
#[ignore = "exercise: ch06 ex1"]
fn ch06_ex1_me_is_an_action() {
    let server = TestServer::start(&[]);
    let (mut ann, _) = ChatMember::join(&server, "?name=ann");
    let (mut bob, _) = ChatMember::join(&server, "?name=bob");
    assert_eq!(ann.event_of("join").str("name"), "bob");

    ann.say("/me waves at everyone");
    let mut seqs = Vec::new();
    for member in [&mut ann, &mut bob] {
        let action = member.event();
        assert_eq!(action.kind(), "action", "{}: {action:?}", member.name);
        assert_eq!(action.str("from"), "ann");
        assert_eq!(action.str("text"), "waves at everyone");
        assert!(action.num("time") > 0);
        seqs.push(action.num("seq"));
    }
    assert_eq!(seqs[0], seqs[1], "one room event, one seq");

    // Not commands: these are ordinary messages, as before.
    for text in ["/meh", "/me.", " /me waves", "me waves"] {
        ann.say(text);
        for member in [&mut ann, &mut bob] {
            let event = member.event();
            assert_eq!((event.kind(), event.str("text")), ("message", text), "{text:?}");
        }
    }
    // `/me` with nothing to do is refused, to the sender alone.
    ann.say("/me");
    assert_eq!(ann.event().kind(), "error", "an empty action");
    ann.say("/me   ");
    assert_eq!(ann.event().kind(), "error", "an action of spaces");
    ann.say("still here");
    let event = bob.event();
    assert_eq!((event.kind(), event.str("text")), ("message", "still here"), "bob saw: {event:?}");
}

#[test]
#[ignore = "exercise: ch06 ex2"]
fn ch06_ex2_history_survives_a_restart() {
    let folder = Site::with(&[]);
    let file = format!("{}/history.jsonl", folder.arg());
    let args = ["--history-file", file.as_str()];

    let first = server_with(&args);
    let (mut ann, _) = ChatMember::join(&first, "?name=ann");
    let mut said = Vec::new();
    for text in ["one", "two \"quoted\"\nand a newline"] {
        ann.say(text);
        let (seq, _, echoed) = ann.message();
        assert_eq!(echoed, text);
        said.push((seq, text.to_string()));
    }
    // Killed (SIGKILL), not stopped: what anyone has seen must be on disk.
    drop(first);

    let second = server_with(&args);
    let (mut bob, welcome) = ChatMember::join(&second, "?name=bob");
    assert_eq!(history(&welcome), said, "the history after a restart");
    assert!(welcome.num("seq") > said[1].0, "seq went back: {welcome:?}");
    bob.say("three");
    let (seq, _, _) = bob.message();
    assert!(seq > welcome.num("seq"));
    said.push((seq, "three".to_string()));
    drop(second);

    // A crash in the middle of a write leaves half a line.
    let mut tail = OpenOptions::new().append(true).open(&file).expect("the history file");
    tail.write_all(b"{\"type\":\"message\",\"seq\":").unwrap();
    drop(tail);
    let third = server_with(&args);
    let (mut cid, welcome) = ChatMember::join(&third, "?name=cid");
    assert_eq!(history(&welcome), said, "the history after a torn write");
    cid.say("four");
    let (seq, _, _) = cid.message();
    assert!(seq > said[2].0, "seq went back after a torn write");
    said.push((seq, "four".to_string()));
    drop(third);
    // What was written after the torn line is whole.
    let fourth = server_with(&args);
    let (_eve, welcome) = ChatMember::join(&fourth, "?name=eve");
    assert_eq!(history(&welcome), said, "the message written after a torn line");

    // Without the flag nothing is kept.
    let plain = TestServer::start(&[]);
    let (_dan, welcome) = ChatMember::join(&plain, "?name=dan");
    assert!(history(&welcome).is_empty());
}

/// A `welcome`'s history as `(seq, text)`.
fn history(welcome: &impl Fields) -> Vec<(u64, String)> {
    welcome
        .array("history")
        .iter()
        .map(|event| (event.num("seq"), event.str("text").to_string()))
        .collect()
}

#[test]
#[ignore = "exercise: ch06 ex3"]
fn ch06_ex3_named_rooms() {
    let server = server_with(&["--max-rooms", "2"]);

    let (mut ann, welcome) = ChatMember::join(&server, "/blue?name=ann");
    assert_eq!(welcome.str("room"), "blue");
    assert_eq!(welcome.strings("members"), ["ann"]);
    assert_eq!(welcome.num("seq"), 1, "a new room numbers its own events");
    let (mut bob, welcome) = ChatMember::join(&server, "/green?name=bob");
    assert_eq!((welcome.str("room"), welcome.num("seq")), ("green", 1));
    assert_eq!(welcome.strings("members"), ["bob"]);
    let (mut carl, welcome) = ChatMember::join(&server, "?name=carl");
    assert_eq!(welcome.str("room"), "main");
    let (mut dora, welcome) = ChatMember::join(&server, "/main?name=dora");
    assert_eq!(welcome.str("room"), "main", "/chat/main is /chat");
    assert_eq!(welcome.strings("members"), ["carl", "dora"]);
    assert_eq!(carl.event_of("join").str("name"), "dora");
    let (_eve, welcome) = ChatMember::join(&server, "/blue?name=eve");
    assert_eq!(welcome.strings("members"), ["ann", "eve"], "same name, same room");
    assert_eq!(ann.event_of("join").str("name"), "eve");

    // Rooms do not hear each other.
    ann.say("in blue");
    assert_eq!(ann.message().2, "in blue");
    bob.say("in green");
    assert_eq!(bob.message().2, "in green", "green heard blue");
    carl.say("in main");
    assert_eq!(carl.message().2, "in main", "main heard another room");
    assert_eq!(dora.message().2, "in main");

    // Two named rooms exist: a third is refused until one empties.
    assert_eq!(upgrade(&server, "/chat/red", "").status, 503);
    let green = bob.peer.writer.local_addr().unwrap();
    bob.close();
    wait_until_served(&server, green);
    let (fay, welcome) = ChatMember::join(&server, "/red?name=fay");
    assert_eq!((welcome.str("room"), welcome.num("seq")), ("red", 1));
    assert_eq!(upgrade(&server, "/chat/green", "").status, 503, "blue and red exist");
    // Green was removed with its last member: it comes back new.
    let red = fay.peer.writer.local_addr().unwrap();
    fay.close();
    wait_until_served(&server, red);
    let (_gus, welcome) = ChatMember::join(&server, "/green?name=gus");
    assert_eq!((welcome.str("room"), welcome.num("seq")), ("green", 1));
    assert!(welcome.array("history").is_empty(), "green kept its history: {welcome:?}");
    // `main` is not removed, and not counted: its numbering goes on.
    let main_seq = welcome_seq_of_main(&server);
    for member in [carl, dora] {
        let local = member.peer.writer.local_addr().unwrap();
        member.close();
        wait_until_served(&server, local);
    }
    assert!(welcome_seq_of_main(&server) > main_seq, "main started over");

    // Names outside [a-z0-9-]{1,32} are no endpoint at all.
    let long = "x".repeat(33);
    for path in
        ["/chat/Blue", "/chat/a_b", "/chat/", "/chat/x/y", "/chat/%41", &format!("/chat/{long}")]
    {
        assert_eq!(upgrade(&server, path, "").status, 404, "{path}");
    }
    // A room without an upgrade is told to upgrade, like /chat.
    assert_eq!(get(&server, "/chat/blue").status, 426);
}

/// The `seq` of a fresh member's `welcome` in `main`; the member leaves.
fn welcome_seq_of_main(server: &TestServer) -> u64 {
    let (member, welcome) = ChatMember::join(server, "?name=probe");
    let local = member.peer.writer.local_addr().unwrap();
    member.close();
    wait_until_served(server, local);
    welcome.num("seq")
}
