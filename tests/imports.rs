//! The house's shape, checked: no import circle anywhere in the library,
//! and the low floors name nothing above them (`src/lib.rs` says why).
//!
//! This reads the source, not the compiler's output: every `crate::a::b`,
//! `super::x` and `self::y` path in the code (comments left out), and
//! every use of a child module a file declares (`mod queue;` then
//! `queue::push`), becomes an edge from that file to the file of the
//! module it names. A path that names an item (`crate::chat::Room`) counts
//! as naming the module that holds it (`src/chat/mod.rs`, through its
//! re-export): a re-export is an import like any other.
//!
//! Then two checks:
//! - the graph of files has no circle (two files that import each other,
//!   directly or through others);
//! - the protocol floors (`src/http/`, `src/websocket/`, `src/json/`,
//!   `src/server/stream.rs`) and `src/config.rs` name nothing from the
//!   chat or its layers, and the chat (`src/chat/`) names neither layer:
//!   the layers (`src/push/`, `src/redis/`) plug into the room, never the
//!   other way round.
//!
//! The whole library is read, whichever features are built: the shape
//! must hold in every build. Test code is left out (`tests.rs` files, and
//! what follows `#[cfg(test)]` in a file), as the line counts leave it
//! out: a test may reach for a type by its shortest path.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// A module path (`["chat", "room"]`) and the file that holds it.
type Modules = BTreeMap<Vec<String>, PathBuf>;

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file of the library (`src/bin/` and `src/main.rs` are other
/// crates), by module path. `src/lib.rs` is the crate root, `[]`.
fn modules() -> Modules {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in fs::read_dir(dir).expect("src/ is readable").flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let root = src();
    let mut files = Vec::new();
    walk(&root, &mut files);
    let mut modules = Modules::new();
    for file in files {
        let relative = file.strip_prefix(&root).unwrap().with_extension("");
        let mut parts: Vec<String> =
            relative.iter().map(|p| p.to_string_lossy().into_owned()).collect();
        if parts[0] == "bin" || parts == ["main"] || parts.last().is_some_and(|p| p == "tests") {
            continue;
        }
        if parts.last().is_some_and(|last| last == "mod" || last == "lib") {
            parts.pop();
        }
        modules.insert(parts, file);
    }
    modules
}

/// The code of a file, without its comments (doc links are not imports)
/// and without its tests.
fn code(file: &Path) -> String {
    let text = fs::read_to_string(file).expect("a source file is readable");
    let text = &text[..text.find("#[cfg(test)]").unwrap_or(text.len())];
    let mut out = String::new();
    for line in text.lines() {
        let line = match line.find("//") {
            // A `//` inside a string (a URL) is rare here; cutting the
            // rest of such a line only ever loses an edge, never adds one.
            Some(at) => &line[..at],
            None => line,
        };
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// The paths in `code` that start at `start` (`crate::`, `super::`, a child
/// module's name): each as its segments after `start`.
fn paths_after<'a>(code: &'a str, start: &str) -> Vec<Vec<&'a str>> {
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find(start) {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + start.len()..];
        // `start` must begin a path: not the tail of a longer identifier.
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(rest.len());
        let segments: Vec<&str> = rest[..end].split("::").filter(|s| !s.is_empty()).collect();
        found.push(segments.clone());
        // `use crate::a::{b, c::d}`: each item in the braces is a path too.
        if rest[end..].starts_with('{') {
            let inner = &rest[end + 1..rest[end..].find('}').map_or(rest.len(), |c| end + c)];
            for item in inner.split(',') {
                let item: Vec<&str> = item.trim().split("::").map(str::trim).collect();
                let mut path = segments.clone();
                path.extend(item.into_iter().filter(|s| !s.is_empty() && *s != "self"));
                found.push(path);
            }
        }
    }
    found
}

