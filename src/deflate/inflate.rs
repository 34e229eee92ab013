//! # Inflate: DEFLATE data back into bytes, within a limit
//!
//! A DEFLATE stream is a sequence of blocks (RFC 1951 §3.2.3). Each starts
//! with three bits: BFINAL (is this the last block?) and BTYPE:
//!
//! - `00` *stored*: the bytes as they are, after a byte-aligned LEN and its
//!   one's complement NLEN (§3.2.4);
//! - `01` *fixed Huffman*: symbols in a code every decoder knows (§3.2.6);
//! - `10` *dynamic Huffman*: the block first sends its own codes, as code
//!   lengths, themselves Huffman-coded (§3.2.7);
//! - `11` is reserved, an error.
//!
//! Inside a Huffman block a symbol is a literal byte (0–255), the end of
//! the block (256), or a *match* (257–285): "copy `length` bytes from
//! `distance` bytes back", the LZ77 half of DEFLATE. The copy may overlap
//! what it produces: distance 1, length 100 repeats the last byte 100
//! times. A distance may reach at most 32 KiB back (the *window*); here
//! the whole output is kept, so the window is simply the output's last
//! 32 KiB.
//!
//! ## The bomb, and the limit
//!
//! One match produces up to 258 bytes from about two bits, so a 1 MiB
//! input can inflate to about 1 GiB. Whoever inflates data from the
//! network must stop *while producing it*, not check the size afterwards.
//! [`inflate`] takes `max_output` and never holds more than that: before
//! each write it checks the space left, and its buffer grows towards the
//! limit, never past it. Past the limit it returns
//! [`InflateError::TooLarge`], which a WebSocket endpoint turns into close
//! 1009 (RFC 6455 §7.4.1).
//!
//! ## Where the stream ends
//!
//! A stream normally ends after its BFINAL block. A message of
//! permessage-deflate (RFC 7692 §7.2.2) ends instead with a *sync flush*:
//! an empty, non-final stored block. So [`inflate`] also ends, without
//! error, when the input runs out exactly at a block boundary. Input that
//! runs out *inside* a block is [`InflateError::Truncated`].
//!
//! Read next: `src/deflate/lz77.rs`, where matches come from.

use std::fmt;
use std::sync::OnceLock;

use super::bits::{BitReader, Truncated};
use super::huffman::{CodeError, Decoder};
use super::tables::{
    fixed_distance_lengths, fixed_literal_lengths, CODE_LENGTH_ORDER, DISTANCE_BASE,
    DISTANCE_EXTRA_BITS, END_OF_BLOCK, LENGTH_BASE, LENGTH_EXTRA_BITS,
};

/// Why inflating stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InflateError {
    /// The output would pass the limit: a message too big, or a bomb.
    TooLarge { limit: usize },
    /// The input ended inside a block.
    Truncated,
    /// BTYPE `11` (§3.2.3).
    ReservedBlockType,
    /// A stored block whose NLEN is not the complement of LEN (§3.2.4).
    StoredLengthMismatch,
    /// A dynamic block's header is inconsistent (§3.2.7).
    BadHeader(&'static str),
    /// A dynamic block's code lengths do not form a usable code.
    BadCode(CodeError),
    /// A bit string that is no code, or a code for a symbol that may not
    /// occur (length symbols 286–287, distance symbols 30–31).
    InvalidSymbol,
    /// A match reaching back before the start of the output.
    DistanceTooFar,
}

impl InflateError {
    /// The WebSocket close code this error fails a connection with (RFC
    /// 6455 §7.4.1): 1009 "message too big" for the limit, 1007 "invalid
    /// payload data" for data that is not valid DEFLATE.
    pub fn close_code(&self) -> u16 {
        match self {
            InflateError::TooLarge { .. } => 1009,
            _ => 1007,
        }
    }
}

