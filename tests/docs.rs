//! The course must point at things that exist.
//!
//! `docs/` and `README.md` name files (`src/websocket/frame.rs`), link to
//! them (`[frame.rs](../src/websocket/frame.rs)`), and link to each other,
//! sometimes to a heading (`05-messages.md#the-closing-handshake`). Code
//! moves; prose does not follow by itself. These tests fail when a name or
//! a link has gone stale, so the docs get fixed in the same change as the
//! code.
//!
//! What is checked, in every `docs/*.md` and in `README.md` (which may not
//! exist yet; `docs/` must):
//!
//! - every path that starts with `src/`, `www/`, `tests/` or `docs/`,
//!   anywhere in the text (prose, code spans, code blocks), names a file or
//!   folder in the repository, relative to its root;
//! - every relative link target (inline links, images, reference
//!   definitions) exists, resolved from the document's own folder the way a
//!   code host resolves it, without leaving the repository;
//! - a link to a heading of a Markdown file (`file.md#anchor`, or just
//!   `#anchor`) names a heading that exists there;
//! - every numbered chapter (`docs/NN-*.md`) ends with an `## Exercises`
//!   section of two or three items, each naming a file to start in.
//!
//! Plain std, no Markdown crate: the parsing below understands exactly as
//! much Markdown as these checks need.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Component, Path, PathBuf};

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A Markdown file of the course, read into memory.
struct Document {
    /// Relative to the repository root, for messages (`docs/02-http.md`).
    name: String,
    path: PathBuf,
    text: String,
}

/// Every `docs/*.md`, and `README.md` when it exists.
fn documents() -> Vec<Document> {
    let root = repo_root();
    let docs = root.join("docs");
    assert!(docs.is_dir(), "docs/ must exist at {}", docs.display());
    let mut paths: Vec<PathBuf> = fs::read_dir(&docs)
        .expect("docs/ is readable")
        .map(|entry| entry.expect("a readable entry in docs/").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .collect();
    paths.sort();
    let readme = root.join("README.md");
    if readme.is_file() {
        paths.push(readme);
    }
    paths
        .into_iter()
        .map(|path| {
            let text = fs::read_to_string(&path)
                .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
            let name = path.strip_prefix(&root).unwrap_or(&path).display().to_string();
            Document { name, path, text }
        })
        .collect()
}

/// Is `line` a code fence (```` ``` ```` or `~~~`, indented at most 3 spaces)?
fn is_fence(line: &str) -> bool {
    let indent = line.len() - line.trim_start_matches(' ').len();
    let rest = line.trim_start_matches(' ');
    indent <= 3 && (rest.starts_with("```") || rest.starts_with("~~~"))
}

/// The text with fenced code blocks and inline code spans blanked out
/// (replaced by spaces, so line numbers survive). Links and headings are
/// only looked for in what remains: `[i](x)` inside code is not a link.
fn prose(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_fence = false;
    for line in text.split_inclusive('\n') {
        if is_fence(line) {
            in_fence = !in_fence;
            out.push('\n');
        } else if in_fence {
            out.push('\n');
        } else {
            out.push_str(&blank_code_spans(line));
        }
    }
    out
}

/// Replaces each inline code span (a run of N backticks up to the next
/// run of exactly N) with spaces.
fn blank_code_spans(line: &str) -> String {
    let chars: Vec<char> = line.chars().collect();
    let mut out = String::with_capacity(line.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '`' {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let run = chars[i..].iter().take_while(|&&c| c == '`').count();
        let mut close = None;
        let mut j = i + run;
        while j < chars.len() {
            if chars[j] == '`' {
                let other = chars[j..].iter().take_while(|&&c| c == '`').count();
                if other == run {
                    close = Some(j);
                    break;
                }
                j += other;
            } else {
                j += 1;
            }
        }
        match close {
            Some(j) => {
                out.extend(std::iter::repeat_n(' ', j + run - i));
                i = j + run;
            }
            None => {
                // An unmatched run is literal text.
                out.extend(&chars[i..i + run]);
                i += run;
            }
        }
    }
    out
}

/// A link target and the line it is on (1-based).
struct Link {
    target: String,
    line: usize,
}

/// Inline links and images (`[text](target "title")`) and reference
/// definitions (`[name]: target`), found in the prose.
fn links(prose: &str) -> Vec<Link> {
    let mut found = Vec::new();
    for (index, line) in prose.lines().enumerate() {
        let number = index + 1;
        let trimmed = line.trim_start();
        if trimmed.starts_with('[') {
            if let Some(end) = trimmed.find("]:") {
                let target = trimmed[end + 2..].split_whitespace().next().unwrap_or("");
                if !target.is_empty() {
                    found.push(Link { target: unangle(target).to_string(), line: number });
                }
                continue;
            }
        }
        let mut rest = line;
        while let Some(start) = rest.find("](") {
            let after = &rest[start + 2..];
            let target = if let Some(inner) = after.strip_prefix('<') {
                inner.split('>').next().unwrap_or("")
            } else {
                let end = after.find([')', ' ', '\t']).unwrap_or(after.len());
                &after[..end]
            };
            if !target.is_empty() {
                found.push(Link { target: target.to_string(), line: number });
            }
            rest = after;
        }
    }
    found
}

fn unangle(target: &str) -> &str {
    target.strip_prefix('<').and_then(|t| t.strip_suffix('>')).unwrap_or(target)
}

/// Does the link leave the repository (`https:`, `mailto:` ...)?
fn is_external(target: &str) -> bool {
    match target.find(':') {
        Some(colon) => !target[..colon].contains(['/', '#', '?']),
        None => false,
    }
}

/// `%20` and friends, as a code host decodes them before looking up a file.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(high), Some(low)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((high * 16 + low) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Joins `relative` onto `base` and removes `.` and `..` without touching
/// the disk. `None` if the result climbs out of the repository root.
fn resolve(root: &Path, base: &Path, relative: &str) -> Option<PathBuf> {
    let start = if relative.starts_with('/') { root.to_path_buf() } else { base.to_path_buf() };
    let mut parts: Vec<Component> = Vec::new();
    let joined = start.join(relative.trim_start_matches('/'));
    for component in joined.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            other => parts.push(other),
        }
    }
    let path: PathBuf = parts.iter().collect();
    path.starts_with(root).then_some(path)
}

