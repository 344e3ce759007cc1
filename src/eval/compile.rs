//! Compiling a [`ResolvedEnvironment`] into the evaluation form: every name
//! resolved, every operand parsed, once.
//!
//! Validation (`crate::format`) reports configuration problems to people;
//! compiling re-checks what evaluation relies on and refuses what it cannot
//! serve safely (an unknown variant, weights that do not add up to 100%,
//! segments that refer to each other in a cycle, conditions nested too deep to
//! evaluate without risking the stack), so that evaluation itself never fails.

use std::collections::BTreeMap;
use std::fmt;

use indexmap::IndexMap;
use rustc_hash::{FxHashMap, FxHashSet};
use serde_json::Value;

use super::bucketing::BucketingSalt;
use super::compiled::{
    AttrCond, AttrPath, AttrSource, Compare, CompiledFlag, CompiledRollout, CompiledRule,
    CompiledSegment, CompiledServe, CompiledVariant, Cond, Others, PathPart, Range, Ranges, Scalar,
    ScalarSet, StringSet, Test, Text,
};
use super::context::name_key;
use super::fast::FastAll;
use super::pattern::Pattern;
use super::version::OwnedVersion;
use crate::model::{
    Arity, AttributeCondition, BucketingVersion, Condition, Flag, FlagType, Operator,
    ResolvedEnvironment, Segment, SegmentName, Serve, WEIGHT_TOTAL, Weight,
};

/// How deep conditions may nest, counting every `all`, `any`, `not` and
/// segment reference on the way; evaluation recurses this deep at most.
pub const MAX_DEPTH: usize = 64;

/// What a [`CompileError`] is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subject {
    /// A flag, by key.
    Flag(String),
    /// A segment, by name.
    Segment(String),
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::Flag(key) => write!(f, "flag `{key}`"),
            Subject::Segment(name) => write!(f, "segment `{name}`"),
        }
    }
}

/// Why a resolved environment cannot be compiled into a [`super::Snapshot`].
///
/// Says which flag or segment, where in its document (a JSON pointer such as
/// `/rules/0/when/value`, which `crate::format` maps to a line and column),
/// and what is wrong.
#[derive(Debug)]
pub struct CompileError {
    /// The flag or segment at fault.
    pub subject: Subject,
    /// Where in the subject's document, as a JSON pointer (`""` for the whole).
    pub pointer: String,
    /// What is wrong.
    pub kind: CompileErrorKind,
}

impl fmt::Display for CompileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.pointer.is_empty() {
            write!(f, "{}: {}", self.subject, self.kind)
        } else {
            write!(f, "{} at `{}`: {}", self.subject, self.pointer, self.kind)
        }
    }
}

impl std::error::Error for CompileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.kind)
    }
}

/// What is wrong in a [`CompileError`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CompileErrorKind {
    /// A variant is served or targeted but not declared.
    #[error("variant `{0}` is not declared")]
    UnknownVariant(String),
    /// A variant's value does not have the flag's type.
    #[error("variant `{variant}` is not a {expected} value")]
    VariantType {
        /// The variant.
        variant: String,
        /// The flag's type.
        expected: FlagType,
    },
    /// A condition names a segment that does not exist.
    #[error("segment `{0}` does not exist")]
    UnknownSegment(String),
    /// Segments refer to each other in a cycle.
    #[error("segments refer to each other in a cycle: {0}")]
    SegmentCycle(String),
    /// Rollout weights do not add up to 100%.
    #[error("rollout weights sum to {0}, expected 100")]
    WeightTotal(String),
    /// A rollout without variants.
    #[error("a rollout needs at least one variant")]
    EmptyRollout,
    /// An operator without its operand.
    #[error("`{op}` needs an operand in `{field}`")]
    MissingOperand {
        /// The operator.
        op: Operator,
        /// `value` or `values`.
        field: &'static str,
    },
    /// An operand the operator does not take.
    #[error("`{op}` takes no operand in `{field}`")]
    UnexpectedOperand {
        /// The operator.
        op: Operator,
        /// `value` or `values`.
        field: &'static str,
    },
    /// An operand of the wrong type.
    #[error("`{op}` compares with {expected}, found `{found}`")]
    OperandType {
        /// The operator.
        op: Operator,
        /// What it compares with (`a string`, …).
        expected: &'static str,
        /// The operand found, as JSON.
        found: String,
    },
    /// A `matches` pattern the `regex` crate rejects.
    #[error("`{pattern}` is not a valid regular expression")]
    Regex {
        /// The pattern.
        pattern: String,
        /// The `regex` crate's error.
        #[source]
        source: regex::Error,
    },
    /// A `semver_*` operand that is not a semantic version.
    #[error("`{0}` is not a semantic version")]
    Semver(String),
    /// A `before`/`after` operand that is not an RFC 3339 time.
    #[error("`{time}` is not an RFC 3339 time")]
    Time {
        /// The operand.
        time: String,
        /// jiff's error.
        #[source]
        source: jiff::Error,
    },
    /// An attribute name that is empty or has an empty part (`a..b`).
    #[error("`{0}` is not an attribute name")]
    AttributeName(String),
    /// Conditions nested deeper than [`MAX_DEPTH`].
    #[error("conditions nest deeper than {MAX_DEPTH} levels (counting segments)")]
    TooDeep,
}

