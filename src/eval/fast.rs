//! The hot path's form of the commonest rule conditions: an attribute test,
//! or `all` of attribute tests (segments copied into the flag included),
//! each a cheap comparison of a top-level attribute.
//!
//! [`FastAll`] tests the value cells of a context's attribute table
//! directly: `plan == enterprise` compares the 16 bytes of the `plan` cell
//! with the cell `enterprise` would be in, `country in [DE, FR, NL]` the
//! cell's packed word with three words. It skips the general walk of
//! [`super::engine`] (a call per condition, a dispatch on the condition,
//! on the value's type and on the operator), which for such conditions
//! costs more than the tests themselves.
//!
//! The outcome is always the general walk's. When a test meets a value of a
//! type it does not expect (a number where a string was asked for), which
//! the general walk records as an error if `all` gets that far, [`FastAll`]
//! answers `None` and the caller runs the general walk, which decides and
//! records. Such a context (a value of the wrong type, which is the
//! caller's mistake) costs both walks. Every test runs, where `all`
//! stops at the first that fails: the tests are pure and cheap, so only the
//! time differs. A property test compares the two on random conditions and
//! contexts.

use super::compiled::{AttrCond, AttrPath, Compare, Cond, Scalar, Test, Text};
use super::context::{
    Cell, CellKind, Context, cell_kind, holds_string, packed_word, short_string_cell,
};

/// A rule condition in the hot path's form (see the module documentation).
#[derive(Clone, Debug)]
pub(crate) struct FastAll {
    tests: Box<[FastTest]>,
}

/// One attribute test.
#[derive(Clone, Debug)]
struct FastTest {
    /// The attribute name's lookup key and, for a hashed key, the name.
    key: u64,
    name: Text,
    op: FastOp,
}

#[derive(Clone, Debug)]
enum FastOp {
    Exists,
    /// `eq` (or, negated, `neq`) a string of up to 15 bytes, as the cell
    /// that holds it.
    String {
        cell: Cell,
        negate: bool,
    },
    /// `in` (or `not_in`) up to four strings of up to 7 bytes, packed.
    Words {
        words: [u64; 4],
        negate: bool,
    },
    /// `eq` a boolean.
    Bool(bool),
    /// `eq`, `lt`, `lte`, `gt`, `gte` a number.
    Number(Compare, f64),
}

impl FastAll {
    /// The fast form of `when`, if every part of it has one.
    pub(crate) fn of(when: &Cond) -> Option<FastAll> {
        let mut tests = Vec::new();
        collect(when, &mut tests)?;
        Some(FastAll {
            tests: tests.into_boxed_slice(),
        })
    }

    /// Whether the condition matches `context`; `None` when the general
    /// walk must decide, because a value has a type a test does not expect.
    #[inline(always)]
    pub(crate) fn matches(&self, context: &Context) -> Option<bool> {
        // Every test runs and the results are combined without branches:
        // whether a user matches each is as unpredictable as the user, and
        // a mispredicted branch costs more than the few tests a rule has.
        // The branches left (is the attribute there, is it of the type the
        // test expects) take the same way for nearly every user.
        let attributes = context.attributes();
        let mut all = true;
        for test in &self.tests {
            match attributes.find_cell(test.key, test.name.long_bytes()) {
                // A missing attribute matches no test.
                None => all = false,
                Some(cell) => all &= test.op.check(cell)?,
            }
        }
        Some(all)
    }
}

/// Appends the tests of `when` to `tests`, in evaluation order; `None` when
/// some part has no fast form.
fn collect(when: &Cond, tests: &mut Vec<FastTest>) -> Option<()> {
    match when {
        Cond::Attribute(test) => tests.push(FastTest::of(test)?),
        Cond::All(items) => {
            for item in items {
                collect(item, tests)?;
            }
        }
        Cond::Inlined { when, .. } => collect(when, tests)?,
        Cond::Any(_) | Cond::Not(_) | Cond::Segment(_) => return None,
    }
    Some(())
}

