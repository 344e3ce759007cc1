//! [`Snapshot`]: one environment's flags and segments at one revision,
//! compiled for evaluation, and the entry points that evaluate them.

use serde_json::Value;

use super::compile::{CompileError, compile};
use super::compiled::CompiledSegment;
use super::context::Context;
use super::engine::{Quiet, evaluate_flag};
use super::evaluation::{ErrorCode, Evaluation, Reason, Resolution};
use super::explain::{Explanation, explain};
use super::table::FlagTable;
use crate::model::{BucketingVersion, FlagType, ResolvedEnvironment};

/// An immutable, compiled view of one environment at one revision.
///
/// Built once by [`Snapshot::compile`] (off the hot path), then shared
/// between threads (`Snapshot` is `Send + Sync`) and evaluated without
/// allocating, locking or panicking. A newer revision is a new snapshot; a
/// runtime swaps them atomically.
///
/// ```
/// use flagctl::eval::{Context, Reason, Snapshot};
/// use flagctl::model::ResolvedEnvironment;
///
/// let env: ResolvedEnvironment = serde_json::from_value(serde_json::json!({
///     "environment": "prod",
///     "bucketing": "v1",
///     "segments": {},
///     "flags": {
///         "new-checkout": {
///             "key": "new-checkout",
///             "type": "boolean",
///             "targets": {"on": ["alice"]},
///             "default": {"rollout": {"on": 25, "off": 75}}
///         }
///     }
/// }))?;
/// let snapshot = Snapshot::compile(&env, "3f2a9c1")?;
///
/// let alice = snapshot.evaluate("new-checkout", &Context::new("alice"));
/// assert_eq!(alice.reason(), Reason::TargetMatch);
/// assert!(snapshot.bool_value("new-checkout", &Context::new("alice"), false));
///
/// let someone = snapshot.evaluate("new-checkout", &Context::new("user-42"));
/// assert_eq!(someone.reason(), Reason::Split);
/// assert!(someone.split().is_some_and(|split| split.bucket < 100_000));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Snapshot {
    revision: Box<str>,
    environment: Box<str>,
    bucketing: BucketingVersion,
    /// Flags by key; each knows its index in `keys`.
    flags: FlagTable,
    /// Flag keys, sorted; a flag's index is its position here.
    keys: Box<[Box<str>]>,
    segments: Box<[CompiledSegment]>,
    /// `(flag index, variant index)` of every variant slot.
    slots: Box<[(u32, u32)]>,
}

