//! The minimal-edit corpus: every directory under `tests/fixtures/edit/`
//! holds `before.yaml`, `edits.json` and either `after.yaml` (the exact
//! expected bytes) or `error.txt` (the expected error message).
//!
//! `edits.json` is a list of `{"op": "set", "path": "default.rollout.on",
//! "value": 25}`, `{"op": "remove", "path": …}`, `{"op": "append", "path":
//! …, "values": [...]}` and `{"op": "remove_items", "path": …, "values":
//! [...]}`, applied in one call.
//!
//! Besides the exact bytes, every case checks minimality independently of
//! the expected file: the lines before and after the region the edits may
//! touch (the nodes their paths reach in `before.yaml`, with the comment
//! lines directly above them) are byte-identical, and line endings and the
//! final newline are kept.

#![cfg(feature = "edit")]

use std::fs;
use std::path::{Path as FsPath, PathBuf};

use flagctl::format::edit::{Edit, Path, apply};
use flagctl::format::yaml::{self, SpanTree};
use serde_json::Value;

fn cases() -> Vec<PathBuf> {
    let root = FsPath::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/edit");
    let mut cases: Vec<PathBuf> = fs::read_dir(&root)
        .expect("the corpus directory exists")
        .map(|entry| entry.expect("a readable directory entry").path())
        .filter(|path| path.is_dir())
        .collect();
    cases.sort();
    cases
}

fn read(path: &FsPath) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn edits(case: &FsPath) -> Vec<Edit> {
    let json: Value = serde_json::from_str(&read(&case.join("edits.json")))
        .unwrap_or_else(|e| panic!("{}: edits.json: {e}", case.display()));
    let list = json.as_array().expect("edits.json holds a list");
    list.iter()
        .map(|edit| {
            let op = edit["op"].as_str().expect("an `op`");
            let path = Path::parse(edit["path"].as_str().expect("a `path`"))
                .unwrap_or_else(|e| panic!("{}: {e}", case.display()));
            let values = || edit["values"].as_array().expect("`values`").clone();
            match op {
                "set" => Edit::set(path, edit["value"].clone()),
                "remove" => Edit::remove(path),
                "append" => Edit::append(path, values()),
                "remove_items" => Edit::remove_items(path, values()),
                other => panic!("{}: unknown op `{other}`", case.display()),
            }
        })
        .collect()
}

#[test]
fn corpus() {
    let cases = cases();
    assert!(cases.len() >= 25, "the corpus has {} cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        if let Err(message) = run(case) {
            failures.push(format!(
                "{}: {message}",
                case.file_name().unwrap_or_default().to_string_lossy()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

fn run(case: &FsPath) -> Result<(), String> {
    let before = read(&case.join("before.yaml"));
    let edits = edits(case);
    let result = apply(&before, &edits);
    let error_file = case.join("error.txt");
    if error_file.exists() {
        let expected = read(&error_file);
        return match result {
            Ok(text) => Err(format!("expected an error, got:\n{text}")),
            Err(error) if error.to_string() == expected.trim_end() => Ok(()),
            Err(error) => Err(format!(
                "expected error\n  {}\ngot\n  {error}",
                expected.trim_end()
            )),
        };
    }
    let after = result.map_err(|e| format!("error: {e}"))?;
    let expected = read(&case.join("after.yaml"));
    if after != expected {
        return Err(format!(
            "unexpected result\n--- expected\n{expected}--- got\n{after}--- (debug)\n{after:?}"
        ));
    }
    check_minimal(&before, &after, &edits)?;
    check_endings(&before, &after)
}

/// Lines outside the region the edits may touch are unchanged.
fn check_minimal(before: &str, after: &str, edits: &[Edit]) -> Result<(), String> {
    let document = yaml::parse(before, FsPath::new("before.yaml")).map_err(|e| format!("{e:?}"))?;
    let lines: Vec<&str> = before.split_inclusive('\n').collect();
    let after_lines: Vec<&str> = after.split_inclusive('\n').collect();
    let (mut start, mut end) = (usize::MAX, 0);
    for edit in edits {
        // A removal may rewrite its parent's line (`off: []`, `targets: {}`).
        let path = match edit {
            Edit::Remove { path } => path.parent().unwrap_or_default(),
            other => other.path().clone(),
        };
        let node = document
            .spans
            .lookup(&document.value, &path.to_json_pointer());
        let (first, last) = if std::ptr::eq(node, &document.spans) {
            // Only the root exists on the way: anything may change.
            (0, lines.len())
        } else {
            region(node, &lines)
        };
        start = start.min(first);
        end = end.max(last);
    }
    if edits.is_empty() {
        start = 0;
    }
    let prefix = &lines[..start.min(lines.len())];
    let suffix = &lines[end.min(lines.len())..];
    if after_lines.len() < prefix.len() + suffix.len()
        || after_lines[..prefix.len()] != *prefix
        || after_lines[after_lines.len() - suffix.len()..] != *suffix
    {
        return Err(format!("lines outside {}..={} changed", start + 1, end));
    }
    Ok(())
}

/// The lines (from 0, end exclusive) a node occupies, with the key line,
/// the comment lines directly above, and comment lines indented deeper
/// right after it.
fn region(node: &SpanTree, lines: &[&str]) -> (usize, usize) {
    let start_position = node.key_span.map_or(node.span.start, |key| key.start);
    let line_of = |line: u32| usize::try_from(line).unwrap_or(1).saturating_sub(1);
    let mut first = line_of(start_position.line);
    let mut last = line_of(node.span.end.line) + 1;
    let indent = |line: &str| line.len() - line.trim_start_matches(' ').len();
    let is_comment = |line: &str| line.trim_start().starts_with('#');
    while first > 0 && is_comment(lines[first - 1]) {
        first -= 1;
    }
    let column = lines.get(first).map_or(0, |line| indent(line));
    while last < lines.len() && is_comment(lines[last]) && indent(lines[last]) > column {
        last += 1;
    }
    (first, last.min(lines.len()))
}

fn check_endings(before: &str, after: &str) -> Result<(), String> {
    let crlf = |text: &str| {
        text.contains('\n') && text.matches('\n').count() == text.matches("\r\n").count()
    };
    if crlf(before) && !crlf(after) {
        return Err("CRLF line endings were not kept".to_owned());
    }
    if !before.is_empty() && before.ends_with('\n') != after.ends_with('\n') {
        return Err("the final newline was not kept".to_owned());
    }
    Ok(())
}
