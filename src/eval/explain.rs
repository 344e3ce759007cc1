//! [`Explanation`]: an evaluation walked step by step, for
//! `flagctl eval --explain`.
//!
//! It runs the very algorithm of the hot path (`super::engine`) with an
//! observer that records each step, so an explanation can never disagree with
//! an evaluation. It allocates freely.

use serde::Serialize;
use serde_json::Value;

use super::bucketing::BUCKETS;
use super::compiled::{CompiledFlag, CompiledServe, Cond};
use super::context::Context;
use super::engine::{Membership, Observer, Served, evaluate_flag};
use super::evaluation::{ErrorCode, Evaluation, Reason, Split};
use super::snapshot::Snapshot;
use crate::model::Weight;

/// One evaluation, explained.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Explanation {
    /// The flag key asked for.
    pub flag: String,
    /// The snapshot's environment.
    pub environment: String,
    /// The snapshot's revision.
    pub revision: String,
    /// The context, as JSON.
    pub context: Value,
    /// What was checked, in order.
    pub steps: Vec<Step>,
    /// What was served; the same as [`Snapshot::evaluate`] returns.
    pub result: ExplainedResult,
}

/// One step of an [`Explanation`].
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "step", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Step {
    /// The snapshot has no such flag.
    FlagNotFound,
    /// The flag is disabled.
    Disabled {
        /// The variant served while disabled, if any.
        off_variant: Option<String>,
    },
    /// The targeting key was looked up in `targets`.
    Targets {
        /// The targeting key.
        targeting_key: String,
        /// The variant it is listed under, if any.
        matched: Option<String>,
    },
    /// A rule's condition was evaluated.
    Rule {
        /// The rule's index, from 0.
        index: usize,
        /// The rule's name.
        name: Option<String>,
        /// Whether the condition matched.
        matched: bool,
        /// The condition, with every part's outcome.
        condition: ConditionTrace,
        /// What the rule served when it matched.
        serve: Option<ServeTrace>,
    },
    /// Nothing matched; the default applied.
    Default {
        /// What the default served.
        serve: ServeTrace,
    },
}

/// How a condition (and each of its parts) turned out.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ConditionTrace {
    /// The condition, in words: `all`, `any`, `not`, `segment staff`,
    /// `country in ["DE","FR"]`, `beta exists`.
    pub condition: String,
    /// What came out.
    pub outcome: Outcome,
    /// The problem, when the outcome is [`Outcome::Error`].
    pub error: Option<ErrorCode>,
    /// The context value the condition compared (attributes only; `null`
    /// when absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actual: Option<Value>,
    /// How a segment decided: `included`, `excluded` or `no condition`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub membership: Option<&'static str>,
    /// The parts of `all`, `any`, `not` and segments.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<ConditionTrace>,
}

/// The outcome of a condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// It matched.
    Matched,
    /// It did not match.
    NotMatched,
    /// It met a problem and did not match.
    Error,
    /// It was not evaluated: an earlier part of `all`/`any` decided.
    Skipped,
}

/// What a rule or the default served.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ServeTrace {
    /// The variant served; `None` when the serve fell through.
    pub variant: Option<String>,
    /// The rollout, when the serve was one.
    pub rollout: Option<RolloutTrace>,
    /// Why the serve did not apply and evaluation went on.
    pub fell_through: Option<ErrorCode>,
}

/// How a weighted rollout bucketed.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct RolloutTrace {
    /// The attribute bucketed by (`key` for the targeting key).
    pub by: String,
    /// The salt (the flag key unless the flag sets `salt`).
    pub salt: String,
    /// The value hashed after the salt; `None` when missing.
    pub value: Option<String>,
    /// The hash and bucket, when bucketed.
    pub split: Option<Split>,
    /// Every variant's range of buckets, in declared order.
    pub ranges: Vec<RangeTrace>,
    /// The experiment the rollout belongs to.
    pub experiment: Option<String>,
}

/// One variant's share of a rollout.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct RangeTrace {
    /// The variant.
    pub variant: String,
    /// The weight, as a percentage (`25`, `33.333`).
    pub weight: String,
    /// First bucket of the range.
    pub start: u32,
    /// One past the last bucket of the range (`start == end` when empty).
    pub end: u32,
}

