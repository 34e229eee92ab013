//! The HTTP side of the real server, over real sockets: static files,
//! keep-alive, every refusal the parser can give, slow clients, and the
//! connection cap. After each bad request the server must still serve.

mod common;

use std::io::{BufReader, Read, Write};
use std::time::Duration;

use common::{closed_by_server, get, raw_request, read_response, TestServer};

#[test]
fn serves_index_and_files_with_types() {
    let server = TestServer::start(&[]);
    let index = get(&server, "/");
    assert_eq!(index.status, 200);
    assert_eq!(index.header("Content-Type"), Some("text/html; charset=utf-8"));
    assert_eq!(index.header("Content-Length"), Some(index.body.len().to_string().as_str()));
    assert!(index.text().contains("<html"));
    let direct = get(&server, "/index.html");
    assert_eq!(direct.body, index.body);

    let missing = get(&server, "/no-such-file.txt");
    assert_eq!(missing.status, 404);
}

#[test]
fn head_has_headers_and_no_body() {
    let server = TestServer::start(&[]);
    let mut stream = server.connect();
    stream
        .write_all(b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut reader = BufReader::new(stream);
    let head = read_response(&mut reader, true);
    assert_eq!(head.status, 200);
    let length: usize = head.header("Content-Length").unwrap().parse().unwrap();
    assert!(length > 0);
    // If HEAD had sent a body, this second response would be garbage.
    let get = read_response(&mut reader, false);
    assert_eq!(get.status, 200);
    assert_eq!(get.body.len(), length);
}

#[test]
fn revalidation_with_etag_gives_304() {
    let server = TestServer::start(&[]);
    let first = get(&server, "/");
    let etag = first.header("ETag").expect("an ETag").to_string();
    let request =
        format!("GET / HTTP/1.1\r\nHost: t\r\nIf-None-Match: {etag}\r\nConnection: close\r\n\r\n");
    let again = raw_request(&server, request.as_bytes());
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());
}

