//! # Messages: from frames to what the application sees
//!
//! An application sends and receives *messages*; frames are how they
//! travel. One message may be split into fragments (RFC 6455 §5.4): a first
//! frame with opcode Text or Binary and FIN clear, any number of
//! Continuation frames, and a last Continuation frame with FIN set. Control
//! frames (ping, pong, close) may appear *between* fragments, so that a
//! ping is answered even in the middle of a large upload.
//!
//! [`MessageReader`] reads frames from any `Read` and hands back whole
//! [`Incoming`] items. On the way it enforces:
//! - masking by role: a server accepts only masked frames, a client only
//!   unmasked ones (§5.1);
//! - fragmentation order: no Continuation without a message to continue,
//!   no new message before the last one is finished (§5.4);
//! - the size limit, judged from each frame's *declared* length before any
//!   payload is read, so a header claiming 1 GiB costs nothing (§10.4);
//! - UTF-8 validity of text, checked as the bytes arrive (§8.1; see
//!   `utf8.rs`).
//!
//! Every violation is a [`ProtocolError`] carrying the close code the
//! connection must be failed with.
//!
//! Read next: `src/websocket/connection.rs`, which answers pings and runs
//! the closing handshake.

use std::io::{self, BufRead, Read};
use std::sync::Arc;

use super::close::{CloseCode, CloseFrame, ProtocolError};
use super::extension::MessageCodec;
use super::frame::{apply_mask, extend_masked, FrameHeader, Opcode, ReadError};
use super::input::LARGE_INPUT;
use super::trace::{Direction, Tracer};
use super::utf8::Utf8Validator;

/// Which end of the connection we are. It decides who masks (§5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Server,
    Client,
}

/// A complete data message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Text(String),
    Binary(Vec<u8>),
}

impl Message {
    /// The opcode of the (first) frame that carries this message.
    pub fn opcode(&self) -> Opcode {
        match self {
            Message::Text(_) => Opcode::Text,
            Message::Binary(_) => Opcode::Binary,
        }
    }

    /// The payload bytes, owned (no copy).
    pub fn into_bytes(self) -> Vec<u8> {
        match self {
            Message::Text(text) => text.into_bytes(),
            Message::Binary(bytes) => bytes,
        }
    }

    /// The payload bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Message::Text(text) => text.as_bytes(),
            Message::Binary(bytes) => bytes,
        }
    }
}

/// One thing read from the peer: a whole message or a control frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    Message(Message),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    /// The peer started (or answered) the closing handshake. `None` means
    /// the close frame had no code (reported as 1005).
    Close(Option<CloseFrame>),
}

/// A message whose last fragment has not arrived yet.
#[derive(Debug)]
struct Partial {
    payload: Vec<u8>,
    /// Present for text messages only (and not compressed ones, whose
    /// text is checked once inflated).
    utf8: Option<Utf8Validator>,
    /// Set when the first frame had RSV1 (RFC 7692 §6): the payload is
    /// compressed, and becomes a message of this opcode once inflated.
    compressed: Option<Opcode>,
}

/// Reads frames and reassembles messages. Holds only the state that must
/// survive between frames: the unfinished message, if any.
///
/// ```
/// use duplex::websocket::{Incoming, Message, MessageReader, Role};
///
/// // "Hel" + "lo" as two masked fragments (RFC 6455 §5.7, masked here
/// // with an all-zero key so the bytes stay readable).
/// let bytes = [0x01, 0x83, 0, 0, 0, 0, b'H', b'e', b'l', 0x80, 0x82, 0, 0, 0, 0, b'l', b'o'];
/// let mut reader = MessageReader::new(Role::Server, 1024);
/// let item = reader.read(&mut &bytes[..]).unwrap();
/// assert_eq!(item, Incoming::Message(Message::Text("Hello".into())));
/// ```
#[derive(Debug)]
pub struct MessageReader {
    role: Role,
    max_message: usize,
    partial: Option<Partial>,
    /// Where we are in the stream: how many payload bytes of the current
    /// frame are still unread. `None` when a header was cut short or
    /// refused half-read, so the next frame's first byte is unknown.
    /// [`discard_until_close`](Self::discard_until_close) needs it.
    unread_payload: Option<u64>,
    /// Set only with `--trace`; see `trace.rs`.
    tracer: Option<Arc<Tracer>>,
    /// The negotiated per-message extension, if any (`extension.rs`).
    codec: Option<Arc<dyn MessageCodec>>,
}