/// The result of an explained evaluation.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ExplainedResult {
    /// The value served; `None` means the caller's default.
    pub value: Option<Value>,
    /// The variant served.
    pub variant: Option<String>,
    /// Why.
    pub reason: Reason,
    /// The rule that served.
    pub rule_index: Option<usize>,
    /// Its name.
    pub rule_name: Option<String>,
    /// The hash and bucket, when a rollout decided.
    pub split: Option<Split>,
    /// The first problem met.
    pub error_code: Option<ErrorCode>,
}

impl From<&Evaluation<'_>> for ExplainedResult {
    fn from(evaluation: &Evaluation<'_>) -> Self {
        ExplainedResult {
            value: evaluation.value().cloned(),
            variant: evaluation.variant().map(str::to_owned),
            reason: evaluation.reason(),
            rule_index: evaluation.rule_index(),
            rule_name: evaluation.rule_name().map(str::to_owned),
            split: evaluation.split(),
            error_code: evaluation.error_code(),
        }
    }
}

struct Frame {
    children: Vec<ConditionTrace>,
    membership: Option<&'static str>,
}

struct Recorder<'s> {
    snapshot: &'s Snapshot,
    flag: &'s CompiledFlag,
    steps: Vec<Step>,
    frames: Vec<Frame>,
    finished: Option<ConditionTrace>,
    hashed: Option<String>,
}

impl<'s> Recorder<'s> {
    fn variant_name(&self, variant: u32) -> Option<String> {
        let variant = self.flag.variants.get(usize::try_from(variant).ok()?)?;
        Some(variant.name.to_string())
    }

    fn describe(&self, condition: &Cond) -> String {
        match condition {
            Cond::All(_) => "all".to_owned(),
            Cond::Any(_) => "any".to_owned(),
            Cond::Not(_) => "not".to_owned(),
            Cond::Segment(index) | Cond::Inlined { segment: index, .. } => {
                match self.snapshot.segment(*index) {
                    Some(segment) => format!("segment {}", segment.name),
                    None => "segment ?".to_owned(),
                }
            }
            Cond::Attribute(attribute) => {
                let source = &attribute.source;
                match &source.operand {
                    Some(operand) => format!("{} {} {}", source.attr, source.op, operand),
                    None => format!("{} {}", source.attr, source.op),
                }
            }
        }
    }

    fn skipped_trace(&self, condition: &Cond) -> ConditionTrace {
        ConditionTrace {
            condition: self.describe(condition),
            outcome: Outcome::Skipped,
            error: None,
            actual: None,
            membership: None,
            children: Vec::new(),
        }
    }
}

fn actual_json(condition: &Cond, context: &Context) -> Option<Value> {
    let Cond::Attribute(attribute) = condition else {
        return None;
    };
    Some(if &*attribute.source.attr == "key" {
        match context.targeting_key() {
            "" => Value::Null,
            key => Value::String(key.to_owned()),
        }
    } else {
        context
            .get(&attribute.source.attr)
            .map_or(Value::Null, |value| value.to_json())
    })
}

