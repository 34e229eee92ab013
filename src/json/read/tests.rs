//! Tests for the JSON reader: what it accepts, what it refuses and where,
//! and round trips through the writer in `src/json/write.rs`, so that what
//! the server writes is exactly what a client reads back.

use super::*;
use crate::json::write::{write_string, Object};

fn kind_of_error(text: &str) -> JsonErrorKind {
    match parse(text) {
        Err(error) => error.kind,
        Ok(value) => panic!("{text:?} was accepted as {value:?}"),
    }
}

fn string_of(json: &str) -> String {
    match parse(json) {
        Ok(JsonValue::String(text)) => text,
        other => panic!("{json:?} -> {other:?}"),
    }
}

fn quoted(text: &str) -> String {
    let mut out = String::new();
    write_string(&mut out, text);
    out
}

#[test]
fn every_kind_of_value() {
    let text = " {\"a\" : [1, -2.5e3, 0, -0.0, 1E+2, 3e-2], \"b\":{}, \"c\":[],\r\n\t\"d\":true,\
                \"e\":false, \"f\":null, \"g\":\"x\"} ";
    let value = parse(text).unwrap();
    let numbers: Vec<f64> = value
        .get("a")
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_number().unwrap())
        .collect();
    assert_eq!(numbers, [1.0, -2500.0, 0.0, 0.0, 100.0, 0.03]);
    assert_eq!(value.get("b"), Some(&JsonValue::Object(vec![])));
    assert_eq!(value.get("c"), Some(&JsonValue::Array(vec![])));
    assert_eq!(value.get("d"), Some(&JsonValue::Bool(true)));
    assert_eq!(value.get("e"), Some(&JsonValue::Bool(false)));
    assert_eq!(value.get("f"), Some(&JsonValue::Null));
    assert_eq!(value.get("g").and_then(JsonValue::as_str), Some("x"));
    assert_eq!(value.get("missing"), None);
    // Scalars are JSON texts too (RFC 8259 §2).
    assert_eq!(parse("7"), Ok(JsonValue::Number(7.0)));
    assert_eq!(parse(" \"s\" "), Ok(JsonValue::String("s".into())));
}

