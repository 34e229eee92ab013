//! # Deflate: tokens into blocks, blocks into bits
//!
//! The second half of DEFLATE. LZ77 (`lz77.rs`) has turned the input into
//! literals and matches; now each group of tokens becomes a block, in
//! whichever of the three block types (RFC 1951 §3.2.3) is shortest for it:
//!
//! - *stored*, when nothing helps (random bytes, already compressed data):
//!   5 bytes of header per 64 KiB, so incompressible data grows only a
//!   little;
//! - *fixed Huffman* (§3.2.6), codes known in advance: no table to send,
//!   which wins for short inputs such as a chat line;
//! - *dynamic Huffman* (§3.2.7), codes built from this block's own symbol
//!   counts: a header of roughly 60–80 bytes, repaid on longer inputs.
//!
//! The choice is exact: the cost of each type in bits is computed from the
//! counts before anything is written.
//!
//! A dynamic header is the most intricate part of the format. It sends the
//! code length of every literal/length and distance symbol, and compresses
//! that list twice over: runs are shortened with three repeat symbols (16:
//! repeat the previous length 3–6 times; 17 and 18: 3–10 or 11–138 zeros),
//! and the resulting symbols are Huffman-coded with a third, tiny code whose
//! own lengths go first, 3 bits each, in the order of
//! `CODE_LENGTH_ORDER` (`tables.rs`).
//!
//! [`compress`] ends its output with a *sync flush* (an empty stored block,
//! not final): the output then ends on a byte boundary with the four bytes
//! `00 00 ff ff`, and a reader has every byte of the input without waiting
//! for more. That is the form RFC 7692 §7.2.1 builds on: a WebSocket
//! message is this output minus those last four bytes.
//!
//! Read next: `src/websocket/permessage_deflate.rs`, which puts all this on
//! the wire.

use std::sync::OnceLock;

use super::bits::BitWriter;
use super::huffman::{lengths_for_frequencies, Encoder, MAX_CODE_LENGTH};
use super::lz77::{Matcher, Token};
use super::tables::{
    distance_code, fixed_distance_lengths, fixed_literal_lengths, length_code, CODE_LENGTH_ORDER,
    DISTANCE_BASE, DISTANCE_EXTRA_BITS, END_OF_BLOCK, LENGTH_BASE, LENGTH_EXTRA_BITS,
};

/// Tokens per block. Smaller blocks adapt their codes to changing data;
/// each costs a header. 16 K tokens is zlib's choice too.
const BLOCK_TOKENS: usize = 16 * 1024;

/// The most a stored block can hold: LEN is 16 bits (§3.2.4).
const MAX_STORED: usize = 0xFFFF;

/// The four bytes a sync flush ends with: an empty stored block's LEN and
/// NLEN (RFC 7692 §7.2.1).
pub const SYNC_FLUSH_TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// Compresses `input` into raw DEFLATE data ending with a sync flush
/// (`00 00 ff ff`). No match reaches more than `2^window_bits` bytes back
/// (`window_bits` is clamped to 8..=15).
///
/// ```
/// use duplex::deflate::{compress, inflate};
///
/// let text = b"to be or not to be, that is the question: to be";
/// let compressed = compress(text, 15);
/// assert!(compressed.ends_with(&[0x00, 0x00, 0xff, 0xff]));
/// assert!(compressed.len() < text.len());
/// assert_eq!(inflate(&compressed, 1000).unwrap(), text);
/// ```
pub fn compress(input: &[u8], window_bits: u8) -> Vec<u8> {
    let mut writer = BitWriter::new();
    let mut matcher = Matcher::new(input, window_bits);
    let mut tokens = Vec::with_capacity(input.len().min(BLOCK_TOKENS));
    loop {
        let block_start = matcher.position();
        tokens.clear();
        tokens.extend(matcher.by_ref().take(BLOCK_TOKENS));
        if tokens.is_empty() {
            break;
        }
        write_block(&mut writer, &tokens, &input[block_start..matcher.position()]);
    }
    // The sync flush: BFINAL=0, BTYPE=00, align, LEN=0, NLEN=0xFFFF.
    writer.write_bits(0, 3);
    writer.align_to_byte();
    writer.write_bytes(&SYNC_FLUSH_TAIL);
    writer.finish()
}

