//! The evaluation algorithm, written once for both the hot path and
//! explanations.
//!
//! [`evaluate_flag`] is generic over an [`Observer`]: the hot path passes
//! [`Quiet`], whose methods are empty and compile away, and
//! [`super::explain`] passes one that records every step. Both therefore run
//! exactly the same decisions. Nothing here allocates, locks or indexes
//! without a check.

use super::bucketing::bucket;
use super::compiled::{
    AttrCond, AttrPath, CompiledFlag, CompiledRollout, CompiledSegment, CompiledServe, Cond,
    integer_text,
};
use super::context::Actual;
use super::context::Context;
use super::evaluation::{ErrorCode, Evaluation, Reason, Split};
use super::snapshot::Snapshot;

/// How a segment decided membership before (or instead of) its condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Membership {
    Included,
    Excluded,
    NoCondition,
}

/// What a serve produced.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Served {
    pub(crate) variant: u32,
    pub(crate) split: Option<Split>,
}

/// Hooks called as evaluation proceeds; every method defaults to nothing.
pub(crate) trait Observer<'s> {
    /// Whether the observer records nothing, so that evaluation may take
    /// the fast form of a rule's condition ([`super::fast`]), which has no
    /// steps to observe.
    const QUIET: bool = false;

    fn flag_disabled(&mut self) {}
    fn targets_checked(&mut self, _matched: Option<u32>) {}
    fn rule_checked(&mut self, _index: usize, _matched: bool) {}
    fn default_reached(&mut self) {}
    /// The text a rollout hashed (after the salt).
    fn hashed(&mut self, _value: &[u8]) {}
    fn served(&mut self, _serve: &'s CompiledServe, _outcome: Result<Served, ErrorCode>) {}
    /// Before a condition is evaluated.
    fn enter(&mut self) {}
    /// After a condition was evaluated.
    fn leave(
        &mut self,
        _condition: &'s Cond,
        _outcome: Result<bool, ErrorCode>,
        _context: &Context,
    ) {
    }
    /// Conditions that were not evaluated because the result was known.
    fn skipped(&mut self, _rest: &'s [Cond]) {}
    fn membership(&mut self, _how: Membership) {}
}

/// The observer of the hot path: observes nothing.
pub(crate) struct Quiet;

impl Observer<'_> for Quiet {
    const QUIET: bool = true;
}

/// Evaluates `flag` for `context`.
#[inline]
pub(crate) fn evaluate_flag<'s, O: Observer<'s>>(
    snapshot: &'s Snapshot,
    flag: &'s CompiledFlag,
    context: &Context,
    observer: &mut O,
) -> Evaluation<'s> {
    let mut evaluation = Evaluation::new(snapshot, Some(flag), Reason::Default);
    if !flag.enabled {
        observer.flag_disabled();
        evaluation.reason = Reason::Disabled;
        evaluation.variant = flag.off_variant;
        return evaluation;
    }
    if let Some(targets) = &flag.targets {
        let key = context.targeting_key();
        let matched = if key.is_empty() {
            None
        } else {
            targets.get(key).copied()
        };
        observer.targets_checked(matched);
        if let Some(variant) = matched {
            evaluation.reason = Reason::TargetMatch;
            evaluation.variant = Some(variant);
            return evaluation;
        }
    }
    for (index, rule) in flag.rules.iter().enumerate() {
        let fast = match &rule.fast {
            Some(fast) if O::QUIET => fast.matches(context),
            _ => None,
        };
        let matched = match fast {
            Some(matched) => matched,
            None => condition(
                snapshot,
                &rule.when,
                context,
                &mut evaluation.error,
                observer,
            ),
        };
        observer.rule_checked(index, matched);
        if !matched {
            continue;
        }
        let outcome = serve(flag, &rule.serve, context, observer);
        observer.served(&rule.serve, outcome);
        match outcome {
            Ok(served) => {
                evaluation.reason = if served.split.is_some() {
                    Reason::Split
                } else {
                    Reason::RuleMatch
                };
                evaluation.variant = Some(served.variant);
                evaluation.rule = u32::try_from(index).ok();
                evaluation.split = served.split;
                return evaluation;
            }
            Err(code) => {
                evaluation.error.get_or_insert(code);
            }
        }
    }
    observer.default_reached();
    let outcome = serve(flag, &flag.default, context, observer);
    observer.served(&flag.default, outcome);
    match outcome {
        Ok(served) => {
            evaluation.reason = if served.split.is_some() {
                Reason::Split
            } else {
                Reason::Default
            };
            evaluation.variant = Some(served.variant);
            evaluation.split = served.split;
        }
        Err(code) => {
            evaluation.reason = Reason::Error;
            evaluation.error = Some(code);
        }
    }
    evaluation
}

#[inline]
fn serve<'s, O: Observer<'s>>(
    flag: &'s CompiledFlag,
    serve: &'s CompiledServe,
    context: &Context,
    observer: &mut O,
) -> Result<Served, ErrorCode> {
    match serve {
        CompiledServe::Variant(variant) => Ok(Served {
            variant: *variant,
            split: None,
        }),
        CompiledServe::Rollout(rollout) => split(flag, rollout, context, observer),
    }
}

