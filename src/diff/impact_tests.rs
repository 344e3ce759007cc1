//! Unit and property tests of [`super::rollout_impact`].

use super::*;
use crate::diff::share::hashes_below;
use proptest::prelude::*;
use serde_json::{Value, json};

/// The bucket of a hash, as evaluation computes it.
fn bucket(hash: u64) -> u64 {
    u64::from(crate::eval::bucketing::bucket(
        u32::try_from(hash).expect("a 32-bit hash"),
    ))
}

/// The variant the evaluator serves `user` from `flag`'s default.
fn served(flag: &Flag, users: &[String]) -> Vec<Option<String>> {
    let env: crate::model::ResolvedEnvironment = serde_json::from_value(json!({
        "environment": "test", "bucketing": "v1", "segments": {},
        "flags": {flag.key.as_str(): flag},
    }))
    .expect("an environment");
    let snapshot = crate::eval::Snapshot::compile(&env, "test").expect("compiles");
    users
        .iter()
        .map(|user| {
            snapshot
                .evaluate(flag.key.as_str(), &crate::eval::Context::new(user.as_str()))
                .variant()
                .map(str::to_owned)
        })
        .collect()
}

fn flag(json: Value) -> Flag {
    serde_json::from_value(json).expect("a valid flag")
}

fn boolean(extra: Value) -> Flag {
    let mut base = json!({"key": "new-checkout", "type": "boolean", "default": "off"});
    if let (Value::Object(base), Value::Object(extra)) = (&mut base, extra) {
        base.extend(extra);
    }
    flag(base)
}

fn rollout(on: f64) -> Value {
    json!({"rollout": {"on": on, "off": 100.0 - on}})
}

fn exact(impact: &ServeImpact) -> (Share, Share, &[Move]) {
    match &impact.effect {
        Effect::Exact {
            moved,
            stayed,
            moves,
        } => (*moved, *stayed, moves),
        Effect::Reshuffled { .. } => panic!("expected an exact effect: {impact:?}"),
    }
}

#[test]
fn hash_counts_match_the_bucket_function_at_every_boundary() {
    for c in (0..=WEIGHT_TOTAL)
        .step_by(7)
        .chain([1, 9_999, 10_000, 99_999, 100_000])
    {
        let n = hashes_below(c);
        if n > 0 {
            assert!(bucket(n - 1) < u64::from(c), "bucket {c}");
        }
        if n < HASH_SPACE {
            assert!(bucket(n) >= u64::from(c), "bucket {c}");
        }
    }
    assert_eq!(hashes_below(0), 0);
    assert_eq!(hashes_below(WEIGHT_TOTAL), HASH_SPACE);
}

#[test]
fn raising_10_to_25_moves_exactly_the_hashes_in_buckets_10000_to_25000() {
    let impact = rollout_impact(
        &boolean(json!({"default": rollout(10.0)})),
        &boolean(json!({"default": rollout(25.0)})),
    );
    assert_eq!(impact.serves.len(), 1);
    let serve = &impact.serves[0];
    assert_eq!(serve.serve, ServeScope::Default);
    let (moved, stayed, moves) = exact(serve);
    // ceil(25000 * 2^32 / 100000) - ceil(10000 * 2^32 / 100000)
    let expected = 1_073_741_824 - 429_496_730;
    assert_eq!(moved.hashes(), expected);
    // The first hash of bucket 10000 and the last of bucket 24999.
    assert_eq!(bucket(429_496_730), 10_000);
    assert_eq!(bucket(429_496_729), 9_999);
    assert_eq!(bucket(1_073_741_823), 24_999);
    assert_eq!(bucket(1_073_741_824), 25_000);
    assert_eq!(moved.hashes() + stayed.hashes(), HASH_SPACE);
    assert_eq!(
        moves,
        [Move {
            from: Some("off".into()),
            to: Some("on".into()),
            share: Share::from_hashes(expected),
        }]
    );
    assert_eq!(moved.to_string(), "15.000%");
    assert_eq!(moved.fraction(), (322_122_547, 2_147_483_648));
    assert_eq!(
        serve.summary,
        "raising on 10% → 25% moves 15.000% of users from off to on; nobody leaves on"
    );
    assert_eq!(
        impact.summary,
        ["default: raising on 10% → 25% moves 15.000% of users from off to on; nobody leaves on"]
    );
    assert!(impact.moves_anyone());
}