/// How much room a payload gets before the peer has shown it is really
/// sending. Reserving the declared length up front would let a peer that
/// *declares* 16 MiB and sends nothing hold 16 MiB of our address space;
/// this way it holds 64 KiB.
const GROWTH_STEP: usize = 64 * 1024;

/// How much more room a payload needs, with `received` bytes of it here
/// and `remaining` to come. After the first step, the rest of the declared
/// length at once: growing by doubling would copy the message again at
/// every step (a 1 MiB message: 1 MiB of extra copying). Reserved memory
/// is only address space until bytes are written into it; zeroing it is
/// writing, so `read_payload` zeroes it a piece at a time (`ZERO_AHEAD`).
fn growth(received: usize, remaining: usize) -> usize {
    if received < GROWTH_STEP {
        remaining.min(GROWTH_STEP - received)
    } else {
        remaining
    }
}

impl MessageReader {
    /// `max_message` bounds a message after reassembly (close 1009 past it).
    pub fn new(role: Role, max_message: usize) -> MessageReader {
        MessageReader {
            role,
            max_message,
            partial: None,
            unread_payload: Some(0),
            tracer: None,
            codec: None,
        }
    }

    /// Accepts messages compressed by a negotiated extension: RSV1 on a
    /// message's first frame (see `extension.rs`). `None`: none.
    pub fn set_codec(&mut self, codec: Option<Arc<dyn MessageCodec>>) {
        self.codec = codec;
    }

    /// Reads a header; RSV1 is allowed only with a codec.
    fn read_header<R: Read>(&self, reader: &mut R) -> Result<FrameHeader, ReadError> {
        FrameHeader::read_with_extension(reader, self.codec.is_some())
    }

    /// Reports every frame read to `tracer`, if there is one.
    pub fn set_tracer(&mut self, tracer: Option<Arc<Tracer>>) {
        self.tracer = tracer;
    }

    /// Is a fragmented message half-way through? (The connection keeps one
    /// deadline for a whole message: see `Watched` in `connection.rs`.)
    pub(super) fn in_message(&self) -> bool {
        self.partial.is_some()
    }

    /// Reads frames until there is something to hand back.
    ///
    /// On `Err(ReadError::Protocol(e))` the caller must fail the connection
    /// with `e.code`. An `Err(ReadError::Io(_))` leaves the reader in an
    /// unknown position in the stream: the connection is finished.
    pub fn read<R: BufRead>(&mut self, reader: &mut R) -> Result<Incoming, ReadError> {
        loop {
            self.unread_payload = None;
            let header = self.read_header(reader)?;
            self.unread_payload = Some(header.payload_len);
            self.check_mask(&header)?;
            if header.opcode.is_control() {
                return self.read_control(reader, &header);
            }
            if let Some(message) = self.read_data(reader, &header)? {
                return Ok(Incoming::Message(message));
            }
        }
    }

    fn check_mask(&self, header: &FrameHeader) -> Result<(), ProtocolError> {
        match (self.role, header.mask.is_some()) {
            (Role::Server, false) => {
                Err(ProtocolError::new(CloseCode::ProtocolError, "client frame is not masked"))
            }
            (Role::Client, true) => {
                Err(ProtocolError::new(CloseCode::ProtocolError, "server frame is masked"))
            }
            _ => Ok(()),
        }
    }

    fn read_control<R: BufRead>(
        &mut self,
        reader: &mut R,
        header: &FrameHeader,
    ) -> Result<Incoming, ReadError> {
        // The header reader has already checked: FIN set, at most 125 bytes.
        // RFC 7692 §6.1: control frames are never compressed.
        if header.rsv1 {
            return Err(protocol_error("RSV1 set on a control frame"));
        }
        let mut payload = Vec::new();
        read_payload(reader, &mut payload, header, &mut self.unread_payload, |_, _| Ok(()))?;
        if let Some(tracer) = &self.tracer {
            tracer.frame(Direction::Received, header, &payload);
        }
        Ok(match header.opcode {
            Opcode::Ping => Incoming::Ping(payload),
            Opcode::Pong => Incoming::Pong(payload),
            _ => Incoming::Close(CloseFrame::parse(&payload)?),
        })
    }

