//! Evaluation semantics, operator by operator and step by step.

use serde_json::{Value, json};

use super::*;
use crate::model::ResolvedEnvironment;

fn environment(flags: Vec<Value>, segments: Vec<Value>) -> ResolvedEnvironment {
    let flags: serde_json::Map<String, Value> = flags
        .into_iter()
        .map(|flag| (flag["key"].as_str().expect("a key").to_owned(), flag))
        .collect();
    let segments: serde_json::Map<String, Value> = segments
        .into_iter()
        .map(|segment| {
            (
                segment["name"].as_str().expect("a name").to_owned(),
                segment,
            )
        })
        .collect();
    serde_json::from_value(json!({
        "environment": "test",
        "bucketing": "v1",
        "flags": flags,
        "segments": segments,
    }))
    .expect("a valid environment")
}

fn compile(flags: Vec<Value>, segments: Vec<Value>) -> Result<Snapshot, CompileError> {
    Snapshot::compile(&environment(flags, segments), "rev-1")
}

fn snapshot(flags: Vec<Value>, segments: Vec<Value>) -> Snapshot {
    compile(flags, segments).expect("compiles")
}

/// A boolean flag `f` whose only rule serves `on` when `when` matches.
fn rule_flag(when: Value) -> Value {
    json!({"key": "f", "type": "boolean", "rules": [{"when": when, "serve": "on"}], "default": "off"})
}

fn staff_segment() -> Value {
    json!({"name": "staff", "include": ["boss"], "exclude": ["intern"],
           "when": {"attr": "email", "op": "ends_with", "value": "@example.com"}})
}

/// Whether `when` matches `context`, and the error recorded.
fn check(when: Value, context: &Context) -> (bool, Option<ErrorCode>) {
    let snapshot = snapshot(vec![rule_flag(when)], vec![staff_segment()]);
    let evaluation = snapshot.evaluate("f", context);
    assert!(matches!(
        evaluation.reason(),
        Reason::RuleMatch | Reason::Default
    ));
    // The explanation always agrees with the evaluation.
    let explanation = snapshot.explain("f", context);
    assert_eq!(explanation.result, ExplainedResult::from(&evaluation));
    (
        evaluation.reason() == Reason::RuleMatch,
        evaluation.error_code(),
    )
}

fn matches(when: Value, context: &Context) -> bool {
    let (matched, error) = check(when.clone(), context);
    assert_eq!(error, None, "{when} on {context}");
    matched
}

fn mismatch(when: Value, context: &Context) -> ErrorCode {
    let (matched, error) = check(when.clone(), context);
    assert!(!matched, "{when} on {context} should not match");
    error.unwrap_or_else(|| panic!("{when} on {context} should record an error"))
}

fn user() -> Context {
    Context::new("user-42")
        .with("country", "DE")
        .with("plan", "enterprise")
        .with("seats", 120)
        .with("ratio", 0.5)
        .with("beta", true)
        .with("email", "ada@example.com")
        .with("groups", ["staff", "testers"])
        .with("version", "v2.3.1")
        .with("signup", "2026-03-01T12:00:00Z")
        .with("signup_unix", 1_772_366_400)
        .with("address.country", "FR")
        .with("address.geo.lat", 48.85)
        .with("empty", "")
}

#[test]
fn eq_and_neq() {
    let u = user();
    assert!(matches(
        json!({"attr": "country", "op": "eq", "value": "DE"}),
        &u
    ));
    assert!(!matches(
        json!({"attr": "country", "op": "eq", "value": "de"}),
        &u
    ));
    assert!(matches(
        json!({"attr": "seats", "op": "eq", "value": 120}),
        &u
    ));
    assert!(matches(
        json!({"attr": "seats", "op": "eq", "value": 120.0}),
        &u
    ));
    assert!(matches(
        json!({"attr": "beta", "op": "eq", "value": true}),
        &u
    ));
    assert!(matches(
        json!({"attr": "empty", "op": "eq", "value": ""}),
        &u
    ));
    assert!(matches(
        json!({"attr": "address.country", "op": "eq", "value": "FR"}),
        &u
    ));
    assert!(matches(
        json!({"attr": "key", "op": "eq", "value": "user-42"}),
        &u
    ));
    assert!(matches(
        json!({"attr": "country", "op": "neq", "value": "FR"}),
        &u
    ));
    assert!(!matches(
        json!({"attr": "country", "op": "neq", "value": "DE"}),
        &u
    ));
    // A missing attribute matches neither eq nor neq.
    assert!(!matches(
        json!({"attr": "missing", "op": "eq", "value": "DE"}),
        &u
    ));
    assert!(!matches(
        json!({"attr": "missing", "op": "neq", "value": "DE"}),
        &u
    ));
    assert!(!matches(
        json!({"attr": "address.missing", "op": "neq", "value": "DE"}),
        &u
    ));
    assert!(!matches(
        json!({"attr": "country.deeper", "op": "eq", "value": "DE"}),
        &u
    ));
    // No coercion between types.
    let e = ErrorCode::AttributeTypeMismatch;
    assert_eq!(
        mismatch(json!({"attr": "seats", "op": "eq", "value": "120"}), &u),
        e
    );
    assert_eq!(
        mismatch(json!({"attr": "beta", "op": "eq", "value": "true"}), &u),
        e
    );
    assert_eq!(
        mismatch(json!({"attr": "groups", "op": "eq", "value": "staff"}), &u),
        e
    );
    assert_eq!(
        mismatch(json!({"attr": "address", "op": "eq", "value": "FR"}), &u),
        e
    );
    assert_eq!(
        mismatch(json!({"attr": "country", "op": "neq", "value": 1}), &u),
        e
    );
}

