//! Per-environment overlays: a partial flag document deep-merged onto the
//! base, keeping where every resolved value came from.
//!
//! Maps merge key by key (base keys keep their order, new keys follow in the
//! overlay's order), scalars and lists replace, and `null` removes a key. The
//! merge carries a [`SpanTree`] alongside the value, so every node of the
//! result still knows its file and position: diagnostics on a resolved flag
//! point into the overlay when the overlay set the value, and `flagctl show`
//! marks overridden values. This module never touches git.

use serde_json::{Map, Value};

use crate::format::yaml::SpanTree;

/// Merges `overlay` onto `base`, values and spans together.
///
/// An overlay document that is `null` (an empty file) changes nothing.
pub fn merge(base: (&Value, &SpanTree), overlay: (&Value, &SpanTree)) -> (Value, SpanTree) {
    let (value, spans) = merge_inner((base.0, Some(base.1)), (overlay.0, Some(overlay.1)));
    (value, spans.unwrap_or_default())
}

/// Merges values only (no positions): the same rules as [`merge`], cheaper.
pub fn merge_values(base: &Value, overlay: &Value) -> Value {
    merge_inner((base, None), (overlay, None)).0
}

fn merge_inner(
    base: (&Value, Option<&SpanTree>),
    overlay: (&Value, Option<&SpanTree>),
) -> (Value, Option<SpanTree>) {
    let (base_value, base_spans) = base;
    let (overlay_value, overlay_spans) = overlay;
    match (base_value, overlay_value) {
        (_, Value::Null) => (base_value.clone(), base_spans.cloned()),
        (Value::Object(base_map), Value::Object(overlay_map)) => {
            merge_maps(base_map, base_spans, overlay_map, overlay_spans)
        }
        _ => (
            strip_nulls(overlay_value),
            overlay_spans.map(|s| strip_null_spans(overlay_value, s.clone())),
        ),
    }
}

fn child(spans: Option<&SpanTree>, index: usize) -> Option<SpanTree> {
    let spans = spans?;
    Some(
        spans
            .children
            .get(index)
            .cloned()
            .unwrap_or_else(|| SpanTree {
                file: spans.file,
                span: spans.span,
                ..SpanTree::default()
            }),
    )
}

fn merge_maps(
    base: &Map<String, Value>,
    base_spans: Option<&SpanTree>,
    overlay: &Map<String, Value>,
    overlay_spans: Option<&SpanTree>,
) -> (Value, Option<SpanTree>) {
    let mut value = Map::new();
    // A mapping the overlay writes into is located in the overlay: when the
    // base was valid, whatever is wrong with the merged mapping is the
    // overlay's doing.
    let container = if overlay.is_empty() {
        base_spans
    } else {
        overlay_spans
    };
    let mut spans = container.map(|container| SpanTree {
        file: container.file,
        span: container.span,
        key_span: container.key_span,
        children: Vec::with_capacity(base.len() + overlay.len()),
    });
    let push = |spans: &mut Option<SpanTree>, child: Option<SpanTree>| {
        if let (Some(spans), Some(child)) = (spans.as_mut(), child) {
            spans.children.push(child);
        }
    };
    for (index, (key, base_child)) in base.iter().enumerate() {
        match overlay.get(key) {
            None => {
                value.insert(key.clone(), base_child.clone());
                push(&mut spans, child(base_spans, index));
            }
            Some(Value::Null) => {}
            Some(overlay_child) => {
                let overlay_index = if overlay_spans.is_some() {
                    overlay.keys().position(|k| k == key).unwrap_or(0)
                } else {
                    0
                };
                let overlay_child_spans = child(overlay_spans, overlay_index);
                let (merged, merged_spans) = match (base_child, overlay_child) {
                    (Value::Object(b), Value::Object(o)) => merge_maps(
                        b,
                        child(base_spans, index).as_ref(),
                        o,
                        overlay_child_spans.as_ref(),
                    ),
                    _ => (
                        strip_nulls(overlay_child),
                        overlay_child_spans.map(|s| strip_null_spans(overlay_child, s)),
                    ),
                };
                value.insert(key.clone(), merged);
                push(&mut spans, merged_spans);
            }
        }
    }
    for (index, (key, overlay_child)) in overlay.iter().enumerate() {
        if base.contains_key(key) || overlay_child.is_null() {
            continue;
        }
        value.insert(key.clone(), strip_nulls(overlay_child));
        push(
            &mut spans,
            child(overlay_spans, index).map(|s| strip_null_spans(overlay_child, s)),
        );
    }
    (Value::Object(value), spans)
}