/// An error before it knows its subject.
type Located = (String, CompileErrorKind);

fn at(pointer: impl Into<String>, kind: CompileErrorKind) -> Located {
    (pointer.into(), kind)
}

/// Escapes a JSON pointer token (`~` and `/`).
fn token(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

/// The compiled parts of a snapshot.
pub(crate) struct Compiled {
    pub(crate) flags: Vec<CompiledFlag>,
    pub(crate) segments: Vec<CompiledSegment>,
    pub(crate) slot_count: u32,
}

pub(crate) fn compile(environment: &ResolvedEnvironment) -> Result<Compiled, CompileError> {
    // The only contract so far; a new one must be handled here (and in
    // `engine::split`), never picked up silently.
    match environment.bucketing {
        BucketingVersion::V1 => {}
    }
    let names: BTreeMap<&str, u32> = environment
        .segments
        .keys()
        .zip(0u32..)
        .map(|(name, index)| (name.as_str(), index))
        .collect();
    let (depths, order) = segment_depths(&environment.segments, &names)?;
    let ordered: Vec<&Segment> = environment.segments.values().collect();
    // Segments a segment refers to are compiled before it, so that it can
    // copy their conditions in.
    let mut compiled: Vec<Option<CompiledSegment>> = ordered.iter().map(|_| None).collect();
    for index in order {
        let Some(segment) = ordered.get(index) else {
            continue;
        };
        let lookup = SegmentLookup {
            names: &names,
            depths: &depths,
            compiled: &compiled,
        };
        let done = compile_segment(segment, &lookup).map_err(|(pointer, kind)| CompileError {
            subject: Subject::Segment(segment.name.to_string()),
            pointer,
            kind,
        })?;
        if let Some(slot) = compiled.get_mut(index) {
            *slot = Some(done);
        }
    }
    let lookup = SegmentLookup {
        names: &names,
        depths: &depths,
        compiled: &compiled,
    };
    let mut flags = Vec::with_capacity(environment.flags.len());
    let mut slot_count = 0u32;
    for (index, flag) in (0u32..).zip(environment.flags.values()) {
        flags.push(compile_flag(flag, index, &mut slot_count, &lookup).map_err(
            |(pointer, kind)| CompileError {
                subject: Subject::Flag(flag.key.to_string()),
                pointer,
                kind,
            },
        )?);
    }
    let segments = compiled.into_iter().flatten().collect::<Vec<_>>();
    if segments.len() != environment.segments.len() {
        // Every segment is visited; this would be a bug.
        return Err(CompileError {
            subject: Subject::Segment(String::new()),
            pointer: String::new(),
            kind: CompileErrorKind::TooDeep,
        });
    }
    Ok(Compiled {
        flags,
        segments,
        slot_count,
    })
}

struct SegmentLookup<'a> {
    names: &'a BTreeMap<&'a str, u32>,
    /// The nesting depth of each segment's `when` (0 without one).
    depths: &'a [usize],
    /// Segments compiled so far.
    compiled: &'a [Option<CompiledSegment>],
}