#[test]
fn in_and_not_in() {
    let u = user();
    assert!(matches(
        json!({"attr": "country", "op": "in", "values": ["DE", "FR", "NL"]}),
        &u
    ));
    assert!(!matches(
        json!({"attr": "country", "op": "in", "values": ["FR", "NL"]}),
        &u
    ));
    assert!(matches(
        json!({"attr": "seats", "op": "in", "values": [1, 120, "x"]}),
        &u
    ));
    assert!(matches(
        json!({"attr": "beta", "op": "in", "values": [true]}),
        &u
    ));
    assert!(matches(
        json!({"attr": "country", "op": "not_in", "values": ["FR", "NL"]}),
        &u
    ));
    assert!(!matches(
        json!({"attr": "country", "op": "not_in", "values": ["DE"]}),
        &u
    ));
    // Many values go through a hash set.
    let many: Vec<String> = (0..100)
        .map(|i| format!("C{i}"))
        .chain(["DE".to_owned()])
        .collect();
    assert!(matches(
        json!({"attr": "country", "op": "in", "values": many}),
        &u
    ));
    let many: Vec<String> = (0..100).map(|i| format!("C{i}")).collect();
    assert!(!matches(
        json!({"attr": "country", "op": "in", "values": many.clone()}),
        &u
    ));
    assert!(matches(
        json!({"attr": "country", "op": "not_in", "values": many}),
        &u
    ));
    // Short strings: up to four inline, more in a list, the empty string too.
    assert!(matches(
        json!({"attr": "empty", "op": "in", "values": ["", "DE"]}),
        &u
    ));
    assert!(!matches(
        json!({"attr": "empty", "op": "in", "values": ["DE", "FR"]}),
        &u
    ));
    let six = json!(["AT", "BE", "CH", "DE", "ES", "FI"]);
    assert!(matches(
        json!({"attr": "country", "op": "in", "values": six.clone()}),
        &u
    ));
    assert!(!matches(
        json!({"attr": "country", "op": "not_in", "values": six}),
        &u
    ));
    assert!(!matches(
        json!({"attr": "email", "op": "in", "values": ["AT", "BE", "CH", "DE", "ES"]}),
        &u
    ));
    // Nothing is in an empty list.
    assert!(!matches(
        json!({"attr": "country", "op": "in", "values": []}),
        &u
    ));
    assert!(matches(
        json!({"attr": "groups", "op": "not_in", "values": []}),
        &u
    ));
    assert!(!matches(
        json!({"attr": "missing", "op": "in", "values": ["DE"]}),
        &u
    ));
    assert!(!matches(
        json!({"attr": "missing", "op": "not_in", "values": ["DE"]}),
        &u
    ));
    let e = ErrorCode::AttributeTypeMismatch;
    assert_eq!(
        mismatch(json!({"attr": "seats", "op": "in", "values": ["120"]}), &u),
        e
    );
    assert_eq!(
        mismatch(
            json!({"attr": "groups", "op": "in", "values": ["staff"]}),
            &u
        ),
        e
    );
    assert_eq!(
        mismatch(
            json!({"attr": "seats", "op": "not_in", "values": ["1"]}),
            &u
        ),
        e
    );
}

#[test]
fn string_operators() {
    let u = user();
    assert!(matches(
        json!({"attr": "email", "op": "contains", "value": "@example"}),
        &u
    ));
    assert!(matches(
        json!({"attr": "email", "op": "contains", "value": ""}),
        &u
    ));
    assert!(!matches(
        json!({"attr": "email", "op": "contains", "value": "@acme"}),
        &u
    ));
    assert!(matches(
        json!({"attr": "groups", "op": "contains", "value": "staff"}),
        &u
    ));
    assert!(!matches(
        json!({"attr": "groups", "op": "contains", "value": "sta"}),
        &u
    ));
    assert!(matches(
        json!({"attr": "email", "op": "starts_with", "value": "ada@"}),
        &u
    ));
    assert!(!matches(
        json!({"attr": "email", "op": "starts_with", "value": "bob@"}),
        &u
    ));
    assert!(matches(
        json!({"attr": "email", "op": "ends_with", "value": ".com"}),
        &u
    ));
    assert!(!matches(
        json!({"attr": "email", "op": "ends_with", "value": ".org"}),
        &u
    ));
    assert!(matches(
        json!({"attr": "key", "op": "starts_with", "value": "user-"}),
        &u
    ));
    assert!(!matches(
        json!({"attr": "missing", "op": "contains", "value": "x"}),
        &u
    ));
    let e = ErrorCode::AttributeTypeMismatch;
    assert_eq!(
        mismatch(json!({"attr": "seats", "op": "contains", "value": "1"}), &u),
        e
    );
    assert_eq!(
        mismatch(
            json!({"attr": "groups", "op": "starts_with", "value": "s"}),
            &u
        ),
        e
    );
    assert_eq!(
        mismatch(json!({"attr": "beta", "op": "ends_with", "value": "e"}), &u),
        e
    );
}

#[test]
fn matches_operator() {
    let u = user();
    assert!(matches(
        json!({"attr": "email", "op": "matches", "value": r"^[a-z]+@example\.com$"}),
        &u
    ));
    assert!(matches(
        json!({"attr": "email", "op": "matches", "value": "(?i)EXAMPLE"}),
        &u
    ));
    assert!(!matches(
        json!({"attr": "email", "op": "matches", "value": "^example"}),
        &u
    ));
    assert!(matches(
        json!({"attr": "email", "op": "matches", "value": r"\bexample\b"}),
        &u
    ));
    assert!(!matches(
        json!({"attr": "missing", "op": "matches", "value": ".*"}),
        &u
    ));
    assert_eq!(
        mismatch(json!({"attr": "seats", "op": "matches", "value": "1"}), &u),
        ErrorCode::AttributeTypeMismatch
    );
}