    /// Reads one data frame; returns the message if this frame finished it.
    fn read_data<R: BufRead>(
        &mut self,
        reader: &mut R,
        header: &FrameHeader,
    ) -> Result<Option<Message>, ReadError> {
        let mut partial = match (header.opcode, self.partial.take()) {
            (Opcode::Continuation, Some(partial)) => partial,
            (Opcode::Continuation, None) => {
                return Err(protocol_error("continuation frame with no message to continue"))
            }
            (_, Some(_)) => {
                return Err(protocol_error("new message before the previous one finished"))
            }
            (opcode, None) => Partial {
                payload: Vec::new(),
                utf8: (opcode == Opcode::Text && !header.rsv1).then(Utf8Validator::new),
                compressed: header.rsv1.then_some(opcode),
            },
        };
        // RFC 7692 §6.1: RSV1 marks a compressed message on its first
        // frame only. (On control frames `read_control` refuses it.)
        if header.rsv1 && header.opcode == Opcode::Continuation {
            return Err(protocol_error("RSV1 set on a continuation frame"));
        }

        // Judge the size from the declared length, before reading anything.
        let total = (partial.payload.len() as u64).saturating_add(header.payload_len);
        if total > self.max_message as u64 {
            return Err(ProtocolError::new(CloseCode::MessageTooBig, "message too big").into());
        }

        let frame_start = partial.payload.len();
        let utf8 = &mut partial.utf8;
        let unread = &mut self.unread_payload;
        let last_frame = header.fin;
        read_payload(reader, &mut partial.payload, header, unread, |piece, frame_done| {
            match utf8 {
                // The piece that ends the message is checked by `finish`,
                // with the rest of it, in the one pass that builds the
                // `String`: no byte is checked twice when a message
                // arrives in one piece.
                Some(_) if last_frame && frame_done => Ok(()),
                Some(validator) => validator.feed(piece).map_err(|_| invalid_text()),
                None => Ok(()),
            }
        })?;
        if let Some(tracer) = &self.tracer {
            tracer.frame(Direction::Received, header, &partial.payload[frame_start..]);
        }

        if !header.fin {
            self.partial = Some(partial);
            return Ok(None);
        }
        match (partial.compressed, &self.codec) {
            (Some(opcode), Some(codec)) => self.inflate(codec, opcode, partial.payload).map(Some),
            _ => finish(partial).map(Some),
        }
    }

    /// A compressed message, whole: inflate it within `max_message`, then
    /// check it as any other message.
    fn inflate(
        &self,
        codec: &Arc<dyn MessageCodec>,
        opcode: Opcode,
        payload: Vec<u8>,
    ) -> Result<Message, ReadError> {
        let payload = codec.decode(payload, self.max_message)?;
        if let Some(tracer) = &self.tracer {
            tracer.inflated(Direction::Received, codec.name(), opcode, &payload);
        }
        let utf8 = (opcode == Opcode::Text).then(Utf8Validator::new);
        finish(Partial { payload, utf8, compressed: None })
    }
}

/// How much is read at a time while discarding (see
/// [`MessageReader::discard_until_close`]). Allocated only then.
const DISCARD_CHUNK: usize = 64 * 1024;

/// How [`MessageReader::discard_until_close`] stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discarded {
    /// The peer's close frame arrived: it will send nothing more (§5.5.1).
    PeerClosed,
    /// The stream ended (the peer closed its side of the connection).
    EndOfStream,
}

