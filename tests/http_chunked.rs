//! Chunked request bodies and strict framing, over real sockets (RFC 9112
//! §6, §7.1): bodies that decode, bodies and heads that must be refused
//! with a close, and the request after a chunked body, which must start
//! exactly where the body ended. Every read has the common timeout.

mod common;

use std::io::{BufReader, Write};
use std::net::TcpStream;

use common::{closed_by_server, raw_request, read_response, HttpResponse, TestServer};

/// Sends `bytes` in one write on a fresh connection and reads `count`
/// responses; the reader is returned to check what follows.
fn exchange(server: &TestServer, bytes: &[u8], count: usize) -> (Vec<HttpResponse>, TcpStream) {
    let mut stream = server.connect();
    stream.write_all(bytes).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let responses = (0..count).map(|_| read_response(&mut reader, false)).collect();
    (responses, stream)
}

fn chunked_post(target: &str, body: &str) -> String {
    format!("POST {target} HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n{body}")
}

#[test]
#[cfg(feature = "push")] // `POST /api/send` is the push layer's
fn api_send_takes_a_chunked_body() {
    let server = TestServer::start(&[]);
    let body = "5;note=ignored\r\nhello\r\n7\r\n, world\r\n0\r\nChecksum: none\r\n\r\n";
    let (responses, _) = exchange(&server, chunked_post("/api/send?name=ann", body).as_bytes(), 1);
    assert_eq!(responses[0].status, 200, "{}", responses[0].text());
    let messages = raw_request(
        &server,
        b"GET /api/messages?since=0&wait=0 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    assert!(messages.text().contains(r#""text":"hello, world""#), "{}", messages.text());
}

#[test]
#[cfg(feature = "push")] // `POST /api/send` is the push layer's
fn the_request_after_a_chunked_body_parses_where_the_body_ended() {
    let server = TestServer::start(&[]);
    // The first body's data looks like a request; the size says it is data.
    let pipelined = chunked_post("/api/send?name=bob", "E\r\nGET /nope HTTP\r\n0\r\n\r\n")
        + "GET /api/messages?since=0&wait=0 HTTP/1.1\r\nHost: t\r\n\r\n"
        + &chunked_post("/index.html", "3\r\nabc\r\n0\r\n\r\n")
        + "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    let (responses, mut stream) = exchange(&server, pipelined.as_bytes(), 4);
    let statuses: Vec<u16> = responses.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 200, 405, 200]);
    assert!(responses[1].text().contains(r#""text":"GET /nope HTTP""#), "{}", responses[1].text());
    assert!(closed_by_server(&mut stream));
}

#[test]
#[cfg(feature = "push")] // `POST /api/send` is the push layer's
fn a_chunked_body_may_arrive_in_pieces() {
    let server = TestServer::start(&[]);
    let mut stream = server.connect();
    let head = "POST /api/send?name=cy HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";
    for piece in [head, "3", "\r", "\n", "abc\r\n", "2\r\nde", "\r\n0\r\n", "\r\n"] {
        stream.write_all(piece.as_bytes()).unwrap();
    }
    let response = read_response(&mut BufReader::new(stream), false);
    assert_eq!(response.status, 200, "{}", response.text());
}

#[test]
#[cfg(feature = "push")] // `POST /api/send` is the push layer's
fn expect_100_continue_invites_a_chunked_body() {
    let server = TestServer::start(&[]);
    let mut stream = server.connect();
    let head = "POST /api/send?name=dee HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n\
        Transfer-Encoding: chunked\r\n\r\n";
    stream.write_all(head.as_bytes()).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    assert_eq!(read_response(&mut reader, true).status, 100);
    stream.write_all(b"2\r\nok\r\n0\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut reader, false).status, 200);
}

#[test]
#[cfg(feature = "push")] // `POST /api/send` is the push layer's
fn a_chunked_body_over_the_limit_is_413() {
    let server = TestServer::start(&["--max-chat-text", "10"]);
    // Two chunks of 6: each fits, together they do not.
    let body = "6\r\nabcdef\r\n6\r\nghijkl\r\n0\r\n\r\n";
    let (responses, mut stream) =
        exchange(&server, chunked_post("/api/send?name=eve", body).as_bytes(), 1);
    assert_eq!(responses[0].status, 413);
    assert_eq!(responses[0].header("Connection"), Some("close"));
    assert!(closed_by_server(&mut stream));
    // A declared size far past the limit costs nothing either.
    let huge = chunked_post("/api/send?name=eve", "FFFFFFFFFFFF\r\n");
    assert_eq!(raw_request(&server, huge.as_bytes()).status, 413);
}

/// Sends `request` followed by a harmless request in the same write, and
/// checks that the first is refused with `status` and a close, so the
/// second is never read as a request.
fn assert_refused_with_close(server: &TestServer, request: &[u8], status: u16) {
    let mut bytes = request.to_vec();
    bytes.extend_from_slice(b"GET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n");
    let (responses, mut stream) = exchange(server, &bytes, 1);
    let shown = String::from_utf8_lossy(request);
    assert_eq!(responses[0].status, status, "{shown}");
    assert_eq!(responses[0].header("Connection"), Some("close"), "{shown}");
    assert!(closed_by_server(&mut stream), "{shown}: the connection stayed open");
}

#[test]
fn malformed_chunked_bodies_are_400_with_a_close() {
    let server = TestServer::start(&[]);
    for body in [
        "5 \r\nhello\r\n0\r\n\r\n",
        "0x5\r\nhello\r\n0\r\n\r\n",
        "-5\r\nhello\r\n0\r\n\r\n",
        "5;\r\nhello\r\n0\r\n\r\n",
        "5;a=\"b\r\nhello\r\n0\r\n\r\n",
        "5\nhello\r\n0\r\n\r\n",
        "5\r\nhelloXX0\r\n\r\n",
        "3\r\nhello\r\n0\r\n\r\n",
        "10000000000000005\r\nhello\r\n0\r\n\r\n",
        "5\r\nhello\r\n0\r\nbad trailer\r\n\r\n",
    ] {
        assert_refused_with_close(&server, chunked_post("/api/send?name=x", body).as_bytes(), 400);
    }
    assert_eq!(common::get(&server, "/").status, 200, "the server still serves");
}

#[test]
fn smuggling_shapes_are_refused_with_a_close() {
    let server = TestServer::start(&[]);
    let cases: [(&[u8], u16); 9] = [
        // CL.TE and TE.CL: both fields, in either order.
        (b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nX", 400),
        (b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n", 400),
        // TE.TE: two fields, a near-miss name, a coding after chunked.
        (b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n\r\n0\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding:\r\n\r\n", 400),
        // HTTP/1.0 has no transfer codings.
        (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
        // A coding we could frame but not decode.
        (b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501),
    ];
    for (request, status) in cases {
        assert_refused_with_close(&server, request, status);
    }
    server.wait_for_log("untrustworthy framing: both Transfer-Encoding and Content-Length");
    assert_eq!(server.log_count("GET /smuggled"), 0, "a smuggled request was served");
}

#[test]
fn a_chunked_upgrade_is_refused() {
    let server = TestServer::start(&[]);
    let request = format!(
        "GET /echo HTTP/1.1\r\nHost: t\r\n{}Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        common::UPGRADE_HEADERS
    );
    let response = raw_request(&server, request.as_bytes());
    assert_eq!(response.status, 400, "{}", response.text());
}

#[test]
fn a_stalled_chunked_body_hits_the_deadline() {
    let server = TestServer::start(&["--header-timeout", "0.5"]);
    // The last chunk never comes; the head's deadline covers the body too.
    let (responses, mut stream) =
        exchange(&server, chunked_post("/api/send?name=z", "2\r\nhi\r\n").as_bytes(), 1);
    assert_eq!(responses[0].status, 408);
    assert!(closed_by_server(&mut stream));
}

#[test]
fn http_1_2_is_answered_as_1_1() {
    let server = TestServer::start(&[]);
    let (responses, stream) = exchange(
        &server,
        b"GET / HTTP/1.2\r\nHost: t\r\n\r\nGET /index.html HTTP/1.1\r\nHost: t\r\n\r\n",
        2,
    );
    assert_eq!(responses[0].status, 200);
    // Kept alive, as 1.1 is: the second request on the connection is served.
    assert_eq!(responses[1].status, 200);
    drop(stream);
    for (line, status) in
        [("GET / HTTP/2.0", 505), ("GET / HTTP/1.x", 400), ("GET /a#b HTTP/3.0", 400)]
    {
        let request = format!("{line}\r\nHost: t\r\n\r\n");
        assert_eq!(raw_request(&server, request.as_bytes()).status, status, "{line}");
    }
}
