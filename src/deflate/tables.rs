//! # The fixed tables of DEFLATE
//!
//! DEFLATE does not spend a Huffman symbol on every possible match length
//! (3 to 258) or distance (1 to 32768). It groups them: a *length code*
//! (257–285, sharing one alphabet with the literal bytes and end-of-block)
//! or a *distance code* (0–29) names a range, and a few *extra bits* that
//! follow the code pick the exact value inside it (RFC 1951 §3.2.5). Short
//! lengths and near distances, the common ones, get ranges of one value
//! and no extra bits; far distances share codes with up to 13 extra bits.
//!
//! Also here: the order in which a dynamic block sends its code-length
//! code lengths (§3.2.7), and the fixed Huffman code of block type 1
//! (§3.2.6).
//!
//! Read next: `src/deflate/inflate.rs`, which reads these.

/// Symbol 256 of the literal/length alphabet ends a block (§3.2.5).
pub const END_OF_BLOCK: u16 = 256;

/// Shortest and longest match (§3.2.5: lengths 3..258).
pub const MIN_MATCH: usize = 3;
pub const MAX_MATCH: usize = 258;

/// The farthest a match may reach back (§2: "distances up to 32K bytes").
pub const MAX_DISTANCE: usize = 32 * 1024;

/// Length codes 257..=285: the shortest length of each, and how many extra
/// bits follow it (§3.2.5). Code 284 with its 5 extra bits could spell 258,
/// but 258 has its own code, 285, with none: a classic off-by-one trap.
pub const LENGTH_BASE: [u16; 29] = [
    3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131,
    163, 195, 227, 258,
];
pub const LENGTH_EXTRA_BITS: [u8; 29] =
    [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];

/// Distance codes 0..=29: the shortest distance of each, and its extra
/// bits (§3.2.5). Codes 30 and 31 exist in the fixed code but never occur.
pub const DISTANCE_BASE: [u16; 30] = [
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537,
    2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
];
pub const DISTANCE_EXTRA_BITS: [u8; 30] = [
    0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13,
    13,
];

/// The order a dynamic block lists the code lengths of the code-length
/// alphabet (§3.2.7). The lengths likely to be zero come last, so a header
/// can stop early (HCLEN).
pub const CODE_LENGTH_ORDER: [usize; 19] =
    [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

/// The code lengths of the fixed literal/length code (§3.2.6): 288
/// symbols, of which 286 and 287 never occur.
pub fn fixed_literal_lengths() -> [u8; 288] {
    let mut lengths = [0u8; 288];
    for (symbol, length) in lengths.iter_mut().enumerate() {
        *length = match symbol {
            0..=143 => 8,
            144..=255 => 9,
            256..=279 => 7,
            _ => 8,
        };
    }
    lengths
}

/// The fixed distance code: 32 five-bit codes (§3.2.6).
pub fn fixed_distance_lengths() -> [u8; 32] {
    [5; 32]
}

/// The length code (0-based, add 257 for the symbol) for a match length.
pub fn length_code(length: usize) -> usize {
    debug_assert!((MIN_MATCH..=MAX_MATCH).contains(&length));
    // The last code whose base is at most `length`; 258 is code 28 exactly.
    LENGTH_BASE.partition_point(|&base| usize::from(base) <= length) - 1
}

/// The distance code for a match distance.
pub fn distance_code(distance: usize) -> usize {
    debug_assert!((1..=MAX_DISTANCE).contains(&distance));
    DISTANCE_BASE.partition_point(|&base| usize::from(base) <= distance) - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_cover_every_length_and_distance_exactly_once() {
        for length in MIN_MATCH..=MAX_MATCH {
            let code = length_code(length);
            let base = usize::from(LENGTH_BASE[code]);
            assert!(length - base < 1 << LENGTH_EXTRA_BITS[code], "length {length}");
        }
        assert_eq!(length_code(258), 28);
        assert_eq!(length_code(257), 27);
        for distance in 1..=MAX_DISTANCE {
            let code = distance_code(distance);
            let base = usize::from(DISTANCE_BASE[code]);
            assert!(distance - base < 1 << DISTANCE_EXTRA_BITS[code], "distance {distance}");
        }
    }
}
