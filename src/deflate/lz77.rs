//! # LZ77: saying "as before" instead of repeating
//!
//! The first half of DEFLATE. Walking through the input, at each position
//! look for the longest earlier occurrence of what comes next, within the
//! *window* (at most 32 KiB back, RFC 1951 §2). Found one of 3 bytes or
//! more? Emit a *match* `(length, distance)`; otherwise emit the byte as a
//! *literal*. `"abcabcabc"` becomes `a b c (6, 3)`: the match overlaps
//! itself, which is allowed and is how runs compress.
//!
//! Finding the longest earlier occurrence by scanning the window would cost
//! 32 K comparisons per byte. The classic trick (RFC 1951 §4, and zlib) is
//! a *hash chain*: hash the next 3 bytes; `head[hash]` holds the latest
//! position with that hash, and `previous[position]` the one before it.
//! Walking a chain visits only positions that probably start the same way,
//! newest (nearest) first. The walk is cut short after `CHAIN_LIMIT`
//! candidates, or at a match long enough: speed bought with a little ratio.
//!
//! The window is a parameter. RFC 7692 lets a client ask the server to
//! keep its window to `2^server_max_window_bits` bytes (8 to 15 bits, 256
//! bytes to 32 KiB), so the peer needs only that much memory to inflate.
//! Because this code chooses every distance itself, honouring any window
//! is one comparison: no candidate farther back than the window is used.
//!
//! Read next: `src/deflate/compress.rs`, which turns these tokens into bits.

use super::tables::{MAX_DISTANCE, MAX_MATCH, MIN_MATCH};

/// What LZ77 says about the next bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Token {
    Literal(u8),
    /// Copy `length` (3..=258) bytes from `distance` (1..=32768) back.
    Match {
        length: u16,
        distance: u16,
    },
}

impl Token {
    /// How many input bytes the token stands for.
    pub fn input_len(self) -> usize {
        match self {
            Token::Literal(_) => 1,
            Token::Match { length, .. } => usize::from(length),
        }
    }
}

/// How many chain links to follow before settling for the best so far.
const CHAIN_LIMIT: usize = 48;

/// A match this long is taken without looking further.
const GOOD_ENOUGH: usize = 128;

/// A 3-byte match farther back than this costs about as many bits as
/// three literals (a far distance needs up to 13 extra bits), so it is not
/// worth taking. zlib calls the same limit `TOO_FAR`.
const SHORT_MATCH_MAX_DISTANCE: usize = 4096;

/// Marks an empty slot in `head` and `previous`.
const NONE: usize = usize::MAX;

/// Splits an input into tokens, as an iterator.
pub struct Matcher<'a> {
    input: &'a [u8],
    position: usize,
    max_distance: usize,
    hash_bits: u32,
    /// Latest position for each hash.
    head: Vec<usize>,
    /// The position before, with the same hash; a ring indexed by
    /// `position & ring_mask`, as big as the window (or the input).
    previous: Vec<usize>,
    ring_mask: usize,
}