/// The module a path names: its longest prefix that is a module.
fn resolve(modules: &Modules, base: &[String], segments: &[&str]) -> Option<PathBuf> {
    let mut path = base.to_vec();
    let mut best = None;
    for segment in segments {
        let segment = segment.split_whitespace().next().unwrap_or(segment);
        path.push(segment.to_string());
        match modules.get(&path) {
            Some(file) => best = Some(file.clone()),
            None => break,
        }
    }
    best.or_else(|| modules.get(base).cloned())
}

/// Every file's imports, as files.
fn edges(modules: &Modules) -> BTreeMap<PathBuf, BTreeSet<PathBuf>> {
    let mut graph = BTreeMap::new();
    for (module, file) in modules {
        let code = code(file);
        // `super` of `src/chat/room.rs` is `chat`; of `src/chat/mod.rs`, the root.
        let parent: Vec<String> = module[..module.len().saturating_sub(1)].to_vec();
        let mut targets = BTreeSet::new();
        let mut add = |target: Option<PathBuf>| {
            if let Some(target) = target.filter(|t| t != file) {
                targets.insert(target);
            }
        };
        for path in paths_after(&code, "crate::") {
            add(resolve(modules, &[], &path));
        }
        for path in paths_after(&code, "super::") {
            // `super::super::` is not used in this crate; refuse to guess.
            assert!(path.first() != Some(&"super"), "{}: super::super", file.display());
            add(resolve(modules, &parent, &path));
        }
        // A child module, by `self::` or by its bare name (in a file that
        // declares it), or a sibling of a non-`mod.rs` file's submodule.
        let own: Vec<String> = module.clone();
        for path in paths_after(&code, "self::") {
            add(resolve(modules, &own, &path));
        }
        for line in code.lines() {
            let line = line.trim();
            let declared = line.strip_prefix("pub mod ").or_else(|| line.strip_prefix("mod "));
            let Some(child) = declared.and_then(|rest| rest.strip_suffix(';')) else { continue };
            for path in paths_after(&code, &format!("{child}::")) {
                let mut full = vec![child];
                full.extend(path);
                add(resolve(modules, &own, &full));
            }
        }
        graph.insert(file.clone(), targets);
    }
    graph
}

fn name(file: &Path) -> String {
    file.strip_prefix(src().parent().unwrap()).unwrap_or(file).display().to_string()
}

