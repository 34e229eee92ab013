//! Clients for the chat room's HTTP face (`src/chat/http_api.rs`,
//! `src/chat/event_stream.rs`): a keep-alive HTTP connection that sends,
//! polls and long-polls, and a Server-Sent Events reader that parses the
//! stream line by line as WHATWG HTML §9.2.5 describes, so tests see what
//! an `EventSource` would.
//!
//! Every read has the usual timeout (`PATIENCE`): a stream that stops
//! delivering fails the test instead of hanging it.

use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::net::TcpStream;

use super::{read_response, HttpResponse, TestServer};
use duplex::json::read::{parse, JsonValue};

/// One chat message as the HTTP face delivers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Said {
    pub seq: u64,
    pub from: String,
    pub text: String,
}

impl Said {
    /// Reads a `message` event's JSON, failing the test on anything else.
    pub fn from_json(event: &JsonValue) -> Said {
        let field = |key: &str| event.get(key).unwrap_or_else(|| panic!("no {key} in {event:?}"));
        assert_eq!(field("type").as_str(), Some("message"), "{event:?}");
        Said {
            seq: field("seq").as_u64().expect("seq is a whole number"),
            from: field("from").as_str().expect("from is a string").to_string(),
            text: field("text").as_str().expect("text is a string").to_string(),
        }
    }

    pub fn parse(json: &str) -> Said {
        Said::from_json(&parse(json).unwrap_or_else(|e| panic!("not JSON ({e:?}): {json}")))
    }
}

/// The answer to `GET /api/messages`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Poll {
    pub last_seq: u64,
    pub truncated: bool,
    pub messages: Vec<Said>,
}

impl Poll {
    pub fn parse(json: &str) -> Poll {
        let value = parse(json).unwrap_or_else(|e| panic!("not JSON ({e:?}): {json}"));
        let truncated = match value.get("truncated") {
            Some(JsonValue::Bool(truncated)) => *truncated,
            other => panic!("truncated is {other:?} in {json}"),
        };
        let messages = value.get("messages").and_then(JsonValue::as_array).expect("messages");
        Poll {
            last_seq: value.get("last_seq").and_then(JsonValue::as_u64).expect("last_seq"),
            truncated,
            messages: messages.iter().map(Said::from_json).collect(),
        }
    }
}

/// One keep-alive HTTP/1.1 connection, for many requests in a row.
pub struct HttpClient {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl HttpClient {
    pub fn connect(server: &TestServer) -> HttpClient {
        let stream = server.connect();
        let writer = stream.try_clone().expect("clone the socket");
        HttpClient { reader: BufReader::new(stream), writer }
    }

    /// Sends one request and reads its response.
    pub fn request(
        &mut self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> HttpResponse {
        let mut head = format!("{method} {target} HTTP/1.1\r\nHost: test\r\n");
        for (name, value) in headers {
            head += &format!("{name}: {value}\r\n");
        }
        if !body.is_empty() || method == "POST" {
            head += &format!("Content-Length: {}\r\n", body.len());
        }
        let mut bytes = (head + "\r\n").into_bytes();
        bytes.extend_from_slice(body);
        self.writer.write_all(&bytes).expect("send the request");
        read_response(&mut self.reader, method == "HEAD")
    }

    /// `POST /api/send?name=NAME`; returns the message's `seq`.
    pub fn post(&mut self, name: &str, text: &str) -> u64 {
        let response =
            self.request("POST", &format!("/api/send?name={name}"), &[], text.as_bytes());
        assert_eq!(response.status, 200, "{}", response.text());
        let answer = parse(&response.text()).expect("JSON");
        answer.get("seq").and_then(JsonValue::as_u64).expect("seq")
    }

    /// `GET /api/messages?since=SINCE` plus `extra` (`&wait=1`).
    pub fn poll(&mut self, since: u64, extra: &str) -> Poll {
        let response =
            self.request("GET", &format!("/api/messages?since={since}{extra}"), &[], b"");
        assert_eq!(response.status, 200, "{}", response.text());
        assert_eq!(response.header("Cache-Control"), Some("no-store"));
        Poll::parse(&response.text())
    }
}

/// One block of an event stream: the lines up to a blank line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SseBlock {
    pub id: Option<String>,
    pub event: Option<String>,
    pub data: Option<String>,
    pub retry: Option<String>,
    pub comments: Vec<String>,
}

/// A reader of `GET /api/events`.
pub struct EventStream {
    reader: BufReader<TcpStream>,
    pub head: HttpResponse,
}

impl EventStream {
    /// Opens `/api/events{query}`, with `Last-Event-ID` if given, and
    /// reads the response head.
    pub fn open(server: &TestServer, query: &str, last_event_id: Option<&str>) -> EventStream {
        let mut stream = server.connect();
        let mut request = format!("GET /api/events{query} HTTP/1.1\r\nHost: test\r\n");
        if let Some(id) = last_event_id {
            request += &format!("Last-Event-ID: {id}\r\n");
        }
        stream.write_all((request + "\r\n").as_bytes()).expect("send the request");
        EventStream::after_request(BufReader::new(stream))
    }

    /// Reads the response head on a connection whose request was sent.
    pub fn after_request(mut reader: BufReader<TcpStream>) -> EventStream {
        let head = read_response(&mut reader, true);
        EventStream { reader, head }
    }

    /// The next block, or `None` when the server has closed the stream.
    pub fn next_block(&mut self) -> Option<SseBlock> {
        let mut block = SseBlock::default();
        let mut any = false;
        loop {
            let mut line = String::new();
            match self.reader.read_line(&mut line) {
                Ok(0) => return any.then_some(block),
                Ok(_) => {}
                Err(error) if error.kind() == ErrorKind::ConnectionReset => return None,
                Err(error) => panic!("reading the event stream: {error}"),
            }
            let line = line.strip_suffix('\n').expect("a whole line before the end");
            if line.is_empty() {
                if any {
                    return Some(block);
                }
                continue;
            }
            any = true;
            if let Some(comment) = line.strip_prefix(':') {
                block.comments.push(comment.trim_start().to_string());
                continue;
            }
            // "field: value"; one space after the colon is not part of it.
            let (field, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value).to_string();
            match field {
                "id" => block.id = Some(value),
                "event" => block.event = Some(value),
                "retry" => block.retry = Some(value),
                "data" => match &mut block.data {
                    Some(data) => {
                        data.push('\n');
                        data.push_str(&value);
                    }
                    None => block.data = Some(value),
                },
                other => panic!("unknown field {other:?} in the event stream"),
            }
        }
    }

    /// The next block that carries data, skipping heartbeats and hints.
    pub fn next_event(&mut self) -> SseBlock {
        loop {
            let block = self.next_block().expect("an event before the stream ended");
            if block.data.is_some() {
                return block;
            }
        }
    }

    /// The next event, which must be a chat message; returns it and its id.
    pub fn next_message(&mut self) -> (String, Said) {
        let event = self.next_event();
        assert_eq!(event.event, None, "an unnamed event: {event:?}");
        let said = Said::parse(event.data.as_deref().unwrap_or_default());
        let id = event.id.expect("every message has an id");
        assert_eq!(id, said.seq.to_string(), "the id is the seq");
        (id, said)
    }
}
