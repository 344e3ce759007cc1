//! YAML text to a JSON value plus the position of every node, in one pass
//! over `saphyr-parser`'s events.
//!
//! Plain scalars resolve by YAML 1.2's core schema (so `on`, `off` and `yes`
//! stay strings and dates stay strings). Duplicate keys are errors; aliases
//! are expanded under a node budget so an alias bomb cannot exhaust memory;
//! tags other than the core `!!str`/`!!int`/… are refused.

use std::path::Path;

use saphyr_parser::{Event, Parser, ScalarStyle, ScanError, Span as YamlSpan, Tag};
use serde_json::{Map, Number, Value};

use crate::diagnostic::{Code, Diagnostic, Position, Span};

/// The most nodes one document may expand to, aliases included.
pub const NODE_BUDGET: usize = 100_000;

/// The most nesting levels one document may have.
pub const MAX_DEPTH: usize = 64;

/// Where a node and its descendants are, mirroring a [`Value`]'s shape.
///
/// For an object, `children[i]` belongs to the `i`-th entry in the object's
/// (insertion) order; for an array, to the `i`-th element; scalars have no
/// children. Keeping spans in a parallel tree instead of a map from JSON
/// pointer to span avoids one string per node.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SpanTree {
    /// Which file of the load this node came from (an index the caller
    /// assigns; overlay merging mixes files).
    pub file: u32,
    /// The span of the node's value.
    pub span: Span,
    /// The span of the key, when the node is an entry of a mapping.
    pub key_span: Option<Span>,
    /// Spans of the children, in the value's order.
    pub children: Vec<SpanTree>,
}

impl SpanTree {
    /// Sets the file index of this node and all its descendants.
    pub fn set_file(&mut self, file: u32) {
        self.file = file;
        for child in &mut self.children {
            child.set_file(file);
        }
    }

    /// The spans of the node at a JSON pointer in `value`, or of the deepest
    /// existing ancestor when the pointer leads nowhere.
    pub fn lookup<'a>(&'a self, value: &Value, pointer: &str) -> &'a SpanTree {
        let mut node = self;
        let mut current = value;
        for token in pointer.split('/').skip(1) {
            let token = unescape_pointer_token(token);
            let next = match current {
                Value::Object(map) => map
                    .iter()
                    .position(|(key, _)| key == token.as_ref())
                    .and_then(|index| map.get(token.as_ref()).map(|value| (index, value))),
                Value::Array(items) => token
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| items.get(i).map(|v| (i, v))),
                _ => None,
            };
            let Some((index, value)) = next else { break };
            let Some(child) = node.children.get(index) else {
                break;
            };
            node = child;
            current = value;
        }
        node
    }

    /// The best span to point at for this node: the value when it sits on one
    /// line, else its key, else the start of the value.
    pub fn best_span(&self) -> Span {
        if self.span.is_single_line() {
            self.span
        } else if let Some(key) = self.key_span {
            key
        } else {
            Span::point(self.span.start)
        }
    }
}

fn unescape_pointer_token(token: &str) -> std::borrow::Cow<'_, str> {
    if token.contains('~') {
        std::borrow::Cow::Owned(token.replace("~1", "/").replace("~0", "~"))
    } else {
        std::borrow::Cow::Borrowed(token)
    }
}

/// Escapes one JSON pointer token (`~` and `/`).
pub fn escape_pointer_token(token: &str) -> std::borrow::Cow<'_, str> {
    if token.contains(['~', '/']) {
        std::borrow::Cow::Owned(token.replace('~', "~0").replace('/', "~1"))
    } else {
        std::borrow::Cow::Borrowed(token)
    }
}

/// A parsed YAML document: its value and where each node is.
#[derive(Clone, Debug, PartialEq)]
pub struct YamlDocument {
    /// The document as JSON.
    pub value: Value,
    /// Where each node is.
    pub spans: SpanTree,
}