impl FastTest {
    fn of(condition: &AttrCond) -> Option<FastTest> {
        let AttrPath::Attribute(part) = &condition.path else {
            return None;
        };
        let op = match &condition.test {
            Test::Exists => FastOp::Exists,
            Test::EqWord(word, negate) => FastOp::String {
                cell: word_cell(*word)?,
                negate: *negate,
            },
            Test::Eq(Scalar::String(text)) => FastOp::String {
                cell: text_cell(text)?,
                negate: false,
            },
            Test::Neq(Scalar::String(text)) => FastOp::String {
                cell: text_cell(text)?,
                negate: true,
            },
            Test::InFewWords(words, negate) => FastOp::Words {
                words: *words,
                negate: *negate,
            },
            Test::Eq(Scalar::Bool(expected)) => FastOp::Bool(*expected),
            Test::Eq(Scalar::Number(expected)) => FastOp::Number(Compare::Eq, *expected),
            Test::Number(compare, expected) => FastOp::Number(*compare, *expected),
            _ => return None,
        };
        Some(FastTest {
            key: part.key,
            name: part.name.clone(),
            op,
        })
    }
}

/// The cell of a string packed into a word (its bytes, then its length in
/// the top byte).
fn word_cell(word: u64) -> Option<Cell> {
    let bytes = word.to_le_bytes();
    let len = usize::from(bytes[7]);
    short_string_cell(std::str::from_utf8(bytes.get(..len)?).ok()?)
}

fn text_cell(text: &Text) -> Option<Cell> {
    match text {
        Text::Word(word) => word_cell(*word),
        Text::Inline { .. } | Text::Heap(_) => {
            short_string_cell(std::str::from_utf8(text.long_bytes()).ok()?)
        }
    }
}

