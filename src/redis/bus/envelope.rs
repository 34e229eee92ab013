//! # The envelope: a room event on its way between processes
//!
//! A process that shares its room through Redis does not publish the JSON
//! its members will see. That JSON carries a `seq`, and the number is only
//! known once Redis has handed it out, inside the publish script
//! (`src/redis/bus/scripts.rs`). So a process publishes the event *before*
//! numbering, in an envelope, and every process, the sender's included,
//! renders the members' JSON from it once the number has arrived. Every
//! process renders the same bytes: same event, same `seq`, same `time`.
//!
//! An envelope is one line of JSON, and for a file, a line feed and the
//! file's bytes:
//!
//! ```text
//! {"origin":"4242-9f86d081884c7d65","id":17,"member":3,"time":1795253237250,"event":{"type":"message","from":"ann","text":"hi"}}
//! {"origin":"4242-9f86d081884c7d65","id":18,"member":3,"time":1795253237302,"event":{"type":"file","from":"ann","size":4,"mime":"image/png"}}\n<4 bytes>
//! ```
//!
//! - `origin` is the [`ProcessId`] of the process the event happened in.
//!   The room needs it three ways: a `file` goes to everyone *but* its
//!   sender, and only the sender's process knows which local member that
//!   is; a `join` coming back to its own process is the moment to send the
//!   newcomer its `welcome`; and an event a process has already delivered
//!   by itself (while Redis was away) must not be delivered twice.
//! - `id` numbers the events of one origin, so that its process can match
//!   what comes back from Redis with what it sent.
//! - `member` is the member's number in its own process (`MemberId`), and
//!   absent for a message posted over HTTP.
//! - `event` is exactly what `Change::to_json(None)` writes: the same
//!   fields the members get, minus the stamp.
//!
//! The line feed is a safe separator because JSON written by
//! `src/json/write.rs` never contains a raw one: line breaks inside strings
//! are escaped. The file's bytes come after it, counted by `size`, so they
//! may contain anything.
//!
//! Envelopes arrive from the network, so [`Envelope::decode`] reads them
//! strictly (`src/json/read.rs`) and answers a typed error for any
//! field that is missing or of the wrong kind. Only other duplex processes
//! should ever publish here, but a bug in one must not crash the others.
//!
//! Read next: `src/redis/bus/scripts.rs`, where envelopes are numbered.

use std::fmt;
use std::io::Read;
use std::sync::Arc;

use crate::chat::outbox::Encoded;
use crate::chat::protocol::Change;
use crate::chat::room::MemberId;
use crate::json::read::{self as json_read, JsonError, JsonValue};
use crate::json::write::Object;
use crate::websocket::frame::{encode_frame, Opcode};

/// The name of one run of one duplex process: its operating-system pid and
/// 64 random bits, such as `4242-9f86d081884c7d65`.
///
/// Why not the pid alone: pids repeat, across machines at once and on one
/// machine over time, and a restarted process must not be taken for the
/// one before it (whose members' entries are still waiting to expire). The
/// random part makes a collision a one-in-2^64 accident.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProcessId(Arc<str>);

/// Longest process id accepted from the network; ours are about 30 bytes.
const MAX_PROCESS_ID: usize = 64;

impl ProcessId {
    /// A fresh id for this run of this process.
    pub fn generate() -> ProcessId {
        ProcessId::new(&format!("{}-{:016x}", std::process::id(), random_u64()))
    }

    /// An id given as text (from the network, or a test).
    pub fn new(text: &str) -> ProcessId {
        ProcessId(Arc::from(text))
    }

    /// An id read from the network. Ids name Redis keys
    /// (`duplex:room:main:members:ID`), so they are held to what ours look
    /// like: letters, digits and `-`, at most 64 bytes.
    pub fn parse(text: &str) -> Option<ProcessId> {
        let plausible = !text.is_empty()
            && text.len() <= MAX_PROCESS_ID
            && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        plausible.then(|| ProcessId::new(text))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ProcessId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// 64 bits from the kernel's random source; if that cannot be read (no
/// `/dev/urandom` in a bare container), the clock's nanoseconds, which
/// still differ between two processes started with the same pid.
fn random_u64() -> u64 {
    let mut bytes = [0u8; 8];
    let read = std::fs::File::open("/dev/urandom").and_then(|mut file| file.read_exact(&mut bytes));
    match read {
        Ok(()) => u64::from_le_bytes(bytes),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.as_nanos() as u64),
    }
}

/// One event, as processes exchange it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub origin: ProcessId,
    /// Numbers the events of `origin`, from 1.
    pub id: u64,
    /// Whose event it is, numbered in `origin`; `None` for HTTP posts.
    pub member: Option<MemberId>,
    /// When it happened, in milliseconds since the Unix epoch: the `time`
    /// every member is shown, whichever process delivers it.
    pub time: u64,
    pub change: Change,
    /// A file's bytes as a binary WebSocket frame, ready to push: encoded
    /// once by the sender's reader thread, or by the subscriber thread of
    /// a process receiving it. `Some` exactly when `change` is a `File`.
    pub file: Option<Encoded>,
}

