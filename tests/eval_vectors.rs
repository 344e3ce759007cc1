//! Golden vectors of bucketing contract v1 (`tests/vectors/bucketing.json`,
//! computed with an independent murmur3 implementation). Changing a vector is
//! a breaking change: users would move between variants.

use flagctl::eval::bucketing::{BucketingSalt, bucket, murmur3_x86_32, murmur3_x86_32_concat};
use flagctl::eval::{Context, Reason, Snapshot};
use flagctl::model::ResolvedEnvironment;
use serde_json::{Value, json};

fn vectors() -> Value {
    serde_json::from_str(include_str!("vectors/bucketing.json")).expect("valid JSON")
}

fn hex(value: &Value) -> u32 {
    let text = value.as_str().expect("a hex string");
    u32::from_str_radix(text.trim_start_matches("0x"), 16).expect("hex")
}

#[test]
fn design_vectors() {
    assert_eq!(murmur3_x86_32(b"fractional-flagjack", 0), 0x9fe8_43e0);
    assert_eq!(
        BucketingSalt::new("fractional-flag").hash("jack"),
        0x9fe8_43e0
    );
    // flagd-testbed's edge keys hash alone (an empty salt).
    let empty = BucketingSalt::new("");
    for (key, hash) in [
        ("ejOoVL", 0),
        ("bY9fO-", 1),
        ("SI7p-", 0x7fff_ffff),
        ("6LvT0", 0x8000_0000),
        ("ceQdGm", 0xffff_ffff),
    ] {
        assert_eq!(murmur3_x86_32(key.as_bytes(), 0), hash, "{key}");
        assert_eq!(empty.hash(key), hash, "{key}");
    }
}

#[test]
fn hash_vectors() {
    let vectors = vectors();
    let hashes = vectors["hashes"].as_array().expect("hashes");
    assert!(hashes.len() > 100);
    for vector in hashes {
        let salt = vector["salt"].as_str().expect("salt");
        let value = vector["value"].as_str().expect("value");
        let expected = hex(&vector["hash"]);
        let whole = format!("{salt}{value}");
        assert_eq!(
            murmur3_x86_32(whole.as_bytes(), 0),
            expected,
            "{salt:?} ++ {value:?}"
        );
        assert_eq!(
            murmur3_x86_32_concat(salt.as_bytes(), value.as_bytes(), 0),
            expected
        );
        assert_eq!(
            BucketingSalt::new(salt).hash(value),
            expected,
            "{salt:?} ++ {value:?}"
        );
        assert_eq!(
            u64::from(bucket(expected)),
            vector["bucket"].as_u64().expect("bucket")
        );
    }
}

#[test]
fn rollout_vectors() {
    let vectors = vectors();
    for vector in vectors["rollouts"].as_array().expect("rollouts") {
        let salt = vector["salt"].as_str().expect("salt");
        let value = vector["value"].as_str().expect("value");
        let weights: serde_json::Map<String, Value> = vector["weights"]
            .as_object()
            .expect("weights")
            .iter()
            .map(|(name, thousandths)| {
                let percent = thousandths.as_f64().expect("a number") / 1000.0;
                (name.clone(), json!(percent))
            })
            .collect();
        let variants: serde_json::Map<String, Value> = weights
            .keys()
            .map(|name| (name.clone(), Value::String(name.clone())))
            .collect();
        let env: ResolvedEnvironment = serde_json::from_value(json!({
            "environment": "prod", "bucketing": "v1", "segments": {},
            "flags": {"flag": {"key": "flag", "salt": salt, "type": "string", "variants": variants,
                               "default": {"rollout": weights}}}
        }))
        .expect("a valid environment");
        let snapshot = Snapshot::compile(&env, "vectors").expect("compiles");
        let evaluation = snapshot.evaluate("flag", &Context::new(value));
        assert_eq!(evaluation.reason(), Reason::Split);
        assert_eq!(
            evaluation.split().map(|split| u64::from(split.bucket)),
            vector["bucket"].as_u64(),
            "{salt:?} ++ {value:?}"
        );
        assert_eq!(
            evaluation.variant(),
            vector["variant"].as_str(),
            "{salt:?} ++ {value:?}"
        );
    }
}
