//! Property tests: rendering round-trips, and random edits of random
//! documents either fail or give text that reads back as exactly the value
//! a small model of the edit predicts (the model here is independent of
//! `plan`). Arbitrary input never panics.

use std::path::Path as FilePath;

use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{Map, Number, Value};

use super::plan::same;
use super::render::{self, Context, FlowStyle, Quoting};
use super::{Edit, EditError, Path, Segment, apply, render_new};

fn reparse(text: &str) -> Value {
    match crate::format::yaml::parse(text, FilePath::new("t.yaml")) {
        Ok(document) => document.value,
        Err(errors) => panic!("{text:?} does not parse: {errors:?}"),
    }
}

const KEYS: &[&str] = &[
    "key", "on", "off", "yes", "default", "rollout", "rules", "targets", "serve", "my.key", "a[0]",
    "10", "true", "null", "a: b", "", "größe", "<<", "-x", "#c", "x y", "'q'", "\"d\"", "~",
    ".inf",
];

const STRINGS: &[&str] = &[
    "on",
    "off",
    "true",
    "10",
    "-1",
    "0x1f",
    "1e3",
    "",
    " ",
    "a: b",
    "a #b",
    "x, y",
    "[x]",
    "{x}",
    "*a",
    "&a",
    "!t",
    "|",
    ">",
    "%",
    "@",
    "`",
    "'",
    "\"",
    "\\",
    "---",
    "...",
    "- x",
    "? x",
    "2027-03-31",
    "größe 🚀",
    "two\nlines",
    "tab\tx",
    "\u{85}",
    "\u{2028}",
    "\u{feff}x",
    "\r",
    "new-checkout",
];

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(KEYS).prop_map(str::to_owned),
        "[a-z_][a-z0-9_.-]{0,8}",
        any::<String>().prop_map(|s| s.chars().take(12).collect()),
    ]
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-1000i64..1000).prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| Number::from_f64(f).map_or(Value::Null, Value::Number)),
        (0u32..100_000).prop_map(|n| Value::from(f64::from(n) / 1000.0)),
        prop::sample::select(STRINGS).prop_map(Value::from),
        "[a-zA-Z0-9 ,.:#-]{0,16}".prop_map(Value::from),
        any::<String>().prop_map(|s| Value::from(s.chars().take(16).collect::<String>())),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(4, 48, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..5).prop_map(object),
        ]
    })
}

fn object(entries: Vec<(String, Value)>) -> Value {
    let mut map = Map::new();
    for (k, v) in entries {
        map.entry(k).or_insert(v);
    }
    Value::Object(map)
}

/// A flag-like document: a mapping at the root.
fn document() -> impl Strategy<Value = Value> {
    prop::collection::vec((key(), value()), 0..7).prop_map(object)
}

/// Every path to a node of `value` (the root excluded).
fn paths(value: &Value) -> Vec<Vec<Segment>> {
    fn walk(value: &Value, at: &mut Vec<Segment>, out: &mut Vec<Vec<Segment>>) {
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    at.push(Segment::Key(k.clone()));
                    out.push(at.clone());
                    walk(v, at, out);
                    at.pop();
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    at.push(Segment::Index(i));
                    out.push(at.clone());
                    walk(v, at, out);
                    at.pop();
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(value, &mut Vec::new(), &mut out);
    out
}

#[derive(Clone, Debug)]
enum Op {
    Set(Value),
    SetChild(String, Value),
    Remove,
    Append(Value),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => value().prop_map(Op::Set),
        1 => (key(), value()).prop_map(|(k, v)| Op::SetChild(k, v)),
        2 => Just(Op::Remove),
        1 => scalar().prop_map(Op::Append),
    ]
}

/// Picks a target path in `root` and makes the edit.
fn edit(root: &Value, target: &Index, op: &Op) -> Edit {
    let mut candidates = paths(root);
    candidates.push(vec![Segment::Key("fresh".to_owned())]);
    let path = Path::from(target.get(&candidates).clone());
    match op {
        Op::Set(value) => Edit::set(path, value.clone()),
        Op::SetChild(key, value) => Edit::set(path.key(key.clone()), value.clone()),
        Op::Remove => Edit::remove(path),
        Op::Append(value) => Edit::append(path, [value.clone()]),
    }
}