impl fmt::Display for InflateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InflateError::TooLarge { limit } => write!(f, "inflates past {limit} bytes"),
            InflateError::Truncated => f.write_str("compressed data cut short"),
            InflateError::ReservedBlockType => f.write_str("reserved block type 11"),
            InflateError::StoredLengthMismatch => f.write_str("stored block LEN/NLEN mismatch"),
            InflateError::BadHeader(what) => write!(f, "bad dynamic block header: {what}"),
            InflateError::BadCode(error) => write!(f, "bad Huffman code: {error:?}"),
            InflateError::InvalidSymbol => f.write_str("invalid Huffman code in data"),
            InflateError::DistanceTooFar => f.write_str("match distance too far back"),
        }
    }
}

impl std::error::Error for InflateError {}

impl From<Truncated> for InflateError {
    fn from(_: Truncated) -> Self {
        InflateError::Truncated
    }
}

impl From<CodeError> for InflateError {
    fn from(error: CodeError) -> Self {
        match error {
            CodeError::Truncated => InflateError::Truncated,
            CodeError::InvalidCode => InflateError::InvalidSymbol,
            other => InflateError::BadCode(other),
        }
    }
}

/// Inflates `input`, producing at most `max_output` bytes.
///
/// ```
/// use duplex::deflate::inflate;
///
/// // "Hello" as one fixed-Huffman block and a sync flush: the bytes of
/// // RFC 7692 §7.2.3.1, with the `00 00 ff ff` it strips put back.
/// let compressed = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00, 0x00, 0xff, 0xff];
/// assert_eq!(inflate(&compressed, 100).unwrap(), b"Hello");
/// assert!(inflate(&compressed, 4).is_err()); // the limit
/// ```
pub fn inflate(input: &[u8], max_output: usize) -> Result<Vec<u8>, InflateError> {
    inflate_within_window(input, max_output, 15)
}

/// Like [`inflate`], but refuses matches reaching more than
/// `2^window_bits` bytes back ([`InflateError::DistanceTooFar`]): the check
/// for a peer that agreed to a smaller window (RFC 7692 §7.1.2), and for
/// tests of a compressor that promised one.
pub fn inflate_within_window(
    input: &[u8],
    max_output: usize,
    window_bits: u8,
) -> Result<Vec<u8>, InflateError> {
    let mut reader = BitReader::new(input);
    let window = 1usize << window_bits.clamp(8, 15);
    let mut output = BoundedOutput { bytes: Vec::new(), limit: max_output, window };
    loop {
        let is_final = reader.read_bits(1)? == 1;
        match reader.read_bits(2)? {
            0b00 => inflate_stored(&mut reader, &mut output)?,
            0b01 => {
                let (literals, distances) = fixed_decoders();
                inflate_huffman(&mut reader, &mut output, literals, distances)?
            }
            0b10 => {
                let (literals, distances) = read_dynamic_header(&mut reader)?;
                inflate_huffman(&mut reader, &mut output, &literals, &distances)?
            }
            _ => return Err(InflateError::ReservedBlockType),
        }
        if is_final || reader.at_end() {
            return Ok(output.bytes);
        }
    }
}

/// The output, and the promise never to hold more than `limit` bytes.
struct BoundedOutput {
    bytes: Vec<u8>,
    limit: usize,
    /// The farthest a match may reach back.
    window: usize,
}

impl BoundedOutput {
    /// Makes room for `extra` more bytes, or fails if that passes the
    /// limit. Capacity doubles as usual but is capped at the limit, so the
    /// buffer never holds memory the limit does not allow.
    fn reserve(&mut self, extra: usize) -> Result<(), InflateError> {
        let needed = self.bytes.len().saturating_add(extra);
        if needed > self.limit {
            return Err(InflateError::TooLarge { limit: self.limit });
        }
        if needed > self.bytes.capacity() {
            let target = needed.max(self.bytes.capacity() * 2).max(256).min(self.limit);
            self.bytes.reserve_exact(target - self.bytes.len());
        }
        Ok(())
    }