#[inline]
fn split<'s, O: Observer<'s>>(
    flag: &'s CompiledFlag,
    rollout: &'s CompiledRollout,
    context: &Context,
    observer: &mut O,
) -> Result<Served, ErrorCode> {
    let mut buffer = [0u8; 20];
    let mut word = [0u8; 8];
    let resolved = match &rollout.by {
        // The common case, without packing the key into a word and back.
        AttrPath::Key => Some(Actual::Str(context.targeting_key().as_bytes())),
        by => by.resolve(context),
    };
    let value = match resolved {
        Some(Actual::Number(number)) => integer_text(number, &mut buffer)
            .ok_or(ErrorCode::AttributeTypeMismatch)?
            .as_bytes(),
        Some(actual @ (Actual::Word(_) | Actual::Str(_))) => match actual.bytes(&mut word) {
            Some(value) if !value.is_empty() => value,
            _ => return Err(missing(&rollout.by)),
        },
        None => return Err(missing(&rollout.by)),
        Some(Actual::Bool(_) | Actual::List(_) | Actual::Map(_)) => {
            return Err(ErrorCode::AttributeTypeMismatch);
        }
    };
    observer.hashed(value);
    let hash = flag.salt.hash_bytes(value);
    let bucket = bucket(hash);
    let range = rollout.ranges.find(bucket).ok_or(ErrorCode::General)?;
    Ok(Served {
        variant: range.variant,
        split: Some(Split { hash, bucket }),
    })
}

/// Why a rollout could not bucket.
fn missing(by: &AttrPath) -> ErrorCode {
    match by {
        AttrPath::Key => ErrorCode::TargetingKeyMissing,
        AttrPath::Attribute(_) | AttrPath::Nested(_) => ErrorCode::MissingBucketingAttribute,
    }
}

/// Evaluates an attribute test.
#[inline(always)]
fn attribute<'s, O: Observer<'s>>(
    attribute: &'s AttrCond,
    condition: &'s Cond,
    context: &Context,
    error: &mut Option<ErrorCode>,
    observer: &mut O,
) -> bool {
    observer.enter();
    let outcome = attribute.test.apply(attribute.path.resolve(context));
    observer.leave(condition, outcome, context);
    match outcome {
        Ok(matched) => matched,
        Err(code) => {
            error.get_or_insert(code);
            false
        }
    }
}

/// Evaluates a part of `all`/`any`: attribute tests without a call.
#[inline(always)]
fn part<'s, O: Observer<'s>>(
    snapshot: &'s Snapshot,
    item: &'s Cond,
    context: &Context,
    error: &mut Option<ErrorCode>,
    observer: &mut O,
) -> bool {
    match item {
        Cond::Attribute(test) => attribute(test, item, context, error, observer),
        _ => condition(snapshot, item, context, error, observer),
    }
}

/// Evaluates a condition; a problem makes it not match and is recorded in
/// `error` (the first one wins).
#[inline]
fn condition<'s, O: Observer<'s>>(
    snapshot: &'s Snapshot,
    condition: &'s Cond,
    context: &Context,
    error: &mut Option<ErrorCode>,
    observer: &mut O,
) -> bool {
    if let Cond::Attribute(test) = condition {
        return attribute(test, condition, context, error, observer);
    }
    observer.enter();
    let outcome = match condition {
        Cond::Attribute(test) => test.test.apply(test.path.resolve(context)),
        Cond::All(items) => {
            let mut all = true;
            for (index, item) in items.iter().enumerate() {
                if !part(snapshot, item, context, error, observer) {
                    observer.skipped(items.get(index + 1..).unwrap_or_default());
                    all = false;
                    break;
                }
            }
            Ok(all)
        }
        Cond::Any(items) => {
            let mut any = false;
            for (index, item) in items.iter().enumerate() {
                if part(snapshot, item, context, error, observer) {
                    observer.skipped(items.get(index + 1..).unwrap_or_default());
                    any = true;
                    break;
                }
            }
            Ok(any)
        }
        Cond::Not(inner) => Ok(!part(snapshot, inner, context, error, observer)),
        Cond::Inlined { when, .. } => Ok(part(snapshot, when, context, error, observer)),
        Cond::Segment(index) => Ok(snapshot
            .segment(*index)
            .is_some_and(|segment| self::segment(snapshot, segment, context, error, observer))),
    };
    observer.leave(condition, outcome, context);
    match outcome {
        Ok(matched) => matched,
        Err(code) => {
            error.get_or_insert(code);
            false
        }
    }
}

fn segment<'s, O: Observer<'s>>(
    snapshot: &'s Snapshot,
    segment: &'s CompiledSegment,
    context: &Context,
    error: &mut Option<ErrorCode>,
    observer: &mut O,
) -> bool {
    let key = context.targeting_key();
    if segment
        .include
        .as_ref()
        .is_some_and(|include| include.contains(key))
    {
        observer.membership(Membership::Included);
        return true;
    }
    if segment
        .exclude
        .as_ref()
        .is_some_and(|exclude| exclude.contains(key))
    {
        observer.membership(Membership::Excluded);
        return false;
    }
    match &segment.when {
        Some(when) => condition(snapshot, when, context, error, observer),
        None => {
            observer.membership(Membership::NoCondition);
            false
        }
    }
}
