//! Edits made directly on the text at the positions the loader's
//! [`SpanTree`](crate::format::yaml::SpanTree) records: removing an entry
//! of a block collection by lines (with its comment lines), replacing a
//! scalar's text, filling an empty document; and what the tree editor
//! needs to know about the text (where an entry starts, how the document
//! indents). Every result is checked by the caller.

use serde_json::{Map, Value};

use super::lines::{Lines, Removal, indent, is_comment};
use super::path::Segment;
use super::plan::{self, Step};
use super::render::{self, Context, FlowStyle, Indentation, Quoting};
use super::{Attempt, Endings};
use crate::format::yaml::{SpanTree, YamlDocument};

/// Where the `child` of the collection at `parent` starts, and which
/// comment lines above it belong to it. `None` when the entry does not
/// start its line (as the first key of `- name: x`) or positions are off.
pub(crate) fn removal(
    text: &str,
    document: &YamlDocument,
    parent: &[Segment],
    child: &Segment,
) -> Option<Removal> {
    let mut path = parent.to_vec();
    path.push(child.clone());
    let spans = spans_at(document, &path)?;
    let (start, is_item) = match child {
        Segment::Key(_) => (spans.key_span?.start, false),
        Segment::Index(_) => (spans.span.start, true),
    };
    let lines = Lines::new(text);
    let entry_line = usize::try_from(start.line).ok()?.checked_sub(1)?;
    let line = lines.line(entry_line);
    let column = usize::try_from(start.column).ok()?.checked_sub(1)?;
    let prefix: String = line.chars().take(column).collect();
    let starts_line = if is_item {
        prefix.trim() == "-"
    } else {
        prefix.trim().is_empty()
    };
    if !starts_line {
        return None;
    }
    let column = indent(line);
    let mut first_line = entry_line;
    while first_line > 0 {
        let above = lines.line(first_line - 1);
        // The schema modeline belongs to the file, not to an entry.
        if above.trim_start().starts_with("# yaml-language-server:") {
            break;
        }
        if is_comment(above) && indent(above) == column {
            first_line -= 1;
        } else {
            break;
        }
    }
    Some(Removal {
        first_line,
        entry_line,
        column,
    })
}

/// How `text` indents block collections under a key, from its first block
/// mapping and block list under a key: two columns for what it has none
/// of, and for lists the mapping step.
pub(crate) fn indentation(text: &str, document: &YamlDocument) -> Indentation {
    let lines = Lines::new(text);
    let mut mapping = None;
    let mut sequence = None;
    find_layout(
        &lines,
        &document.spans,
        &document.value,
        &mut mapping,
        &mut sequence,
    );
    let mapping = mapping.filter(|step| (1..=8).contains(step)).unwrap_or(2);
    Indentation {
        mapping,
        sequence: sequence.filter(|step| *step <= 8).unwrap_or(mapping),
    }
}

fn find_layout(
    lines: &Lines<'_>,
    spans: &SpanTree,
    value: &Value,
    mapping: &mut Option<usize>,
    sequence: &mut Option<usize>,
) {
    let children: Vec<&Value> = match value {
        Value::Object(map) => map.values().collect(),
        Value::Array(items) => items.iter().collect(),
        _ => return,
    };
    for (child, child_value) in spans.children.iter().zip(children) {
        if mapping.is_some() && sequence.is_some() {
            return;
        }
        if let Some(key) = child.key_span {
            let block = child.span.start.line > key.start.line;
            let key_column = usize::try_from(key.start.column)
                .unwrap_or(0)
                .saturating_sub(1);
            let value_line = usize::try_from(child.span.start.line)
                .unwrap_or(0)
                .saturating_sub(1);
            let step = indent(lines.line(value_line)).checked_sub(key_column);
            match child_value {
                Value::Object(inner) if block && !inner.is_empty() && mapping.is_none() => {
                    *mapping = step.filter(|step| *step > 0);
                }
                Value::Array(items) if block && !items.is_empty() && sequence.is_none() => {
                    *sequence = step;
                }
                _ => {}
            }
        }
        find_layout(lines, child, child_value, mapping, sequence);
    }
}