/// Segments with only a condition of at most this many nodes are copied
/// into the conditions that name them: evaluation then reads the flag's own
/// memory instead of following an index.
const INLINE_SEGMENT_NODES: usize = 16;

impl SegmentLookup<'_> {
    fn find(&self, name: &SegmentName) -> Option<(u32, usize)> {
        let index = *self.names.get(name.as_str())?;
        let depth = *self.depths.get(usize::try_from(index).ok()?)?;
        Some((index, depth))
    }
}

#[derive(Clone, Copy)]
enum Visit {
    New,
    Active,
    Done(usize),
}

/// Every segment's nesting depth; refuses cycles and chains deeper than
/// [`MAX_DEPTH`] (which also bounds this function's recursion).
fn segment_depths(
    segments: &BTreeMap<SegmentName, Segment>,
    names: &BTreeMap<&str, u32>,
) -> Result<(Vec<usize>, Vec<usize>), CompileError> {
    let ordered: Vec<&Segment> = segments.values().collect();
    let mut visits = vec![Visit::New; ordered.len()];
    let mut chain = Vec::new();
    let mut order = Vec::with_capacity(ordered.len());
    for start in 0..ordered.len() {
        visit(start, &ordered, names, &mut visits, &mut chain, &mut order)?;
    }
    let depths = visits
        .into_iter()
        .map(|visit| match visit {
            Visit::Done(depth) => depth,
            Visit::New | Visit::Active => 0,
        })
        .collect();
    Ok((depths, order))
}

fn visit(
    index: usize,
    segments: &[&Segment],
    names: &BTreeMap<&str, u32>,
    visits: &mut [Visit],
    chain: &mut Vec<usize>,
    order: &mut Vec<usize>,
) -> Result<usize, CompileError> {
    let Some(segment) = segments.get(index) else {
        return Ok(0);
    };
    let located = |(pointer, kind): Located| CompileError {
        subject: Subject::Segment(segment.name.to_string()),
        pointer,
        kind,
    };
    match visits.get(index).copied() {
        Some(Visit::Done(depth)) => return Ok(depth),
        Some(Visit::Active) => {
            let from = chain.iter().position(|&i| i == index).unwrap_or(0);
            let mut cycle: Vec<String> = chain
                .get(from..)
                .unwrap_or_default()
                .iter()
                .filter_map(|&i| segments.get(i).map(|s| format!("`{}`", s.name)))
                .collect();
            cycle.push(format!("`{}`", segment.name));
            return Err(located(at(
                "",
                CompileErrorKind::SegmentCycle(cycle.join(" -> ")),
            )));
        }
        Some(Visit::New) | None => {}
    }
    if chain.len() >= MAX_DEPTH {
        return Err(located(at("/when", CompileErrorKind::TooDeep)));
    }
    if let Some(state) = visits.get_mut(index) {
        *state = Visit::Active;
    }
    chain.push(index);
    let depth = match &segment.when {
        None => Ok(0),
        Some(when) => condition_depth(when, 1, "/when", &mut |name, pointer| {
            let Some(&target) = names.get(name.as_str()) else {
                return Err(DepthError::Here(at(
                    pointer,
                    CompileErrorKind::UnknownSegment(name.to_string()),
                )));
            };
            visit(
                usize::try_from(target).unwrap_or(usize::MAX),
                segments,
                names,
                visits,
                chain,
                order,
            )
            .map_err(DepthError::Nested)
        }),
    };
    chain.pop();
    let depth = depth.map_err(|error| match error {
        DepthError::Here(here) => located(here),
        DepthError::Nested(error) => error,
    })?;
    if let Some(state) = visits.get_mut(index) {
        *state = Visit::Done(depth);
    }
    order.push(index);
    Ok(depth)
}

/// An error while measuring depth: in the condition at hand, or in a
/// segment it refers to.
enum DepthError {
    Here(Located),
    Nested(CompileError),
}

