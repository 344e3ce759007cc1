//! What an evaluation returns: the value and variant served, why, where it
//! came from, and what went wrong on the way.

use std::fmt;

use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};
use serde_json::Value;

use super::compiled::CompiledFlag;
use super::snapshot::Snapshot;
use crate::model::FlagType;

/// Why an evaluation served what it served.
///
/// [`Reason::as_str`] gives flagctl's names (`TARGET_MATCH`, …);
/// [`Reason::openfeature`] maps them onto OpenFeature's standard reasons.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Reason {
    /// The targeting key is listed in the flag's `targets`.
    TargetMatch,
    /// A rule matched and served a variant.
    RuleMatch,
    /// A weighted rollout (of a rule or of the default) decided by bucket.
    Split,
    /// No target or rule matched; the default variant was served.
    Default,
    /// The flag is disabled: its `off_variant` (or nothing) was served.
    Disabled,
    /// The snapshot has no flag with that key.
    FlagNotFound,
    /// Nothing could be served (see [`Evaluation::error_code`]); callers use
    /// their own default.
    Error,
}

impl Reason {
    /// How many reasons there are.
    pub(crate) const COUNT: usize = 7;

    /// Every reason, in declaration order ([`Reason::index`]).
    pub(crate) const ALL: [Reason; Reason::COUNT] = [
        Reason::TargetMatch,
        Reason::RuleMatch,
        Reason::Split,
        Reason::Default,
        Reason::Disabled,
        Reason::FlagNotFound,
        Reason::Error,
    ];

    /// The reason's position in [`Reason::ALL`], for counter tables.
    #[inline]
    pub(crate) fn index(self) -> usize {
        self as usize
    }

    /// The reason's name: `TARGET_MATCH`, `RULE_MATCH`, `SPLIT`, `DEFAULT`,
    /// `DISABLED`, `FLAG_NOT_FOUND` or `ERROR`.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::TargetMatch => "TARGET_MATCH",
            Reason::RuleMatch => "RULE_MATCH",
            Reason::Split => "SPLIT",
            Reason::Default => "DEFAULT",
            Reason::Disabled => "DISABLED",
            Reason::FlagNotFound => "FLAG_NOT_FOUND",
            Reason::Error => "ERROR",
        }
    }

    /// The OpenFeature reason (as OFREP reports it): targets and rules are
    /// `TARGETING_MATCH`, a missing flag is an `ERROR` (with error code
    /// `FLAG_NOT_FOUND`).
    pub fn openfeature(self) -> &'static str {
        match self {
            Reason::TargetMatch | Reason::RuleMatch => "TARGETING_MATCH",
            Reason::Split => "SPLIT",
            Reason::Default => "DEFAULT",
            Reason::Disabled => "DISABLED",
            Reason::FlagNotFound | Reason::Error => "ERROR",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What went wrong during an evaluation.
///
/// Evaluation never fails: a condition that meets a problem does not match,
/// a rollout that cannot bucket falls through to the next step, and the first
/// problem is recorded here. With [`Reason::Error`] or
/// [`Reason::FlagNotFound`] it says why nothing was served.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum ErrorCode {
    /// The snapshot has no flag with that key.
    FlagNotFound,
    /// A typed accessor asked for another type than the flag's.
    TypeMismatch,
    /// A context value has the wrong type for an operator (a number compared
    /// with `starts_with`, a list compared with `eq`, …).
    AttributeTypeMismatch,
    /// A context string is not what the operator reads (a semantic version,
    /// an RFC 3339 time).
    InvalidAttributeValue,
    /// A rollout's `by` attribute is missing or empty.
    MissingBucketingAttribute,
    /// A rollout buckets by the targeting key and the context has none.
    TargetingKeyMissing,
    /// Anything else (never expected).
    General,
}

