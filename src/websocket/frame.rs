//! # Frames: the bytes on the wire
//!
//! After the handshake, everything a WebSocket says travels in *frames*
//! (RFC 6455 §5.2). A frame is a header of 2 to 14 bytes followed by a
//! payload:
//!
//! ```text
//!   0                   1                   2                   3
//!   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//!  +-+-+-+-+-------+-+-------------+-------------------------------+
//!  |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
//!  |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
//!  |N|V|V|V|       |S|             |   (if payload len==126/127)   |
//!  | |1|2|3|       |K|             |                               |
//!  +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
//!  |     Extended payload length continued, if payload len == 127  |
//!  + - - - - - - - - - - - - - - - +-------------------------------+
//!  |                               | Masking-key, if MASK set to 1 |
//!  +-------------------------------+-------------------------------+
//!  | Masking-key (continued)       |          Payload Data         |
//!  +-------------------------------- - - - - - - - - - - - - - - - +
//! ```
//!
//! This chapter reads and writes that header ([`FrameHeader`]), names the
//! opcodes ([`Opcode`]), and implements masking ([`apply_mask`],
//! [`extend_masked`]). It knows nothing about messages (that is
//! `message.rs`) or sockets: it works on any `Read` and any byte slice, so
//! every rule here is tested on plain bytes.
//!
//! Three traps for newcomers:
//! - The 7-bit length is not always the length: 126 means "the real length
//!   follows in 2 bytes", 127 means "in 8 bytes". And the 8-byte form must
//!   have its top bit clear (§5.2), so a reader must check it.
//! - Opcode `0xA` is **pong**, `0x8` is close. Tutorials get this wrong.
//! - Frames from a client are always masked and frames from a server never
//!   are (§5.1); a server that receives an unmasked frame must fail the
//!   connection.
//!
//! Read next: `src/websocket/close.rs`, the close codes that errors carry.

use std::io::{self, Read};

use super::close::{CloseCode, ProtocolError};

/// What a frame carries (RFC 6455 §5.2, §11.8), each with its four bits
/// on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Opcode {
    /// The next piece of a fragmented message (§5.4).
    Continuation = 0x0,
    /// The first frame of a UTF-8 text message.
    Text = 0x1,
    /// The first frame of a binary message.
    Binary = 0x2,
    /// Start or answer the closing handshake (§5.5.1).
    Close = 0x8,
    /// "Are you there?" (§5.5.2).
    Ping = 0x9,
    /// "Yes", carrying the ping's payload back (§5.5.3).
    Pong = 0xA,
}

impl Opcode {
    /// The opcode for four bits, or `None` for the reserved values
    /// 0x3–0x7 and 0xB–0xF, which no extension of ours defines.
    pub fn from_bits(bits: u8) -> Option<Opcode> {
        match bits {
            0x0 => Some(Opcode::Continuation),
            0x1 => Some(Opcode::Text),
            0x2 => Some(Opcode::Binary),
            0x8 => Some(Opcode::Close),
            0x9 => Some(Opcode::Ping),
            0xA => Some(Opcode::Pong),
            _ => None,
        }
    }

    /// The four bits on the wire.
    pub fn bits(self) -> u8 {
        self as u8
    }

    /// Control frames are the ones with the high opcode bit set (§5.5).
    /// They may arrive between the fragments of a message, and they must
    /// be short and unfragmented.
    pub fn is_control(self) -> bool {
        self.bits() & 0x8 != 0
    }
}

/// Longest payload of a control frame (§5.5): it must fit the 7-bit length.
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// The longest header: 2 bytes, an 8-byte length and a 4-byte mask.
pub const MAX_HEADER_LEN: usize = 14;

/// One frame's header, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// Is this the last frame of its message?
    pub fin: bool,
    /// Reserved bits for extensions (§5.2). With no extension negotiated,
    /// all three must be zero.
    pub rsv1: bool,
    pub rsv2: bool,
    pub rsv3: bool,
    pub opcode: Opcode,
    /// The masking key, present exactly when the MASK bit is set.
    pub mask: Option<[u8; 4]>,
    /// The payload length, after decoding the 7/16/64-bit forms.
    pub payload_len: u64,
}

impl FrameHeader {
    /// A final, unmasked frame header: what a server sends.
    pub fn new(opcode: Opcode, payload_len: usize) -> FrameHeader {
        FrameHeader {
            fin: true,
            rsv1: false,
            rsv2: false,
            rsv3: false,
            opcode,
            mask: None,
            payload_len: payload_len as u64,
        }
    }

