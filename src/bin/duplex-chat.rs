//! # duplex-chat: the chat room from a terminal
//!
//! ```text
//! duplex-chat [ws://HOST:PORT/chat?name=NAME] [--name NAME]
//! ```
//!
//! A client for the protocol of `docs/protocol.md`, built on
//! [`duplex::client::Client`] (RFC 6455) and [`duplex::json::read`]
//! (RFC 8259). Each line typed is sent as a chat message (`/nick NEW`
//! passes through as the command it is); each event from the server is
//! printed as one readable line. `/quit` or end of input (Ctrl-D) leaves
//! with close code 1000 and waits, briefly, for the server's answer.
//!
//! **One thread owns the connection.** A `Client` is single-owner: `recv`
//! and `send` both need `&mut`. A chat client must wait for the keyboard
//! and the network at once, so instead of sharing the socket, a second
//! thread reads standard input and passes each line over a channel, and the
//! socket thread alternates: send whatever lines have arrived, then wait
//! for the server for a short while ([`POLL_INTERVAL`]), and again. A typed line
//! waits at most that long. (Blocking on stdin is also why that thread is
//! never joined: returning from `main` ends the process, thread and all.)
//!
//! **The trap in that design, and the way around it.** A read timeout is
//! harmless while `recv` waits for a frame to *start* (nothing has been
//! consumed), but if it strikes *inside* a frame, part of the frame is gone
//! and the reader is out of step with the stream. So the loop never lets
//! `recv` time out: it first asks [`Client::poll`] to wait for the next
//! byte with the short timeout (a poll consumes nothing), and only when a
//! byte has arrived calls `recv`, with the generous [`LONG_WAIT`] for the
//! rest of the frame.
//!
//! **The terminal is an attack surface.** Message text comes from
//! strangers, and a terminal obeys control characters: `ESC [ 2 J` clears
//! the screen, a carriage return lets a message overwrite its own sender's
//! name, U+202E reverses the rest of the line. [`printable`] shows all of
//! those as visible escapes.
//!
//! Read next: `tests/chat_client.rs`, which drives this program through its
//! standard input and output.

use std::fmt;
use std::io::{self, BufRead, Write};
use std::process::ExitCode;
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::time::Duration;

use duplex::client::Client;
use duplex::json::read::{self as json_read, JsonValue};
use duplex::websocket::{CloseCode, Closed, Message};

const DEFAULT_URL: &str = "ws://127.0.0.1:8080/chat";

/// Longest a typed line waits before it is sent.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// How long the rest of a frame may take once its first byte is here.
const LONG_WAIT: Duration = Duration::from_secs(30);

/// How long to wait for the server to answer our close frame.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

const USAGE: &str = "usage: duplex-chat [ws://HOST:PORT/chat?name=NAME] [--name NAME]
Type a line to send it; /nick NEW to rename yourself; /quit or Ctrl-D to leave.";

fn main() -> ExitCode {
    let url = match url_from_args(std::env::args().skip(1)) {
        Ok(Some(url)) => url,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(problem) => {
            eprintln!("duplex-chat: {problem}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let mut client = match Client::connect(&url) {
        Ok(client) => client,
        Err(error) => {
            eprintln!("duplex-chat: cannot join {url}: {error}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!("connected to {url}");
    let ending = chat(&mut client, &read_lines_in_background(), &mut io::stdout());
    // Stdout may be the thing that failed; the message is for the person.
    let _ = writeln!(io::stdout(), "{}", ending.describe());
    if ending.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// What is wrong with the command line.
#[derive(Debug, PartialEq, Eq)]
enum UsageError {
    NameWithoutValue,
    UnknownOption(String),
    SecondUrl(String),
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UsageError::NameWithoutValue => f.write_str("--name needs a value"),
            UsageError::UnknownOption(option) => write!(f, "unknown option {option}"),
            UsageError::SecondUrl(url) => write!(f, "one URL only, not also {url}"),
        }
    }
}

/// The URL to connect to; `None` asks for the usage text.
fn url_from_args(mut args: impl Iterator<Item = String>) -> Result<Option<String>, UsageError> {
    let (mut url, mut name) = (None, None);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--name" => name = Some(args.next().ok_or(UsageError::NameWithoutValue)?),
            _ if arg.starts_with("--name=") => name = Some(arg["--name=".len()..].to_string()),
            _ if arg.starts_with('-') => return Err(UsageError::UnknownOption(arg)),
            _ if url.is_none() => url = Some(arg),
            _ => return Err(UsageError::SecondUrl(arg)),
        }
    }
    let url = url.unwrap_or_else(|| DEFAULT_URL.to_string());
    Ok(Some(match name {
        Some(name) => with_name(&url, &name),
        None => url,
    }))
}

/// `url` with its `name` query parameter set to `name`, percent-encoded
/// as UTF-8 (any `name=` already there is replaced).
fn with_name(url: &str, name: &str) -> String {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut parameters: Vec<String> = query
        .split('&')
        .filter(|p| !p.is_empty() && *p != "name" && !p.starts_with("name="))
        .map(str::to_string)
        .collect();
    let mut encoded = String::from("name=");
    for byte in name.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                encoded.push(char::from(byte))
            }
            _ => encoded.push_str(&format!("%{byte:02X}")),
        }
    }
    parameters.push(encoded);
    format!("{base}?{}", parameters.join("&"))
}