/// The characters a path mention is made of.
fn is_path_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/')
}

/// Paths starting with `src/`, `www/`, `tests/` or `docs/` anywhere in the
/// text, code included, with the line they are on. A mention must start a
/// word: the `src/` inside `../src/lib.rs` or a URL is not one.
fn path_mentions(text: &str) -> Vec<(String, usize)> {
    const PREFIXES: [&str; 4] = ["src/", "www/", "tests/", "docs/"];
    let mut found = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let mut previous: Option<char> = None;
        for (at, c) in line.char_indices() {
            let starts_word = previous.is_none_or(|p| !is_path_char(p) && p != ':');
            previous = Some(c);
            if !starts_word {
                continue;
            }
            let rest = &line[at..];
            if !PREFIXES.iter().any(|prefix| rest.starts_with(prefix)) {
                continue;
            }
            let end = rest.find(|c: char| !is_path_char(c)).unwrap_or(rest.len());
            // A sentence may end right after a path: "see src/lib.rs."
            let mention = rest[..end].trim_end_matches('.');
            found.push((mention.to_string(), index + 1));
        }
    }
    found
}

/// The anchors a code host generates for the headings of a Markdown file:
/// the heading's text, lower-cased, with punctuation dropped and spaces
/// turned into hyphens; a repeated heading gets `-1`, `-2`, ...
fn heading_anchors(text: &str) -> BTreeSet<String> {
    let mut anchors = BTreeSet::new();
    let mut in_fence = false;
    for line in text.lines() {
        if is_fence(line) {
            in_fence = !in_fence;
            continue;
        }
        let hashes = line.chars().take_while(|&c| c == '#').count();
        if in_fence || hashes == 0 || hashes > 6 || !line[hashes..].starts_with(' ') {
            continue;
        }
        let title = link_texts_only(line[hashes..].trim());
        let mut slug = String::new();
        for c in title.to_lowercase().chars() {
            if c.is_alphanumeric() || c == '-' || c == '_' {
                slug.push(c);
            } else if c == ' ' {
                slug.push('-');
            }
        }
        let mut unique = slug.clone();
        let mut n = 0;
        while anchors.contains(&unique) {
            n += 1;
            unique = format!("{slug}-{n}");
        }
        anchors.insert(unique);
    }
    anchors
}

/// `[text](target)` → `text`, so a heading's anchor is built from what
/// the reader sees.
fn link_texts_only(title: &str) -> String {
    let mut out = String::new();
    let mut rest = title;
    while let Some(start) = rest.find("](") {
        let Some(close) = rest[start..].find(')') else { break };
        out.push_str(&rest[..start]);
        rest = &rest[start + close + 1..];
    }
    out.push_str(rest);
    out.replace('[', "")
}

#[test]
fn the_map_exists() {
    let map = repo_root().join("docs/README.md");
    assert!(map.is_file(), "docs/README.md, the map of the course, is missing");
}

#[test]
fn every_named_path_exists() {
    let root = repo_root();
    let mut missing = Vec::new();
    for doc in documents() {
        let mut mentions = path_mentions(&doc.text);
        mentions.dedup();
        for (mention, line) in mentions {
            if !root.join(&mention).exists() {
                missing.push(format!("{}:{line}: `{mention}` does not exist", doc.name));
            }
        }
    }
    assert!(missing.is_empty(), "stale paths in the docs:\n{}", missing.join("\n"));
}