    /// Reads and checks one header from `reader`.
    ///
    /// Everything that can be judged from the header alone is judged here,
    /// before a single payload byte is read or allocated: reserved bits,
    /// unknown opcodes, control frame rules and the 64-bit length's top bit.
    /// Whether a mask must be present depends on who is reading; that check
    /// is the caller's (see `message.rs`).
    pub fn read_from<R: Read>(reader: &mut R) -> Result<FrameHeader, ReadError> {
        FrameHeader::read_with_extension(reader, false)
    }

    /// Like [`read_from`](Self::read_from), but with `rsv1_defined` an
    /// extension that defines RSV1 (permessage-deflate, RFC 7692 §6) has
    /// been negotiated, so RSV1 is left for the message layer to judge.
    pub fn read_with_extension<R: Read>(
        reader: &mut R,
        rsv1_defined: bool,
    ) -> Result<FrameHeader, ReadError> {
        let mut first_two = [0u8; 2];
        reader.read_exact(&mut first_two)?;
        let [byte0, byte1] = first_two;

        let fin = byte0 & 0x80 != 0;
        let (rsv1, rsv2, rsv3) = (byte0 & 0x40 != 0, byte0 & 0x20 != 0, byte0 & 0x10 != 0);
        if (rsv1 && !rsv1_defined) || rsv2 || rsv3 {
            // §5.2: "If a nonzero value is received and none of the
            // negotiated extensions defines the meaning of such a nonzero
            // value, the receiving endpoint MUST _Fail the WebSocket
            // Connection_." The only extension we negotiate defines RSV1.
            return Err(violation("reserved bit set without an extension"));
        }
        let opcode = Opcode::from_bits(byte0 & 0x0F).ok_or_else(|| violation("reserved opcode"))?;

        let masked = byte1 & 0x80 != 0;
        let payload_len = match byte1 & 0x7F {
            126 => {
                let mut bytes = [0u8; 2];
                reader.read_exact(&mut bytes)?;
                u64::from(u16::from_be_bytes(bytes))
            }
            127 => {
                let mut bytes = [0u8; 8];
                reader.read_exact(&mut bytes)?;
                let length = u64::from_be_bytes(bytes);
                if length >> 63 != 0 {
                    return Err(violation("64-bit length with its top bit set"));
                }
                length
            }
            short => u64::from(short),
        };
        // A sender must use the shortest form (§5.2 says "the minimal number
        // of bytes MUST be used"), but the RFC does not ask receivers to
        // enforce it, and Autobahn does not test it; we accept longer forms.

        if opcode.is_control() {
            // §5.5: control frames are never fragmented and carry at most
            // 125 bytes, so a reader can always hold one whole.
            if !fin {
                return Err(violation("fragmented control frame"));
            }
            if payload_len > MAX_CONTROL_PAYLOAD as u64 {
                return Err(violation("control frame longer than 125 bytes"));
            }
        }

        let mask = if masked {
            let mut key = [0u8; 4];
            reader.read_exact(&mut key)?;
            Some(key)
        } else {
            None
        };

        Ok(FrameHeader { fin, rsv1, rsv2, rsv3, opcode, mask, payload_len })
    }

    /// Encodes this header. Returns a buffer and how many of its bytes are
    /// the header, so no allocation is needed.
    pub fn encode(&self) -> ([u8; MAX_HEADER_LEN], usize) {
        let mut out = [0u8; MAX_HEADER_LEN];
        out[0] = (u8::from(self.fin) << 7)
            | (u8::from(self.rsv1) << 6)
            | (u8::from(self.rsv2) << 5)
            | (u8::from(self.rsv3) << 4)
            | self.opcode.bits();
        let mask_bit = if self.mask.is_some() { 0x80 } else { 0 };
        // The shortest length form that fits, as §5.2 requires of senders.
        let mut len = match self.payload_len {
            n @ 0..=125 => {
                out[1] = mask_bit | n as u8;
                2
            }
            n @ 126..=0xFFFF => {
                out[1] = mask_bit | 126;
                out[2..4].copy_from_slice(&(n as u16).to_be_bytes());
                4
            }
            n => {
                out[1] = mask_bit | 127;
                out[2..10].copy_from_slice(&n.to_be_bytes());
                10
            }
        };
        if let Some(key) = self.mask {
            out[len..len + 4].copy_from_slice(&key);
            len += 4;
        }
        (out, len)
    }

