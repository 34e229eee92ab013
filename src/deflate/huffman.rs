//! # Canonical Huffman codes
//!
//! A Huffman code gives frequent symbols short bit strings and rare ones
//! long strings, with no string the start of another, so a reader always
//! knows where one ends (a *prefix code*). DEFLATE never sends the code
//! itself, only each symbol's code *length* (RFC 1951 §3.2.2). The codes
//! follow from the lengths by one rule, the *canonical* code:
//!
//! - shorter codes come before longer ones, numerically;
//! - codes of the same length are consecutive, in symbol order.
//!
//! So lengths `A:2 B:1 C:3 D:3` give `B=0 A=10 C=110 D=111`. The counting
//! in [`canonical_codes`] is §3.2.2's algorithm step for step.
//!
//! Three pieces live here:
//! - [`Decoder`]: turns bits back into symbols. A table indexed by the next
//!   9 bits answers most lookups at once; longer codes are walked one bit
//!   at a time, the way §3.2.2's counting suggests.
//! - [`Encoder`]: symbol to (bit-reversed) code, for `BitWriter`.
//! - [`lengths_for_frequencies`]: the classic Huffman construction (merge
//!   the two rarest, repeat), with DEFLATE's limit of 15 bits (7 for the
//!   code-length alphabet) enforced by flattening the counts until the
//!   tree is shallow enough. Not the optimum, but close, and short.
//!
//! A decoder must refuse two kinds of broken length sets: *over-subscribed*
//! (more codes than bit strings, so some string would mean two symbols) and
//! *incomplete* (some bit strings mean nothing). RFC 1951 allows one
//! incomplete case: a single code of one bit (§3.2.7, "one distance code
//! ... is encoded using one bit").
//!
//! Read next: `src/deflate/tables.rs`, the alphabets these codes encode.

use std::collections::BinaryHeap;

use super::bits::{BitReader, BitWriter, Truncated};

/// The longest code DEFLATE allows in any alphabet (§3.2.7).
pub const MAX_CODE_LENGTH: usize = 15;

/// Codes up to this long are decoded with one table lookup.
const FAST_BITS: u32 = 9;

/// Why a set of code lengths, or a code read with it, is unusable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeError {
    /// More codes of some lengths than bit strings exist for them.
    OverSubscribed,
    /// Some bit strings decode to nothing (and it is not the one allowed case).
    Incomplete,
    /// The input held a bit string that is no code.
    InvalidCode,
    /// The input ended inside a code.
    Truncated,
}

impl From<Truncated> for CodeError {
    fn from(_: Truncated) -> Self {
        CodeError::Truncated
    }
}

/// The canonical codes for a list of code lengths, indexed by symbol
/// (RFC 1951 §3.2.2). A length of zero means "symbol not used".
pub fn canonical_codes(lengths: &[u8]) -> Vec<u16> {
    // Step 1: how many codes of each length.
    let mut count_per_length = [0u16; MAX_CODE_LENGTH + 1];
    for &length in lengths {
        count_per_length[usize::from(length)] += 1;
    }
    count_per_length[0] = 0;
    // Step 2: the first code of each length.
    let mut next_code = [0u16; MAX_CODE_LENGTH + 2];
    let mut code = 0u16;
    for length in 1..=MAX_CODE_LENGTH {
        code = (code + count_per_length[length - 1]) << 1;
        next_code[length] = code;
    }
    // Step 3: consecutive codes, in symbol order, within each length.
    lengths
        .iter()
        .map(|&length| {
            if length == 0 {
                return 0;
            }
            let code = next_code[usize::from(length)];
            next_code[usize::from(length)] += 1;
            code
        })
        .collect()
}

/// `code`'s low `length` bits in reverse order: Huffman codes go on the
/// wire most significant bit first, while `BitWriter` packs from the least
/// significant (§3.1.1).
fn reverse_bits(code: u16, length: u8) -> u16 {
    code.reverse_bits() >> (16 - u32::from(length))
}

/// Reads symbols of one canonical code.
#[derive(Debug)]
pub struct Decoder {
    /// Indexed by the next `FAST_BITS` input bits: `symbol << 4 | length`,
    /// or 0 when the code is longer than `FAST_BITS`.
    fast: Vec<u16>,
    /// How many codes have each length (index 0 unused).
    count_per_length: [u16; MAX_CODE_LENGTH + 1],
    /// The used symbols, sorted by code (by length, then by symbol).
    symbols_by_code: Vec<u16>,
}