/// Parses one YAML document. `file` only labels diagnostics.
///
/// Returns every problem found (a syntax error stops the parse; duplicate
/// keys and the like are collected). An empty file yields `null`.
pub fn parse(text: &str, file: &Path) -> Result<YamlDocument, Vec<Diagnostic>> {
    let mut builder = Builder {
        text,
        file,
        stack: Vec::new(),
        anchors: Vec::new(),
        result: None,
        documents: 0,
        nodes: 0,
        diagnostics: Vec::new(),
    };
    let mut parser = Parser::new_from_str(text);
    loop {
        match parser.next_event() {
            None => break,
            Some(Ok((event, span))) => {
                if let Err(stop) = builder.event(event, span) {
                    builder.diagnostics.push(*stop);
                    return Err(builder.diagnostics);
                }
            }
            Some(Err(error)) => {
                builder.diagnostics.push(syntax_error(file, &error));
                return Err(builder.diagnostics);
            }
        }
    }
    if !builder.diagnostics.is_empty() {
        return Err(builder.diagnostics);
    }
    let (value, spans) = builder.result.unwrap_or_else(|| {
        (
            Value::Null,
            SpanTree {
                span: Span::point(Position::new(1, 1)),
                ..SpanTree::default()
            },
        )
    });
    Ok(YamlDocument { value, spans })
}

fn position(marker: &saphyr_parser::Marker) -> Position {
    let line = u32::try_from(marker.line()).unwrap_or(u32::MAX);
    let column = u32::try_from(marker.col() + 1).unwrap_or(u32::MAX);
    Position::new(line.max(1), column)
}

fn span(span: &YamlSpan) -> Span {
    Span::new(position(&span.start), position(&span.end))
}

fn syntax_error(file: &Path, error: &ScanError) -> Diagnostic {
    let at = position(error.marker());
    Diagnostic::error(Code::YamlSyntax, format!("invalid YAML: {}", error.info()))
        .in_file(file, Some(Span::point(at)))
}

enum Frame {
    Sequence {
        anchor: usize,
        start: Span,
        items: Vec<Value>,
        spans: Vec<SpanTree>,
    },
    Mapping {
        anchor: usize,
        start: Span,
        map: Map<String, Value>,
        spans: Vec<SpanTree>,
        /// The key waiting for its value, with its span; `None` between entries.
        pending_key: Option<(Option<String>, Span)>,
    },
}

struct Builder<'f> {
    text: &'f str,
    file: &'f Path,
    stack: Vec<Frame>,
    anchors: Vec<(usize, Value, SpanTree, usize)>,
    result: Option<(Value, SpanTree)>,
    documents: usize,
    nodes: usize,
    diagnostics: Vec<Diagnostic>,
}