impl ErrorCode {
    /// The code's name (`FLAG_NOT_FOUND`, `TYPE_MISMATCH`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::FlagNotFound => "FLAG_NOT_FOUND",
            ErrorCode::TypeMismatch => "TYPE_MISMATCH",
            ErrorCode::AttributeTypeMismatch => "ATTRIBUTE_TYPE_MISMATCH",
            ErrorCode::InvalidAttributeValue => "INVALID_ATTRIBUTE_VALUE",
            ErrorCode::MissingBucketingAttribute => "MISSING_BUCKETING_ATTRIBUTE",
            ErrorCode::TargetingKeyMissing => "TARGETING_KEY_MISSING",
            ErrorCode::General => "GENERAL",
        }
    }

    /// The OpenFeature error code: context problems are `INVALID_CONTEXT`.
    pub fn openfeature(self) -> &'static str {
        match self {
            ErrorCode::FlagNotFound => "FLAG_NOT_FOUND",
            ErrorCode::TypeMismatch => "TYPE_MISMATCH",
            ErrorCode::AttributeTypeMismatch
            | ErrorCode::InvalidAttributeValue
            | ErrorCode::MissingBucketingAttribute => "INVALID_CONTEXT",
            ErrorCode::TargetingKeyMissing => "TARGETING_KEY_MISSING",
            ErrorCode::General => "GENERAL",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a weighted rollout decided: the hash and the bucket it falls in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Split {
    /// `murmur3_x86_32(salt ++ value)`.
    pub hash: u32,
    /// `(hash * 100000) >> 32`, in `0..100000`.
    pub bucket: u32,
}

/// The result of evaluating one flag for one context.
///
/// Small and `Copy`; it borrows names and values from the [`Snapshot`], so
/// building one allocates nothing. Accessors read what is needed.
///
/// ```
/// use flagctl::eval::{Context, Reason, Snapshot};
/// # let env: flagctl::model::ResolvedEnvironment = serde_json::from_value(serde_json::json!({
/// #     "environment": "prod", "bucketing": "v1", "segments": {},
/// #     "flags": {"new-checkout": {"key": "new-checkout", "type": "boolean",
/// #         "rules": [{"name": "germany", "when": {"attr": "country", "op": "eq", "value": "DE"}, "serve": "on"}],
/// #         "default": "off"}}
/// # }))?;
/// let snapshot = Snapshot::compile(&env, "abc123")?;
/// let evaluation = snapshot.evaluate("new-checkout", &Context::new("u-1").with("country", "DE"));
/// assert_eq!(evaluation.value(), Some(&serde_json::json!(true)));
/// assert_eq!(evaluation.variant(), Some("on"));
/// assert_eq!(evaluation.reason(), Reason::RuleMatch);
/// assert_eq!(evaluation.rule_index(), Some(0));
/// assert_eq!(evaluation.rule_name(), Some("germany"));
/// assert_eq!(evaluation.revision(), "abc123");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy)]
pub struct Evaluation<'s> {
    pub(crate) snapshot: &'s Snapshot,
    pub(crate) flag: Option<&'s CompiledFlag>,
    pub(crate) reason: Reason,
    pub(crate) error: Option<ErrorCode>,
    pub(crate) variant: Option<u32>,
    pub(crate) rule: Option<u32>,
    pub(crate) split: Option<Split>,
}

