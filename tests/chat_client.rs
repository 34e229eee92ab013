//! The terminal client, `duplex-chat`, tested the way a person uses it:
//! the real binary, typed lines on its standard input, what it prints read
//! from its standard output, against the real server, with a second member
//! (a `duplex::client::Client`) in the room to talk to.
//!
//! Every wait is bounded by `common::PATIENCE`: the client's output is read
//! by a thread that passes lines over a channel, and the test waits on the
//! channel with `recv_timeout`. Nothing sleeps.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::Instant;

use common::{TestServer, PATIENCE};
use duplex::client::Client;
use duplex::json::read::{self as json_read, JsonValue};
use duplex::websocket::Message;

/// A running `duplex-chat`, killed when dropped if it is still running.
struct Terminal {
    child: Child,
    keyboard: Option<ChildStdin>,
    screen: Receiver<String>,
    diagnostics: Receiver<String>,
    /// Everything printed so far, for failure messages.
    seen: Vec<String>,
}

impl Terminal {
    fn start(args: &[&str]) -> Terminal {
        let mut child = Command::new(env!("CARGO_BIN_EXE_duplex-chat"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start duplex-chat");
        let keyboard = child.stdin.take();
        let screen = lines_of(child.stdout.take().expect("stdout"));
        let diagnostics = lines_of(child.stderr.take().expect("stderr"));
        Terminal { child, keyboard, screen, diagnostics, seen: Vec::new() }
    }

    fn type_line(&mut self, line: &str) {
        let keyboard = self.keyboard.as_mut().expect("input still open");
        writeln!(keyboard, "{line}").and_then(|()| keyboard.flush()).expect("type a line");
    }

    /// Ends the input, as Ctrl-D does.
    fn end_input(&mut self) {
        self.keyboard = None;
    }

    /// The next line printed, or `None` once the program has exited.
    fn next_line(&mut self, deadline: Instant) -> Option<String> {
        let left = deadline.saturating_duration_since(Instant::now());
        match self.screen.recv_timeout(left) {
            Ok(line) => {
                self.seen.push(line.clone());
                Some(line)
            }
            Err(RecvTimeoutError::Disconnected) => None,
            Err(RecvTimeoutError::Timeout) => panic!("nothing printed in time:\n{:#?}", self.seen),
        }
    }

    /// Reads lines until one is exactly `wanted`.
    fn expect_line(&mut self, wanted: &str) {
        let deadline = Instant::now() + PATIENCE;
        while let Some(line) = self.next_line(deadline) {
            if line == wanted {
                return;
            }
        }
        panic!("the client exited without printing {wanted:?}:\n{:#?}", self.seen);
    }

    /// Waits for the program to exit (its output closes first), and
    /// returns its status, the lines it printed on the way, and its stderr.
    fn exit(mut self) -> (ExitStatus, Vec<String>, String) {
        let deadline = Instant::now() + PATIENCE;
        let mut last = Vec::new();
        while let Some(line) = self.next_line(deadline) {
            last.push(line);
        }
        let mut stderr = String::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.diagnostics.recv_timeout(left) {
                Ok(line) => stderr += &(line + "\n"),
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => panic!("stderr still open: {stderr}"),
            }
        }
        let status = self.child.wait().expect("exit status");
        (status, last, stderr)
    }
}

/// The lines of a pipe, over a channel, read by a thread of their own.
fn lines_of(pipe: impl Read + Send + 'static) -> Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                return;
            }
        }
    });
    receiver
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Another member of the room, with a timeout on every read.
fn member(server: &TestServer, name: &str) -> Client {
    let client = Client::connect(&server.url(&format!("/chat?name={name}"))).expect("connect");
    client.set_read_timeout(Some(PATIENCE)).expect("read timeout");
    client
}

/// Skips events until one of type `kind`.
fn event_of(client: &mut Client, kind: &str) -> JsonValue {
    loop {
        let event = match client.recv().expect("a frame from the server") {
            Message::Text(text) => json_read::parse(&text).expect("JSON from the server"),
            Message::Binary(_) => continue,
        };
        if text(&event, "type") == kind {
            return event;
        }
    }
}