/// What the person typed, as the socket thread hears it.
enum Typed {
    Line(String),
    Quit,
}

/// Starts the thread that reads standard input. When input ends, the
/// thread ends, its sender is dropped, and the channel says `Disconnected`:
/// that *is* the end-of-input signal.
fn read_lines_in_background() -> Receiver<Typed> {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let mut input = io::stdin().lock();
        let mut bytes = Vec::new();
        loop {
            bytes.clear();
            if matches!(input.read_until(b'\n', &mut bytes), Ok(0) | Err(_)) {
                return;
            }
            // A text frame must be UTF-8 (the server closes with 1007
            // otherwise), so stray bytes from a Latin-1 terminal become U+FFFD.
            let line = String::from_utf8_lossy(&bytes);
            let line = line.trim_end_matches(['\n', '\r']);
            let typed = match line {
                "" => continue, // the server would refuse an empty message
                "/quit" => Typed::Quit,
                _ => Typed::Line(line.to_string()),
            };
            if sender.send(typed).is_err() {
                return;
            }
        }
    });
    receiver
}

/// How a session ended.
enum Ending {
    /// We closed, and the server answered: the clean way out.
    Left,
    /// We closed, but the answer did not come.
    LeftUnanswered(Closed),
    /// The server closed, or the connection failed.
    Lost(Closed),
    /// Standard output failed (say, piped into `head`, which exited).
    OutputGone(io::Error),
}

impl Ending {
    fn is_clean(&self) -> bool {
        matches!(self, Ending::Left)
    }

    fn describe(&self) -> String {
        match self {
            Ending::Left => "* you left".to_string(),
            Ending::LeftUnanswered(how) => format!("! left without an answer: {how}"),
            Ending::Lost(Closed::ByPeer(Some(frame))) => {
                format!("! the server closed the connection: {} {}", frame.code, frame.reason)
            }
            Ending::Lost(how) => format!("! connection lost: {how}"),
            Ending::OutputGone(error) => format!("! cannot write to the terminal: {error}"),
        }
    }
}

/// The socket thread's loop: send what was typed, then listen a little.
fn chat(client: &mut Client, typed: &Receiver<Typed>, screen: &mut impl Write) -> Ending {
    if let Err(error) = client.set_read_timeout(Some(LONG_WAIT)) {
        return Ending::Lost(Closed::Dropped(error));
    }
    loop {
        loop {
            match typed.try_recv() {
                Ok(Typed::Line(line)) => {
                    if let Err(error) = client.send_text(&line) {
                        return Ending::Lost(Closed::Dropped(error));
                    }
                }
                Ok(Typed::Quit) | Err(TryRecvError::Disconnected) => return leave(client),
                Err(TryRecvError::Empty) => break,
            }
        }
        match client.poll(POLL_INTERVAL) {
            Ok(true) => {}
            Ok(false) => continue, // nothing yet: back to the keyboard
            Err(error) => return Ending::Lost(Closed::Dropped(error)),
        }
        let lines = match client.recv() {
            Ok(Message::Text(json)) => match json_read::parse(&json) {
                Ok(event) => describe(&event),
                Err(error) => vec![format!("! unreadable event ({error})")],
            },
            // A file's bytes, announced by the `file` event just printed.
            // Saving them is left as an exercise.
            Ok(Message::Binary(_)) => Vec::new(),
            Err(closed) => return Ending::Lost(closed),
        };
        for line in lines {
            if let Err(error) = writeln!(screen, "{line}") {
                let _ = leave(client);
                return Ending::OutputGone(error);
            }
        }
    }
}

