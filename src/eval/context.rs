//! The evaluation context: who is asking, as a targeting key plus typed
//! attributes.
//!
//! Attributes are kept in small vectors sorted by a hash of their name, so a
//! condition (whose attribute name was hashed when the snapshot was compiled)
//! finds its attribute by comparing integers and checks the name once. Nested
//! maps are addressed with dots (`address.country`).

use std::fmt;
use std::hash::Hasher;

use rustc_hash::FxHasher;
use serde_json::Value;

/// The hash that orders attributes; the same function hashes attribute names
/// in compiled conditions.
pub(crate) fn name_hash(name: &str) -> u64 {
    let mut hasher = FxHasher::default();
    hasher.write(name.as_bytes());
    hasher.finish()
}

/// One typed attribute value.
///
/// ```
/// use flagctl::eval::AttributeValue;
///
/// assert_eq!(AttributeValue::from("DE"), AttributeValue::String("DE".into()));
/// assert_eq!(AttributeValue::from(3), AttributeValue::Number(3.0));
/// assert_eq!(
///     AttributeValue::from(["beta", "staff"]),
///     AttributeValue::List(vec!["beta".into(), "staff".into()]),
/// );
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum AttributeValue {
    /// A string.
    String(Box<str>),
    /// A number (JSON numbers are read as `f64`).
    Number(f64),
    /// A boolean.
    Bool(bool),
    /// A list, usually of strings (`contains` tests membership).
    List(Vec<AttributeValue>),
    /// A nested map, addressed with dots (`address.country`).
    Map(Attributes),
}

impl AttributeValue {
    /// The name of the value's type, for messages (`string`, `number`, …).
    pub fn type_name(&self) -> &'static str {
        match self {
            AttributeValue::String(_) => "string",
            AttributeValue::Number(_) => "number",
            AttributeValue::Bool(_) => "boolean",
            AttributeValue::List(_) => "list",
            AttributeValue::Map(_) => "map",
        }
    }

    /// Converts a JSON value; `None` for `null`.
    ///
    /// Object keys with dots nest like [`Context::with`]; `null` members of
    /// objects and lists are left out.
    pub fn from_json(value: &Value) -> Option<AttributeValue> {
        Some(match value {
            Value::Null => return None,
            Value::Bool(b) => AttributeValue::Bool(*b),
            Value::Number(n) => AttributeValue::Number(n.as_f64().unwrap_or(f64::NAN)),
            Value::String(s) => AttributeValue::String(s.as_str().into()),
            Value::Array(items) => {
                AttributeValue::List(items.iter().filter_map(AttributeValue::from_json).collect())
            }
            Value::Object(members) => {
                let mut map = Attributes::default();
                for (name, member) in members {
                    if let Some(member) = AttributeValue::from_json(member) {
                        map.set(name, member);
                    }
                }
                AttributeValue::Map(map)
            }
        })
    }

    /// The value as JSON (numbers that are not finite become `null`).
    pub fn to_json(&self) -> Value {
        match self {
            AttributeValue::String(s) => Value::String(s.to_string()),
            AttributeValue::Number(n) => serde_json::Number::from_f64(*n).map_or(Value::Null, Value::Number),
            AttributeValue::Bool(b) => Value::Bool(*b),
            AttributeValue::List(items) => Value::Array(items.iter().map(AttributeValue::to_json).collect()),
            AttributeValue::Map(map) => map.to_json(),
        }
    }
}

impl From<&str> for AttributeValue {
    fn from(value: &str) -> Self {
        AttributeValue::String(value.into())
    }
}

impl From<String> for AttributeValue {
    fn from(value: String) -> Self {
        AttributeValue::String(value.into_boxed_str())
    }
}

impl From<Box<str>> for AttributeValue {
    fn from(value: Box<str>) -> Self {
        AttributeValue::String(value)
    }
}

impl From<bool> for AttributeValue {
    fn from(value: bool) -> Self {
        AttributeValue::Bool(value)
    }
}

impl From<f64> for AttributeValue {
    fn from(value: f64) -> Self {
        AttributeValue::Number(value)
    }
}

impl From<f32> for AttributeValue {
    fn from(value: f32) -> Self {
        AttributeValue::Number(f64::from(value))
    }
}

impl From<i32> for AttributeValue {
    fn from(value: i32) -> Self {
        AttributeValue::Number(f64::from(value))
    }
}

impl From<u32> for AttributeValue {
    fn from(value: u32) -> Self {
        AttributeValue::Number(f64::from(value))
    }
}