impl Snapshot {
    /// Compiles `environment` as of `revision` (a commit id, a digest, or any
    /// label the caller wants evaluations to carry).
    ///
    /// All the work happens here: keys interned in a hash map, regular
    /// expressions, versions and times parsed, segments resolved to indices,
    /// rollout weights turned into cumulative bucket ranges. Fails on what
    /// evaluation cannot serve; see [`CompileError`].
    ///
    /// ```
    /// use flagctl::eval::Snapshot;
    /// use flagctl::model::ResolvedEnvironment;
    ///
    /// let env: ResolvedEnvironment = serde_json::from_value(serde_json::json!({
    ///     "environment": "dev", "bucketing": "v1", "segments": {},
    ///     "flags": {"banner": {"key": "banner", "type": "string",
    ///         "variants": {"short": "Hi", "long": "Hello there"}, "default": "short"}}
    /// }))?;
    /// let snapshot = Snapshot::compile(&env, "HEAD")?;
    /// assert_eq!(snapshot.flag_keys().collect::<Vec<_>>(), ["banner"]);
    /// assert_eq!(snapshot.environment(), "dev");
    ///
    /// let mut broken = env.clone();
    /// broken.flags.values_mut().for_each(|flag| flag.default = flagctl::model::Serve::Variant("medium".into()));
    /// let error = Snapshot::compile(&broken, "HEAD").unwrap_err();
    /// assert_eq!(error.to_string(), "flag `banner` at `/default`: variant `medium` is not declared");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn compile(
        environment: &ResolvedEnvironment,
        revision: &str,
    ) -> Result<Snapshot, CompileError> {
        let compiled = compile(environment)?;
        let mut slots = Vec::with_capacity(usize::try_from(compiled.slot_count).unwrap_or(0));
        let mut keys = Vec::with_capacity(compiled.flags.len());
        for flag in &compiled.flags {
            for (variant, _) in (0u32..).zip(flag.variants.iter()) {
                slots.push((flag.index, variant));
            }
            keys.push(flag.key.clone());
        }
        let flags = FlagTable::new(compiled.flags.into_iter());
        Ok(Snapshot {
            revision: revision.into(),
            environment: environment.environment.as_str().into(),
            bucketing: environment.bucketing,
            flags,
            keys: keys.into_boxed_slice(),
            segments: compiled.segments.into_boxed_slice(),
            slots: slots.into_boxed_slice(),
        })
    }

    /// Evaluates flag `key` for `context`: the hot path.
    ///
    /// Steps, in order: a missing flag is [`Reason::FlagNotFound`]; a
    /// disabled flag serves its `off_variant` ([`Reason::Disabled`]); a
    /// targeting key listed in `targets` gets its variant
    /// ([`Reason::TargetMatch`]); the first rule whose condition matches
    /// serves ([`Reason::RuleMatch`]); else the default serves
    /// ([`Reason::Default`]). Whatever a weighted rollout decided is
    /// [`Reason::Split`] with the bucket. A rollout that cannot bucket (its
    /// `by` value is missing) falls through to the next step; when even the
    /// default cannot, nothing is served ([`Reason::Error`]).
    ///
    /// Does not allocate, lock or panic.
    ///
    /// ```
    /// use flagctl::eval::{Context, ErrorCode, Reason, Snapshot};
    /// # let env: flagctl::model::ResolvedEnvironment = serde_json::from_value(serde_json::json!({
    /// #     "environment": "prod", "bucketing": "v1", "segments": {},
    /// #     "flags": {"new-checkout": {"key": "new-checkout", "type": "boolean",
    /// #         "rules": [{"when": {"attr": "seats", "op": "gte", "value": 100}, "serve": "on"}],
    /// #         "default": "off"}}
    /// # }))?;
    /// # let snapshot = Snapshot::compile(&env, "r1")?;
    /// let big = Context::new("acme").with("seats", 120);
    /// assert_eq!(snapshot.evaluate("new-checkout", &big).variant(), Some("on"));
    ///
    /// // A value of the wrong type does not match, and says so.
    /// let odd = Context::new("acme").with("seats", "many");
    /// let evaluation = snapshot.evaluate("new-checkout", &odd);
    /// assert_eq!(evaluation.reason(), Reason::Default);
    /// assert_eq!(evaluation.error_code(), Some(ErrorCode::AttributeTypeMismatch));
    ///
    /// let missing = snapshot.evaluate("no-such-flag", &big);
    /// assert_eq!(missing.reason(), Reason::FlagNotFound);
    /// assert_eq!(missing.value(), None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn evaluate<'s>(&'s self, key: &str, context: &Context) -> Evaluation<'s> {
        match self.flags.get(key) {
            Some(flag) => evaluate_flag(self, flag, context, &mut Quiet),
            None => self.not_found(),
        }
    }

    fn not_found(&self) -> Evaluation<'_> {
        let mut evaluation = Evaluation::new(self, None, Reason::FlagNotFound);
        evaluation.error = Some(ErrorCode::FlagNotFound);
        evaluation
    }

    /// Evaluates a flag expected to be of type `kind`, turning a mismatch
    /// into an error evaluation.
    fn typed<'s, T>(
        &'s self,
        key: &str,
        context: &Context,
        kind: Option<FlagType>,
        default: T,
        read: impl FnOnce(&'s Value) -> Option<T>,
    ) -> Resolution<'s, T> {
        let mut evaluation = self.evaluate(key, context);
        if let (Some(flag), Some(kind)) = (evaluation.flag, kind)
            && flag.kind != kind
        {
            evaluation.reason = Reason::Error;
            evaluation.error = Some(ErrorCode::TypeMismatch);
            evaluation.variant = None;
            evaluation.rule = None;
            evaluation.split = None;
            return Resolution {
                value: default,
                evaluation,
            };
        }
        let value = evaluation.value().and_then(read).unwrap_or(default);
        Resolution { value, evaluation }
    }

    /// The value of boolean flag `key`, or `default` when it serves nothing
    /// or is not boolean.
    pub fn bool_value(&self, key: &str, context: &Context, default: bool) -> bool {
        self.bool_evaluation(key, context, default).value
    }

    /// Like [`Snapshot::bool_value`], with the evaluation.
    pub fn bool_evaluation(
        &self,
        key: &str,
        context: &Context,
        default: bool,
    ) -> Resolution<'_, bool> {
        self.typed(
            key,
            context,
            Some(FlagType::Boolean),
            default,
            Value::as_bool,
        )
    }

    /// The value of string flag `key`, or `default`.
    pub fn string_value<'s>(&'s self, key: &str, context: &Context, default: &'s str) -> &'s str {
        self.string_evaluation(key, context, default).value
    }

    /// Like [`Snapshot::string_value`], with the evaluation.
    pub fn string_evaluation<'s>(
        &'s self,
        key: &str,
        context: &Context,
        default: &'s str,
    ) -> Resolution<'s, &'s str> {
        self.typed(key, context, Some(FlagType::String), default, Value::as_str)
    }

    /// The value of number flag `key`, or `default`.
    pub fn number_value(&self, key: &str, context: &Context, default: f64) -> f64 {
        self.number_evaluation(key, context, default).value
    }

    /// Like [`Snapshot::number_value`], with the evaluation.
    pub fn number_evaluation(
        &self,
        key: &str,
        context: &Context,
        default: f64,
    ) -> Resolution<'_, f64> {
        self.typed(key, context, Some(FlagType::Number), default, Value::as_f64)
    }

    /// The value of flag `key` as JSON, or `default`. Every flag's value is
    /// JSON, so this accepts flags of any type.
    pub fn json_value<'s>(&'s self, key: &str, context: &Context, default: &'s Value) -> &'s Value {
        self.json_evaluation(key, context, default).value
    }

    /// Like [`Snapshot::json_value`], with the evaluation.
    pub fn json_evaluation<'s>(
        &'s self,
        key: &str,
        context: &Context,
        default: &'s Value,
    ) -> Resolution<'s, &'s Value> {
        self.typed(key, context, None, default, Some)
    }

    /// Evaluates flag `key` step by step and says why at each step: the
    /// targets, every rule with each condition's outcome (and the context
    /// value it saw), the bucket and the ranges of a rollout. Allocates; for
    /// `flagctl eval --explain`, not for the hot path.
    ///
    /// ```
    /// use flagctl::eval::{Context, Snapshot};
    /// # let env: flagctl::model::ResolvedEnvironment = serde_json::from_value(serde_json::json!({
    /// #     "environment": "prod", "bucketing": "v1", "segments": {},
    /// #     "flags": {"new-checkout": {"key": "new-checkout", "type": "boolean",
    /// #         "rules": [{"name": "germany", "when": {"attr": "country", "op": "eq", "value": "DE"}, "serve": "on"}],
    /// #         "default": "off"}}
    /// # }))?;
    /// # let snapshot = Snapshot::compile(&env, "r1")?;
    /// let explanation = snapshot.explain("new-checkout", &Context::new("u").with("country", "FR"));
    /// let json = serde_json::to_value(&explanation)?;
    /// assert_eq!(json["steps"][0]["step"], "rule");
    /// assert_eq!(json["steps"][0]["matched"], false);
    /// assert_eq!(json["steps"][0]["condition"]["condition"], "country eq \"DE\"");
    /// assert_eq!(json["steps"][0]["condition"]["actual"], "FR");
    /// assert_eq!(json["result"]["reason"], "DEFAULT");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn explain(&self, key: &str, context: &Context) -> Explanation {
        explain(self, key, self.flags.get(key), context)
    }

    /// Evaluates every flag for `context`, in [`Snapshot::flag_keys`] order.
    /// Allocates the list; for `flagctl eval --all` and bulk OFREP requests.
    pub fn evaluate_all<'s>(&'s self, context: &Context) -> Vec<(&'s str, Evaluation<'s>)> {
        self.keys
            .iter()
            .filter_map(|key| {
                let flag = self.flags.get(key)?;
                Some((&*flag.key, evaluate_flag(self, flag, context, &mut Quiet)))
            })
            .collect()
    }

    /// The flag keys, sorted; a flag's position is its
    /// [`Evaluation::flag_index`].
    pub fn flag_keys(&self) -> impl ExactSizeIterator<Item = &str> {
        self.keys.iter().map(|key| &**key)
    }

    /// The number of flags.
    pub fn flag_count(&self) -> usize {
        self.keys.len()
    }

    /// The key of the flag at `index` (see [`Evaluation::flag_index`]).
    pub fn flag_key(&self, index: u32) -> Option<&str> {
        self.keys
            .get(usize::try_from(index).ok()?)
            .map(|key| &**key)
    }

    /// The type of flag `key`.
    pub fn flag_type(&self, key: &str) -> Option<FlagType> {
        self.flags.get(key).map(|flag| flag.kind)
    }

    /// Whether the snapshot has flag `key`.
    pub fn contains(&self, key: &str) -> bool {
        self.flags.get(key).is_some()
    }

    /// The number of variant slots: every variant of every flag (see
    /// [`Evaluation::variant_slot`]).
    pub fn variant_slot_count(&self) -> usize {
        self.slots.len()
    }

    /// The flag key and variant name of a variant slot.
    pub fn variant_slot(&self, slot: u32) -> Option<(&str, &str)> {
        let &(flag, variant) = self.slots.get(usize::try_from(slot).ok()?)?;
        let key = self.flag_key(flag)?;
        let variant = self
            .flags
            .get(key)?
            .variants
            .get(usize::try_from(variant).ok()?)?;
        Some((key, &variant.name))
    }

    /// The revision the snapshot was compiled from.
    pub fn revision(&self) -> &str {
        &self.revision
    }

    /// The environment's name.
    pub fn environment(&self) -> &str {
        &self.environment
    }

    /// The bucketing contract of the environment.
    pub fn bucketing(&self) -> BucketingVersion {
        self.bucketing
    }

    /// The compiled flag `key`.
    #[cfg(test)]
    pub(crate) fn compiled(&self, key: &str) -> Option<&super::compiled::CompiledFlag> {
        self.flags.get(key)
    }

    #[inline]
    pub(crate) fn segment(&self, index: u32) -> Option<&CompiledSegment> {
        self.segments.get(usize::try_from(index).ok()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Snapshot>();
        assert_send_sync::<Evaluation<'_>>();
        assert_send_sync::<Context>();
    }
}
