//! # The chat's wire protocol, both directions
//!
//! `docs/protocol.md` is the reference for client authors; this is the
//! code it describes, in one place.
//!
//! **Server to client**: every text frame is one JSON object. Events that
//! concern the whole room (`message`, `join`, `leave`, `rename`, `file`)
//! are a [`Change`], rendered by [`Change::to_json`], and carry a
//! [`Stamp`]: a sequence number `seq` that goes up by one with every such
//! event, and the server's clock as `time` (milliseconds since the Unix
//! epoch). Events for one member only ([`Welcome`], and [`error_json`])
//! carry none.
//!
//! Keeping the events typed, and rendering them in one function, is what
//! lets other transports share the room: the push layer's event streams
//! and polls (`src/push/`) send the very same JSON, with the very same
//! `seq`, over plain HTTP.
//!
//! **Client to server**: text frames are chat messages, except two
//! commands ([`Command`]): `/nick NEW` and `/file TYPE NAME`. A binary
//! frame is a file, announced to the others by a `file` event.
//!
//! (The JSON itself is written by `src/json/write.rs`, chapter 5.)
//!
//! Read next: `src/chat/names.rs`, the rules for display names.

use super::names::is_forbidden;
use crate::config::Limits;
use crate::json::write::Object;

/// Sequence number and server time of an event for the whole room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub seq: u64,
    /// Milliseconds since the Unix epoch.
    pub time: u64,
}

/// What happened in the room: an event the room decides, numbers and
/// shows to everyone. Owned, so that it can wait in a queue or cross a
/// thread. (That is the one copy of a message's text between the reader's
/// buffer and the wire: once per message, not once per member.)
///
/// A `Leave`'s `reason` is short and human: "left", "connection lost",
/// "too slow"... A `File` announces the binary frame that follows it, and
/// nothing else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Join { name: String },
    Leave { name: String, reason: String },
    Rename { from: String, to: String },
    Message { from: String, text: String },
    File { from: String, size: usize, mime: String, name: Option<String> },
}

impl Change {
    /// The one place room events become JSON: `type` first, then the
    /// stamp (`None` for an event not numbered yet), then its own fields.
    pub fn to_json(&self, stamp: Option<Stamp>) -> String {
        let kind = match self {
            Change::Join { .. } => "join",
            Change::Leave { .. } => "leave",
            Change::Rename { .. } => "rename",
            Change::Message { .. } => "message",
            Change::File { .. } => "file",
        };
        let mut json = Object::new();
        json.string("type", kind);
        if let Some(stamp) = stamp {
            json.number("seq", stamp.seq).number("time", stamp.time);
        }
        match self {
            Change::Join { name } => json.string("name", name),
            Change::Leave { name, reason } => json.string("name", name).string("reason", reason),
            Change::Rename { from, to } => json.string("from", from).string("to", to),
            Change::Message { from, text } => json.string("from", from).string("text", text),
            Change::File { from, size, mime, name } => {
                json.string("from", from).number("size", *size as u64).string("mime", mime);
                // Each arm yields the builder, as the other arms do.
                match name {
                    Some(name) => json.string("name", name),
                    None => &mut json,
                }
            }
        };
        json.finish()
    }
}

/// The first event on every connection: the room as a newcomer finds it.
#[derive(Debug, Clone)]
pub struct Welcome<'a> {
    pub room: &'a str,
    /// The newcomer's name, as the room decided it.
    pub you: &'a str,
    /// Everyone in the room (on every process, when it is shared), in
    /// order of their `join`, the newcomer last.
    pub members: &'a [String],
    /// Recent `message` events, oldest first, each already JSON.
    pub history: Vec<&'a str>,
    /// The newest `seq` so far (the newcomer's own `join`).
    pub seq: u64,
    /// The room's limits: its largest text message and file, in bytes.
    pub limits: &'a Limits,
}

impl Welcome<'_> {
    pub fn to_json(&self) -> String {
        let (text, file) = (self.limits.max_chat_text as u64, self.limits.max_chat_file as u64);
        let limits = Object::new().number("text", text).number("file", file).finish();
        Object::new()
            .string("type", "welcome")
            .string("room", self.room)
            .string("you", self.you)
            .number("seq", self.seq)
            .strings("members", self.members.iter().map(String::as_str))
            .raw_array("history", self.history.iter().copied())
            .raw("limits", &limits)
            .finish()
    }
}

