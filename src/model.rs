//! The validated types of a flag configuration: flags, variants, rules,
//! conditions, segments, rollouts, the root's `flagctl.yaml`, and one resolved
//! environment.
//!
//! These types mirror the on-disk YAML documents field for field (the JSON
//! Schemas under `schemas/` describe the same shapes), so that a validated
//! document deserializes into them directly and a resolved environment
//! serializes back into the snapshot that `flagctl build` writes. This module
//! does no I/O; loading, positions and diagnostics live in [`crate::format`].

use std::collections::BTreeMap;
use std::fmt;

use indexmap::IndexMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// The longest flag key, segment or environment name accepted.
pub const MAX_NAME_LEN: usize = 128;

/// Why a string is not a valid flag key, segment name or environment name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// The name is empty.
    #[error("a name cannot be empty")]
    Empty,
    /// The name is longer than [`MAX_NAME_LEN`].
    #[error("`{0}` is longer than {MAX_NAME_LEN} characters")]
    TooLong(String),
    /// The name holds a character outside `A-Z a-z 0-9 . _ -`.
    #[error("`{name}` contains `{character}`; use letters, digits, `.`, `_` and `-`")]
    BadCharacter {
        /// The rejected name.
        name: String,
        /// The first character that is not allowed.
        character: char,
    },
    /// The name does not start with a letter or digit.
    #[error("`{0}` must start with a letter or a digit")]
    BadStart(String),
    /// The name contains `..`, which could escape a directory.
    #[error("`{0}` contains `..`")]
    DotDot(String),
}

/// Checks that `name` is safe as a file stem and as an identifier.
///
/// Names start with an ASCII letter or digit, continue with letters, digits,
/// `.`, `_` or `-`, hold no `..`, and are at most [`MAX_NAME_LEN`] long, so a
/// name can never be a path separator or climb out of its directory.
pub fn check_name(name: &str) -> Result<(), NameError> {
    let Some(first) = name.chars().next() else {
        return Err(NameError::Empty);
    };
    if name.len() > MAX_NAME_LEN {
        return Err(NameError::TooLong(name.to_owned()));
    }
    if let Some(character) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(NameError::BadCharacter {
            name: name.to_owned(),
            character,
        });
    }
    if !first.is_ascii_alphanumeric() {
        return Err(NameError::BadStart(name.to_owned()));
    }
    if name.contains("..") {
        return Err(NameError::DotDot(name.to_owned()));
    }
    Ok(())
}

macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Parses and checks a name (see [`check_name`]).
            pub fn parse(name: &str) -> Result<Self, NameError> {
                check_name(name)?;
                Ok(Self(name.to_owned()))
            }

            /// The name as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = NameError;
            fn from_str(name: &str) -> Result<Self, NameError> {
                Self::parse(name)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let name = String::deserialize(deserializer)?;
                Self::parse(&name).map_err(serde::de::Error::custom)
            }
        }
    };
}

name_type!(
    /// The key of a flag, equal to the stem of its file (`base/<key>.yaml`).
    FlagKey
);
name_type!(
    /// The name of a segment, equal to the stem of its file (`segments/<name>.yaml`).
    SegmentName
);

/// The type of the values a flag serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FlagType {
    /// `true` or `false`.
    Boolean,
    /// A string.
    String,
    /// A number (integer or float).
    Number,
    /// Any JSON value (object, array, scalar).
    Json,
}

impl FlagType {
    /// The name used in files and messages (`boolean`, `string`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            FlagType::Boolean => "boolean",
            FlagType::String => "string",
            FlagType::Number => "number",
            FlagType::Json => "json",
        }
    }

    /// Whether `value` is a valid variant value for this type.
    pub fn accepts(self, value: &Value) -> bool {
        match self {
            FlagType::Boolean => value.is_boolean(),
            FlagType::String => value.is_string(),
            FlagType::Number => value.is_number(),
            FlagType::Json => true,
        }
    }
}

impl fmt::Display for FlagType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn default_true() -> bool {
    true
}

fn is_true(value: &bool) -> bool {
    *value
}