/// Why bytes from the channel are not an envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvelopeError {
    NotUtf8,
    NotJson(JsonError),
    /// A field is missing, or not of its type (`origin` not a string...).
    BadField(&'static str),
    /// An event type this version does not know.
    UnknownType(String),
    /// A `file` whose bytes are missing, or not `size` long.
    FileSize {
        declared: usize,
        got: usize,
    },
    /// Bytes after the JSON of an event that is not a file.
    UnexpectedBody,
}

impl fmt::Display for EnvelopeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnvelopeError::NotUtf8 => f.write_str("the JSON line is not UTF-8"),
            EnvelopeError::NotJson(error) => write!(f, "not JSON: {error:?}"),
            EnvelopeError::BadField(name) => write!(f, "field {name:?} missing or malformed"),
            EnvelopeError::UnknownType(kind) => write!(f, "unknown event type {kind:?}"),
            EnvelopeError::FileSize { declared, got } => {
                write!(f, "a file of {declared} bytes arrived with {got}")
            }
            EnvelopeError::UnexpectedBody => f.write_str("bytes after an event that is no file"),
        }
    }
}

impl std::error::Error for EnvelopeError {}

impl Envelope {
    /// The bytes to publish: the JSON line, and for a file `\n` and its
    /// bytes. (The bytes are taken from the file's frame, after its
    /// header: the frame is the payload with 2 to 10 bytes in front.)
    pub fn encode(&self) -> Vec<u8> {
        let mut line = Object::new();
        line.string("origin", self.origin.as_str()).number("id", self.id);
        if let Some(member) = self.member {
            line.number("member", member.0);
        }
        line.number("time", self.time).raw("event", &self.change.to_json(None));
        let mut bytes = line.finish().into_bytes();
        if let (Change::File { size, .. }, Some(frame)) = (&self.change, &self.file) {
            bytes.push(b'\n');
            bytes.extend_from_slice(&frame[frame.len().saturating_sub(*size)..]);
        }
        bytes
    }

    /// Reads an envelope, checking every field. A file's bytes are made
    /// into a binary frame here, so that nobody encodes it under the room's
    /// lock (call this on the subscriber thread).
    pub fn decode(bytes: &[u8]) -> Result<Envelope, EnvelopeError> {
        let (line, body) = match bytes.iter().position(|&b| b == b'\n') {
            Some(at) => (&bytes[..at], Some(&bytes[at + 1..])),
            None => (bytes, None),
        };
        let line = std::str::from_utf8(line).map_err(|_| EnvelopeError::NotUtf8)?;
        let json = json_read::parse(line).map_err(EnvelopeError::NotJson)?;
        let origin =
            ProcessId::parse(string(&json, "origin")?).ok_or(EnvelopeError::BadField("origin"))?;
        let member = match json.get("member") {
            None => None,
            Some(value) => Some(MemberId(value.as_u64().ok_or(EnvelopeError::BadField("member"))?)),
        };
        let event = json.get("event").ok_or(EnvelopeError::BadField("event"))?;
        let change = change_from(event)?;
        let file = match (&change, body) {
            (Change::File { size, .. }, Some(bytes)) if bytes.len() == *size => {
                Some(Arc::from(encode_frame(Opcode::Binary, bytes, None)))
            }
            (Change::File { size, .. }, body) => {
                let got = body.map_or(0, <[u8]>::len);
                return Err(EnvelopeError::FileSize { declared: *size, got });
            }
            (_, Some(_)) => return Err(EnvelopeError::UnexpectedBody),
            (_, None) => None,
        };
        Ok(Envelope {
            origin,
            id: number(&json, "id")?,
            member,
            time: number(&json, "time")?,
            change,
            file,
        })
    }
}

/// The event object, by its `type`.
fn change_from(event: &JsonValue) -> Result<Change, EnvelopeError> {
    let text = |key| string(event, key).map(str::to_string);
    let change = match string(event, "type")? {
        "join" => Change::Join { name: text("name")? },
        "leave" => Change::Leave { name: text("name")?, reason: text("reason")? },
        "rename" => Change::Rename { from: text("from")?, to: text("to")? },
        "message" => Change::Message { from: text("from")?, text: text("text")? },
        "file" => Change::File {
            from: text("from")?,
            size: usize::try_from(number(event, "size")?)
                .map_err(|_| EnvelopeError::BadField("size"))?,
            mime: text("mime")?,
            name: match event.get("name") {
                None => None,
                Some(_) => Some(text("name")?),
            },
        },
        other => return Err(EnvelopeError::UnknownType(other.to_string())),
    };
    Ok(change)
}

