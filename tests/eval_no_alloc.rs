//! Evaluation allocates nothing: every flag shape, every operator, segments,
//! regexes, versions, times, errors and fall-throughs, counted by a global
//! allocator.
//!
//! One test in this file on purpose: the counting allocator sees every
//! thread, so nothing else may run while it counts.

use std::alloc::System;

use flagctl::eval::{Context, Reason, Snapshot};
use flagctl::model::ResolvedEnvironment;
use serde_json::{Value, json};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

fn environment() -> ResolvedEnvironment {
    let operators = json!([
        {"attr": "country", "op": "eq", "value": "DE"},
        {"attr": "seats", "op": "neq", "value": 3},
        {"attr": "country", "op": "in", "values": ["DE", "FR", "NL"]},
        {"attr": "country", "op": "not_in", "values": (0..50).map(|i| format!("C{i}")).collect::<Vec<_>>()},
        {"attr": "email", "op": "contains", "value": "@"},
        {"attr": "groups", "op": "contains", "value": "staff"},
        {"attr": "email", "op": "starts_with", "value": "ada"},
        {"attr": "email", "op": "ends_with", "value": ".com"},
        {"attr": "email", "op": "matches", "value": r"(?i)^[a-z]+@example\.com$"},
        {"attr": "seats", "op": "lt", "value": 1000},
        {"attr": "seats", "op": "lte", "value": 120},
        {"attr": "seats", "op": "gt", "value": 1},
        {"attr": "seats", "op": "gte", "value": 120},
        {"attr": "version", "op": "semver_eq", "value": "2.3.1"},
        {"attr": "version", "op": "semver_lt", "value": "v3"},
        {"attr": "version", "op": "semver_lte", "value": "2.3.1"},
        {"attr": "version", "op": "semver_gt", "value": "2.3.1-rc.1"},
        {"attr": "version", "op": "semver_gte", "value": "2.3"},
        {"attr": "signup", "op": "before", "value": "2030-01-01T00:00:00Z"},
        {"attr": "signup_unix", "op": "after", "value": "2020-01-01T00:00:00+02:00"},
        {"attr": "address.country", "op": "exists"},
        {"attr": "key", "op": "starts_with", "value": "user-"},
        {"not": {"attr": "beta", "op": "eq", "value": false}},
        {"any": [{"attr": "missing", "op": "exists"}, {"segment": "staff"}]},
    ]);
    let flags = json!({
        "a-on": {"key": "a-on", "type": "boolean", "default": "on"},
        "b-rollout": {"key": "b-rollout", "type": "boolean", "default": {"rollout": {"on": 25, "off": 75}}},
        "c-rules": {"key": "c-rules", "type": "boolean", "rules": [
            {"when": {"all": [
                {"attr": "country", "op": "in", "values": ["DE", "FR", "NL"]},
                {"attr": "plan", "op": "eq", "value": "enterprise"}
            ]}, "serve": {"rollout": {"on": 50, "off": 50}}}
        ], "default": "off"},
        "c-segment": {"key": "c-segment", "type": "boolean", "rules": [
            {"when": {"segment": "enterprise-eu"}, "serve": {"rollout": {"on": 50, "off": 50}}}
        ], "default": "off"},
        "d-multi": {"key": "d-multi", "type": "string",
            "variants": {"a": "A", "b": "B", "c": "C"},
            "default": {"rollout": {"a": 50, "b": 30, "c": 20}}},
        "every-operator": {"key": "every-operator", "type": "number",
            "variants": {"yes": 1, "no": 0},
            "rules": [{"name": "all", "when": {"all": operators}, "serve": "yes"}],
            "default": "no"},
        "each-operator": {"key": "each-operator", "type": "json",
            "variants": {"x": {"a": 1}, "y": [1, 2]},
            "rules": operators.as_array().into_iter().flatten().map(|op| json!({"when": {"not": op}, "serve": "x"})).collect::<Vec<_>>(),
            "default": "y"},
        // The same, each alone: those with a fast form take it (`eval::fast`).
        "each-operator-alone": {"key": "each-operator-alone", "type": "json",
            "variants": {"x": {"a": 1}, "y": [1, 2]},
            "rules": operators.as_array().into_iter().flatten().map(|op| json!({"when": op, "serve": "x"})).collect::<Vec<_>>(),
            "default": "y"},
        "targets": {"key": "targets", "type": "boolean", "targets": {"on": ["user-1", "user-2"]}, "default": "off"},
        "disabled": {"key": "disabled", "type": "boolean", "enabled": false, "default": "on"},
        "by-company": {"key": "by-company", "type": "boolean", "rules": [
            {"when": {"all": []}, "serve": {"rollout": {"on": 50, "off": 50}, "by": "company", "experiment": "e"}}
        ], "default": {"rollout": {"on": 50, "off": 50}, "by": "company_id"}},
        "word-boundary": {"key": "word-boundary", "type": "boolean", "rules": [
            {"when": {"attr": "email", "op": "matches", "value": r"\bexample\b"}, "serve": "on"}
        ], "default": "off"},
    });
    serde_json::from_value(json!({
        "environment": "prod",
        "bucketing": "v1",
        "flags": flags,
        "segments": {
            "staff": {"name": "staff", "include": ["boss"], "exclude": ["intern"],
                "when": {"attr": "email", "op": "ends_with", "value": "@example.com"}},
            "enterprise-eu": {"name": "enterprise-eu", "when": {"all": [
                {"attr": "country", "op": "in", "values": ["DE", "FR", "NL"]},
                {"attr": "plan", "op": "eq", "value": "enterprise"}
            ]}},
        },
    }))
    .expect("a valid environment")
}