/// The nesting depth of a condition (an attribute test is 1), with
/// `segment_depth` giving each referenced segment's. Recursion stops at
/// [`MAX_DEPTH`] levels.
fn condition_depth(
    condition: &Condition,
    level: usize,
    pointer: &str,
    segment_depth: &mut dyn FnMut(&SegmentName, &str) -> Result<usize, DepthError>,
) -> Result<usize, DepthError> {
    if level > MAX_DEPTH {
        return Err(DepthError::Here(at(pointer, CompileErrorKind::TooDeep)));
    }
    Ok(match condition {
        Condition::All { all: items } | Condition::Any { any: items } => {
            let word = if matches!(condition, Condition::All { .. }) {
                "all"
            } else {
                "any"
            };
            let mut deepest = 0;
            for (index, item) in items.iter().enumerate() {
                let depth = condition_depth(
                    item,
                    level + 1,
                    &format!("{pointer}/{word}/{index}"),
                    segment_depth,
                )?;
                deepest = deepest.max(depth);
            }
            1 + deepest
        }
        Condition::Not { not } => {
            1 + condition_depth(not, level + 1, &format!("{pointer}/not"), segment_depth)?
        }
        Condition::Segment { segment } => {
            1 + segment_depth(segment, &format!("{pointer}/segment"))?
        }
        Condition::Attribute(_) => 1,
    })
}

fn compile_segment(
    segment: &Segment,
    lookup: &SegmentLookup<'_>,
) -> Result<CompiledSegment, Located> {
    let set = |keys: &[String]| -> Option<Box<FxHashSet<Box<str>>>> {
        (!keys.is_empty()).then(|| Box::new(keys.iter().map(|key| key.as_str().into()).collect()))
    };
    let when = match &segment.when {
        None => None,
        Some(when) => {
            check_depth(when, "/when", lookup)?;
            Some(compile_condition(when, "/when", lookup)?)
        }
    };
    Ok(CompiledSegment {
        name: segment.name.as_str().into(),
        include: set(&segment.include),
        exclude: set(&segment.exclude),
        when,
    })
}

fn check_depth(
    condition: &Condition,
    pointer: &str,
    lookup: &SegmentLookup<'_>,
) -> Result<(), Located> {
    let depth = condition_depth(condition, 1, pointer, &mut |name, pointer| {
        lookup.find(name).map(|(_, depth)| depth).ok_or_else(|| {
            DepthError::Here(at(
                pointer,
                CompileErrorKind::UnknownSegment(name.to_string()),
            ))
        })
    })
    .map_err(|error| match error {
        DepthError::Here(here) => here,
        DepthError::Nested(error) => (error.pointer, error.kind),
    })?;
    if depth > MAX_DEPTH {
        return Err(at(pointer, CompileErrorKind::TooDeep));
    }
    Ok(())
}