/// The other event for one member only: something it sent was refused.
pub fn error_json(reason: &str) -> String {
    Object::new().string("type", "error").string("reason", reason).finish()
}

/// What a client's text frame asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command<'a> {
    /// `/nick NEW`: take a new name.
    Nick(&'a str),
    /// `/file TYPE NAME`: describes the next binary frame.
    File(FileInfo),
    /// Anything else: a chat message, exactly as typed.
    Say(&'a str),
}

/// A file's media type and name, from `/file TYPE NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    pub mime: String,
    pub name: Option<String>,
}

/// The media type of a file nobody described.
pub const UNKNOWN_MIME: &str = "application/octet-stream";

/// Longest file name relayed, in characters. Longer names are dropped.
pub const MAX_FILE_NAME_CHARS: usize = 255;

impl Default for FileInfo {
    fn default() -> Self {
        FileInfo { mime: UNKNOWN_MIME.to_string(), name: None }
    }
}

impl Command<'_> {
    /// Reads a client's text frame. Only `/nick` and `/file` followed by a
    /// space (or nothing) are commands: `/nickname` and `/shrug` are ordinary
    /// messages, so no typed text is ever swallowed by a typo.
    pub fn parse(text: &str) -> Command<'_> {
        // The command is what comes before the first space: all of `/nick`,
        // or `/nick` in `/nick ann`.
        let (command, rest) = text.split_once(' ').unwrap_or((text, ""));
        match command {
            "/nick" => Command::Nick(rest),
            "/file" => Command::File(FileInfo::parse(rest)),
            _ => Command::Say(text),
        }
    }
}

