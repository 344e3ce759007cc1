//! Attribute values: owned ([`AttributeValue`]), borrowed from a context
//! ([`AttributeRef`]), and as operators see them (`Actual`).

use serde_json::Value;

use super::attributes::Attributes;
use super::bytes::name_key;

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
    /// Object keys with dots nest like [`Context::with`](super::Context::with); `null` members of
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
            AttributeValue::Number(n) => {
                serde_json::Number::from_f64(*n).map_or(Value::Null, Value::Number)
            }
            AttributeValue::Bool(b) => Value::Bool(*b),
            AttributeValue::List(items) => {
                Value::Array(items.iter().map(AttributeValue::to_json).collect())
            }
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
        // Exact: numbers are f64, as in JSON.
        let number = value as f64;
        AttributeValue::Number(number)
    }
}

impl From<u64> for AttributeValue {
    /// Integers beyond 2^53 lose precision, as in JSON.
    fn from(value: u64) -> Self {
        // Exact: numbers are f64, as in JSON.
        let number = value as f64;
        AttributeValue::Number(number)
    }
}

impl From<usize> for AttributeValue {
    /// Integers beyond 2^53 lose precision, as in JSON.
    fn from(value: usize) -> Self {
        // Exact: numbers are f64, as in JSON.
        let number = value as f64;
        AttributeValue::Number(number)
    }
}

impl From<isize> for AttributeValue {
    /// Integers beyond ±2^53 lose precision, as in JSON.
    fn from(value: isize) -> Self {
        // Exact: numbers are f64, as in JSON.
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

/// A borrowed view of an attribute value, as stored in a [`Context`](super::Context).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum AttributeRef<'a> {
    /// A string.
    String(&'a str),
    /// A number.
    Number(f64),
    /// A boolean.
    Bool(bool),
    /// A list.
    List(&'a [AttributeValue]),
    /// A nested map.
    Map(&'a Attributes),
}

impl AttributeRef<'_> {
    /// The name of the value's type, for messages (`string`, `number`, …).
    pub fn type_name(&self) -> &'static str {
        match self {
            AttributeRef::String(_) => "string",
            AttributeRef::Number(_) => "number",
            AttributeRef::Bool(_) => "boolean",
            AttributeRef::List(_) => "list",
            AttributeRef::Map(_) => "map",
        }
    }

    /// An owned copy.
    pub fn to_value(&self) -> AttributeValue {
        match *self {
            AttributeRef::String(s) => AttributeValue::String(s.into()),
            AttributeRef::Number(n) => AttributeValue::Number(n),
            AttributeRef::Bool(b) => AttributeValue::Bool(b),
            AttributeRef::List(items) => AttributeValue::List(items.to_vec()),
            AttributeRef::Map(map) => AttributeValue::Map(map.clone()),
        }
    }

    /// The value as JSON (numbers that are not finite become `null`).
    pub fn to_json(&self) -> Value {
        match *self {
            AttributeRef::String(s) => Value::String(s.to_owned()),
            AttributeRef::Number(n) => {
                serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number)
            }
            AttributeRef::Bool(b) => Value::Bool(b),
            AttributeRef::List(items) => {
                Value::Array(items.iter().map(AttributeValue::to_json).collect())
            }
            AttributeRef::Map(map) => map.to_json(),
        }
    }
}

impl PartialEq<AttributeValue> for AttributeRef<'_> {
    fn eq(&self, other: &AttributeValue) -> bool {
        match (*self, other) {
            (AttributeRef::String(a), AttributeValue::String(b)) => a == &**b,
            (AttributeRef::Number(a), AttributeValue::Number(b)) => a == *b,
            (AttributeRef::Bool(a), AttributeValue::Bool(b)) => a == *b,
            (AttributeRef::List(a), AttributeValue::List(b)) => a == b.as_slice(),
            (AttributeRef::Map(a), AttributeValue::Map(b)) => a == b,
            _ => false,
        }
    }
}

/// A context value as operators see it.
///
/// Strings of up to 7 bytes come packed as a [`Actual::Word`], longer ones
/// as bytes (valid UTF-8, turned into `str` only by operators that need
/// one); the length tells which, so equal strings always arrive alike.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Actual<'c> {
    Word(u64),
    Str(&'c [u8]),
    Number(f64),
    Bool(bool),
    List(&'c [AttributeValue]),
    Map(&'c Attributes),
}

impl<'c> Actual<'c> {
    /// A string value, packed when short.
    #[inline]
    pub(crate) fn string(bytes: &'c [u8]) -> Actual<'c> {
        if bytes.len() <= 7 {
            Actual::Word(name_key(bytes))
        } else {
            Actual::Str(bytes)
        }
    }

    /// The bytes of a string value (unpacking a word into `buffer`).
    #[inline]
    pub(crate) fn bytes<'a>(self, buffer: &'a mut [u8; 8]) -> Option<&'a [u8]>
    where
        'c: 'a,
    {
        match self {
            Actual::Word(word) => {
                *buffer = word.to_le_bytes();
                let len = usize::from(buffer[7]);
                buffer.get(..len)
            }
            Actual::Str(bytes) => Some(bytes),
            _ => None,
        }
    }
}
