//! The hand-written DEFLATE (src/deflate/) on plain bytes: what the real
//! zlib produced (vectors made once by tests/deflate/make_vectors.py and
//! committed), round trips of random and adversarial inputs at every
//! window size, and the bomb.
#![cfg(feature = "deflate")]

use std::path::PathBuf;

use duplex::deflate::bits::BitWriter;
use duplex::deflate::huffman::Encoder;
use duplex::deflate::{compress, inflate, inflate_within_window, InflateError};

/// A 64-bit linear congruential generator (Knuth's MMIX constants); the
/// same one as `pseudo_random` in make_vectors.py.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    fn bytes(&mut self, count: usize, modulo: u64, offset: u8) -> Vec<u8> {
        (0..count).map(|_| offset + (self.next() % modulo) as u8).collect()
    }
}

fn vector_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/deflate")
}

/// The inputs of make_vectors.py.
fn zlib_inputs() -> Vec<(&'static str, Vec<u8>)> {
    let stored = |name: &str| std::fs::read(vector_dir().join(format!("{name}.in"))).unwrap();
    vec![
        ("hello", stored("hello")),
        ("chat", stored("chat")),
        ("chapter", stored("chapter")),
        ("skewed", Lcg(7).bytes(20_000, 16, b'a')),
        ("noise", Lcg(11).bytes(10_000, 256, 0)),
        ("run", vec![b'a'; 20_000]),
        ("empty", Vec::new()),
    ]
}

const VARIANTS: [&str; 7] = ["default", "best", "fixed", "huffman", "rle", "stored", "window9"];

