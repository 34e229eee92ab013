//! A chat member over a real WebSocket, for the chat tests
//! (`tests/chat.rs`, and `tests/redis_rooms.rs` with members on several
//! servers), and accessors that turn a missing JSON field into a failed
//! test. The JSON itself is read by the library's strict reader,
//! `duplex::json::read`.
//!
//! Every read has the usual timeout (`PATIENCE`), through `RawPeer`.

use duplex::json::read::{self as json_read, JsonValue as Json};
use duplex::websocket::{Incoming, Message, Opcode};

use super::{RawPeer, TestServer};

/// One member of the room, speaking WebSocket through the test helpers.
pub struct ChatMember {
    pub peer: RawPeer,
    pub name: String,
}

impl ChatMember {
    /// Connects to `/chat{query}` and reads the `welcome`.
    pub fn join(server: &TestServer, query: &str) -> (ChatMember, Json) {
        let peer = RawPeer::open(server, &format!("/chat{query}"));
        let mut member = ChatMember { peer, name: query.to_string() };
        let welcome = member.event();
        assert_eq!(welcome.kind(), "welcome", "{welcome:?}");
        member.name = welcome.str("you").to_string();
        (member, welcome)
    }

    pub fn say(&mut self, text: &str) {
        self.peer.send_frame(true, Opcode::Text, text.as_bytes());
    }

    pub fn send_file(&mut self, bytes: &[u8]) {
        self.peer.send_frame(true, Opcode::Binary, bytes);
    }

    /// Sends a close frame (1000) and reads until the server's answer.
    pub fn close(mut self) {
        self.peer.send_frame(true, Opcode::Close, &1000u16.to_be_bytes());
        self.peer.expect_close();
    }

    /// The next message or close from the server; pings are answered on
    /// the way, as a browser would.
    pub fn next(&mut self) -> Incoming {
        loop {
            match self.peer.read() {
                Incoming::Ping(payload) => self.peer.send_frame(true, Opcode::Pong, &payload),
                Incoming::Pong(_) => {}
                other => return other,
            }
        }
    }

    /// The next frame, which must be a JSON event.
    pub fn event(&mut self) -> Json {
        match self.next() {
            Incoming::Message(Message::Text(text)) => json_read::parse(&text)
                .unwrap_or_else(|error| panic!("{}: not JSON ({error}): {text:?}", self.name)),
            other => panic!("{}: expected an event, got {other:?}", self.name),
        }
    }

    /// Skips events until one of type `kind`.
    pub fn event_of(&mut self, kind: &str) -> Json {
        loop {
            let event = self.event();
            if event.kind() == kind {
                return event;
            }
        }
    }

    /// The next event, which must be a chat message: `(seq, from, text)`.
    pub fn message(&mut self) -> (u64, String, String) {
        let event = self.event_of("message");
        (event.num("seq"), event.str("from").to_string(), event.str("text").to_string())
    }

    pub fn binary(&mut self) -> Vec<u8> {
        match self.next() {
            Incoming::Message(Message::Binary(bytes)) => bytes,
            other => panic!("{}: expected a binary frame, got {other:?}", self.name),
        }
    }
}

/// Accessors for the tests: a missing field or a wrong type is a failed
/// test, so they panic with the event in the message.
pub trait Fields {
    fn field(&self, key: &str) -> &Json;
    fn kind(&self) -> &str;
    fn str(&self, key: &str) -> &str;
    fn num(&self, key: &str) -> u64;
    /// This value, which must be a number.
    fn as_f64(&self) -> f64;
    fn array(&self, key: &str) -> &[Json];
    /// Item `index` of this value, which must be an array that long.
    fn array_at(&self, index: usize) -> &Json;
    fn strings(&self, key: &str) -> Vec<&str>;
}

impl Fields for Json {
    fn field(&self, key: &str) -> &Json {
        self.get(key).unwrap_or_else(|| panic!("no field {key:?} in {self:?}"))
    }

    fn kind(&self) -> &str {
        self.str("type")
    }

    fn str(&self, key: &str) -> &str {
        let field = self.field(key);
        field.as_str().unwrap_or_else(|| panic!("{key} is not a string: {field:?}"))
    }

    fn num(&self, key: &str) -> u64 {
        let field = self.field(key);
        field.as_u64().unwrap_or_else(|| panic!("{key} is not a whole number: {field:?}"))
    }

    fn as_f64(&self) -> f64 {
        self.as_number().unwrap_or_else(|| panic!("not a number: {self:?}"))
    }

    fn array(&self, key: &str) -> &[Json] {
        let field = self.field(key);
        field.as_array().unwrap_or_else(|| panic!("{key} is not an array: {field:?}"))
    }

    fn array_at(&self, index: usize) -> &Json {
        let items = self.as_array().unwrap_or_else(|| panic!("not an array: {self:?}"));
        items.get(index).unwrap_or_else(|| panic!("no item {index} in {self:?}"))
    }

    fn strings(&self, key: &str) -> Vec<&str> {
        self.array(key)
            .iter()
            .map(|item| item.as_str().unwrap_or_else(|| panic!("not a string: {item:?}")))
            .collect()
    }
}
