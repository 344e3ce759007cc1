//! The compiled form of flags, rules, conditions and segments, and the
//! per-condition tests that run at evaluation time.
//!
//! Everything here is built once by [`super::compile`] and only read
//! afterwards: attribute names are pre-hashed, operands pre-parsed, segments
//! resolved to indices, rollout weights turned into cumulative ranges. Nothing
//! here allocates, locks or panics when evaluating.

use rustc_hash::{FxHashMap, FxHashSet};
use serde_json::Value;

use super::bucketing::BucketingSalt;
use super::context::{Actual, AttributeValue, Context, name_key, same_bytes};
use super::evaluation::ErrorCode;
use super::fast::FastAll;
use super::pattern::Pattern;
use super::time::{self, Nanos};
use super::version::{self, OwnedVersion};
use crate::model::{FlagType, Operator};

/// One flag, ready to evaluate.
#[derive(Debug)]
pub(crate) struct CompiledFlag {
    /// Position in the snapshot's sorted flag keys.
    pub(crate) index: u32,
    pub(crate) key: Box<str>,
    pub(crate) kind: FlagType,
    pub(crate) enabled: bool,
    pub(crate) off_variant: Option<u32>,
    pub(crate) variants: Box<[CompiledVariant]>,
    pub(crate) salt: BucketingSalt,
    /// Targeting key to variant index; `None` when the flag targets nobody.
    pub(crate) targets: Option<Box<FxHashMap<Box<str>, u32>>>,
    pub(crate) rules: Box<[CompiledRule]>,
    pub(crate) default: CompiledServe,
}

/// A variant: its name, its value and its counter slot in the snapshot.
#[derive(Debug)]
pub(crate) struct CompiledVariant {
    pub(crate) name: Box<str>,
    pub(crate) value: Value,
    pub(crate) slot: u32,
}

#[derive(Debug)]
pub(crate) struct CompiledRule {
    pub(crate) name: Option<Box<str>>,
    pub(crate) when: Cond,
    /// `when` in the hot path's form, when it has one.
    pub(crate) fast: Option<FastAll>,
    pub(crate) serve: CompiledServe,
}

#[derive(Debug)]
pub(crate) enum CompiledServe {
    /// A variant index.
    Variant(u32),
    Rollout(CompiledRollout),
}

#[derive(Debug)]
pub(crate) struct CompiledRollout {
    pub(crate) by: AttrPath,
    /// `by` as written (`key` when absent), for explanations.
    pub(crate) by_name: Box<str>,
    /// Cumulative ranges in declared order: the variant of the first range
    /// whose end is above the bucket is served.
    pub(crate) ranges: Ranges,
    pub(crate) experiment: Option<Box<str>>,
}

/// A rollout's ranges, inline for up to three variants.
#[derive(Debug)]
pub(crate) enum Ranges {
    Inline { ranges: [Range; 3], len: u8 },
    Heap(Box<[Range]>),
}

impl Ranges {
    pub(crate) fn new(ranges: Vec<Range>) -> Ranges {
        // Past every bucket, so that `find` never counts it.
        let filler = Range {
            end: u32::MAX,
            variant: 0,
        };
        match (u8::try_from(ranges.len()), ranges.as_slice()) {
            (Ok(len), [a]) => Ranges::Inline {
                ranges: [*a, filler, filler],
                len,
            },
            (Ok(len), [a, b]) => Ranges::Inline {
                ranges: [*a, *b, filler],
                len,
            },
            (Ok(len), [a, b, c]) => Ranges::Inline {
                ranges: [*a, *b, *c],
                len,
            },
            _ => Ranges::Heap(ranges.into_boxed_slice()),
        }
    }

    /// The range of `bucket`: the first whose end is above it (the last one
    /// if none is). Inline ranges are counted without branches, since which
    /// one a user falls in is as random as the bucket.
    #[inline(always)]
    pub(crate) fn find(&self, bucket: u32) -> Option<&Range> {
        match self {
            Ranges::Inline { ranges, len } => {
                let below = ranges
                    .iter()
                    .map(|range| u8::from(range.end <= bucket))
                    .sum::<u8>();
                ranges.get(usize::from(below.min(len.checked_sub(1)?)))
            }
            Ranges::Heap(ranges) => ranges
                .iter()
                .find(|range| bucket < range.end)
                .or(ranges.last()),
        }
    }

