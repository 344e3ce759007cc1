//! The evaluation context: who is asking, as a targeting key plus typed
//! attributes.
//!
//! Attributes are kept in small vectors sorted by a key derived from their
//! name, so a condition (whose attribute name was turned into a key when the
//! snapshot was compiled) finds its attribute by comparing integers; short
//! string values sit in the entry itself. Nested maps are addressed with dots
//! (`address.country`).
//!
//! Here: [`Context`]; `bytes` (name keys, inline byte comparison), `value`
//! ([`AttributeValue`], [`AttributeRef`], what operators see), `cell` (the
//! table layout and value cells that `eval::fast` reads), `attributes`
//! ([`Attributes`]).

mod attributes;
mod bytes;
mod cell;
#[cfg(test)]
mod tests;
mod value;

use std::fmt;

use serde_json::Value;

pub use attributes::Attributes;
use attributes::MAX_TEXT;
pub(crate) use bytes::{name_key, same_bytes};
use cell::Span;
pub(crate) use cell::{Cell, CellKind, cell_kind, holds_string, packed_word, short_string_cell};
pub(crate) use value::Actual;
pub use value::{AttributeRef, AttributeValue};

/// Who a flag is evaluated for: a targeting key plus typed attributes.
///
/// The targeting key identifies the user (or device, or tenant) and is what
/// rollouts hash unless they name another attribute; conditions read it as
/// `attr: key`. An empty targeting key counts as missing. Attribute names
/// with dots address nested maps.
///
/// ```
/// use flagctl::eval::{AttributeRef, Context};
///
/// let context = Context::new("user-42")
///     .with("country", "DE")
///     .with("plan", "enterprise")
///     .with("seats", 120)
///     .with("beta", true)
///     .with("groups", ["staff", "testers"])
///     .with("address.city", "Berlin");
/// assert_eq!(context.targeting_key(), "user-42");
/// assert_eq!(context.get("address.city"), Some(AttributeRef::String("Berlin")));
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
#[derive(Clone, Debug, Default)]
pub struct Context {
    /// The attributes; their text starts with the targeting key.
    attributes: Attributes,
}

impl PartialEq for Context {
    fn eq(&self, other: &Self) -> bool {
        self.targeting_key() == other.targeting_key() && self.attributes == other.attributes
    }
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

pub(crate) fn describe_json(value: &Value) -> &'static str {
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
        let mut context = Context::default();
        context.set_targeting_key(targeting_key);
        context
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
                    Value::String(key) => context.set_targeting_key(key.as_str()),
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
            members.insert(
                "targetingKey".to_owned(),
                Value::String(self.targeting_key().to_owned()),
            );
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
        let targeting_key = targeting_key.into();
        let attributes = &mut self.attributes;
        if attributes.text.is_empty() {
            // The usual case, a new context: the key's string becomes the text.
            attributes.text = targeting_key;
            attributes.text.reserve(64);
            // Exact: longer keys are left empty below.
            let len = attributes.text.len() as u32;
            attributes.key = Span { start: 0, len };
            if attributes.text.len() > MAX_TEXT {
                attributes.text.clear();
                attributes.key = Span::default();
            }
        } else {
            attributes.garbage = attributes.garbage.saturating_add(attributes.key.len);
            attributes.key = attributes.push(&targeting_key);
        }
    }

    /// The targeting key (empty when none was given).
    #[inline]
    pub fn targeting_key(&self) -> &str {
        self.attributes.text(self.attributes.key)
    }

    /// The attribute at a dotted `path`; conditions read `key` as the
    /// targeting key instead (see [`Context::targeting_key`]).
    pub fn get(&self, path: &str) -> Option<AttributeRef<'_>> {
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