impl<'s> Observer<'s> for Recorder<'s> {
    fn flag_disabled(&mut self) {
        let off_variant = self
            .flag
            .off_variant
            .and_then(|variant| self.variant_name(variant));
        self.steps.push(Step::Disabled { off_variant });
    }

    fn targets_checked(&mut self, matched: Option<u32>) {
        // The key is filled in by `explain`, which has the context.
        let matched = matched.and_then(|variant| self.variant_name(variant));
        self.steps.push(Step::Targets {
            targeting_key: String::new(),
            matched,
        });
    }

    fn rule_checked(&mut self, index: usize, matched: bool) {
        let name = self
            .flag
            .rules
            .get(index)
            .and_then(|rule| rule.name.as_deref())
            .map(str::to_owned);
        let condition = self.finished.take().unwrap_or_else(|| ConditionTrace {
            condition: String::new(),
            outcome: Outcome::Skipped,
            error: None,
            actual: None,
            membership: None,
            children: Vec::new(),
        });
        self.steps.push(Step::Rule {
            index,
            name,
            matched,
            condition,
            serve: None,
        });
    }

    fn default_reached(&mut self) {
        self.steps.push(Step::Default {
            serve: ServeTrace {
                variant: None,
                rollout: None,
                fell_through: None,
            },
        });
    }

    fn hashed(&mut self, value: &[u8]) {
        self.hashed = Some(String::from_utf8_lossy(value).into_owned());
    }

    fn served(&mut self, serve: &'s CompiledServe, outcome: Result<Served, ErrorCode>) {
        let rollout = match serve {
            CompiledServe::Variant(_) => None,
            CompiledServe::Rollout(rollout) => {
                let mut start = 0;
                let ranges = rollout
                    .ranges
                    .as_slice()
                    .iter()
                    .map(|range| {
                        let trace = RangeTrace {
                            variant: self.variant_name(range.variant).unwrap_or_default(),
                            weight: Weight::from_thousandths(range.end.saturating_sub(start))
                                .to_string(),
                            start: start.min(BUCKETS),
                            end: range.end,
                        };
                        start = range.end;
                        trace
                    })
                    .collect();
                Some(RolloutTrace {
                    by: rollout.by_name.to_string(),
                    salt: self.flag.salt.as_str().to_owned(),
                    value: self.hashed.take(),
                    split: outcome.ok().and_then(|served| served.split),
                    ranges,
                    experiment: rollout.experiment.as_deref().map(str::to_owned),
                })
            }
        };
        let trace = ServeTrace {
            variant: outcome
                .ok()
                .and_then(|served| self.variant_name(served.variant)),
            rollout,
            fell_through: outcome.err(),
        };
        match self.steps.last_mut() {
            Some(Step::Rule { serve, .. }) => *serve = Some(trace),
            Some(Step::Default { serve }) => *serve = trace,
            _ => {}
        }
    }

    fn enter(&mut self) {
        self.frames.push(Frame {
            children: Vec::new(),
            membership: None,
        });
    }

    fn leave(&mut self, condition: &'s Cond, outcome: Result<bool, ErrorCode>, context: &Context) {
        let frame = self.frames.pop().unwrap_or(Frame {
            children: Vec::new(),
            membership: None,
        });
        let trace = ConditionTrace {
            condition: self.describe(condition),
            outcome: match outcome {
                Ok(true) => Outcome::Matched,
                Ok(false) => Outcome::NotMatched,
                Err(_) => Outcome::Error,
            },
            error: outcome.err(),
            actual: actual_json(condition, context),
            membership: frame.membership,
            children: frame.children,
        };
        match self.frames.last_mut() {
            Some(parent) => parent.children.push(trace),
            None => self.finished = Some(trace),
        }
    }

    fn skipped(&mut self, rest: &'s [Cond]) {
        let traces: Vec<ConditionTrace> = rest
            .iter()
            .map(|condition| self.skipped_trace(condition))
            .collect();
        if let Some(frame) = self.frames.last_mut() {
            frame.children.extend(traces);
        }
    }

    fn membership(&mut self, how: Membership) {
        if let Some(frame) = self.frames.last_mut() {
            frame.membership = Some(match how {
                Membership::Included => "included",
                Membership::Excluded => "excluded",
                Membership::NoCondition => "no condition",
            });
        }
    }
}

pub(crate) fn explain(
    snapshot: &Snapshot,
    key: &str,
    flag: Option<&CompiledFlag>,
    context: &Context,
) -> Explanation {
    let mut explanation = Explanation {
        flag: key.to_owned(),
        environment: snapshot.environment().to_owned(),
        revision: snapshot.revision().to_owned(),
        context: context.to_json(),
        steps: Vec::new(),
        result: ExplainedResult::from(&snapshot.evaluate(key, context)),
    };
    let Some(flag) = flag else {
        // `evaluate` gave the result: not found.
        explanation.steps.push(Step::FlagNotFound);
        return explanation;
    };
    let mut recorder = Recorder {
        snapshot,
        flag,
        steps: Vec::new(),
        frames: Vec::new(),
        finished: None,
        hashed: None,
    };
    let evaluation = evaluate_flag(snapshot, flag, context, &mut recorder);
    for step in &mut recorder.steps {
        if let Step::Targets { targeting_key, .. } = step {
            context.targeting_key().clone_into(targeting_key);
        }
    }
    explanation.steps = recorder.steps;
    explanation.result = ExplainedResult::from(&evaluation);
    explanation
}