impl Builder<'_> {
    fn error(&self, code: Code, message: String, at: Span) -> Box<Diagnostic> {
        Box::new(Diagnostic::error(code, message).in_file(self.file, Some(at)))
    }

    fn count(&mut self, nodes: usize, at: Span) -> Result<(), Box<Diagnostic>> {
        self.nodes = self.nodes.saturating_add(nodes);
        if self.nodes > NODE_BUDGET {
            return Err(self
                .error(
                    Code::AliasLimit,
                    format!("the document expands to more than {NODE_BUDGET} nodes"),
                    at,
                )
                .with_help("write the values out instead of nesting aliases"));
        }
        Ok(())
    }

    fn event(&mut self, event: Event<'_>, at: YamlSpan) -> Result<(), Box<Diagnostic>> {
        let at = span(&at);
        match event {
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => Ok(()),
            Event::DocumentStart(_) => {
                self.documents += 1;
                if self.documents > 1 {
                    return Err(self
                        .error(
                            Code::MultipleDocuments,
                            "a flag file holds one YAML document".to_owned(),
                            at,
                        )
                        .with_help("remove the `---` separator and everything after it"));
                }
                Ok(())
            }
            Event::Alias(id) => {
                let Some((_, value, spans, size)) =
                    self.anchors.iter().rev().find(|(anchor, ..)| *anchor == id)
                else {
                    return Err(self.error(
                        Code::AliasLimit,
                        "alias refers to an unknown anchor".to_owned(),
                        at,
                    ));
                };
                let (value, mut spans, size) = (value.clone(), spans.clone(), *size);
                self.count(size, at)?;
                relocate(&mut spans, at);
                self.push_node(value, spans)
            }
            Event::Scalar(text, style, anchor, tag) => {
                self.count(1, at)?;
                let at = match style {
                    ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted => {
                        quoted_span(self.text, at, style == ScalarStyle::DoubleQuoted)
                    }
                    _ => at,
                };
                let value = self.scalar(&text, style, tag.as_deref(), at)?;
                let spans = SpanTree {
                    span: at,
                    ..SpanTree::default()
                };
                if anchor > 0 {
                    self.anchors.push((anchor, value.clone(), spans.clone(), 1));
                }
                self.push_node(value, spans)
            }
            Event::SequenceStart(anchor, tag) => {
                self.check_tag(tag.as_deref(), "seq", at)?;
                self.count(1, at)?;
                self.depth_check(at)?;
                self.stack.push(Frame::Sequence {
                    anchor,
                    start: at,
                    items: Vec::new(),
                    spans: Vec::new(),
                });
                Ok(())
            }
            Event::MappingStart(anchor, tag) => {
                self.check_tag(tag.as_deref(), "map", at)?;
                self.count(1, at)?;
                self.depth_check(at)?;
                self.stack.push(Frame::Mapping {
                    anchor,
                    start: at,
                    map: Map::new(),
                    spans: Vec::new(),
                    pending_key: None,
                });
                Ok(())
            }
            Event::SequenceEnd => match self.stack.pop() {
                Some(Frame::Sequence {
                    anchor,
                    start,
                    items,
                    spans,
                }) => {
                    let tree = SpanTree {
                        span: Span::new(start.start, end_of(start, at, &spans)),
                        children: spans,
                        ..SpanTree::default()
                    };
                    self.finish(anchor, Value::Array(items), tree)
                }
                _ => Err(self.error(Code::YamlSyntax, "unbalanced sequence".to_owned(), at)),
            },
            Event::MappingEnd => match self.stack.pop() {
                Some(Frame::Mapping {
                    anchor,
                    start,
                    map,
                    spans,
                    ..
                }) => {
                    let tree = SpanTree {
                        span: Span::new(start.start, end_of(start, at, &spans)),
                        children: spans,
                        ..SpanTree::default()
                    };
                    self.finish(anchor, Value::Object(map), tree)
                }
                _ => Err(self.error(Code::YamlSyntax, "unbalanced mapping".to_owned(), at)),
            },
        }
    }

    fn depth_check(&self, at: Span) -> Result<(), Box<Diagnostic>> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(self.error(
                Code::InvalidValue,
                format!("the document nests deeper than {MAX_DEPTH} levels"),
                at,
            ));
        }
        Ok(())
    }

    fn finish(
        &mut self,
        anchor: usize,
        value: Value,
        spans: SpanTree,
    ) -> Result<(), Box<Diagnostic>> {
        if anchor > 0 {
            let size = count_nodes(&value);
            self.anchors
                .push((anchor, value.clone(), spans.clone(), size));
        }
        self.push_node(value, spans)
    }

    fn push_node(&mut self, value: Value, mut spans: SpanTree) -> Result<(), Box<Diagnostic>> {
        let file = self.file;
        match self.stack.last_mut() {
            None => {
                self.result = Some((value, spans));
                Ok(())
            }
            Some(Frame::Sequence {
                items,
                spans: children,
                ..
            }) => {
                items.push(value);
                children.push(spans);
                Ok(())
            }
            Some(Frame::Mapping {
                map,
                spans: children,
                pending_key,
                ..
            }) => match pending_key.take() {
                None => {
                    // This node is a key.
                    let key = match value {
                        Value::String(s) => Some(s),
                        Value::Bool(b) => Some(b.to_string()),
                        Value::Number(n) => Some(n.to_string()),
                        Value::Null => Some(String::new()),
                        Value::Array(_) | Value::Object(_) => {
                            self.diagnostics.push(
                                Diagnostic::error(
                                    Code::ComplexKey,
                                    "mapping keys must be plain scalars".to_owned(),
                                )
                                .in_file(file, Some(spans.span.clone_start_line())),
                            );
                            None
                        }
                    };
                    *pending_key = Some((key, spans.span));
                    Ok(())
                }
                Some((None, _)) => Ok(()),
                Some((Some(key), key_span)) => {
                    if let Some(index) = map.keys().position(|k| *k == key) {
                        let first = children.get(index).and_then(|c| c.key_span);
                        let mut diagnostic =
                            Diagnostic::error(Code::DuplicateKey, format!("duplicate key `{key}`"))
                                .in_file(file, Some(key_span));
                        if let Some(first) = first {
                            diagnostic = diagnostic.with_help(format!(
                                "`{key}` is first set on line {}; keep one of them",
                                first.start.line
                            ));
                        }
                        self.diagnostics.push(diagnostic);
                    } else {
                        spans.key_span = Some(key_span);
                        map.insert(key, value);
                        children.push(spans);
                    }
                    Ok(())
                }
            },
        }
    }

    fn check_tag(
        &self,
        tag: Option<&Tag>,
        expected: &str,
        at: Span,
    ) -> Result<(), Box<Diagnostic>> {
        match tag {
            None => Ok(()),
            Some(tag) if tag.is_yaml_core_schema() && tag.suffix == expected => Ok(()),
            Some(tag) => Err(self.unsupported_tag(tag, at)),
        }
    }

    fn unsupported_tag(&self, tag: &Tag, at: Span) -> Box<Diagnostic> {
        self.error(
            Code::UnsupportedTag,
            format!("unsupported tag `{}{}`", tag.handle, tag.suffix),
            at,
        )
        .with_help("flag files use plain YAML values; remove the tag")
    }

    fn scalar(
        &self,
        text: &str,
        style: ScalarStyle,
        tag: Option<&Tag>,
        at: Span,
    ) -> Result<Value, Box<Diagnostic>> {
        if let Some(tag) = tag {
            if !tag.is_yaml_core_schema() {
                return Err(self.unsupported_tag(tag, at));
            }
            return match tag.suffix.as_str() {
                "str" => Ok(Value::String(text.to_owned())),
                "null" | "bool" | "int" | "float" => {
                    let value = resolve_plain(text);
                    let fits = match tag.suffix.as_str() {
                        "null" => value.as_ref().is_some_and(Value::is_null),
                        "bool" => value.as_ref().is_some_and(Value::is_boolean),
                        "int" => value.as_ref().is_some_and(|v| v.is_i64() || v.is_u64()),
                        _ => value.as_ref().is_some_and(Value::is_number),
                    };
                    match value {
                        Some(value) if fits => Ok(value),
                        _ => Err(self.error(
                            Code::InvalidValue,
                            format!("`{text}` is not a valid `!!{}`", tag.suffix),
                            at,
                        )),
                    }
                }
                _ => Err(self.unsupported_tag(tag, at)),
            };
        }
        if style != ScalarStyle::Plain {
            return Ok(Value::String(text.to_owned()));
        }
        match resolve_plain(text) {
            Some(value) => Ok(value),
            None => Err(self
                .error(
                    Code::InvalidNumber,
                    format!("`{text}` is not a number JSON can hold"),
                    at,
                )
                .with_help("use a finite number, or quote it to make it a string")),
        }
    }
}

