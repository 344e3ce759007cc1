//! A flag: its type, variants, kill switch, targets, rules and default,
//! what it serves ([`Serve`], [`Rollout`], [`Weight`]), and what of it
//! affects evaluation ([`Flag::evaluates_like`]).

use std::fmt;

use indexmap::IndexMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use super::*;

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

pub(super) fn default_true() -> bool {
    true
}

pub(super) fn is_true(value: &bool) -> bool {
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
