//! What an edit means on the `serde_json::Value` level: each [`Edit`] is
//! checked against the current value and broken into primitive [`Step`]s
//! (replace a node, insert a key, remove a key, push an item, remove an
//! item), each of which the text layer performs and the caller verifies.
//!
//! Nothing here looks at YAML text, so the expected result of an edit is
//! computed independently of the editor that produces the text.

use serde_json::{Map, Value};

use super::path::{Path, Segment};
use super::{Edit, EditError};

/// One primitive change, small enough to perform minimally on the text.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Step {
    /// Replace the existing node at `path` (never the root) by `value`.
    Replace { path: Vec<Segment>, value: Value },
    /// Add `key` (absent) at the end of the mapping at `parent`; a `null`
    /// root stands for an empty document.
    InsertKey {
        parent: Vec<Segment>,
        key: String,
        value: Value,
    },
    /// Remove the `index`-th entry of the mapping at `parent`.
    RemoveKey { parent: Vec<Segment>, index: usize },
    /// Append `value` to the list at `parent`.
    Push { parent: Vec<Segment>, value: Value },
    /// Remove the `index`-th item of the list at `parent`.
    RemoveItem { parent: Vec<Segment>, index: usize },
}

impl Step {
    /// The path of the node the step writes, for messages.
    pub(crate) fn path(&self) -> Path {
        match self {
            Step::Replace { path, .. } => Path::from(path.clone()),
            Step::InsertKey { parent, key, .. } => Path::from(parent.clone()).key(key.clone()),
            Step::RemoveKey { parent, .. }
            | Step::Push { parent, .. }
            | Step::RemoveItem { parent, .. } => Path::from(parent.clone()),
        }
    }

    /// Applies the step to a value. The step was planned against this
    /// value, so every node it names exists.
    pub(crate) fn apply(&self, root: &mut Value) {
        match self {
            Step::Replace { path, value } => {
                if let Some(node) = node_mut(root, path) {
                    *node = value.clone();
                }
            }
            Step::InsertKey { parent, key, value } => {
                if let Some(node) = node_mut(root, parent) {
                    if node.is_null() {
                        *node = Value::Object(Map::new());
                    }
                    if let Value::Object(map) = node {
                        map.insert(key.clone(), value.clone());
                    }
                }
            }
            Step::RemoveKey { parent, index } => {
                if let Some(Value::Object(map)) = node_mut(root, parent)
                    && let Some(key) = map.keys().nth(*index).cloned()
                {
                    map.shift_remove(&key);
                }
            }
            Step::Push { parent, value } => {
                if let Some(Value::Array(items)) = node_mut(root, parent) {
                    items.push(value.clone());
                }
            }
            Step::RemoveItem { parent, index } => {
                if let Some(Value::Array(items)) = node_mut(root, parent)
                    && *index < items.len()
                {
                    items.remove(*index);
                }
            }
        }
    }
}

/// The node at `path`, if every step exists.
pub(crate) fn node<'v>(root: &'v Value, path: &[Segment]) -> Option<&'v Value> {
    path.iter()
        .try_fold(root, |node, segment| match (node, segment) {
            (Value::Object(map), Segment::Key(key)) => map.get(key),
            (Value::Array(items), Segment::Index(index)) => items.get(*index),
            _ => None,
        })
}

fn node_mut<'v>(root: &'v mut Value, path: &[Segment]) -> Option<&'v mut Value> {
    path.iter()
        .try_fold(root, |node, segment| match (node, segment) {
            (Value::Object(map), Segment::Key(key)) => map.get_mut(key),
            (Value::Array(items), Segment::Index(index)) => items.get_mut(*index),
            _ => None,
        })
}

/// How far a path reaches into a value.
enum Reach {
    /// Every step exists.
    Exists,
    /// `path[..at]` exists and is a mapping (or `null`) without the key
    /// `path[at]`.
    MissingKey { at: usize },
}

/// Follows `path` into `root`, failing where a step cannot exist.
fn reach(root: &Value, path: &Path) -> Result<Reach, EditError> {
    let segments = path.segments();
    let mut node = root;
    for (at, segment) in segments.iter().enumerate() {
        let here = || Path::from(segments[..at].to_vec());
        node = match (node, segment) {
            (Value::Object(map), Segment::Key(key)) => match map.get(key) {
                Some(child) => child,
                None => return Ok(Reach::MissingKey { at }),
            },
            (Value::Null, Segment::Key(_)) => return Ok(Reach::MissingKey { at }),
            (Value::Array(items), Segment::Index(index)) => match items.get(*index) {
                Some(child) => child,
                None => {
                    return Err(EditError::IndexOutOfRange {
                        path: path.clone(),
                        list: here(),
                        index: *index,
                        len: items.len(),
                    });
                }
            },
            (found, Segment::Key(_)) => {
                return Err(EditError::NotAMapping {
                    path: path.clone(),
                    at: here(),
                    found: kind(found),
                });
            }
            (found, Segment::Index(_)) => {
                return Err(EditError::NotAList {
                    path: path.clone(),
                    at: here(),
                    found: kind(found),
                });
            }
        };
    }
    Ok(Reach::Exists)
}