/// One feature flag, as resolved for one environment (or as its base file).
///
/// Evaluation order: `enabled: false` serves [`Flag::off_variant`]; then
/// individual [`Flag::targets`]; then [`Flag::rules`] in order (first match
/// wins); then [`Flag::default`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Flag {
    /// The flag's key, equal to its file stem.
    pub key: FlagKey,
    /// What the flag is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The team or person responsible for the flag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// The date after which the flag is considered stale (a warning).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<jiff::civil::Date>,
    /// Free-form labels.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// The type of every variant's value.
    #[serde(rename = "type")]
    pub kind: FlagType,
    /// Named values, in declared order. Optional for boolean flags, which
    /// then get `on: true` and `off: false` (see [`Flag::with_implicit_variants`]).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub variants: IndexMap<String, Value>,
    /// The kill switch: `false` serves [`Flag::off_variant`] to everyone.
    #[serde(default = "default_true", skip_serializing_if = "is_true")]
    pub enabled: bool,
    /// The variant served while the flag is disabled. Without one, a disabled
    /// flag serves no variant and callers get their own default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub off_variant: Option<String>,
    /// The salt of this flag's bucketing hash; defaults to the flag key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub salt: Option<String>,
    /// Individual targeting: variant name to the targeting keys that get it.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub targets: IndexMap<String, Vec<String>>,
    /// Targeting rules, first match wins.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<Rule>,
    /// What is served when no target or rule matched.
    pub default: Serve,
}

impl Flag {
    /// Fills in the implicit variants of a boolean flag.
    ///
    /// A boolean flag without `variants` gets `on: true, off: false`, and
    /// `off_variant: off` unless it names one.
    pub fn with_implicit_variants(mut self) -> Self {
        if self.kind == FlagType::Boolean && self.variants.is_empty() {
            self.variants.insert("on".to_owned(), Value::Bool(true));
            self.variants.insert("off".to_owned(), Value::Bool(false));
            if self.off_variant.is_none() {
                self.off_variant = Some("off".to_owned());
            }
        }
        self
    }

    /// Whether `self` and `other` evaluate alike for every context: the
    /// same values, variants, reasons, rule names and buckets. They may
    /// differ only in what describes the flag (`description`, `owner`,
    /// `expires`, `tags`). Declared order counts where it decides: a
    /// rollout's variants own bucket ranges in order, the first target wins,
    /// an evaluation reports a variant's position.
    ///
    /// The one place that decides what affects evaluation: a change to a
    /// protected environment needs confirmation when it does, and a client's
    /// change events list the flags that do.
    pub fn evaluates_like(&self, other: &Flag) -> bool {
        // Without `..`: a new field does not compile until it is classified.
        let Flag {
            key,
            kind,
            variants,
            enabled,
            off_variant,
            salt,
            targets,
            rules,
            default,
            description: _,
            owner: _,
            expires: _,
            tags: _,
        } = self;
        fn same_in_order<V: PartialEq>(a: &IndexMap<String, V>, b: &IndexMap<String, V>) -> bool {
            a.len() == b.len() && a.iter().eq(b.iter())
        }
        // `Serve`'s `==` compares rollout weights as a map; their order
        // decides who gets which variant.
        let same_serve = |a: &Serve, b: &Serve| a == b && a.variants() == b.variants();
        *key == other.key
            && *kind == other.kind
            && same_in_order(variants, &other.variants)
            && *enabled == other.enabled
            && *off_variant == other.off_variant
            && *salt == other.salt
            && same_in_order(targets, &other.targets)
            && rules.len() == other.rules.len()
            && rules.iter().zip(&other.rules).all(|(a, b)| {
                a.name == b.name && a.when == b.when && same_serve(&a.serve, &b.serve)
            })
            && same_serve(default, &other.default)
    }

    /// The bucketing salt: [`Flag::salt`] or else the flag key.
    pub fn bucketing_salt(&self) -> &str {
        self.salt.as_deref().unwrap_or(self.key.as_str())
    }

    /// A short description of what the flag serves by default, for tables:
    /// a variant name, or the rollout weights (`on 25% / off 75%`).
    pub fn default_summary(&self) -> String {
        self.default.summary()
    }
}

/// What a rule or the default serves: one variant, or a weighted rollout.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Serve {
    /// Serve this variant.
    Variant(String),
    /// Serve variants by weight, bucketed by a context attribute.
    Rollout(Rollout),
}

impl Serve {
    /// A short human summary (`on`, or `on 25% / off 75%`).
    pub fn summary(&self) -> String {
        match self {
            Serve::Variant(variant) => variant.clone(),
            Serve::Rollout(rollout) => rollout.summary(),
        }
    }