/// `with_help` on a boxed diagnostic (the builder's internal error type).
trait BoxedHelp {
    fn with_help(self, help: impl Into<String>) -> Self;
}

impl BoxedHelp for Box<Diagnostic> {
    fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

trait CloneStartLine {
    fn clone_start_line(&self) -> Span;
}

impl CloneStartLine for Span {
    fn clone_start_line(&self) -> Span {
        if self.is_single_line() {
            *self
        } else {
            Span::point(self.start)
        }
    }
}

/// The span of a quoted scalar, ending at its closing quote (the parser's
/// end marker runs on over trailing blanks and comments).
fn quoted_span(text: &str, at: Span, double: bool) -> Span {
    let Some(line) = text
        .split_inclusive('\n')
        .nth(at.start.line.saturating_sub(1) as usize)
    else {
        return at;
    };
    let line_start = text
        .split_inclusive('\n')
        .take(at.start.line.saturating_sub(1) as usize)
        .map(str::len)
        .sum::<usize>();
    let Some((offset, _)) = line
        .char_indices()
        .nth(at.start.column.saturating_sub(1) as usize)
    else {
        return at;
    };
    let quote = if double { '"' } else { '\'' };
    let rest = &text[line_start + offset..];
    let mut chars = rest.char_indices().peekable();
    if chars.next().map(|(_, c)| c) != Some(quote) {
        return at;
    }
    let (mut line_number, mut column) = (at.start.line, at.start.column + 1);
    while let Some((_, c)) = chars.next() {
        match c {
            '\\' if double => {
                if let Some((_, escaped)) = chars.next() {
                    if escaped == '\n' {
                        line_number += 1;
                        column = 1;
                    } else {
                        column += 2;
                    }
                    continue;
                }
            }
            '\'' if !double && chars.peek().map(|(_, n)| *n) == Some('\'') => {
                chars.next();
                column += 2;
                continue;
            }
            c if c == quote => return Span::new(at.start, Position::new(line_number, column + 1)),
            '\n' => {
                line_number += 1;
                column = 1;
                continue;
            }
            _ => {}
        }
        column += 1;
    }
    at
}

/// The end of a container: the end event's position, unless that lies past
/// the last child on a later line (block collections end where the next
/// token starts), in which case the end of the last child.
fn end_of(start: Span, end_event: Span, children: &[SpanTree]) -> Position {
    match children.last() {
        Some(last) if end_event.start.line > last.span.end.line => last.span.end,
        Some(_) => end_event.end,
        None if end_event.start.line > start.end.line => start.end,
        None => end_event.end,
    }
}

/// Points every node of an alias expansion at the alias itself.
fn relocate(spans: &mut SpanTree, at: Span) {
    spans.span = at;
    spans.key_span = None;
    for child in &mut spans.children {
        relocate(child, at);
        child.key_span = Some(at);
    }
}

fn count_nodes(value: &Value) -> usize {
    1 + match value {
        Value::Array(items) => items.iter().map(count_nodes).sum(),
        Value::Object(map) => map.values().map(count_nodes).sum(),
        _ => 0,
    }
}

/// Resolves a plain scalar by YAML 1.2's core schema. `None` for numbers JSON
/// cannot hold (infinities, NaN).
pub(crate) fn resolve_plain(text: &str) -> Option<Value> {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Some(Value::Null),
        "true" | "True" | "TRUE" => return Some(Value::Bool(true)),
        "false" | "False" | "FALSE" => return Some(Value::Bool(false)),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" | "-.inf" | "-.Inf" | "-.INF"
        | ".nan" | ".NaN" | ".NAN" => return None,
        _ => {}
    }
    let bytes = text.as_bytes();
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    if !unsigned.is_empty() && unsigned.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(n) = text.parse::<i64>() {
            return Some(Value::Number(n.into()));
        }
        if let Ok(n) = text.trim_start_matches('+').parse::<u64>() {
            return Some(Value::Number(n.into()));
        }
        return text
            .parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map(Value::Number);
    }
    if let Some(octal) = text.strip_prefix("0o")
        && !octal.is_empty()
        && octal.bytes().all(|b| (b'0'..=b'7').contains(&b))
    {
        return Some(u64::from_str_radix(octal, 8).map_or_else(
            |_| Value::String(text.to_owned()),
            |n| Value::Number(n.into()),
        ));
    }
    if let Some(hex) = text.strip_prefix("0x")
        && !hex.is_empty()
        && hex.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return Some(u64::from_str_radix(hex, 16).map_or_else(
            |_| Value::String(text.to_owned()),
            |n| Value::Number(n.into()),
        ));
    }
    if is_core_float(bytes) {
        return text
            .parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map(Value::Number);
    }
    Some(Value::String(text.to_owned()))
}