/// How often each symbol occurs in a block.
struct Frequencies {
    literals: [u32; 286],
    distances: [u32; 30],
    /// The extra bits of all lengths and distances: the same in any code.
    extra_bits: usize,
}

impl Frequencies {
    fn count(tokens: &[Token]) -> Frequencies {
        let mut counts = Frequencies { literals: [0; 286], distances: [0; 30], extra_bits: 0 };
        for &token in tokens {
            match token {
                Token::Literal(byte) => counts.literals[usize::from(byte)] += 1,
                Token::Match { length, distance } => {
                    let length = length_code(usize::from(length));
                    let distance = distance_code(usize::from(distance));
                    counts.literals[257 + length] += 1;
                    counts.distances[distance] += 1;
                    counts.extra_bits += usize::from(LENGTH_EXTRA_BITS[length])
                        + usize::from(DISTANCE_EXTRA_BITS[distance]);
                }
            }
        }
        counts.literals[usize::from(END_OF_BLOCK)] = 1;
        counts
    }

    /// The data's size in bits under a literal and a distance code.
    fn cost(&self, literals: &Encoder, distances: &Encoder) -> usize {
        let cost = |counts: &[u32], code: &Encoder| -> usize {
            counts
                .iter()
                .enumerate()
                .map(|(symbol, &count)| count as usize * usize::from(code.length(symbol)))
                .sum()
        };
        cost(&self.literals, literals) + cost(&self.distances, distances) + self.extra_bits
    }
}

/// Writes one block of the cheapest type.
fn write_block(writer: &mut BitWriter, tokens: &[Token], raw: &[u8]) {
    let frequencies = Frequencies::count(tokens);
    let (fixed_literals, fixed_distances) = fixed_encoders();
    let fixed_cost = 3 + frequencies.cost(fixed_literals, fixed_distances);
    let dynamic = DynamicCodes::new(&frequencies);
    let dynamic_cost =
        3 + dynamic.header_bits() + frequencies.cost(&dynamic.literals, &dynamic.distances);
    // Header (3 bits), alignment (at most 7), LEN and NLEN, per 64 KiB.
    let stored_cost = raw.len().div_ceil(MAX_STORED) * (3 + 7 + 32) + raw.len() * 8;

    if stored_cost < fixed_cost.min(dynamic_cost) {
        write_stored(writer, raw);
    } else if fixed_cost <= dynamic_cost {
        writer.write_bits(0b010, 3); // BFINAL=0, BTYPE=01 (bits go in low first)
        write_tokens(writer, tokens, fixed_literals, fixed_distances);
    } else {
        writer.write_bits(0b100, 3); // BFINAL=0, BTYPE=10
        dynamic.write_header(writer);
        write_tokens(writer, tokens, &dynamic.literals, &dynamic.distances);
    }
}

fn write_stored(writer: &mut BitWriter, raw: &[u8]) {
    for chunk in raw.chunks(MAX_STORED) {
        writer.write_bits(0b000, 3); // BFINAL=0, BTYPE=00
        writer.align_to_byte();
        let length = chunk.len() as u16;
        writer.write_bytes(&length.to_le_bytes());
        writer.write_bytes(&(!length).to_le_bytes());
        writer.write_bytes(chunk);
    }
}