/// A new key brought by an overlay may itself hold `null`s (removals of
/// nothing); drop them so merging twice gives the same result.
fn strip_nulls(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), strip_nulls(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn strip_null_spans(value: &Value, spans: SpanTree) -> SpanTree {
    match value {
        Value::Object(map) => {
            let children = map
                .values()
                .zip(spans.children)
                .filter(|(v, _)| !v.is_null())
                .map(|(v, s)| strip_null_spans(v, s))
                .collect();
            SpanTree { children, ..spans }
        }
        _ => spans,
    }
}

impl SpanTree {
    /// A span tree with the shape of `value` and empty spans, for values that
    /// did not come from a file.
    pub fn shaped_like(value: &Value) -> SpanTree {
        let children = match value {
            Value::Object(map) => map.values().map(SpanTree::shaped_like).collect(),
            Value::Array(items) => items.iter().map(SpanTree::shaped_like).collect(),
            _ => Vec::new(),
        };
        SpanTree {
            children,
            ..SpanTree::default()
        }
    }

    /// Whether this tree has exactly the shape of `value` (one child per
    /// entry or element, recursively).
    pub fn matches_shape(&self, value: &Value) -> bool {
        match value {
            Value::Object(map) => {
                map.len() == self.children.len()
                    && map
                        .values()
                        .zip(&self.children)
                        .all(|(v, s)| s.matches_shape(v))
            }
            Value::Array(items) => {
                items.len() == self.children.len()
                    && items
                        .iter()
                        .zip(&self.children)
                        .all(|(v, s)| s.matches_shape(v))
            }
            _ => self.children.is_empty(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::yaml;
    use proptest::prelude::*;
    use serde_json::json;
    use std::path::Path;

    fn doc(text: &str, file: u32) -> yaml::YamlDocument {
        let mut doc = yaml::parse(text, Path::new("t.yaml")).expect("valid yaml");
        doc.spans.set_file(file);
        doc
    }

    #[test]
    fn maps_merge_scalars_and_lists_replace_null_removes() {
        let base = json!({"a": 1, "m": {"x": 1, "y": 2}, "l": [1, 2], "gone": true});
        let overlay = json!({"a": 2, "m": {"y": 3, "z": 4}, "l": [3], "gone": null, "new": "n"});
        assert_eq!(
            merge_values(&base, &overlay),
            json!({"a": 2, "m": {"x": 1, "y": 3, "z": 4}, "l": [3], "new": "n"})
        );
    }

    #[test]
    fn provenance_points_into_the_overlay() {
        let base = doc(
            "key: x\ndefault:\n  rollout: { on: 10, off: 90 }\nenabled: true\n",
            0,
        );
        let overlay = doc("default:\n  rollout: { on: 25, off: 75 }\n", 1);
        let (value, spans) = merge((&base.value, &base.spans), (&overlay.value, &overlay.spans));
        assert!(spans.matches_shape(&value));
        assert_eq!(value["default"]["rollout"]["on"], json!(25));
        let on = spans.lookup(&value, "/default/rollout/on");
        assert_eq!(on.file, 1);
        assert_eq!(on.span.start.line, 2);
        let enabled = spans.lookup(&value, "/enabled");
        assert_eq!(enabled.file, 0);
        assert_eq!(enabled.span.start.line, 4);
    }

    #[test]
    fn empty_overlay_changes_nothing() {
        let base = doc("key: x\nenabled: true\n", 0);
        let overlay = doc("# nothing yet\n", 1);
        let (value, spans) = merge((&base.value, &base.spans), (&overlay.value, &overlay.spans));
        assert_eq!(value, base.value);
        assert_eq!(spans, base.spans);
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i32>().prop_map(|n| json!(n)),
            "[a-c]{0,2}".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
                prop::collection::btree_map("[a-d]", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn without_nulls(value: Value) -> Value {
        match value {
            Value::Object(map) => Value::Object(
                map.into_iter()
                    .filter(|(_, v)| !v.is_null())
                    .map(|(k, v)| (k, without_nulls(v)))
                    .collect(),
            ),
            other => other,
        }
    }

    proptest! {
        #[test]
        fn empty_overlay_is_identity(base in json_value()) {
            // Flag documents are mappings; an empty overlay leaves one unchanged.
            let base = match base { Value::Object(_) => base, other => json!({"k": other}) };
            prop_assert_eq!(merge_values(&base, &json!({})), base.clone());
            prop_assert_eq!(merge_values(&base, &Value::Null), base);
        }

        #[test]
        fn merging_is_idempotent(base in json_value(), overlay in json_value()) {
            let once = merge_values(&base, &overlay);
            let twice = merge_values(&once, &overlay);
            prop_assert_eq!(once, twice);
        }

        #[test]
        fn overlay_keys_win(base in json_value(), overlay in json_value()) {
            let merged = merge_values(&base, &overlay);
            if let (Value::Object(_), Value::Object(o)) = (&base, &overlay) {
                for (key, value) in o {
                    match value {
                        Value::Null => prop_assert!(merged.get(key).is_none()),
                        Value::Object(_) => prop_assert!(merged.get(key).is_some()),
                        other => prop_assert_eq!(merged.get(key), Some(&without_nulls(other.clone()))),
                    }
                }
            }
        }

        #[test]
        fn value_merge_agrees_with_spanned_merge(base in json_value(), overlay in json_value()) {
            let base_spans = SpanTree::shaped_like(&base);
            let overlay_spans = SpanTree::shaped_like(&overlay);
            let (value, _) = merge((&base, &base_spans), (&overlay, &overlay_spans));
            prop_assert_eq!(value, merge_values(&base, &overlay));
        }

        #[test]
        fn spans_keep_the_shape(base in json_value(), overlay in json_value()) {
            let base_spans = SpanTree::shaped_like(&base);
            let overlay_spans = SpanTree::shaped_like(&overlay);
            let (value, spans) = merge((&base, &base_spans), (&overlay, &overlay_spans));
            prop_assert!(spans.matches_shape(&value));
        }
    }
}