    #[inline(always)]
    pub(crate) fn as_slice(&self) -> &[Range] {
        match self {
            Ranges::Inline { ranges, len } => ranges.get(..usize::from(*len)).unwrap_or_default(),
            Ranges::Heap(ranges) => ranges,
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Range {
    /// Exclusive end, in buckets (`0..=100000`).
    pub(crate) end: u32,
    pub(crate) variant: u32,
}

/// A segment, ready to evaluate.
#[derive(Debug)]
pub(crate) struct CompiledSegment {
    pub(crate) name: Box<str>,
    pub(crate) include: Option<Box<FxHashSet<Box<str>>>>,
    pub(crate) exclude: Option<Box<FxHashSet<Box<str>>>>,
    pub(crate) when: Option<Cond>,
}

/// A condition.
#[derive(Clone, Debug)]
pub(crate) enum Cond {
    All(Box<[Cond]>),
    Any(Box<[Cond]>),
    Not(Box<Cond>),
    /// An index into the snapshot's segments.
    Segment(u32),
    /// A segment with only a condition, copied into the flag (the index
    /// names it in explanations).
    Inlined {
        segment: u32,
        when: Box<Cond>,
    },
    /// Inline, so that testing an attribute follows no pointer.
    Attribute(AttrCond),
}

impl Cond {
    /// The number of nodes, to keep copies of segments small.
    pub(crate) fn size(&self) -> usize {
        match self {
            Cond::All(items) | Cond::Any(items) => items
                .iter()
                .fold(1, |sum, item| sum.saturating_add(item.size())),
            Cond::Not(inner) | Cond::Inlined { when: inner, .. } => inner.size().saturating_add(1),
            Cond::Segment(_) | Cond::Attribute(_) => 1,
        }
    }
}

/// How many bytes [`Text`] keeps inline.
const INLINE: usize = 22;

/// A string compared at evaluation time, in the form context values come
/// in (see [`Actual`]): packed into a word when at most 7 bytes long, else
/// inline when short, so that comparing it reads the condition's own cache
/// line.
#[derive(Clone, Debug)]
pub(crate) enum Text {
    Word(u64),
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Box<str>),
}

impl Text {
    pub(crate) fn new(text: &str) -> Text {
        if text.len() <= 7 {
            return Text::Word(name_key(text.as_bytes()));
        }
        let mut bytes = [0; INLINE];
        match (u8::try_from(text.len()), bytes.get_mut(..text.len())) {
            (Ok(len), Some(prefix)) => {
                prefix.copy_from_slice(text.as_bytes());
                Text::Inline { len, bytes }
            }
            _ => Text::Heap(text.into()),
        }
    }

    /// The bytes of a text longer than 7 bytes (empty for a word).
    #[inline(always)]
    pub(crate) fn long_bytes(&self) -> &[u8] {
        match self {
            Text::Word(_) => &[],
            Text::Inline { len, bytes } => bytes.get(..usize::from(*len)).unwrap_or_default(),
            Text::Heap(text) => text.as_bytes(),
        }
    }

    /// Whether a context string is this text.
    #[inline(always)]
    pub(crate) fn is(&self, actual: Actual<'_>) -> bool {
        match (self, actual) {
            (Text::Word(word), Actual::Word(other)) => *word == other,
            (Text::Inline { .. } | Text::Heap(_), Actual::Str(bytes)) => {
                same_bytes(self.long_bytes(), bytes)
            }
            _ => false,
        }
    }
}

/// One part of a dotted attribute name, with its lookup key.
#[derive(Clone, Debug)]
pub(crate) struct PathPart {
    pub(crate) key: u64,
    pub(crate) name: Text,
}

/// Where a condition or rollout reads its value.
#[derive(Clone, Debug)]
pub(crate) enum AttrPath {
    /// The targeting key (`attr: key`).
    Key,
    /// A top-level attribute.
    Attribute(PathPart),
    /// A nested attribute (`address.country`): at least two parts.
    Nested(Box<[PathPart]>),
}

impl AttrPath {
    /// The value at this path, `None` when absent (an empty targeting key is
    /// absent).
    #[inline(always)]
    pub(crate) fn resolve<'c>(&self, context: &'c Context) -> Option<Actual<'c>> {
        match self {
            AttrPath::Key => {
                let key = context.targeting_key();
                (!key.is_empty()).then(|| Actual::string(key.as_bytes()))
            }
            AttrPath::Attribute(part) => {
                context.attributes().find(part.key, part.name.long_bytes())
            }
            AttrPath::Nested(parts) => {
                let (first, rest) = parts.split_first()?;
                let mut value = context
                    .attributes()
                    .find(first.key, first.name.long_bytes())?;
                for part in rest {
                    let Actual::Map(map) = value else {
                        return None;
                    };
                    value = map.find(part.key, part.name.long_bytes())?;
                }
                Some(value)
            }
        }
    }
}

