//! Chapter 7, the browser side (`docs/07-browser.md`). Only the server's
//! half of exercise 3 can be refereed from here; the page's halves are
//! checked in a browser, as the chapter says.

use crate::common::chat::{ChatMember, Fields};
use crate::common::TestServer;

/// A `welcome`'s history as `(seq, text)`, and its `truncated` flag.
fn catch_up(server: &TestServer, query: &str) -> (Vec<(u64, String)>, bool) {
    let (_member, welcome) = ChatMember::join(server, query);
    let history = welcome
        .array("history")
        .iter()
        .map(|event| (event.num("seq"), event.str("text").to_string()))
        .collect();
    let truncated = match format!("{:?}", welcome.field("truncated")).as_str() {
        "Bool(true)" => true,
        "Bool(false)" => false,
        other => panic!("truncated must be true or false, not {other}"),
    };
    (history, truncated)
}

#[test]
#[ignore = "exercise: ch07 ex3"]
fn ch07_ex3_a_welcome_since_what_the_page_last_saw() {
    // A 2 KiB history: the oldest of twelve longish messages fall out.
    let server = TestServer::start(&["--outbox-soft-bytes", "4096", "--outbox-hard-bytes", "4096"]);
    let (mut ann, _) = ChatMember::join(&server, "?name=ann");
    let mut said = Vec::new();
    for i in 0..12 {
        let text = format!("{i:02} {}", "x".repeat(200));
        ann.say(&text);
        let (seq, _, echoed) = ann.message();
        assert_eq!(echoed, text);
        said.push((seq, text));
    }

    // Still in the record: exactly what came after, nothing missing.
    let (history, truncated) = catch_up(&server, &format!("?name=bob&since={}", said[9].0));
    assert_eq!(history, said[10..], "the messages after the 10th");
    assert!(!truncated, "nothing after the 10th was dropped");
    let (history, truncated) = catch_up(&server, &format!("?name=bob&since={}", said[11].0));
    assert!(history.is_empty() && !truncated, "up to date: {history:?}");

    // Fallen out of the record: what is left, and the flag that says so.
    let (history, truncated) = catch_up(&server, &format!("?name=cid&since={}", said[0].0));
    assert!(truncated, "messages after the first were dropped");
    assert!(!history.is_empty() && history.len() < 11, "{} kept", history.len());
    assert_eq!(history, said[said.len() - history.len()..], "the newest ones, in order");

    // A `since` from the future: the server restarted under the page.
    let (history, truncated) = catch_up(&server, "?name=dan&since=999999");
    assert!(truncated, "a since ahead of the room means a restart");
    assert_eq!(history, said[said.len() - history.len()..]);

    // Without `since`, the welcome is as before: the recent history.
    let (_eve, welcome) = ChatMember::join(&server, "?name=eve");
    let last = welcome.array("history").last().expect("a history").str("text").to_string();
    assert_eq!(last, said[11].1);
}