    /// The variant names this serve can produce, in declared order.
    pub fn variants(&self) -> Vec<&str> {
        match self {
            Serve::Variant(variant) => vec![variant.as_str()],
            Serve::Rollout(rollout) => rollout.weights.keys().map(String::as_str).collect(),
        }
    }
}

impl<'de> Deserialize<'de> for Serve {
    /// A string is a variant name, a mapping a rollout (decided by the input's
    /// shape in one pass, without trying each form in turn).
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ServeVisitor;
        impl<'de> serde::de::Visitor<'de> for ServeVisitor {
            type Value = Serve;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a variant name or a rollout")
            }
            fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<Serve, E> {
                Ok(Serve::Variant(value.to_owned()))
            }
            fn visit_string<E: serde::de::Error>(self, value: String) -> Result<Serve, E> {
                Ok(Serve::Variant(value))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Serve, A::Error> {
                Rollout::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(Serve::Rollout)
            }
        }
        deserializer.deserialize_any(ServeVisitor)
    }
}

/// A weighted rollout over variants.
///
/// Variants own cumulative ranges of the bucket space in declared order, so
/// raising the first variant's weight keeps every user who had it (see
/// `docs/bucketing.md`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rollout {
    /// Variant name to weight, in declared order; weights sum to 100%.
    #[serde(rename = "rollout")]
    pub weights: IndexMap<String, Weight>,
    /// The context attribute hashed for bucketing; default the targeting key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// Names the rollout as an experiment so exposures can be recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experiment: Option<String>,
}

impl Rollout {
    /// The sum of all weights, in thousandths of a percent.
    pub fn total(&self) -> u64 {
        self.weights
            .values()
            .map(|w| u64::from(w.thousandths()))
            .sum()
    }

    /// A short human summary (`on 25% / off 75%`).
    pub fn summary(&self) -> String {
        let parts: Vec<String> = self
            .weights
            .iter()
            .map(|(variant, weight)| format!("{variant} {weight}%"))
            .collect();
        parts.join(" / ")
    }
}

/// A rollout weight: a percentage with at most three decimals, stored as an
/// integer number of thousandths of a percent (100% is 100000).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Weight(u32);

/// Weights of a rollout add up to this many thousandths of a percent.
pub const WEIGHT_TOTAL: u32 = 100_000;

/// Why a number is not a valid weight.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WeightError {
    /// Outside 0–100.
    #[error("`{0}` is outside 0–100")]
    OutOfRange(f64),
    /// More than three decimals.
    #[error("`{0}` has more than 3 decimals")]
    TooPrecise(f64),
}

impl Weight {
    /// A weight from thousandths of a percent (clamped to 100%).
    pub fn from_thousandths(thousandths: u32) -> Weight {
        Weight(thousandths.min(WEIGHT_TOTAL))
    }

    /// A weight from a percentage with at most three decimals.
    pub fn from_percent(percent: f64) -> Result<Weight, WeightError> {
        if !(0.0..=100.0).contains(&percent) || percent.is_nan() {
            return Err(WeightError::OutOfRange(percent));
        }
        let scaled = percent * 1000.0;
        let rounded = scaled.round();
        if (scaled - rounded).abs() > 1e-6 {
            return Err(WeightError::TooPrecise(percent));
        }
        // In range 0..=100000 after the checks above, so the cast is exact.
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "checked range"
        )]
        Ok(Weight(rounded as u32))
    }

    /// The weight in thousandths of a percent (0..=100000).
    pub fn thousandths(self) -> u32 {
        self.0
    }

    /// The weight as a percentage.
    pub fn percent(self) -> f64 {
        f64::from(self.0) / 1000.0
    }
}

impl fmt::Display for Weight {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole = self.0 / 1000;
        let fraction = self.0 % 1000;
        if fraction == 0 {
            write!(f, "{whole}")
        } else {
            let digits = format!("{fraction:03}");
            write!(f, "{whole}.{}", digits.trim_end_matches('0'))
        }
    }
}

impl Serialize for Weight {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.0.is_multiple_of(1000) {
            serializer.serialize_u32(self.0 / 1000)
        } else {
            serializer.serialize_f64(self.percent())
        }
    }
}

impl<'de> Deserialize<'de> for Weight {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let percent = f64::deserialize(deserializer)?;
        Weight::from_percent(percent).map_err(serde::de::Error::custom)
    }
}