/// Sends close 1000 and waits for the server's close frame (RFC 6455 §7.1.2:
/// the closing handshake is complete when each side has sent one).
fn leave(client: &mut Client) -> Ending {
    if let Err(error) = client.close(CloseCode::Normal, "") {
        return Ending::LeftUnanswered(Closed::Dropped(error));
    }
    if let Err(error) = client.set_read_timeout(Some(CLOSE_WAIT)) {
        return Ending::LeftUnanswered(Closed::Dropped(error));
    }
    // After our close, `recv` reads and drops any data still in flight, so
    // it returns only when the conversation is over, one way or another.
    match client.recv() {
        Err(Closed::ByUs(_)) => Ending::Left,
        Err(other) => Ending::LeftUnanswered(other),
        Ok(_) => Ending::LeftUnanswered(Closed::Dropped(io::Error::other("data after close"))),
    }
}

/// The lines to print for one event; none for a type we do not know
/// (clients must ignore those: `docs/protocol.md` §4).
fn describe(event: &JsonValue) -> Vec<String> {
    let field = |key: &str| printable(event.get(key).and_then(JsonValue::as_str).unwrap_or("?"));
    let number = |key: &str| event.get(key).and_then(JsonValue::as_u64);
    let line = match event.get("type").and_then(JsonValue::as_str).unwrap_or("") {
        "welcome" => {
            let members = event.get("members").and_then(JsonValue::as_array).unwrap_or_default();
            let members: Vec<String> =
                members.iter().map(|m| printable(m.as_str().unwrap_or("?"))).collect();
            let mut lines = vec![format!(
                "* you are {} in room {}; here: {}",
                field("you"),
                field("room"),
                members.join(", ")
            )];
            let history = event.get("history").and_then(JsonValue::as_array).unwrap_or_default();
            lines.extend(history.iter().flat_map(describe));
            return lines;
        }
        "message" => {
            format!("[{}] {}: {}", clock(number("time")), field("from"), field("text"))
        }
        "join" => format!("* {} joined", field("name")),
        "leave" if field("reason") == "left" => format!("* {} left", field("name")),
        "leave" => format!("* {} left ({})", field("name"), field("reason")),
        "rename" => format!("* {} is now {}", field("from"), field("to")),
        "file" => {
            let name = match event.get("name") {
                Some(_) => field("name"),
                None => "a file with no name".to_string(),
            };
            let size = number("size").map_or("?".to_string(), |size| size.to_string());
            format!("* file from {}: {name} ({size} bytes, {})", field("from"), field("mime"))
        }
        "error" => format!("! error: {}", field("reason")),
        _ => return Vec::new(),
    };
    vec![line]
}

/// `HH:MM:SS` in UTC from the server's milliseconds since 1970 (the
/// server's clock, not ours, so every member sees the same time).
fn clock(millis: Option<u64>) -> String {
    let Some(millis) = millis else { return "--:--:--".to_string() };
    let seconds_today = millis / 1000 % 86_400;
    format!("{:02}:{:02}:{:02}", seconds_today / 3600, seconds_today / 60 % 60, seconds_today % 60)
}