    /// Which of the three length forms this header uses on the wire.
    pub fn length_form(&self) -> &'static str {
        match self.payload_len {
            0..=125 => "7-bit",
            126..=0xFFFF => "16-bit",
            _ => "64-bit",
        }
    }
}

/// Why reading a frame (or a message) stopped.
#[derive(Debug)]
pub enum ReadError {
    /// The transport failed, timed out, or ended (`UnexpectedEof`).
    Io(io::Error),
    /// The peer broke the protocol or one of our limits.
    Protocol(ProtocolError),
}

impl From<io::Error> for ReadError {
    fn from(error: io::Error) -> Self {
        ReadError::Io(error)
    }
}

impl From<ProtocolError> for ReadError {
    fn from(error: ProtocolError) -> Self {
        ReadError::Protocol(error)
    }
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Io(error) => write!(f, "i/o: {error}"),
            ReadError::Protocol(error) => error.fmt(f),
        }
    }
}

impl std::error::Error for ReadError {}

fn violation(reason: &'static str) -> ReadError {
    ReadError::Protocol(ProtocolError::new(CloseCode::ProtocolError, reason))
}

/// XORs `data` with the masking key, in place (RFC 6455 §5.3).
///
/// Byte `i` of a payload is XORed with `key[i % 4]`. `offset` is how many
/// payload bytes came before `data`, so a payload can be unmasked in pieces
/// as it arrives. Masking and unmasking are the same operation.
///
/// Going byte by byte costs a load, a XOR and a store per byte. Here the
/// key is repeated to fill a 64-bit word and the payload is XORed eight
/// bytes at a time; only the last few bytes go one by one. Because 8 is a
/// multiple of 4, the key lines up again at every word boundary.
///
/// ```
/// use duplex::websocket::frame::apply_mask;
///
/// // The masked "Hello" of RFC 6455 §5.7.
/// let key = [0x37, 0xfa, 0x21, 0x3d];
/// let mut payload = [0x7f, 0x9f, 0x4d, 0x51, 0x58];
/// apply_mask(&mut payload, key, 0);
/// assert_eq!(&payload, b"Hello");
/// ```
pub fn apply_mask(data: &mut [u8], key: [u8; 4], offset: usize) {
    let (key, key_word) = key_from(key, offset);
    let mut words = data.chunks_exact_mut(8);
    for word in &mut words {
        word.copy_from_slice(&masked_word(word, key_word));
    }
    for (i, byte) in words.into_remainder().iter_mut().enumerate() {
        *byte ^= key[i % 4];
    }
}

/// Appends `data` to `out` with the mask applied: the copy and the XOR of
/// [`apply_mask`] in one pass over the bytes.
///
/// The trap is the obvious way, `extend_from_slice` and then
/// `apply_mask`: it walks the bytes twice, and at 16 KiB that second walk
/// costs as much as the copy itself (measured: about 1.1 µs for both
/// against 0.5 µs for this, docs/performance.md). Anyone who has bytes in
/// one buffer and wants them masked in another (or unmasked: the same
/// XOR) uses this: the server taking a payload out of its read buffer
/// (`message.rs`), a client framing what it sends (`connection.rs`,
/// [`encode_frame`]).
///
/// ```
/// use duplex::websocket::frame::extend_masked;
///
/// let mut message = b"got: ".to_vec();
/// extend_masked(&mut message, &[0x7f, 0x9f, 0x4d, 0x51, 0x58], [0x37, 0xfa, 0x21, 0x3d], 0);
/// assert_eq!(message, b"got: Hello");
/// ```
pub fn extend_masked(out: &mut Vec<u8>, data: &[u8], key: [u8; 4], offset: usize) {
    let (key, key_word) = key_from(key, offset);
    let words = data.chunks_exact(8);
    let tail = words.remainder();
    // `extend` writes straight into the vector's spare room, so nothing is
    // zeroed first (safe Rust cannot hand out uninitialised memory to be
    // written into, but an iterator can fill it).
    out.reserve(data.len());
    out.extend(words.flat_map(|word| masked_word(word, key_word)));
    out.extend(tail.iter().enumerate().map(|(i, byte)| byte ^ key[i % 4]));
}

/// The key rotated so that `key[0]` applies to the first byte after
/// `offset`, and repeated to fill a 64-bit word.
fn key_from(key: [u8; 4], offset: usize) -> ([u8; 4], u64) {
    let shift = offset % 4;
    let key = [key[shift], key[(shift + 1) % 4], key[(shift + 2) % 4], key[(shift + 3) % 4]];
    let [a, b, c, d] = key;
    (key, u64::from_ne_bytes([a, b, c, d, a, b, c, d]))
}

