//! The semantic diff of two JSON documents: which fields were added, removed
//! or changed, addressed by dotted paths (`default.rollout.on`,
//! `rules[1].serve`, `targets.on`).

use std::fmt;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::model::Flag;

/// What happened to one field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    /// The field did not exist before.
    Added,
    /// The field no longer exists.
    Removed,
    /// The field's value changed.
    Changed,
    /// A list compared as a set gained or lost members ([`FieldChange::added`],
    /// [`FieldChange::removed`]); its order does not matter.
    Members,
    /// A mapping whose order matters (a rollout's weights: variants own
    /// cumulative bucket ranges in declared order) has the same entries in
    /// another order.
    Reordered,
}

/// One changed field of a document.
///
/// `before` and `after` hold the whole value at [`FieldChange::path`] on each
/// side (absent for an added or removed field). For a [`ChangeKind::Members`]
/// change, [`FieldChange::added`] and [`FieldChange::removed`] list the
/// members that came and went.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FieldChange {
    /// The dotted path of the field (`default.rollout.on`, `rules[1].serve`);
    /// keys that are not plain names are quoted (`variants["a.b"]`). Empty
    /// for the whole document.
    pub path: String,
    /// What happened.
    pub kind: ChangeKind,
    /// The value before, unless the field was added.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<Value>,
    /// The value after, unless the field was removed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<Value>,
    /// Members a set-like list gained.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub added: Vec<Value>,
    /// Members a set-like list lost.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub removed: Vec<Value>,
}

impl FieldChange {
    fn new(path: &str, kind: ChangeKind, before: Option<&Value>, after: Option<&Value>) -> Self {
        FieldChange {
            path: path.to_owned(),
            kind,
            before: before.cloned(),
            after: after.cloned(),
            added: Vec::new(),
            removed: Vec::new(),
        }
    }
}

impl fmt::Display for FieldChange {
    /// One line: `default.rollout.on: 10 → 25`, `targets.on: +alice -bob`,
    /// `salt: removed (was abc)`, `rules[2]: added {serve: on, …}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = if self.path.is_empty() {
            "(document)"
        } else {
            &self.path
        };
        let show = |value: &Option<Value>| value.as_ref().map(compact).unwrap_or_default();
        match self.kind {
            ChangeKind::Added => write!(f, "{path}: added {}", show(&self.after)),
            ChangeKind::Removed => write!(f, "{path}: removed (was {})", show(&self.before)),
            ChangeKind::Changed => {
                write!(f, "{path}: {} → {}", show(&self.before), show(&self.after))
            }
            ChangeKind::Members => {
                write!(f, "{path}:")?;
                for value in &self.added {
                    write!(f, " +{}", compact(value))?;
                }
                for value in &self.removed {
                    write!(f, " -{}", compact(value))?;
                }
                Ok(())
            }
            ChangeKind::Reordered => {
                let keys = |value: &Option<Value>| match value {
                    Some(Value::Object(map)) => map.keys().cloned().collect::<Vec<_>>().join(", "),
                    _ => String::new(),
                };
                write!(
                    f,
                    "{path}: reordered ({} → {})",
                    keys(&self.before),
                    keys(&self.after)
                )
            }
        }
    }
}