impl<'a> Matcher<'a> {
    /// A matcher whose matches reach at most `2^window_bits` bytes back
    /// (`window_bits` is clamped to RFC 7692's 8..=15).
    pub fn new(input: &'a [u8], window_bits: u8) -> Matcher<'a> {
        let max_distance = (1usize << window_bits.clamp(8, 15)).min(MAX_DISTANCE);
        // Tables sized to the input: a 100-byte chat message should not
        // pay for 32 K slots.
        let input_bits = input.len().max(1).next_power_of_two().trailing_zeros();
        let hash_bits = input_bits.clamp(8, 15);
        let ring_len = max_distance.min(input.len().max(1).next_power_of_two());
        Matcher {
            input,
            position: 0,
            max_distance,
            hash_bits,
            head: vec![NONE; 1 << hash_bits],
            previous: vec![NONE; ring_len],
            ring_mask: ring_len - 1,
        }
    }

    /// The input position of the next token.
    pub fn position(&self) -> usize {
        self.position
    }

    fn hash(&self, position: usize) -> usize {
        let bytes = &self.input[position..position + MIN_MATCH];
        let key = u32::from(bytes[0]) << 16 | u32::from(bytes[1]) << 8 | u32::from(bytes[2]);
        // Multiplicative hashing: the top bits of the product mix all three bytes.
        (key.wrapping_mul(0x9E37_79B1) >> (32 - self.hash_bits)) as usize
    }

    /// Records `position` at the front of its hash chain.
    fn insert(&mut self, position: usize) {
        if position + MIN_MATCH > self.input.len() {
            return;
        }
        let hash = self.hash(position);
        self.previous[position & self.ring_mask] = self.head[hash];
        self.head[hash] = position;
    }

    /// The longest match for the current position: `(length, distance)`.
    fn longest_match(&self) -> Option<(usize, usize)> {
        let position = self.position;
        let limit = (self.input.len() - position).min(MAX_MATCH);
        if limit < MIN_MATCH {
            return None;
        }
        let ahead = &self.input[position..position + limit];
        let mut best: Option<(usize, usize)> = None;
        let mut best_len = MIN_MATCH - 1;
        let mut candidate = self.head[self.hash(position)];
        for _ in 0..CHAIN_LIMIT {
            // A chain ends at an empty slot, past the window, or at a ring
            // slot already reused by a newer position.
            if candidate == NONE
                || candidate >= position
                || position - candidate > self.max_distance
            {
                break;
            }
            let earlier = &self.input[candidate..];
            // Cheap rejection first: a longer match must agree at best_len.
            if earlier[best_len] == ahead[best_len] {
                let length = ahead.iter().zip(earlier).take_while(|(a, b)| a == b).count();
                if length > best_len {
                    best_len = length;
                    best = Some((length, position - candidate));
                    if length >= limit.min(GOOD_ENOUGH) {
                        break;
                    }
                }
            }
            let next = self.previous[candidate & self.ring_mask];
            if next != NONE && next >= candidate {
                break; // overwritten by a newer position: the chain is gone
            }
            candidate = next;
        }
        best.filter(|&(length, distance)| {
            length > MIN_MATCH || distance <= SHORT_MATCH_MAX_DISTANCE
        })
    }
}

impl Iterator for Matcher<'_> {
    type Item = Token;

    fn next(&mut self) -> Option<Token> {
        let position = self.position;
        let &byte = self.input.get(position)?;
        let found = self.longest_match();
        self.insert(position);
        match found {
            Some((length, distance)) => {
                // Every position inside the match joins its chain too, so
                // later text can match into it.
                for inside in position + 1..position + length {
                    self.insert(inside);
                }
                self.position += length;
                Some(Token::Match { length: length as u16, distance: distance as u16 })
            }
            None => {
                self.position += 1;
                Some(Token::Literal(byte))
            }
        }
    }
}

/// Replays tokens into bytes: the definition of what they mean.
#[cfg(test)]
pub fn replay(tokens: &[Token]) -> Vec<u8> {
    let mut output = Vec::new();
    for &token in tokens {
        match token {
            Token::Literal(byte) => output.push(byte),
            Token::Match { length, distance } => {
                for _ in 0..length {
                    output.push(output[output.len() - usize::from(distance)]);
                }
            }
        }
    }
    output
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeat_becomes_a_self_overlapping_match() {
        let tokens: Vec<Token> = Matcher::new(b"abcabcabcabc", 15).collect();
        assert_eq!(
            tokens,
            vec![
                Token::Literal(b'a'),
                Token::Literal(b'b'),
                Token::Literal(b'c'),
                Token::Match { length: 9, distance: 3 },
            ]
        );
    }

    #[test]
    fn matches_never_reach_past_the_window() {
        // 300 pseudo-random bytes, twice: the repeat is 300 bytes back,
        // beyond a 256-byte window, so with 8 bits it cannot be used.
        let mut state = 0x2545_F491u32;
        let pattern: Vec<u8> = (0..300)
            .map(|_| {
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
                (state >> 24) as u8
            })
            .collect();
        let input = [pattern.clone(), pattern].concat();
        for window_bits in 8..=15u8 {
            let tokens: Vec<Token> = Matcher::new(&input, window_bits).collect();
            assert_eq!(replay(&tokens), input);
            for token in &tokens {
                if let Token::Match { distance, .. } = token {
                    assert!(usize::from(*distance) <= 1 << window_bits);
                }
            }
            let matched = tokens.iter().any(|t| matches!(t, Token::Match { .. }));
            assert_eq!(matched, window_bits >= 9, "window {window_bits}");
        }
    }
}