/// `[-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?`
fn is_core_float(bytes: &[u8]) -> bool {
    let mut i = 0;
    if matches!(bytes.first(), Some(b'-' | b'+')) {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let start = *i;
        while bytes.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i - start
    };
    let integer = digits(&mut i);
    if bytes.get(i) == Some(&b'.') {
        i += 1;
        let fraction = digits(&mut i);
        if integer == 0 && fraction == 0 {
            return false;
        }
    } else if integer == 0 {
        return false;
    }
    if matches!(bytes.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(bytes.get(i), Some(b'-' | b'+')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse_ok(text: &str) -> YamlDocument {
        match parse(text, Path::new("t.yaml")) {
            Ok(doc) => doc,
            Err(errors) => panic!("unexpected errors: {errors:?}"),
        }
    }

    fn parse_err(text: &str) -> Vec<Diagnostic> {
        match parse(text, Path::new("t.yaml")) {
            Ok(doc) => panic!("expected an error, got {:?}", doc.value),
            Err(errors) => errors,
        }
    }

    #[test]
    fn core_schema_scalars() {
        let doc = parse_ok(
            "a: on\nb: yes\nc: true\nd: 10\ne: 12.5\nf: 2027-03-31\ng: ~\nh: '10'\ni: 0x1f\nj: -3\nk: 1e3\nl: .5\n",
        );
        assert_eq!(
            doc.value,
            json!({"a": "on", "b": "yes", "c": true, "d": 10, "e": 12.5, "f": "2027-03-31",
                   "g": null, "h": "10", "i": 31, "j": -3, "k": 1000.0, "l": 0.5})
        );
    }

    #[test]
    fn positions_of_nodes_and_keys() {
        let text = "key: x\nrules:\n  - serve: on\n    when: { segment: staff }\n";
        let doc = parse_ok(text);
        let serve = doc.spans.lookup(&doc.value, "/rules/0/serve");
        assert_eq!(serve.span.start, Position::new(3, 12));
        assert_eq!(serve.key_span.map(|s| s.start), Some(Position::new(3, 5)));
        let segment = doc.spans.lookup(&doc.value, "/rules/0/when/segment");
        assert_eq!(segment.span.start, Position::new(4, 22));
        let when = doc.spans.lookup(&doc.value, "/rules/0/when");
        assert_eq!(
            when.span,
            Span::new(Position::new(4, 11), Position::new(4, 29))
        );
        // A missing path resolves to the deepest existing ancestor.
        let missing = doc.spans.lookup(&doc.value, "/rules/0/nope");
        assert_eq!(missing.span.start.line, 3);
    }

    #[test]
    fn block_mapping_span_ends_at_last_child() {
        let doc = parse_ok("a:\n  b: 1\n  c: 2\nd: 3\n");
        let a = doc.spans.lookup(&doc.value, "/a");
        assert_eq!(a.span.start.line, 2);
        assert_eq!(a.span.end.line, 3);
        assert_eq!(a.best_span().start, Position::new(1, 1));
    }

    #[test]
    fn duplicate_keys_are_all_reported() {
        let errors = parse_err("a: 1\nb: 2\na: 3\nb: 4\n");
        assert_eq!(errors.len(), 2);
        assert_eq!(errors[0].code, Code::DuplicateKey);
        assert_eq!(
            errors[0]
                .location
                .as_ref()
                .and_then(|l| l.span)
                .map(|s| s.start),
            Some(Position::new(3, 1))
        );
        assert!(errors[0].help.as_deref().unwrap_or("").contains("line 1"));
    }

    #[test]
    fn syntax_error_has_a_position() {
        let errors = parse_err("a: [1, 2\nb: 3\n");
        assert_eq!(errors[0].code, Code::YamlSyntax);
        assert!(errors[0].location.as_ref().and_then(|l| l.span).is_some());
    }

    #[test]
    fn aliases_expand_within_budget() {
        let doc = parse_ok("base: &b { x: 1 }\ncopy: *b\n");
        assert_eq!(doc.value["copy"], json!({"x": 1}));
    }

    #[test]
    fn alias_bomb_is_refused() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let prev = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"
            ));
        }
        let errors = parse_err(&text);
        assert_eq!(errors[0].code, Code::AliasLimit);
    }

    #[test]
    fn foreign_tags_are_refused_core_tags_resolve() {
        assert_eq!(parse_err("a: !custom 1\n")[0].code, Code::UnsupportedTag);
        let doc = parse_ok("a: !!str 10\nb: !!int 3\n");
        assert_eq!(doc.value, json!({"a": "10", "b": 3}));
        assert_eq!(parse_err("a: !!int x\n")[0].code, Code::InvalidValue);
    }

    #[test]
    fn one_document_per_file() {
        assert_eq!(
            parse_err("a: 1\n---\nb: 2\n")[0].code,
            Code::MultipleDocuments
        );
    }

    #[test]
    fn infinities_are_refused() {
        assert_eq!(parse_err("a: .inf\n")[0].code, Code::InvalidNumber);
    }

    #[test]
    fn empty_document_is_null() {
        assert_eq!(parse_ok("# only a comment\n").value, Value::Null);
    }

    #[test]
    fn crlf_positions() {
        let doc = parse_ok("a: 1\r\nb: 2\r\n");
        let b = doc.spans.lookup(&doc.value, "/b");
        assert_eq!(b.span.start, Position::new(2, 4));
    }

    #[test]
    fn quoted_scalars_end_at_their_closing_quote() {
        for (text, end) in [
            ("a: 'x' # c\n", 7),
            ("a: \"x\"   # c\nb: 1\n", 7),
            ("a: 'it''s' # c\n", 11),
            ("a: \"say \\\"hi\\\"\" # c\n", 16),
            ("a: \"é\" # c\n", 7),
        ] {
            let doc = parse_ok(text);
            let span = doc.spans.lookup(&doc.value, "/a").span;
            assert_eq!(
                span,
                Span::new(Position::new(1, 4), Position::new(1, end)),
                "{text:?}"
            );
        }
    }

    #[test]
    fn pointer_tokens_escape() {
        assert_eq!(escape_pointer_token("a/b~c"), "a~1b~0c");
        let doc = parse_ok("\"a/b\": 1\n");
        assert_eq!(
            doc.spans.lookup(&doc.value, "/a~1b").span.start,
            Position::new(1, 8)
        );
    }
}