/// The semantic diff of two resolved flag documents (as JSON).
///
/// `None` on a side means the flag does not exist there: a created flag lists
/// each of its top-level fields as added, a deleted one as removed. Documents
/// that deserialize as a [`Flag`] are first put in a canonical form (fields in
/// the model's order, `enabled` always present, weights as written by the
/// model), so that `enabled: true` written out or left implicit, or `25`
/// against `25.0`, are no change. Mappings are compared key by key, lists of
/// scalars as sets (`targets.on: +alice -bob`, `tags`, the `values` of a
/// condition), other lists (rules, conditions) by index; a rollout whose
/// variants were reordered is reported as [`ChangeKind::Reordered`], since
/// order decides who gets what.
///
/// ```
/// use flagctl::diff::diff_flag;
/// use serde_json::json;
///
/// let before = json!({"key": "x", "type": "boolean",
///     "targets": {"on": ["bob"]}, "default": {"rollout": {"on": 10, "off": 90}}});
/// let after = json!({"key": "x", "type": "boolean",
///     "targets": {"on": ["alice"]}, "default": {"rollout": {"on": 25, "off": 75}}});
/// let lines: Vec<String> = diff_flag(Some(&before), Some(&after))
///     .iter().map(ToString::to_string).collect();
/// assert_eq!(lines, [
///     "targets.on: +alice -bob",
///     "default.rollout.on: 10 → 25",
///     "default.rollout.off: 90 → 75",
/// ]);
/// ```
pub fn diff_flag(before: Option<&Value>, after: Option<&Value>) -> Vec<FieldChange> {
    let before = before.map(canonical_flag);
    let after = after.map(canonical_flag);
    diff_documents(before.as_ref(), after.as_ref())
}

/// The semantic diff of two documents of any kind (segments, `flagctl.yaml`),
/// with the rules of [`diff_flag`] but no canonical form.
pub fn diff_documents(before: Option<&Value>, after: Option<&Value>) -> Vec<FieldChange> {
    let mut out = Vec::new();
    match (before, after) {
        (None, None) => {}
        (Some(before), Some(after)) => diff_value("", before, after, &mut out),
        (None, Some(after)) => whole(after, ChangeKind::Added, &mut out),
        (Some(before), None) => whole(before, ChangeKind::Removed, &mut out),
    }
    out
}

/// A created or deleted document: one change per top-level field.
fn whole(value: &Value, kind: ChangeKind, out: &mut Vec<FieldChange>) {
    let side = |v| match kind {
        ChangeKind::Added => (None, Some(v)),
        _ => (Some(v), None),
    };
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let (before, after) = side(child);
                out.push(FieldChange::new(&join_key("", key), kind, before, after));
            }
        }
        other => {
            let (before, after) = side(other);
            out.push(FieldChange::new("", kind, before, after));
        }
    }
}

/// The order in which a canonical flag lists its fields.
const FLAG_FIELDS: [&str; 13] = [
    "key",
    "description",
    "owner",
    "expires",
    "tags",
    "type",
    "variants",
    "enabled",
    "off_variant",
    "salt",
    "targets",
    "rules",
    "default",
];

/// A flag document in canonical form, or the document as it is when it is
/// not a valid flag.
fn canonical_flag(value: &Value) -> Value {
    let Ok(flag) = serde_json::from_value::<Flag>(value.clone()) else {
        return value.clone();
    };
    let Ok(Value::Object(mut typed)) = serde_json::to_value(&flag) else {
        return value.clone();
    };
    let mut out = Map::new();
    for field in FLAG_FIELDS {
        if field == "enabled" {
            out.insert("enabled".to_owned(), Value::Bool(flag.enabled));
        } else if let Some(child) = typed.remove(field) {
            out.insert(field.to_owned(), child);
        }
    }
    out.extend(typed);
    Value::Object(out)
}

fn is_plain_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// `parent.key`, or `parent["odd key"]`.
fn join_key(parent: &str, key: &str) -> String {
    if is_plain_key(key) {
        if parent.is_empty() {
            key.to_owned()
        } else {
            format!("{parent}.{key}")
        }
    } else {
        format!("{parent}[{}]", Value::String(key.to_owned()))
    }
}

fn is_scalar(value: &Value) -> bool {
    !matches!(value, Value::Array(_) | Value::Object(_))
}

/// Equality with numbers compared by value (`25` equals `25.0`).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => x == y,
            _ => x == y,
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

/// Whether the order of a mapping's entries matters: a rollout's weights.
fn order_matters(path: &str) -> bool {
    path == "rollout" || path.ends_with(".rollout")
}