#[test]
fn lowering_a_percentage_says_users_lose_the_variant() {
    let impact = rollout_impact(
        &boolean(json!({"default": rollout(25.0)})),
        &boolean(json!({"default": rollout(10.0)})),
    );
    let (moved, _, moves) = exact(&impact.serves[0]);
    assert_eq!(moved.hashes(), 644_245_094);
    assert_eq!(moves[0].from.as_deref(), Some("on"));
    assert_eq!(moves[0].to.as_deref(), Some("off"));
    assert_eq!(
        impact.serves[0].summary,
        "lowering on 25% → 10% moves 15.000% of users from on to off; they lose on"
    );
}

#[test]
fn fractional_weights_count_exactly() {
    let impact = rollout_impact(
        &boolean(json!({"default": rollout(0.0)})),
        &boolean(json!({"default": rollout(0.001)})),
    );
    let (moved, _, _) = exact(&impact.serves[0]);
    // Bucket 0 holds ceil(2^32 / 100000) hashes.
    assert_eq!(moved.hashes(), 42_950);
    assert_eq!(moved.to_string(), "0.001%");
    assert_eq!(Share::from_hashes(1).to_string(), "<0.001%");
    assert_eq!(Share::from_hashes(HASH_SPACE - 1).to_string(), ">99.999%");
    assert_eq!(Share::ALL.to_string(), "100.000%");
}

#[test]
fn reordered_variants_move_users_out_of_what_they_had() {
    let impact = rollout_impact(
        &boolean(json!({"default": {"rollout": {"on": 50, "off": 50}}})),
        &boolean(json!({"default": {"rollout": {"off": 50, "on": 50}}})),
    );
    let (moved, stayed, moves) = exact(&impact.serves[0]);
    assert_eq!(moved, Share::ALL);
    assert_eq!(stayed, Share::NONE);
    assert_eq!(moves.len(), 2);
    assert_eq!(moves[0].share.hashes(), 1 << 31);
    assert_eq!(
        impact.serves[0].summary,
        "reordering the variants (on, off → off, on) moves 50.000% of users from on to off and 50.000% from off to on; 50.000% of users lose on"
    );
}

#[test]
fn a_changed_salt_reshuffles_everyone() {
    let before = boolean(json!({"default": {"rollout": {"on": 50, "off": 50}}}));
    let after = boolean(json!({"salt": "v2", "default": {"rollout": {"on": 50, "off": 50}}}));
    let impact = rollout_impact(&before, &after);
    let serve = &impact.serves[0];
    match &serve.effect {
        Effect::Reshuffled {
            reason,
            expected_moved_percent,
        } => {
            assert_eq!(reason, "the salt (new-checkout → v2)");
            assert!((expected_moved_percent - 50.0).abs() < 1e-9);
        }
        Effect::Exact { .. } => panic!("a new salt reshuffles"),
    }
    assert!(
        serve.summary.contains("reshuffles everyone"),
        "{}",
        serve.summary
    );
    assert!(impact.moves_anyone());
    // The salt written out as the key it defaults to is no change.
    let explicit =
        boolean(json!({"salt": "new-checkout", "default": {"rollout": {"on": 50, "off": 50}}}));
    assert!(rollout_impact(&before, &explicit).is_empty());
    // A salt does not matter to a serve that is not a rollout.
    let constant = boolean(json!({"default": "on"}));
    let constant_salted = boolean(json!({"salt": "v2", "default": "on"}));
    assert!(rollout_impact(&constant, &constant_salted).is_empty());
}