impl Decoder {
    /// Builds a decoder, refusing over-subscribed sets and incomplete ones
    /// other than a lone one-bit code. An alphabet with no codes at all is
    /// accepted (a block with no matches may send no distance codes); any
    /// attempt to decode with it fails.
    pub fn new(lengths: &[u8]) -> Result<Decoder, CodeError> {
        let mut count_per_length = [0u16; MAX_CODE_LENGTH + 1];
        for &length in lengths {
            count_per_length[usize::from(length)] += 1;
        }
        count_per_length[0] = 0;

        // Each length doubles the bit strings available; codes use them up.
        let mut unused: i32 = 1;
        for &count in &count_per_length[1..] {
            unused = unused * 2 - i32::from(count);
            if unused < 0 {
                return Err(CodeError::OverSubscribed);
            }
        }
        let used: u16 = count_per_length.iter().sum();
        let lone_one_bit_code = used == 1 && count_per_length[1] == 1;
        if unused > 0 && used > 0 && !lone_one_bit_code {
            return Err(CodeError::Incomplete);
        }

        let mut symbols_by_code: Vec<u16> = (0..lengths.len() as u16).collect();
        symbols_by_code.retain(|&symbol| lengths[usize::from(symbol)] != 0);
        symbols_by_code.sort_by_key(|&symbol| lengths[usize::from(symbol)]); // stable

        let mut fast = vec![0u16; 1 << FAST_BITS];
        for (symbol, (&length, code)) in lengths.iter().zip(canonical_codes(lengths)).enumerate() {
            if length == 0 || u32::from(length) > FAST_BITS {
                continue;
            }
            let reversed = usize::from(reverse_bits(code, length));
            let entry = (symbol as u16) << 4 | u16::from(length);
            // Every index whose low `length` bits are this code.
            for high in 0..1usize << (FAST_BITS - u32::from(length)) {
                fast[reversed | high << length] = entry;
            }
        }
        Ok(Decoder { fast, count_per_length, symbols_by_code })
    }

    /// Reads one symbol.
    pub fn decode(&self, reader: &mut BitReader) -> Result<u16, CodeError> {
        let entry = self.fast[reader.peek(FAST_BITS) as usize];
        if entry != 0 {
            reader.consume(u32::from(entry & 0xF))?;
            return Ok(entry >> 4);
        }
        self.decode_slowly(reader)
    }

    /// One bit at a time: after each bit, is the code read so far among
    /// the codes of this length? Canonical codes of one length are a
    /// consecutive range starting at `first`, so that is one comparison.
    fn decode_slowly(&self, reader: &mut BitReader) -> Result<u16, CodeError> {
        let mut code: i32 = 0; // the bits read so far, most significant first
        let mut first: i32 = 0; // the first code of the current length
        let mut index: i32 = 0; // where that length's symbols start in `symbols_by_code`
        for &count in &self.count_per_length[1..] {
            code |= reader.read_bits(1)? as i32;
            let count = i32::from(count);
            if code - first < count {
                return Ok(self.symbols_by_code[(index + code - first) as usize]);
            }
            index += count;
            first = (first + count) << 1;
            code <<= 1;
        }
        Err(CodeError::InvalidCode)
    }
}

/// Writes symbols of one canonical code.
#[derive(Debug, Clone)]
pub struct Encoder {
    /// Per symbol: its code, bit-reversed for `BitWriter`.
    reversed_codes: Vec<u16>,
    lengths: Vec<u8>,
}

impl Encoder {
    pub fn new(lengths: &[u8]) -> Encoder {
        let reversed_codes = canonical_codes(lengths)
            .into_iter()
            .zip(lengths)
            .map(|(code, &length)| if length == 0 { 0 } else { reverse_bits(code, length) })
            .collect();
        Encoder { reversed_codes, lengths: lengths.to_vec() }
    }

    /// Writes `symbol`'s code. The symbol must have a nonzero length.
    pub fn write(&self, writer: &mut BitWriter, symbol: usize) {
        debug_assert!(self.lengths[symbol] > 0, "symbol {symbol} has no code");
        writer.write_bits(u32::from(self.reversed_codes[symbol]), u32::from(self.lengths[symbol]));
    }

    /// The code length of `symbol` in bits.
    pub fn length(&self, symbol: usize) -> u8 {
        self.lengths[symbol]
    }

    pub fn lengths(&self) -> &[u8] {
        &self.lengths
    }
}

/// Code lengths for symbols seen `frequencies[symbol]` times, none longer
/// than `max_length`. Unused symbols get length 0; a lone used symbol gets
/// a one-bit code (a code needs at least one bit to be read at all).
pub fn lengths_for_frequencies(frequencies: &[u32], max_length: u8) -> Vec<u8> {
    let mut weights: Vec<u64> = frequencies.iter().map(|&f| u64::from(f)).collect();
    loop {
        let lengths = huffman_lengths(&weights);
        if lengths.iter().all(|&length| length <= max_length) {
            return lengths;
        }
        // Too deep: bring the weights closer together (halving, but never
        // to zero, which would drop a symbol) and build again. Equal
        // weights give a balanced tree, so this ends.
        for weight in &mut weights {
            if *weight > 0 {
                *weight = weight.div_ceil(2);
            }
        }
    }
}