impl From<i64> for AttributeValue {
    /// Integers beyond ±2^53 lose precision, as in JSON.
    fn from(value: i64) -> Self {
        #[expect(clippy::cast_precision_loss, reason = "numbers are f64, as in JSON")]
        let number = value as f64;
        AttributeValue::Number(number)
    }
}

impl From<u64> for AttributeValue {
    /// Integers beyond 2^53 lose precision, as in JSON.
    fn from(value: u64) -> Self {
        #[expect(clippy::cast_precision_loss, reason = "numbers are f64, as in JSON")]
        let number = value as f64;
        AttributeValue::Number(number)
    }
}

impl From<usize> for AttributeValue {
    /// Integers beyond 2^53 lose precision, as in JSON.
    fn from(value: usize) -> Self {
        #[expect(clippy::cast_precision_loss, reason = "numbers are f64, as in JSON")]
        let number = value as f64;
        AttributeValue::Number(number)
    }
}

impl From<isize> for AttributeValue {
    /// Integers beyond ±2^53 lose precision, as in JSON.
    fn from(value: isize) -> Self {
        #[expect(clippy::cast_precision_loss, reason = "numbers are f64, as in JSON")]
        let number = value as f64;
        AttributeValue::Number(number)
    }
}

impl<T: Into<AttributeValue>> From<Vec<T>> for AttributeValue {
    fn from(values: Vec<T>) -> Self {
        AttributeValue::List(values.into_iter().map(Into::into).collect())
    }
}

impl<T: Into<AttributeValue>, const N: usize> From<[T; N]> for AttributeValue {
    fn from(values: [T; N]) -> Self {
        AttributeValue::List(values.into_iter().map(Into::into).collect())
    }
}

impl From<Attributes> for AttributeValue {
    fn from(map: Attributes) -> Self {
        AttributeValue::Map(map)
    }
}

#[derive(Clone, Debug, PartialEq)]
struct Entry {
    hash: u64,
    name: Box<str>,
    value: AttributeValue,
}

/// A map of attribute names to values (one level; dots address nested maps).
///
/// Entries are kept sorted by a hash of their name, so iteration order is
/// unspecified but stable for the same names.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Attributes {
    entries: Vec<Entry>,
}

/// Up to this many entries a lookup scans; beyond, it bisects.
const LINEAR_SCAN: usize = 8;

impl Attributes {
    /// An empty map.
    pub fn new() -> Attributes {
        Attributes::default()
    }

    /// The number of attributes at this level.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there is no attribute at this level.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The attribute `name` at this level (no dot splitting).
    pub fn get(&self, name: &str) -> Option<&AttributeValue> {
        self.find(name_hash(name), name)
    }

    /// The attribute at a dotted `path` (`address.country`).
    pub fn get_path(&self, path: &str) -> Option<&AttributeValue> {
        let mut parts = path.split('.');
        let mut value = self.get(parts.next()?)?;
        for part in parts {
            let AttributeValue::Map(map) = value else {
                return None;
            };
            value = map.get(part)?;
        }
        Some(value)
    }

    /// Sets the attribute at a dotted `path`, creating nested maps (and
    /// replacing values that are in the way).
    pub fn set(&mut self, path: &str, value: AttributeValue) {
        match path.split_once('.') {
            None => self.insert(path, value),
            Some((first, rest)) => {
                let hash = name_hash(first);
                let index = match self.search(hash, first) {
                    Ok(index) => index,
                    Err(index) => {
                        self.entries.insert(
                            index,
                            Entry {
                                hash,
                                name: first.into(),
                                value: AttributeValue::Map(Attributes::default()),
                            },
                        );
                        index
                    }
                };
                if let Some(entry) = self.entries.get_mut(index) {
                    if !matches!(entry.value, AttributeValue::Map(_)) {
                        entry.value = AttributeValue::Map(Attributes::default());
                    }
                    if let AttributeValue::Map(map) = &mut entry.value {
                        map.set(rest, value);
                    }
                }
            }
        }
    }

    /// Removes the attribute `name` at this level and returns it.
    pub fn remove(&mut self, name: &str) -> Option<AttributeValue> {
        let index = self.search(name_hash(name), name).ok()?;
        Some(self.entries.remove(index).value)
    }