#[test]
fn a_changed_by_reshuffles_that_serve() {
    let before = boolean(json!({"default": {"rollout": {"on": 20, "off": 80}}}));
    let after = boolean(json!({"default": {"rollout": {"on": 20, "off": 80}, "by": "company"}}));
    let impact = rollout_impact(&before, &after);
    let Effect::Reshuffled {
        reason,
        expected_moved_percent,
    } = &impact.serves[0].effect
    else {
        panic!("a new `by` reshuffles")
    };
    assert_eq!(reason, "by (the targeting key → company)");
    // 1 - (0.2 * 0.2 + 0.8 * 0.8)
    assert!((expected_moved_percent - 32.0).abs() < 1e-9);
}

#[test]
fn disabling_moves_everyone_to_the_off_variant() {
    let before = boolean(json!({
        "targets": {"on": ["alice"]},
        "rules": [{"name": "staff", "when": {"segment": "staff"}, "serve": "on"}],
        "default": rollout(10.0),
    }));
    let mut after = before.clone();
    after.enabled = false;
    let impact = rollout_impact(&before, &after);
    assert_eq!(impact.kill_switch, Some(Toggle::Disabled));
    assert_eq!(impact.serves.len(), 2);
    assert_eq!(
        impact.serves[0].serve,
        ServeScope::Rule {
            index: 0,
            name: Some("staff".into())
        }
    );
    let (moved, _, _) = exact(&impact.serves[0]);
    assert_eq!(moved, Share::ALL);
    let (moved, _, _) = exact(&impact.serves[1]);
    assert_eq!(moved.hashes(), 429_496_730);
    assert_eq!(
        impact.targets,
        [TargetMove {
            key: "alice".into(),
            before: "on".into(),
            after: "off".into()
        }]
    );
    assert_eq!(
        impact.summary,
        [
            "disabling the flag serves off to everyone",
            "rules[0] (staff): disabling the flag moves 100.000% of users from on to off; they lose on",
            "default: disabling the flag moves 10.000% of users from on to off; they lose on",
            "targets: alice (on → off)",
        ]
    );
    // And back.
    let impact = rollout_impact(&after, &before);
    assert_eq!(impact.kill_switch, Some(Toggle::Enabled));
    assert_eq!(
        impact.summary[2],
        "default: enabling the flag moves 10.000% of users from off to on"
    );
    assert_eq!(impact.serves[1].before, "off (disabled)");
}

#[test]
fn a_disabled_flag_without_off_variant_serves_no_variant() {
    let before = flag(json!({"key": "color", "type": "string",
        "variants": {"red": "#f00", "blue": "#00f"}, "default": "red"}));
    let mut after = before.clone();
    after.enabled = false;
    let impact = rollout_impact(&before, &after);
    let (_, _, moves) = exact(&impact.serves[0]);
    assert_eq!(moves[0].to, None);
    assert_eq!(
        impact.summary,
        [
            "disabling the flag serves no variant to everyone",
            "default: disabling the flag moves 100.000% of users from red to no variant; they lose red",
        ]
    );
    // Still disabled, with an off variant now: everyone gets it.
    let mut later = after.clone();
    later.off_variant = Some("blue".into());
    let impact = rollout_impact(&after, &later);
    assert_eq!(impact.serves[0].serve, ServeScope::Everyone);
    assert_eq!(
        impact.summary,
        [
            "everyone: serving blue (disabled) instead of no variant (disabled) moves 100.000% of users from no variant to blue"
        ]
    );
    // Other changes to a disabled flag move nobody yet.
    let mut edited = later.clone();
    edited.default = Serve::Variant("blue".into());
    let impact = rollout_impact(&later, &edited);
    assert!(impact.serves.is_empty());
    assert_eq!(
        impact.notes,
        ["the flag stays disabled: nobody moves until it is enabled again"]
    );
}