fn write_tokens(writer: &mut BitWriter, tokens: &[Token], literals: &Encoder, distances: &Encoder) {
    for &token in tokens {
        match token {
            Token::Literal(byte) => literals.write(writer, usize::from(byte)),
            Token::Match { length, distance } => {
                let (length, distance) = (usize::from(length), usize::from(distance));
                let code = length_code(length);
                literals.write(writer, 257 + code);
                let extra = (length - usize::from(LENGTH_BASE[code])) as u32;
                writer.write_bits(extra, u32::from(LENGTH_EXTRA_BITS[code]));
                let code = distance_code(distance);
                distances.write(writer, code);
                let extra = (distance - usize::from(DISTANCE_BASE[code])) as u32;
                writer.write_bits(extra, u32::from(DISTANCE_EXTRA_BITS[code]));
            }
        }
    }
    literals.write(writer, usize::from(END_OF_BLOCK));
}

/// The codes of block type 01, built once.
fn fixed_encoders() -> (&'static Encoder, &'static Encoder) {
    static FIXED: OnceLock<(Encoder, Encoder)> = OnceLock::new();
    let (literals, distances) = FIXED.get_or_init(|| {
        (Encoder::new(&fixed_literal_lengths()), Encoder::new(&fixed_distance_lengths()))
    });
    (literals, distances)
}

/// A dynamic block's codes, and its header ready to write.
struct DynamicCodes {
    literals: Encoder,
    distances: Encoder,
    /// The code-length code, Huffman-coded itself.
    code_lengths: Encoder,
    /// The lengths list after run-length coding: (symbol 0–18, extra bits value).
    runs: Vec<(u8, u8)>,
    /// HCLEN + 4: how many code-length code lengths are sent.
    code_length_count: usize,
    literal_count: usize,
    distance_count: usize,
}

impl DynamicCodes {
    fn new(frequencies: &Frequencies) -> DynamicCodes {
        let literal_lengths = lengths_for_frequencies(&frequencies.literals, MAX_CODE_LENGTH as u8);
        // zlib's inflater, like the RFC's authors, expects at least two
        // distance codes (or one of one bit); giving a block without
        // matches two dummy codes keeps every inflater happy for 2 bits.
        let mut distance_counts = frequencies.distances;
        for slot in 0..2 {
            if distance_counts.iter().filter(|&&count| count > 0).count() < 2 {
                distance_counts[slot] = distance_counts[slot].max(1);
            }
        }
        let distance_lengths = lengths_for_frequencies(&distance_counts, MAX_CODE_LENGTH as u8);

        // Trailing unused symbols need not be sent (HLIT >= 257, HDIST >= 1).
        let literal_count = last_used(&literal_lengths).max(257);
        let distance_count = last_used(&distance_lengths).max(1);
        let all_lengths =
            [&literal_lengths[..literal_count], &distance_lengths[..distance_count]].concat();
        let runs = run_length_encode(&all_lengths);

        let mut run_counts = [0u32; 19];
        for &(symbol, _) in &runs {
            run_counts[usize::from(symbol)] += 1;
        }
        let code_length_lengths = lengths_for_frequencies(&run_counts, 7);
        let code_length_count = CODE_LENGTH_ORDER
            .iter()
            .rposition(|&symbol| code_length_lengths[symbol] != 0)
            .map_or(4, |last| (last + 1).max(4));

        DynamicCodes {
            literals: Encoder::new(&literal_lengths),
            distances: Encoder::new(&distance_lengths),
            code_lengths: Encoder::new(&code_length_lengths),
            runs,
            code_length_count,
            literal_count,
            distance_count,
        }
    }

    fn header_bits(&self) -> usize {
        let runs: usize = self
            .runs
            .iter()
            .map(|&(symbol, _)| {
                usize::from(self.code_lengths.length(usize::from(symbol)))
                    + usize::from(repeat_extra_bits(symbol))
            })
            .sum();
        5 + 5 + 4 + 3 * self.code_length_count + runs
    }

