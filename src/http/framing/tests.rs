//! Framing rules on plain bytes: which head means which body, and which
//! heads are refused (RFC 9112 §6, RFC 9110 §5.6.1).

use super::*;
use crate::http::{read_request, Status};

fn head(version: &str, fields: &[&str]) -> Vec<u8> {
    let mut text = format!("POST /x {version}\r\nHost: t\r\n");
    for field in fields {
        text += field;
        text += "\r\n";
    }
    text += "\r\n";
    text.into_bytes()
}

fn framing(fields: &[&str]) -> Result<BodyFraming, HttpError> {
    framing_in("HTTP/1.1", fields)
}

fn framing_in(version: &str, fields: &[&str]) -> Result<BodyFraming, HttpError> {
    let bytes = head(version, fields);
    read_request(&mut &bytes[..], &Limits::default())
        .map(|request| request.expect("not EOF").body_framing().expect("checked already"))
}

fn status(fields: &[&str]) -> Option<u16> {
    framing(fields).err().and_then(|error| error.status()).map(Status::code)
}

#[test]
fn content_length_rules() {
    assert_eq!(framing(&[]).unwrap(), BodyFraming::Length(0));
    assert_eq!(framing(&["Content-Length: 42"]).unwrap(), BodyFraming::Length(42));
    assert_eq!(
        framing(&["Content-Length: 42, 42", "content-length: 42"]).unwrap(),
        BodyFraming::Length(42)
    );
    for bad in ["+5", "-1", "", "0x10", "5 5", "1,2", "99999999999999999999999", "4.0", "5,"] {
        let field = format!("Content-Length: {bad}");
        assert!(matches!(framing(&[&field]), Err(HttpError::BadContentLength)), "{bad:?}");
    }
    assert!(matches!(
        framing(&["Content-Length: 1", "Content-Length: 2"]),
        Err(HttpError::BadContentLength)
    ));
}

#[test]
fn chunked_final_is_chunked_in_any_case_and_list_form() {
    for fields in [
        &["Transfer-Encoding: chunked"][..],
        &["Transfer-Encoding: Chunked"],
        &["transfer-encoding: CHUNKED"],
        &["Transfer-Encoding:\tchunked\t"],
        // Empty list elements are ignored (RFC 9110 §5.6.1.2, a MUST).
        &["Transfer-Encoding: , chunked"],
        &["Transfer-Encoding: chunked,"],
        &["Transfer-Encoding: ,,chunked, ,"],
        &["Transfer-Encoding:", "Transfer-Encoding: chunked"],
    ] {
        assert_eq!(framing(fields).unwrap(), BodyFraming::Chunked, "{fields:?}");
    }
}

#[test]
fn chunked_not_final_or_twice_or_empty_is_400() {
    for fields in [
        &["Transfer-Encoding: chunked, gzip"][..],
        &["Transfer-Encoding: chunked", "Transfer-Encoding: gzip"],
        &["Transfer-Encoding: chunked, chunked"],
        &["Transfer-Encoding: chunked", "Transfer-Encoding: chunked"],
        &["Transfer-Encoding: gzip"],
        &["Transfer-Encoding: identity"],
        &["Transfer-Encoding:"],
        &["Transfer-Encoding: ,"],
        &["Transfer-Encoding: chunked;x=1"],
        // TE.TE obfuscations: a near-miss is not chunked.
        &["Transfer-Encoding: xchunked"],
        &["Transfer-Encoding: chunked-false"],
        &["Transfer-Encoding: \"chunked\""],
        &["Transfer-Encoding: chunk"],
        &["Transfer-Encoding: chunked x"],
        &["Transfer-Encoding: chunked\x0b"],
    ] {
        assert_eq!(status(fields), Some(400), "{fields:?}");
    }
}

#[test]
fn another_coding_before_chunked_is_501() {
    for fields in [
        &["Transfer-Encoding: gzip, chunked"][..],
        &["Transfer-Encoding: gzip", "Transfer-Encoding: chunked"],
        &["Transfer-Encoding: gzip;level=1, chunked"],
        &["Transfer-Encoding: x-custom, deflate, chunked"],
    ] {
        assert!(
            matches!(framing(fields), Err(HttpError::UnsupportedTransferEncoding)),
            "{fields:?}"
        );
        assert_eq!(status(fields), Some(501));
    }
}