/// A targeting rule: when the condition matches, serve.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// An optional name, shown in evaluation reasons and logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The condition on the evaluation context.
    pub when: Condition,
    /// What the rule serves when it matches.
    pub serve: Serve,
}

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
struct RawCondition {
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

fn fmt_operand(value: &Value, f: &mut fmt::Formatter<'_>) -> fmt::Result {
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

/// A reusable set of users: explicit includes and excludes, and a condition.
///
/// A context is in the segment when its targeting key is in `include`; else
/// not when it is in `exclude`; else when `when` matches (no `when`: not in).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Segment {
    /// The segment's name, equal to its file stem.
    pub name: SegmentName,
    /// What the segment is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Targeting keys always in the segment.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include: Vec<String>,
    /// Targeting keys never in the segment (unless included).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
    /// The condition for everyone else.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<Condition>,
}

/// The bucketing contract a root uses (`bucketing:` in `flagctl.yaml`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum BucketingVersion {
    /// murmur3 x86_32 of `salt ++ value`, as flagd's `fractional` (see `docs/bucketing.md`).
    #[default]
    #[serde(rename = "v1")]
    V1,
}

impl fmt::Display for BucketingVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BucketingVersion::V1 => f.write_str("v1"),
        }
    }
}

/// The root's `flagctl.yaml`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RootConfig {
    /// The environments, in display order.
    pub environments: Vec<String>,
    /// Environments whose changes need confirmation.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub protected: Vec<String>,
    /// The bucketing contract.
    #[serde(default)]
    pub bucketing: BucketingVersion,
}

impl RootConfig {
    /// Whether `environment` is one of the root's environments.
    pub fn has_environment(&self, environment: &str) -> bool {
        self.environments.iter().any(|e| e == environment)
    }

    /// Whether `environment` is protected.
    pub fn is_protected(&self, environment: &str) -> bool {
        self.protected.iter().any(|e| e == environment)
    }
}

/// Every flag and segment of one environment, overlays applied and checked.
///
/// This is what evaluation compiles and what `flagctl build` writes (inside a
/// [`crate::format::snapshot::SnapshotFile`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResolvedEnvironment {
    /// The environment's name.
    pub environment: String,
    /// The bucketing contract.
    pub bucketing: BucketingVersion,
    /// Flags by key.
    pub flags: BTreeMap<FlagKey, Flag>,
    /// Segments by name.
    pub segments: BTreeMap<SegmentName, Segment>,
}

/// Parses a semantic version as the `semver_*` operators read it.
///
/// A leading `v` is dropped and partial versions are padded with zeros, so
/// `v1.2` is `1.2.0` and `2` is `2.0.0`; pre-release and build parts follow
/// semver's rules (`1.2-beta.1` is `1.2.0-beta.1`).
pub fn parse_semver(text: &str) -> Result<semver::Version, semver::Error> {
    let text = text.trim();
    let text = text.strip_prefix(['v', 'V']).unwrap_or(text);
    let split = text.find(['-', '+']).unwrap_or(text.len());
    let (core, rest) = text.split_at(split);
    let padded = match core.matches('.').count() {
        0 => format!("{core}.0.0{rest}"),
        1 => format!("{core}.0{rest}"),
        _ => return semver::Version::parse(text),
    };
    semver::Version::parse(&padded)
}

/// Parses an RFC 3339 time (`2026-12-01T00:00:00Z`) as `before`/`after` read it.
pub fn parse_time(text: &str) -> Result<jiff::Timestamp, jiff::Error> {
    text.trim().parse::<jiff::Timestamp>()
}

/// The most memory a compiled `matches` pattern may use.
pub const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Checks a `matches` pattern: the `regex` crate's syntax (no look-around,
/// no backreferences) and its program within [`REGEX_SIZE_LIMIT`] bytes,
/// with the `regex` crate's own errors.
///
/// It builds what every matcher starts from (the syntax tree and the
/// Thompson NFA, where the `regex` crate applies that limit) and no
/// matcher: a tenth of the time of `regex::Regex::new`, which also builds
/// DFAs. Validation checks every pattern of a root this way; the evaluation
/// engine compiles matchers only for what it serves.
pub fn check_regex(pattern: &str) -> Result<(), regex::Error> {
    use regex_automata::nfa::thompson;
    let hir = regex_automata::util::syntax::parse(pattern)
        .map_err(|error| regex::Error::Syntax(error.to_string()))?;
    thompson::Compiler::new()
        .configure(thompson::Config::new().nfa_size_limit(Some(REGEX_SIZE_LIMIT)))
        .build_from_hir(&hir)
        .map_err(|error| match error.size_limit() {
            Some(limit) => regex::Error::CompiledTooBig(limit),
            None => regex::Error::Syntax(error.to_string()),
        })?;
    Ok(())
}