#[test]
fn keep_alive_serves_several_requests_and_honours_close() {
    let server = TestServer::start(&[]);
    let mut stream = server.connect();
    // Two requests in one write (pipelining), then a third asking to close.
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\nGET /index.html HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    assert_eq!(read_response(&mut reader, false).status, 200);
    assert_eq!(read_response(&mut reader, false).status, 200);
    stream.write_all(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").unwrap();
    let last = read_response(&mut reader, false);
    assert_eq!(last.header("Connection"), Some("close"));
    assert!(closed_by_server(reader.get_mut()));
}

#[test]
fn a_body_is_consumed_so_the_next_request_parses() {
    let server = TestServer::start(&[]);
    let mut stream = server.connect();
    stream
        .write_all(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 6\r\n\r\nGET /xGET / HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut reader = BufReader::new(stream);
    let refused = read_response(&mut reader, false);
    assert_eq!(refused.status, 405);
    assert_eq!(refused.header("Allow"), Some("GET, HEAD"));
    // The body "GET /x" must not have been taken for a request.
    assert_eq!(read_response(&mut reader, false).status, 200);
}

#[test]
fn refusals_get_the_right_status_and_the_server_keeps_serving() {
    let server = TestServer::start(&[]);
    let long_target = format!("GET /{} HTTP/1.1\r\nHost: t\r\n\r\n", "a".repeat(9000));
    let many_headers = format!("GET / HTTP/1.1\r\nHost: t\r\n{}\r\n", "X-A: b\r\n".repeat(101));
    let big_headers = format!(
        "GET / HTTP/1.1\r\nHost: t\r\n{}\r\n",
        format!("X-Big: {}\r\n", "c".repeat(8000)).repeat(9)
    );
    let cases: Vec<(Vec<u8>, u16)> = vec![
        (long_target.into_bytes(), 414),
        (many_headers.into_bytes(), 431),
        (big_headers.into_bytes(), 431),
        (b"GET / HTTP/1.1\r\n\r\n".to_vec(), 400),                       // no Host
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n".to_vec(), 400), // two Hosts
        (b"BLAH\r\n\r\n".to_vec(), 400),
        (b"GET / HTTP/1.1\r\nHost : t\r\n\r\n".to_vec(), 400), // space before colon
        (b"GET / HTTP/1.1\r\nHost: t\r\n folded\r\n\r\n".to_vec(), 400),
        (b"GET / HTTP/2.0\r\nHost: t\r\n\r\n".to_vec(), 505),
        (b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello".to_vec(), 400),
        (b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n".to_vec(), 400),
        (b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1x\r\n\r\n".to_vec(), 400),
        (b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n".to_vec(), 501),
        (
            b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec(),
            400,
        ),
        (b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY0\r\n\r\n".to_vec(), 400),
        (b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 999999999\r\n\r\n".to_vec(), 413),
        (b"DELETE /index.html HTTP/1.1\r\nHost: t\r\n\r\n".to_vec(), 405),
        (b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n".to_vec(), 400),
        (b"GET / HTTP/1.1\r\nHost: t\r\nExpect: teapot\r\n\r\n".to_vec(), 417),
    ];
    for (request, expected) in cases {
        let response = raw_request(&server, &request);
        assert_eq!(
            response.status,
            expected,
            "{}",
            String::from_utf8_lossy(&request[..40.min(request.len())])
        );
    }
    server.wait_for_log("bad request (414)");
    assert_eq!(get(&server, "/").status, 200);
}

#[test]
fn no_path_escapes_the_root() {
    let server = TestServer::start(&[]);
    for path in [
        "/../Cargo.toml",
        "/%2e%2e/Cargo.toml",
        "/..%2fCargo.toml",
        "/%2e%2e%2fCargo.toml",
        "/..%5cCargo.toml",
        "/index.html%00.txt",
        "/./../../etc/passwd",
        "//etc/passwd",
    ] {
        let request = format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        let response = raw_request(&server, request.as_bytes());
        assert!(matches!(response.status, 400 | 404), "{path}: {}", response.status);
        assert!(!response.text().contains("[package]"), "{path} leaked Cargo.toml");
    }
    assert_eq!(get(&server, "/").status, 200);
}

#[test]
fn a_slow_client_is_dropped_at_the_header_deadline() {
    let server = TestServer::start(&["--header-timeout", "0.5"]);
    let mut stream = server.connect();
    stream.write_all(b"GET / HTTP/1.1\r\n").unwrap();
    // Dribble one header byte at a time. Each byte would reset a plain
    // read timeout; the deadline must cut the request off anyway.
    let mut cut_off = false;
    for _ in 0..60 {
        if stream.write_all(b"X").is_err() {
            cut_off = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100)); // the client's pace, not a wait
        if server.log_count("408") > 0 {
            cut_off = true;
            break;
        }
    }
    assert!(cut_off, "the server let a dribbling client hold its thread for 6 s");
    let mut reader = BufReader::new(stream);
    let response = read_response(&mut reader, false);
    assert_eq!(response.status, 408);
    server.wait_for_log("request too slow (408)");
    assert_eq!(get(&server, "/").status, 200);
}

#[test]
fn connection_cap_answers_503_and_recovers() {
    let server = TestServer::start(&["--max-connections", "2"]);
    let first = server.connect();
    let mut second = server.connect();
    // Make sure both are being served (each has its thread) before the third.
    second.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let mut second_reader = BufReader::new(second.try_clone().unwrap());
    assert_eq!(read_response(&mut second_reader, false).status, 200);
    server.wait_for_log("[conn-1] opened");

    let mut third = server.connect();
    let mut refused = String::new();
    third.read_to_string(&mut refused).unwrap();
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    server.wait_for_log("refused a connection");

    drop(first);
    server.wait_for_log("[conn-1] closed");
    assert_eq!(get(&server, "/").status, 200);
}

#[test]
#[cfg(feature = "push")] // `POST /api/send` is the push layer's
fn expect_100_continue_gets_the_go_ahead_before_the_body() {
    let server = TestServer::start(&[]);
    let mut stream = server.connect();
    let body = "a message worth waiting for";
    let head = format!(
        "POST /api/send?name=curl HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    // Nothing of the body is sent until the server says so.
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let interim = read_response(&mut reader, true);
    assert_eq!(interim.status, 100);
    stream.write_all(body.as_bytes()).unwrap();
    let done = read_response(&mut reader, false);
    assert_eq!(done.status, 200, "{}", done.text());
    assert!(done.text().contains("\"seq\""));
}

#[test]
fn expect_100_continue_with_a_body_too_large_gets_413_at_once() {
    let server = TestServer::start(&[]);
    let mut stream = server.connect();
    let head = "POST /api/send?name=curl HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 999999\r\n\r\n";
    stream.write_all(head.as_bytes()).unwrap();
    let mut reader = BufReader::new(stream);
    assert_eq!(read_response(&mut reader, false).status, 413);
}
