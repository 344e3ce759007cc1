use serde_json::json;

use super::attributes::*;
use super::bytes::*;
use super::cell::*;
use super::value::*;
use super::*;

proptest::proptest! {
    /// Comparing by words (the last one overlapping) is comparing bytes.
    #[test]
    fn same_bytes_is_equality(
        a in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40),
        flip in proptest::option::of(0usize..40),
        cut in proptest::option::of(0usize..40),
    ) {
        let mut b = a.clone();
        if let Some(at) = flip.filter(|at| *at < b.len()) {
            b[at] ^= 1;
        }
        if let Some(len) = cut.filter(|len| *len < b.len()) {
            b.truncate(len);
        }
        proptest::prop_assert_eq!(same_bytes(&a, &b), a == b);
        proptest::prop_assert!(same_bytes(&a, &a));
    }
}

fn get(context: &Context, path: &str) -> Option<AttributeValue> {
    context.get(path).map(|value| value.to_value())
}

#[test]
fn builder_sets_and_replaces() {
    let context = Context::new("u")
        .with("a", 1)
        .with("a", "x")
        .with("n.m", true)
        .with("n.k", 2.5)
        .with("n.m.deep", "replaced a bool");
    assert_eq!(get(&context, "a"), Some(AttributeValue::from("x")));
    assert_eq!(get(&context, "n.k"), Some(AttributeValue::Number(2.5)));
    assert_eq!(
        get(&context, "n.m.deep"),
        Some(AttributeValue::from("replaced a bool"))
    );
    assert_eq!(get(&context, "n.x"), None);
    assert_eq!(get(&context, "a.b"), None);
    assert_eq!(context.attributes().len(), 2);
}

#[test]
fn lookup_scans_and_bisects() {
    let mut context = Context::new("u");
    for i in 0..40 {
        context.set(&format!("attribute{i}"), i);
    }
    for i in 0..40 {
        let name = format!("attribute{i}");
        assert_eq!(
            get(&context, &name),
            Some(AttributeValue::from(i)),
            "{name}"
        );
        let found = context
            .attributes()
            .find(name_key(name.as_bytes()), name.as_bytes());
        assert!(
            matches!(found, Some(Actual::Number(n)) if n == f64::from(i)),
            "{name}"
        );
    }
    assert_eq!(get(&context, "attribute40"), None);
    let mut small = Attributes::new();
    for i in 0..LINEAR_SCAN {
        small.set(&format!("s{i}"), AttributeValue::from("v"));
    }
    for i in 0..LINEAR_SCAN {
        let name = format!("s{i}");
        assert!(
            small
                .find(name_key(name.as_bytes()), name.as_bytes())
                .is_some()
        );
    }
    assert!(small.find(name_key(b"nope"), b"nope").is_none());
    assert_eq!(small.remove("s0"), Some(AttributeValue::from("v")));
    assert!(small.get("s0").is_none());
}

#[test]
fn table_moves_entries() {
    // Inserts and removes at the front, middle and back, checked
    // against a model.
    let mut attributes = Attributes::new();
    let mut model = std::collections::BTreeMap::new();
    let names: Vec<String> = (0..23)
        .map(|i| match i % 3 {
            0 => format!("n{i}"),
            1 => format!("a_longer_name_{i}"),
            _ => format!("z{i}"),
        })
        .collect();
    let check = |attributes: &Attributes, model: &std::collections::BTreeMap<String, i32>| {
        assert_eq!(attributes.len(), model.len());
        for (name, value) in model {
            assert_eq!(
                attributes.get(name),
                Some(AttributeRef::Number(f64::from(*value))),
                "{name}"
            );
            let found = attributes.find(name_key(name.as_bytes()), name.as_bytes());
            assert!(matches!(found, Some(Actual::Number(n)) if n == f64::from(*value)));
        }
    };
    for (i, name) in names.iter().enumerate().rev() {
        let value = i32::try_from(i).expect("small");
        attributes.set(name, AttributeValue::from(value));
        model.insert(name.clone(), value);
        check(&attributes, &model);
    }
    for name in names
        .iter()
        .step_by(2)
        .chain(names.iter().skip(1).step_by(2))
    {
        assert!(attributes.remove(name).is_some());
        model.remove(name);
        check(&attributes, &model);
    }
    assert!(attributes.table.is_empty());
}