/// The most memory the DFA of one `matches` pattern may use.
pub const DFA_SIZE_LIMIT: usize = 1 << 20;

/// Why a valid `matches` pattern has no DFA. Evaluation then uses the
/// `regex` crate's matcher, whose cache pool takes a mutex and allocates a
/// cache on each new thread: the one exception to "evaluation never locks
/// or allocates", which validation reports as a `regex-fallback` warning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegexFallback {
    /// A Unicode word boundary (`\b`, `\B`, `\<`, …), which a DFA cannot
    /// express; the ASCII form (`(?-u:\b)`) it can.
    UnicodeWordBoundary,
    /// The DFA would use more than [`DFA_SIZE_LIMIT`] bytes.
    TooLarge,
}

/// Whether evaluating a `matches` pattern that passed [`check_regex`]
/// falls back to the `regex` crate's matcher, and why (`None`: it runs on
/// a DFA, without lock or allocation).
pub fn regex_fallback(pattern: &str) -> Option<RegexFallback> {
    regex_dfa(pattern).err()
}

/// The dense DFA evaluation searches for a `matches` pattern that passed
/// [`check_regex`]: built once, it is searched without a cache, so without
/// lock or allocation.
pub(crate) fn regex_dfa(
    pattern: &str,
) -> Result<regex_automata::dfa::dense::DFA<Vec<u32>>, RegexFallback> {
    use regex_automata::dfa::{StartKind, dense};
    use regex_automata::util::syntax;
    dense::Builder::new()
        .configure(
            dense::Config::new()
                .start_kind(StartKind::Unanchored)
                .dfa_size_limit(Some(DFA_SIZE_LIMIT))
                .determinize_size_limit(Some(2 * DFA_SIZE_LIMIT)),
        )
        .syntax(syntax::Config::new().unicode(true).utf8(true))
        .build(pattern)
        .map_err(|_| {
            let unicode_boundary = syntax::parse(pattern)
                .is_ok_and(|hir| hir.properties().look_set().contains_word_unicode());
            if unicode_boundary {
                RegexFallback::UnicodeWordBoundary
            } else {
                RegexFallback::TooLarge
            }
        })
}