#[test]
fn number_operators() {
    let u = user();
    assert!(matches(
        json!({"attr": "seats", "op": "gt", "value": 100}),
        &u
    ));
    assert!(!matches(
        json!({"attr": "seats", "op": "gt", "value": 120}),
        &u
    ));
    assert!(matches(
        json!({"attr": "seats", "op": "gte", "value": 120}),
        &u
    ));
    assert!(matches(
        json!({"attr": "seats", "op": "lt", "value": 120.5}),
        &u
    ));
    assert!(!matches(
        json!({"attr": "seats", "op": "lt", "value": 120}),
        &u
    ));
    assert!(matches(
        json!({"attr": "seats", "op": "lte", "value": 120}),
        &u
    ));
    assert!(matches(
        json!({"attr": "ratio", "op": "lt", "value": 1}),
        &u
    ));
    assert!(matches(
        json!({"attr": "address.geo.lat", "op": "gt", "value": -90}),
        &u
    ));
    assert!(!matches(
        json!({"attr": "missing", "op": "lt", "value": 1}),
        &u
    ));
    let nan = Context::new("u").with("n", f64::NAN);
    assert!(!matches(json!({"attr": "n", "op": "lt", "value": 1}), &nan));
    assert!(!matches(
        json!({"attr": "n", "op": "gte", "value": 1}),
        &nan
    ));
    let e = ErrorCode::AttributeTypeMismatch;
    assert_eq!(
        mismatch(json!({"attr": "country", "op": "lt", "value": 1}), &u),
        e
    );
    assert_eq!(
        mismatch(json!({"attr": "beta", "op": "gt", "value": 0}), &u),
        e
    );
}

#[test]
fn semver_operators() {
    let u = user();
    assert!(matches(
        json!({"attr": "version", "op": "semver_eq", "value": "2.3.1"}),
        &u
    ));
    assert!(matches(
        json!({"attr": "version", "op": "semver_gt", "value": "2.3"}),
        &u
    ));
    assert!(matches(
        json!({"attr": "version", "op": "semver_gte", "value": "v2.3.1"}),
        &u
    ));
    assert!(matches(
        json!({"attr": "version", "op": "semver_lt", "value": "2.10"}),
        &u
    ));
    assert!(matches(
        json!({"attr": "version", "op": "semver_lte", "value": "3"}),
        &u
    ));
    assert!(!matches(
        json!({"attr": "version", "op": "semver_lt", "value": "2.3.1"}),
        &u
    ));
    let pre = Context::new("u").with("version", "2.0.0-rc.1");
    assert!(matches(
        json!({"attr": "version", "op": "semver_lt", "value": "2.0.0"}),
        &pre
    ));
    assert!(matches(
        json!({"attr": "version", "op": "semver_gt", "value": "2.0.0-beta.11"}),
        &pre
    ));
    let partial = Context::new("u").with("version", "1.2");
    assert!(matches(
        json!({"attr": "version", "op": "semver_eq", "value": "1.2.0"}),
        &partial
    ));
    assert!(!matches(
        json!({"attr": "missing", "op": "semver_eq", "value": "1.2.0"}),
        &u
    ));
    let bad = Context::new("u").with("version", "latest");
    assert_eq!(
        mismatch(
            json!({"attr": "version", "op": "semver_gt", "value": "1.0"}),
            &bad
        ),
        ErrorCode::InvalidAttributeValue
    );
    let number = Context::new("u").with("version", 2);
    assert_eq!(
        mismatch(
            json!({"attr": "version", "op": "semver_gt", "value": "1.0"}),
            &number
        ),
        ErrorCode::AttributeTypeMismatch
    );
}

#[test]
fn time_operators() {
    let u = user();
    assert!(matches(
        json!({"attr": "signup", "op": "after", "value": "2026-01-01T00:00:00Z"}),
        &u
    ));
    assert!(!matches(
        json!({"attr": "signup", "op": "before", "value": "2026-01-01T00:00:00Z"}),
        &u
    ));
    assert!(matches(
        json!({"attr": "signup", "op": "before", "value": "2026-03-01T13:00:00+00:30"}),
        &u
    ));
    // Equal instants are neither before nor after.
    assert!(!matches(
        json!({"attr": "signup", "op": "before", "value": "2026-03-01T14:00:00+02:00"}),
        &u
    ));
    assert!(!matches(
        json!({"attr": "signup", "op": "after", "value": "2026-03-01T14:00:00+02:00"}),
        &u
    ));
    // Numbers are Unix seconds.
    assert!(matches(
        json!({"attr": "signup_unix", "op": "after", "value": "2026-03-01T11:59:59Z"}),
        &u
    ));
    assert!(matches(
        json!({"attr": "signup_unix", "op": "before", "value": "2026-03-01T12:00:00.5Z"}),
        &u
    ));
    assert!(!matches(
        json!({"attr": "missing", "op": "after", "value": "2026-01-01T00:00:00Z"}),
        &u
    ));
    assert_eq!(
        mismatch(
            json!({"attr": "country", "op": "after", "value": "2026-01-01T00:00:00Z"}),
            &u
        ),
        ErrorCode::InvalidAttributeValue
    );
    assert_eq!(
        mismatch(
            json!({"attr": "beta", "op": "after", "value": "2026-01-01T00:00:00Z"}),
            &u
        ),
        ErrorCode::AttributeTypeMismatch
    );
}