impl FileInfo {
    /// `TYPE NAME`. The type must look like `type/subtype` in the token
    /// characters of RFC 9110 §5.6.2, or it becomes `application/octet-stream`;
    /// the name is dropped if it holds control or invisible characters (the
    /// same rule as member names) or is too long.
    ///
    /// The type is relayed to other browsers, which decide from it whether
    /// to show an image. The page trusts only a short list of raster image
    /// types, for reasons `www/chat.js` explains.
    fn parse(rest: &str) -> FileInfo {
        let is_token = |text: &str| crate::http::request::is_token(text.as_bytes());
        let (mime, name) = rest.split_once(' ').unwrap_or((rest, ""));
        // 127: RFC 6838 §4.2's bound on each half, held here to the whole.
        let valid = mime.len() <= 127
            && mime.split_once('/').is_some_and(|(kind, sub)| is_token(kind) && is_token(sub));
        let mime = if valid { mime.to_ascii_lowercase() } else { UNKNOWN_MIME.to_string() };
        let name = name.trim();
        let acceptable = (1..=MAX_FILE_NAME_CHARS).contains(&name.chars().count())
            && !name.chars().any(is_forbidden);
        FileInfo { mime, name: acceptable.then(|| name.to_string()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::read::{parse, JsonValue};

    const STAMP: Option<Stamp> = Some(Stamp { seq: 7, time: 1_700_000_000_000 });

    #[test]
    fn each_event_renders_its_documented_fields() {
        let cases = [
            (
                Change::Message { from: "ann".into(), text: "hi \"you\"".into() },
                STAMP,
                r#"{"type":"message","seq":7,"time":1700000000000,"from":"ann","text":"hi \"you\""}"#,
            ),
            (
                Change::Join { name: "bob".into() },
                STAMP,
                r#"{"type":"join","seq":7,"time":1700000000000,"name":"bob"}"#,
            ),
            (
                Change::Leave { name: "bob".into(), reason: "too slow".into() },
                STAMP,
                r#"{"type":"leave","seq":7,"time":1700000000000,"name":"bob","reason":"too slow"}"#,
            ),
            (
                Change::Rename { from: "bob".into(), to: "rob".into() },
                STAMP,
                r#"{"type":"rename","seq":7,"time":1700000000000,"from":"bob","to":"rob"}"#,
            ),
            (
                Change::File {
                    from: "ann".into(),
                    size: 3,
                    mime: "image/png".into(),
                    name: Some("a.png".into()),
                },
                STAMP,
                r#"{"type":"file","seq":7,"time":1700000000000,"from":"ann","size":3,"mime":"image/png","name":"a.png"}"#,
            ),
            (
                Change::File { from: "ann".into(), size: 0, mime: UNKNOWN_MIME.into(), name: None },
                STAMP,
                r#"{"type":"file","seq":7,"time":1700000000000,"from":"ann","size":0,"mime":"application/octet-stream"}"#,
            ),
        ];
        for (event, stamp, json) in cases {
            assert_eq!(event.to_json(stamp), json);
        }
        assert_eq!(error_json("no"), r#"{"type":"error","reason":"no"}"#);
    }

    #[test]
    fn welcome_embeds_history_as_json() {
        let old = Change::Message { from: "ann".into(), text: "earlier".into() }.to_json(STAMP);
        let welcome = Welcome {
            room: "main",
            you: "bob",
            members: &["ann".into(), "bob".into()],
            history: vec![&old],
            seq: 8,
            limits: &Limits { max_chat_text: 65536, max_chat_file: 1024, ..Limits::default() },
        };
        assert_eq!(
            welcome.to_json(),
            format!(
                r#"{{"type":"welcome","room":"main","you":"bob","seq":8,"members":["ann","bob"],"history":[{old}],"limits":{{"text":65536,"file":1024}}}}"#
            )
        );
    }

    #[test]
    fn commands() {
        assert_eq!(Command::parse("/nick ann"), Command::Nick("ann"));
        assert_eq!(Command::parse("/nick"), Command::Nick(""));
        assert_eq!(Command::parse("/nickname"), Command::Say("/nickname"));
        assert_eq!(Command::parse(" /nick x"), Command::Say(" /nick x"));
        assert_eq!(Command::parse("hello"), Command::Say("hello"));
        assert_eq!(Command::parse("/shrug"), Command::Say("/shrug"));
        assert_eq!(
            Command::parse("/file image/PNG cat picture.png"),
            Command::File(FileInfo {
                mime: "image/png".into(),
                name: Some("cat picture.png".into())
            })
        );
        assert_eq!(Command::parse("/file"), Command::File(FileInfo::default()));
        let odd = Command::parse("/file not-a-type a\u{202E}b");
        assert_eq!(odd, Command::File(FileInfo::default()));
        let no_name = Command::parse("/file text/plain");
        assert_eq!(no_name, Command::File(FileInfo { mime: "text/plain".into(), name: None }));
    }

    // The welcome, read back with the strict reader a client would use.
    #[test]
    fn a_welcome_event_reads_back_field_by_field() {
        let stamp = Some(Stamp { seq: 7, time: 1_700_000_000_000 });
        let old = Change::Message { from: "ann".into(), text: "line\none \"quoted\"".into() }
            .to_json(stamp);
        let welcome = (Welcome {
            room: "main",
            you: "b\"ob",
            members: &["ann".into(), "b\"ob".into()],
            history: vec![&old],
            seq: 8,
            limits: &Limits { max_chat_text: 65536, max_chat_file: 1024, ..Limits::default() },
        })
        .to_json();
        let value = parse(&welcome).unwrap();
        let field = |key| value.get(key).unwrap_or_else(|| panic!("no {key}"));
        assert_eq!(field("type").as_str(), Some("welcome"));
        assert_eq!(field("you").as_str(), Some("b\"ob"));
        assert_eq!(field("seq").as_u64(), Some(8));
        let members: Vec<_> =
            field("members").as_array().unwrap().iter().map(|m| m.as_str()).collect();
        assert_eq!(members, [Some("ann"), Some("b\"ob")]);
        let history = field("history").as_array().unwrap();
        assert_eq!(history, [parse(&old).unwrap()]);
        assert_eq!(
            history[0].get("text").and_then(JsonValue::as_str),
            Some("line\none \"quoted\"")
        );
        assert_eq!(history[0].get("time").and_then(JsonValue::as_u64), Some(1_700_000_000_000));
        assert_eq!(field("limits").get("file").and_then(JsonValue::as_u64), Some(1024));
    }
}