/// Plain Huffman: repeatedly merge the two lightest trees; a symbol's code
/// length is its depth in the final tree.
fn huffman_lengths(weights: &[u64]) -> Vec<u8> {
    let mut lengths = vec![0u8; weights.len()];
    let used: Vec<usize> = (0..weights.len()).filter(|&symbol| weights[symbol] > 0).collect();
    match used.as_slice() {
        [] => return lengths,
        [only] => {
            lengths[*only] = 1;
            return lengths;
        }
        _ => {}
    }
    // Nodes 0..used.len() are leaves; merged nodes follow. `parent` of the
    // root stays usize::MAX. A min-heap of (weight, node); the node number
    // breaks ties, so the result does not depend on heap internals.
    let mut parent = vec![usize::MAX; used.len()];
    let mut heap: BinaryHeap<std::cmp::Reverse<(u64, usize)>> = used
        .iter()
        .enumerate()
        .map(|(node, &symbol)| std::cmp::Reverse((weights[symbol], node)))
        .collect();
    while heap.len() > 1 {
        let (Some(std::cmp::Reverse((weight_a, a))), Some(std::cmp::Reverse((weight_b, b)))) =
            (heap.pop(), heap.pop())
        else {
            unreachable!("the heap held at least two trees");
        };
        let merged = parent.len();
        parent.push(usize::MAX);
        parent[a] = merged;
        parent[b] = merged;
        heap.push(std::cmp::Reverse((weight_a + weight_b, merged)));
    }
    // A parent is always numbered after its children, so walking from the
    // root down fills each depth from an already known one.
    let mut depth = vec![0u8; parent.len()];
    for node in (0..parent.len()).rev() {
        if parent[node] != usize::MAX {
            depth[node] = depth[parent[node]].saturating_add(1);
        }
    }
    for (node, &symbol) in used.iter().enumerate() {
        lengths[symbol] = depth[node];
    }
    lengths
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rfc_example_of_canonical_codes() {
        // RFC 1951 §3.2.2: lengths (3, 3, 3, 3, 3, 2, 4, 4) for A..H.
        let codes = canonical_codes(&[3, 3, 3, 3, 3, 2, 4, 4]);
        assert_eq!(codes, vec![0b010, 0b011, 0b100, 0b101, 0b110, 0b00, 0b1110, 0b1111]);
    }

    #[test]
    fn broken_length_sets_are_refused() {
        assert_eq!(Decoder::new(&[1, 1, 1]).err(), Some(CodeError::OverSubscribed));
        assert_eq!(Decoder::new(&[1, 2]).err(), Some(CodeError::Incomplete));
        assert!(Decoder::new(&[0, 1]).is_ok(), "a lone one-bit code is allowed");
        assert!(Decoder::new(&[0, 0]).is_ok(), "an empty alphabet is allowed");
        assert_eq!(Decoder::new(&[0, 2]).err(), Some(CodeError::Incomplete));
    }

    #[test]
    fn encode_then_decode_every_symbol_including_long_codes() {
        // Lengths 1, 2, ..., 14, 15, 15: complete, and longer than the table.
        let mut lengths: Vec<u8> = (1..=15).collect();
        lengths.push(15);
        let encoder = Encoder::new(&lengths);
        let decoder = Decoder::new(&lengths).unwrap();
        let mut writer = BitWriter::new();
        for symbol in (0..lengths.len()).rev() {
            encoder.write(&mut writer, symbol);
        }
        let bytes = writer.finish();
        let mut reader = BitReader::new(&bytes);
        for symbol in (0..lengths.len()).rev() {
            assert_eq!(decoder.decode(&mut reader), Ok(symbol as u16));
        }
    }

    #[test]
    fn an_unused_bit_string_is_an_invalid_code() {
        // Only symbol 1, with a one-bit code `0`: the bit `1` means nothing.
        let decoder = Decoder::new(&[0, 1]).unwrap();
        assert_eq!(decoder.decode(&mut BitReader::new(&[0b0])), Ok(1));
        assert_eq!(decoder.decode(&mut BitReader::new(&[0xFF, 0xFF])), Err(CodeError::InvalidCode));
        let empty = Decoder::new(&[0, 0]).unwrap();
        assert_eq!(empty.decode(&mut BitReader::new(&[0, 0])), Err(CodeError::InvalidCode));
    }

    #[test]
    fn lengths_respect_the_limit_and_form_a_complete_code() {
        // Fibonacci weights make the deepest possible tree.
        let mut fibonacci = vec![1u32, 1];
        while fibonacci.len() < 30 {
            let next = fibonacci[fibonacci.len() - 1] + fibonacci[fibonacci.len() - 2];
            fibonacci.push(next);
        }
        for limit in [7u8, 15] {
            let lengths = lengths_for_frequencies(&fibonacci, limit);
            assert!(lengths.iter().all(|&l| (1..=limit).contains(&l)), "{lengths:?}");
            assert!(Decoder::new(&lengths).is_ok(), "complete: {lengths:?}");
        }
        assert_eq!(lengths_for_frequencies(&[0, 5, 0], 15), vec![0, 1, 0]);
        assert_eq!(lengths_for_frequencies(&[1, 1, 2], 15), vec![2, 2, 1]);
    }
}