impl<'s> Evaluation<'s> {
    #[inline]
    pub(crate) fn new(
        snapshot: &'s Snapshot,
        flag: Option<&'s CompiledFlag>,
        reason: Reason,
    ) -> Evaluation<'s> {
        Evaluation {
            snapshot,
            flag,
            reason,
            error: None,
            variant: None,
            rule: None,
            split: None,
        }
    }

    /// The value served; `None` when nothing was (the caller's default applies).
    #[inline]
    pub fn value(&self) -> Option<&'s Value> {
        let variant = self
            .flag?
            .variants
            .get(usize::try_from(self.variant?).ok()?)?;
        Some(&variant.value)
    }

    /// The name of the variant served.
    pub fn variant(&self) -> Option<&'s str> {
        let variant = self
            .flag?
            .variants
            .get(usize::try_from(self.variant?).ok()?)?;
        Some(&variant.name)
    }

    /// Why this was served.
    #[inline]
    pub fn reason(&self) -> Reason {
        self.reason
    }

    /// The first problem met, if any (see [`ErrorCode`]).
    #[inline]
    pub fn error_code(&self) -> Option<ErrorCode> {
        self.error
    }

    /// The index of the rule that served, counting from 0 (also for
    /// [`Reason::Split`] when the rollout was a rule's).
    pub fn rule_index(&self) -> Option<usize> {
        self.rule.and_then(|rule| usize::try_from(rule).ok())
    }

    /// The name of the rule that served, when it has one.
    pub fn rule_name(&self) -> Option<&'s str> {
        let rule = self.flag?.rules.get(self.rule_index()?)?;
        rule.name.as_deref()
    }

    /// The hash and bucket, when a weighted rollout decided.
    pub fn split(&self) -> Option<Split> {
        self.split
    }

    /// The experiment name of the rollout that decided, when it names one.
    pub fn experiment(&self) -> Option<&'s str> {
        self.split?;
        let flag = self.flag?;
        let serve = match self.rule_index() {
            Some(rule) => &flag.rules.get(rule)?.serve,
            None => &flag.default,
        };
        match serve {
            super::compiled::CompiledServe::Rollout(rollout) => rollout.experiment.as_deref(),
            super::compiled::CompiledServe::Variant(_) => None,
        }
    }

    /// The flag's key, when the flag exists.
    pub fn flag_key(&self) -> Option<&'s str> {
        self.flag.map(|flag| &*flag.key)
    }

    /// The flag's type, when the flag exists.
    pub fn flag_type(&self) -> Option<FlagType> {
        self.flag.map(|flag| flag.kind)
    }

    /// The flag's index in [`Snapshot::flag_keys`] order, `0..flag_count()`:
    /// an index into a flat array of per-flag counters.
    #[inline]
    pub fn flag_index(&self) -> Option<u32> {
        self.flag.map(|flag| flag.index)
    }

    /// The variant's index within its flag, in declared order.
    #[inline]
    pub fn variant_index(&self) -> Option<u32> {
        self.variant
    }

    /// The variant's slot across the whole snapshot,
    /// `0..variant_slot_count()`: an index into a flat array of per-variant
    /// counters (see [`Snapshot::variant_slot`]).
    #[inline]
    pub fn variant_slot(&self) -> Option<u32> {
        let variant = self
            .flag?
            .variants
            .get(usize::try_from(self.variant?).ok()?)?;
        Some(variant.slot)
    }

    /// The revision of the snapshot that evaluated.
    #[inline]
    pub fn revision(&self) -> &'s str {
        self.snapshot.revision()
    }
}

impl fmt::Debug for Evaluation<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Evaluation")
            .field("flag", &self.flag_key())
            .field("value", &self.value())
            .field("variant", &self.variant())
            .field("reason", &self.reason)
            .field("rule_index", &self.rule_index())
            .field("rule_name", &self.rule_name())
            .field("split", &self.split)
            .field("error_code", &self.error)
            .field("revision", &self.revision())
            .finish()
    }
}

impl PartialEq for Evaluation<'_> {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self.snapshot, other.snapshot)
            && self.flag_index() == other.flag_index()
            && self.reason == other.reason
            && self.error == other.error
            && self.variant == other.variant
            && self.rule == other.rule
            && self.split == other.split
    }
}

impl Serialize for Evaluation<'_> {
    /// `{value, variant, reason, rule_index, rule_name, split, experiment,
    /// error_code, revision}`; absent parts are `null`.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut state = serializer.serialize_struct("Evaluation", 9)?;
        state.serialize_field("value", &self.value())?;
        state.serialize_field("variant", &self.variant())?;
        state.serialize_field("reason", &self.reason)?;
        state.serialize_field("rule_index", &self.rule_index())?;
        state.serialize_field("rule_name", &self.rule_name())?;
        state.serialize_field("split", &self.split)?;
        state.serialize_field("experiment", &self.experiment())?;
        state.serialize_field("error_code", &self.error)?;
        state.serialize_field("revision", self.revision())?;
        state.end()
    }
}

/// A typed value with the evaluation it came from.
///
/// When the flag is missing, disabled without an `off_variant`, failed, or
/// has another type than asked for, `value` is the caller's default; a type
/// mismatch shows as [`Reason::Error`] with [`ErrorCode::TypeMismatch`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Resolution<'s, T> {
    /// The flag's value, or the caller's default.
    pub value: T,
    /// How it was decided.
    pub evaluation: Evaluation<'s>,
}