fn compile_flag(
    flag: &Flag,
    index: u32,
    slot_count: &mut u32,
    lookup: &SegmentLookup<'_>,
) -> Result<CompiledFlag, Located> {
    let implicit;
    let (declared, off_variant) = if flag.kind == FlagType::Boolean && flag.variants.is_empty() {
        implicit = IndexMap::from([
            ("on".to_owned(), Value::Bool(true)),
            ("off".to_owned(), Value::Bool(false)),
        ]);
        (
            &implicit,
            Some(flag.off_variant.as_deref().unwrap_or("off")),
        )
    } else {
        (&flag.variants, flag.off_variant.as_deref())
    };
    let mut variants = Vec::with_capacity(declared.len());
    for (name, value) in declared {
        if !flag.kind.accepts(value) {
            return Err(at(
                format!("/variants/{}", token(name)),
                CompileErrorKind::VariantType {
                    variant: name.clone(),
                    expected: flag.kind,
                },
            ));
        }
        variants.push(CompiledVariant {
            name: name.as_str().into(),
            value: value.clone(),
            slot: *slot_count,
        });
        *slot_count = slot_count.saturating_add(1);
    }
    let variant_index = |name: &str, pointer: &str| -> Result<u32, Located> {
        declared
            .get_index_of(name)
            .and_then(|index| u32::try_from(index).ok())
            .ok_or_else(|| at(pointer, CompileErrorKind::UnknownVariant(name.to_owned())))
    };
    let off_variant = off_variant
        .map(|name| variant_index(name, "/off_variant"))
        .transpose()?;
    let mut targets: FxHashMap<Box<str>, u32> = FxHashMap::default();
    for (variant, keys) in &flag.targets {
        let pointer = format!("/targets/{}", token(variant));
        let variant = variant_index(variant, &pointer)?;
        for key in keys {
            targets.entry(key.as_str().into()).or_insert(variant);
        }
    }
    let serve = |serve: &Serve, pointer: &str| -> Result<CompiledServe, Located> {
        match serve {
            Serve::Variant(name) => Ok(CompiledServe::Variant(variant_index(name, pointer)?)),
            Serve::Rollout(rollout) => {
                let weights_pointer = format!("{pointer}/rollout");
                if rollout.weights.is_empty() {
                    return Err(at(weights_pointer, CompileErrorKind::EmptyRollout));
                }
                let total = rollout.total();
                if total != u64::from(WEIGHT_TOTAL) {
                    // Exact: a display value.
                    let shown = total as f64 / 1000.0;
                    return Err(at(
                        weights_pointer,
                        CompileErrorKind::WeightTotal(shown.to_string()),
                    ));
                }
                let mut end = 0u32;
                let mut ranges = Vec::with_capacity(rollout.weights.len());
                for (name, weight) in &rollout.weights {
                    let variant =
                        variant_index(name, &format!("{weights_pointer}/{}", token(name)))?;
                    end = end.saturating_add(Weight::thousandths(*weight));
                    ranges.push(Range { end, variant });
                }
                let (by, by_name) = match rollout.by.as_deref() {
                    None => (AttrPath::Key, "key"),
                    Some(by) => (compile_path(by, &format!("{pointer}/by"))?, by),
                };
                Ok(CompiledServe::Rollout(CompiledRollout {
                    by,
                    by_name: by_name.into(),
                    ranges: Ranges::new(ranges),
                    experiment: rollout.experiment.as_deref().map(Into::into),
                }))
            }
        }
    };
    let mut rules = Vec::with_capacity(flag.rules.len());
    for (number, rule) in flag.rules.iter().enumerate() {
        let pointer = format!("/rules/{number}");
        let when_pointer = format!("{pointer}/when");
        check_depth(&rule.when, &when_pointer, lookup)?;
        let when = compile_condition(&rule.when, &when_pointer, lookup)?;
        rules.push(CompiledRule {
            name: rule.name.as_deref().map(Into::into),
            fast: FastAll::of(&when),
            when,
            serve: serve(&rule.serve, &format!("{pointer}/serve"))?,
        });
    }
    let default = serve(&flag.default, "/default")?;
    Ok(CompiledFlag {
        index,
        key: flag.key.as_str().into(),
        kind: flag.kind,
        enabled: flag.enabled,
        off_variant,
        variants: variants.into_boxed_slice(),
        salt: BucketingSalt::new(flag.bucketing_salt()),
        targets: (!targets.is_empty()).then(|| Box::new(targets)),
        rules: rules.into_boxed_slice(),
        default,
    })
}

fn compile_path(name: &str, pointer: &str) -> Result<AttrPath, Located> {
    if name == "key" {
        return Ok(AttrPath::Key);
    }
    if name.split('.').any(str::is_empty) {
        return Err(at(
            pointer,
            CompileErrorKind::AttributeName(name.to_owned()),
        ));
    }
    let mut parts: Vec<PathPart> = name
        .split('.')
        .map(|part| PathPart {
            key: name_key(part.as_bytes()),
            name: Text::new(part),
        })
        .collect();
    Ok(match (parts.pop(), parts.is_empty()) {
        (Some(part), true) => AttrPath::Attribute(part),
        (Some(last), false) => {
            parts.push(last);
            AttrPath::Nested(parts.into_boxed_slice())
        }
        (None, _) => {
            return Err(at(
                pointer,
                CompileErrorKind::AttributeName(name.to_owned()),
            ));
        }
    })
}