#[test]
fn constants_rules_targets_and_values() {
    let before = flag(json!({"key": "color", "type": "string",
        "variants": {"red": "#f00", "blue": "#00f"},
        "targets": {"blue": ["bob"]},
        "rules": [
            {"when": {"attr": "country", "op": "eq", "value": "DE"}, "serve": "red"},
            {"when": {"segment": "beta"}, "serve": "blue"},
        ],
        "default": "red"}));
    let after = flag(json!({"key": "color", "type": "string",
        "variants": {"red": "#e00", "blue": "#00f"},
        "targets": {"blue": ["alice"]},
        "rules": [
            {"when": {"attr": "country", "op": "eq", "value": "FR"}, "serve": "blue"},
        ],
        "default": "red"}));
    let impact = rollout_impact(&before, &after);
    assert_eq!(
        impact.summary,
        [
            "rules[0]: serving blue instead of red moves 100.000% of users from red to blue; they lose red",
            "targets: alice (not targeted → blue), bob (blue → not targeted)",
            "rules[0] condition changed (country eq DE → country eq FR): who matches it changes, which the files cannot count",
            "rules[1] removed: users who matched it (blue) fall through to later rules and the default (not counted)",
            "variant red now serves \"#e00\" instead of \"#f00\": everyone who gets red sees the new value",
        ]
    );
}

#[test]
fn unchanged_serves_are_not_reported() {
    let before = boolean(json!({"description": "a", "default": rollout(30.0)}));
    let after = boolean(
        json!({"description": "b", "default": {"rollout": {"on": 30, "off": 70}, "experiment": "x"}}),
    );
    let impact = rollout_impact(&before, &after);
    assert!(impact.is_empty(), "{impact:?}");
    assert!(!impact.moves_anyone());
    // A rollout fully on one variant is that variant.
    let full = boolean(json!({"default": {"rollout": {"on": 100, "off": 0}}}));
    assert!(rollout_impact(&full, &boolean(json!({"default": "on"}))).is_empty());
}

#[test]
fn impact_serializes_with_exact_fractions() {
    let impact = rollout_impact(
        &boolean(json!({"default": rollout(10.0)})),
        &boolean(json!({"default": rollout(25.0)})),
    );
    let json = serde_json::to_value(&impact).expect("serializes");
    assert_eq!(
        json,
        json!({
            "flag": "new-checkout",
            "serves": [{
                "serve": "default",
                "before": "on 10% / off 90%",
                "after": "on 25% / off 75%",
                "kind": "exact",
                "moved": {"numerator": 322_122_547, "denominator": 2_147_483_648_u64, "percent": 15.0},
                "stayed": {"numerator": 1_825_361_101, "denominator": 2_147_483_648_u64, "percent": 85.0},
                "moves": [{"from": "off", "to": "on",
                    "share": {"numerator": 322_122_547, "denominator": 2_147_483_648_u64, "percent": 15.0}}],
                "summary": "raising on 10% → 25% moves 15.000% of users from off to on; nobody leaves on",
            }],
            "summary": ["default: raising on 10% → 25% moves 15.000% of users from off to on; nobody leaves on"],
        })
    );
}

/// Weights over some of the variants `a`–`d`, in a random order, summing to
/// 100000 thousandths.
fn weights() -> impl Strategy<Value = Vec<(String, u32)>> {
    (
        Just(vec!["a", "b", "c", "d"]).prop_shuffle(),
        1..=4usize,
        prop::collection::vec(0..=WEIGHT_TOTAL, 3),
    )
        .prop_map(|(names, count, mut cuts)| {
            cuts.truncate(count - 1);
            cuts.push(0);
            cuts.push(WEIGHT_TOTAL);
            cuts.sort_unstable();
            names
                .iter()
                .take(count)
                .zip(cuts.windows(2))
                .map(|(name, w)| ((*name).to_owned(), w[1] - w[0]))
                .collect()
        })
}

fn string_flag(weights: &[(String, u32)]) -> Flag {
    let rollout: serde_json::Map<String, Value> = weights
        .iter()
        .map(|(name, w)| (name.clone(), json!(f64::from(*w) / 1000.0)))
        .collect();
    flag(json!({"key": "exp", "type": "string",
        "variants": {"a": "a", "b": "b", "c": "c", "d": "d"},
        "default": {"rollout": rollout}}))
}

