//! Chapter 2, HTTP/1.1 and static files (`docs/02-http.md`).

use crate::common::TestServer;
use crate::site::Site;
use crate::wire::Connection;

#[test]
#[ignore = "exercise: ch02 ex1"]
fn ch02_ex1_markdown_is_served_as_text_markdown() {
    let site = Site::with(&[
        ("notes.md", b"# Notes\n\nSome *text*.\n"),
        ("SHOUTY.MD", b"# LOUD\n"),
        ("page.html", b"<p>hi</p>"),
        ("plain.txt", b"plain"),
        ("almost.mdx", b"not markdown"),
    ]);
    let server = TestServer::start(&["--root", site.arg()]);
    let mut http = Connection::open(&server);

    let notes = http.get("/notes.md");
    assert_eq!(notes.status, 200, "{notes:?}");
    assert_eq!(notes.header("Content-Type"), Some("text/markdown; charset=utf-8"));
    assert_eq!(notes.text(), "# Notes\n\nSome *text*.\n");
    // Extensions are compared without regard to case, like the others.
    let shouty = http.get("/SHOUTY.MD");
    assert_eq!(shouty.header("Content-Type"), Some("text/markdown; charset=utf-8"));

    // What must not change.
    let expected = [
        ("/page.html", "text/html; charset=utf-8"),
        ("/plain.txt", "text/plain; charset=utf-8"),
        ("/almost.mdx", "application/octet-stream"),
    ];
    for (path, content_type) in expected {
        let response = http.get(path);
        assert_eq!(response.status, 200, "{path}");
        assert_eq!(response.header("Content-Type"), Some(content_type), "{path}");
    }
}

#[test]
#[ignore = "exercise: ch02 ex2"]
fn ch02_ex2_a_folder_without_its_slash_is_redirected() {
    let site = Site::with(&[
        ("index.html", b"top"),
        ("sub/index.html", b"sub index"),
        ("sub/deeper/index.html", b"deeper index"),
        ("my dir/index.html", b"spaced index"),
        ("file.txt", b"a file"),
    ]);
    let server = TestServer::start(&["--root", site.arg()]);
    let mut http = Connection::open(&server);

    let redirects = [
        ("/sub", "/sub/"),
        ("/sub?x=1&y=two", "/sub/?x=1&y=two"),
        ("/sub/deeper", "/sub/deeper/"),
        // The path goes back as it came, still percent-encoded.
        ("/my%20dir", "/my%20dir/"),
    ];
    for (target, location) in redirects {
        let response = http.get(target);
        assert_eq!(response.status, 301, "GET {target}: {response:?}");
        assert_eq!(response.header("Location"), Some(location), "GET {target}");
    }
    let head = http.request("HEAD", "/sub", "");
    assert_eq!(head.status, 301, "HEAD /sub: {head:?}");
    assert_eq!(head.header("Location"), Some("/sub/"));

    // What must not change: the folder with its slash, files, the root,
    // and what does not exist.
    let pages = [
        ("/sub/", "sub index"),
        ("/sub/?x=1", "sub index"),
        ("/sub/deeper/", "deeper index"),
        ("/my%20dir/", "spaced index"),
        ("/", "top"),
        ("/file.txt", "a file"),
    ];
    for (target, body) in pages {
        let response = http.get(target);
        assert_eq!(response.status, 200, "GET {target}: {response:?}");
        assert_eq!(response.text(), body, "GET {target}");
    }
    assert_eq!(http.get("/missing").status, 404);
    assert_eq!(http.get("/file.txt/").status, 404, "a file is not a folder");
}

#[test]
#[ignore = "exercise: ch02 ex3"]
fn ch02_ex3_byte_ranges() {
    let site = Site::with(&[("digits.txt", b"0123456789")]);
    let server = TestServer::start(&["--root", site.arg()]);
    // One connection throughout: every Content-Length must be exact, or
    // the next response is read from the wrong byte.
    let mut http = Connection::open(&server);

    let partial = [
        ("bytes=2-5", "2345", "bytes 2-5/10"),
        ("bytes=0-0", "0", "bytes 0-0/10"),
        ("bytes=7-", "789", "bytes 7-9/10"),
        // An end past the end of the file means "to the end" (§14.1.2).
        ("bytes=5-100", "56789", "bytes 5-9/10"),
        ("bytes=9-9", "9", "bytes 9-9/10"),
    ];
    for (range, body, content_range) in partial {
        let response = http.request("GET", "/digits.txt", &format!("Range: {range}\r\n"));
        assert_eq!(response.status, 206, "{range}: {response:?}");
        assert_eq!(response.header("Content-Range"), Some(content_range), "{range}");
        assert_eq!(response.header("Content-Length"), Some(&*body.len().to_string()));
        assert_eq!(response.text(), body, "{range}");
    }

    // A first byte at or past the end cannot be satisfied (§15.5.17).
    for range in ["bytes=10-12", "bytes=10-", "bytes=400-500"] {
        let response = http.request("GET", "/digits.txt", &format!("Range: {range}\r\n"));
        assert_eq!(response.status, 416, "{range}: {response:?}");
        assert_eq!(response.header("Content-Range"), Some("bytes */10"), "{range}");
    }

    // Malformed, unknown or several ranges: the header is ignored and the
    // whole file is sent, never a misreading of it.
    let ignored = [
        "bytes=5-2",
        "bytes=abc",
        "bytes=2-5x",
        "bytes=-",
        "bytes 2-5",
        "bytes=+2-5",
        "items=0-3",
        "bytes=0-1,4-5",
    ];
    for range in ignored {
        let response = http.request("GET", "/digits.txt", &format!("Range: {range}\r\n"));
        assert_eq!(response.status, 200, "{range}: {response:?}");
        assert_eq!(response.text(), "0123456789", "{range}");
        assert_eq!(response.header("Content-Range"), None, "{range}");
    }

    // Without a Range header nothing changes.
    let whole = http.get("/digits.txt");
    assert_eq!((whole.status, whole.text().as_str()), (200, "0123456789"));
}