/// The line and column (from 0) of the key of the mapping entry at `path`.
pub(crate) fn key_position(document: &YamlDocument, path: &[Segment]) -> Option<(usize, usize)> {
    let key = spans_at(document, path)?.key_span?;
    let line = usize::try_from(key.start.line).ok()?.checked_sub(1)?;
    let column = usize::try_from(key.start.column).ok()?.checked_sub(1)?;
    Some((line, column))
}

/// The span tree of the node at `path`, if the path exists.
fn spans_at<'d>(document: &'d YamlDocument, path: &[Segment]) -> Option<&'d SpanTree> {
    let mut spans = &document.spans;
    let mut value = &document.value;
    for segment in path {
        let index = match (value, segment) {
            (Value::Object(map), Segment::Key(key)) => map.keys().position(|k| k == key)?,
            (Value::Array(_), Segment::Index(index)) => *index,
            _ => return None,
        };
        spans = spans.children.get(index)?;
        value = plan::node(value, std::slice::from_ref(segment))?;
    }
    Some(spans)
}

/// Performs a step by splicing text, where that is simple: a single-line
/// scalar replaced by a scalar (or, inside a flow collection, by a flow
/// collection), a key added to an empty document, and an entry or item
/// removed from a block collection that keeps other entries.
pub(crate) fn perform(
    text: &str,
    document: &YamlDocument,
    step: &Step,
    endings: Endings,
) -> Attempt {
    match step {
        Step::Replace { path, value } => replace_scalar(text, document, path, value),
        Step::InsertKey { parent, key, value } if parent.is_empty() && document.value.is_null() => {
            fill_empty_document(text, key, value, endings)
        }
        Step::RemoveKey { parent, index } => match plan::node(&document.value, parent) {
            Some(Value::Object(map)) if map.len() > 1 => match map.keys().nth(*index) {
                Some(key) => remove_block_entry(text, document, parent, &Segment::Key(key.clone())),
                None => Attempt::NotApplicable,
            },
            _ => Attempt::NotApplicable,
        },
        Step::RemoveItem { parent, index } => match plan::node(&document.value, parent) {
            Some(Value::Array(items)) if items.len() > 1 => {
                remove_block_entry(text, document, parent, &Segment::Index(*index))
            }
            _ => Attempt::NotApplicable,
        },
        Step::InsertKey { .. } | Step::Push { .. } => Attempt::NotApplicable,
    }
}

/// Whether the collection at `path` is written in flow style.
fn is_flow(text: &str, document: &YamlDocument, path: &[Segment]) -> bool {
    let lines = Lines::new(text);
    spans_at(document, path)
        .and_then(|spans| lines.offset(spans.span.start))
        .and_then(|at| text.get(at..))
        .is_some_and(|rest| rest.starts_with(['{', '[']))
}

/// Removes an entry (or item) of a block collection that has others, by
/// lines: the comment lines above it, its own lines (everything indented
/// deeper than it), and the blank lines after it when a sibling follows
/// (before it when it was the last).
/// The first key of a list item (`- name: x`) hands its dash to the next
/// key.
fn remove_block_entry(
    text: &str,
    document: &YamlDocument,
    parent: &[Segment],
    child: &Segment,
) -> Attempt {
    if is_flow(text, document, parent) {
        return Attempt::NotApplicable;
    }
    let lines = Lines::new(text);
    let Some(removal) = removal(text, document, parent, child) else {
        return remove_first_key_of_item(text, document, parent, child);
    };
    let dashes = matches!(child, Segment::Key(_)) && has_block_list(document, parent, child);
    let (last, next) = entry_end(&lines, removal.entry_line, removal.column, dashes);
    let follows_sibling = next < lines.len()
        && !lines.line(next).trim().is_empty()
        && indent(lines.line(next)) == removal.column;
    // Blank lines around the entry separated it from its siblings: with a
    // sibling after it, those after it go; as the last entry, those before.
    let (start, end) = if follows_sibling {
        (removal.first_line, next)
    } else {
        let mut start = removal.first_line;
        while start > 0 && lines.line(start - 1).trim().is_empty() {
            start -= 1;
        }
        (start, last)
    };
    let cut = lines.range(start).start..lines.range(end).start;
    let mut out = text.to_owned();
    out.replace_range(cut, "");
    Attempt::Done(vec![out])
}