fn diff_value(path: &str, before: &Value, after: &Value, out: &mut Vec<FieldChange>) {
    match (before, after) {
        (Value::Object(b), Value::Object(a)) => {
            if order_matters(path) {
                let common_b: Vec<&String> = b.keys().filter(|k| a.contains_key(*k)).collect();
                let common_a: Vec<&String> = a.keys().filter(|k| b.contains_key(*k)).collect();
                if common_b != common_a {
                    out.push(FieldChange::new(
                        path,
                        ChangeKind::Reordered,
                        Some(before),
                        Some(after),
                    ));
                }
            }
            // Fields in the order of the new document, each removed field
            // placed after the field that preceded it in the old one.
            let mut removed_after: Vec<(Option<&String>, &String, &Value)> = Vec::new();
            let mut anchor: Option<&String> = None;
            for (key, child) in b {
                if a.contains_key(key) {
                    anchor = Some(key);
                } else {
                    removed_after.push((anchor, key, child));
                }
            }
            let removed = |at: Option<&String>, out: &mut Vec<FieldChange>| {
                for (_, key, child) in removed_after.iter().filter(|(x, _, _)| *x == at) {
                    out.push(FieldChange::new(
                        &join_key(path, key),
                        ChangeKind::Removed,
                        Some(child),
                        None,
                    ));
                }
            };
            removed(None, out);
            for (key, child) in a {
                let child_path = join_key(path, key);
                match b.get(key) {
                    Some(old) => diff_value(&child_path, old, child, out),
                    None => out.push(FieldChange::new(
                        &child_path,
                        ChangeKind::Added,
                        None,
                        Some(child),
                    )),
                }
                removed(Some(key), out);
            }
        }
        (Value::Array(b), Value::Array(a)) if b.iter().chain(a).all(is_scalar) => {
            let added: Vec<Value> = members_missing(a, b);
            let removed: Vec<Value> = members_missing(b, a);
            if !added.is_empty() || !removed.is_empty() {
                out.push(FieldChange {
                    added,
                    removed,
                    ..FieldChange::new(path, ChangeKind::Members, Some(before), Some(after))
                });
            }
        }
        (Value::Array(b), Value::Array(a)) => {
            for (index, (x, y)) in b.iter().zip(a).enumerate() {
                diff_value(&format!("{path}[{index}]"), x, y, out);
            }
            for (index, removed) in b.iter().enumerate().skip(a.len()) {
                out.push(FieldChange::new(
                    &format!("{path}[{index}]"),
                    ChangeKind::Removed,
                    Some(removed),
                    None,
                ));
            }
            for (index, added) in a.iter().enumerate().skip(b.len()) {
                out.push(FieldChange::new(
                    &format!("{path}[{index}]"),
                    ChangeKind::Added,
                    None,
                    Some(added),
                ));
            }
        }
        _ => {
            if !same(before, after) {
                out.push(FieldChange::new(
                    path,
                    ChangeKind::Changed,
                    Some(before),
                    Some(after),
                ));
            }
        }
    }
}

/// The members of `from` that `other` lacks, once each, in `from`'s order.
fn members_missing(from: &[Value], other: &[Value]) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    for value in from {
        if !other.iter().any(|o| same(o, value)) && !out.iter().any(|o| same(o, value)) {
            out.push(value.clone());
        }
    }
    out
}

/// A value on one line, YAML flow style: `on`, `25`, `[alice, bob]`,
/// `{rollout: {on: 10, off: 90}}`. Strings are quoted only when they would
/// read as something else.
pub fn compact(value: &Value) -> String {
    let mut out = String::new();
    write_compact(value, &mut out);
    out
}