    /// The attributes at this level, in unspecified order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &AttributeValue)> {
        self.entries.iter().map(|entry| (&*entry.name, &entry.value))
    }

    /// The map as a JSON object, names sorted.
    pub fn to_json(&self) -> Value {
        let mut entries: Vec<_> = self.iter().collect();
        entries.sort_by(|a, b| a.0.cmp(b.0));
        Value::Object(
            entries
                .into_iter()
                .map(|(name, value)| (name.to_owned(), value.to_json()))
                .collect(),
        )
    }

    fn insert(&mut self, name: &str, value: AttributeValue) {
        let hash = name_hash(name);
        match self.search(hash, name) {
            Ok(index) => {
                if let Some(entry) = self.entries.get_mut(index) {
                    entry.value = value;
                }
            }
            Err(index) => self.entries.insert(
                index,
                Entry {
                    hash,
                    name: name.into(),
                    value,
                },
            ),
        }
    }

    fn search(&self, hash: u64, name: &str) -> Result<usize, usize> {
        self.entries
            .binary_search_by(|entry| entry.hash.cmp(&hash).then_with(|| (*entry.name).cmp(name)))
    }

    /// The hot-path lookup: `hash` is `name_hash(name)`, computed in advance.
    #[inline]
    pub(crate) fn find(&self, hash: u64, name: &str) -> Option<&AttributeValue> {
        if self.entries.len() <= LINEAR_SCAN {
            for entry in &self.entries {
                if entry.hash == hash {
                    if *entry.name == *name {
                        return Some(&entry.value);
                    }
                } else if entry.hash > hash {
                    return None;
                }
            }
            None
        } else {
            let index = self.search(hash, name).ok()?;
            self.entries.get(index).map(|entry| &entry.value)
        }
    }
}

/// Who a flag is evaluated for: a targeting key plus typed attributes.
///
/// The targeting key identifies the user (or device, or tenant) and is what
/// rollouts hash unless they name another attribute; conditions read it as
/// `attr: key`. An empty targeting key counts as missing. Attribute names
/// with dots address nested maps.
///
/// ```
/// use flagctl::eval::{AttributeValue, Context};
///
/// let context = Context::new("user-42")
///     .with("country", "DE")
///     .with("plan", "enterprise")
///     .with("seats", 120)
///     .with("beta", true)
///     .with("groups", ["staff", "testers"])
///     .with("address.city", "Berlin");
/// assert_eq!(context.targeting_key(), "user-42");
/// assert_eq!(context.get("address.city"), Some(&AttributeValue::from("Berlin")));
///
/// let same = Context::from_json(&serde_json::json!({
///     "targetingKey": "user-42",
///     "country": "DE",
///     "plan": "enterprise",
///     "seats": 120,
///     "beta": true,
///     "groups": ["staff", "testers"],
///     "address": {"city": "Berlin"},
/// }))?;
/// assert_eq!(same, context);
/// # Ok::<(), flagctl::eval::ContextError>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Context {
    targeting_key: Box<str>,
    attributes: Attributes,
}

/// Why a JSON value is not an evaluation context.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ContextError {
    /// The context is not a JSON object.
    #[error("an evaluation context must be a JSON object, found {found}")]
    NotAnObject {
        /// What was found instead (`an array`, `a string`, …).
        found: &'static str,
    },
    /// `targetingKey` is not a string.
    #[error("`targetingKey` must be a string, found {found}")]
    TargetingKeyNotString {
        /// What was found instead.
        found: &'static str,
    },
}

