//! The chapters and the referees agree: every exercise says when it is
//! done and names its referee (or says how to check it by hand), and every
//! referee here is named by its exercise.

use std::fs;
use std::path::{Path, PathBuf};

/// The chapters whose exercises follow the referee convention.
const CHAPTERS: &[u32] = &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10];

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The `docs/NN-*.md` file of chapter `number`.
fn chapter_file(number: u32) -> PathBuf {
    let prefix = format!("{number:02}-");
    let docs = repo_root().join("docs");
    fs::read_dir(&docs)
        .expect("docs/ is readable")
        .map(|entry| entry.expect("an entry").path())
        .find(|path| {
            path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(&prefix))
        })
        .unwrap_or_else(|| panic!("no docs/{prefix}*.md"))
}

/// The numbered items of the last `## Exercises` section, each with its
/// continuation lines.
fn exercises(text: &str) -> Vec<String> {
    let section = text.rsplit("\n## Exercises").next().unwrap_or("");
    let mut items: Vec<String> = Vec::new();
    for line in section.lines() {
        if line.starts_with(&format!("{}. ", items.len() + 1)) {
            items.push(line.to_string());
        } else if let Some(item) = items.last_mut() {
            item.push('\n');
            item.push_str(line);
        }
    }
    items
}

/// Every `#[ignore = "exercise: chNN exM"]` test in this folder, as
/// (`chNN exM`, function name).
fn referees() -> Vec<(String, String)> {
    let folder = repo_root().join("tests/exercises");
    let mut found = Vec::new();
    for entry in fs::read_dir(&folder).expect("tests/exercises/ is readable") {
        let path = entry.expect("an entry").path();
        if path.extension().is_some_and(|e| e == "rs") {
            found.extend(referees_in(&path));
        }
    }
    found
}

fn referees_in(path: &Path) -> Vec<(String, String)> {
    let text = fs::read_to_string(path).expect("a readable source file");
    let lines: Vec<&str> = text.lines().collect();
    let mut found = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(rest) = line.trim().strip_prefix("#[ignore = \"exercise: ") else {
            continue;
        };
        let label = rest.trim_end_matches("\"]").to_string();
        let function = lines[i + 1..]
            .iter()
            .find_map(|l| l.trim().strip_prefix("fn "))
            .and_then(|l| l.split('(').next())
            .unwrap_or_else(|| panic!("{}: no fn after {line}", path.display()));
        found.push((label, function.to_string()));
    }
    found
}

#[test]
fn every_exercise_names_its_referee() {
    let referees = referees();
    let mut problems = Vec::new();
    for (label, function) in &referees {
        // `ch03 ex2` goes with `ch03_ex2_...`, the filter the docs print.
        if !function.starts_with(&format!("{}_", label.replace(' ', "_"))) {
            problems.push(format!("{function} is labelled {label:?}: the name must start with it"));
        }
    }
    for &number in CHAPTERS {
        let path = chapter_file(number);
        let text = fs::read_to_string(&path).expect("a readable chapter");
        for (index, item) in exercises(&text).iter().enumerate() {
            // Markdown wraps lines anywhere: compare with single spaces.
            let item = item.split_whitespace().collect::<Vec<_>>().join(" ");
            let label = format!("ch{number:02} ex{}", index + 1);
            let filter = label.replace(' ', "_");
            let command = format!("cargo test --test exercises -- --ignored {filter}");
            let has_referee = referees.iter().any(|(l, _)| *l == label);
            if !item.contains("**Done when**") {
                problems.push(format!("{label}: no **Done when** sentence"));
            }
            match (has_referee, item.contains(&command), item.contains("**How to check:**")) {
                (true, true, _) | (false, false, true) => {}
                (true, false, _) => {
                    problems.push(format!("{label}: has a referee; print `{command}`"))
                }
                (false, true, _) => {
                    problems.push(format!("{label}: names `{command}`, which is missing"))
                }
                (false, false, false) => problems
                    .push(format!("{label}: needs a referee or a **How to check:** paragraph")),
            }
        }
    }
    for (label, function) in &referees {
        let number: u32 = label[2..4].parse().unwrap_or(0);
        if !CHAPTERS.contains(&number) {
            problems.push(format!("{function}: chapter {number} is not in CHAPTERS"));
        }
    }
    assert!(problems.is_empty(), "exercises and referees disagree:\n{}", problems.join("\n"));
}
