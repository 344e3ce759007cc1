//! Performing a step with `yaml-edit`'s lossless syntax tree.
//!
//! Values are rendered by [`super::render`] (YAML 1.2 quoting, the
//! document's indentation), parsed into small `yaml-edit` trees and spliced
//! in as nodes, which `yaml-edit` re-indents and gives the document's line
//! endings. Nodes are found by position (the `i`-th entry of a mapping is
//! the `i`-th key of the loader's value), never by comparing keys, so
//! `yaml-edit`'s notion of key equality does not matter.
//!
//! Known `yaml-edit` 0.3 behaviours worked around here: it keeps the
//! comment lines above a removed entry (they are removed as well); it
//! breaks the document when the last entry of a nested block mapping is
//! removed (such a mapping is replaced by `{}` instead); removing the last
//! entry of the root mapping leaves an empty document (`{}` is written);
//! and it puts a new block value two columns past its key, or a new list
//! at the key's column, whatever the document does (the value's lines are
//! shifted to the document's indentation). Removals from block
//! collections go through [`super::splice`] first, as `yaml-edit` can
//! re-indent the next entry or leave a lone `-` behind; this module is
//! their fallback.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::str::FromStr;

use serde_json::{Map, Value};
use yaml_edit::{Mapping, MappingEntry, Sequence, YamlFile, YamlNode};

use super::lines::{self, Removal};
use super::path::Segment;
use super::plan::{self, Step};
use super::render::{self, Context, FlowStyle, Indentation, Quoting};
use super::splice;
use super::{Attempt, Endings};
use crate::format::yaml::YamlDocument;

const THROUGH_ALIAS: &str = "it is reached through an alias; edit the anchored value instead";
const SHAPE: &str = "the YAML editor reads the document differently from the loader";

/// Performs `step` on `text` with `yaml-edit`. A panic inside the editor
/// is caught and reported as a refusal.
pub(crate) fn perform(
    text: &str,
    document: &YamlDocument,
    step: &Step,
    endings: Endings,
) -> Attempt {
    match catch_unwind(AssertUnwindSafe(|| {
        perform_step(text, document, step, endings)
    })) {
        Ok(Ok(out)) => {
            let reindented = reindent(text, document, step, &out);
            Attempt::Done(reindented.into_iter().chain([out]).collect())
        }
        Ok(Err(attempt)) => attempt,
        Err(_) => Attempt::Unsupported("the YAML editor failed on this document"),
    }
}

type Tried<T> = Result<T, Attempt>;

/// `out` with a new block value under a key indented as the document
/// indents such values: yaml-edit puts a mapping two columns past its key,
/// and a list two columns past it or at its column depending on the edit.
fn reindent(text: &str, document: &YamlDocument, step: &Step, out: &str) -> Option<String> {
    let (value, key_line) = match step {
        Step::Replace { path, value } if matches!(path.last(), Some(Segment::Key(_))) => {
            (value, Some(splice::key_position(document, path)?))
        }
        Step::InsertKey { value, .. } => (value, None),
        _ => return None,
    };
    let layout = splice::indentation(text, document);
    let wanted = match value {
        Value::Object(map) if !map.is_empty() => layout.mapping,
        Value::Array(items) if !items.is_empty() => layout.sequence,
        _ => return None,
    };
    lines::reindent_value(text, out, key_line, wanted)
}

fn perform_step(
    text: &str,
    document: &YamlDocument,
    step: &Step,
    endings: Endings,
) -> Tried<String> {
    let file = YamlFile::from_str(text).map_err(|_| Attempt::NotApplicable)?;
    let tree = Tree {
        file: &file,
        text,
        value: &document.value,
        indentation: splice::indentation(text, document),
    };
    match step {
        Step::Replace { path, value } => {
            tree.replace(path, value)?;
            Ok(file.to_string())
        }
        Step::InsertKey { parent, key, value } => {
            if parent.is_empty() && document.value.is_null() {
                // An empty document: `splice` appends to it.
                return Err(Attempt::NotApplicable);
            }
            tree.insert_key(parent, key, value)?;
            Ok(file.to_string())
        }
        Step::RemoveKey { parent, index } => {
            let Some(Value::Object(map)) = plan::node(&document.value, parent) else {
                return Err(Attempt::NotApplicable);
            };
            let Some(key) = map.keys().nth(*index) else {
                return Err(Attempt::NotApplicable);
            };
            if map.len() == 1 && !parent.is_empty() {
                tree.replace(parent, &Value::Object(Map::new()))?;
                return Ok(file.to_string());
            }
            let removal = splice::removal(text, document, parent, &Segment::Key(key.clone()));
            let mapping = tree.mapping(parent)?;
            let flow = mapping.is_flow_style();
            mapping
                .entries()
                .nth(*index)
                .ok_or(Attempt::Unsupported(SHAPE))?
                .remove();
            let mut out = file.to_string();
            if let Some(removal) = &removal {
                out = lines::strip_comments(text, out, removal);
            }
            if map.len() == 1 && !flow {
                let line = removal.as_ref().map_or(0, |r: &Removal| r.first_line);
                out = lines::insert_empty_mapping(out, line, endings);
            }
            Ok(out)
        }
        Step::Push { parent, value } => {
            let sequence = tree.sequence(parent)?;
            let node = tree.build(value, None, Some(&YamlNode::Sequence(sequence.clone())))?;
            sequence.push(node);
            Ok(file.to_string())
        }
        Step::RemoveItem { parent, index } => {
            let Some(Value::Array(items)) = plan::node(&document.value, parent) else {
                return Err(Attempt::NotApplicable);
            };
            if items.len() == 1 && !parent.is_empty() {
                tree.replace(parent, &Value::Array(Vec::new()))?;
                return Ok(file.to_string());
            }
            let removal = splice::removal(text, document, parent, &Segment::Index(*index));
            tree.sequence(parent)?
                .remove(*index)
                .ok_or(Attempt::Unsupported(SHAPE))?;
            let out = file.to_string();
            Ok(match &removal {
                Some(removal) => lines::strip_comments(text, out, removal),
                None => out,
            })
        }
    }
}