/// What the edit should do, worked out the plain way; `None` when it
/// cannot apply.
fn model(root: &Value, edit: &Edit) -> Option<Value> {
    let mut value = root.clone();
    let segments = edit.path().segments();
    let (last, parent) = segments.split_last()?;
    let mut node = &mut value;
    let creating = matches!(edit, Edit::Set { .. } | Edit::Append { .. });
    for segment in parent {
        if node.is_null() && creating {
            *node = Value::Object(Map::new());
        }
        node = match (node, segment) {
            (Value::Object(map), Segment::Key(k)) => {
                if creating && !map.contains_key(k) {
                    map.insert(k.clone(), Value::Object(Map::new()));
                }
                map.get_mut(k)?
            }
            (Value::Array(items), Segment::Index(i)) => items.get_mut(*i)?,
            _ => return None,
        };
    }
    if node.is_null() && creating && matches!(last, Segment::Key(_)) {
        *node = Value::Object(Map::new());
    }
    match (edit, node, last) {
        (Edit::Set { value: new, .. }, Value::Object(map), Segment::Key(k)) => {
            map.insert(k.clone(), new.clone());
        }
        (Edit::Set { value: new, .. }, Value::Array(items), Segment::Index(i)) => {
            *items.get_mut(*i)? = new.clone();
        }
        (Edit::Remove { .. }, Value::Object(map), Segment::Key(k)) => {
            map.shift_remove(k)?;
        }
        (Edit::Remove { .. }, Value::Array(items), Segment::Index(i)) => {
            if *i >= items.len() {
                return None;
            }
            items.remove(*i);
        }
        (Edit::Append { values, .. }, node, last) => {
            let list = match (node, last) {
                (Value::Object(map), Segment::Key(k)) => map
                    .entry(k.clone())
                    .or_insert_with(|| Value::Array(Vec::new())),
                (Value::Array(items), Segment::Index(i)) => items.get_mut(*i)?,
                _ => return None,
            };
            if list.is_null() {
                *list = Value::Array(Vec::new());
            }
            let Value::Array(items) = list else {
                return None;
            };
            for v in values {
                if !items.contains(v) {
                    items.push(v.clone());
                }
            }
        }
        _ => return None,
    }
    Some(value)
}

/// Errors that say the editor could not do an edit that is valid.
fn is_editor_limit(error: &EditError) -> bool {
    matches!(
        error,
        EditError::Unfaithful { .. }
            | EditError::Unsupported { .. }
            | EditError::InvalidResult { .. }
    )
}

fn check(text: &str, root: &Value, edit: &Edit, strict: bool) -> Result<(), TestCaseError> {
    let expected = model(root, edit);
    match (apply(text, std::slice::from_ref(edit)), expected) {
        (Ok(after), Some(expected)) => {
            let got = reparse(&after);
            prop_assert!(
                same(&got, &expected),
                "{edit:?}\n{text}---\n{after}---\nexpected {expected}\ngot {got}"
            );
        }
        (Ok(after), None) => {
            prop_assert!(false, "{edit:?} should fail on\n{text}---\ngot\n{after}");
        }
        (Err(error), Some(_)) => {
            prop_assert!(
                !strict && is_editor_limit(&error),
                "{edit:?} on\n{text}---\nfailed: {error}"
            );
        }
        (Err(error), None) => {
            prop_assert!(
                !is_editor_limit(&error),
                "{edit:?} on\n{text}---\nfailed: {error}"
            );
        }
    }
    Ok(())
}

/// A layout for documents other than `render_new`'s.
#[derive(Clone, Copy, Debug)]
struct Layout {
    step: usize,
    indentless: bool,
    /// Collections this deep and deeper are written in flow style.
    flow_depth: usize,
    padded: bool,
}

fn layout() -> impl Strategy<Value = Layout> {
    (1usize..5, any::<bool>(), 1usize..5, any::<bool>()).prop_map(
        |(step, indentless, flow_depth, padded)| Layout {
            step,
            indentless,
            flow_depth,
            padded,
        },
    )
}

/// Renders a root mapping in `layout`.
fn render_varied(value: &Value, layout: Layout) -> String {
    fn entries(
        out: &mut String,
        map: &Map<String, Value>,
        indent: usize,
        depth: usize,
        layout: Layout,
    ) {
        for (k, v) in map {
            out.push_str(&" ".repeat(indent));
            out.push_str(&render::key(k, Context::Block));
            out.push(':');
            node(out, v, indent, depth, layout, true);
        }
    }
    fn items(out: &mut String, items: &[Value], indent: usize, depth: usize, layout: Layout) {
        for item in items {
            out.push_str(&" ".repeat(indent));
            out.push('-');
            match item {
                Value::Object(map) if !map.is_empty() && depth + 1 < layout.flow_depth => {
                    let mut nested = String::new();
                    entries(&mut nested, map, indent + 2, depth + 1, layout);
                    out.push(' ');
                    out.push_str(&nested[indent + 2..]);
                }
                other => node(out, other, indent, depth, layout, false),
            }
        }
    }
    fn node(
        out: &mut String,
        value: &Value,
        indent: usize,
        depth: usize,
        layout: Layout,
        under_key: bool,
    ) {
        let style = FlowStyle {
            mapping_padded: layout.padded,
            sequence_padded: layout.padded,
        };
        match value {
            Value::Object(map) if !map.is_empty() && depth + 1 < layout.flow_depth => {
                out.push('\n');
                entries(out, map, indent + layout.step, depth + 1, layout);
            }
            Value::Array(list) if !list.is_empty() && depth + 1 < layout.flow_depth => {
                out.push('\n');
                let dash = if under_key && layout.indentless {
                    indent
                } else {
                    indent + layout.step.max(2)
                };
                items(out, list, dash, depth + 1, layout);
            }
            Value::Object(_) | Value::Array(_) => {
                out.push(' ');
                out.push_str(&render::flow(value, style));
                out.push('\n');
            }
            scalar => {
                out.push(' ');
                out.push_str(&render::scalar(scalar, Context::Block, Quoting::Auto));
                out.push('\n');
            }
        }
    }
    let mut out = String::from("# header\n");
    match value {
        Value::Object(map) if !map.is_empty() => entries(&mut out, map, 0, 0, layout),
        other => out.push_str(&render::block(other)),
    }
    out
}

