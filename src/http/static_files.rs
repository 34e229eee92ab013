//! # Serving files from a folder, and nothing outside it
//!
//! The obvious code is `File::open(root.join(request.path()))`, and it hands
//! out every file the process can read:
//!
//! - `GET /../../etc/passwd` climbs out of the folder; so does the encoded
//!   `/%2e%2e/%2e%2e/etc/passwd`, which is why we check *after* decoding.
//! - `root.join("/etc/passwd")` with an absolute path *replaces* the root
//!   entirely; that is how `Path::join` is documented to behave.
//! - A symlink inside the folder may point anywhere on the disk.
//!
//! So a URL path goes through two gates. First it is decoded one segment at
//! a time, and any segment that could change the folder structure (`..`,
//! `.`, an encoded `/` or `\`, a NUL) is refused. Then the operating system
//! resolves the result to a canonical path, following every symlink, and
//! that path must still lie inside the canonical root. Whatever fails the
//! second gate gets a 404, the same as a missing file, so a visitor cannot
//! learn which files exist outside the folder.
//!
//! The response carries validators (`ETag`, `Last-Modified`, RFC 9110 §8.8)
//! so that a browser can ask "has it changed?" and get an empty `304`.
//!
//! Read next: `src/websocket/handshake.rs`, where HTTP ends.

use std::fs::{self, File, Metadata};
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use super::request::{percent_decode, Headers, Request};
use super::response::{format_http_date, parse_http_date, Body, Response, Status};

/// Serves `GET` and `HEAD` for a file under `root`. For `HEAD` the caller
/// passes `head_only` to [`Response::write_to`]; the response is the same.
pub fn serve(root: &Path, request: &Request) -> Response {
    if request.method != "GET" && request.method != "HEAD" {
        return Response::error(Status::METHOD_NOT_ALLOWED, "static files are GET and HEAD only")
            .header("Allow", "GET, HEAD");
    }
    let relative = match relative_path(request.path()) {
        Ok(relative) => relative,
        Err(reason) => return Response::error(Status::BAD_REQUEST, reason),
    };
    let Some((file, metadata, path)) = open_inside(root, &relative) else {
        return Response::error(Status::NOT_FOUND, "no such file");
    };
    let modified = metadata.modified().ok().and_then(|time| time.duration_since(UNIX_EPOCH).ok());
    let etag = entity_tag(metadata.len(), modified.unwrap_or_default());

    // Cache-Control: no-cache means "store it, but ask before reusing it":
    // an edit in www/ shows on the next reload, and an unchanged file costs
    // only a 304. Without it browsers guess a freshness lifetime from
    // Last-Modified and may show a stale page for minutes.
    let mut response =
        Response::new(Status::OK).header("ETag", etag.as_str()).header("Cache-Control", "no-cache");
    if let Some(modified) = modified {
        response = response.header("Last-Modified", format_http_date(modified.as_secs()));
    }
    if not_modified(&request.headers, &etag, modified) {
        // RFC 9110 §15.4.5: a 304 repeats the validators and Cache-Control.
        response.status = Status::NOT_MODIFIED;
        return response;
    }
    let mut response = response
        .header("Content-Type", content_type(&path))
        // Stops browsers from "sniffing" a .txt upload into running HTML.
        .header("X-Content-Type-Options", "nosniff");
    response.body = Body::File { file, len: metadata.len() };
    response
}

/// The media type for a file name's extension. Text types say UTF-8, or a
/// browser may guess a legacy encoding and garble the page.
pub fn content_type(path: &Path) -> &'static str {
    let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    match extension.to_ascii_lowercase().as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        // RFC 9239 made text/javascript the one correct type. ES modules
        // (`.mjs`) are refused by browsers under a wrong type.
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "txt" => "text/plain; charset=utf-8",
        // JSON is always UTF-8 (RFC 8259 §8.1) and has no charset parameter.
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        // `WebAssembly.instantiateStreaming` requires exactly this type.
        "wasm" => "application/wasm",
        // "Some bytes": browsers download it rather than guess.
        _ => "application/octet-stream",
    }
}

