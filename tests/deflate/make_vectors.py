#!/usr/bin/env python3
"""Produces the zlib interop vectors in this folder (run once; output committed).

    python3 tests/deflate/make_vectors.py

Each input (NAME.in, or made by a generator the test repeats) is compressed by the real zlib (Python's zlib module) into
raw DEFLATE (negative wbits: no zlib header or checksum), in several ways:
NAME.VARIANT.deflate. tests/deflate.rs inflates every one and compares.
"""
import pathlib
import zlib

HERE = pathlib.Path(__file__).resolve().parent


def pseudo_random(count, seed, modulo, offset):
    """The same generator as `Lcg` in tests/deflate.rs."""
    state = seed
    out = bytearray()
    for _ in range(count):
        state = (state * 6364136223846793005 + 1442695040888963407) % (1 << 64)
        out.append(offset + (state >> 33) % modulo)
    return bytes(out)


INPUTS = {
    "hello": b"Hello",
    "chat": b'{"type":"message","from":"ada","text":"shall we meet at the usual place?"}',
    "chapter": (HERE.parent.parent / "docs" / "03-handshake.md").read_bytes(),
    "skewed": pseudo_random(20_000, 7, 16, ord("a")),
    "noise": pseudo_random(10_000, 11, 256, 0),
    "run": b"a" * 20_000,
    "empty": b"",
}

# name: (level, wbits, strategy, flush)
VARIANTS = {
    "default": (6, -15, zlib.Z_DEFAULT_STRATEGY, zlib.Z_SYNC_FLUSH),
    "best": (9, -15, zlib.Z_DEFAULT_STRATEGY, zlib.Z_FINISH),
    "fixed": (6, -15, zlib.Z_FIXED, zlib.Z_SYNC_FLUSH),
    "huffman": (6, -15, zlib.Z_HUFFMAN_ONLY, zlib.Z_FINISH),
    "rle": (6, -15, zlib.Z_RLE, zlib.Z_SYNC_FLUSH),
    "stored": (0, -15, zlib.Z_DEFAULT_STRATEGY, zlib.Z_FINISH),
    "window9": (6, -9, zlib.Z_DEFAULT_STRATEGY, zlib.Z_SYNC_FLUSH),
}

# Inputs the test can make itself are not stored.
GENERATED = {"skewed", "noise", "run", "empty"}

for name, data in INPUTS.items():
    if name not in GENERATED:
        (HERE / f"{name}.in").write_bytes(data)
    for variant, (level, wbits, strategy, flush) in VARIANTS.items():
        compressor = zlib.compressobj(level, zlib.DEFLATED, wbits, 9, strategy)
        out = compressor.compress(data) + compressor.flush(flush)
        assert zlib.decompressobj(wbits).decompress(out) == data
        (HERE / f"{name}.{variant}.deflate").write_bytes(out)
print("zlib", zlib.ZLIB_VERSION)