/// "a string", "a mapping", … for messages.
pub(crate) fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// Breaks `edit` into steps against `root`, or says why it cannot apply.
pub(crate) fn plan(root: &Value, edit: &Edit) -> Result<Vec<Step>, EditError> {
    let path = edit.path();
    if path.is_root() {
        return Err(EditError::RootPath);
    }
    match edit {
        Edit::Set { path, value } => plan_set(root, path, value.clone()),
        Edit::Remove { path } => {
            if let Reach::MissingKey { .. } = reach(root, path)? {
                return Err(EditError::NotFound { path: path.clone() });
            }
            let (last, parent) = split_last(path);
            Ok(vec![match (last, node(root, parent)) {
                (Segment::Key(key), Some(Value::Object(map))) => Step::RemoveKey {
                    parent: parent.to_vec(),
                    index: map.keys().position(|k| k == key).unwrap_or_default(),
                },
                (Segment::Index(index), _) => Step::RemoveItem {
                    parent: parent.to_vec(),
                    index: *index,
                },
                // `reach` found every step, so the parent holds the key.
                (Segment::Key(_), _) => return Err(EditError::NotFound { path: path.clone() }),
            }])
        }
        Edit::Append { path, values } => {
            let mut fresh: Vec<Value> = Vec::new();
            let existing = match reach(root, path)? {
                Reach::Exists => node(root, path.segments()),
                Reach::MissingKey { .. } => None,
            };
            let existing = match existing {
                None | Some(Value::Null) => None,
                Some(Value::Array(items)) => Some(items),
                Some(found) => {
                    return Err(EditError::NotAList {
                        path: path.clone(),
                        at: path.clone(),
                        found: kind(found),
                    });
                }
            };
            for value in values {
                let present = existing.is_some_and(|items| items.contains(value));
                if !present && !fresh.contains(value) {
                    fresh.push(value.clone());
                }
            }
            match existing {
                Some(_) => Ok(fresh
                    .into_iter()
                    .map(|value| Step::Push {
                        parent: path.segments().to_vec(),
                        value,
                    })
                    .collect()),
                None => plan_set(root, path, Value::Array(fresh)),
            }
        }
        Edit::RemoveItems { path, values } => {
            if let Reach::MissingKey { .. } = reach(root, path)? {
                return Err(EditError::NotFound { path: path.clone() });
            }
            match node(root, path.segments()) {
                Some(Value::Array(items)) => Ok(items
                    .iter()
                    .enumerate()
                    .rev()
                    .filter(|(_, item)| values.contains(item))
                    .map(|(index, _)| Step::RemoveItem {
                        parent: path.segments().to_vec(),
                        index,
                    })
                    .collect()),
                found => Err(EditError::NotAList {
                    path: path.clone(),
                    at: path.clone(),
                    found: found.map_or("missing", kind),
                }),
            }
        }
    }
}

fn split_last(path: &Path) -> (&Segment, &[Segment]) {
    let segments = path.segments();
    match segments.split_last() {
        Some((last, parent)) => (last, parent),
        // Callers refuse the root path first.
        None => (&Segment::Index(0), segments),
    }
}