    /// Copies `length` bytes from `distance` back. The regions may overlap;
    /// then the copy repeats the last `distance` bytes (§3.2.3).
    fn copy_match(&mut self, distance: usize, length: usize) -> Result<(), InflateError> {
        if distance == 0 || distance > self.bytes.len() || distance > self.window {
            return Err(InflateError::DistanceTooFar);
        }
        self.reserve(length)?;
        let start = self.bytes.len() - distance;
        if distance >= length {
            self.bytes.extend_from_within(start..start + length);
        } else {
            // Overlapping: copy what exists, then what that copy made.
            let mut remaining = length;
            while remaining > 0 {
                let chunk = remaining.min(self.bytes.len() - start);
                self.bytes.extend_from_within(start..start + chunk);
                remaining -= chunk;
            }
        }
        Ok(())
    }
}

/// A stored block: align, LEN, NLEN, then LEN raw bytes (§3.2.4).
fn inflate_stored(reader: &mut BitReader, output: &mut BoundedOutput) -> Result<(), InflateError> {
    reader.align_to_byte();
    let length = reader.read_bits(16)?;
    let complement = reader.read_bits(16)?;
    if length != !complement & 0xFFFF {
        return Err(InflateError::StoredLengthMismatch);
    }
    output.reserve(length as usize)?;
    output.bytes.extend_from_slice(reader.read_bytes(length as usize)?);
    Ok(())
}

/// The codes of block type 01, built once (§3.2.6).
fn fixed_decoders() -> (&'static Decoder, &'static Decoder) {
    static FIXED: OnceLock<(Decoder, Decoder)> = OnceLock::new();
    let (literals, distances) = FIXED.get_or_init(|| {
        let literals = Decoder::new(&fixed_literal_lengths()).expect("the fixed code is complete");
        let distances =
            Decoder::new(&fixed_distance_lengths()).expect("the fixed code is complete");
        (literals, distances)
    });
    (literals, distances)
}

/// Symbols until end-of-block (§3.2.5).
fn inflate_huffman(
    reader: &mut BitReader,
    output: &mut BoundedOutput,
    literals: &Decoder,
    distances: &Decoder,
) -> Result<(), InflateError> {
    loop {
        let symbol = literals.decode(reader)?;
        match symbol {
            0..=255 => {
                output.reserve(1)?;
                output.bytes.push(symbol as u8);
            }
            END_OF_BLOCK => return Ok(()),
            257..=285 => {
                let code = usize::from(symbol - 257);
                let extra = reader.read_bits(u32::from(LENGTH_EXTRA_BITS[code]))?;
                let length = usize::from(LENGTH_BASE[code]) + extra as usize;
                let code = usize::from(distances.decode(reader)?);
                if code >= DISTANCE_BASE.len() {
                    return Err(InflateError::InvalidSymbol);
                }
                let extra = reader.read_bits(u32::from(DISTANCE_EXTRA_BITS[code]))?;
                let distance = usize::from(DISTANCE_BASE[code]) + extra as usize;
                output.copy_match(distance, length)?;
            }
            _ => return Err(InflateError::InvalidSymbol),
        }
    }
}