fn string<'j>(json: &'j JsonValue, key: &'static str) -> Result<&'j str, EnvelopeError> {
    json.get(key).and_then(JsonValue::as_str).ok_or(EnvelopeError::BadField(key))
}

fn number(json: &JsonValue, key: &'static str) -> Result<u64, EnvelopeError> {
    json.get(key).and_then(JsonValue::as_u64).ok_or(EnvelopeError::BadField(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(change: Change, file: Option<&[u8]>) -> Envelope {
        Envelope {
            origin: ProcessId::new("4242-9f86d081884c7d65"),
            id: 17,
            member: Some(MemberId(3)),
            time: 1_795_253_237_250,
            change,
            file: file.map(|bytes| Arc::from(encode_frame(Opcode::Binary, bytes, None))),
        }
    }

    #[test]
    fn a_message_is_one_line_of_json_with_the_members_fields() {
        let said = Change::Message { from: "ann".into(), text: "hi\n\"you\"".into() };
        let sent = envelope(said, None);
        let bytes = sent.encode();
        assert_eq!(
            String::from_utf8(bytes.clone()).unwrap(),
            r#"{"origin":"4242-9f86d081884c7d65","id":17,"member":3,"time":1795253237250,"event":{"type":"message","from":"ann","text":"hi\u000a\"you\""}}"#
        );
        assert_eq!(Envelope::decode(&bytes), Ok(sent));
    }

    #[test]
    fn every_change_survives_the_trip() {
        let changes = [
            Change::Join { name: "ann".into() },
            Change::Leave { name: "ann".into(), reason: "timed out".into() },
            Change::Rename { from: "ann".into(), to: "anna 😀".into() },
            Change::File { from: "ann".into(), size: 0, mime: "text/plain".into(), name: None },
        ];
        for change in changes {
            let file = matches!(change, Change::File { .. }).then_some(&b""[..]);
            let sent = envelope(change, file);
            assert_eq!(Envelope::decode(&sent.encode()).as_ref(), Ok(&sent));
        }
        let mut posted = envelope(Change::Message { from: "web".into(), text: "x".into() }, None);
        posted.member = None;
        assert_eq!(Envelope::decode(&posted.encode()), Ok(posted));
    }

    #[test]
    fn a_file_travels_after_a_line_feed_and_comes_back_as_the_same_frame() {
        let bytes = b"\x89PNG\r\n\x1a\n\0any bytes at all";
        let change = Change::File {
            from: "ann".into(),
            size: bytes.len(),
            mime: "image/png".into(),
            name: Some("cat picture.png".into()),
        };
        let sent = envelope(change, Some(bytes));
        let wire = sent.encode();
        assert!(wire.ends_with(bytes));
        let received = Envelope::decode(&wire).unwrap();
        assert_eq!(received.file, sent.file, "the very frame the sender encoded");
    }

    #[test]
    fn malformed_envelopes_are_typed_errors() {
        let good = envelope(Change::Join { name: "ann".into() }, None).encode();
        let good = String::from_utf8(good).unwrap();
        let cases: Vec<(String, EnvelopeError)> = vec![
            (good.replace(r#""id":17"#, r#""id":-1"#), EnvelopeError::BadField("id")),
            (good.replace("4242-9f86d081884c7d65", "a:b"), EnvelopeError::BadField("origin")),
            (good.replace(r#""name":"ann""#, r#""name":7"#), EnvelopeError::BadField("name")),
            (good.replace(r#""type":"join""#, r#""type":"party""#), {
                EnvelopeError::UnknownType("party".into())
            }),
            (format!("{good}\nbody"), EnvelopeError::UnexpectedBody),
        ];
        for (text, expected) in cases {
            assert_eq!(Envelope::decode(text.as_bytes()), Err(expected), "{text}");
        }
        assert!(matches!(Envelope::decode(b"{not json"), Err(EnvelopeError::NotJson(_))));
        assert_eq!(Envelope::decode(b"\xff\xfe"), Err(EnvelopeError::NotUtf8));
        let file = envelope(
            Change::File { from: "a".into(), size: 5, mime: "x/y".into(), name: None },
            Some(b"12345"),
        );
        let mut cut = file.encode();
        cut.pop();
        assert_eq!(Envelope::decode(&cut), Err(EnvelopeError::FileSize { declared: 5, got: 4 }));
    }

    #[test]
    fn process_ids_are_fresh_and_plausible() {
        let (a, b) = (ProcessId::generate(), ProcessId::generate());
        assert_ne!(a, b);
        assert_eq!(ProcessId::parse(a.as_str()), Some(a.clone()));
        assert_eq!(ProcessId::parse("a:b"), None);
        assert!(a.as_str().starts_with(&format!("{}-", std::process::id())));
    }
}