/// `{ attr, op, value(s) }`, compiled.
#[derive(Clone, Debug)]
pub(crate) struct AttrCond {
    pub(crate) path: AttrPath,
    pub(crate) test: Test,
    /// What explanations show, out of the way.
    pub(crate) source: Box<AttrSource>,
}

/// An attribute condition as written.
#[derive(Clone, Debug)]
pub(crate) struct AttrSource {
    pub(crate) attr: Box<str>,
    pub(crate) op: Operator,
    pub(crate) operand: Option<Value>,
}

#[derive(Clone, Debug)]
pub(crate) enum Scalar {
    String(Text),
    Number(f64),
    Bool(bool),
}

/// Up to this many strings, `in` compares one by one; beyond, it hashes.
const FEW_STRINGS: usize = 8;

#[derive(Clone, Debug)]
pub(crate) enum StringSet {
    Few(Box<[Text]>),
    Many(Box<FxHashSet<Box<str>>>),
}

impl StringSet {
    pub(crate) fn new(strings: Vec<Box<str>>) -> StringSet {
        if strings.len() <= FEW_STRINGS {
            StringSet::Few(strings.iter().map(|s| Text::new(s)).collect())
        } else {
            StringSet::Many(Box::new(strings.into_iter().collect()))
        }
    }

    fn is_empty(&self) -> bool {
        match self {
            StringSet::Few(strings) => strings.is_empty(),
            StringSet::Many(strings) => strings.is_empty(),
        }
    }

    #[inline]
    fn contains(&self, needle: Actual<'_>) -> bool {
        match self {
            StringSet::Few(strings) => strings.iter().any(|s| s.is(needle)),
            StringSet::Many(strings) => {
                let mut buffer = [0; 8];
                needle
                    .bytes(&mut buffer)
                    .and_then(|bytes| std::str::from_utf8(bytes).ok())
                    .is_some_and(|needle| strings.contains(needle))
            }
        }
    }
}

/// The operands of `in` / `not_in`, split by type.
#[derive(Clone, Debug)]
pub(crate) struct ScalarSet {
    pub(crate) strings: StringSet,
    /// Numbers and booleans, rarer, out of the way.
    pub(crate) others: Option<Box<Others>>,
}

/// The numbers and booleans of an `in` list.
#[derive(Clone, Debug)]
pub(crate) struct Others {
    pub(crate) numbers: Box<[f64]>,
    pub(crate) bools: Box<[bool]>,
}