/// Gate one: turns a URL path (`/css/site%20v2.css`) into a relative file
/// path (`css/site v2.css`), refusing anything that could climb out.
/// A path ending in `/` names that folder's `index.html`.
fn relative_path(url_path: &str) -> Result<PathBuf, &'static str> {
    let Some(url_path) = url_path.strip_prefix('/') else {
        return Err("target is not a path");
    };
    let mut relative = PathBuf::new();
    // Split *before* decoding: `%2F` is data inside a segment, not a
    // separator, and after decoding the two could no longer be told apart.
    for segment in url_path.split('/') {
        let bytes = percent_decode(segment, false).ok_or("bad percent-encoding in path")?;
        let segment = String::from_utf8(bytes).map_err(|_| "path is not UTF-8")?;
        // `\` is a separator on Windows; NUL ends a path in the C calls
        // underneath std, so `a.txt%00.png` could open `a.txt`.
        if segment.contains(['/', '\\', '\0']) {
            return Err("encoded separator or NUL in path");
        }
        match segment.as_str() {
            "" => continue, // from `//` or a trailing `/`
            // Browsers remove dot segments before sending (RFC 3986 §5.2.4),
            // so a request that still has one is a probe, not a visitor.
            "." | ".." => return Err("dot segment in path"),
            _ => relative.push(segment),
        }
    }
    if url_path.is_empty() || url_path.ends_with('/') {
        relative.push("index.html");
    }
    Ok(relative)
}

/// Gate two: opens `root/relative` only if its canonical path (every
/// symlink and `..` resolved by the OS) lies inside the canonical root.
/// A directory means its `index.html`. `None` means 404, whatever the cause.
///
/// `Path::starts_with` compares whole components, so `/srv/www2` is not
/// inside `/srv/www`; comparing strings with `str::starts_with` would be.
fn open_inside(root: &Path, relative: &Path) -> Option<(File, Metadata, PathBuf)> {
    let root = root.canonicalize().ok()?;
    let mut path = root.join(relative).canonicalize().ok()?;
    if path.is_dir() {
        // A folder requested without its trailing slash. We serve its index
        // rather than redirect; relative links in that page will resolve
        // against the parent folder, so link to folders with a slash.
        path = path.join("index.html").canonicalize().ok()?;
    }
    if !path.starts_with(&root) {
        return None;
    }
    // Check the type before opening: opening a FIFO blocks until a writer
    // appears, which would park this thread forever.
    if !fs::metadata(&path).ok()?.is_file() {
        return None;
    }
    let file = File::open(&path).ok()?;
    // Size and time from the open handle, so they describe what we send.
    let metadata = file.metadata().ok()?;
    Some((file, metadata, path))
}

/// A weak entity tag from size and modification time. Weak (`W/`) because
/// two different versions with equal size and time are unlikely but
/// possible, and a strong tag promises byte-for-byte identity (§8.8.3).
fn entity_tag(len: u64, modified: Duration) -> String {
    format!("W/\"{:x}-{:x}-{:x}\"", len, modified.as_secs(), modified.subsec_nanos())
}

/// Whether the client's cached copy is still good (RFC 9110 §13.2.2).
/// `If-None-Match` wins when present: tags are exact, while dates have
/// one-second resolution and miss an edit made within the same second.
fn not_modified(headers: &Headers, etag: &str, modified: Option<Duration>) -> bool {
    if headers.count("if-none-match") > 0 {
        return headers.get_all("if-none-match").any(|field| entity_tag_list_matches(field, etag));
    }
    match (headers.get("if-modified-since").and_then(parse_http_date), modified) {
        (Some(since), Some(modified)) => modified.as_secs() <= since,
        _ => false,
    }
}