/// The corpus documents, edited at random below.
fn corpus() -> Vec<String> {
    let root = FilePath::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/edit");
    let mut texts = Vec::new();
    if let Ok(entries) = std::fs::read_dir(root) {
        for entry in entries.flatten() {
            if let Ok(text) = std::fs::read_to_string(entry.path().join("before.yaml")) {
                texts.push(text);
            }
        }
    }
    texts.sort();
    texts
}

proptest! {
    #[test]
    fn render_new_round_trips(value in value(), header in proptest::option::of("[ -~]{0,20}")) {
        let text = render_new(&value, header.as_deref());
        let got = reparse(&text);
        prop_assert!(same(&got, &value), "{text}\nexpected {value}\ngot {got}");
    }

    #[test]
    fn edits_of_rendered_documents_are_faithful(
        root in document(),
        target in any::<Index>(),
        op in op(),
    ) {
        let text = render_new(&root, Some("yaml-language-server: $schema=x"));
        let edit = edit(&root, &target, &op);
        check(&text, &root, &edit, true)?;
    }

    #[test]
    fn edits_of_varied_layouts_are_faithful(
        root in document(),
        layout in layout(),
        target in any::<Index>(),
        op in op(),
    ) {
        let text = render_varied(&root, layout);
        let read = reparse(&text);
        prop_assert!(same(&read, &root), "{layout:?}\n{text}");
        let edit = edit(&root, &target, &op);
        check(&text, &root, &edit, true)?;
    }

    #[test]
    fn edits_of_corpus_documents_are_faithful(
        which in any::<Index>(),
        target in any::<Index>(),
        op in op(),
    ) {
        let texts = corpus();
        prop_assume!(!texts.is_empty());
        let text = which.get(&texts);
        let root = reparse(text);
        let edit = edit(&root, &target, &op);
        check(text, &root, &edit, false)?;
    }

    #[test]
    fn several_edits_in_one_call(
        root in document(),
        picks in prop::collection::vec((any::<Index>(), op()), 1..4),
    ) {
        let text = render_new(&root, None);
        let mut expected = Some(root.clone());
        let mut edits = Vec::new();
        for (target, op) in &picks {
            let Some(current) = &expected else { break };
            let edit = edit(current, target, op);
            expected = model(current, &edit);
            edits.push(edit);
        }
        match (apply(&text, &edits), expected) {
            (Ok(after), Some(expected)) => {
                let got = reparse(&after);
                prop_assert!(same(&got, &expected), "{edits:?}\n{text}---\n{after}");
            }
            (Err(error), _) => prop_assert!(!is_editor_limit(&error), "{edits:?} on\n{text}---\n{error}"),
            (Ok(after), None) => prop_assert!(false, "{edits:?} should fail, got\n{after}"),
        }
    }

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>(), path in "[a-z.\\[\\]0-9\"]{1,12}", value in value()) {
        if let Ok(path) = Path::parse(&path) {
            let edits = [Edit::set(path.clone(), value.clone()), Edit::remove(path.clone()), Edit::append(path, [value])];
            for edit in edits {
                let _ = apply(&text, std::slice::from_ref(&edit));
            }
        }
    }

    #[test]
    fn yaml_like_text_never_panics(
        lines in prop::collection::vec(prop::sample::select(&[
            "a: 1", "  b: [x, y]", "- z", "  - w", "# c", "", "c: { d: 1 }", "e: &x 1", "f: *x",
            "g: |", "  text", "h: 'q'", "---", "i:", "  j: k # l", "\t", "? m", ": n", "o: !!str 1",
        ][..]), 0..10),
        crlf in any::<bool>(),
        target in "[a-j]",
        value in value(),
    ) {
        let text = lines.join(if crlf { "\r\n" } else { "\n" });
        let Ok(path) = Path::parse(&target) else { return Ok(()) };
        for edit in [Edit::set(path.clone(), value.clone()), Edit::remove(path.clone()), Edit::append(path, [value])] {
            if let Ok(after) = apply(&text, std::slice::from_ref(&edit)) {
                // A success always reads back.
                let _ = reparse(&after);
            }
        }
    }

    #[test]
    fn paths_never_panic(text in any::<String>()) {
        if let Ok(path) = Path::parse(&text) {
            prop_assert_eq!(Path::parse(&path.to_string()), Ok(path));
        }
    }
}
