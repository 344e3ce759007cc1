//! Writing JSON values as YAML text: scalars quoted only where YAML 1.2's
//! core schema (the one `crate::format::yaml` reads by) would otherwise read
//! them as something else, block style for new documents and block
//! collections, flow style inside flow collections.

use serde_json::{Map, Value};

/// How a string scalar should be quoted when it does not have to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) enum Quoting {
    /// Plain where possible, else double-quoted.
    #[default]
    Auto,
    /// Single-quoted where the text allows it, else double-quoted.
    Single,
    /// Always double-quoted.
    Double,
}

/// Where a scalar is written: flow collections forbid more plain text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Context {
    /// A block collection or the document root.
    Block,
    /// Inside `{ … }` or `[ … ]`.
    Flow,
}

/// Whether flow collections put spaces inside their brackets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FlowStyle {
    /// `{ a: 1 }` rather than `{a: 1}`.
    pub mapping_padded: bool,
    /// `[ a, b ]` rather than `[a, b]`.
    pub sequence_padded: bool,
}

impl Default for FlowStyle {
    /// The style of the design document: `{ on: 10, off: 90 }`, `[alice, bob]`.
    fn default() -> FlowStyle {
        FlowStyle {
            mapping_padded: true,
            sequence_padded: false,
        }
    }
}

/// A scalar value (not an object or array) as YAML text.
pub(crate) fn scalar(value: &Value, context: Context, quoting: Quoting) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => string(s, context, quoting),
        // Callers pass scalars only; an empty collection is still correct.
        Value::Array(_) | Value::Object(_) => flow(value, FlowStyle::default()),
    }
}

/// A string scalar as YAML text.
pub(crate) fn string(text: &str, context: Context, quoting: Quoting) -> String {
    match quoting {
        Quoting::Auto if plain_is_safe(text, context) => text.to_owned(),
        Quoting::Single => single_quoted(text).unwrap_or_else(|| double_quoted(text)),
        Quoting::Auto | Quoting::Double => double_quoted(text),
    }
}

/// A mapping key as YAML text.
pub(crate) fn key(text: &str, context: Context) -> String {
    // `<<` is a merge key to YAML 1.1 tools (and to yaml-edit).
    if text == "<<" {
        return double_quoted(text);
    }
    string(text, context, Quoting::Auto)
}

/// Whether `text` can be written as a plain scalar and read back as the
/// same string, in block or flow context.
///
/// Conservative: it quotes some strings a YAML parser would accept plain.
pub(crate) fn plain_is_safe(text: &str, context: Context) -> bool {
    let Some(first) = text.chars().next() else {
        return false;
    };
    if resolves_to_non_string(text)
        || first.is_whitespace()
        || text.ends_with(char::is_whitespace)
        || "-?:,[]{}#&*!|>'\"%@`".contains(first)
        || text.starts_with("...")
        || text.chars().any(needs_escape)
        || text.contains(": ")
        || text.ends_with(':')
        || text.contains(" #")
    {
        return false;
    }
    match context {
        Context::Block => true,
        // saphyr refuses `{a: x -}`: an indicator after a space is quoted.
        Context::Flow => {
            !text.contains([',', '[', ']', '{', '}', ':'])
                && !text.contains(" -")
                && !text.contains(" ?")
        }
    }
}

/// Characters written as escapes in double quotes and never plain or
/// single-quoted: control characters (tab and line breaks included), the
/// Unicode line and paragraph separators and the byte order mark.
fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}')
}

