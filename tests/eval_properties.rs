//! Properties of bucketing and evaluation: deterministic, in range, sticky
//! when a rollout grows, independent across flags, accurate in proportion.

use flagctl::eval::bucketing::{BUCKETS, bucket, murmur3_x86_32_concat};
use flagctl::eval::{Context, Reason, Snapshot};
use flagctl::model::ResolvedEnvironment;
use proptest::prelude::*;
use serde_json::{Value, json};

/// A snapshot of boolean flags, each `(key, weight of on in thousandths)`.
fn rollouts(flags: &[(&str, u32)]) -> Snapshot {
    let flags: serde_json::Map<String, Value> = flags
        .iter()
        .map(|(key, on)| {
            let on = f64::from(*on) / 1000.0;
            let off = f64::from(BUCKETS) / 1000.0 - on;
            let off = (off * 1000.0).round() / 1000.0;
            (
                (*key).to_owned(),
                json!({"key": key, "type": "boolean", "default": {"rollout": {"on": on, "off": off}}}),
            )
        })
        .collect();
    let env: ResolvedEnvironment = serde_json::from_value(json!({
        "environment": "prod", "bucketing": "v1", "segments": {}, "flags": flags
    }))
    .expect("a valid environment");
    Snapshot::compile(&env, "properties").expect("compiles")
}

fn weighted(weights: &[(&str, f64)]) -> Snapshot {
    let variants: serde_json::Map<String, Value> = weights
        .iter()
        .map(|(name, _)| ((*name).to_owned(), json!(name)))
        .collect();
    let rollout: serde_json::Map<String, Value> = weights
        .iter()
        .map(|(name, weight)| ((*name).to_owned(), json!(weight)))
        .collect();
    let env: ResolvedEnvironment = serde_json::from_value(json!({
        "environment": "prod", "bucketing": "v1", "segments": {},
        "flags": {"split": {"key": "split", "type": "string", "variants": variants, "default": {"rollout": rollout}}}
    }))
    .expect("a valid environment");
    Snapshot::compile(&env, "properties").expect("compiles")
}

fn is_on(snapshot: &Snapshot, key: &str, user: &str) -> bool {
    snapshot.bool_value(key, &Context::new(user), false)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn evaluation_is_deterministic(user in "\\PC{1,40}", on in 0u32..=100_000) {
        let first = rollouts(&[("flag", on)]);
        let second = rollouts(&[("flag", on)]);
        let context = Context::new(user.as_str());
        let a = first.evaluate("flag", &context);
        let b = first.evaluate("flag", &context);
        let c = second.evaluate("flag", &context);
        prop_assert_eq!(a, b);
        prop_assert_eq!(a.variant(), c.variant());
        prop_assert_eq!(a.split(), c.split());
    }

    #[test]
    fn buckets_are_in_range(salt in "\\PC{0,30}", value in "\\PC{1,40}") {
        let hash = murmur3_x86_32_concat(salt.as_bytes(), value.as_bytes(), 0);
        prop_assert!(bucket(hash) < BUCKETS);
        let snapshot = rollouts(&[("flag", 50_000)]);
        let evaluation = snapshot.evaluate("flag", &Context::new(value.as_str()));
        prop_assert_eq!(evaluation.reason(), Reason::Split);
        let split = evaluation.split().expect("a split");
        prop_assert!(split.bucket < BUCKETS);
        prop_assert_eq!(split.hash, murmur3_x86_32_concat(b"flag", value.as_bytes(), 0));
        prop_assert_eq!(evaluation.variant() == Some("on"), split.bucket < 50_000);
    }

    /// Raising `on` from `a` to `b` keeps every user who had `on`.
    #[test]
    fn raising_a_rollout_is_sticky(
        users in proptest::collection::vec("[a-z0-9-]{1,24}", 1..50),
        a in 0u32..=100_000,
        raise in 0u32..=100_000,
    ) {
        let b = a.saturating_add(raise).min(100_000);
        let before = rollouts(&[("flag", a)]);
        let after = rollouts(&[("flag", b)]);
        for user in &users {
            if is_on(&before, "flag", user) {
                prop_assert!(is_on(&after, "flag", user), "{} lost `on` going from {} to {}", user, a, b);
            }
        }
    }
}