fn describe_json(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl Context {
    /// A context for `targeting_key` without attributes.
    pub fn new(targeting_key: impl Into<String>) -> Context {
        Context {
            targeting_key: targeting_key.into().into_boxed_str(),
            attributes: Attributes::default(),
        }
    }

    /// Reads an OpenFeature-style JSON context: `targetingKey` plus attributes.
    ///
    /// Other members become attributes (objects nest, `null` is left out). A
    /// missing `targetingKey` leaves the key empty.
    pub fn from_json(value: &Value) -> Result<Context, ContextError> {
        let Value::Object(members) = value else {
            return Err(ContextError::NotAnObject {
                found: describe_json(value),
            });
        };
        let mut context = Context::default();
        for (name, member) in members {
            if name == "targetingKey" {
                match member {
                    Value::String(key) => context.targeting_key = key.as_str().into(),
                    Value::Null => {}
                    other => {
                        return Err(ContextError::TargetingKeyNotString {
                            found: describe_json(other),
                        });
                    }
                }
            } else if let Some(value) = AttributeValue::from_json(member) {
                context.attributes.set(name, value);
            }
        }
        Ok(context)
    }

    /// The context as OpenFeature-style JSON (`targetingKey` plus attributes).
    pub fn to_json(&self) -> Value {
        let mut json = self.attributes.to_json();
        if let Value::Object(members) = &mut json {
            members.insert("targetingKey".to_owned(), Value::String(self.targeting_key.to_string()));
        }
        json
    }

    /// Adds or replaces the attribute at a dotted `path`, builder style.
    pub fn with(mut self, path: &str, value: impl Into<AttributeValue>) -> Context {
        self.set(path, value);
        self
    }

    /// Adds or replaces the attribute at a dotted `path`.
    pub fn set(&mut self, path: &str, value: impl Into<AttributeValue>) {
        self.attributes.set(path, value.into());
    }

    /// Replaces the targeting key.
    pub fn set_targeting_key(&mut self, targeting_key: impl Into<String>) {
        self.targeting_key = targeting_key.into().into_boxed_str();
    }

    /// The targeting key (empty when none was given).
    pub fn targeting_key(&self) -> &str {
        &self.targeting_key
    }

    /// The attribute at a dotted `path`; conditions read `key` as the
    /// targeting key instead (see [`Context::targeting_key`]).
    pub fn get(&self, path: &str) -> Option<&AttributeValue> {
        self.attributes.get_path(path)
    }

    /// The attributes.
    pub fn attributes(&self) -> &Attributes {
        &self.attributes
    }

    /// The attributes, to change them.
    pub fn attributes_mut(&mut self) -> &mut Attributes {
        &mut self.attributes
    }
}

impl fmt::Display for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_json())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn builder_sets_and_replaces() {
        let context = Context::new("u")
            .with("a", 1)
            .with("a", "x")
            .with("n.m", true)
            .with("n.k", 2.5)
            .with("n.m.deep", "replaced a bool");
        assert_eq!(context.get("a"), Some(&AttributeValue::from("x")));
        assert_eq!(context.get("n.k"), Some(&AttributeValue::Number(2.5)));
        assert_eq!(context.get("n.m.deep"), Some(&AttributeValue::from("replaced a bool")));
        assert_eq!(context.get("n.x"), None);
        assert_eq!(context.get("a.b"), None);
        assert_eq!(context.attributes().len(), 2);
    }

    #[test]
    fn lookup_scans_and_bisects() {
        let mut context = Context::new("u");
        for i in 0..40 {
            context.set(&format!("attribute{i}"), i);
        }
        for i in 0..40 {
            let name = format!("attribute{i}");
            assert_eq!(context.get(&name), Some(&AttributeValue::from(i)), "{name}");
            assert_eq!(context.attributes().find(name_hash(&name), &name), context.get(&name));
        }
        assert_eq!(context.get("attribute40"), None);
        let mut small = Attributes::new();
        for i in 0..LINEAR_SCAN {
            small.set(&format!("s{i}"), AttributeValue::from("v"));
        }
        for i in 0..LINEAR_SCAN {
            let name = format!("s{i}");
            assert!(small.find(name_hash(&name), &name).is_some());
        }
        assert!(small.find(name_hash("nope"), "nope").is_none());
        assert_eq!(small.remove("s0"), Some(AttributeValue::from("v")));
        assert!(small.get("s0").is_none());
    }

    #[test]
    fn json_round_trip() {
        let json = json!({
            "targetingKey": "user-1",
            "country": "DE",
            "seats": 3,
            "beta": false,
            "groups": ["a", "b", null],
            "address": {"country": "FR", "zip": "75001"},
            "gone": null,
        });
        let context = Context::from_json(&json).expect("an object");
        assert_eq!(context.targeting_key(), "user-1");
        assert_eq!(context.get("address.country"), Some(&AttributeValue::from("FR")));
        assert_eq!(context.get("groups"), Some(&AttributeValue::from(["a", "b"])));
        assert_eq!(context.get("gone"), None);
        let back = context.to_json();
        assert_eq!(back["address"]["zip"], json!("75001"));
        assert_eq!(back["targetingKey"], json!("user-1"));
        assert_eq!(Context::from_json(&back), Ok(context));
    }

    #[test]
    fn json_errors() {
        assert_eq!(
            Context::from_json(&json!([1])),
            Err(ContextError::NotAnObject { found: "an array" })
        );
        assert_eq!(
            Context::from_json(&json!({"targetingKey": 7})),
            Err(ContextError::TargetingKeyNotString { found: "a number" })
        );
        let anonymous = Context::from_json(&json!({"targetingKey": null, "a": 1})).expect("valid");
        assert_eq!(anonymous.targeting_key(), "");
        assert_eq!(
            ContextError::NotAnObject { found: "a string" }.to_string(),
            "an evaluation context must be a JSON object, found a string"
        );
    }
}