/// `text` in double quotes, escaped.
pub(crate) fn double_quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            c if needs_escape(c) => {
                let code = u32::from(c);
                if code <= 0xffff {
                    out.push_str(&format!("\\u{code:04X}"));
                } else {
                    out.push_str(&format!("\\U{code:08X}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `text` in single quotes, or `None` when it holds characters that need
/// escapes (which single quotes do not have).
pub(crate) fn single_quoted(text: &str) -> Option<String> {
    if text.chars().any(needs_escape) {
        return None;
    }
    Some(format!("'{}'", text.replace('\'', "''")))
}

/// Whether a plain scalar spelled `text` reads as something other than a
/// string under YAML 1.2's core schema (null, booleans, integers in
/// decimal, octal and hexadecimal, floats, infinities, not-a-number): the
/// loader's own resolution, so the two never disagree.
pub(crate) fn resolves_to_non_string(text: &str) -> bool {
    !matches!(
        crate::format::yaml::resolve_plain(text),
        Some(Value::String(_))
    )
}

/// Any value in flow style, on one line.
pub(crate) fn flow(value: &Value, style: FlowStyle) -> String {
    match value {
        Value::Object(map) if map.is_empty() => "{}".to_owned(),
        Value::Array(items) if items.is_empty() => "[]".to_owned(),
        Value::Object(map) => {
            let entries: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}: {}", key(k, Context::Flow), flow(v, style)))
                .collect();
            bracket('{', &entries.join(", "), '}', style.mapping_padded)
        }
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(|v| flow(v, style)).collect();
            bracket('[', &items.join(", "), ']', style.sequence_padded)
        }
        scalar_value => scalar(scalar_value, Context::Flow, Quoting::Auto),
    }
}

fn bracket(open: char, inner: &str, close: char, padded: bool) -> String {
    if padded {
        format!("{open} {inner} {close}")
    } else {
        format!("{open}{inner}{close}")
    }
}

/// Whether a value is written on its key's line (scalars and empty
/// collections) rather than in an indented block below it.
pub(crate) fn is_inline(value: &Value) -> bool {
    match value {
        Value::Object(map) => map.is_empty(),
        Value::Array(items) => items.is_empty(),
        _ => true,
    }
}

/// A value as a block document body with two-space indentation: each line
/// ends with `\n`. Scalars and empty collections give one line.
pub(crate) fn block(value: &Value) -> String {
    block_indented(value, Indentation::default())
}

/// How far block collections are indented under their key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Indentation {
    /// Columns from a key to the keys of its mapping value (at least 1).
    pub mapping: usize,
    /// Columns from a key to the dashes of its list value (0 writes
    /// `key:` / `- item` at the same column).
    pub sequence: usize,
}

impl Default for Indentation {
    fn default() -> Indentation {
        Indentation {
            mapping: 2,
            sequence: 2,
        }
    }
}

/// [`block`] with the document's own indentation.
pub(crate) fn block_indented(value: &Value, indentation: Indentation) -> String {
    let mut out = String::new();
    if is_inline(value) {
        out.push_str(&flow(value, FlowStyle::default()));
        out.push('\n');
    } else {
        let indentation = Indentation {
            mapping: indentation.mapping.max(1),
            ..indentation
        };
        block_into(&mut out, value, 0, indentation);
    }
    out
}

/// A non-empty collection in block style, its lines indented by `indent`.
fn block_into(out: &mut String, value: &Value, indent: usize, indentation: Indentation) {
    match value {
        Value::Object(map) => block_mapping(out, map, indent, indentation),
        Value::Array(items) => {
            for item in items {
                if is_inline(item) {
                    push_indent(out, indent);
                    out.push_str("- ");
                    out.push_str(&inline(item));
                    out.push('\n');
                } else {
                    // A nested collection starts on the dash's line:
                    // `- name: x` / `  serve: on`, or `- - a`.
                    let mut nested = String::new();
                    block_into(&mut nested, item, indent + 2, indentation);
                    push_indent(out, indent);
                    out.push_str("- ");
                    out.push_str(&nested[indent + 2..]);
                }
            }
        }
        scalar_value => {
            push_indent(out, indent);
            out.push_str(&inline(scalar_value));
            out.push('\n');
        }
    }
}

fn block_mapping(
    out: &mut String,
    map: &Map<String, Value>,
    indent: usize,
    indentation: Indentation,
) {
    for (k, v) in map {
        push_indent(out, indent);
        out.push_str(&key(k, Context::Block));
        out.push(':');
        if is_inline(v) {
            out.push(' ');
            out.push_str(&inline(v));
            out.push('\n');
        } else {
            out.push('\n');
            let step = if v.is_array() {
                indentation.sequence
            } else {
                indentation.mapping
            };
            block_into(out, v, indent + step, indentation);
        }
    }
}

/// A scalar or empty collection as it sits after `key: ` or `- `.
fn inline(value: &Value) -> String {
    match value {
        Value::Object(_) | Value::Array(_) => flow(value, FlowStyle::default()),
        scalar_value => scalar(scalar_value, Context::Block, Quoting::Auto),
    }
}

fn push_indent(out: &mut String, indent: usize) {
    out.extend(std::iter::repeat_n(' ', indent));
}

/// Renders a new document: an optional comment header, then `value` in
/// clean block style, two-space indentation, keys in the value's order.
///
/// Each line of `header_comment` becomes a comment line; a line that
/// already starts with `#` is kept as it is, others get `# ` in front. The
/// result ends with a newline and reads back as `value` through
/// [`crate::format::yaml::parse`].
///
/// ```
/// use flagctl::format::edit::render_new;
/// use serde_json::json;
///
/// let value = json!({
///     "key": "new-checkout",
///     "type": "boolean",
///     "variants": { "on": true, "off": false },
///     "targets": { "on": ["alice"] },
///     "default": "off",
/// });
/// let text = render_new(&value, Some("yaml-language-server: $schema=../schemas/flag.schema.json"));
/// assert_eq!(text, "\
/// ## yaml-language-server: $schema=../schemas/flag.schema.json
/// key: new-checkout
/// type: boolean
/// variants:
///   on: true
///   off: false
/// targets:
///   on:
///     - alice
/// default: off
/// ");
/// ```
pub fn render_new(value: &Value, header_comment: Option<&str>) -> String {
    let mut out = String::new();
    if let Some(header) = header_comment {
        for line in header.lines() {
            if line.starts_with('#') {
                out.push_str(line);
            } else if line.is_empty() {
                out.push('#');
            } else {
                out.push_str("# ");
                out.push_str(line);
            }
            out.push('\n');
        }
    }
    out.push_str(&block(value));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::path::Path;

    fn reparse(text: &str) -> Value {
        match crate::format::yaml::parse(text, Path::new("t.yaml")) {
            Ok(doc) => doc.value,
            Err(errors) => panic!("{text:?} does not parse: {errors:?}"),
        }
    }

    #[test]
    fn strings_are_quoted_only_when_needed() {
        let cases = [
            ("on", "on"),
            ("off", "off"),
            ("yes", "yes"),
            ("2027-03-31", "2027-03-31"),
            ("Rebuilt checkout flow, v2", "Rebuilt checkout flow, v2"),
            ("größe 日本", "größe 日本"),
            ("true", "\"true\""),
            ("False", "\"False\""),
            ("10", "\"10\""),
            ("-3", "\"-3\""),
            ("1e3", "\"1e3\""),
            ("0x1f", "\"0x1f\""),
            ("0o17", "\"0o17\""),
            (".inf", "\".inf\""),
            (".5", "\".5\""),
            ("", "\"\""),
            ("~", "\"~\""),
            ("null", "\"null\""),
            ("a: b", "\"a: b\""),
            ("a:b", "a:b"),
            ("ends:", "\"ends:\""),
            ("a #b", "\"a #b\""),
            ("a#b", "a#b"),
            ("- x", "\"- x\""),
            ("*alias", "\"*alias\""),
            ("&anchor", "\"&anchor\""),
            ("!tag", "\"!tag\""),
            ("@at", "\"@at\""),
            ("%x", "\"%x\""),
            ("{x}", "\"{x}\""),
            ("[x]", "\"[x]\""),
            ("'q'", "\"'q'\""),
            ("\"q\"", "\"\\\"q\\\"\""),
            (" lead", "\" lead\""),
            ("trail ", "\"trail \""),
            ("two\nlines", "\"two\\nlines\""),
            ("tab\there", "\"tab\\there\""),
            ("bell\u{7}", "\"bell\\u0007\""),
            ("...", "\"...\""),
            ("---", "\"---\""),
            ("a -", "a -"),
            ("a - b", "a - b"),
            ("a ?", "a ?"),
            ("a -1", "a -1"),
            ("a-", "a-"),
            ("why?", "why?"),
        ];
        for (text, expected) in cases {
            assert_eq!(
                string(text, Context::Block, Quoting::Auto),
                expected,
                "{text:?}"
            );
            let doc = format!("k: {}\n", string(text, Context::Block, Quoting::Auto));
            assert_eq!(reparse(&doc), json!({ "k": text }), "{doc:?}");
            let doc = format!("k: [{}]\n", string(text, Context::Flow, Quoting::Auto));
            assert_eq!(reparse(&doc), json!({ "k": [text] }), "{doc:?}");
        }
    }

    #[test]
    fn flow_context_quotes_flow_indicators() {
        assert_eq!(string("a,b", Context::Block, Quoting::Auto), "a,b");
        assert_eq!(string("a,b", Context::Flow, Quoting::Auto), "\"a,b\"");
        assert_eq!(string("a:b", Context::Flow, Quoting::Auto), "\"a:b\"");
    }

    #[test]
    fn preferred_quoting() {
        assert_eq!(string("x", Context::Block, Quoting::Single), "'x'");
        assert_eq!(string("it's", Context::Block, Quoting::Single), "'it''s'");
        assert_eq!(string("a\nb", Context::Block, Quoting::Single), "\"a\\nb\"");
        assert_eq!(string("x", Context::Block, Quoting::Double), "\"x\"");
    }

    #[test]
    fn scalars() {
        assert_eq!(scalar(&json!(null), Context::Block, Quoting::Auto), "null");
        assert_eq!(
            scalar(&json!(true), Context::Block, Quoting::Double),
            "true"
        );
        assert_eq!(scalar(&json!(25), Context::Block, Quoting::Auto), "25");
        assert_eq!(scalar(&json!(12.5), Context::Block, Quoting::Auto), "12.5");
        assert_eq!(
            scalar(&json!(-0.001), Context::Block, Quoting::Auto),
            "-0.001"
        );
    }

    #[test]
    fn flow_style() {
        let value =
            json!({ "rollout": { "on": 10, "off": 90 }, "t": ["a", "b,c"], "e": {}, "l": [] });
        assert_eq!(
            flow(&value, FlowStyle::default()),
            "{ rollout: { on: 10, off: 90 }, t: [a, \"b,c\"], e: {}, l: [] }"
        );
        let compact = FlowStyle {
            mapping_padded: false,
            sequence_padded: true,
        };
        assert_eq!(
            flow(&value, compact),
            "{rollout: {on: 10, off: 90}, t: [ a, \"b,c\" ], e: {}, l: []}"
        );
    }

    #[test]
    fn block_style() {
        let value = json!({
            "key": "x",
            "rules": [
                { "name": "staff", "serve": "on" },
                { "when": { "all": [ { "attr": "country", "op": "in", "values": ["DE", "FR"] } ] },
                  "serve": { "rollout": { "on": 50, "off": 50 } } },
                [["deep"]],
                [],
                "plain"
            ],
            "empty": {},
            "description": "two\nlines"
        });
        let text = block(&value);
        assert_eq!(
            text,
            "\
key: x
rules:
  - name: staff
    serve: on
  - when:
      all:
        - attr: country
          op: in
          values:
            - DE
            - FR
    serve:
      rollout:
        on: 50
        off: 50
  - - - deep
  - []
  - plain
empty: {}
description: \"two\\nlines\"
"
        );
        assert_eq!(reparse(&text), value);
    }

    #[test]
    fn block_style_with_another_step() {
        let value = json!({"a": {"b": [{"c": 1, "d": [2]}]}});
        let four = Indentation {
            mapping: 4,
            sequence: 4,
        };
        let text = block_indented(&value, four);
        assert_eq!(
            text,
            "a:\n    b:\n        - c: 1\n          d:\n              - 2\n"
        );
        assert_eq!(reparse(&text), value);
        let indentless = Indentation {
            mapping: 2,
            sequence: 0,
        };
        let text = block_indented(&value, indentless);
        assert_eq!(text, "a:\n  b:\n  - c: 1\n    d:\n    - 2\n");
        assert_eq!(reparse(&text), value);
    }

    #[test]
    fn render_new_with_header() {
        let text = render_new(&json!({"default": "on"}), Some("# a\n\nb"));
        assert_eq!(text, "# a\n#\n# b\ndefault: on\n");
        assert_eq!(render_new(&json!({}), None), "{}\n");
        assert_eq!(render_new(&json!("x"), None), "x\n");
        assert_eq!(reparse(&render_new(&json!(null), None)), json!(null));
    }

    #[test]
    fn keys() {
        assert_eq!(key("<<", Context::Block), "\"<<\"");
        assert_eq!(key("my.key", Context::Block), "my.key");
        assert_eq!(key("10", Context::Block), "\"10\"");
        let value = json!({ "10": 1, "my.key": 2, "a: b": 3, "": 4, "on": 5 });
        assert_eq!(reparse(&block(&value)), value);
        assert_eq!(
            reparse(&format!("x: {}\n", flow(&value, FlowStyle::default()))),
            json!({ "x": value })
        );
    }
}