fn plan_set(root: &Value, path: &Path, value: Value) -> Result<Vec<Step>, EditError> {
    let segments = path.segments();
    match reach(root, path)? {
        Reach::Exists => {
            let old = node(root, segments).unwrap_or(&Value::Null);
            let mut steps = Vec::new();
            diff(segments.to_vec(), old, &value, &mut steps);
            Ok(steps)
        }
        Reach::MissingKey { at } => {
            // Wrap the value in one mapping per missing key below the first.
            let mut nested = value;
            for (i, segment) in segments.iter().enumerate().skip(at + 1).rev() {
                match segment {
                    Segment::Key(key) => {
                        let mut map = Map::new();
                        map.insert(key.clone(), nested);
                        nested = Value::Object(map);
                    }
                    Segment::Index(index) => {
                        return Err(EditError::IndexOutOfRange {
                            path: path.clone(),
                            list: Path::from(segments[..i].to_vec()),
                            index: *index,
                            len: 0,
                        });
                    }
                }
            }
            let Some(Segment::Key(key)) = segments.get(at) else {
                return Err(EditError::NotFound { path: path.clone() });
            };
            let parent = &segments[..at];
            match node(root, parent) {
                // A `null` in the middle of a document becomes a mapping.
                Some(Value::Null) if !parent.is_empty() => {
                    let mut map = Map::new();
                    map.insert(key.clone(), nested);
                    Ok(vec![Step::Replace {
                        path: parent.to_vec(),
                        value: Value::Object(map),
                    }])
                }
                _ => Ok(vec![Step::InsertKey {
                    parent: parent.to_vec(),
                    key: key.clone(),
                    value: nested,
                }]),
            }
        }
    }
}

/// Steps that turn `old` (at `path`) into `new`, touching as little as
/// possible: unchanged parts are left alone, a mapping keeps the entries
/// that stay, a list grows by pushes.
fn diff(path: Vec<Segment>, old: &Value, new: &Value, steps: &mut Vec<Step>) {
    if same(old, new) {
        return;
    }
    match (old, new) {
        (Value::Object(old_map), Value::Object(new_map)) if mergeable(old_map, new_map) => {
            for (key, new_value) in new_map {
                if let Some(old_value) = old_map.get(key) {
                    let mut child = path.clone();
                    child.push(Segment::Key(key.clone()));
                    diff(child, old_value, new_value, steps);
                }
            }
            for (index, key) in old_map.keys().enumerate().rev() {
                if !new_map.contains_key(key) {
                    steps.push(Step::RemoveKey {
                        parent: path.clone(),
                        index,
                    });
                }
            }
            for (key, new_value) in new_map {
                if !old_map.contains_key(key) {
                    steps.push(Step::InsertKey {
                        parent: path.clone(),
                        key: key.clone(),
                        value: new_value.clone(),
                    });
                }
            }
        }
        (Value::Array(old_items), Value::Array(new_items))
            if !old_items.is_empty() && new_items.len() >= old_items.len() =>
        {
            let (common, added) = new_items.split_at(old_items.len());
            if common.iter().zip(old_items).all(|(a, b)| same(a, b)) {
                for value in added {
                    steps.push(Step::Push {
                        parent: path.clone(),
                        value: value.clone(),
                    });
                }
            } else if added.is_empty() {
                for (index, (old_item, new_item)) in old_items.iter().zip(new_items).enumerate() {
                    let mut child = path.clone();
                    child.push(Segment::Index(index));
                    diff(child, old_item, new_item, steps);
                }
            } else {
                steps.push(Step::Replace {
                    path,
                    value: new.clone(),
                });
            }
        }
        _ => steps.push(Step::Replace {
            path,
            value: new.clone(),
        }),
    }
}

/// Whether `new` can be reached from `old` entry by entry: they share a
/// key, the shared keys keep their order, and new keys come after them.
fn mergeable(old: &Map<String, Value>, new: &Map<String, Value>) -> bool {
    let shared: Vec<&String> = new.keys().take_while(|k| old.contains_key(*k)).collect();
    if shared.is_empty() || new.keys().skip(shared.len()).any(|k| old.contains_key(k)) {
        return false;
    }
    let in_old_order: Vec<&String> = old.keys().filter(|k| new.contains_key(*k)).collect();
    shared == in_old_order
}

/// The value `root` should have after `edit`, worked out directly (without
/// the steps [`plan`] breaks it into), to check the steps against; `None`
/// where [`plan`] reports an error.
pub(crate) fn expected(root: &Value, edit: &Edit) -> Option<Value> {
    let mut value = root.clone();
    let (last, parent) = edit.path().segments().split_last()?;
    let creates = matches!(edit, Edit::Set { .. } | Edit::Append { .. });
    let mut node = &mut value;
    for segment in parent {
        node = step_into(node, segment, creates)?;
    }
    match edit {
        Edit::Set { value: new, .. } => *step_into(node, last, true)? = new.clone(),
        Edit::Remove { .. } => match (node, last) {
            (Value::Object(map), Segment::Key(key)) => {
                map.shift_remove(key)?;
            }
            (Value::Array(items), Segment::Index(index)) if *index < items.len() => {
                items.remove(*index);
            }
            _ => return None,
        },
        Edit::Append { values, .. } => {
            let list = step_into(node, last, true)?;
            if list.is_null() {
                *list = Value::Array(Vec::new());
            }
            let Value::Array(items) = list else {
                return None;
            };
            for value in values {
                if !items.contains(value) {
                    items.push(value.clone());
                }
            }
        }
        Edit::RemoveItems { values, .. } => match step_into(node, last, false)? {
            Value::Array(items) => items.retain(|item| !values.contains(item)),
            _ => return None,
        },
    }
    Some(value)
}