#[test]
fn exists_and_combinators() {
    let u = user();
    let anonymous = Context::default().with("country", "DE");
    assert!(matches(json!({"attr": "country", "op": "exists"}), &u));
    assert!(matches(json!({"attr": "empty", "op": "exists"}), &u));
    assert!(matches(json!({"attr": "address", "op": "exists"}), &u));
    assert!(matches(json!({"attr": "key", "op": "exists"}), &u));
    assert!(!matches(json!({"attr": "key", "op": "exists"}), &anonymous));
    assert!(!matches(json!({"attr": "missing", "op": "exists"}), &u));
    assert!(matches(
        json!({"not": {"attr": "missing", "op": "exists"}}),
        &u
    ));
    assert!(matches(json!({"all": []}), &u));
    assert!(!matches(json!({"any": []}), &u));
    let de = json!({"attr": "country", "op": "eq", "value": "DE"});
    let fr = json!({"attr": "country", "op": "eq", "value": "FR"});
    assert!(matches(
        json!({"all": [de.clone(), {"not": fr.clone()}]}),
        &u
    ));
    assert!(!matches(json!({"all": [de.clone(), fr.clone()]}), &u));
    assert!(matches(json!({"any": [fr.clone(), de.clone()]}), &u));
    assert!(!matches(
        json!({"any": [fr.clone(), {"not": de.clone()}]}),
        &u
    ));
    // `not` negates whatever its condition gave, an error included.
    let (matched, error) = check(
        json!({"not": {"attr": "seats", "op": "starts_with", "value": "1"}}),
        &u,
    );
    assert!(matched);
    assert_eq!(error, Some(ErrorCode::AttributeTypeMismatch));
    // An error in `any` does not stop a later part from matching; the error is kept.
    let (matched, error) = check(
        json!({"any": [{"attr": "seats", "op": "starts_with", "value": "1"}, de]}),
        &u,
    );
    assert!(matched);
    assert_eq!(error, Some(ErrorCode::AttributeTypeMismatch));
}

#[test]
fn segments() {
    let staff = json!({"segment": "staff"});
    assert!(matches(staff.clone(), &Context::new("boss")));
    assert!(!matches(
        staff.clone(),
        &Context::new("intern").with("email", "i@example.com")
    ));
    assert!(matches(
        staff.clone(),
        &Context::new("x").with("email", "x@example.com")
    ));
    assert!(!matches(
        staff.clone(),
        &Context::new("x").with("email", "x@acme.com")
    ));
    assert!(!matches(staff.clone(), &Context::new("x")));
    // Segments referring to segments; a segment without `when` holds only its includes.
    let snapshot = snapshot(
        vec![rule_flag(json!({"segment": "outer"}))],
        vec![
            staff_segment(),
            json!({"name": "listed", "include": ["vip"]}),
            json!({"name": "outer", "when": {"any": [{"segment": "staff"}, {"segment": "listed"}]}}),
        ],
    );
    let on = |context: &Context| snapshot.evaluate("f", context).variant() == Some("on");
    assert!(on(&Context::new("vip")));
    assert!(on(&Context::new("boss")));
    assert!(on(&Context::new("x").with("email", "x@example.com")));
    assert!(!on(&Context::new("x")));
}

#[test]
fn small_segments_are_copied_in_and_still_explained() {
    let snapshot = snapshot(
        vec![rule_flag(json!({"segment": "eu-enterprise"}))],
        vec![
            json!({"name": "eu", "when": {"attr": "country", "op": "in", "values": ["DE", "FR", "NL"]}}),
            json!({"name": "eu-enterprise", "when": {"all": [
                {"segment": "eu"}, {"attr": "plan", "op": "eq", "value": "enterprise"}
            ]}}),
        ],
    );
    let yes = Context::new("u")
        .with("country", "NL")
        .with("plan", "enterprise");
    let no = Context::new("u")
        .with("country", "US")
        .with("plan", "enterprise");
    assert_eq!(snapshot.evaluate("f", &yes).variant(), Some("on"));
    assert_eq!(snapshot.evaluate("f", &no).variant(), Some("off"));
    let json = serde_json::to_value(snapshot.explain("f", &yes)).expect("serializes");
    let condition = &json["steps"][0]["condition"];
    assert_eq!(condition["condition"], "segment eu-enterprise");
    assert_eq!(condition["children"][0]["condition"], "all");
    assert_eq!(
        condition["children"][0]["children"][0]["condition"],
        "segment eu"
    );
    assert_eq!(
        condition["children"][0]["children"][0]["children"][0]["condition"],
        "country in [\"DE\",\"FR\",\"NL\"]"
    );
}

#[test]
fn long_strings_compare_too() {
    let u = user();
    assert!(matches(
        json!({"attr": "email", "op": "eq", "value": "ada@example.com"}),
        &u
    ));
    assert!(!matches(
        json!({"attr": "email", "op": "eq", "value": "DE"}),
        &u
    ));
    assert!(matches(
        json!({"attr": "email", "op": "neq", "value": "DE"}),
        &u
    ));
    assert!(!matches(
        json!({"attr": "country", "op": "eq", "value": "ada@example.com"}),
        &u
    ));
    assert!(matches(
        json!({"attr": "email", "op": "in", "values": ["x", "ada@example.com"]}),
        &u
    ));
    assert!(!matches(
        json!({"attr": "email", "op": "in", "values": ["DE", "FR"]}),
        &u
    ));
    assert!(matches(
        json!({"attr": "email", "op": "not_in", "values": ["DE", "FR"]}),
        &u
    ));
    let long = "a string value well beyond twenty-two bytes";
    let context = Context::new("a-targeting-key-longer-than-22-bytes").with("long", long);
    assert!(matches(
        json!({"attr": "long", "op": "eq", "value": long}),
        &context
    ));
    assert!(matches(
        json!({"attr": "long", "op": "starts_with", "value": "a string"}),
        &context
    ));
    assert!(matches(
        json!({"attr": "key", "op": "eq", "value": "a-targeting-key-longer-than-22-bytes"}),
        &context
    ));
    assert!(matches(
        json!({"attr": "key", "op": "in", "values": ["a-targeting-key-longer-than-22-bytes"]}),
        &context
    ));
    let short = Context::new("bob");
    assert!(matches(
        json!({"attr": "key", "op": "eq", "value": "bob"}),
        &short
    ));
    assert!(matches(
        json!({"attr": "key", "op": "in", "values": ["alice", "bob"]}),
        &short
    ));
    assert!(matches(
        json!({"attr": "key", "op": "ends_with", "value": "ob"}),
        &short
    ));
}