fn compile_condition(
    condition: &Condition,
    pointer: &str,
    lookup: &SegmentLookup<'_>,
) -> Result<Cond, Located> {
    Ok(match condition {
        Condition::All { all: items } | Condition::Any { any: items } => {
            let word = if matches!(condition, Condition::All { .. }) {
                "all"
            } else {
                "any"
            };
            let compiled = items
                .iter()
                .enumerate()
                .map(|(index, item)| {
                    compile_condition(item, &format!("{pointer}/{word}/{index}"), lookup)
                })
                .collect::<Result<Box<[Cond]>, Located>>()?;
            if word == "all" {
                Cond::All(compiled)
            } else {
                Cond::Any(compiled)
            }
        }
        Condition::Not { not } => Cond::Not(Box::new(compile_condition(
            not,
            &format!("{pointer}/not"),
            lookup,
        )?)),
        Condition::Segment { segment } => {
            let (index, _) = lookup.find(segment).ok_or_else(|| {
                at(
                    format!("{pointer}/segment"),
                    CompileErrorKind::UnknownSegment(segment.to_string()),
                )
            })?;
            let compiled = usize::try_from(index)
                .ok()
                .and_then(|i| lookup.compiled.get(i))
                .and_then(Option::as_ref);
            match compiled {
                Some(CompiledSegment {
                    include: None,
                    exclude: None,
                    when: Some(when),
                    ..
                }) if when.size() <= INLINE_SEGMENT_NODES => Cond::Inlined {
                    segment: index,
                    when: Box::new(when.clone()),
                },
                _ => Cond::Segment(index),
            }
        }
        Condition::Attribute(attribute) => Cond::Attribute(compile_attribute(attribute, pointer)?),
    })
}