/// The child of `node` at `segment`; with `create`, a missing key is added
/// (holding `null`) and a `null` node becomes a mapping first.
fn step_into<'v>(node: &'v mut Value, segment: &Segment, create: bool) -> Option<&'v mut Value> {
    if create && node.is_null() && matches!(segment, Segment::Key(_)) {
        *node = Value::Object(Map::new());
    }
    match (node, segment) {
        (Value::Object(map), Segment::Key(key)) => {
            if create && !map.contains_key(key) {
                map.insert(key.clone(), Value::Null);
            }
            map.get_mut(key)
        }
        (Value::Array(items), Segment::Index(index)) => items.get_mut(*index),
        _ => None,
    }
}

/// Equality that also compares the order of mapping keys.
pub(crate) fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len()
                && a.iter()
                    .zip(b)
                    .all(|((ka, va), (kb, vb))| ka == kb && same(va, vb))
        }
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(a, b)| same(a, b))
        }
        _ => a == b,
    }
}

/// The first place where `a` and `b` differ (order of keys included), as a
/// path, or `None` when they are the same.
pub(crate) fn first_difference(a: &Value, b: &Value) -> Option<Path> {
    let mut path = Vec::new();
    if find_difference(a, b, &mut path) {
        Some(Path::from(path))
    } else {
        None
    }
}