/// Whether the entry `child` of `parent` holds a list written on the
/// lines below its key.
fn has_block_list(document: &YamlDocument, parent: &[Segment], child: &Segment) -> bool {
    let mut path = parent.to_vec();
    path.push(child.clone());
    let is_list = matches!(plan::node(&document.value, &path), Some(Value::Array(items)) if !items.is_empty());
    is_list
        && spans_at(document, &path)
            .and_then(|spans| Some(spans.span.start.line > spans.key_span?.start.line))
            .unwrap_or(false)
}

/// The end (exclusive) of the lines of an entry starting on `line` at
/// `column`: `(after its last line, after the blank lines that follow)`.
/// With `dashes`, list items at `column` belong to the entry (a key whose
/// value is a list written at the key's column).
fn entry_end(lines: &Lines<'_>, line: usize, column: usize, dashes: bool) -> (usize, usize) {
    let mut last = line + 1;
    let mut next = last;
    while next < lines.len() {
        let text = lines.line(next);
        let item = dashes
            && indent(text) == column
            && (text.trim() == "-" || text.trim_start().starts_with("- "));
        // A flow collection of the entry may close at the key's column; no
        // key or item of a block collection starts with `}` or `]`.
        let closing = text.trim_start().starts_with(['}', ']']);
        if text.trim().is_empty() {
            next += 1;
        } else if indent(text) > column || item || closing {
            next += 1;
            last = next;
        } else {
            break;
        }
    }
    // A final line break leaves an empty last "line"; it is not content.
    (last.min(lines.len()), next.min(lines.len()))
}

/// Removes the first key of a block mapping that is a list item
/// (`- name: x` / `  serve: on` becomes `- serve: on`).
fn remove_first_key_of_item(
    text: &str,
    document: &YamlDocument,
    parent: &[Segment],
    child: &Segment,
) -> Attempt {
    let Segment::Key(_) = child else {
        return Attempt::NotApplicable;
    };
    let mut path = parent.to_vec();
    path.push(child.clone());
    let Some(key_start) = spans_at(document, &path).and_then(|spans| spans.key_span) else {
        return Attempt::NotApplicable;
    };
    let lines = Lines::new(text);
    let Some(entry_line) = usize::try_from(key_start.start.line)
        .ok()
        .and_then(|l| l.checked_sub(1))
    else {
        return Attempt::NotApplicable;
    };
    let line = lines.line(entry_line);
    let Some(column) = usize::try_from(key_start.start.column)
        .ok()
        .and_then(|c| c.checked_sub(1))
    else {
        return Attempt::NotApplicable;
    };
    let prefix: String = line.chars().take(column).collect();
    // `- ` (or `- - ` for a list in a list) before the key.
    if !prefix.ends_with("- ") || !prefix.chars().all(|c| matches!(c, ' ' | '-')) {
        return Attempt::NotApplicable;
    }
    let (last, _) = entry_end(
        &lines,
        entry_line,
        column,
        has_block_list(document, parent, child),
    );
    let sibling = lines.line(last);
    if last >= lines.len()
        || indent(sibling) != column
        || is_comment(sibling)
        || sibling.trim().is_empty()
    {
        return Attempt::NotApplicable;
    }
    let joined = format!("{prefix}{}", &sibling[column..]);
    let cut = lines.range(entry_line).start..lines.range(last).start + sibling.len();
    let mut out = text.to_owned();
    out.replace_range(cut, &joined);
    Attempt::Done(vec![out])
}