/// The tree of one document next to the loader's value of it.
struct Tree<'a> {
    file: &'a YamlFile,
    /// The text the tree was parsed from (byte ranges of unchanged nodes
    /// index into it).
    text: &'a str,
    value: &'a Value,
    /// The document's indentation, for new block collections.
    indentation: Indentation,
}

impl Tree<'_> {
    /// The root node.
    fn root(&self) -> Tried<YamlNode> {
        let document = self.file.document().ok_or(Attempt::NotApplicable)?;
        if let Some(mapping) = document.as_mapping() {
            Ok(YamlNode::Mapping(mapping))
        } else if let Some(sequence) = document.as_sequence() {
            Ok(YamlNode::Sequence(sequence))
        } else if let Some(scalar) = document.as_scalar() {
            Ok(YamlNode::Scalar(scalar))
        } else {
            Err(Attempt::NotApplicable)
        }
    }

    /// The node at `path` with its value.
    fn locate(&self, path: &[Segment]) -> Tried<(YamlNode, &Value)> {
        let mut node = self.root()?;
        let mut value = self.value;
        for segment in path {
            node = content(node)?;
            (node, value) = match (&node, segment, value) {
                (YamlNode::Mapping(mapping), Segment::Key(key), Value::Object(map)) => {
                    let entry = entry(mapping, map, key)?;
                    let child = entry.value_node().ok_or(Attempt::Unsupported(SHAPE))?;
                    (child, &map[key.as_str()])
                }
                (YamlNode::Sequence(sequence), Segment::Index(index), Value::Array(items)) => {
                    if sequence.len() != items.len() {
                        return Err(Attempt::Unsupported(SHAPE));
                    }
                    let child = sequence.get(*index).ok_or(Attempt::Unsupported(SHAPE))?;
                    (child, &items[*index])
                }
                _ => return Err(Attempt::Unsupported(SHAPE)),
            };
        }
        Ok((content(node)?, value))
    }

    fn mapping(&self, path: &[Segment]) -> Tried<Mapping> {
        match self.locate(path)? {
            (YamlNode::Mapping(mapping), _) => Ok(mapping),
            _ => Err(Attempt::Unsupported(SHAPE)),
        }
    }

    fn sequence(&self, path: &[Segment]) -> Tried<Sequence> {
        match self.locate(path)? {
            (YamlNode::Sequence(sequence), _) => Ok(sequence),
            _ => Err(Attempt::Unsupported(SHAPE)),
        }
    }

    /// Replaces the existing node at `path` (not the root).
    fn replace(&self, path: &[Segment], value: &Value) -> Tried<()> {
        let Some((last, parent_path)) = path.split_last() else {
            return Err(Attempt::NotApplicable);
        };
        let (parent, parent_value) = self.locate(parent_path)?;
        match (&parent, last, parent_value) {
            (YamlNode::Mapping(mapping), Segment::Key(key), Value::Object(map)) => {
                let entry = entry(mapping, map, key)?;
                let old = entry.value_node();
                let node = self.build(value, old.as_ref(), Some(&parent))?;
                entry.set_value(node, mapping.is_flow_style());
            }
            (YamlNode::Sequence(sequence), Segment::Index(index), Value::Array(_)) => {
                let old = sequence.get(*index);
                let node = self.build(value, old.as_ref(), Some(&parent))?;
                if !sequence.set(*index, node) {
                    return Err(Attempt::Unsupported(SHAPE));
                }
            }
            _ => return Err(Attempt::Unsupported(SHAPE)),
        }
        Ok(())
    }

    /// Adds `key: value` at the end of the mapping at `parent`.
    fn insert_key(&self, parent: &[Segment], key: &str, value: &Value) -> Tried<()> {
        let mapping = self.mapping(parent)?;
        if mapping.is_flow_style() && mapping.is_empty() && !parent.is_empty() {
            // `{}` becomes `{ key: value }`, written in one piece.
            let mut map = Map::new();
            map.insert(key.to_owned(), value.clone());
            return self.replace(parent, &Value::Object(map));
        }
        let context = if mapping.is_flow_style() {
            Context::Flow
        } else {
            Context::Block
        };
        let key_node = key_node(&render::key(key, context))?;
        let node = self.build(value, None, Some(&YamlNode::Mapping(mapping.clone())))?;
        mapping.set(key_node, node);
        Ok(())
    }

    /// The node to write for `value`, in place of `old` (if any) inside
    /// `parent`: flow style inside flow collections and in place of a flow
    /// collection, block style otherwise; a string keeps `old`'s quotes.
    fn build(
        &self,
        value: &Value,
        old: Option<&YamlNode>,
        parent: Option<&YamlNode>,
    ) -> Tried<YamlNode> {
        let parent_flow = parent.is_some_and(is_flow);
        let old_flow = old.is_some_and(is_flow);
        if render::is_inline(value) {
            let context = if parent_flow {
                Context::Flow
            } else {
                Context::Block
            };
            let quoting = match old {
                Some(old @ YamlNode::Scalar(_)) if value.is_string() => {
                    splice::quoting_of(self.source(old))
                }
                _ => Quoting::Auto,
            };
            return value_node(&render::scalar(value, context, quoting));
        }
        if parent_flow || old_flow {
            let mut style = FlowStyle::default();
            for node in [parent.filter(|p| is_flow(p)), old.filter(|o| is_flow(o))]
                .into_iter()
                .flatten()
            {
                padding(self.source(node), &mut style);
            }
            return value_node(&render::flow(value, style));
        }
        block_node(&render::block_indented(value, self.indentation))
    }

    /// The source text of an unchanged node.
    fn source(&self, node: &YamlNode) -> &str {
        let range = node.byte_range();
        let start = usize::try_from(range.start).unwrap_or(usize::MAX);
        let end = usize::try_from(range.end).unwrap_or(usize::MAX);
        self.text.get(start..end).unwrap_or_default()
    }
}