impl MessageReader {
    /// After we have sent a close frame that fails the connection (RFC 6455
    /// §7.1.7), reads and throws away whatever the peer still sends, until
    /// its close frame or the end of the stream. Nothing is kept: payloads
    /// pass through one fixed chunk and are forgotten.
    ///
    /// Why read at all, instead of just closing? A peer in the middle of
    /// sending a large message is still writing when our close frame goes
    /// out. If we close the socket while its bytes sit unread in our receive
    /// buffer, the kernel answers with a TCP reset (RFC 9293 §3.6.1), and a
    /// peer that gets a reset while writing tears the connection down
    /// (`EPIPE`, `ECONNRESET`) before it has read our close frame: it reports
    /// 1006 instead of the 1009 we sent. Reading to the end of what it
    /// declared lets it finish, read our frame, and answer with its own.
    ///
    /// While the stream is still in step (we know where the next frame
    /// starts), frames are followed so that the peer's close frame can be
    /// recognised; after a header that could not be read whole, bytes are
    /// discarded blindly until the end of the stream. Either way the caller
    /// must bound the time (the server sets a deadline on the socket), since
    /// a peer may never stop sending.
    pub fn discard_until_close<R: Read>(&mut self, reader: &mut R) -> io::Result<Discarded> {
        let mut chunk = vec![0u8; DISCARD_CHUNK];
        let Some(mut unread) = self.unread_payload.take() else {
            return discard_to_end(reader, &mut chunk);
        };
        loop {
            if !skip(reader, unread, &mut chunk)? {
                return Ok(Discarded::EndOfStream);
            }
            let header = match self.read_header(reader) {
                Ok(header) => header,
                Err(ReadError::Io(error)) if error.kind() == io::ErrorKind::UnexpectedEof => {
                    return Ok(Discarded::EndOfStream)
                }
                Err(ReadError::Io(error)) => return Err(error),
                // A header we cannot follow: from here on, blindly.
                Err(ReadError::Protocol(_)) => return discard_to_end(reader, &mut chunk),
            };
            if header.opcode == Opcode::Close {
                skip(reader, header.payload_len, &mut chunk)?;
                return Ok(Discarded::PeerClosed);
            }
            unread = header.payload_len;
        }
    }
}