fn replace_scalar(text: &str, document: &YamlDocument, path: &[Segment], value: &Value) -> Attempt {
    let Some(old) = plan::node(&document.value, path) else {
        return Attempt::NotApplicable;
    };
    let Some(spans) = spans_at(document, path) else {
        return Attempt::NotApplicable;
    };
    if matches!(old, Value::Object(_) | Value::Array(_)) || !spans.span.is_single_line() {
        return Attempt::NotApplicable;
    }
    let lines = Lines::new(text);
    let (Some(start), Some(end)) = (lines.offset(spans.span.start), lines.offset(spans.span.end))
    else {
        return Attempt::NotApplicable;
    };
    let Some(raw) = text.get(start..end) else {
        return Attempt::NotApplicable;
    };
    if raw.is_empty() || raw.starts_with(['|', '>', '&', '!', '*']) {
        return Attempt::NotApplicable;
    }
    // The loader's span of a quoted scalar runs on over the spaces and
    // comment after it; the scalar itself ends at its closing quote.
    let Some(length) = scalar_length(raw) else {
        return Attempt::NotApplicable;
    };
    let (raw, end) = (&raw[..length], start + length);
    let parent_path = &path[..path.len().saturating_sub(1)];
    let in_flow = spans_at(document, parent_path)
        .and_then(|parent| lines.offset(parent.span.start))
        .and_then(|at| text.get(at..))
        .is_some_and(|rest| rest.starts_with(['{', '[']));
    let replacement = match value {
        Value::Object(_) | Value::Array(_) if render::is_inline(value) || in_flow => {
            render::flow(value, FlowStyle::default())
        }
        Value::Object(_) | Value::Array(_) => return Attempt::NotApplicable,
        Value::String(_) if old.is_string() => {
            let context = if in_flow {
                Context::Flow
            } else {
                Context::Block
            };
            render::scalar(value, context, quoting_of(raw))
        }
        _ => render::scalar(
            value,
            if in_flow {
                Context::Flow
            } else {
                Context::Block
            },
            Quoting::Auto,
        ),
    };
    let mut out = text.to_owned();
    out.replace_range(start..end, &replacement);
    Attempt::Done(vec![out])
}

/// The length in bytes of the single-line scalar `raw` starts with: up to
/// the closing quote of a quoted scalar, before trailing blanks or a
/// comment of a plain one. `None` for an unclosed quote.
fn scalar_length(raw: &str) -> Option<usize> {
    let mut chars = raw.char_indices().peekable();
    match chars.next()? {
        (_, '\'') => {
            while let Some((i, c)) = chars.next() {
                if c == '\'' {
                    if chars.peek().is_some_and(|(_, next)| *next == '\'') {
                        chars.next();
                    } else {
                        return Some(i + 1);
                    }
                }
            }
            None
        }
        (_, '"') => {
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        chars.next();
                    }
                    '"' => return Some(i + 1),
                    _ => {}
                }
            }
            None
        }
        _ => {
            let plain = raw.find(" #").map_or(raw, |comment| &raw[..comment]);
            Some(plain.trim_end_matches([' ', '\t']).len())
        }
    }
}

/// The quoting a scalar's source text uses.
pub(crate) fn quoting_of(raw: &str) -> Quoting {
    if raw.starts_with('\'') {
        Quoting::Single
    } else if raw.starts_with('"') {
        Quoting::Double
    } else {
        Quoting::Auto
    }
}