#[test]
fn evaluation_order() {
    let snapshot = snapshot(
        vec![json!({
            "key": "f", "type": "string",
            "variants": {"a": "A", "b": "B", "c": "C", "d": "D"},
            "targets": {"d": ["dora"]},
            "rules": [
                {"name": "germany", "when": {"attr": "country", "op": "eq", "value": "DE"}, "serve": "a"},
                {"when": {"attr": "country", "op": "in", "values": ["DE", "FR"]}, "serve": "b"}
            ],
            "default": "c"
        })],
        vec![],
    );
    let dora = snapshot.evaluate("f", &Context::new("dora").with("country", "DE"));
    assert_eq!(
        (dora.reason(), dora.variant(), dora.rule_index()),
        (Reason::TargetMatch, Some("d"), None)
    );
    let de = snapshot.evaluate("f", &Context::new("x").with("country", "DE"));
    assert_eq!(
        (de.reason(), de.variant(), de.rule_index()),
        (Reason::RuleMatch, Some("a"), Some(0))
    );
    assert_eq!(de.rule_name(), Some("germany"));
    let fr = snapshot.evaluate("f", &Context::new("x").with("country", "FR"));
    assert_eq!(
        (fr.reason(), fr.variant(), fr.rule_index(), fr.rule_name()),
        (Reason::RuleMatch, Some("b"), Some(1), None)
    );
    let other = snapshot.evaluate("f", &Context::new("x"));
    assert_eq!(
        (other.reason(), other.value()),
        (Reason::Default, Some(&json!("C")))
    );
    assert_eq!(other.split(), None);
    assert_eq!(other.error_code(), None);
    assert_eq!(other.revision(), "rev-1");
    assert_eq!(other.flag_key(), Some("f"));
    assert_eq!(other.flag_index(), Some(0));
    assert_eq!(other.variant_index(), Some(2));
    assert_eq!(snapshot.string_value("f", &Context::new("dora"), "z"), "D");
}

#[test]
fn disabled_flags() {
    let snapshot = snapshot(
        vec![
            json!({"key": "bool", "type": "boolean", "enabled": false, "targets": {"on": ["a"]}, "default": "on"}),
            json!({"key": "text", "type": "string", "variants": {"x": "X"}, "enabled": false, "default": "x"}),
            json!({"key": "with-off", "type": "string", "variants": {"x": "X", "y": "Y"}, "enabled": false,
                   "off_variant": "y", "default": "x"}),
        ],
        vec![],
    );
    let context = Context::new("a");
    // Implicit boolean variants come with `off_variant: off`.
    let bool_flag = snapshot.evaluate("bool", &context);
    assert_eq!(
        (bool_flag.reason(), bool_flag.variant()),
        (Reason::Disabled, Some("off"))
    );
    assert!(!snapshot.bool_value("bool", &context, true));
    let text = snapshot.evaluate("text", &context);
    assert_eq!(
        (text.reason(), text.variant(), text.value()),
        (Reason::Disabled, None, None)
    );
    assert_eq!(
        snapshot.string_value("text", &context, "fallback"),
        "fallback"
    );
    assert_eq!(snapshot.string_value("with-off", &context, "fallback"), "Y");
}

#[test]
fn rollouts_and_fall_through() {
    let snapshot = snapshot(
        vec![json!({
            "key": "f", "type": "boolean",
            "rules": [
                {"name": "by-company", "when": {"all": []},
                 "serve": {"rollout": {"on": 50, "off": 50}, "by": "company", "experiment": "exp-1"}},
                {"when": {"attr": "country", "op": "eq", "value": "DE"}, "serve": "on"}
            ],
            "default": {"rollout": {"on": 25, "off": 75}}
        })],
        vec![],
    );
    let with_company = snapshot.evaluate("f", &Context::new("u").with("company", "acme"));
    assert_eq!(with_company.reason(), Reason::Split);
    assert_eq!(with_company.rule_index(), Some(0));
    assert_eq!(with_company.rule_name(), Some("by-company"));
    assert_eq!(with_company.experiment(), Some("exp-1"));
    let split = with_company.split().expect("a split");
    assert_eq!(split.hash, bucketing::murmur3_x86_32(b"facme", 0));
    assert_eq!(split.bucket, bucketing::bucket(split.hash));
    // Integers bucket as their decimal text.
    let numeric = snapshot.evaluate("f", &Context::new("u").with("company", 42));
    assert_eq!(
        numeric.split().map(|s| s.hash),
        Some(bucketing::murmur3_x86_32(b"f42", 0))
    );
    // No company: the rollout does not apply, the next rule does.
    let german = snapshot.evaluate("f", &Context::new("u").with("country", "DE"));
    assert_eq!(
        (german.reason(), german.rule_index(), german.variant()),
        (Reason::RuleMatch, Some(1), Some("on"))
    );
    assert_eq!(
        german.error_code(),
        Some(ErrorCode::MissingBucketingAttribute)
    );
    let empty = snapshot.evaluate("f", &Context::new("u").with("company", ""));
    assert_eq!(
        empty.error_code(),
        Some(ErrorCode::MissingBucketingAttribute)
    );
    // Then the default rollout, by targeting key.
    let other = snapshot.evaluate("f", &Context::new("u"));
    assert_eq!((other.reason(), other.rule_index()), (Reason::Split, None));
    assert_eq!(other.experiment(), None);
    assert_eq!(
        other.split().map(|s| s.hash),
        Some(bucketing::murmur3_x86_32(b"fu", 0))
    );
    // Without a targeting key even the default cannot bucket: nothing is served.
    let anonymous = snapshot.evaluate("f", &Context::default());
    assert_eq!(
        (anonymous.reason(), anonymous.value()),
        (Reason::Error, None)
    );
    assert_eq!(anonymous.error_code(), Some(ErrorCode::TargetingKeyMissing));
    assert!(snapshot.bool_value("f", &Context::default(), true));
    let fractional = snapshot.evaluate("f", &Context::new("u").with("company", 1.5));
    assert_eq!(
        fractional.error_code(),
        Some(ErrorCode::AttributeTypeMismatch)
    );
    let boolean = snapshot.evaluate("f", &Context::new("u").with("company", true));
    assert_eq!(boolean.error_code(), Some(ErrorCode::AttributeTypeMismatch));
}