fn text<'a>(event: &'a JsonValue, key: &str) -> &'a str {
    event.get(key).and_then(JsonValue::as_str).unwrap_or_else(|| panic!("{key} in {event:?}"))
}

/// The message's `time` as `HH:MM:SS` UTC, worked out independently of the
/// client's own code.
fn clock_of(event: &JsonValue) -> String {
    let millis = event.get("time").and_then(JsonValue::as_u64).expect("time");
    let seconds = millis / 1000 % 86_400;
    format!("{:02}:{:02}:{:02}", seconds / 3600, seconds / 60 % 60, seconds % 60)
}

#[test]
fn lines_typed_reach_the_room_and_the_room_is_printed_readably() {
    let server = TestServer::start(&[]);
    let mut term = Terminal::start(&[&server.url("/chat?name=term")]);
    term.expect_line("* you are term in room main; here: term");
    let mut bob = member(&server, "bob");
    term.expect_line("* bob joined");

    term.type_line("hello from a terminal");
    let said = event_of(&mut bob, "message");
    assert_eq!((text(&said, "from"), text(&said, "text")), ("term", "hello from a terminal"));
    term.expect_line(&format!("[{}] term: hello from a terminal", clock_of(&said)));

    bob.send_text("hi \"term\" 😀").unwrap();
    let said = event_of(&mut bob, "message"); // bob's own copy carries the time
    term.expect_line(&format!("[{}] bob: hi \"term\" 😀", clock_of(&said)));

    // A message that would clear the screen and forge a line is shown, not obeyed.
    bob.send_text("\u{1b}[2J\rtwo\nlines").unwrap();
    let said = event_of(&mut bob, "message");
    term.expect_line(&format!("[{}] bob: \\u{{1b}}[2J\\u{{d}}two", clock_of(&said)));
    term.expect_line("    lines");

    term.type_line("/nick termie");
    let rename = event_of(&mut bob, "rename");
    assert_eq!((text(&rename, "from"), text(&rename, "to")), ("term", "termie"));
    term.expect_line("* term is now termie");

    // A file: announced, then its bytes, which the client must skip cleanly.
    bob.send_text("/file image/png cat.png").unwrap();
    bob.send_binary(&[7; 1234]).unwrap();
    term.expect_line("* file from bob: cat.png (1234 bytes, image/png)");
    bob.send_text("after the file").unwrap();
    let said = event_of(&mut bob, "message");
    term.expect_line(&format!("[{}] bob: after the file", clock_of(&said)));

    // End of input: close 1000, answered by the server, and a clean exit.
    term.end_input();
    let leave = event_of(&mut bob, "leave");
    assert_eq!((text(&leave, "name"), text(&leave, "reason")), ("termie", "left"));
    let (status, last, stderr) = term.exit();
    assert!(status.success(), "{status}: {last:?} {stderr}");
    assert_eq!(last, ["* you left"]);
    server.wait_for_log("chat: termie gone from main: left");
    server.wait_for_log("closed: websocket peer closed with 1000");
}

#[test]
fn slash_quit_leaves_and_refusals_are_printed_as_errors() {
    let server = TestServer::start(&["--max-chat-text", "16"]);
    let mut term = Terminal::start(&["--name", "Jürgen K", &server.url("/chat")]);
    term.expect_line("* you are Jürgen K in room main; here: Jürgen K");
    term.type_line(&"x".repeat(17));
    term.expect_line("! error: message too long: 17 bytes, the limit is 16");
    term.type_line("/quit");
    let (status, last, stderr) = term.exit();
    assert!(status.success(), "{status}: {last:?} {stderr}");
    assert_eq!(last, ["* you left"]);
    server.wait_for_log("chat: Jürgen K gone from main: left");
}

#[test]
fn a_refused_upgrade_is_reported_with_a_failing_exit_status() {
    let server = TestServer::start(&[]);
    let term = Terminal::start(&[&server.url("/no-such-endpoint")]);
    let (status, printed, stderr) = term.exit();
    assert!(!status.success());
    assert!(printed.is_empty(), "{printed:?}");
    assert!(stderr.contains("server refused the upgrade: 404"), "{stderr}");
}