fn write_compact(value: &Value, out: &mut String) {
    match value {
        Value::String(text) => out.push_str(&scalar_text(text)),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_compact(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&scalar_text(key));
                out.push_str(": ");
                write_compact(item, out);
            }
            out.push('}');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// A string as written in flow YAML: bare when it cannot be misread.
fn scalar_text(text: &str) -> String {
    let reserved = matches!(
        text.to_ascii_lowercase().as_str(),
        "true" | "false" | "null" | "~" | ""
    ) || text.parse::<f64>().is_ok();
    let bare = !reserved
        && !text.starts_with(|c: char| c.is_whitespace() || "-?:,[]{}#&*!|>'\"%@`".contains(c))
        && !text.ends_with(char::is_whitespace)
        && !text.contains([':', '#', ',', '[', ']', '{', '}', '\n', '"']);
    if bare {
        text.to_owned()
    } else {
        Value::String(text.to_owned()).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn lines(before: Option<Value>, after: Option<Value>) -> Vec<String> {
        diff_flag(before.as_ref(), after.as_ref())
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    fn flag(extra: Value) -> Value {
        let mut base = json!({"key": "new-checkout", "type": "boolean", "default": "off"});
        if let (Value::Object(base), Value::Object(extra)) = (&mut base, extra) {
            base.extend(extra);
        }
        base
    }

    #[test]
    fn equal_documents_have_no_changes() {
        let doc = flag(json!({"targets": {"on": ["a", "b"]}}));
        assert!(diff_flag(Some(&doc), Some(&doc)).is_empty());
        assert!(diff_flag(None, None).is_empty());
    }

    #[test]
    fn scalars_change_with_dotted_paths() {
        let before = flag(json!({"default": {"rollout": {"on": 10, "off": 90}}}));
        let after = flag(json!({"default": {"rollout": {"on": 25, "off": 75}}}));
        let changes = diff_flag(Some(&before), Some(&after));
        assert_eq!(changes.len(), 2);
        assert_eq!(changes[0].path, "default.rollout.on");
        assert_eq!(changes[0].kind, ChangeKind::Changed);
        assert_eq!(changes[0].before, Some(json!(10)));
        assert_eq!(changes[0].after, Some(json!(25)));
        assert_eq!(changes[1].to_string(), "default.rollout.off: 90 → 75");
    }

    #[test]
    fn targets_compare_as_sets() {
        let before = flag(json!({"targets": {"on": ["bob", "carol"]}}));
        let after = flag(json!({"targets": {"on": ["carol", "alice"]}}));
        let changes = diff_flag(Some(&before), Some(&after));
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].kind, ChangeKind::Members);
        assert_eq!(changes[0].added, [json!("alice")]);
        assert_eq!(changes[0].removed, [json!("bob")]);
        assert_eq!(changes[0].to_string(), "targets.on: +alice -bob");
        // Only the order changed: no change.
        let reordered = flag(json!({"targets": {"on": ["carol", "bob"]}}));
        assert!(diff_flag(Some(&before), Some(&reordered)).is_empty());
    }

    #[test]
    fn rules_compare_by_index() {
        let rule =
            |segment: &str, serve: Value| json!({"when": {"segment": segment}, "serve": serve});
        let before =
            flag(json!({"rules": [rule("staff", json!("on")), rule("beta", json!("on"))]}));
        let after = flag(json!({"rules": [
            rule("staff", json!("on")),
            rule("beta", json!({"rollout": {"on": 50, "off": 50}})),
            rule("qa", json!("off")),
        ]}));
        assert_eq!(
            lines(Some(before.clone()), Some(after.clone())),
            [
                "rules[1].serve: on → {rollout: {on: 50, off: 50}}",
                "rules[2]: added {when: {segment: qa}, serve: off}",
            ]
        );
        assert_eq!(
            lines(Some(after), Some(before)),
            [
                "rules[1].serve: {rollout: {on: 50, off: 50}} → on",
                "rules[2]: removed (was {when: {segment: qa}, serve: off})",
            ]
        );
    }

    #[test]
    fn condition_values_compare_as_sets() {
        let when = |values: Value| {
            flag(
                json!({"rules": [{"when": {"attr": "country", "op": "in", "values": values}, "serve": "on"}]}),
            )
        };
        assert_eq!(
            lines(
                Some(when(json!(["DE", "FR"]))),
                Some(when(json!(["FR", "NL"])))
            ),
            ["rules[0].when.values: +NL -DE"]
        );
    }

    #[test]
    fn implicit_defaults_are_no_change() {
        let implicit = flag(json!({}));
        let explicit = flag(json!({"enabled": true}));
        assert!(diff_flag(Some(&implicit), Some(&explicit)).is_empty());
        let weights = |on: Value| flag(json!({"default": {"rollout": {"on": on, "off": 50}}}));
        assert!(diff_flag(Some(&weights(json!(50))), Some(&weights(json!(50.0)))).is_empty());
    }

    #[test]
    fn kill_switch_reads_as_a_change_both_ways() {
        let on = flag(json!({}));
        let off = flag(json!({"enabled": false}));
        assert_eq!(
            lines(Some(on.clone()), Some(off.clone())),
            ["enabled: true → false"]
        );
        assert_eq!(lines(Some(off), Some(on)), ["enabled: false → true"]);
    }

    #[test]
    fn added_and_removed_fields() {
        let before = flag(json!({"salt": "abc", "description": "old"}));
        let after = flag(json!({"owner": "payments", "description": "new: better"}));
        assert_eq!(
            lines(Some(before), Some(after)),
            [
                "description: old → \"new: better\"",
                "owner: added payments",
                "salt: removed (was abc)",
            ]
        );
    }

    #[test]
    fn reordered_rollouts_are_reported() {
        let before = flag(json!({"default": {"rollout": {"on": 50, "off": 50}}}));
        let after = flag(json!({"default": {"rollout": {"off": 50, "on": 50}}}));
        let changes = diff_flag(Some(&before), Some(&after));
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].kind, ChangeKind::Reordered);
        assert_eq!(
            changes[0].to_string(),
            "default.rollout: reordered (on, off → off, on)"
        );
        // Other mappings' order does not matter.
        let variants =
            |v: Value| json!({"key": "c", "type": "string", "variants": v, "default": "a"});
        assert!(
            diff_flag(
                Some(&variants(json!({"a": "x", "b": "y"}))),
                Some(&variants(json!({"b": "y", "a": "x"})))
            )
            .is_empty()
        );
    }

    #[test]
    fn created_and_deleted_flags_list_their_fields() {
        let doc = flag(json!({"owner": "payments"}));
        assert_eq!(
            lines(None, Some(doc.clone())),
            [
                "key: added new-checkout",
                "owner: added payments",
                "type: added boolean",
                "enabled: added true",
                "default: added off",
            ]
        );
        let removed = diff_flag(Some(&doc), None);
        assert!(removed.iter().all(|c| c.kind == ChangeKind::Removed));
        assert_eq!(removed[0].before, Some(json!("new-checkout")));
    }

    #[test]
    fn odd_keys_are_quoted_and_invalid_documents_still_diff() {
        let before = json!({"key": "x", "variants": {"a.b": 1}, "bogus": true});
        let after = json!({"key": "x", "variants": {"a.b": 2}, "bogus": true});
        assert_eq!(
            lines(Some(before), Some(after)),
            ["variants[\"a.b\"]: 1 → 2"]
        );
    }

    #[test]
    fn type_changes_replace_the_whole_value() {
        let before = flag(json!({"default": "on"}));
        let after = flag(json!({"default": {"rollout": {"on": 10, "off": 90}}}));
        assert_eq!(
            lines(Some(before), Some(after)),
            ["default: on → {rollout: {on: 10, off: 90}}"]
        );
    }

    #[test]
    fn compact_quotes_only_what_needs_it() {
        assert_eq!(compact(&json!("on")), "on");
        assert_eq!(compact(&json!("true")), "\"true\"");
        assert_eq!(compact(&json!("25")), "\"25\"");
        assert_eq!(compact(&json!("a: b")), "\"a: b\"");
        assert_eq!(compact(&json!("")), "\"\"");
        assert_eq!(compact(&json!([1, "x", null])), "[1, x, null]");
        assert_eq!(compact(&json!({"a b": {"c": []}})), "{a b: {c: []}}");
    }
}