#[test]
fn inflates_what_zlib_produced() {
    let mut checked = 0;
    for (name, input) in zlib_inputs() {
        for variant in VARIANTS {
            let path = vector_dir().join(format!("{name}.{variant}.deflate"));
            let compressed = std::fs::read(&path).unwrap();
            let inflated = inflate(&compressed, input.len());
            assert_eq!(inflated.as_deref(), Ok(&input[..]), "{}", path.display());
            if !input.is_empty() {
                let limit = input.len() - 1;
                assert_eq!(
                    inflate(&compressed, limit),
                    Err(InflateError::TooLarge { limit }),
                    "{}",
                    path.display()
                );
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 49);
}

#[test]
fn zlib_vectors_cover_every_block_type() {
    // The first block's BTYPE (bits 1-2): stored, fixed and dynamic all occur.
    let mut seen = [false; 3];
    for (name, _) in zlib_inputs() {
        for variant in VARIANTS {
            let path = vector_dir().join(format!("{name}.{variant}.deflate"));
            let first = std::fs::read(&path).unwrap()[0];
            seen[usize::from((first >> 1) & 0b11).min(2)] = true;
        }
    }
    assert_eq!(seen, [true, true, true]);
}

/// Compresses at every window size, checks the window was kept, and
/// inflates back.
fn round_trip(input: &[u8]) {
    for window_bits in 8..=15u8 {
        let compressed = compress(input, window_bits);
        assert!(compressed.ends_with(&[0x00, 0x00, 0xff, 0xff]));
        let inflated = inflate_within_window(&compressed, input.len(), window_bits);
        assert_eq!(inflated.as_deref(), Ok(input), "{} bytes, window {window_bits}", input.len());
        // Stored blocks bound the growth of incompressible data: 5 bytes
        // per block of at most 16 K tokens, plus the flush.
        let blocks = input.len() / (16 * 1024) + 1;
        assert!(compressed.len() <= input.len() + 5 * blocks + 6, "{} bytes", input.len());
    }
}

#[test]
fn round_trips_random_inputs() {
    let mut random = Lcg(42);
    for _ in 0..60 {
        let length = (random.next() % 5000) as usize;
        let modulo = [2, 4, 16, 64, 256][(random.next() % 5) as usize];
        let input = random.bytes(length, modulo, 0);
        round_trip(&input);
    }
}

#[test]
fn round_trips_adversarial_inputs() {
    let mut random = Lcg(9);
    let block = random.bytes(40_000, 256, 0);
    let mut cases: Vec<Vec<u8>> = vec![
        Vec::new(),
        vec![0],
        vec![0; 3],
        vec![0xFF; 100_000],
        (0..100_000u32).map(|i| (i % 2) as u8).collect(),
        // Periods around the longest match.
        (0..20_000u32).map(|i| (i % 258) as u8).collect(),
        (0..20_000u32).map(|i| (i % 259) as u8).collect(),
        // A repeat exactly 32 KiB back, and just beyond.
        [&block[..32 * 1024], &block[..1000]].concat(),
        [&block[..32 * 1024 + 1], &block[..1000]].concat(),
    ];
    // Noise around the stored block size.
    for length in [65_534, 65_535, 65_536, 65_537, 140_000] {
        cases.push(random.bytes(length, 256, 0));
    }
    // Text that compresses well, cut at every length up to 300.
    let text = std::fs::read(vector_dir().join("chapter.in")).unwrap();
    for length in 0..300 {
        cases.push(text[..length].to_vec());
    }
    cases.push(text);
    for input in &cases {
        round_trip(input);
    }
}

#[test]
fn compression_actually_compresses() {
    let text = std::fs::read(vector_dir().join("chapter.in")).unwrap();
    let ours = compress(&text, 15).len();
    let zlib_default = std::fs::read(vector_dir().join("chapter.default.deflate")).unwrap().len();
    // Greedy matching with short chains is a little worse than zlib's lazy
    // matching, but not by much.
    assert!(ours < text.len() / 2, "{ours} of {}", text.len());
    assert!(ours < zlib_default * 5 / 4, "ours {ours}, zlib {zlib_default}");
}

/// A dynamic block whose code spends one bit on "length 258" and one on
/// "distance 1": every two bits inflate to 258 bytes. Built by hand with
/// the crate's own bit writer.
fn bomb(matches: usize) -> Vec<u8> {
    let mut writer = BitWriter::new();
    writer.write_bits(0b101, 3); // BFINAL=1, BTYPE=10
                                 // Literal/length lengths: 0 -> 2 bits, 256 -> 2 bits, 285 -> 1 bit;
                                 // distances: codes 0 and 1, 1 bit each.
    let mut literal_lengths = vec![0u8; 286];
    literal_lengths[0] = 2;
    literal_lengths[256] = 2;
    literal_lengths[285] = 1;
    let distance_lengths = [1u8, 1];
    writer.write_bits(286 - 257, 5);
    writer.write_bits(2 - 1, 5);
    writer.write_bits(19 - 4, 4);
    // Code-length code: symbols 0, 1, 2 and 18 used, 2 bits each, sent in
    // the order 16 17 18 0 8 7 9 6 10 5 11 4 12 3 13 2 14 1 15.
    let code_length_lengths = [0, 0, 2, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 2, 0];
    for length in code_length_lengths {
        writer.write_bits(length, 3);
    }
    let mut code_lengths = [0u8; 19];
    for symbol in [0, 1, 2, 18] {
        code_lengths[symbol] = 2;
    }
    let code_lengths = Encoder::new(&code_lengths);
    let all: Vec<u8> = [&literal_lengths[..], &distance_lengths].concat();
    let mut index = 0;
    while index < all.len() {
        let zeros = all[index..].iter().take_while(|&&l| l == 0).count().min(138);
        if zeros >= 11 {
            code_lengths.write(&mut writer, 18);
            writer.write_bits((zeros - 11) as u32, 7);
            index += zeros;
        } else {
            code_lengths.write(&mut writer, usize::from(all[index]));
            index += 1;
        }
    }
    let literals = Encoder::new(&literal_lengths);
    let distances = Encoder::new(&distance_lengths);
    literals.write(&mut writer, 0);
    for _ in 0..matches {
        literals.write(&mut writer, 285); // length 258, no extra bits
        distances.write(&mut writer, 0); // distance 1, no extra bits
    }
    literals.write(&mut writer, 256);
    writer.finish()
}

#[test]
fn the_bomb_is_stopped_at_the_limit() {
    let small = bomb(10);
    assert_eq!(inflate(&small, 1 + 2580), Ok(vec![0; 1 + 2580]));
    // About 1 MiB of input that would inflate to about 1 GiB.
    let big = bomb(4 * 1024 * 1024);
    assert!(big.len() > 1 << 20 && big.len() < (1 << 20) + 100, "{}", big.len());
    let limit = 16 << 20;
    assert_eq!(inflate(&big, limit), Err(InflateError::TooLarge { limit }));
}

#[test]
fn broken_input_never_panics_and_never_exceeds_the_limit() {
    let mut random = Lcg(2024);
    let good = compress(&std::fs::read(vector_dir().join("chapter.in")).unwrap(), 15);
    for round in 0..3000 {
        let mut input = if round % 2 == 0 {
            let length = (random.next() % 200) as usize;
            random.bytes(length, 256, 0)
        } else {
            // A valid stream with a few bytes flipped, or cut short.
            let mut copy = good.clone();
            for _ in 0..1 + random.next() % 4 {
                let at = (random.next() as usize) % copy.len();
                copy[at] ^= 1 << (random.next() % 8);
            }
            copy
        };
        if round % 7 == 0 {
            let keep = (random.next() as usize) % (input.len() + 1);
            input.truncate(keep);
        }
        if let Ok(output) = inflate(&input, 4096) {
            assert!(output.len() <= 4096);
        }
    }
    // Every prefix of a valid stream: an error, or (at a block boundary) a
    // prefix of the text.
    let text = std::fs::read(vector_dir().join("chapter.in")).unwrap();
    for cut in 0..good.len() {
        if let Ok(output) = inflate(&good[..cut], text.len()) {
            assert!(text.starts_with(&output), "cut at {cut}");
        }
    }
}