fn find_difference(a: &Value, b: &Value, path: &mut Vec<Segment>) -> bool {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, value) in a {
                path.push(Segment::Key(key.clone()));
                match b.get(key) {
                    Some(other) if find_difference(value, other, path) => return true,
                    Some(_) => {}
                    None => return true,
                }
                path.pop();
            }
            for key in b.keys() {
                if !a.contains_key(key) {
                    path.push(Segment::Key(key.clone()));
                    return true;
                }
            }
            // Same entries in another order: the mapping itself differs.
            !same(&Value::Object(a.clone()), &Value::Object(b.clone()))
        }
        (Value::Array(a), Value::Array(b)) => {
            for (index, (x, y)) in a.iter().zip(b).enumerate() {
                path.push(Segment::Index(index));
                if find_difference(x, y, path) {
                    return true;
                }
                path.pop();
            }
            a.len() != b.len()
        }
        _ => a != b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(text: &str) -> Path {
        Path::parse(text).unwrap_or_else(|e| panic!("{e}"))
    }

    fn expect(root: &Value, edit: Edit) -> Result<Value, EditError> {
        let steps = plan(root, &edit)?;
        let mut value = root.clone();
        for step in &steps {
            step.apply(&mut value);
        }
        Ok(value)
    }

    #[test]
    fn set_creates_missing_mappings() {
        let root = json!({"key": "a", "default": "off"});
        let value =
            expect(&root, Edit::set(p("variants.x.y"), json!(1))).expect("the edit applies");
        assert_eq!(
            value,
            json!({"key": "a", "default": "off", "variants": {"x": {"y": 1}}})
        );
        let value = expect(&json!(null), Edit::set(p("a.b"), json!(1))).expect("the edit applies");
        assert_eq!(value, json!({"a": {"b": 1}}));
        let value =
            expect(&json!({"a": null}), Edit::set(p("a.b"), json!(1))).expect("the edit applies");
        assert_eq!(value, json!({"a": {"b": 1}}));
    }

    #[test]
    fn set_refuses_to_go_through_scalars() {
        let root = json!({"default": "off", "rules": [{"serve": "on"}]});
        let error =
            expect(&root, Edit::set(p("default.rollout"), json!({}))).expect_err("the edit fails");
        assert_eq!(
            error.to_string(),
            "cannot reach `default.rollout`: `default` is a string, not a mapping"
        );
        let error =
            expect(&root, Edit::set(p("rules[3].serve"), json!("x"))).expect_err("the edit fails");
        assert_eq!(
            error.to_string(),
            "cannot reach `rules[3].serve`: `rules` has 1 item, no index 3"
        );
        let error = expect(&root, Edit::set(p("rules.x"), json!("x"))).expect_err("the edit fails");
        assert_eq!(
            error.to_string(),
            "cannot reach `rules.x`: `rules` is a list, not a mapping"
        );
        let error =
            expect(&root, Edit::set(p("default[0]"), json!("x"))).expect_err("the edit fails");
        assert_eq!(
            error.to_string(),
            "cannot reach `default[0]`: `default` is a string, not a list"
        );
        let error = expect(&root, Edit::set(p("new[0]"), json!("x"))).expect_err("the edit fails");
        assert!(
            matches!(error, EditError::IndexOutOfRange { .. }),
            "{error}"
        );
    }

    #[test]
    fn set_diffs_into_existing_values() {
        let root = json!({"default": {"rollout": {"on": 10, "off": 90}}});
        let steps = plan(
            &root,
            &Edit::set(p("default"), json!({"rollout": {"on": 25, "off": 75}})),
        )
        .expect("the edit applies");
        assert_eq!(
            steps,
            vec![
                Step::Replace {
                    path: p("default.rollout.on").segments().to_vec(),
                    value: json!(25)
                },
                Step::Replace {
                    path: p("default.rollout.off").segments().to_vec(),
                    value: json!(75)
                },
            ]
        );
        // Reordered keys replace the mapping as a whole.
        let steps = plan(
            &root,
            &Edit::set(p("default.rollout"), json!({"off": 75, "on": 25})),
        )
        .expect("the edit applies");
        assert_eq!(steps.len(), 1);
        assert!(matches!(steps[0], Step::Replace { .. }));
        // A grown list is pushed to.
        let root = json!({"t": ["a"]});
        let steps = plan(&root, &Edit::set(p("t"), json!(["a", "b"]))).expect("the edit applies");
        assert_eq!(
            steps,
            vec![Step::Push {
                parent: p("t").segments().to_vec(),
                value: json!("b")
            }]
        );
        // Nothing to do.
        assert_eq!(
            plan(&root, &Edit::set(p("t"), json!(["a"]))).expect("the edit applies"),
            vec![]
        );
    }

    #[test]
    fn append_and_remove_items() {
        let root = json!({"targets": {"on": ["alice"]}});
        let value = expect(
            &root,
            Edit::append(
                p("targets.on"),
                [json!("bob"), json!("alice"), json!("bob")],
            ),
        )
        .expect("the edit applies");
        assert_eq!(value, json!({"targets": {"on": ["alice", "bob"]}}));
        let value = expect(&root, Edit::append(p("targets.off"), [json!("carol")]))
            .expect("the edit applies");
        assert_eq!(
            value,
            json!({"targets": {"on": ["alice"], "off": ["carol"]}})
        );
        let root = json!({"t": ["a", "b", "a", "c"]});
        let value = expect(
            &root,
            Edit::remove_items(p("t"), [json!("a"), json!("zed")]),
        )
        .expect("the edit applies");
        assert_eq!(value, json!({"t": ["b", "c"]}));
        let error =
            expect(&root, Edit::remove_items(p("u"), [json!("a")])).expect_err("the edit fails");
        assert_eq!(error.to_string(), "`u` does not exist");
        let error = expect(&json!({"t": "x"}), Edit::append(p("t"), [json!("a")]))
            .expect_err("the edit fails");
        assert_eq!(error.to_string(), "`t` is a string, not a list");
    }

    #[test]
    fn remove() {
        let root = json!({"a": 1, "b": {"c": [1, 2]}, "d": 3});
        assert_eq!(
            expect(&root, Edit::remove(p("b.c[0]"))).expect("the edit applies"),
            json!({"a": 1, "b": {"c": [2]}, "d": 3})
        );
        let value = expect(&root, Edit::remove(p("a"))).expect("the edit applies");
        assert!(same(&value, &json!({"b": {"c": [1, 2]}, "d": 3})));
        assert_eq!(
            expect(&root, Edit::remove(p("x")))
                .expect_err("the edit fails")
                .to_string(),
            "`x` does not exist"
        );
        assert!(matches!(
            expect(&root, Edit::remove(Path::new())),
            Err(EditError::RootPath)
        ));
    }

    #[test]
    fn differences() {
        assert_eq!(first_difference(&json!({"a": 1}), &json!({"a": 1})), None);
        assert_eq!(
            first_difference(&json!({"a": [1, 2]}), &json!({"a": [1, 3]})),
            Some(p("a[1]"))
        );
        assert_eq!(
            first_difference(&json!({"a": 1}), &json!({"a": 1, "b": 2})),
            Some(p("b"))
        );
        assert_eq!(
            first_difference(&json!({"a": 1, "b": 2}), &json!({"b": 2, "a": 1})),
            Some(Path::new())
        );
    }
}