/// `*`, or a comma-separated list of entity tags, compared weakly (the
/// `W/` prefix is ignored, §8.8.3.2). Parsed tag by tag rather than split
/// on commas, because a comma is allowed inside the quotes.
fn entity_tag_list_matches(field: &str, etag: &str) -> bool {
    let wanted = etag.trim_start_matches("W/").trim_matches('"');
    let mut rest = field.trim_matches([' ', '\t']);
    if rest == "*" {
        return true;
    }
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        let tag = rest.strip_prefix("W/").unwrap_or(rest);
        let Some(inside) = tag.strip_prefix('"') else {
            return false; // the end of the list, or not a tag at all
        };
        let Some(length) = inside.find('"') else {
            return false;
        };
        if inside[..length] == *wanted {
            return true;
        }
        rest = &inside[length + 1..];
    }
}

// The tests build symlinks, which need a Unix.
#[cfg(test)]
#[cfg(unix)]
mod tests {
    use super::*;
    use crate::config::Limits;
    use crate::http::request::read_request;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A throwaway folder tree, removed when dropped:
    ///
    /// ```text
    /// <base>/secret.txt              outside the root
    /// <base>/www/index.html
    /// <base>/www/style.css
    /// <base>/www/a b.txt
    /// <base>/www/sub/index.html
    /// <base>/www/leak.txt   -> ../secret.txt  (symlink out: must be 404)
    /// <base>/www/alias.css  -> style.css      (symlink in: fine)
    /// ```
    struct Tree {
        base: PathBuf,
    }

    impl Tree {
        fn new() -> Tree {
            static COUNTER: AtomicUsize = AtomicUsize::new(0);
            let unique = COUNTER.fetch_add(1, Ordering::Relaxed);
            let base =
                std::env::temp_dir().join(format!("duplex-static-{}-{unique}", std::process::id()));
            let www = base.join("www");
            fs::create_dir_all(www.join("sub")).unwrap();
            fs::write(base.join("secret.txt"), "secret").unwrap();
            fs::write(www.join("index.html"), "<h1>home</h1>").unwrap();
            fs::write(www.join("style.css"), "body {}").unwrap();
            fs::write(www.join("a b.txt"), "spaced").unwrap();
            fs::write(www.join("sub/index.html"), "sub").unwrap();
            std::os::unix::fs::symlink(base.join("secret.txt"), www.join("leak.txt")).unwrap();
            std::os::unix::fs::symlink("style.css", www.join("alias.css")).unwrap();
            Tree { base }
        }

        fn root(&self) -> PathBuf {
            self.base.join("www")
        }

        fn get(&self, target: &str, extra_headers: &str) -> Response {
            self.request("GET", target, extra_headers)
        }

        fn request(&self, method: &str, target: &str, extra_headers: &str) -> Response {
            let head = format!("{method} {target} HTTP/1.1\r\nHost: t\r\n{extra_headers}\r\n");
            let request = read_request(&mut head.as_bytes(), &Limits::default()).unwrap().unwrap();
            serve(&self.root(), &request)
        }
    }