    fn write_header(&self, writer: &mut BitWriter) {
        writer.write_bits((self.literal_count - 257) as u32, 5); // HLIT
        writer.write_bits((self.distance_count - 1) as u32, 5); // HDIST
        writer.write_bits((self.code_length_count - 4) as u32, 4); // HCLEN
        for &symbol in &CODE_LENGTH_ORDER[..self.code_length_count] {
            writer.write_bits(u32::from(self.code_lengths.length(symbol)), 3);
        }
        for &(symbol, extra) in &self.runs {
            self.code_lengths.write(writer, usize::from(symbol));
            writer.write_bits(u32::from(extra), u32::from(repeat_extra_bits(symbol)));
        }
    }
}

/// How many symbols up to and including the last one with a code.
fn last_used(lengths: &[u8]) -> usize {
    lengths.iter().rposition(|&length| length != 0).map_or(0, |last| last + 1)
}

/// Extra bits after a code-length symbol (§3.2.7).
fn repeat_extra_bits(symbol: u8) -> u8 {
    match symbol {
        16 => 2,
        17 => 3,
        18 => 7,
        _ => 0,
    }
}

/// Shortens a list of code lengths with the repeat symbols of §3.2.7:
/// 16 (previous length, 3–6 times), 17 (zero, 3–10 times), 18 (zero,
/// 11–138 times). Returns (symbol, extra bits value) pairs.
fn run_length_encode(lengths: &[u8]) -> Vec<(u8, u8)> {
    let mut runs = Vec::new();
    let mut index = 0;
    while index < lengths.len() {
        let value = lengths[index];
        let mut run = lengths[index..].iter().take_while(|&&length| length == value).count();
        index += run;
        if value == 0 {
            while run >= 11 {
                let take = run.min(138);
                runs.push((18, (take - 11) as u8));
                run -= take;
            }
            if run >= 3 {
                runs.push((17, (run - 3) as u8));
                run = 0;
            }
        } else {
            // A repeat needs a previous length: send the value once first.
            runs.push((value, 0));
            run -= 1;
            while run >= 3 {
                let take = run.min(6);
                runs.push((16, (take - 3) as u8));
                run -= take;
            }
        }
        runs.extend(std::iter::repeat_n((value, 0), run));
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deflate::inflate;

    #[test]
    fn run_length_coding_of_code_lengths() {
        let lengths = [[0u8; 20].as_slice(), &[5; 8], &[0; 2], &[7]].concat();
        let runs = run_length_encode(&lengths);
        assert_eq!(runs, vec![(18, 9), (5, 0), (16, 3), (5, 0), (0, 0), (0, 0), (7, 0)]);
    }

    #[test]
    fn each_block_type_is_chosen_where_it_is_shortest() {
        // One byte: fixed (3 bits + 8 + 7 for end-of-block, then the flush).
        let tiny = compress(b"a", 15);
        assert_eq!(tiny[0] & 0b111, 0b010);
        // Incompressible bytes: stored.
        let mut state = 1u32;
        let mut next_byte = || {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state as u8
        };
        let noise: Vec<u8> = (0..1000).map(|_| next_byte()).collect();
        let stored = compress(&noise, 15);
        assert_eq!(stored[0] & 0b111, 0b000);
        assert!(stored.len() <= noise.len() + 5 + 5);
        // 2000 bytes from 200..=255, which the fixed code spells with 9
        // bits and a fitted code with about 6: dynamic.
        let skewed: Vec<u8> = (0..2000).map(|_| 200 + next_byte() % 56).collect();
        let dynamic = compress(&skewed, 15);
        assert_eq!(dynamic[0] & 0b111, 0b100);
        assert!(dynamic.len() < skewed.len() * 7 / 8);
        for (input, output) in [(&b"a"[..], tiny), (&noise, stored), (&skewed, dynamic)] {
            assert_eq!(inflate(&output, input.len()).unwrap(), input);
        }
    }

    #[test]
    fn empty_input_is_just_the_flush() {
        assert_eq!(compress(b"", 15), vec![0x00, 0x00, 0x00, 0xff, 0xff]);
    }
}