impl FastOp {
    /// Whether the test holds for the value in `cell`; `None` for a value
    /// of a type the test does not expect.
    #[inline(always)]
    fn check(&self, cell: &Cell) -> Option<bool> {
        match self {
            // Any value, a list or a map included, exists.
            FastOp::Exists => Some(true),
            FastOp::String {
                cell: expected,
                negate,
            } => holds_string(cell).then(|| (cell == expected) != *negate),
            FastOp::Words { words, negate } => holds_string(cell).then(|| {
                let (packed, word) = packed_word(cell);
                let found = words
                    .iter()
                    .fold(false, |found, candidate| found | (*candidate == word));
                (packed & found) != *negate
            }),
            FastOp::Bool(expected) => match cell_kind(cell) {
                CellKind::Bool(value) => Some(value == *expected),
                _ => None,
            },
            FastOp::Number(compare, expected) => match cell_kind(cell) {
                CellKind::Number(value) => Some(
                    value
                        .partial_cmp(expected)
                        .is_some_and(|ordering| compare.holds(ordering)),
                ),
                _ => None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::{Value, json};

    use crate::eval::explain::ExplainedResult;
    use crate::eval::{AttributeValue, Context, Snapshot};
    use crate::model::ResolvedEnvironment;

    /// A snapshot of flag `f`, whose only rule serves `on` when `when`
    /// matches, and of a small segment `eu` (copied into flags that name it).
    fn snapshot(when: &Value) -> Snapshot {
        let environment: ResolvedEnvironment = serde_json::from_value(json!({
            "environment": "prod", "bucketing": "v1",
            "segments": {"eu": {"name": "eu", "when":
                {"attr": "country", "op": "in", "values": ["DE", "FR", "NL"]}}},
            "flags": {"f": {"key": "f", "type": "boolean",
                "rules": [{"when": when, "serve": "on"}], "default": "off"}},
        }))
        .expect("an environment");
        Snapshot::compile(&environment, "r1").expect("compiles")
    }

    fn has_fast_form(when: &Value) -> bool {
        snapshot(when)
            .compiled("f")
            .and_then(|flag| flag.rules.first())
            .is_some_and(|rule| rule.fast.is_some())
    }

    #[test]
    fn cheap_tests_of_top_level_attributes_have_a_fast_form() {
        for when in [
            json!({"attr": "plan", "op": "eq", "value": "enterprise"}),
            json!({"attr": "plan", "op": "neq", "value": "pro"}),
            json!({"all": [
                {"attr": "country", "op": "in", "values": ["DE", "FR", "NL"]},
                {"attr": "plan", "op": "eq", "value": "enterprise"},
                {"attr": "seats", "op": "gte", "value": 10},
                {"attr": "seats", "op": "eq", "value": 12},
                {"attr": "beta", "op": "eq", "value": true},
                {"attr": "a_rather_long_attribute_name", "op": "exists"},
            ]}),
            json!({"segment": "eu"}),
            json!({"all": [{"segment": "eu"}, {"attr": "plan", "op": "not_in", "values": ["free"]}]}),
            json!({"all": []}),
        ] {
            assert!(has_fast_form(&when), "{when}");
        }
    }

    #[test]
    fn other_conditions_take_the_general_walk() {
        for when in [
            json!({"any": [{"attr": "plan", "op": "eq", "value": "pro"}]}),
            json!({"not": {"attr": "plan", "op": "eq", "value": "pro"}}),
            json!({"attr": "email", "op": "ends_with", "value": "@example.com"}),
            json!({"attr": "email", "op": "matches", "value": "^a"}),
            json!({"attr": "address.country", "op": "eq", "value": "DE"}),
            json!({"attr": "key", "op": "eq", "value": "user-1"}),
            json!({"attr": "plan", "op": "eq", "value": "a string of more than fifteen bytes"}),
            json!({"attr": "plan", "op": "in", "values": ["enterprise"]}),
            json!({"attr": "beta", "op": "neq", "value": true}),
            json!({"attr": "app", "op": "semver_gte", "value": "1.2"}),
            json!({"all": [
                {"attr": "plan", "op": "eq", "value": "pro"},
                {"attr": "email", "op": "contains", "value": "@"},
            ]}),
        ] {
            assert!(!has_fast_form(&when), "{when}");
        }
    }

    #[test]
    fn a_longer_string_that_starts_like_a_packed_one_is_not_it() {
        // The first 8 bytes of this 11-byte string are the packed word of
        // `DE` (its bytes, zeros, then its length 2).
        let lookalike = Context::new("u").with("country", "DE\0\0\0\0\0\u{2}xyz");
        for (when, served) in [
            (
                json!({"attr": "country", "op": "in", "values": ["DE", "FR"]}),
                "off",
            ),
            (
                json!({"attr": "country", "op": "not_in", "values": ["DE", "FR"]}),
                "on",
            ),
            (json!({"attr": "country", "op": "eq", "value": "DE"}), "off"),
        ] {
            assert!(has_fast_form(&when));
            let snapshot = snapshot(&when);
            assert_eq!(
                snapshot.evaluate("f", &lookalike).variant(),
                Some(served),
                "{when}"
            );
            assert_eq!(
                snapshot.explain("f", &lookalike).result.variant.as_deref(),
                Some(served)
            );
        }
    }

    /// Names of 4, 5, 7, 8 and 28 bytes (the last two hashed).
    const NAMES: [&str; 5] = [
        "plan",
        "seats",
        "browser",
        "platform",
        "a_rather_long_attribute_name",
    ];

    /// Strings of 0 to 16 bytes, with NUL and control bytes, and one whose
    /// first 8 bytes are the packed word of `DE`.
    const STRINGS: [&str; 12] = [
        "",
        "x",
        "DE",
        "DE\0",
        "pro",
        "seven-b",
        "eight-by",
        "enterprise",
        "fifteen-bytes-x",
        "sixteen-bytes-xy",
        "DE\0\0\0\0\0\u{2}xyz",
        "ünï",
    ];

    fn operand() -> impl Strategy<Value = Value> {
        prop_oneof![
            prop::sample::select(STRINGS.to_vec()).prop_map(Value::from),
            prop::sample::select(vec![0.0, -0.0, 10.0, 12.5, -1.0]).prop_map(Value::from),
            any::<bool>().prop_map(Value::from),
        ]
    }

    fn test() -> impl Strategy<Value = Value> {
        let name = prop::sample::select(NAMES.to_vec());
        prop_oneof![
            (name.clone(), operand(), any::<bool>()).prop_map(|(attr, value, negate)| {
                json!({"attr": attr, "op": if negate { "neq" } else { "eq" }, "value": value})
            }),
            (
                name.clone(),
                prop::collection::vec(prop::sample::select(STRINGS.to_vec()), 1..5),
                any::<bool>()
            )
                .prop_map(|(attr, values, negate)| {
                    json!({"attr": attr, "op": if negate { "not_in" } else { "in" },
                       "values": values})
                }),
            (
                name.clone(),
                prop::sample::select(vec!["lt", "lte", "gt", "gte"]),
                prop::sample::select(vec![0.0, -0.0, 10.0, 12.5])
            )
                .prop_map(|(attr, op, value)| json!({"attr": attr, "op": op, "value": value})),
            name.prop_map(|attr| json!({"attr": attr, "op": "exists"})),
            Just(json!({"segment": "eu"})),
        ]
    }

    fn condition() -> impl Strategy<Value = Value> {
        prop_oneof![
            test(),
            prop::collection::vec(test(), 0..5).prop_map(|items| json!({"all": items})),
        ]
    }

    fn value() -> impl Strategy<Value = Option<AttributeValue>> {
        prop::option::of(prop_oneof![
            prop::sample::select(STRINGS.to_vec()).prop_map(AttributeValue::from),
            prop::sample::select(vec![0.0, -0.0, 10.0, 12.5, -1.0, f64::MAX, f64::NAN])
                .prop_map(AttributeValue::Number),
            any::<bool>().prop_map(AttributeValue::Bool),
            Just(AttributeValue::from(["DE", "pro"])),
            Just(AttributeValue::Map(crate::eval::Attributes::new())),
        ])
    }

    fn context() -> impl Strategy<Value = Context> {
        (
            prop::collection::vec(value(), NAMES.len()),
            prop::option::of(prop::sample::select(vec!["DE", "US", "enterprise"])),
            prop::option::of(prop::sample::select(vec!["acme", "globex"])),
            // Enough other attributes for lookups to bisect.
            any::<bool>(),
        )
            .prop_map(|(values, country, company, many)| {
                let mut context = Context::new("user-1");
                for (name, value) in NAMES.iter().zip(values) {
                    if let Some(value) = value {
                        context.set(name, value);
                    }
                }
                if let Some(country) = country {
                    context.set("country", country);
                }
                if let Some(company) = company {
                    context.set("company", company);
                }
                if many {
                    for index in 0..8 {
                        context.set(&format!("other{index}"), index);
                    }
                }
                context
            })
    }

    /// A flag whose first rule, on `first`, rolls out by `company` (which a
    /// context may lack: an error that carries over), and whose second rule
    /// serves on `second`.
    fn two_rules(first: &Value, second: &Value) -> Snapshot {
        let environment: ResolvedEnvironment = serde_json::from_value(json!({
            "environment": "prod", "bucketing": "v1",
            "segments": {"eu": {"name": "eu", "when":
                {"attr": "country", "op": "in", "values": ["DE", "FR", "NL"]}}},
            "flags": {"f": {"key": "f", "type": "string",
                "variants": {"a": "a", "b": "b", "c": "c"},
                "rules": [
                    {"when": first, "serve": {"rollout": {"a": 50, "c": 50}, "by": "company"}},
                    {"when": second, "serve": "b"},
                ],
                "default": "c"}},
        }))
        .expect("an environment");
        Snapshot::compile(&environment, "r1").expect("compiles")
    }

    proptest! {
        /// The fast form decides what the general walk decides, with the
        /// same error; `explain` always takes the general walk.
        #[test]
        fn the_fast_form_agrees_with_the_general_walk(
            first in condition(),
            second in condition(),
            contexts in prop::collection::vec(context(), 1..8),
        ) {
            for snapshot in [snapshot(&first), two_rules(&first, &second)] {
                for context in &contexts {
                    let evaluation = snapshot.evaluate("f", context);
                    let explanation = snapshot.explain("f", context);
                    prop_assert_eq!(
                        &explanation.result,
                        &ExplainedResult::from(&evaluation),
                        "{} then {} on {}", first, second, context
                    );
                }
            }
        }
    }
}