#[test]
fn raising_keeps_everyone_over_many_users() {
    let steps = [0, 1, 1_000, 10_000, 25_000, 50_000, 99_999, 100_000];
    let snapshots: Vec<Snapshot> = steps.iter().map(|on| rollouts(&[("flag", *on)])).collect();
    for i in 0..20_000 {
        let user = format!("user-{i}");
        let on: Vec<bool> = snapshots.iter().map(|s| is_on(s, "flag", &user)).collect();
        // Once on, on at every larger weight.
        assert!(
            on.windows(2).all(|pair| !pair[0] || pair[1]),
            "{user}: {on:?}"
        );
        assert!(!on[0] && on[steps.len() - 1]);
    }
}

const USERS: usize = 100_000;

fn users() -> impl Iterator<Item = String> {
    (0..USERS).map(|i| format!("user-{i:06}"))
}

#[test]
fn a_quarter_rollout_serves_a_quarter() {
    let snapshot = rollouts(&[("flag", 25_000)]);
    let on = users()
        .filter(|user| is_on(&snapshot, "flag", user))
        .count();
    let share = on as f64 / USERS as f64;
    assert!(
        (share - 0.25).abs() <= 0.005,
        "25% rollout served {share:.4}"
    );
}

#[test]
fn a_fifty_thirty_twenty_split_is_accurate() {
    let snapshot = weighted(&[("a", 50.0), ("b", 30.0), ("c", 20.0)]);
    let mut counts = [0usize; 3];
    for user in users() {
        match snapshot.evaluate("split", &Context::new(user)).variant() {
            Some("a") => counts[0] += 1,
            Some("b") => counts[1] += 1,
            Some("c") => counts[2] += 1,
            other => panic!("unexpected variant {other:?}"),
        }
    }
    for (count, expected) in counts.iter().zip([0.5, 0.3, 0.2]) {
        let share = *count as f64 / USERS as f64;
        assert!(
            (share - expected).abs() <= 0.005,
            "expected {expected}, served {share:.4}: {counts:?}"
        );
    }
}

#[test]
fn fractional_weights_are_honoured() {
    let snapshot = weighted(&[("a", 0.5), ("b", 99.5)]);
    let a = users()
        .filter(|user| {
            snapshot
                .evaluate("split", &Context::new(user.as_str()))
                .variant()
                == Some("a")
        })
        .count();
    let share = a as f64 / USERS as f64;
    assert!(
        (share - 0.005).abs() <= 0.001,
        "0.5% rollout served {share:.4}"
    );
}

/// Two flags at 50%: whether a user has one says nothing about the other.
#[test]
fn flags_bucket_independently() {
    let snapshot = rollouts(&[("checkout", 50_000), ("search", 50_000)]);
    let mut joint = [[0usize; 2]; 2];
    for user in users() {
        let a = usize::from(is_on(&snapshot, "checkout", &user));
        let b = usize::from(is_on(&snapshot, "search", &user));
        joint[a][b] += 1;
    }
    for row in &joint {
        for &count in row {
            let share = count as f64 / USERS as f64;
            assert!(
                (share - 0.25).abs() <= 0.005,
                "joint distribution {joint:?}"
            );
        }
    }
    // The phi coefficient of the two on/off variables is close to 0.
    let [[n00, n01], [n10, n11]] = joint.map(|row| row.map(|count| count as f64));
    let phi =
        (n11 * n00 - n10 * n01) / ((n10 + n11) * (n00 + n01) * (n01 + n11) * (n00 + n10)).sqrt();
    assert!(phi.abs() < 0.01, "correlation {phi}");
}