/// The entry of `key` in `mapping`, found by its position in `map`.
fn entry(mapping: &Mapping, map: &Map<String, Value>, key: &str) -> Tried<MappingEntry> {
    if mapping.len() != map.len() {
        return Err(Attempt::Unsupported(SHAPE));
    }
    let index = map
        .keys()
        .position(|k| k == key)
        .ok_or(Attempt::Unsupported(SHAPE))?;
    mapping
        .entries()
        .nth(index)
        .ok_or(Attempt::Unsupported(SHAPE))
}

/// The collection inside a tagged node; aliases are refused.
fn content(node: YamlNode) -> Tried<YamlNode> {
    match node {
        YamlNode::TaggedNode(tagged) => {
            if let Some(mapping) = tagged.as_mapping() {
                Ok(YamlNode::Mapping(mapping))
            } else if let Some(sequence) = tagged.as_sequence() {
                Ok(YamlNode::Sequence(sequence))
            } else {
                Ok(YamlNode::TaggedNode(tagged))
            }
        }
        YamlNode::Alias(_) => Err(Attempt::Unsupported(THROUGH_ALIAS)),
        other => Ok(other),
    }
}

fn is_flow(node: &YamlNode) -> bool {
    match node {
        YamlNode::Mapping(mapping) => mapping.is_flow_style(),
        YamlNode::Sequence(sequence) => sequence.is_flow_style(),
        _ => false,
    }
}

/// Takes the bracket padding of a flow collection's source into `style`.
fn padding(source: &str, style: &mut FlowStyle) {
    let mut chars = source.chars();
    let (Some(open), Some(next)) = (chars.next(), chars.next()) else {
        return;
    };
    match (open, next) {
        ('{', '}') | ('[', ']') => {}
        ('{', next) => style.mapping_padded = next == ' ',
        ('[', next) => style.sequence_padded = next == ' ',
        _ => {}
    }
}

/// A value node parsed from `text`, an inline YAML value.
fn value_node(text: &str) -> Tried<YamlNode> {
    first_entry(&format!("x: {text}\n"))?
        .value_node()
        .ok_or(Attempt::Unsupported(SHAPE))
}

/// A key node parsed from `text`, a rendered key.
fn key_node(text: &str) -> Tried<YamlNode> {
    first_entry(&format!("{text}: x\n"))?
        .key_node()
        .ok_or(Attempt::Unsupported(SHAPE))
}

fn first_entry(text: &str) -> Tried<MappingEntry> {
    YamlFile::from_str(text)
        .ok()
        .and_then(|file| file.document())
        .and_then(|document| document.as_mapping())
        .and_then(|mapping| mapping.entries().next())
        .ok_or(Attempt::Unsupported(SHAPE))
}

/// The root collection of `text`, a block document.
fn block_node(text: &str) -> Tried<YamlNode> {
    let document = YamlFile::from_str(text)
        .ok()
        .and_then(|file| file.document())
        .ok_or(Attempt::Unsupported(SHAPE))?;
    if let Some(mapping) = document.as_mapping() {
        Ok(YamlNode::Mapping(mapping))
    } else if let Some(sequence) = document.as_sequence() {
        Ok(YamlNode::Sequence(sequence))
    } else {
        Err(Attempt::Unsupported(SHAPE))
    }
}