fn contexts() -> Vec<Context> {
    let mut contexts: Vec<Context> = (0..200)
        .map(|i| {
            Context::new(format!("user-{i}"))
                .with("country", ["DE", "FR", "IT", "NL"][i % 4])
                .with("plan", if i % 3 == 0 { "enterprise" } else { "free" })
                .with("seats", 120)
                .with("email", "ada@example.com")
                .with("groups", ["staff", "testers"])
                .with("version", "v2.3.1")
                .with("signup", "2026-03-01T12:00:00Z")
                .with("signup_unix", 1_772_366_400)
                .with("beta", true)
                .with("address.country", "FR")
                .with("company", format!("company-{}", i % 7))
                .with("company_id", i)
        })
        .collect();
    // Problems: wrong types, unparsable values, missing bucketing values.
    contexts.push(
        Context::new("user-odd")
            .with("country", 49)
            .with("plan", ["enterprise"])
            .with("seats", "many")
            .with("email", false)
            .with("groups", "staff")
            .with("version", "latest")
            .with("signup", "yesterday")
            .with("signup_unix", "soon")
            .with("beta", "yes")
            .with("company", true)
            .with("company_id", 1.5),
    );
    contexts.push(Context::default());
    contexts.push(Context::new("boss"));
    contexts.push(Context::new("intern").with("email", "intern@example.com"));
    contexts
}

/// Evaluates every flag (and one that does not exist) for every context,
/// through every entry point that must not allocate.
fn evaluate_everything(snapshot: &Snapshot, keys: &[&str], contexts: &[Context]) -> u64 {
    let mut checksum = 0u64;
    let default = Value::Null;
    for context in contexts {
        for key in keys {
            let evaluation = snapshot.evaluate(key, context);
            checksum += u64::from(evaluation.value().is_some());
            checksum += u64::from(evaluation.variant().map_or(0, |v| v.len() as u32));
            checksum += u64::from(evaluation.reason() == Reason::Split);
            checksum += evaluation.rule_index().unwrap_or(0) as u64;
            checksum += evaluation.rule_name().map_or(0, str::len) as u64;
            checksum += u64::from(evaluation.split().map_or(0, |split| split.bucket));
            checksum += u64::from(evaluation.error_code().is_some());
            checksum += evaluation.experiment().map_or(0, str::len) as u64;
            checksum += u64::from(evaluation.flag_index().unwrap_or(0));
            checksum += u64::from(evaluation.variant_slot().unwrap_or(0));
            checksum += evaluation.revision().len() as u64;
            checksum += u64::from(snapshot.bool_value(key, context, false));
            checksum += snapshot.string_value(key, context, "default").len() as u64;
            checksum += snapshot.number_value(key, context, 0.0) as u64;
            checksum += u64::from(snapshot.json_value(key, context, &default).is_null());
            checksum += u64::from(
                snapshot
                    .bool_evaluation(key, context, true)
                    .evaluation
                    .error_code()
                    .is_some(),
            );
        }
    }
    checksum
}

#[test]
fn evaluation_does_not_allocate() {
    let snapshot = Snapshot::compile(&environment(), "abc123").expect("compiles");
    let contexts = contexts();
    let mut keys: Vec<&str> = snapshot.flag_keys().collect();
    keys.push("no-such-flag");

    // Without `word-boundary`, whose pattern keeps the regex crate's matcher
    // (the exception validation warns about, `regex-fallback`), nothing
    // allocates even the first time.
    let dfa_keys: Vec<&str> = keys
        .iter()
        .copied()
        .filter(|key| *key != "word-boundary")
        .collect();
    let region = Region::new(GLOBAL);
    let first = evaluate_everything(&snapshot, &dfa_keys, &contexts);
    let cold = region.change();

    // The regex crate allocates a matching cache for the first thread that
    // uses a pattern; after that, nothing allocates on that thread.
    evaluate_everything(&snapshot, &keys, &contexts);
    let region = Region::new(GLOBAL);
    let second = evaluate_everything(&snapshot, &keys, &contexts);
    let warm = region.change();

    assert!(first > 0 && second > first, "the evaluations did something");
    assert_eq!(
        (cold.allocations, cold.reallocations, cold.deallocations),
        (0, 0, 0),
        "cold evaluation allocated: {cold:?}"
    );
    assert_eq!(
        (warm.allocations, warm.reallocations, warm.deallocations),
        (0, 0, 0),
        "warm evaluation allocated: {warm:?}"
    );
}