/// `pattern` with every Unicode word-boundary escape (`\b`, `\B`, `\b{start}`,
/// `\<`, …) written in its ASCII form (`(?-u:\b)`), for a help text.
pub fn ascii_word_boundaries(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut rest = pattern;
    while let Some(at) = rest.find('\\') {
        out.push_str(&rest[..at]);
        let escape = &rest[at..];
        let length = if escape.starts_with("\\b{") || escape.starts_with("\\B{") {
            escape.find('}').map_or(2, |end| end + 1)
        } else {
            escape[1..].chars().next().map_or(1, |c| 1 + c.len_utf8())
        };
        let (escape, after) = rest[at..].split_at(length);
        let ascii_already = out.ends_with("(?-u:") && after.starts_with(')');
        if matches!(escape.as_bytes().get(1), Some(b'b' | b'B' | b'<' | b'>')) && !ascii_already {
            out.push_str("(?-u:");
            out.push_str(escape);
            out.push(')');
        } else {
            out.push_str(escape);
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regex_fallbacks_are_found_and_ascii_forms_suggested() {
        assert_eq!(regex_fallback(r"^[a-z]+@example\.com$"), None);
        assert_eq!(regex_fallback(r"(?-u:\b)staff(?-u:\b)"), None);
        assert_eq!(
            regex_fallback(r"\bstaff\b"),
            Some(RegexFallback::UnicodeWordBoundary)
        );
        assert_eq!(
            regex_fallback(r"(?s).*a.{20}"),
            Some(RegexFallback::TooLarge)
        );
        for (pattern, ascii) in [
            (r"\bstaff\B", r"(?-u:\b)staff(?-u:\B)"),
            (r"\b{start}x\>", r"(?-u:\b{start})x(?-u:\>)"),
            (r"(?-u:\b)x\\b\d", r"(?-u:\b)x\\b\d"),
            (r"é\b", r"é(?-u:\b)"),
        ] {
            assert_eq!(ascii_word_boundaries(pattern), ascii, "{pattern}");
        }
        assert_eq!(regex_fallback(&ascii_word_boundaries(r"\bstaff\b")), None);
    }

    /// Every field of [`Flag`] is classified: changing a behavioural one
    /// makes [`Flag::evaluates_like`] false, a descriptive one keeps it true.
    /// A field missing from these lists fails the first assertion (and
    /// `evaluates_like` does not compile until it names the field).
    #[test]
    fn every_flag_field_is_classified_by_evaluates_like() {
        let flag: Flag = serde_json::from_value(serde_json::json!({
            "key": "f", "description": "d", "owner": "o", "expires": "2030-01-01",
            "tags": ["t"], "type": "string", "variants": {"a": "A", "b": "B"},
            "enabled": false, "off_variant": "b", "salt": "s",
            "targets": {"a": ["x"], "b": ["y"]},
            "rules": [{"name": "r", "when": {"attr": "c", "op": "eq", "value": 1},
                       "serve": {"rollout": {"a": 50, "b": 50}}}],
            "default": {"rollout": {"a": 10, "b": 90}, "by": "company"},
        }))
        .expect("a valid flag");
        type Change = fn(&mut Flag);
        let descriptive: [(&str, Change); 4] = [
            ("description", |f| f.description = None),
            ("owner", |f| f.owner = Some("p".to_owned())),
            ("expires", |f| f.expires = None),
            ("tags", |f| f.tags.push("u".to_owned())),
        ];
        let behavioural: [(&str, Change); 9] = [
            ("key", |f| f.key = FlagKey::parse("g").expect("valid")),
            ("type", |f| f.kind = FlagType::Json),
            ("variants", |f| f.variants.reverse()),
            ("enabled", |f| f.enabled = true),
            ("off_variant", |f| f.off_variant = None),
            ("salt", |f| f.salt = None),
            ("targets", |f| f.targets.reverse()),
            ("rules", |f| f.rules[0].name = None),
            ("default", |f| {
                if let Serve::Rollout(rollout) = &mut f.default {
                    rollout.weights.reverse();
                }
            }),
        ];
        let serialized = serde_json::to_value(&flag).expect("serializes");
        let mut fields: Vec<&str> = serialized
            .as_object()
            .expect("an object")
            .keys()
            .map(String::as_str)
            .collect();
        let mut classified: Vec<&str> = descriptive
            .iter()
            .chain(&behavioural)
            .map(|(name, _)| *name)
            .collect();
        fields.sort_unstable();
        classified.sort_unstable();
        assert_eq!(fields, classified, "every field is classified");
        for (name, change) in descriptive {
            let mut other = flag.clone();
            change(&mut other);
            assert!(flag.evaluates_like(&other), "`{name}` is descriptive");
        }
        for (name, change) in behavioural {
            let mut other = flag.clone();
            change(&mut other);
            assert!(!flag.evaluates_like(&other), "`{name}` affects evaluation");
        }
        // A rule's rollout in another order buckets users differently.
        let mut other = flag.clone();
        if let Serve::Rollout(rollout) = &mut other.rules[0].serve {
            rollout.weights.reverse();
        }
        assert!(!flag.evaluates_like(&other));
        assert!(flag.evaluates_like(&flag.clone()));
    }

    #[test]
    fn names_are_checked() {
        assert!(check_name("new-checkout").is_ok());
        assert!(check_name("a.b_c-1").is_ok());
        assert_eq!(check_name(""), Err(NameError::Empty));
        assert!(matches!(
            check_name("a/b"),
            Err(NameError::BadCharacter { character: '/', .. })
        ));
        assert!(matches!(check_name("a..b"), Err(NameError::DotDot(_))));
        assert!(matches!(check_name(".hidden"), Err(NameError::BadStart(_))));
        assert!(matches!(
            check_name(&"x".repeat(129)),
            Err(NameError::TooLong(_))
        ));
    }

    #[test]
    fn weights_keep_three_decimals() {
        assert_eq!(
            Weight::from_percent(12.5).map(Weight::thousandths),
            Ok(12_500)
        );
        assert_eq!(Weight::from_percent(0.001).map(Weight::thousandths), Ok(1));
        assert_eq!(
            Weight::from_percent(33.333).map(Weight::thousandths),
            Ok(33_333)
        );
        assert!(matches!(
            Weight::from_percent(0.0001),
            Err(WeightError::TooPrecise(_))
        ));
        assert!(matches!(
            Weight::from_percent(101.0),
            Err(WeightError::OutOfRange(_))
        ));
        assert!(matches!(
            Weight::from_percent(-1.0),
            Err(WeightError::OutOfRange(_))
        ));
        assert_eq!(Weight::from_thousandths(33_330).to_string(), "33.33");
        assert_eq!(Weight::from_thousandths(25_000).to_string(), "25");
    }

    #[test]
    fn weights_serialize_as_percent() {
        let json = serde_json::to_string(&[
            Weight::from_thousandths(25_000),
            Weight::from_thousandths(12_345),
        ]);
        assert_eq!(json.ok().as_deref(), Some("[25,12.345]"));
    }

    #[test]
    fn flag_round_trips_through_json() {
        let json = serde_json::json!({
            "key": "new-checkout",
            "type": "boolean",
            "targets": {"on": ["alice"]},
            "rules": [
                {"name": "staff", "when": {"segment": "staff"}, "serve": "on"},
                {"when": {"all": [
                    {"attr": "country", "op": "in", "values": ["DE", "FR"]},
                    {"not": {"attr": "plan", "op": "eq", "value": "free"}}
                ]}, "serve": {"rollout": {"on": 50, "off": 50}, "by": "company"}}
            ],
            "default": {"rollout": {"on": 10, "off": 90}}
        });
        let flag: Flag = serde_json::from_value(json.clone()).expect("valid flag");
        assert_eq!(flag.rules.len(), 2);
        assert!(matches!(flag.rules[0].when, Condition::Segment { .. }));
        let Serve::Rollout(rollout) = &flag.default else {
            panic!("default is a rollout")
        };
        assert_eq!(rollout.total(), u64::from(WEIGHT_TOTAL));
        assert_eq!(serde_json::to_value(&flag).expect("serializes"), json);
        let flag = flag.with_implicit_variants();
        assert_eq!(flag.off_variant.as_deref(), Some("off"));
        assert_eq!(flag.variants.get("on"), Some(&Value::Bool(true)));
    }

    #[test]
    fn partial_semver() {
        let v = |t: &str| parse_semver(t).map(|v| v.to_string()).ok();
        assert_eq!(v("1.2").as_deref(), Some("1.2.0"));
        assert_eq!(v("v2").as_deref(), Some("2.0.0"));
        assert_eq!(v("1.2.3").as_deref(), Some("1.2.3"));
        assert_eq!(v("1.2-beta.1").as_deref(), Some("1.2.0-beta.1"));
        assert_eq!(v("x.y"), None);
        assert!(parse_time("2026-12-01T00:00:00Z").is_ok());
        assert!(parse_time("2026-12-01").is_err());
        assert!(check_regex("^[a-z]+@example\\.com$").is_ok());
        // The `regex` crate's own errors, the same text.
        for pattern in ["a(", "^(?!test).*$", "a{2,1}", r"\p{Nope}"] {
            let ours = check_regex(pattern).expect_err("invalid").to_string();
            let theirs = regex::Regex::new(pattern).expect_err("invalid").to_string();
            assert_eq!(ours, theirs, "{pattern}");
        }
        // Over the size limit, as `regex` reports it.
        let huge = r"\w{1000}\w{1000}\w{1000}";
        assert!(matches!(
            check_regex(huge),
            Err(regex::Error::CompiledTooBig(REGEX_SIZE_LIMIT))
        ));
        assert!(
            regex::RegexBuilder::new(huge)
                .size_limit(REGEX_SIZE_LIMIT)
                .build()
                .is_err()
        );
    }

    #[test]
    fn conditions_read_as_one_line() {
        let condition: Condition = serde_json::from_value(serde_json::json!({"all": [
            {"attr": "country", "op": "in", "values": ["DE", "FR"]},
            {"any": [{"segment": "staff"}, {"not": {"attr": "plan", "op": "eq", "value": "free plan"}}]},
            {"attr": "email", "op": "exists"}
        ]}))
        .expect("valid condition");
        assert_eq!(
            condition.to_string(),
            "country in [DE, FR] and (in segment staff or not plan eq \"free plan\") and email exists"
        );
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let json = serde_json::json!({"key": "x", "type": "boolean", "default": "on", "rollot": 1});
        assert!(serde_json::from_value::<Flag>(json).is_err());
    }
}