/// A circle in `graph`, if there is one, as the files around it.
fn find_circle(graph: &BTreeMap<PathBuf, BTreeSet<PathBuf>>) -> Option<Vec<PathBuf>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    fn visit(
        file: &PathBuf,
        graph: &BTreeMap<PathBuf, BTreeSet<PathBuf>>,
        marks: &mut BTreeMap<PathBuf, Mark>,
        stack: &mut Vec<PathBuf>,
    ) -> Option<Vec<PathBuf>> {
        marks.insert(file.clone(), Mark::Open);
        stack.push(file.clone());
        for next in graph.get(file).into_iter().flatten() {
            match marks.get(next).copied().unwrap_or(Mark::New) {
                Mark::Open => {
                    let from = stack.iter().position(|f| f == next).unwrap();
                    return Some(stack[from..].to_vec());
                }
                Mark::New => {
                    if let Some(circle) = visit(next, graph, marks, stack) {
                        return Some(circle);
                    }
                }
                Mark::Done => {}
            }
        }
        stack.pop();
        marks.insert(file.clone(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for file in graph.keys() {
        if marks.get(file).copied().unwrap_or(Mark::New) == Mark::New {
            if let Some(circle) = visit(file, graph, &mut marks, &mut Vec::new()) {
                return Some(circle);
            }
        }
    }
    None
}

#[test]
fn no_file_imports_itself_through_others() {
    let graph = edges(&modules());
    if let Some(circle) = find_circle(&graph) {
        let names: Vec<String> = circle.iter().map(|f| name(f)).collect();
        panic!("an import circle: {} -> (back to the first)", names.join(" -> "));
    }
}

#[test]
fn the_floors_name_nothing_above_them() {
    let graph = edges(&modules());
    let within = |file: &Path, folder: &str| name(file).starts_with(folder);
    // (who, what it must not name)
    let rules: &[(&str, &[&str])] = &[
        ("src/config.rs", &["src/"]),
        ("src/config/", &["src/"]),
        ("src/log.rs", &["src/"]),
        ("src/http/", &["src/chat/", "src/push/", "src/redis/", "src/server/", "src/websocket/"]),
        ("src/websocket/", &["src/chat/", "src/push/", "src/redis/", "src/server/"]),
        ("src/json/", &["src/chat/", "src/push/", "src/redis/", "src/server/"]),
        ("src/server/stream.rs", &["src/chat/", "src/push/", "src/redis/"]),
        ("src/chat/", &["src/push/", "src/redis/", "src/server/"]),
    ];
    let mut broken = Vec::new();
    for (file, targets) in &graph {
        for (who, forbidden) in rules {
            if !within(file, who) {
                continue;
            }
            for target in targets {
                // A file's own child modules are part of it (`config.rs`
                // and its `config/push_limits.rs`, compiled with `push`).
                let own_folder = format!("{}/", name(file).trim_end_matches(".rs"));
                if within(target, &own_folder) {
                    continue;
                }
                if forbidden.iter().any(|folder| within(target, folder)) {
                    broken.push(format!("{} names {}", name(file), name(target)));
                }
            }
        }
    }
    assert!(broken.is_empty(), "imports pointing up:\n{}", broken.join("\n"));
}

/// The names of the types a file declares (structs, enums, traits, aliases).
fn declared_types(code: &str) -> Vec<String> {
    let mut names = Vec::new();
    for line in code.lines() {
        let line = line.trim_start();
        let line = line
            .strip_prefix("pub ")
            .or_else(|| line.strip_prefix("pub(").and_then(|rest| Some(rest.split_once(") ")?.1)))
            .unwrap_or(line);
        for keyword in ["struct ", "enum ", "trait ", "type "] {
            if let Some(rest) = line.strip_prefix(keyword) {
                let name: String =
                    rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                names.push(name);
            }
        }
    }
    names
}

#[test]
fn no_two_types_share_a_name() {
    // A reader who meets `Listener` must not have to ask "which one?".
    let mut seen: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut clashes = Vec::new();
    for file in modules().values() {
        for name in declared_types(&code(file)) {
            if let Some(other) = seen.insert(name.clone(), file.clone()) {
                clashes.push(format!("{name}: {} and {}", crate::name(&other), crate::name(file)));
            }
        }
    }
    assert!(clashes.is_empty(), "types that share a name:\n{}", clashes.join("\n"));
}

#[test]
fn the_checker_sees_imports() {
    // It must find what is there, or the two tests above prove nothing.
    let graph = edges(&modules());
    let imports = |from: &str, to: &str| {
        graph.iter().any(|(f, targets)| name(f) == from && targets.iter().any(|t| name(t) == to))
    };
    assert!(imports("src/chat/room.rs", "src/chat/outbox.rs"), "a `use super::` path");
    assert!(imports("src/chat/room.rs", "src/config.rs"), "a `use crate::` path");
    assert!(imports("src/chat/member.rs", "src/websocket/mod.rs"), "a braced `use crate::` path");
    assert!(imports("src/server/session.rs", "src/echo.rs"), "an item inside braces");
    let circle = [
        (PathBuf::from("a"), BTreeSet::from([PathBuf::from("b")])),
        (PathBuf::from("b"), BTreeSet::from([PathBuf::from("a")])),
    ];
    assert!(find_circle(&BTreeMap::from(circle)).is_some());
    let types = declared_types(
        "pub struct Room {\nstruct Member;\npub(crate) enum Phase {\npub trait Numbering: Send {",
    );
    assert_eq!(types, ["Room", "Member", "Phase", "Numbering"]);
}