/// Text that is safe to print on a terminal: each line break becomes a new,
/// indented line, and every other character a terminal would *obey*
/// rather than show (C0 and C1 controls, DEL, bidirectional overrides) is
/// written as a visible escape like `\u{1b}`. Tabs are left alone.
fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\n    "),
            '\t' => out.push('\t'),
            '\u{0}'..='\u{1f}'
            | '\u{7f}'..='\u{9f}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2066}'..='\u{2069}' => out.extend(c.escape_unicode()),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Result<Option<String>, UsageError> {
        url_from_args(list.iter().map(|s| s.to_string()))
    }

    #[test]
    fn arguments_become_a_url() {
        assert_eq!(args(&[]), Ok(Some(DEFAULT_URL.into())));
        assert_eq!(args(&["ws://h:1/chat?name=ann"]), Ok(Some("ws://h:1/chat?name=ann".into())));
        assert_eq!(
            args(&["--name", "Jürgen K"]),
            Ok(Some(format!("{DEFAULT_URL}?name=J%C3%BCrgen%20K")))
        );
        assert_eq!(
            args(&["ws://h:1/chat?name=old&x=1", "--name=a&b"]),
            Ok(Some("ws://h:1/chat?x=1&name=a%26b".into()))
        );
        assert_eq!(args(&["--help"]), Ok(None));
        assert_eq!(args(&["--name"]), Err(UsageError::NameWithoutValue));
        assert_eq!(args(&["--nmae", "x"]), Err(UsageError::UnknownOption("--nmae".into())));
        assert_eq!(args(&["ws://a/", "ws://b/"]), Err(UsageError::SecondUrl("ws://b/".into())));
    }

    fn event(json: &str) -> Vec<String> {
        describe(&json_read::parse(json).unwrap())
    }

    #[test]
    fn each_event_is_one_readable_line() {
        let t = r#""seq":9,"time":1795253237250"#; // 2026-11-21 09:27:17.250 UTC
        let cases = [
            (format!(r#"{{"type":"message",{t},"from":"ann","text":"hi"}}"#), "[09:27:17] ann: hi"),
            (format!(r#"{{"type":"join",{t},"name":"bob"}}"#), "* bob joined"),
            (format!(r#"{{"type":"leave",{t},"name":"bob","reason":"left"}}"#), "* bob left"),
            (
                format!(r#"{{"type":"leave",{t},"name":"bob","reason":"too slow"}}"#),
                "* bob left (too slow)",
            ),
            (format!(r#"{{"type":"rename",{t},"from":"ann","to":"annie"}}"#), "* ann is now annie"),
            (
                format!(
                    r#"{{"type":"file",{t},"from":"ann","size":1234,"mime":"image/png","name":"cat.png"}}"#
                ),
                "* file from ann: cat.png (1234 bytes, image/png)",
            ),
            (
                format!(r#"{{"type":"file",{t},"from":"ann","size":0,"mime":"a/b"}}"#),
                "* file from ann: a file with no name (0 bytes, a/b)",
            ),
            (r#"{"type":"error","reason":"no"}"#.to_string(), "! error: no"),
            (r#"{"type":"message","from":"ann"}"#.to_string(), "[--:--:--] ann: ?"),
        ];
        for (json, line) in cases {
            assert_eq!(event(&json), [line], "{json}");
        }
        assert!(event(r#"{"type":"from-the-future","x":1}"#).is_empty());
    }

    #[test]
    fn welcome_shows_who_is_here_and_the_history() {
        let json = r#"{"type":"welcome","room":"main","you":"ann-2","seq":7,"members":["ann","ann-2"],
            "history":[{"type":"message","seq":5,"time":0,"from":"ann","text":"earlier"}],
            "limits":{"text":65536,"file":8388608}}"#;
        assert_eq!(
            event(json),
            ["* you are ann-2 in room main; here: ann, ann-2", "[00:00:00] ann: earlier"]
        );
    }

    #[test]
    fn what_a_terminal_would_obey_is_shown_instead() {
        assert_eq!(printable("plain 😀 é\ttab"), "plain 😀 é\ttab");
        assert_eq!(printable("\u{1b}[2Jgone"), "\\u{1b}[2Jgone");
        assert_eq!(printable("fake\r[00:00:00] admin: hi"), "fake\\u{d}[00:00:00] admin: hi");
        assert_eq!(printable("two\nlines"), "two\n    lines");
        assert_eq!(printable("\u{7f}\u{9b}\u{202e}\u{2066}"), "\\u{7f}\\u{9b}\\u{202e}\\u{2066}");
        let printed = printable(&(0u8..0x20).map(char::from).collect::<String>());
        assert!(!printed.bytes().any(|b| b < 0x20 && b != b'\n' && b != b'\t'), "{printed:?}");
    }
}