fn share_of(outcome: &[(String, u32)], variant: &str) -> u64 {
    let mut start = 0;
    let mut total = 0;
    for (name, weight) in outcome {
        let end = start + weight;
        if name == variant {
            total += Share::of_buckets(start, end).hashes();
        }
        start = end;
    }
    total
}

proptest! {
    #[test]
    fn moves_and_stayers_make_everyone(before in weights(), after in weights()) {
        let impact = rollout_impact(&string_flag(&before), &string_flag(&after));
        prop_assert!(impact.serves.len() <= 1);
        let Some(serve) = impact.serves.first() else {
            // Nobody moves: every variant keeps exactly its share.
            for v in ["a", "b", "c", "d"] {
                prop_assert_eq!(share_of(&before, v), share_of(&after, v));
            }
            return Ok(());
        };
        let (moved, stayed, moves) = exact(serve);
        prop_assert_eq!(moved.hashes() + stayed.hashes(), HASH_SPACE);
        prop_assert_eq!(moves.iter().map(|m| m.share.hashes()).sum::<u64>(), moved.hashes());
        // Each variant's share after = before - what leaves it + what joins it.
        for v in ["a", "b", "c", "d"] {
            let out: u64 = moves.iter().filter(|m| m.from.as_deref() == Some(v)).map(|m| m.share.hashes()).sum();
            let inflow: u64 = moves.iter().filter(|m| m.to.as_deref() == Some(v)).map(|m| m.share.hashes()).sum();
            prop_assert_eq!(share_of(&before, v) + inflow - out, share_of(&after, v));
        }
    }

    #[test]
    fn every_user_the_evaluator_moves_is_counted(before in weights(), after in weights()) {
        let users: Vec<String> = (0..300).map(|i| format!("user-{i}")).collect();
        let (old, new) = (string_flag(&before), string_flag(&after));
        let impact = rollout_impact(&old, &new);
        let moves: &[Move] = impact.serves.first().map_or(&[], |s| exact(s).2);
        for (b, a) in served(&old, &users).into_iter().zip(served(&new, &users)) {
            if b != a {
                prop_assert!(
                    moves.iter().any(|m| m.from == b && m.to == a && !m.share.is_zero()),
                    "{b:?} → {a:?} not in {moves:?}"
                );
            }
        }
    }

    #[test]
    fn raising_the_first_variant_never_moves_anyone_out_of_it(
        before in weights(),
        raise in 0..=WEIGHT_TOTAL,
        cuts in prop::collection::vec(0..=WEIGHT_TOTAL, 3),
    ) {
        // The same variants in the same order; the first one's weight goes up
        // and the rest share what is left however they like.
        let first = before[0].1;
        let raised = first + (raise % (WEIGHT_TOTAL - first + 1));
        let rest = WEIGHT_TOTAL - raised;
        let mut points: Vec<u32> = cuts.iter().take(before.len() - 1).map(|c| c % (rest + 1)).collect();
        points.push(0);
        points.push(rest);
        points.sort_unstable();
        let mut after = vec![(before[0].0.clone(), raised)];
        for (i, (name, _)) in before.iter().enumerate().skip(1) {
            after.push((name.clone(), points[i] - points[i - 1]));
        }
        if before.len() == 1 {
            after[0].1 = WEIGHT_TOTAL;
        } else if let Some(last) = after.last_mut() {
            last.1 += rest - points[before.len() - 1];
        }
        prop_assert_eq!(after.iter().map(|(_, w)| *w).sum::<u32>(), WEIGHT_TOTAL);
        let impact = rollout_impact(&string_flag(&before), &string_flag(&after));
        for serve in &impact.serves {
            let (_, _, moves) = exact(serve);
            for m in moves {
                prop_assert_ne!(m.from.as_deref(), Some(before[0].0.as_str()));
            }
            let lose_first = format!("lose {}", before[0].0);
            prop_assert!(!serve.summary.contains(&lose_first), "{}", serve.summary);
        }
    }
}