#[test]
fn salt_overrides_the_flag_key() {
    let snapshot = snapshot(
        vec![
            json!({"key": "fractional-hash-edge-flag", "type": "string", "salt": "",
                    "variants": {"lower": "lower", "upper": "upper"},
                    "default": {"rollout": {"lower": 50, "upper": 50}}}),
        ],
        vec![],
    );
    for (key, expected) in [
        ("ejOoVL", "lower"),
        ("bY9fO-", "lower"),
        ("SI7p-", "lower"),
        ("6LvT0", "upper"),
        ("ceQdGm", "upper"),
    ] {
        assert_eq!(
            snapshot.string_value("fractional-hash-edge-flag", &Context::new(key), "fallback"),
            expected
        );
    }
}

#[test]
fn typed_accessors() {
    let snapshot = snapshot(
        vec![
            json!({"key": "b", "type": "boolean", "default": "on"}),
            json!({"key": "s", "type": "string", "variants": {"x": "X"}, "default": "x"}),
            json!({"key": "n", "type": "number", "variants": {"x": 2.5}, "default": "x"}),
            json!({"key": "j", "type": "json", "variants": {"x": {"a": [1]}}, "default": "x"}),
        ],
        vec![],
    );
    let c = Context::new("u");
    assert!(snapshot.bool_value("b", &c, false));
    assert_eq!(snapshot.string_value("s", &c, "d"), "X");
    assert_eq!(snapshot.number_value("n", &c, 0.0), 2.5);
    assert_eq!(
        snapshot.json_value("j", &c, &Value::Null),
        &json!({"a": [1]})
    );
    assert_eq!(snapshot.json_value("b", &c, &Value::Null), &json!(true));
    // The wrong type gives the default and says why.
    let wrong = snapshot.string_evaluation("b", &c, "d");
    assert_eq!(wrong.value, "d");
    assert_eq!(wrong.evaluation.reason(), Reason::Error);
    assert_eq!(wrong.evaluation.error_code(), Some(ErrorCode::TypeMismatch));
    assert_eq!(wrong.evaluation.variant(), None);
    assert_eq!(wrong.evaluation.flag_index(), Some(0));
    assert!(!snapshot.bool_value("s", &c, false));
    assert_eq!(snapshot.number_value("b", &c, 7.0), 7.0);
    let missing = snapshot.bool_evaluation("nope", &c, true);
    assert!(missing.value);
    assert_eq!(missing.evaluation.reason(), Reason::FlagNotFound);
    assert_eq!(
        missing.evaluation.error_code(),
        Some(ErrorCode::FlagNotFound)
    );
    assert_eq!(missing.evaluation.flag_index(), None);
}

#[test]
fn snapshot_accessors() {
    let snapshot = snapshot(
        vec![
            json!({"key": "zeta", "type": "boolean", "default": "on"}),
            json!({"key": "alpha", "type": "string", "variants": {"x": "X", "y": "Y", "z": "Z"}, "default": "y"}),
        ],
        vec![],
    );
    assert_eq!(snapshot.flag_keys().collect::<Vec<_>>(), ["alpha", "zeta"]);
    assert_eq!(snapshot.flag_count(), 2);
    assert_eq!(snapshot.flag_key(1), Some("zeta"));
    assert_eq!(snapshot.flag_key(2), None);
    assert_eq!(
        snapshot.flag_type("alpha"),
        Some(crate::model::FlagType::String)
    );
    assert!(snapshot.contains("zeta") && !snapshot.contains("eta"));
    assert_eq!(snapshot.variant_slot_count(), 5);
    assert_eq!(snapshot.variant_slot(1), Some(("alpha", "y")));
    assert_eq!(snapshot.variant_slot(3), Some(("zeta", "on")));
    assert_eq!(snapshot.variant_slot(5), None);
    assert_eq!(snapshot.environment(), "test");
    assert_eq!(snapshot.revision(), "rev-1");
    assert_eq!(snapshot.bucketing(), crate::model::BucketingVersion::V1);
    let c = Context::new("u");
    let all = snapshot.evaluate_all(&c);
    assert_eq!(all.len(), 2);
    for (index, (key, evaluation)) in (0u32..).zip(&all) {
        assert_eq!(evaluation.flag_key(), Some(*key));
        assert_eq!(evaluation.flag_index(), Some(index));
        assert_eq!(*evaluation, snapshot.evaluate(key, &c));
        let slot = evaluation.variant_slot().expect("a variant");
        assert_eq!(
            snapshot.variant_slot(slot),
            Some((*key, evaluation.variant().expect("a variant")))
        );
    }
    let json = serde_json::to_value(all.first().map(|(_, e)| e)).expect("serializes");
    assert_eq!(
        json,
        json!({"value": "Y", "variant": "y", "reason": "DEFAULT", "rule_index": null, "rule_name": null,
               "split": null, "experiment": null, "error_code": null, "revision": "rev-1"})
    );
}