    impl Drop for Tree {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.base);
        }
    }

    fn header<'a>(response: &'a Response, name: &str) -> Option<&'a str> {
        let mut matches = response.headers.iter().filter(|(field, _)| field == name);
        matches.next().map(|(_, value)| value.as_str())
    }

    fn body_of(response: Response) -> String {
        let mut out = Vec::new();
        response.write_to(&mut out, false, false).unwrap();
        let text = String::from_utf8(out).unwrap();
        let (_, body) = text.split_once("\r\n\r\n").unwrap();
        body.to_string()
    }

    #[test]
    fn serves_files_and_folder_indexes() {
        let tree = Tree::new();
        for (target, expected) in [
            ("/", "<h1>home</h1>"),
            ("/index.html", "<h1>home</h1>"),
            ("/sub/", "sub"),
            ("/sub", "sub"),
            ("//sub//", "sub"),
            ("/style.css?v=2", "body {}"),
            ("/a%20b.txt", "spaced"),
            ("/alias.css", "body {}"),
        ] {
            let response = tree.get(target, "");
            assert_eq!(response.status, Status::OK, "{target}");
            assert_eq!(body_of(response), expected, "{target}");
        }
        let response = tree.get("/style.css", "");
        assert_eq!(header(&response, "Content-Type"), Some("text/css; charset=utf-8"));
        assert_eq!(header(&response, "Cache-Control"), Some("no-cache"));
        assert!(header(&response, "ETag").is_some_and(|tag| tag.starts_with("W/\"")));
        assert!(header(&response, "Last-Modified").is_some_and(|date| date.ends_with(" GMT")));
    }

    #[test]
    fn head_sends_length_without_body() {
        let tree = Tree::new();
        let response = tree.request("HEAD", "/style.css", "");
        let mut out = Vec::new();
        response.write_to(&mut out, true, false).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("\r\nContent-Length: 7\r\n"));
        assert!(text.ends_with("\r\n\r\n"));
    }

    #[test]
    fn other_methods_get_405_with_allow() {
        let tree = Tree::new();
        let response = tree.request("POST", "/", "");
        assert_eq!(response.status, Status::METHOD_NOT_ALLOWED);
        assert_eq!(header(&response, "Allow"), Some("GET, HEAD"));
    }

    #[test]
    fn escapes_are_refused() {
        let tree = Tree::new();
        for target in [
            "/../secret.txt",
            "/sub/../../secret.txt",
            "/%2e%2e/secret.txt",
            "/%2E%2E%2Fsecret.txt",
            "/sub%2F..%2F..%2Fsecret.txt",
            "/..%5Csecret.txt",
            "/..\\secret.txt",
            "/./index.html",
            "/index.html%00.png",
            "/%zz",
            "/%ff",
            "*",
        ] {
            assert_eq!(tree.get(target, "").status, Status::BAD_REQUEST, "{target}");
        }
        // Outside the root through a symlink, or simply absent: the same 404.
        for target in ["/leak.txt", "/missing.html", "/sub/missing/", "/secret.txt"] {
            assert_eq!(tree.get(target, "").status, Status::NOT_FOUND, "{target}");
        }
    }

    #[test]
    fn conditional_requests() {
        let tree = Tree::new();
        let first = tree.get("/style.css", "");
        let etag = header(&first, "ETag").unwrap().to_string();
        let date = header(&first, "Last-Modified").unwrap().to_string();
        let status = |extra: String| tree.get("/style.css", &extra).status;

        assert_eq!(status(format!("If-None-Match: {etag}\r\n")), Status::NOT_MODIFIED);
        let strong = etag.trim_start_matches("W/");
        assert_eq!(status(format!("If-None-Match: \"x,y\", {strong}\r\n")), Status::NOT_MODIFIED);
        assert_eq!(status("If-None-Match: *\r\n".into()), Status::NOT_MODIFIED);
        assert_eq!(status("If-None-Match: \"other\"\r\n".into()), Status::OK);
        assert_eq!(status(format!("If-Modified-Since: {date}\r\n")), Status::NOT_MODIFIED);
        assert_eq!(status("If-Modified-Since: yesterday\r\n".into()), Status::OK);
        // If-None-Match wins over If-Modified-Since.
        let both = format!("If-None-Match: \"other\"\r\nIf-Modified-Since: {date}\r\n");
        assert_eq!(status(both), Status::OK);

        let not_modified = tree.get("/style.css", &format!("If-None-Match: {etag}\r\n"));
        assert_eq!(header(&not_modified, "ETag"), Some(etag.as_str()));
        assert!(matches!(not_modified.body, Body::Empty));
    }

    #[test]
    fn content_types() {
        let cases = [
            ("a.HTML", "text/html; charset=utf-8"),
            ("a.mjs", "text/javascript; charset=utf-8"),
            ("a.json", "application/json"),
            ("a.svg", "image/svg+xml"),
            ("a.JPEG", "image/jpeg"),
            ("a.wasm", "application/wasm"),
            ("a.txt", "text/plain; charset=utf-8"),
            ("Makefile", "application/octet-stream"),
            ("a.tar.gz", "application/octet-stream"),
        ];
        for (name, expected) in cases {
            assert_eq!(content_type(Path::new(name)), expected, "{name}");
        }
    }
}
