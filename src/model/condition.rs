//! Conditions on the evaluation context, and the operators they use.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::*;

/// A condition on the evaluation context.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged, try_from = "RawCondition")]
pub enum Condition {
    /// Every condition matches (an empty list matches).
    All {
        /// The conditions.
        all: Vec<Condition>,
    },
    /// At least one condition matches (an empty list does not match).
    Any {
        /// The conditions.
        any: Vec<Condition>,
    },
    /// The condition does not match.
    Not {
        /// The negated condition.
        not: Box<Condition>,
    },
    /// The context is in the named segment.
    Segment {
        /// The segment's name.
        segment: SegmentName,
    },
    /// A comparison of one context attribute.
    Attribute(AttributeCondition),
}

/// Every field a condition may have, for one-pass deserialization; exactly
/// one of `all`, `any`, `not`, `segment` and `attr` must be present.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCondition {
    all: Option<Vec<Condition>>,
    any: Option<Vec<Condition>>,
    not: Option<Box<Condition>>,
    segment: Option<SegmentName>,
    attr: Option<String>,
    op: Option<Operator>,
    value: Option<Value>,
    values: Option<Vec<Value>>,
}

impl TryFrom<RawCondition> for Condition {
    type Error = String;

    fn try_from(raw: RawCondition) -> Result<Condition, String> {
        let operands = raw.op.is_some() || raw.value.is_some() || raw.values.is_some();
        let condition = match (raw.all, raw.any, raw.not, raw.segment, raw.attr) {
            (Some(all), None, None, None, None) if !operands => Condition::All { all },
            (None, Some(any), None, None, None) if !operands => Condition::Any { any },
            (None, None, Some(not), None, None) if !operands => Condition::Not { not },
            (None, None, None, Some(segment), None) if !operands => Condition::Segment { segment },
            (None, None, None, None, Some(attr)) => Condition::Attribute(AttributeCondition {
                attr,
                op: raw.op.ok_or("a condition on an attribute needs `op`")?,
                value: raw.value,
                values: raw.values,
            }),
            _ => return Err("a condition has exactly one of `all`, `any`, `not`, `segment` or `attr` (with `op`)".to_owned()),
        };
        Ok(condition)
    }
}

impl Condition {
    /// Calls `visit` on every segment this condition names, recursively.
    pub fn for_each_segment<'a>(&'a self, visit: &mut impl FnMut(&'a SegmentName)) {
        match self {
            Condition::All { all: list } | Condition::Any { any: list } => {
                for condition in list {
                    condition.for_each_segment(visit);
                }
            }
            Condition::Not { not } => not.for_each_segment(visit),
            Condition::Segment { segment } => visit(segment),
            Condition::Attribute(_) => {}
        }
    }
}

pub(super) fn fmt_operand(value: &Value, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match value {
        Value::String(s) if !s.is_empty() && !s.contains([' ', ',', '[', ']', '(', ')']) => {
            f.write_str(s)
        }
        other => write!(f, "{other}"),
    }
}

impl fmt::Display for Condition {
    /// A one-line reading: `country in [DE, FR] and plan eq enterprise`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let joined = |f: &mut fmt::Formatter<'_>, items: &[Condition], word: &str, empty: &str| {
            if items.is_empty() {
                return f.write_str(empty);
            }
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    write!(f, " {word} ")?;
                }
                if matches!(item, Condition::All { .. } | Condition::Any { .. }) && items.len() > 1
                {
                    write!(f, "({item})")?;
                } else {
                    write!(f, "{item}")?;
                }
            }
            Ok(())
        };
        match self {
            Condition::All { all } => joined(f, all, "and", "always"),
            Condition::Any { any } => joined(f, any, "or", "never"),
            Condition::Not { not } => match **not {
                Condition::Attribute(_) | Condition::Segment { .. } => write!(f, "not {not}"),
                _ => write!(f, "not ({not})"),
            },
            Condition::Segment { segment } => write!(f, "in segment {segment}"),
            Condition::Attribute(attribute) => {
                write!(f, "{} {}", attribute.attr, attribute.op)?;
                if let Some(value) = &attribute.value {
                    f.write_str(" ")?;
                    fmt_operand(value, f)?;
                }
                if let Some(values) = &attribute.values {
                    f.write_str(" [")?;
                    for (i, value) in values.iter().enumerate() {
                        if i > 0 {
                            f.write_str(", ")?;
                        }
                        fmt_operand(value, f)?;
                    }
                    f.write_str("]")?;
                }
                Ok(())
            }
        }
    }
}