/// Appends `key: value` to a document that holds nothing but comments,
/// blank lines and perhaps a `---` marker (an overlay file that only has
/// its header).
fn fill_empty_document(text: &str, key: &str, value: &Value, endings: Endings) -> Attempt {
    let lines = Lines::new(text);
    let only_trivia = (0..lines.len()).all(|i| {
        let line = lines.line(i).trim();
        line.is_empty() || line.starts_with('#') || line == "---"
    });
    if !only_trivia {
        return Attempt::Unsupported("the document's root is not a mapping");
    }
    let mut map = Map::new();
    map.insert(key.to_owned(), value.clone());
    let body = render::block(&Value::Object(map)).replace('\n', endings.eol());
    let mut out = text.to_owned();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push_str(endings.eol());
    }
    out.push_str(&body);
    Attempt::Done(vec![out])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spliced(text: &str, step: &Step) -> String {
        let document =
            crate::format::yaml::parse(text, std::path::Path::new("t")).expect("valid YAML");
        match perform(text, &document, step, Endings::of(text)) {
            Attempt::Done(mut candidates) => candidates.remove(0),
            Attempt::Unsupported(reason) => panic!("unsupported: {reason}"),
            Attempt::NotApplicable => panic!("not applicable"),
        }
    }

    fn replace(path: &[&str], value: Value) -> Step {
        Step::Replace {
            path: path.iter().map(|k| Segment::from(*k)).collect(),
            value,
        }
    }

    #[test]
    fn scalars_are_replaced_in_place() {
        let text = "a: 'x' # c\r\nb: { c: \"y\", d: 1 }\r\ng: größe\r\n";
        assert_eq!(
            spliced(text, &replace(&["a"], serde_json::json!("it's"))),
            "a: 'it''s' # c\r\nb: { c: \"y\", d: 1 }\r\ng: größe\r\n"
        );
        assert_eq!(
            spliced(text, &replace(&["b", "c"], serde_json::json!("p, q"))),
            "a: 'x' # c\r\nb: { c: \"p, q\", d: 1 }\r\ng: größe\r\n"
        );
        assert_eq!(
            spliced(text, &replace(&["b", "d"], serde_json::json!([1, 2]))),
            "a: 'x' # c\r\nb: { c: \"y\", d: [1, 2] }\r\ng: größe\r\n"
        );
        assert_eq!(
            spliced(text, &replace(&["g"], serde_json::json!("true"))),
            "a: 'x' # c\r\nb: { c: \"y\", d: 1 }\r\ng: \"true\"\r\n"
        );
    }

    #[test]
    fn block_entries_are_removed_by_lines() {
        let text = "a: 1\n# about b\nb:\n  c: |\n    text\n\n  d: 2\nrules:\n  - name: x # n\n    serve: on\n";
        let remove_b = Step::RemoveKey {
            parent: vec![],
            index: 1,
        };
        assert_eq!(
            spliced(text, &remove_b),
            "a: 1\nrules:\n  - name: x # n\n    serve: on\n"
        );
        let remove_name = Step::RemoveKey {
            parent: vec![Segment::from("rules"), Segment::Index(0)],
            index: 0,
        };
        let text = "rules:\n  - name: x # n\n    serve: on\n";
        assert_eq!(spliced(text, &remove_name), "rules:\n  - serve: on\n");
    }

    #[test]
    fn scalar_lengths() {
        assert_eq!(scalar_length("'x' # c"), Some(3));
        assert_eq!(scalar_length("'it''s'  "), Some(7));
        assert_eq!(scalar_length("\"a\\\"b\" # c"), Some(6));
        assert_eq!(scalar_length("plain text # c"), Some(10));
        assert_eq!(scalar_length("a#b  "), Some(3));
        assert_eq!(scalar_length("'open"), None);
    }

    #[test]
    fn empty_documents_are_filled() {
        let step = Step::InsertKey {
            parent: vec![],
            key: "default".to_owned(),
            value: serde_json::json!({"rollout": {"on": 10}}),
        };
        assert_eq!(
            spliced("# h\r\n", &step),
            "# h\r\ndefault:\r\n  rollout:\r\n    on: 10\r\n"
        );
        assert_eq!(
            spliced("# h", &step),
            "# h\ndefault:\n  rollout:\n    on: 10\n"
        );
        assert_eq!(spliced("", &step), "default:\n  rollout:\n    on: 10\n");
    }

    #[test]
    fn layouts() {
        let layout = |text: &str| {
            indentation(
                text,
                &crate::format::yaml::parse(text, std::path::Path::new("t")).expect("valid YAML"),
            )
        };
        assert_eq!(
            layout("a: 1\n"),
            Indentation {
                mapping: 2,
                sequence: 2
            }
        );
        assert_eq!(
            layout("a:\n    b: 1\n"),
            Indentation {
                mapping: 4,
                sequence: 4
            }
        );
        assert_eq!(
            layout("a:\n    b:\n    - x\n"),
            Indentation {
                mapping: 4,
                sequence: 0
            }
        );
        assert_eq!(
            layout("t:\n  - a\nm:\n   k: 1\n"),
            Indentation {
                mapping: 3,
                sequence: 2
            }
        );
        assert_eq!(
            layout("r:\n  - x: {a: 1}\n    y:\n      z: 1\n"),
            Indentation {
                mapping: 2,
                sequence: 2
            }
        );
        assert_eq!(
            layout("r:\n- y:\n      z: 1\n"),
            Indentation {
                mapping: 4,
                sequence: 0
            }
        );
    }

    #[test]
    fn attached_comment_lines() {
        let text = "a: 1\n\n# about b\n# more\nb: 2\n  # deeper\nc:\n  # about d\n  - d\n";
        let document =
            crate::format::yaml::parse(text, std::path::Path::new("t")).expect("valid YAML");
        let b =
            removal(text, &document, &[], &Segment::from("b")).expect("the entry starts its line");
        assert_eq!(
            b,
            Removal {
                first_line: 2,
                entry_line: 4,
                column: 0
            }
        );
        let d = removal(text, &document, &[Segment::from("c")], &Segment::Index(0))
            .expect("the entry starts its line");
        assert_eq!(
            d,
            Removal {
                first_line: 7,
                entry_line: 8,
                column: 2
            }
        );
    }
}