#[test]
fn every_relative_link_resolves() {
    let root = repo_root();
    let mut broken = Vec::new();
    for doc in documents() {
        let folder = doc.path.parent().expect("a document has a folder");
        for link in links(&prose(&doc.text)) {
            let target = link.target.as_str();
            if is_external(target) {
                continue;
            }
            let (file_part, anchor) = match target.split_once('#') {
                Some((file, anchor)) => (file, Some(anchor)),
                None => (target, None),
            };
            let file_part = file_part.split('?').next().unwrap_or("");
            let where_ = format!("{}:{}", doc.name, link.line);
            let file = if file_part.is_empty() {
                doc.path.clone()
            } else {
                match resolve(&root, folder, &percent_decode(file_part)) {
                    Some(file) => file,
                    None => {
                        broken.push(format!("{where_}: `{target}` leaves the repository"));
                        continue;
                    }
                }
            };
            if !file.exists() {
                broken.push(format!("{where_}: `{target}` does not exist"));
                continue;
            }
            let Some(anchor) = anchor.filter(|a| !a.is_empty()) else { continue };
            if file.extension().is_some_and(|ext| ext == "md") {
                let text = fs::read_to_string(&file).unwrap_or_default();
                if !heading_anchors(&text).contains(&percent_decode(anchor).to_lowercase()) {
                    broken.push(format!("{where_}: `{target}`: no heading with that anchor"));
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links in the docs:\n{}", broken.join("\n"));
}

#[test]
fn every_chapter_ends_with_exercises_that_name_a_file() {
    let mut problems = Vec::new();
    for doc in documents() {
        let file_name = doc.path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let is_chapter = file_name.len() > 3
            && file_name.as_bytes()[..2].iter().all(u8::is_ascii_digit)
            && file_name.as_bytes()[2] == b'-';
        if !is_chapter || doc.path.parent() != Some(&repo_root().join("docs")) {
            continue;
        }
        let prose = prose(&doc.text);
        let sections: Vec<&str> = prose.split("\n## ").collect();
        let last = sections.last().copied().unwrap_or("");
        if sections.len() < 2 || !last.starts_with("Exercises") {
            problems.push(format!("{}: the last `##` section must be `## Exercises`", doc.name));
            continue;
        }
        // The exercises, numbered `1.`, `2.`, ... at the start of a line;
        // each runs until the next. Paths are looked for in the raw text,
        // because they are usually inside code spans.
        let raw_last = doc.text.rsplit("\n## Exercises").next().unwrap_or("");
        let mut items: Vec<String> = Vec::new();
        for line in raw_last.lines() {
            let number = format!("{}. ", items.len() + 1);
            if line.starts_with(&number) {
                items.push(line.to_string());
            } else if let Some(item) = items.last_mut() {
                item.push('\n');
                item.push_str(line);
            }
        }
        if !(2..=3).contains(&items.len()) {
            problems.push(format!("{}: {} exercises, expected 2 or 3", doc.name, items.len()));
        }
        for (i, item) in items.iter().enumerate() {
            let names_a_file = item.contains("Hint")
                && ["src/", "www/", "tests/"].iter().any(|prefix| item.contains(prefix));
            if !names_a_file {
                problems.push(format!(
                    "{}: exercise {} needs a hint naming the file to start in",
                    doc.name,
                    i + 1
                ));
            }
        }
    }
    assert!(problems.is_empty(), "chapters without proper exercises:\n{}", problems.join("\n"));
}

/// The checks above are only as good as their parsing; pin it down.
#[test]
fn the_markdown_reading_is_right() {
    let text = "See [frame](../src/websocket/frame.rs#L1) and `[x](not/a/link)`.\n\
                ```\n[nope](in/a/fence)\n```\n[ref]: <02-http.md>\n";
    let found: Vec<String> = links(&prose(text)).into_iter().map(|l| l.target).collect();
    assert_eq!(found, ["../src/websocket/frame.rs#L1", "02-http.md"]);

    let mentions: Vec<String> = path_mentions(
        "In `src/lib.rs`, see src/http/. Not ../src/x.rs, nor http://h/src/y, nor mysrc/z.",
    )
    .into_iter()
    .map(|(path, _)| path)
    .collect();
    assert_eq!(mentions, ["src/lib.rs", "src/http/"]);

    let headings = "# 5. Messages: the end\n## `apply_mask`, fast\n## Again\n## Again\n\
                    ```\n# not a heading\n```\n";
    let anchors = heading_anchors(headings);
    let expected = ["5-messages-the-end", "apply_mask-fast", "again", "again-1"];
    assert_eq!(anchors, expected.iter().map(|s| s.to_string()).collect());

    assert!(is_external("https://example.com/x"));
    assert!(is_external("mailto:someone@example.com"));
    assert!(!is_external("02-http.md#a:b"));
    let root = Path::new("/repo");
    assert_eq!(
        resolve(root, Path::new("/repo/docs"), "../src/lib.rs"),
        Some("/repo/src/lib.rs".into())
    );
    assert_eq!(resolve(root, Path::new("/repo/docs"), "../../etc/passwd"), None);
    assert_eq!(percent_decode("a%20b.md"), "a b.md");
}