#[test]
fn duplicate_keys_are_kept_and_get_returns_the_first() {
    let value = parse(r#"{"k":1,"k":2}"#).unwrap();
    assert_eq!(value.get("k").and_then(JsonValue::as_u64), Some(1));
    assert!(matches!(value, JsonValue::Object(pairs) if pairs.len() == 2));
}

#[test]
fn whole_numbers_come_out_exact_up_to_two_to_the_53() {
    assert_eq!(parse("1700000000000").unwrap().as_u64(), Some(1_700_000_000_000));
    assert_eq!(parse("9007199254740992").unwrap().as_u64(), Some(1 << 53));
    assert_eq!(parse("9007199254740994").unwrap().as_u64(), None, "past 2^53");
    assert_eq!(parse("-1").unwrap().as_u64(), None);
    assert_eq!(parse("1.5").unwrap().as_u64(), None);
    assert_eq!(parse("\"1\"").unwrap().as_u64(), None);
}

#[test]
fn malformed_numbers_are_refused() {
    for text in ["01", "-01", "+1", ".5", "1.", "-", "1e", "1e+", "0x10", "NaN", "Infinity", "-.5"]
    {
        let kind = kind_of_error(text);
        assert!(
            matches!(
                kind,
                JsonErrorKind::BadNumber
                    | JsonErrorKind::Unexpected { .. }
                    | JsonErrorKind::TrailingCharacters
            ),
            "{text:?}: {kind:?}"
        );
    }
    assert_eq!(kind_of_error("1e400"), JsonErrorKind::NumberTooLarge);
    assert_eq!(kind_of_error("-1e400"), JsonErrorKind::NumberTooLarge);
    assert_eq!(parse("1e-400"), Ok(JsonValue::Number(0.0)), "underflow is just zero");
}

#[test]
fn escapes_decode() {
    assert_eq!(string_of(r#""\"\\\/\b\f\n\r\t""#), "\"\\/\u{8}\u{c}\n\r\t");
    assert_eq!(string_of(r#""\u00e9\u00E9\u0000""#), "éé\u{0}");
    assert_eq!(string_of(r#""\ud83d\ude00 \uD834\uDD1E""#), "😀 𝄞");
    assert_eq!(string_of(r#""\udbff\udfff""#), "\u{10FFFF}", "the last code point");
    assert_eq!(string_of(r#""\ud800\udc00""#), "\u{10000}", "the first astral one");
    assert_eq!(string_of("\"raw 😀 and \u{7f}\""), "raw 😀 and \u{7f}", "DEL may be raw");
}

#[test]
fn lone_surrogates_are_refused() {
    let cases = [
        (r#""\ud800""#, 0xD800),
        (r#""\udbff x""#, 0xDBFF),
        (r#""\ud800\u0041""#, 0xD800),
        (r#""\ud800\ud800""#, 0xD800),
        (r#""\udc00""#, 0xDC00),
        (r#""\ude00\ud83d""#, 0xDE00),
    ];
    for (text, unit) in cases {
        assert_eq!(kind_of_error(text), JsonErrorKind::LoneSurrogate(unit), "{text}");
    }
}

#[test]
fn bad_escapes_are_refused() {
    assert_eq!(kind_of_error(r#""\x41""#), JsonErrorKind::UnknownEscape('x'));
    assert_eq!(kind_of_error(r#""\'""#), JsonErrorKind::UnknownEscape('\''));
    assert_eq!(kind_of_error(r#""\U0041""#), JsonErrorKind::UnknownEscape('U'));
    assert_eq!(kind_of_error("\"\\é\""), JsonErrorKind::UnknownEscape('é'));
    for text in [r#""\u12""#, r#""\u+041""#, r#""\u 041""#, r#""\u00g0""#, r#""\u"#] {
        assert_eq!(kind_of_error(text), JsonErrorKind::BadUnicodeEscape, "{text}");
    }
    assert_eq!(kind_of_error(r#""\"#), JsonErrorKind::UnexpectedEnd);
}

#[test]
fn raw_control_characters_in_strings_are_refused_and_outside_them_too() {
    for byte in 0u8..0x20 {
        let text = format!("\"a{}b\"", char::from(byte));
        let error = parse(&text).unwrap_err();
        assert_eq!(error, JsonError { at: 2, kind: JsonErrorKind::ControlCharacter(byte) });
    }
    // Between values only four of them are whitespace.
    assert!(parse("[1,\u{b}2]").is_err());
    assert!(parse("\u{feff}{}").is_err(), "a byte order mark is not whitespace");
    assert!(parse("[1,\u{a0}2]").is_err(), "nor is a no-break space");
}

#[test]
fn trailing_garbage_is_refused() {
    for text in ["{} x", "1 2", "\"a\"\"b\"", "{}}", "[]]", "null,", "true false", "{}\0"] {
        assert_eq!(kind_of_error(text), JsonErrorKind::TrailingCharacters, "{text:?}");
    }
}

#[test]
fn near_misses_of_the_grammar_are_refused_with_a_position() {
    let cases = [
        ("", 0),
        ("   ", 3),
        ("[1,]", 3),
        ("[1 2]", 3),
        ("{\"a\":1,}", 7),
        ("{\"a\" 1}", 5),
        ("{a:1}", 1),
        ("{'a':1}", 1),
        ("['a']", 1),
        ("[1] // comment", 4),
        ("tru", 0),
        ("nul", 0),
        ("True", 0),
        ("\"open", 5),
        ("[1,[2,", 6),
        ("{\"a\":", 5),
    ];
    for (text, at) in cases {
        let error = parse(text).unwrap_err();
        assert_eq!(error.at, at, "{text:?}: {error}");
    }
    let error = parse("[1 2]").unwrap_err();
    assert_eq!(error.to_string(), "expected ',' or ']', found '2' at byte 3");
}

#[test]
fn nesting_is_capped_without_using_up_the_stack() {
    let nested = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    assert!(parse(&nested(DEFAULT_MAX_DEPTH)).is_ok());
    assert_eq!(kind_of_error(&nested(DEFAULT_MAX_DEPTH + 1)), JsonErrorKind::TooDeep(64));
    // A million levels would overflow the stack if nothing stopped them.
    assert_eq!(kind_of_error(&"[".repeat(1_000_000)), JsonErrorKind::TooDeep(64));
    let objects = "{\"a\":".repeat(3) + "1" + &"}".repeat(3);
    assert!(parse_with_max_depth(&objects, 3).is_ok());
    let error = parse_with_max_depth(&objects, 2).unwrap_err();
    assert_eq!(error, JsonError { at: 10, kind: JsonErrorKind::TooDeep(2) });
    assert_eq!(parse_with_max_depth("[]", 0).unwrap_err().kind, JsonErrorKind::TooDeep(0));
    assert_eq!(parse_with_max_depth("1", 0), Ok(JsonValue::Number(1.0)));
}

#[test]
fn every_ascii_character_round_trips_through_the_writer() {
    for code in 0u8..=0x7f {
        let text = format!("<{}>", char::from(code));
        assert_eq!(string_of(&quoted(&text)), text, "U+{code:04X}");
    }
    let all: String = (0u8..=0x7f).map(char::from).collect();
    assert_eq!(string_of(&quoted(&all)), all);
}

#[test]
fn tricky_unicode_round_trips_through_the_writer() {
    let tricky = [
        "",
        "emoji 😀, a family 👨‍👩‍👧, a flag 🇫🇷, a clef 𝄞",
        "e\u{301} vs \u{e9}, bom \u{feff}, zwj \u{200d}, rtl \u{202e}override",
        "separators \u{2028} and \u{2029}, C1 \u{85} \u{9b}",
        "edges \u{7ff} \u{800} \u{fffd} \u{ffff} \u{10000} \u{10ffff}",
        "looks escaped: \\u0041 \\ud83d\\ude00 \\\" \\n",
        "\"},\"from\":\"admin",
    ];
    for text in tricky {
        assert_eq!(string_of(&quoted(text)), text);
        let object = Object::new().string("text", text).finish();
        assert_eq!(parse(&object).unwrap().get("text").and_then(JsonValue::as_str), Some(text));
    }
}