/// A dynamic block's header: the code-length code, then the literal/length
/// and distance code lengths written in it (§3.2.7).
fn read_dynamic_header(reader: &mut BitReader) -> Result<(Decoder, Decoder), InflateError> {
    let literal_count = reader.read_bits(5)? as usize + 257; // HLIT
    let distance_count = reader.read_bits(5)? as usize + 1; // HDIST
    let code_length_count = reader.read_bits(4)? as usize + 4; // HCLEN
    if literal_count > 286 || distance_count > 30 {
        return Err(InflateError::BadHeader("too many length or distance codes"));
    }

    let mut code_length_lengths = [0u8; 19];
    for &symbol in &CODE_LENGTH_ORDER[..code_length_count] {
        code_length_lengths[symbol] = reader.read_bits(3)? as u8;
    }
    let code_lengths = Decoder::new(&code_length_lengths)?;

    // Both lists are one sequence: a repeat may run from one into the other.
    let total = literal_count + distance_count;
    let mut lengths = Vec::with_capacity(total);
    while lengths.len() < total {
        let (value, repeat) = match code_lengths.decode(reader)? {
            length @ 0..=15 => (length as u8, 1),
            16 => {
                let previous =
                    *lengths.last().ok_or(InflateError::BadHeader("repeat with nothing before"))?;
                (previous, 3 + reader.read_bits(2)? as usize)
            }
            17 => (0, 3 + reader.read_bits(3)? as usize),
            _ => (0, 11 + reader.read_bits(7)? as usize), // 18
        };
        if lengths.len() + repeat > total {
            return Err(InflateError::BadHeader("code lengths overrun"));
        }
        lengths.resize(lengths.len() + repeat, value);
    }
    if lengths[usize::from(END_OF_BLOCK)] == 0 {
        return Err(InflateError::BadHeader("no end-of-block code"));
    }
    let literals = Decoder::new(&lengths[..literal_count])?;
    let distances = Decoder::new(&lengths[literal_count..])?;
    Ok((literals, distances))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_block() {
        // BFINAL=1 BTYPE=00, LEN=3, NLEN=!3, "abc".
        let input = [0x01, 0x03, 0x00, 0xfc, 0xff, b'a', b'b', b'c'];
        assert_eq!(inflate(&input, 10), Ok(b"abc".to_vec()));
        let mut bad = input;
        bad[3] = 0;
        assert_eq!(inflate(&bad, 10), Err(InflateError::StoredLengthMismatch));
        assert_eq!(inflate(&input[..6], 10), Err(InflateError::Truncated));
    }

    /// RFC 7692 §7.2.2: the receiver appends this before inflating.
    fn with_tail(payload: &[u8]) -> Vec<u8> {
        [payload, &[0x00, 0x00, 0xff, 0xff]].concat()
    }

    #[test]
    fn rfc_7692_examples() {
        // §7.2.3.1 "Hello", and §7.2.3.2's second message, which reuses the
        // first one's window: with no context it reaches too far back.
        let hello = with_tail(&[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
        assert_eq!(inflate(&hello, 5), Ok(b"Hello".to_vec()));
        let second = with_tail(&[0xf2, 0x00, 0x11, 0x00, 0x00]);
        assert_eq!(inflate(&second, 5), Err(InflateError::DistanceTooFar));
        // §7.2.3.3: "Hello" in a stored block, no compression.
        let stored = with_tail(&[0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00]);
        assert_eq!(inflate(&stored, 5), Ok(b"Hello".to_vec()));
        // §7.2.3.4: two blocks, "He" and "llo".
        let two = [0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00];
        assert_eq!(inflate(&with_tail(&two), 5), Ok(b"Hello".to_vec()));
        // §7.2.3.5: a final block; what follows it is never read.
        let bfinal = with_tail(&[0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00]);
        assert_eq!(inflate(&bfinal, 5), Ok(b"Hello".to_vec()));
        // Cut inside a block: truncated.
        assert_eq!(inflate(&hello[..5], 5), Err(InflateError::Truncated));
    }

    #[test]
    fn reserved_block_type() {
        assert_eq!(inflate(&[0b111], 10), Err(InflateError::ReservedBlockType));
    }

    #[test]
    fn the_limit_stops_a_run_and_never_holds_more() {
        // Fixed block: literal 'a', then length 258 distance 1, many times.
        let compressed = crate::deflate::compress(&vec![b'a'; 100_000], 15);
        assert_eq!(inflate(&compressed, 100_000).map(|v| v.len()), Ok(100_000));
        assert_eq!(inflate(&compressed, 99_999), Err(InflateError::TooLarge { limit: 99_999 }));
        let mut output = BoundedOutput { bytes: Vec::new(), limit: 1000, window: 1 << 15 };
        for _ in 0..1000 {
            output.reserve(1).unwrap();
            output.bytes.push(0);
        }
        assert!(output.bytes.capacity() <= 1000);
        assert!(output.reserve(1).is_err());
    }
}