fn compile_attribute(condition: &AttributeCondition, pointer: &str) -> Result<AttrCond, Located> {
    let op = condition.op;
    let path = compile_path(&condition.attr, &format!("{pointer}/attr"))?;
    let value_pointer = format!("{pointer}/value");
    match (op.arity(), &condition.value, &condition.values) {
        (Arity::None, Some(_), _) | (Arity::List, Some(_), _) => {
            return Err(at(
                value_pointer,
                CompileErrorKind::UnexpectedOperand { op, field: "value" },
            ));
        }
        (Arity::None | Arity::One, _, Some(_)) => {
            return Err(at(
                format!("{pointer}/values"),
                CompileErrorKind::UnexpectedOperand {
                    op,
                    field: "values",
                },
            ));
        }
        (Arity::One, None, _) => {
            return Err(at(
                pointer,
                CompileErrorKind::MissingOperand { op, field: "value" },
            ));
        }
        (Arity::List, _, None) => {
            return Err(at(
                pointer,
                CompileErrorKind::MissingOperand {
                    op,
                    field: "values",
                },
            ));
        }
        _ => {}
    }
    let wrong = |expected: &'static str, pointer: &str, found: &Value| {
        at(
            pointer,
            CompileErrorKind::OperandType {
                op,
                expected,
                found: found.to_string(),
            },
        )
    };
    let value = condition.value.as_ref().unwrap_or(&Value::Null);
    let string = || match value {
        Value::String(s) => Ok(s.as_str()),
        other => Err(wrong("a string", &value_pointer, other)),
    };
    let scalar = |value: &Value, pointer: &str| match value {
        Value::String(s) => Ok(Scalar::String(Text::new(s))),
        Value::Number(n) => Ok(Scalar::Number(n.as_f64().unwrap_or(f64::NAN))),
        Value::Bool(b) => Ok(Scalar::Bool(*b)),
        other => Err(wrong("a string, number or boolean", pointer, other)),
    };
    let set = || -> Result<ScalarSet, Located> {
        let mut strings = Vec::new();
        let mut numbers = Vec::new();
        let mut bools = Vec::new();
        for (index, item) in condition.values.iter().flatten().enumerate() {
            let pointer = format!("{pointer}/values/{index}");
            match item {
                Value::String(s) => strings.push(Box::<str>::from(s.as_str())),
                Value::Number(n) => numbers.push(n.as_f64().unwrap_or(f64::NAN)),
                Value::Bool(b) => bools.push(*b),
                other => return Err(wrong("a string, number or boolean", &pointer, other)),
            }
        }
        Ok(ScalarSet {
            strings: StringSet::new(strings),
            others: (!numbers.is_empty() || !bools.is_empty()).then(|| {
                Box::new(Others {
                    numbers: numbers.into_boxed_slice(),
                    bools: bools.into_boxed_slice(),
                })
            }),
        })
    };
    let number = |compare| match value {
        Value::Number(n) => Ok(Test::Number(compare, n.as_f64().unwrap_or(f64::NAN))),
        other => Err(wrong("a number", &value_pointer, other)),
    };
    let semver = |compare| match value {
        Value::String(text) => OwnedVersion::parse(text)
            .map(|version| Test::Semver(compare, version))
            .ok_or_else(|| {
                at(
                    value_pointer.as_str(),
                    CompileErrorKind::Semver(text.clone()),
                )
            }),
        other => Err(wrong(
            "a version string (quoted, so `1.10` stays `1.10`)",
            &value_pointer,
            other,
        )),
    };
    let time = |before| match value {
        Value::String(text) => text
            .trim()
            .parse::<jiff::Timestamp>()
            .map(|time| Test::Time(before, time.as_nanosecond()))
            .map_err(|source| {
                at(
                    value_pointer.as_str(),
                    CompileErrorKind::Time {
                        time: text.clone(),
                        source,
                    },
                )
            }),
        other => Err(wrong("an RFC 3339 time string", &value_pointer, other)),
    };
    let test = match op {
        Operator::Exists => Test::Exists,
        Operator::Eq | Operator::Neq => {
            let negate = op == Operator::Neq;
            match scalar(value, &value_pointer)? {
                Scalar::String(Text::Word(word)) => Test::EqWord(word, negate),
                scalar if negate => Test::Neq(scalar),
                scalar => Test::Eq(scalar),
            }
        }
        Operator::In | Operator::NotIn => {
            let negate = op == Operator::NotIn;
            let set = set()?;
            let words: Option<Box<[u64]>> = match (&set.strings, &set.others) {
                (StringSet::Few(strings), None) if !strings.is_empty() => strings
                    .iter()
                    .map(|text| match text {
                        Text::Word(word) => Some(*word),
                        Text::Inline { .. } | Text::Heap(_) => None,
                    })
                    .collect(),
                _ => None,
            };
            match words {
                Some(words) if words.len() <= 4 => {
                    // Unused slots repeat the first word.
                    let first = words.first().copied().unwrap_or_default();
                    let mut few = [first; 4];
                    for (slot, word) in few.iter_mut().zip(words.iter()) {
                        *slot = *word;
                    }
                    Test::InFewWords(few, negate)
                }
                Some(words) => Test::InWords(words, negate),
                None if negate => Test::NotIn(set),
                None => Test::In(set),
            }
        }
        Operator::Contains => Test::Contains(string()?.into()),
        Operator::StartsWith => Test::StartsWith(string()?.into()),
        Operator::EndsWith => Test::EndsWith(string()?.into()),
        Operator::Matches => {
            let pattern = string()?;
            Test::Matches(Pattern::new(pattern).map_err(|source| {
                at(
                    value_pointer.as_str(),
                    CompileErrorKind::Regex {
                        pattern: pattern.to_owned(),
                        source,
                    },
                )
            })?)
        }
        Operator::Lt => number(Compare::Lt)?,
        Operator::Lte => number(Compare::Lte)?,
        Operator::Gt => number(Compare::Gt)?,
        Operator::Gte => number(Compare::Gte)?,
        Operator::SemverEq => semver(Compare::Eq)?,
        Operator::SemverLt => semver(Compare::Lt)?,
        Operator::SemverLte => semver(Compare::Lte)?,
        Operator::SemverGt => semver(Compare::Gt)?,
        Operator::SemverGte => semver(Compare::Gte)?,
        Operator::Before => time(true)?,
        Operator::After => time(false)?,
    };
    let operand = match op.arity() {
        Arity::None => None,
        Arity::One => condition.value.clone(),
        Arity::List => condition.values.clone().map(Value::Array),
    };
    Ok(AttrCond {
        path,
        test,
        source: Box::new(AttrSource {
            attr: condition.attr.as_str().into(),
            op,
            operand,
        }),
    })
}
