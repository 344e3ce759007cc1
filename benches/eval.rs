//! Evaluation per flag shape, against a hand-written minimal evaluator (the
//! floor) in the same run.
//!
//! One 1,000-flag snapshot (200 flags of each shape) and 10,000 pre-built
//! contexts; every iteration evaluates the next flag of its shape for the
//! next user, so caches see a realistic spread of flags and users.
//!
//! * floor: a hash-map lookup of the flag key, one murmur3 hash of salt and
//!   user key, a threshold compare, with user keys from a `Vec<String>`;
//! * floor-context: the same, reading the user key from the same contexts
//!   the evaluations get;
//! * A: boolean, fully on;
//! * B: 25% rollout by user;
//! * C: `country in [DE, FR, NL]` and `plan == enterprise`, then a 50% rollout
//!   (C-segment: the same two conditions in a segment);
//! * D: three variants 50/30/20.
//!
//! Run with `cargo bench --no-default-features --bench eval`; results go in
//! `docs/benchmarks.md`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use flagctl::eval::bucketing::{bucket, murmur3_x86_32_concat};
use flagctl::eval::{Context, Snapshot};
use flagctl::model::ResolvedEnvironment;
use rustc_hash::FxHashMap;
use serde_json::{Value, json};

const FLAGS_PER_SHAPE: usize = 200;
const USERS: usize = 10_000;

const SHAPES: [&str; 5] = ["a-on", "b-rollout", "c-rules", "c-segment", "d-multi"];

fn flag_key(shape: &str, index: usize) -> String {
    format!("{shape}-feature-{index:04}")
}

fn flag(shape: &str, key: &str) -> Value {
    match shape {
        "a-on" => json!({"key": key, "type": "boolean", "default": "on"}),
        "b-rollout" => {
            json!({"key": key, "type": "boolean", "default": {"rollout": {"on": 25, "off": 75}}})
        }
        "c-rules" => json!({"key": key, "type": "boolean", "rules": [
            {"when": {"all": [
                {"attr": "country", "op": "in", "values": ["DE", "FR", "NL"]},
                {"attr": "plan", "op": "eq", "value": "enterprise"}
            ]}, "serve": {"rollout": {"on": 50, "off": 50}}}
        ], "default": "off"}),
        "c-segment" => json!({"key": key, "type": "boolean", "rules": [
            {"when": {"segment": "enterprise-eu"}, "serve": {"rollout": {"on": 50, "off": 50}}}
        ], "default": "off"}),
        _ => json!({"key": key, "type": "string",
            "variants": {"control": "control", "treatment": "treatment", "holdout": "holdout"},
            "default": {"rollout": {"control": 50, "treatment": 30, "holdout": 20}}}),
    }
}

fn environment() -> ResolvedEnvironment {
    let mut flags = serde_json::Map::new();
    for shape in SHAPES {
        for index in 0..FLAGS_PER_SHAPE {
            let key = flag_key(shape, index);
            flags.insert(key.clone(), flag(shape, &key));
        }
    }
    serde_json::from_value(json!({
        "environment": "prod",
        "bucketing": "v1",
        "flags": flags,
        "segments": {"enterprise-eu": {"name": "enterprise-eu", "when": {"all": [
            {"attr": "country", "op": "in", "values": ["DE", "FR", "NL"]},
            {"attr": "plan", "op": "eq", "value": "enterprise"}
        ]}}},
    }))
    .expect("a valid environment")
}

/// A deterministic, well-mixed number for user `index`.
fn mix(index: usize) -> u64 {
    let mut x = (index as u64).wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn user_key(index: usize) -> String {
    let x = mix(index);
    format!("user-{:08x}-{:04x}", x >> 32, x & 0xffff)
}

fn contexts() -> Vec<Context> {
    const COUNTRIES: [&str; 6] = ["DE", "FR", "NL", "US", "GB", "IT"];
    const PLANS: [&str; 3] = ["free", "pro", "enterprise"];
    (0..USERS)
        .map(|index| {
            let x = mix(index) as usize;
            Context::new(user_key(index))
                .with("country", COUNTRIES[x % COUNTRIES.len()])
                .with("plan", PLANS[(x / 7) % PLANS.len()])
                .with("email", format!("person{index}@example.com"))
                .with("app_version", "4.12.0")
                .with("seats", (x % 500) as i64)
                .with("beta", x.is_multiple_of(2))
        })
        .collect()
}

/// The floor: what any evaluator has to do at least.
struct FloorFlag {
    salt: Box<str>,
    threshold: u32,
}

#[inline(never)]
fn floor_evaluate(flags: &FxHashMap<Box<str>, FloorFlag>, key: &str, user: &str) -> Option<bool> {
    let flag = flags.get(key)?;
    let hash = murmur3_x86_32_concat(flag.salt.as_bytes(), user.as_bytes(), 0);
    Some(bucket(hash) < flag.threshold)
}

fn evaluation(c: &mut Criterion) {
    let snapshot = Snapshot::compile(&environment(), "bench").expect("compiles");
    assert_eq!(snapshot.flag_count(), SHAPES.len() * FLAGS_PER_SHAPE);
    let contexts = contexts();
    let users: Vec<String> = (0..USERS).map(user_key).collect();
    let floor: FxHashMap<Box<str>, FloorFlag> = snapshot
        .flag_keys()
        .map(|key| {
            (
                key.into(),
                FloorFlag {
                    salt: key.into(),
                    threshold: 25_000,
                },
            )
        })
        .collect();

    let mut group = c.benchmark_group("evaluation");
    {
        let keys: Vec<String> = (0..FLAGS_PER_SHAPE)
            .map(|i| flag_key("b-rollout", i))
            .collect();
        let mut i = 0usize;
        group.bench_function("floor", |b| {
            b.iter(|| {
                i = i.wrapping_add(1);
                let key = &keys[i % FLAGS_PER_SHAPE];
                let user = &users[i % USERS];
                black_box(floor_evaluate(&floor, black_box(key), black_box(user)))
            })
        });
    }
    {
        // The same floor, reading the user key from the same contexts as
        // the evaluations below (same inputs, same memory traffic).
        let keys: Vec<String> = (0..FLAGS_PER_SHAPE)
            .map(|i| flag_key("b-rollout", i))
            .collect();
        let mut i = 0usize;
        group.bench_function("floor-context", |b| {
            b.iter(|| {
                i = i.wrapping_add(1);
                let key = &keys[i % FLAGS_PER_SHAPE];
                let user = contexts[i % USERS].targeting_key();
                black_box(floor_evaluate(&floor, black_box(key), black_box(user)))
            })
        });
    }
    for shape in SHAPES {
        let keys: Vec<String> = (0..FLAGS_PER_SHAPE).map(|i| flag_key(shape, i)).collect();
        let mut i = 0usize;
        group.bench_function(shape, |b| {
            b.iter(|| {
                i = i.wrapping_add(1);
                let key = &keys[i % FLAGS_PER_SHAPE];
                let context = &contexts[i % USERS];
                black_box(
                    snapshot
                        .evaluate(black_box(key), black_box(context))
                        .value(),
                )
            })
        });
    }
    group.finish();
}

criterion_group!(benches, evaluation);
criterion_main!(benches);