#[test]
fn transfer_encoding_with_content_length_is_400() {
    for fields in [
        &["Content-Length: 5", "Transfer-Encoding: chunked"][..],
        &["Transfer-Encoding: chunked", "Content-Length: 5"],
        &["Transfer-Encoding: chunked", "Content-Length: 0"],
        &["Transfer-Encoding: gzip, chunked", "Content-Length: 5"],
        &["Content-Length: 5", "Transfer-Encoding: xchunked"],
    ] {
        assert!(
            matches!(framing(fields), Err(HttpError::BadTransferEncoding(_))),
            "{fields:?}: {:?}",
            framing(fields)
        );
    }
}

#[test]
fn transfer_encoding_in_http_1_0_is_400() {
    let error = framing_in("HTTP/1.0", &["Transfer-Encoding: chunked"]).unwrap_err();
    assert!(matches!(error, HttpError::BadTransferEncoding(_)), "{error:?}");
    assert_eq!(error.status().map(Status::code), Some(400));
    // And in HTTP/1.2, which is read as 1.1, chunked is fine.
    assert_eq!(
        framing_in("HTTP/1.2", &["Transfer-Encoding: chunked"]).unwrap(),
        BodyFraming::Chunked
    );
}

#[test]
fn content_length_asks_for_a_stated_length() {
    let request = |fields: &[&str]| {
        let bytes = head("HTTP/1.1", fields);
        read_request(&mut &bytes[..], &Limits::default()).unwrap().unwrap()
    };
    assert_eq!(request(&["Content-Length: 7"]).content_length().unwrap(), 7);
    let chunked = request(&["Transfer-Encoding: chunked"]);
    assert!(matches!(chunked.content_length(), Err(HttpError::LengthRequired)));
    assert_eq!(HttpError::LengthRequired.status().map(Status::code), Some(411));
}

#[test]
fn continue_is_sent_for_bodies_that_may_be_accepted() {
    let wants = |fields: &[&str]| {
        let mut fields = fields.to_vec();
        fields.push("Expect: 100-continue");
        let bytes = head("HTTP/1.1", &fields);
        let request = read_request(&mut &bytes[..], &Limits::default()).unwrap().unwrap();
        request.should_send_continue(10).unwrap()
    };
    assert!(wants(&["Content-Length: 10"]));
    assert!(!wants(&["Content-Length: 11"]), "the 413 comes first");
    assert!(!wants(&[]), "no body, nothing to wait for");
    assert!(wants(&["Transfer-Encoding: chunked"]));
    let bytes = head("HTTP/1.1", &["Content-Length: 3"]);
    let silent = read_request(&mut &bytes[..], &Limits::default()).unwrap().unwrap();
    assert!(!silent.should_send_continue(10).unwrap(), "no Expect, no 100");
}

#[test]
fn discarding_a_chunked_body_keeps_the_stream_in_step() {
    let wire = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
        5\r\nGET /\r\n0\r\n\r\nGET /next HTTP/1.1\r\nHost: x\r\n\r\n";
    let limits = Limits::default();
    let mut reader = &wire[..];
    let first = read_request(&mut reader, &limits).unwrap().unwrap();
    discard_request_body(&mut reader, &first, &limits).unwrap();
    let second = read_request(&mut reader, &limits).unwrap().unwrap();
    assert_eq!(second.target, "/next");

    let small = Limits { max_request_body: 4, ..Limits::default() };
    let mut reader = &wire[..];
    let first = read_request(&mut reader, &small).unwrap().unwrap();
    assert!(matches!(
        discard_request_body(&mut reader, &first, &small),
        Err(HttpError::BodyTooLarge)
    ));
}

#[test]
fn length_bodies_are_bounded_before_allocation() {
    let limits = Limits { max_request_body: 10, ..Limits::default() };
    assert!(matches!(discard_body(&mut &b""[..], 11, &limits), Err(HttpError::BodyTooLarge)));
    assert!(matches!(discard_body(&mut &b"abc"[..], 5, &limits), Err(HttpError::Io(_))));
}