impl ScalarSet {
    /// Whether the set holds `actual`; an error when it holds values, but
    /// none of `actual`'s type.
    #[inline]
    fn contains(&self, actual: Actual<'_>) -> Result<bool, ErrorCode> {
        let (numbers, bools): (&[f64], &[bool]) = match &self.others {
            Some(others) => (&others.numbers, &others.bools),
            None => (&[], &[]),
        };
        match actual {
            Actual::Word(_) | Actual::Str(_) if !self.strings.is_empty() => {
                Ok(self.strings.contains(actual))
            }
            Actual::Number(n) if !numbers.is_empty() => Ok(numbers.contains(&n)),
            Actual::Bool(b) if !bools.is_empty() => Ok(bools.contains(&b)),
            // Nothing is in an empty list, whatever its type.
            _ if self.strings.is_empty() && numbers.is_empty() && bools.is_empty() => Ok(false),
            _ => Err(ErrorCode::AttributeTypeMismatch),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Compare {
    Eq,
    Lt,
    Lte,
    Gt,
    Gte,
}

impl Compare {
    #[inline]
    pub(crate) fn holds(self, ordering: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::{Equal, Greater, Less};
        match self {
            Compare::Eq => ordering == Equal,
            Compare::Lt => ordering == Less,
            Compare::Lte => ordering != Greater,
            Compare::Gt => ordering == Greater,
            Compare::Gte => ordering != Less,
        }
    }
}

/// What an attribute condition tests, with pre-parsed operands.
#[derive(Clone, Debug)]
pub(crate) enum Test {
    Exists,
    /// `eq` (or, negated, `neq`) a string of at most 7 bytes: one integer
    /// comparison.
    EqWord(u64, bool),
    /// `in` (or, negated, `not_in`) up to four strings of at most 7 bytes
    /// each, inline (unused slots repeat the first).
    InFewWords([u64; 4], bool),
    /// `in` (or, negated, `not_in`) strings of at most 7 bytes each.
    InWords(Box<[u64]>, bool),
    Eq(Scalar),
    Neq(Scalar),
    In(ScalarSet),
    NotIn(ScalarSet),
    Contains(Box<str>),
    StartsWith(Box<str>),
    EndsWith(Box<str>),
    Matches(Pattern),
    Number(Compare, f64),
    Semver(Compare, OwnedVersion),
    /// `true` for `before`, `false` for `after`.
    Time(bool, Nanos),
}

#[inline]
fn scalar_eq(scalar: &Scalar, actual: Actual<'_>) -> Result<bool, ErrorCode> {
    match (scalar, actual) {
        (Scalar::String(expected), Actual::Word(_) | Actual::Str(_)) => Ok(expected.is(actual)),
        (Scalar::Number(expected), Actual::Number(n)) => Ok(*expected == n),
        (Scalar::Bool(expected), Actual::Bool(b)) => Ok(*expected == b),
        _ => Err(ErrorCode::AttributeTypeMismatch),
    }
}

/// The bytes of a context string as `str`; they came from one, so this only
/// fails if something is very wrong.
#[inline]
fn text(bytes: &[u8]) -> Result<&str, ErrorCode> {
    std::str::from_utf8(bytes).map_err(|_| ErrorCode::General)
}

impl Test {
    /// Applies the test to a context value; a missing value matches nothing
    /// but `exists`' negation, a value of the wrong type is an error.
    #[inline(always)]
    pub(crate) fn apply(&self, actual: Option<Actual<'_>>) -> Result<bool, ErrorCode> {
        let Some(actual) = actual else {
            return Ok(false);
        };
        let mut buffer = [0; 8];
        match self {
            Test::Exists => Ok(true),
            Test::EqWord(word, negate) => match actual {
                Actual::Word(other) => Ok((*word == other) != *negate),
                // Longer than any word.
                Actual::Str(_) => Ok(*negate),
                _ => Err(ErrorCode::AttributeTypeMismatch),
            },
            Test::InFewWords(words, negate) => match actual {
                // Without branches: whether the value is one of them is
                // what the condition asks, so it is not predictable.
                Actual::Word(other) => Ok(words
                    .iter()
                    .fold(false, |found, word| found | (*word == other))
                    != *negate),
                Actual::Str(_) => Ok(*negate),
                _ => Err(ErrorCode::AttributeTypeMismatch),
            },
            Test::InWords(words, negate) => match actual {
                Actual::Word(other) => Ok(words.contains(&other) != *negate),
                Actual::Str(_) => Ok(*negate),
                _ => Err(ErrorCode::AttributeTypeMismatch),
            },
            Test::Eq(expected) => scalar_eq(expected, actual),
            Test::Neq(expected) => scalar_eq(expected, actual).map(|equal| !equal),
            Test::In(set) => set.contains(actual),
            Test::NotIn(set) => set.contains(actual).map(|found| !found),
            Test::Contains(needle) => match actual {
                Actual::List(items) => Ok(items
                    .iter()
                    .any(|item| matches!(item, AttributeValue::String(s) if **s == **needle))),
                _ => match actual.bytes(&mut buffer) {
                    Some(s) => Ok(text(s)?.contains(&**needle)),
                    None => Err(ErrorCode::AttributeTypeMismatch),
                },
            },
            Test::StartsWith(prefix) => match actual.bytes(&mut buffer) {
                Some(s) => Ok(s.starts_with(prefix.as_bytes())),
                None => Err(ErrorCode::AttributeTypeMismatch),
            },
            Test::EndsWith(suffix) => match actual.bytes(&mut buffer) {
                Some(s) => Ok(s.ends_with(suffix.as_bytes())),
                None => Err(ErrorCode::AttributeTypeMismatch),
            },
            Test::Matches(pattern) => match actual.bytes(&mut buffer) {
                Some(s) => Ok(pattern.is_match(text(s)?)),
                None => Err(ErrorCode::AttributeTypeMismatch),
            },
            Test::Number(compare, expected) => match actual {
                Actual::Number(n) => Ok(n.partial_cmp(expected).is_some_and(|o| compare.holds(o))),
                _ => Err(ErrorCode::AttributeTypeMismatch),
            },
            Test::Semver(compare, expected) => match actual.bytes(&mut buffer) {
                Some(s) => match version::parse(text(s)?) {
                    Some(version) => Ok(compare.holds(version.precedence(&expected.as_version()))),
                    None => Err(ErrorCode::InvalidAttributeValue),
                },
                None => Err(ErrorCode::AttributeTypeMismatch),
            },
            Test::Time(before, expected) => {
                let nanos = match actual {
                    Actual::Number(seconds) => time::from_unix_seconds(seconds),
                    _ => match actual.bytes(&mut buffer) {
                        Some(s) => time::parse_rfc3339(text(s)?),
                        None => return Err(ErrorCode::AttributeTypeMismatch),
                    },
                };
                match nanos {
                    Some(nanos) if *before => Ok(nanos < *expected),
                    Some(nanos) => Ok(nanos > *expected),
                    None => Err(ErrorCode::InvalidAttributeValue),
                }
            }
        }
    }
}

/// A number as the text a rollout hashes: integers in decimal, written into
/// `buffer`; `None` for fractions and numbers beyond ±2^53.
pub(crate) fn integer_text(number: f64, buffer: &mut [u8; 20]) -> Option<&str> {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    if number.fract() != 0.0 || !(-EXACT..=EXACT).contains(&number) {
        return None;
    }
    // Exact: an integer within ±2^53.
    let integer = number as i64;
    let mut magnitude = integer.unsigned_abs();
    let mut start = buffer.len();
    loop {
        start = start.checked_sub(1)?;
        let digit = u8::try_from(magnitude % 10).ok()?;
        *buffer.get_mut(start)? = b'0' + digit;
        magnitude /= 10;
        if magnitude == 0 {
            break;
        }
    }
    if integer < 0 {
        start = start.checked_sub(1)?;
        *buffer.get_mut(start)? = b'-';
    }
    std::str::from_utf8(buffer.get(start..)?).ok()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::Just;

    use super::*;

    #[test]
    fn integers_as_text() {
        let mut buffer = [0; 20];
        assert_eq!(integer_text(0.0, &mut buffer), Some("0"));
        assert_eq!(integer_text(42.0, &mut buffer), Some("42"));
        assert_eq!(integer_text(-7.0, &mut buffer), Some("-7"));
        assert_eq!(
            integer_text(9_007_199_254_740_992.0, &mut buffer),
            Some("9007199254740992")
        );
        assert_eq!(
            integer_text(-9_007_199_254_740_992.0, &mut buffer),
            Some("-9007199254740992")
        );
        assert_eq!(integer_text(1.5, &mut buffer), None);
        assert_eq!(integer_text(f64::NAN, &mut buffer), None);
        assert_eq!(integer_text(f64::INFINITY, &mut buffer), None);
        assert_eq!(integer_text(1e300, &mut buffer), None);
    }

    proptest::proptest! {
        /// Counting the ranges below the bucket finds what the first range
        /// whose end is above it finds (else the last), for any weights,
        /// zero weights included, inline or not.
        #[test]
        fn ranges_find_the_first_range_ending_above_the_bucket(
            weights in proptest::collection::vec(
                proptest::prop_oneof![Just(0u32), 0u32..=100_000], 0..6),
            bucket in proptest::prop_oneof![0u32..100_000, Just(0), Just(99_999), Just(100_000)],
        ) {
            let mut end = 0u32;
            let ranges: Vec<Range> = (0u32..)
                .zip(&weights)
                .map(|(variant, weight)| {
                    end = end.saturating_add(*weight);
                    Range { end, variant }
                })
                .collect();
            let expected = ranges
                .iter()
                .find(|range| bucket < range.end)
                .or(ranges.last())
                .map(|range| (range.end, range.variant));
            let found = Ranges::new(ranges).find(bucket).map(|range| (range.end, range.variant));
            proptest::prop_assert_eq!(found, expected);
        }
    }
}