#[test]
fn lists_and_maps_stay_in_place_when_others_go() {
    let mut context = Context::new("k")
        .with("l1", ["a", "b"])
        .with("m.x", 1)
        .with("l2", ["c"]);
    context.set("l1", "now a string");
    assert_eq!(get(&context, "m.x"), Some(AttributeValue::from(1)));
    assert_eq!(get(&context, "l2"), Some(AttributeValue::from(["c"])));
    assert_eq!(
        context.attributes_mut().remove("m"),
        Some(AttributeValue::Map({
            let mut map = Attributes::new();
            map.set("x", AttributeValue::from(1));
            map
        }))
    );
    assert_eq!(get(&context, "l2"), Some(AttributeValue::from(["c"])));
    assert_eq!(context.attributes().heavy.len(), 1);
}

#[test]
fn json_round_trip() {
    let json = json!({
        "targetingKey": "user-1",
        "country": "DE",
        "seats": 3,
        "beta": false,
        "groups": ["a", "b", null],
        "address": {"country": "FR", "zip": "75001"},
        "gone": null,
    });
    let context = Context::from_json(&json).expect("an object");
    assert_eq!(context.targeting_key(), "user-1");
    assert_eq!(
        get(&context, "address.country"),
        Some(AttributeValue::from("FR"))
    );
    assert_eq!(
        get(&context, "groups"),
        Some(AttributeValue::from(["a", "b"]))
    );
    assert_eq!(get(&context, "gone"), None);
    let back = context.to_json();
    assert_eq!(back["address"]["zip"], json!("75001"));
    assert_eq!(back["targetingKey"], json!("user-1"));
    assert_eq!(Context::from_json(&back), Ok(context));
}

#[test]
fn replaced_text_is_compacted() {
    let mut context = Context::new("first-key")
        .with("keep", "kept")
        .with("nested.x", "y");
    for i in 0..1000 {
        context.set("churn", format!("value number {i}"));
        context.set_targeting_key(format!("key-{i}"));
    }
    assert_eq!(context.targeting_key(), "key-999");
    assert_eq!(
        get(&context, "churn"),
        Some(AttributeValue::from("value number 999"))
    );
    assert_eq!(get(&context, "keep"), Some(AttributeValue::from("kept")));
    assert_eq!(get(&context, "nested.x"), Some(AttributeValue::from("y")));
    assert!(
        context.attributes().text.len() < 300,
        "{}",
        context.attributes().text.len()
    );
    context.set("keep", 1);
    assert_eq!(
        context.attributes_mut().remove("churn"),
        Some(AttributeValue::from("value number 999"))
    );
    assert_eq!(get(&context, "churn"), None);
    assert_eq!(
        context,
        Context::new("key-999")
            .with("keep", 1)
            .with("nested.x", "y")
    );
}

#[test]
fn layout() {
    assert_eq!(ENTRY, 32);
    assert_eq!(name_key(b"plan"), name_key(b"plan"));
    assert_ne!(name_key(b"plan"), name_key(b"plan\0"));
    assert_ne!(name_key(b""), name_key(b"\0"));
    assert!(!is_hashed(name_key(b"country")));
    assert!(is_hashed(name_key(b"app_version")));
    // Short and long names and values, side by side.
    let long = "a value longer than fourteen bytes";
    let context = Context::new("k")
        .with("country", "DE")
        .with("a_long_attribute_name", long)
        .with("fourteen_bytes", "exactly 14 b!!")
        .with("s", "");
    assert_eq!(get(&context, "country"), Some(AttributeValue::from("DE")));
    assert_eq!(
        get(&context, "a_long_attribute_name"),
        Some(AttributeValue::from(long))
    );
    assert_eq!(
        get(&context, "fourteen_bytes"),
        Some(AttributeValue::from("exactly 14 b!!"))
    );
    assert_eq!(get(&context, "s"), Some(AttributeValue::from("")));
    let name = "a_long_attribute_name";
    let found = context
        .attributes()
        .find(name_key(name.as_bytes()), name.as_bytes());
    assert!(matches!(found, Some(Actual::Str(bytes)) if bytes == long.as_bytes()));
    let found = context.attributes().find(name_key(b"country"), b"country");
    assert!(matches!(found, Some(Actual::Word(word)) if word == name_key(b"DE")));
}

#[test]
fn json_errors() {
    assert_eq!(
        Context::from_json(&json!([1])),
        Err(ContextError::NotAnObject { found: "an array" })
    );
    assert_eq!(
        Context::from_json(&json!({"targetingKey": 7})),
        Err(ContextError::TargetingKeyNotString { found: "a number" })
    );
    let anonymous = Context::from_json(&json!({"targetingKey": null, "a": 1})).expect("valid");
    assert_eq!(anonymous.targeting_key(), "");
    assert_eq!(
        ContextError::NotAnObject { found: "a string" }.to_string(),
        "an evaluation context must be a JSON object, found a string"
    );
}