/// Reads and forgets `count` bytes; `Ok(false)` if the stream ended first.
fn skip<R: Read>(reader: &mut R, mut count: u64, chunk: &mut [u8]) -> io::Result<bool> {
    while count > 0 {
        let want = chunk.len().min(usize::try_from(count).unwrap_or(usize::MAX));
        match reader.read(&mut chunk[..want]) {
            Ok(0) => return Ok(false),
            Ok(read) => count -= read as u64,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(true)
}

/// Reads and forgets everything until the end of the stream.
fn discard_to_end<R: Read>(reader: &mut R, chunk: &mut [u8]) -> io::Result<Discarded> {
    skip(reader, u64::MAX, chunk)?;
    Ok(Discarded::EndOfStream)
}

/// Turns a finished message's bytes into a [`Message`].
fn finish(partial: Partial) -> Result<Message, ReadError> {
    match partial.utf8 {
        None => Ok(Message::Binary(partial.payload)),
        // The streaming validator has seen every piece but the last (it
        // exists to fail fast, before a message ends); `String::from_utf8`
        // checks the whole message once more, which is the price of
        // building a `String` in safe Rust alone, and the final word:
        // a character cut short at the end is caught here.
        Some(_) => {
            String::from_utf8(partial.payload).map(Message::Text).map_err(|_| invalid_text().into())
        }
    }
}

/// Appends a frame's payload to `buffer`, unmasking each piece as it
/// arrives and showing it to `inspect` (with whether it ends the frame)
/// before asking for more. Reading in pieces is what lets a text check
/// fail at the first bad byte instead of after the whole frame.
///
/// Each piece is whatever the reader has buffered (`fill_buf`): it is
/// appended to the message and unmasked as it is copied, in one pass
/// ([`extend_masked`]). Appending never zeroes memory first, as reading
/// into a fresh buffer would have to in safe Rust. The message's memory
/// grows in steps as bytes arrive, not to the declared length at once,
/// so a peer that *declares* 16 MiB and sends nothing holds only one
/// step of our memory. The trap is the direct read: its room must be
/// zeroed first, and zeroed pages are resident pages. Zeroing the whole
/// reservation would let a peer that declares 16 MiB and sends 64 KiB
/// commit 16 MiB of real memory; so the zeroed room runs at most
/// `ZERO_AHEAD` bytes ahead of what arrived.
fn read_payload<R: BufRead>(
    reader: &mut R,
    buffer: &mut Vec<u8>,
    header: &FrameHeader,
    unread: &mut Option<u64>,
    mut inspect: impl FnMut(&[u8], bool) -> Result<(), ProtocolError>,
) -> Result<(), ReadError> {
    // The caller has bounded payload_len by max_message, so it fits usize.
    let length = usize::try_from(header.payload_len)
        .map_err(|_| ProtocolError::new(CloseCode::MessageTooBig, "message too big"))?;
    let start = buffer.len();
    let end = start + length;
    // `buffer[filled..]` is zeroed room a direct read has not filled yet.
    let mut filled = start;
    while filled < end {
        let count = if buffer.len() == filled && end - filled < DIRECT_READ {
            // Copied out of the read buffer, unmasked on the way.
            append_buffered(reader, buffer, end, filled - start, header.mask)?
        } else {
            if buffer.len() == filled {
                let room = growth(filled - start, end - filled);
                buffer.reserve_exact(room); // address space only
                buffer.resize(filled + room.min(ZERO_AHEAD), 0); // each byte zeroed once
            }
            // Read straight into the message, unmasked where it landed.
            let count = reader.read(&mut buffer[filled..])?;
            if let Some(key) = header.mask {
                apply_mask(&mut buffer[filled..filled + count], key, filled - start);
            }
            count
        };
        if count == 0 {
            return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into());
        }
        let piece = &buffer[filled..filled + count];
        filled += count;
        *unread = Some((end - filled) as u64);
        inspect(piece, filled == end)?;
    }
    Ok(())
}

/// With this much or more of a payload still to come, it is read straight
/// into the message (after whatever the read buffer already holds): large
/// `read`s, and no copy. The price: safe Rust must zero the room first,
/// but zeroing is one pass over memory where copying is two. Less than
/// this is copied out of the read buffer, which costs no zeroing.
const DIRECT_READ: usize = LARGE_INPUT;

/// How much room, at most, is zeroed for direct reads ahead of the bytes
/// that have arrived: what a peer can make us commit beyond what it sent.
/// Smaller is not free: a direct read takes at most this much, and with
/// 256 KiB large messages echoed measurably slower (docs/05-messages.md,
/// "The size limit, judged from the header").
const ZERO_AHEAD: usize = 1024 * 1024;

/// Appends what the reader has buffered (reading more if it has none),
/// up to `end`, unmasked as it is copied (one pass, not two:
/// [`extend_masked`]); returns how many bytes were appended.
fn append_buffered<R: BufRead>(
    reader: &mut R,
    buffer: &mut Vec<u8>,
    end: usize,
    received: usize,
    mask: Option<[u8; 4]>,
) -> io::Result<usize> {
    let filled = buffer.len();
    let available = reader.fill_buf()?;
    let count = available.len().min(end - filled);
    if buffer.capacity() - filled < count {
        buffer.reserve_exact(growth(received, end - filled).max(count));
    }
    match mask {
        Some(key) => extend_masked(buffer, &available[..count], key, received),
        None => buffer.extend_from_slice(&available[..count]),
    }
    reader.consume(count);
    Ok(count)
}

fn protocol_error(reason: &'static str) -> ReadError {
    ProtocolError::new(CloseCode::ProtocolError, reason).into()
}

fn invalid_text() -> ProtocolError {
    ProtocolError::new(CloseCode::InvalidPayload, "text message is not valid UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::websocket::frame::encode_frame;

    const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

    /// A client frame: masked, with FIN and opcode as given.
    fn client_frame(fin: bool, opcode: Opcode, payload: &[u8]) -> Vec<u8> {
        let mut frame = encode_frame(opcode, payload, Some(KEY));
        if !fin {
            frame[0] &= 0x7F;
        }
        frame
    }

    fn read_all(bytes: &[u8], max: usize) -> Vec<Result<Incoming, String>> {
        let mut reader = MessageReader::new(Role::Server, max);
        let mut input = bytes;
        let mut out = Vec::new();
        while !input.is_empty() {
            match reader.read(&mut input) {
                Ok(item) => out.push(Ok(item)),
                Err(ReadError::Protocol(e)) => {
                    out.push(Err(format!("{} {}", e.code, e.reason)));
                    break;
                }
                Err(ReadError::Io(e)) => {
                    out.push(Err(format!("io {:?}", e.kind())));
                    break;
                }
            }
        }
        out
    }

    #[test]
    fn rfc_masked_hello() {
        let bytes = [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];
        let items = read_all(&bytes, 100);
        assert_eq!(items, vec![Ok(Incoming::Message(Message::Text("Hello".into())))]);
    }

    #[test]
    fn fragments_with_a_ping_between() {
        let mut bytes = client_frame(false, Opcode::Text, "Hel".as_bytes());
        bytes.extend(client_frame(true, Opcode::Ping, b"are you there"));
        bytes.extend(client_frame(false, Opcode::Continuation, b"lo, "));
        bytes.extend(client_frame(true, Opcode::Continuation, "wörld".as_bytes()));
        let items = read_all(&bytes, 100);
        assert_eq!(
            items,
            vec![
                Ok(Incoming::Ping(b"are you there".to_vec())),
                Ok(Incoming::Message(Message::Text("Hello, wörld".into()))),
            ]
        );
    }

    #[test]
    fn a_character_split_across_fragments_is_fine() {
        let euro = "€".as_bytes();
        let mut bytes = client_frame(false, Opcode::Text, &euro[..1]);
        bytes.extend(client_frame(true, Opcode::Continuation, &euro[1..]));
        assert_eq!(read_all(&bytes, 100), vec![Ok(Incoming::Message(Message::Text("€".into())))]);
    }

    #[test]
    fn fragmentation_order_violations() {
        let orphan = client_frame(true, Opcode::Continuation, b"x");
        assert_eq!(
            read_all(&orphan, 100),
            vec![Err("1002 continuation frame with no message to continue".into())]
        );
        let mut interleaved = client_frame(false, Opcode::Text, b"a");
        interleaved.extend(client_frame(true, Opcode::Binary, b"b"));
        assert_eq!(
            read_all(&interleaved, 100),
            vec![Err("1002 new message before the previous one finished".into())]
        );
    }

    #[test]
    fn unmasked_client_frame_is_refused() {
        let bytes = encode_frame(Opcode::Text, b"hi", None);
        assert_eq!(read_all(&bytes, 100), vec![Err("1002 client frame is not masked".into())]);
    }

    #[test]
    fn invalid_utf8_fails_fast_with_1007() {
        // The bad byte is in the first fragment; the rest never arrives.
        let bytes = client_frame(false, Opcode::Text, b"ok \xff");
        assert_eq!(read_all(&bytes, 100), vec![Err("1007 text message is not valid UTF-8".into())]);
        // Cut short at the end of the message.
        let bytes = client_frame(true, Opcode::Text, b"\xe2\x82");
        assert_eq!(read_all(&bytes, 100), vec![Err("1007 text message is not valid UTF-8".into())]);
        // Binary is not checked.
        let bytes = client_frame(true, Opcode::Binary, b"\xff");
        assert_eq!(read_all(&bytes, 100), vec![Ok(Incoming::Message(Message::Binary(vec![0xff])))]);
    }

    #[test]
    fn size_limit_is_judged_from_the_header() {
        // A header declaring 1 GiB, and no payload at all: refused at once.
        let mut bytes = vec![0x82, 0xFF];
        bytes.extend_from_slice(&(1u64 << 30).to_be_bytes());
        bytes.extend_from_slice(&KEY);
        assert_eq!(read_all(&bytes, 1 << 20), vec![Err("1009 message too big".into())]);
        // Fragments that add up past the limit.
        let mut bytes = client_frame(false, Opcode::Binary, &[0; 60]);
        bytes.extend(client_frame(true, Opcode::Continuation, &[0; 60]));
        assert_eq!(read_all(&bytes, 100), vec![Err("1009 message too big".into())]);
    }

    #[test]
    fn close_frames_are_parsed() {
        let bytes = client_frame(true, Opcode::Close, b"\x03\xe8done");
        let expected = CloseFrame { code: CloseCode::Normal, reason: "done".into() };
        assert_eq!(read_all(&bytes, 100), vec![Ok(Incoming::Close(Some(expected)))]);
        let bytes = client_frame(true, Opcode::Close, b"");
        assert_eq!(read_all(&bytes, 100), vec![Ok(Incoming::Close(None))]);
        let bytes = client_frame(true, Opcode::Close, b"\x03\xed");
        assert_eq!(
            read_all(&bytes, 100),
            vec![Err("1002 close code not allowed on the wire".into())]
        );
    }

    #[test]
    fn payload_cut_short_is_an_eof() {
        let bytes = client_frame(true, Opcode::Binary, &[1, 2, 3, 4]);
        let items = read_all(&bytes[..bytes.len() - 1], 100);
        assert_eq!(items, vec![Err("io UnexpectedEof".into())]);
    }

    #[test]
    fn large_message_arrives_whole() {
        let payload: Vec<u8> = (0..300_000u32).map(|i| i as u8).collect();
        let bytes = client_frame(true, Opcode::Binary, &payload);
        assert_eq!(
            read_all(&bytes, 1 << 20),
            vec![Ok(Incoming::Message(Message::Binary(payload)))]
        );
    }

    /// Hands out at most `step` bytes per `read`, as a slow socket does.
    struct Trickle<'a> {
        bytes: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let count = self.step.min(out.len()).min(self.bytes.len());
            out[..count].copy_from_slice(&self.bytes[..count]);
            self.bytes = &self.bytes[count..];
            Ok(count)
        }
    }

    #[test]
    fn pieces_at_any_offset_are_unmasked_on_both_paths() {
        // Pieces of 7 bytes start at every offset modulo 4: the small
        // frames are copied out of the read buffer (unmasked while
        // copying), the large one is first read into the message
        // (unmasked in place), then copied once less than DIRECT_READ is
        // left. The second fragment's key starts again at its own offset 0.
        let large: Vec<u8> = (0..DIRECT_READ + 1000).map(|i| (i * 7 + i / 251) as u8).collect();
        let mut bytes = client_frame(false, Opcode::Text, b"Hello");
        bytes.extend(client_frame(true, Opcode::Continuation, "wörld, ".repeat(40).as_bytes()));
        bytes.extend(client_frame(true, Opcode::Binary, &large));
        let mut input = io::BufReader::with_capacity(13, Trickle { bytes: &bytes, step: 7 });
        let mut reader = MessageReader::new(Role::Server, 1 << 20);
        let text = format!("Hello{}", "wörld, ".repeat(40));
        let expected = Incoming::Message(Message::Text(text));
        assert_eq!(reader.read(&mut input).unwrap(), expected);
        let expected = Incoming::Message(Message::Binary(large));
        assert_eq!(reader.read(&mut input).unwrap(), expected);
    }

    #[test]
    fn discarding_follows_frames_to_the_close() {
        // Over the limit: refused from the header, the payload unread.
        let mut bytes = client_frame(true, Opcode::Binary, &[9; 300]);
        bytes.extend(client_frame(true, Opcode::Text, b"more"));
        bytes.extend(client_frame(true, Opcode::Close, b"\x03\xf1"));
        bytes.extend(b"never read");
        let mut reader = MessageReader::new(Role::Server, 100);
        let mut input = &bytes[..];
        assert!(matches!(reader.read(&mut input), Err(ReadError::Protocol(_))));
        assert_eq!(reader.discard_until_close(&mut input).unwrap(), Discarded::PeerClosed);
        assert_eq!(input, b"never read");
    }

    #[test]
    fn discarding_after_a_broken_header_reads_to_the_end() {
        // Half a header refused (a long ping), then bytes of no known shape.
        let bytes = [0x89, 0xFE, 0x00, 0x7E, 1, 2, 3, 4, 0x88, 0x80];
        let mut reader = MessageReader::new(Role::Server, 100);
        let mut input = &bytes[..];
        assert!(matches!(reader.read(&mut input), Err(ReadError::Protocol(_))));
        assert_eq!(reader.discard_until_close(&mut input).unwrap(), Discarded::EndOfStream);
        assert!(input.is_empty());
    }
}