/// Eight bytes XORed with the repeated key. Native byte order on both
/// sides: the XOR works byte for byte, so whichever order the machine
/// uses, each byte meets its key byte.
fn masked_word(word: &[u8], key_word: u64) -> [u8; 8] {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(word);
    (u64::from_ne_bytes(bytes) ^ key_word).to_ne_bytes()
}

/// Encodes a whole frame (header and payload) into one buffer.
///
/// With `mask: None` this is what a server sends. The chat room calls it
/// once per broadcast and shares the bytes with every member, so a message
/// to a thousand members is encoded once, not a thousand times.
///
/// ```
/// use duplex::websocket::frame::{encode_frame, FrameHeader, Opcode};
///
/// // RFC 6455 §5.7: a single-frame unmasked text message "Hello".
/// let frame = encode_frame(Opcode::Text, b"Hello", None);
/// assert_eq!(frame, [0x81, 0x05, b'H', b'e', b'l', b'l', b'o']);
///
/// // ... and read back: FIN set, opcode Text, five bytes of payload.
/// let header = FrameHeader::read_from(&mut &frame[..]).unwrap();
/// assert!(header.fin);
/// assert_eq!((header.opcode, header.payload_len), (Opcode::Text, 5));
/// ```
pub fn encode_frame(opcode: Opcode, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let header = FrameHeader { mask, ..FrameHeader::new(opcode, payload.len()) };
    let (head, head_len) = header.encode();
    let mut frame = Vec::with_capacity(head_len + payload.len());
    frame.extend_from_slice(&head[..head_len]);
    match mask {
        Some(key) => extend_masked(&mut frame, payload, key, 0),
        None => frame.extend_from_slice(payload),
    }
    frame
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(bytes: &[u8]) -> Result<FrameHeader, ReadError> {
        FrameHeader::read_from(&mut &bytes[..])
    }

    fn protocol_reason(result: Result<FrameHeader, ReadError>) -> &'static str {
        match result {
            Err(ReadError::Protocol(error)) => {
                assert_eq!(error.code, CloseCode::ProtocolError);
                error.reason
            }
            other => panic!("expected a protocol error, got {other:?}"),
        }
    }

    // RFC 6455 §5.7, byte for byte.
    const UNMASKED_HELLO: &[u8] = &[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
    const MASKED_HELLO: &[u8] = &[0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];
    const FIRST_FRAGMENT_HEL: &[u8] = &[0x01, 0x03, 0x48, 0x65, 0x6c];
    const LAST_FRAGMENT_LO: &[u8] = &[0x80, 0x02, 0x6c, 0x6f];
    const UNMASKED_PING_HELLO: &[u8] = &[0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
    const MASKED_PONG_HELLO: &[u8] =
        &[0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];

    #[test]
    fn rfc_example_unmasked_text() {
        let header = read(UNMASKED_HELLO).unwrap();
        assert!(header.fin);
        assert_eq!(header.opcode, Opcode::Text);
        assert_eq!(header.mask, None);
        assert_eq!(header.payload_len, 5);
        assert_eq!(encode_frame(Opcode::Text, b"Hello", None), UNMASKED_HELLO);
    }

    #[test]
    fn rfc_example_masked_text() {
        let mut reader = MASKED_HELLO;
        let header = FrameHeader::read_from(&mut reader).unwrap();
        assert_eq!(header.mask, Some([0x37, 0xfa, 0x21, 0x3d]));
        let mut payload = reader.to_vec();
        apply_mask(&mut payload, [0x37, 0xfa, 0x21, 0x3d], 0);
        assert_eq!(payload, b"Hello");
        assert_eq!(
            encode_frame(Opcode::Text, b"Hello", Some([0x37, 0xfa, 0x21, 0x3d])),
            MASKED_HELLO
        );
    }

    #[test]
    fn rfc_example_fragments_and_control_frames() {
        let first = read(FIRST_FRAGMENT_HEL).unwrap();
        assert!(!first.fin);
        assert_eq!((first.opcode, first.payload_len), (Opcode::Text, 3));
        let last = read(LAST_FRAGMENT_LO).unwrap();
        assert!(last.fin);
        assert_eq!((last.opcode, last.payload_len), (Opcode::Continuation, 2));
        assert_eq!(encode_frame(Opcode::Ping, b"Hello", None), UNMASKED_PING_HELLO);
        let pong = read(MASKED_PONG_HELLO).unwrap();
        assert_eq!(pong.opcode, Opcode::Pong);
        assert_eq!(
            encode_frame(Opcode::Pong, b"Hello", Some([0x37, 0xfa, 0x21, 0x3d])),
            MASKED_PONG_HELLO
        );
    }

    #[test]
    fn rfc_example_lengths() {
        // §5.7: 256 bytes in a single unmasked binary frame, 16-bit form.
        let frame = encode_frame(Opcode::Binary, &[0u8; 256], None);
        assert_eq!(&frame[..4], &[0x82, 0x7E, 0x01, 0x00]);
        assert_eq!(read(&frame).unwrap().length_form(), "16-bit");
        // §5.7: 64 KiB in a single unmasked binary frame, 64-bit form.
        let frame = encode_frame(Opcode::Binary, &vec![0u8; 65536], None);
        assert_eq!(&frame[..10], &[0x82, 0x7F, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00]);
        assert_eq!(read(&frame).unwrap().payload_len, 65536);
    }

    #[test]
    fn every_length_boundary_round_trips() {
        for len in [0u64, 1, 125, 126, 127, 65535, 65536, 1 << 32, (1 << 63) - 1] {
            let header = FrameHeader { payload_len: len, ..FrameHeader::new(Opcode::Binary, 0) };
            let (bytes, n) = header.encode();
            assert_eq!(read(&bytes[..n]).unwrap(), header, "length {len}");
        }
    }

    #[test]
    fn header_violations() {
        assert_eq!(protocol_reason(read(&[0xC1, 0x00])), "reserved bit set without an extension");
        assert_eq!(protocol_reason(read(&[0x83, 0x00])), "reserved opcode");
        assert_eq!(protocol_reason(read(&[0x8B, 0x00])), "reserved opcode");
        assert_eq!(protocol_reason(read(&[0x09, 0x00])), "fragmented control frame");
        assert_eq!(
            protocol_reason(read(&[0x89, 0x7E, 0x00, 0x7E])),
            "control frame longer than 125 bytes"
        );
        let mut huge = vec![0x82, 0x7F];
        huge.extend_from_slice(&(1u64 << 63).to_be_bytes());
        assert_eq!(protocol_reason(read(&huge)), "64-bit length with its top bit set");
    }

    #[test]
    fn truncated_header_is_an_io_error() {
        for bytes in [&[][..], &[0x81], &[0x81, 0x7E, 0x00], &[0x81, 0x85, 0x37]] {
            match read(bytes) {
                Err(ReadError::Io(error)) => {
                    assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof)
                }
                other => panic!("expected EOF, got {other:?}"),
            }
        }
    }

    #[test]
    fn word_masking_matches_byte_masking_at_every_offset() {
        let key = [0x11, 0x22, 0x33, 0x44];
        let original: Vec<u8> = (0..=255).collect();
        for offset in 0..8 {
            for len in [0, 1, 7, 8, 9, 31, 200] {
                let mut fast = original[..len].to_vec();
                apply_mask(&mut fast, key, offset);
                let slow: Vec<u8> = original[..len]
                    .iter()
                    .enumerate()
                    .map(|(i, b)| b ^ key[(offset + i) % 4])
                    .collect();
                assert_eq!(fast, slow, "offset {offset} len {len}");
            }
        }
    }

    #[test]
    fn masking_in_pieces_equals_masking_at_once() {
        let key = [9, 8, 7, 6];
        let mut whole: Vec<u8> = (0..100).collect();
        let mut pieces = whole.clone();
        apply_mask(&mut whole, key, 0);
        let (a, rest) = pieces.split_at_mut(13);
        let (b, c) = rest.split_at_mut(30);
        apply_mask(a, key, 0);
        apply_mask(b, key, 13);
        apply_mask(c, key, 43);
        assert_eq!(whole, pieces);
    }

    #[test]
    fn masking_while_copying_equals_copying_then_masking() {
        let key = [0xa1, 0xb2, 0xc3, 0xd4];
        let data: Vec<u8> = (0..=255).collect();
        for offset in 0..8 {
            for len in [0, 1, 3, 7, 8, 9, 31, 200] {
                let mut copied = b"kept".to_vec();
                extend_masked(&mut copied, &data[..len], key, offset);
                let mut expected = data[..len].to_vec();
                apply_mask(&mut expected, key, offset);
                assert_eq!(&copied[..4], b"kept", "what was there stays");
                assert_eq!(&copied[4..], expected, "offset {offset} len {len}");
            }
        }
    }
}