#[test]
fn reasons_and_codes_have_names() {
    let reasons = [
        (Reason::TargetMatch, "TARGET_MATCH", "TARGETING_MATCH"),
        (Reason::RuleMatch, "RULE_MATCH", "TARGETING_MATCH"),
        (Reason::Split, "SPLIT", "SPLIT"),
        (Reason::Default, "DEFAULT", "DEFAULT"),
        (Reason::Disabled, "DISABLED", "DISABLED"),
        (Reason::FlagNotFound, "FLAG_NOT_FOUND", "ERROR"),
        (Reason::Error, "ERROR", "ERROR"),
    ];
    for (reason, name, openfeature) in reasons {
        assert_eq!(reason.as_str(), name);
        assert_eq!(reason.to_string(), name);
        assert_eq!(reason.openfeature(), openfeature);
        assert_eq!(serde_json::to_value(reason).ok(), Some(json!(name)));
    }
    for code in [
        ErrorCode::FlagNotFound,
        ErrorCode::TypeMismatch,
        ErrorCode::AttributeTypeMismatch,
        ErrorCode::InvalidAttributeValue,
        ErrorCode::MissingBucketingAttribute,
        ErrorCode::TargetingKeyMissing,
        ErrorCode::General,
    ] {
        assert_eq!(serde_json::to_value(code).ok(), Some(json!(code.as_str())));
        assert!(!code.openfeature().is_empty());
    }
}

#[test]
fn explanations() {
    let snapshot = snapshot(
        vec![json!({
            "key": "new-checkout", "type": "boolean",
            "targets": {"on": ["alice"]},
            "rules": [
                {"name": "staff", "when": {"segment": "staff"}, "serve": "on"},
                {"when": {"all": [
                    {"attr": "country", "op": "in", "values": ["DE", "FR", "NL"]},
                    {"attr": "plan", "op": "eq", "value": "enterprise"},
                    {"attr": "seats", "op": "gt", "value": 10}
                ]}, "serve": {"rollout": {"on": 50, "off": 50}}}
            ],
            "default": {"rollout": {"on": 10, "off": 90}, "by": "company"}
        })],
        vec![staff_segment()],
    );
    let context = Context::new("bob")
        .with("country", "IT")
        .with("company", "acme");
    let explanation = snapshot.explain("new-checkout", &context);
    let json = serde_json::to_value(&explanation).expect("serializes");
    assert_eq!(json["flag"], "new-checkout");
    assert_eq!(json["revision"], "rev-1");
    assert_eq!(json["context"]["country"], "IT");
    let steps = json["steps"].as_array().expect("steps");
    assert_eq!(steps.len(), 4);
    assert_eq!(
        steps[0],
        json!({"step": "targets", "targeting_key": "bob", "matched": null})
    );
    assert_eq!(steps[1]["step"], "rule");
    assert_eq!(steps[1]["name"], "staff");
    assert_eq!(steps[1]["matched"], false);
    assert_eq!(steps[1]["condition"]["condition"], "segment staff");
    assert_eq!(
        steps[1]["condition"]["children"][0]["condition"],
        "email ends_with \"@example.com\""
    );
    assert_eq!(steps[1]["condition"]["children"][0]["actual"], Value::Null);
    let all = &steps[2]["condition"];
    assert_eq!(all["condition"], "all");
    assert_eq!(all["outcome"], "not_matched");
    assert_eq!(
        all["children"][0]["condition"],
        "country in [\"DE\",\"FR\",\"NL\"]"
    );
    assert_eq!(all["children"][0]["outcome"], "not_matched");
    assert_eq!(all["children"][0]["actual"], "IT");
    assert_eq!(all["children"][1]["outcome"], "skipped");
    assert_eq!(all["children"][2]["outcome"], "skipped");
    assert_eq!(steps[2]["serve"], Value::Null);
    let rollout = &steps[3]["serve"]["rollout"];
    assert_eq!(rollout["by"], "company");
    assert_eq!(rollout["salt"], "new-checkout");
    assert_eq!(rollout["value"], "acme");
    assert_eq!(
        rollout["ranges"],
        json!([{"variant": "on", "weight": "10", "start": 0, "end": 10000},
               {"variant": "off", "weight": "90", "start": 10000, "end": 100000}])
    );
    let bucket = rollout["split"]["bucket"].as_u64().expect("a bucket");
    let expected = if bucket < 10_000 { "on" } else { "off" };
    assert_eq!(steps[3]["serve"]["variant"], expected);
    assert_eq!(json["result"]["reason"], "SPLIT");
    assert_eq!(json["result"]["variant"], expected);

    let boss = snapshot.explain("new-checkout", &Context::new("boss"));
    assert_eq!(boss.steps.len(), 2);
    let json = serde_json::to_value(&boss).expect("serializes");
    assert_eq!(json["steps"][1]["condition"]["membership"], "included");
    assert_eq!(json["steps"][1]["serve"]["variant"], "on");
    assert_eq!(json["result"]["reason"], "RULE_MATCH");

    let missing = snapshot.explain("nope", &context);
    assert_eq!(missing.steps, [Step::FlagNotFound]);
    assert_eq!(missing.result.reason, Reason::FlagNotFound);

    let fell = serde_json::to_value(snapshot.explain("new-checkout", &Context::new("carol")))
        .expect("serializes");
    assert_eq!(
        fell["steps"][3]["serve"]["fell_through"],
        "MISSING_BUCKETING_ATTRIBUTE"
    );
    assert_eq!(fell["result"]["reason"], "ERROR");
}

fn compile_error(flags: Vec<Value>, segments: Vec<Value>) -> String {
    match compile(flags, segments) {
        Ok(_) => panic!("should not compile"),
        Err(error) => error.to_string(),
    }
}