/// `{ attr: country, op: in, values: [DE, FR] }`: one attribute compared.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributeCondition {
    /// The attribute's name; dots address nested maps (`address.country`).
    /// `key` names the targeting key.
    pub attr: String,
    /// The operator.
    pub op: Operator,
    /// The operand of single-value operators.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    /// The operands of `in` and `not_in`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<Value>>,
}

/// What an operator expects as operand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arity {
    /// No operand (`exists`).
    None,
    /// One operand in `value`.
    One,
    /// A list of operands in `values`.
    List,
}

/// The kind of operand an operator compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OperandKind {
    /// Any JSON scalar (`eq`, `neq`, `in`, `not_in`).
    Any,
    /// A string (`contains`, `starts_with`, `ends_with`).
    String,
    /// A regular expression (`matches`).
    Regex,
    /// A number (`lt`, `lte`, `gt`, `gte`).
    Number,
    /// A semantic version (`semver_*`).
    Semver,
    /// An RFC 3339 time (`before`, `after`).
    Time,
    /// Nothing (`exists`).
    Nothing,
}

/// A comparison operator of an [`AttributeCondition`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operator {
    /// Equal.
    Eq,
    /// Not equal.
    Neq,
    /// Equal to one of `values`.
    In,
    /// Equal to none of `values`.
    NotIn,
    /// A string attribute contains the substring, or a list attribute contains the value.
    Contains,
    /// A string attribute starts with the value.
    StartsWith,
    /// A string attribute ends with the value.
    EndsWith,
    /// A string attribute matches the regular expression (linear time).
    Matches,
    /// A number attribute is less than the value.
    Lt,
    /// A number attribute is at most the value.
    Lte,
    /// A number attribute is greater than the value.
    Gt,
    /// A number attribute is at least the value.
    Gte,
    /// Semantic versions are equal.
    SemverEq,
    /// The attribute's version is lower.
    SemverLt,
    /// The attribute's version is lower or equal.
    SemverLte,
    /// The attribute's version is higher.
    SemverGt,
    /// The attribute's version is higher or equal.
    SemverGte,
    /// An RFC 3339 time attribute is before the value.
    Before,
    /// An RFC 3339 time attribute is after the value.
    After,
    /// The attribute is present.
    Exists,
}

impl Operator {
    /// Every operator, in documentation order.
    pub const ALL: [Operator; 20] = [
        Operator::Eq,
        Operator::Neq,
        Operator::In,
        Operator::NotIn,
        Operator::Contains,
        Operator::StartsWith,
        Operator::EndsWith,
        Operator::Matches,
        Operator::Lt,
        Operator::Lte,
        Operator::Gt,
        Operator::Gte,
        Operator::SemverEq,
        Operator::SemverLt,
        Operator::SemverLte,
        Operator::SemverGt,
        Operator::SemverGte,
        Operator::Before,
        Operator::After,
        Operator::Exists,
    ];

    /// The operator's name in files (`not_in`, `semver_gte`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Operator::Eq => "eq",
            Operator::Neq => "neq",
            Operator::In => "in",
            Operator::NotIn => "not_in",
            Operator::Contains => "contains",
            Operator::StartsWith => "starts_with",
            Operator::EndsWith => "ends_with",
            Operator::Matches => "matches",
            Operator::Lt => "lt",
            Operator::Lte => "lte",
            Operator::Gt => "gt",
            Operator::Gte => "gte",
            Operator::SemverEq => "semver_eq",
            Operator::SemverLt => "semver_lt",
            Operator::SemverLte => "semver_lte",
            Operator::SemverGt => "semver_gt",
            Operator::SemverGte => "semver_gte",
            Operator::Before => "before",
            Operator::After => "after",
            Operator::Exists => "exists",
        }
    }

    /// Which operand field the operator takes.
    pub fn arity(self) -> Arity {
        match self {
            Operator::Exists => Arity::None,
            Operator::In | Operator::NotIn => Arity::List,
            _ => Arity::One,
        }
    }

    /// What kind of operand the operator compares.
    pub fn operand_kind(self) -> OperandKind {
        match self {
            Operator::Eq | Operator::Neq | Operator::In | Operator::NotIn => OperandKind::Any,
            Operator::Contains | Operator::StartsWith | Operator::EndsWith => OperandKind::String,
            Operator::Matches => OperandKind::Regex,
            Operator::Lt | Operator::Lte | Operator::Gt | Operator::Gte => OperandKind::Number,
            Operator::SemverEq
            | Operator::SemverLt
            | Operator::SemverLte
            | Operator::SemverGt
            | Operator::SemverGte => OperandKind::Semver,
            Operator::Before | Operator::After => OperandKind::Time,
            Operator::Exists => OperandKind::Nothing,
        }
    }
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
