//! # Bits, least significant first
//!
//! DEFLATE is a stream of *bits*, not bytes, and the order they are packed
//! in is the first trap (RFC 1951 §3.1.1): bits fill each byte starting at
//! its least significant bit. A 3-bit value `101` followed by a 5-bit value
//! `00011` makes the single byte `00011_101`.
//!
//! The second trap is Huffman codes. Ordinary numbers (lengths, extra bits,
//! block headers) are packed least significant bit first, like everything
//! else. A Huffman *code*, though, is packed starting with its most
//! significant bit (§3.1.1: "Huffman codes are packed starting with the
//! most-significant bit of the code"). The writer below therefore takes
//! codes already bit-reversed (see `huffman.rs`), and the reader's decoder
//! reads them one bit at a time from the top.
//!
//! [`BitReader`] never reads past its slice: asking for more bits than are
//! left is a [`Truncated`] error, so a compressed message cut short cannot
//! make the inflater wander.
//!
//! Read next: `src/deflate/huffman.rs`, the codes these bits spell.

/// The input ended in the middle of something.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Truncated;

/// Reads bits least significant first from a byte slice.
#[derive(Debug)]
pub struct BitReader<'a> {
    input: &'a [u8],
    /// The next byte of `input` not yet moved into `bit_buffer`.
    next_byte: usize,
    /// Bits read from `input` and not yet consumed; the next bit is bit 0.
    bit_buffer: u64,
    bit_count: u32,
}

impl<'a> BitReader<'a> {
    pub fn new(input: &'a [u8]) -> BitReader<'a> {
        BitReader { input, next_byte: 0, bit_buffer: 0, bit_count: 0 }
    }

    /// Moves whole bytes into the buffer until it holds at least 57 bits or
    /// the input is used up.
    fn refill(&mut self) {
        while self.bit_count <= 56 {
            let Some(&byte) = self.input.get(self.next_byte) else { return };
            self.bit_buffer |= u64::from(byte) << self.bit_count;
            self.bit_count += 8;
            self.next_byte += 1;
        }
    }

    /// The next `count` bits (at most 32) without consuming them. Past the
    /// end of the input the missing bits read as zero;
    /// [`consume`](Self::consume) is what notices they were never there.
    pub fn peek(&mut self, count: u32) -> u32 {
        debug_assert!(count <= 32);
        if self.bit_count < count {
            self.refill();
        }
        (self.bit_buffer & ((1u64 << count) - 1)) as u32
    }

    /// Drops `count` bits that [`peek`](Self::peek) has shown.
    pub fn consume(&mut self, count: u32) -> Result<(), Truncated> {
        if count > self.bit_count {
            return Err(Truncated);
        }
        self.bit_buffer >>= count;
        self.bit_count -= count;
        Ok(())
    }

    /// Reads a `count`-bit number (at most 32), least significant bit first.
    pub fn read_bits(&mut self, count: u32) -> Result<u32, Truncated> {
        let value = self.peek(count);
        self.consume(count)?;
        Ok(value)
    }

    /// Skips to the next byte boundary (stored blocks start on one, §3.2.4).
    pub fn align_to_byte(&mut self) {
        let partial = self.bit_count % 8;
        self.bit_buffer >>= partial;
        self.bit_count -= partial;
    }

    /// Takes `length` whole bytes; the reader must be byte-aligned.
    pub fn read_bytes(&mut self, length: usize) -> Result<&'a [u8], Truncated> {
        debug_assert_eq!(self.bit_count % 8, 0);
        // Give back the whole bytes still sitting in the bit buffer.
        let start = self.next_byte - (self.bit_count / 8) as usize;
        self.bit_buffer = 0;
        self.bit_count = 0;
        let end = start.checked_add(length).filter(|&end| end <= self.input.len());
        let Some(end) = end else {
            self.next_byte = self.input.len();
            return Err(Truncated);
        };
        self.next_byte = end;
        Ok(&self.input[start..end])
    }

    /// Has every bit of the input been consumed, apart from the padding
    /// bits of the last byte?
    pub fn at_end(&self) -> bool {
        self.next_byte == self.input.len() && self.bit_count < 8
    }
}

/// Writes bits least significant first into a growing byte vector.
#[derive(Debug, Default)]
pub struct BitWriter {
    output: Vec<u8>,
    bit_buffer: u64,
    bit_count: u32,
}

impl BitWriter {
    pub fn new() -> BitWriter {
        BitWriter::default()
    }

    /// Appends the low `count` bits of `value` (at most 32).
    pub fn write_bits(&mut self, value: u32, count: u32) {
        debug_assert!(count <= 32 && u64::from(value) < (1u64 << count));
        self.bit_buffer |= u64::from(value) << self.bit_count;
        self.bit_count += count;
        while self.bit_count >= 8 {
            self.output.push(self.bit_buffer as u8);
            self.bit_buffer >>= 8;
            self.bit_count -= 8;
        }
    }

    /// Pads with zero bits to the next byte boundary.
    pub fn align_to_byte(&mut self) {
        if self.bit_count > 0 {
            self.write_bits(0, 8 - self.bit_count);
        }
    }

    /// Appends whole bytes; the writer must be byte-aligned.
    pub fn write_bytes(&mut self, bytes: &[u8]) {
        debug_assert_eq!(self.bit_count, 0);
        self.output.extend_from_slice(bytes);
    }

    /// How many bits have been written so far.
    pub fn bit_len(&self) -> usize {
        self.output.len() * 8 + self.bit_count as usize
    }

    /// The bytes, with the last one padded by zero bits.
    pub fn finish(mut self) -> Vec<u8> {
        self.align_to_byte();
        self.output
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_fill_bytes_from_the_bottom() {
        let mut writer = BitWriter::new();
        writer.write_bits(0b101, 3);
        writer.write_bits(0b00011, 5);
        writer.write_bits(0b1, 1);
        assert_eq!(writer.finish(), vec![0b0001_1101, 0b0000_0001]);

        let mut reader = BitReader::new(&[0b0001_1101, 0b0000_0001]);
        assert_eq!(reader.read_bits(3), Ok(0b101));
        assert_eq!(reader.read_bits(5), Ok(0b00011));
        assert_eq!(reader.read_bits(1), Ok(1));
        assert_eq!(reader.read_bits(7), Ok(0));
        assert_eq!(reader.read_bits(1), Err(Truncated));
    }

    #[test]
    fn bytes_after_alignment() {
        let mut reader = BitReader::new(&[0xFF, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        assert_eq!(reader.read_bits(3), Ok(0b111));
        reader.align_to_byte();
        assert_eq!(reader.read_bytes(4), Ok(&[1, 2, 3, 4][..]));
        assert_eq!(reader.read_bits(8), Ok(5));
        assert_eq!(reader.read_bytes(5), Ok(&[6, 7, 8, 9, 10][..]));
        assert!(reader.at_end());
        assert_eq!(reader.read_bytes(1), Err(Truncated));
    }
}
