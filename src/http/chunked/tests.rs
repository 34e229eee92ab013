//! The chunked decoder on plain bytes: one test per rule of RFC 9112 §7.1.

use super::*;
use crate::http::Status;

/// Decodes `wire` under `max_body`, returning the body and what was left
/// unread after it.
fn decode_with(wire: &[u8], max_body: usize) -> Result<(Vec<u8>, Vec<u8>), HttpError> {
    let mut reader = wire;
    let mut body = Vec::new();
    let count = decode_chunked(&mut reader, &mut body, max_body, &Limits::default())?;
    assert_eq!(count, body.len() as u64, "the count is the data's length");
    Ok((body, reader.to_vec()))
}

fn decode(wire: &[u8]) -> Result<Vec<u8>, HttpError> {
    decode_with(wire, 1024).map(|(body, _)| body)
}

fn status_of(wire: &[u8]) -> Option<u16> {
    decode(wire).err().and_then(|error| error.status()).map(Status::code)
}

fn assert_refused(wire: &[u8], status: u16) {
    assert_eq!(status_of(wire), Some(status), "{:?}", String::from_utf8_lossy(wire));
}

#[test]
fn decodes_chunks_and_stops_exactly_at_the_end() {
    let wire = b"5\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n\r\nGET / HTTP/1.1\r\n";
    let (body, rest) = decode_with(wire, 1024).unwrap();
    assert_eq!(body, b"helloabcdefghijklmnopqrstuvwxyz");
    assert_eq!(rest, b"GET / HTTP/1.1\r\n");
    assert_eq!(decode(b"0\r\n\r\n").unwrap(), b"");
}

#[test]
fn chunk_data_may_hold_any_bytes() {
    // CRLF, "0" and NUL inside the data are data: the size says how much.
    assert_eq!(decode(b"7\r\n\r\n0\r\n\0\r\r\n0\r\n\r\n").unwrap(), b"\r\n0\r\n\0\r");
}

#[test]
fn sizes_are_hex_in_either_case_with_leading_zeros() {
    let body = vec![b'x'; 0xab];
    for size in ["ab", "AB", "aB", "00000ab"] {
        let mut wire = format!("{size}\r\n").into_bytes();
        wire.extend_from_slice(&body);
        wire.extend_from_slice(b"\r\n000\r\n\r\n");
        assert_eq!(decode(&wire).unwrap(), body, "{size}");
    }
}

#[test]
fn sizes_that_are_not_one_or_more_hex_digits_are_400() {
    for line in ["", " 5", "5 ", "+5", "-5", "0x5", "5_0", "g", "5\t", "\t5", ",5", "5,"] {
        assert_refused(format!("{line}\r\nhello\r\n0\r\n\r\n").as_bytes(), 400);
    }
}

#[test]
fn a_size_that_overflows_is_400_and_one_over_the_limit_is_413() {
    // 17 hex digits do not fit in 64 bits; wrapping would make this 0x1.
    assert_refused(b"10000000000000001\r\nx\r\n0\r\n\r\n", 400);
    assert_refused(b"ffffffffffffffff\r\n", 413);
    // The limit is on the whole body: 600 + 600 > 1024, so the second size
    // is refused before a byte of its data is read.
    let mut wire = b"258\r\n".to_vec();
    wire.extend_from_slice(&[b'a'; 0x258]);
    wire.extend_from_slice(b"\r\n258\r\n");
    assert!(matches!(decode(&wire), Err(HttpError::BodyTooLarge)));
    // Exactly at the limit is fine.
    let mut wire = b"400\r\n".to_vec();
    wire.extend_from_slice(&[b'a'; 1024]);
    wire.extend_from_slice(b"\r\n0\r\n\r\n");
    assert_eq!(decode(&wire).unwrap().len(), 1024);
}

#[test]
fn extensions_are_checked_then_ignored() {
    for line in [
        "5;a",
        "5;a=b",
        "5;a=b;c",
        "5;name=\"quoted value\"",
        "5;a=\"esc\\\"aped\\\\\"",
        "5 ;a",
        "5\t;\ta\t=\tb",
        "5;a = b ;c",
        "5;a=\"\"",
        "5;!#$%&'*+-.^_`|~=x",
        "5;a=\"caf\u{e9}\"",
    ] {
        let wire = format!("{line}\r\nhello\r\n0;last\r\n\r\n");
        assert_eq!(decode(wire.as_bytes()).unwrap(), b"hello", "{line:?}");
    }
}