#[test]
fn compile_errors() {
    let flag = |rest: Value| {
        let mut flag = json!({"key": "f", "type": "boolean", "default": "on"});
        if let (Some(flag), Some(rest)) = (flag.as_object_mut(), rest.as_object()) {
            flag.extend(rest.clone());
        }
        flag
    };
    let when = |when: Value| flag(json!({"rules": [{"when": when, "serve": "on"}]}));
    let cases = [
        (
            flag(json!({"default": "maybe"})),
            "flag `f` at `/default`: variant `maybe` is not declared",
        ),
        (
            flag(json!({"off_variant": "maybe"})),
            "flag `f` at `/off_variant`: variant `maybe` is not declared",
        ),
        (
            flag(json!({"targets": {"maybe": ["a"]}})),
            "flag `f` at `/targets/maybe`: variant `maybe` is not declared",
        ),
        (
            flag(json!({"variants": {"on": "yes"}})),
            "flag `f` at `/variants/on`: variant `on` is not a boolean value",
        ),
        (
            flag(json!({"default": {"rollout": {"on": 60, "off": 50}}})),
            "flag `f` at `/default/rollout`: rollout weights sum to 110, expected 100",
        ),
        (
            flag(json!({"default": {"rollout": {"on": 50, "maybe": 50}}})),
            "flag `f` at `/default/rollout/maybe`: variant `maybe` is not declared",
        ),
        (
            flag(json!({"default": {"rollout": {"on": 100}, "by": "a..b"}})),
            "flag `f` at `/default/by`: `a..b` is not an attribute name",
        ),
        (
            when(json!({"segment": "ghosts"})),
            "flag `f` at `/rules/0/when/segment`: segment `ghosts` does not exist",
        ),
        (
            when(json!({"attr": "a", "op": "eq"})),
            "flag `f` at `/rules/0/when`: `eq` needs an operand in `value`",
        ),
        (
            when(json!({"attr": "a", "op": "in", "value": "x"})),
            "flag `f` at `/rules/0/when/value`: `in` takes no operand in `value`",
        ),
        (
            when(json!({"attr": "a", "op": "exists", "values": ["x"]})),
            "flag `f` at `/rules/0/when/values`: `exists` takes no operand in `values`",
        ),
        (
            when(json!({"attr": "a", "op": "in"})),
            "flag `f` at `/rules/0/when`: `in` needs an operand in `values`",
        ),
        (
            when(json!({"all": [{"attr": "a", "op": "lt", "value": "3"}]})),
            "flag `f` at `/rules/0/when/all/0/value`: `lt` compares with a number, found `\"3\"`",
        ),
        (
            when(json!({"attr": "a", "op": "in", "values": ["x", null]})),
            "flag `f` at `/rules/0/when/values/1`: `in` compares with a string, number or boolean, found `null`",
        ),
        (
            when(json!({"attr": "a", "op": "matches", "value": "a("})),
            "flag `f` at `/rules/0/when/value`: `a(` is not a valid regular expression",
        ),
        (
            when(json!({"attr": "a", "op": "semver_gt", "value": "one"})),
            "flag `f` at `/rules/0/when/value`: `one` is not a semantic version",
        ),
        (
            when(json!({"attr": "a", "op": "semver_gt", "value": 1.10})),
            "flag `f` at `/rules/0/when/value`: `semver_gt` compares with a version string (quoted, so `1.10` stays `1.10`), found `1.1`",
        ),
        (
            when(json!({"attr": "a", "op": "before", "value": "2026-12-01"})),
            "flag `f` at `/rules/0/when/value`: `2026-12-01` is not an RFC 3339 time",
        ),
        (
            when(json!({"attr": "", "op": "exists"})),
            "flag `f` at `/rules/0/when/attr`: `` is not an attribute name",
        ),
    ];
    for (flag, expected) in cases {
        assert_eq!(compile_error(vec![flag], vec![]), expected);
    }
    let error = compile(
        vec![when(json!({"attr": "a", "op": "matches", "value": "a("}))],
        vec![],
    )
    .expect_err("an error");
    assert!(
        std::error::Error::source(&error).is_some(),
        "the regex error is the source"
    );
}

#[test]
fn segment_cycles_and_depth_are_refused() {
    let cycle = compile_error(
        vec![],
        vec![
            json!({"name": "a", "when": {"segment": "b"}}),
            json!({"name": "b", "when": {"not": {"segment": "c"}}}),
            json!({"name": "c", "when": {"any": [{"segment": "a"}]}}),
        ],
    );
    assert_eq!(
        cycle,
        "segment `a`: segments refer to each other in a cycle: `a` -> `b` -> `c` -> `a`"
    );
    let itself = compile_error(
        vec![],
        vec![json!({"name": "me", "when": {"segment": "me"}})],
    );
    assert_eq!(
        itself,
        "segment `me`: segments refer to each other in a cycle: `me` -> `me`"
    );
    // A chain of segments longer than MAX_DEPTH.
    let chain: Vec<Value> = (0..=MAX_DEPTH)
        .map(|i| match i {
            0 => json!({"name": "s0", "when": {"attr": "a", "op": "exists"}}),
            _ => json!({"name": format!("s{i}"), "when": {"segment": format!("s{}", i - 1)}}),
        })
        .collect();
    assert!(compile_error(vec![], chain).contains("nest deeper than 64 levels"));
    // Nested conditions.
    let mut deep = json!({"attr": "a", "op": "exists"});
    for _ in 0..MAX_DEPTH {
        deep = json!({"not": deep});
    }
    let message = compile_error(vec![rule_flag(deep)], vec![]);
    assert!(
        message.starts_with("flag `f` at `/rules/0/when"),
        "{message}"
    );
    assert!(
        message.ends_with("conditions nest deeper than 64 levels (counting segments)"),
        "{message}"
    );
    // Just within the limit compiles and evaluates.
    let mut fine = json!({"attr": "a", "op": "exists"});
    for _ in 1..MAX_DEPTH {
        fine = json!({"not": fine});
    }
    let snapshot = snapshot(vec![rule_flag(fine)], vec![]);
    // 63 negations of `exists`: an odd count, so a missing attribute matches.
    assert_eq!(
        snapshot.evaluate("f", &Context::new("u")).variant(),
        Some("on")
    );
}