#[test]
fn malformed_extensions_are_400() {
    for line in [
        &b"5;"[..],
        b"5;;a",
        b"5; ",
        b"5;=b",
        b"5;a=",
        b"5;a=b c",
        b"5;a b",
        b"5;a ",
        b"5;a=\"open",
        b"5;a=\"bad\\",
        b"5;a=\"nul\0\"",
        b"5;a=b\0",
        b"5;a\x7f",
        b"5;a=(b)",
        b"5;a,b",
        b"5x",
    ] {
        let mut wire = line.to_vec();
        wire.extend_from_slice(b"\r\nhello\r\n0\r\n\r\n");
        assert_refused(&wire, 400);
    }
}

#[test]
fn extensions_are_bounded_across_the_whole_body() {
    let extension = format!(";a={}", "v".repeat(1000));
    // Four lines of ~1 KiB fit the 4 KiB budget; a fifth does not.
    let chunks = |count: usize| format!("1{extension}\r\nx\r\n").repeat(count) + "0\r\n\r\n";
    assert_eq!(decode(chunks(4).as_bytes()).unwrap(), b"xxxx");
    assert_refused(chunks(5).as_bytes(), 400);
    // A single line that never ends costs at most the budget.
    let endless = format!("1;a={}", "v".repeat(100_000));
    assert_refused(endless.as_bytes(), 400);
}

#[test]
fn every_line_ends_in_crlf_and_data_in_exactly_crlf() {
    for wire in [
        &b"5\nhello\r\n0\r\n\r\n"[..],    // bare LF after the size
        b"5\r\nhello\n0\r\n\r\n",         // bare LF after the data
        b"5\r\nhello\r\n0\n\r\n",         // bare LF after the last chunk
        b"5\r\nhello\r\n0\r\n\n",         // bare LF ending the trailers
        b"5\r\nhello\r\n0\r\nA: b\n\r\n", // bare LF after a trailer
        b"5\rhello\r\n0\r\n\r\n",         // bare CR
        b"5\r\nhelloX\r\n0\r\n\r\n",      // data longer than its size
        b"5\r\nhell\r\n0\r\n\r\n",        // data shorter than its size
        b"5\r\nhello0\r\n\r\n",           // no CRLF after the data
        b"5\r\nhello\r\r\n0\r\n\r\n",
    ] {
        assert_refused(wire, 400);
    }
}

#[test]
fn trailers_are_read_with_header_rules_then_dropped() {
    let wire = b"5\r\nhello\r\n0\r\nContent-Length: 99\r\nTransfer-Encoding: gzip\r\nHost: evil\r\n\r\nNEXT";
    let (body, rest) = decode_with(wire, 1024).unwrap();
    assert_eq!(body, b"hello");
    assert_eq!(rest, b"NEXT");
    for trailer in [&b"No colon"[..], b"Bad : space", b" folded", b"A: nul\0"] {
        let mut wire = b"0\r\n".to_vec();
        wire.extend_from_slice(trailer);
        wire.extend_from_slice(b"\r\n\r\n");
        assert_refused(&wire, 400);
    }
}

#[test]
fn trailers_share_the_head_limits() {
    let limits = Limits { max_header_bytes: 20, max_headers: 2, ..Limits::default() };
    let decode = |wire: &[u8]| decode_chunked(&mut &wire[..], &mut io::sink(), 100, &limits);
    assert!(decode(b"0\r\nA: 1\r\nB: 2\r\n\r\n").is_ok());
    assert!(matches!(decode(b"0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"), Err(HttpError::TooManyHeaders)));
    let big = format!("0\r\nA: {}\r\n\r\n", "v".repeat(30));
    assert!(matches!(decode(big.as_bytes()), Err(HttpError::HeadersTooLarge)));
}

#[test]
fn a_body_cut_short_is_an_unexpected_end() {
    for wire in
        [&b""[..], b"5", b"5\r\nhel", b"5\r\nhello", b"5\r\nhello\r", b"0\r\n", b"0\r\nA: b\r\n"]
    {
        match decode(wire) {
            Err(HttpError::Io(error)) => {
                assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof, "{wire:?}")
            }
            other => panic!("{wire:?}: expected UnexpectedEof, got {other:?}"),
        }
    }
}

#[test]
fn parse_chunk_line_reports_size_and_extension_bytes() {
    assert_eq!(parse_chunk_line(b"1f").unwrap(), ChunkLine { size: 31, extension_bytes: 0 });
    assert_eq!(parse_chunk_line(b"0;a=b").unwrap(), ChunkLine { size: 0, extension_bytes: 4 });
    assert_eq!(
        parse_chunk_line(b"ffffffffffffffff").unwrap(),
        ChunkLine { size: u64::MAX, extension_bytes: 0 }
    );
}
