use serde_json::Value;

use super::*;

#[test]
fn regex_fallbacks_are_found_and_ascii_forms_suggested() {
    assert_eq!(regex_fallback(r"^[a-z]+@example\.com$"), None);
    assert_eq!(regex_fallback(r"(?-u:\b)staff(?-u:\b)"), None);
    assert_eq!(
        regex_fallback(r"\bstaff\b"),
        Some(RegexFallback::UnicodeWordBoundary)
    );
    assert_eq!(
        regex_fallback(r"(?s).*a.{20}"),
        Some(RegexFallback::TooLarge)
    );
    for (pattern, ascii) in [
        (r"\bstaff\B", r"(?-u:\b)staff(?-u:\B)"),
        (r"\b{start}x\>", r"(?-u:\b{start})x(?-u:\>)"),
        (r"(?-u:\b)x\\b\d", r"(?-u:\b)x\\b\d"),
        (r"é\b", r"é(?-u:\b)"),
    ] {
        assert_eq!(ascii_word_boundaries(pattern), ascii, "{pattern}");
    }
    assert_eq!(regex_fallback(&ascii_word_boundaries(r"\bstaff\b")), None);
}

/// Every field of [`Flag`] is classified: changing a behavioural one
/// makes [`Flag::evaluates_like`] false, a descriptive one keeps it true.
/// A field missing from these lists fails the first assertion (and
/// `evaluates_like` does not compile until it names the field).
#[test]
fn every_flag_field_is_classified_by_evaluates_like() {
    let flag: Flag = serde_json::from_value(serde_json::json!({
        "key": "f", "description": "d", "owner": "o", "expires": "2030-01-01",
        "tags": ["t"], "type": "string", "variants": {"a": "A", "b": "B"},
        "enabled": false, "off_variant": "b", "salt": "s",
        "targets": {"a": ["x"], "b": ["y"]},
        "rules": [{"name": "r", "when": {"attr": "c", "op": "eq", "value": 1},
                   "serve": {"rollout": {"a": 50, "b": 50}}}],
        "default": {"rollout": {"a": 10, "b": 90}, "by": "company"},
    }))
    .expect("a valid flag");
    type Change = fn(&mut Flag);
    let descriptive: [(&str, Change); 4] = [
        ("description", |f| f.description = None),
        ("owner", |f| f.owner = Some("p".to_owned())),
        ("expires", |f| f.expires = None),
        ("tags", |f| f.tags.push("u".to_owned())),
    ];
    let behavioural: [(&str, Change); 9] = [
        ("key", |f| f.key = FlagKey::parse("g").expect("valid")),
        ("type", |f| f.kind = FlagType::Json),
        ("variants", |f| f.variants.reverse()),
        ("enabled", |f| f.enabled = true),
        ("off_variant", |f| f.off_variant = None),
        ("salt", |f| f.salt = None),
        ("targets", |f| f.targets.reverse()),
        ("rules", |f| f.rules[0].name = None),
        ("default", |f| {
            if let Serve::Rollout(rollout) = &mut f.default {
                rollout.weights.reverse();
            }
        }),
    ];
    let serialized = serde_json::to_value(&flag).expect("serializes");
    let mut fields: Vec<&str> = serialized
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    let mut classified: Vec<&str> = descriptive
        .iter()
        .chain(&behavioural)
        .map(|(name, _)| *name)
        .collect();
    fields.sort_unstable();
    classified.sort_unstable();
    assert_eq!(fields, classified, "every field is classified");
    for (name, change) in descriptive {
        let mut other = flag.clone();
        change(&mut other);
        assert!(flag.evaluates_like(&other), "`{name}` is descriptive");
    }
    for (name, change) in behavioural {
        let mut other = flag.clone();
        change(&mut other);
        assert!(!flag.evaluates_like(&other), "`{name}` affects evaluation");
    }
    // A rule's rollout in another order buckets users differently.
    let mut other = flag.clone();
    if let Serve::Rollout(rollout) = &mut other.rules[0].serve {
        rollout.weights.reverse();
    }
    assert!(!flag.evaluates_like(&other));
    assert!(flag.evaluates_like(&flag.clone()));
}

#[test]
fn names_are_checked() {
    assert!(check_name("new-checkout").is_ok());
    assert!(check_name("a.b_c-1").is_ok());
    assert_eq!(check_name(""), Err(NameError::Empty));
    assert!(matches!(
        check_name("a/b"),
        Err(NameError::BadCharacter { character: '/', .. })
    ));
    assert!(matches!(check_name("a..b"), Err(NameError::DotDot(_))));
    assert!(matches!(check_name(".hidden"), Err(NameError::BadStart(_))));
    assert!(matches!(
        check_name(&"x".repeat(129)),
        Err(NameError::TooLong(_))
    ));
}

#[test]
fn weights_keep_three_decimals() {
    assert_eq!(
        Weight::from_percent(12.5).map(Weight::thousandths),
        Ok(12_500)
    );
    assert_eq!(Weight::from_percent(0.001).map(Weight::thousandths), Ok(1));
    assert_eq!(
        Weight::from_percent(33.333).map(Weight::thousandths),
        Ok(33_333)
    );
    assert!(matches!(
        Weight::from_percent(0.0001),
        Err(WeightError::TooPrecise(_))
    ));
    assert!(matches!(
        Weight::from_percent(101.0),
        Err(WeightError::OutOfRange(_))
    ));
    assert!(matches!(
        Weight::from_percent(-1.0),
        Err(WeightError::OutOfRange(_))
    ));
    assert_eq!(Weight::from_thousandths(33_330).to_string(), "33.33");
    assert_eq!(Weight::from_thousandths(25_000).to_string(), "25");
}

#[test]
fn weights_serialize_as_percent() {
    let json = serde_json::to_string(&[
        Weight::from_thousandths(25_000),
        Weight::from_thousandths(12_345),
    ]);
    assert_eq!(json.ok().as_deref(), Some("[25,12.345]"));
}

#[test]
fn flag_round_trips_through_json() {
    let json = serde_json::json!({
        "key": "new-checkout",
        "type": "boolean",
        "targets": {"on": ["alice"]},
        "rules": [
            {"name": "staff", "when": {"segment": "staff"}, "serve": "on"},
            {"when": {"all": [
                {"attr": "country", "op": "in", "values": ["DE", "FR"]},
                {"not": {"attr": "plan", "op": "eq", "value": "free"}}
            ]}, "serve": {"rollout": {"on": 50, "off": 50}, "by": "company"}}
        ],
        "default": {"rollout": {"on": 10, "off": 90}}
    });
    let flag: Flag = serde_json::from_value(json.clone()).expect("valid flag");
    assert_eq!(flag.rules.len(), 2);
    assert!(matches!(flag.rules[0].when, Condition::Segment { .. }));
    let Serve::Rollout(rollout) = &flag.default else {
        panic!("default is a rollout")
    };
    assert_eq!(rollout.total(), u64::from(WEIGHT_TOTAL));
    assert_eq!(serde_json::to_value(&flag).expect("serializes"), json);
    let flag = flag.with_implicit_variants();
    assert_eq!(flag.off_variant.as_deref(), Some("off"));
    assert_eq!(flag.variants.get("on"), Some(&Value::Bool(true)));
}

#[test]
fn partial_semver() {
    let v = |t: &str| parse_semver(t).map(|v| v.to_string()).ok();
    assert_eq!(v("1.2").as_deref(), Some("1.2.0"));
    assert_eq!(v("v2").as_deref(), Some("2.0.0"));
    assert_eq!(v("1.2.3").as_deref(), Some("1.2.3"));
    assert_eq!(v("1.2-beta.1").as_deref(), Some("1.2.0-beta.1"));
    assert_eq!(v("x.y"), None);
    assert!(parse_time("2026-12-01T00:00:00Z").is_ok());
    assert!(parse_time("2026-12-01").is_err());
    assert!(check_regex("^[a-z]+@example\\.com$").is_ok());
    // The `regex` crate's own errors, the same text.
    for pattern in ["a(", "^(?!test).*$", "a{2,1}", r"\p{Nope}"] {
        let ours = check_regex(pattern).expect_err("invalid").to_string();
        let theirs = regex::Regex::new(pattern).expect_err("invalid").to_string();
        assert_eq!(ours, theirs, "{pattern}");
    }
    // Over the size limit, as `regex` reports it.
    let huge = r"\w{1000}\w{1000}\w{1000}";
    assert!(matches!(
        check_regex(huge),
        Err(regex::Error::CompiledTooBig(REGEX_SIZE_LIMIT))
    ));
    assert!(
        regex::RegexBuilder::new(huge)
            .size_limit(REGEX_SIZE_LIMIT)
            .build()
            .is_err()
    );
}

#[test]
fn conditions_read_as_one_line() {
    let condition: Condition = serde_json::from_value(serde_json::json!({"all": [
        {"attr": "country", "op": "in", "values": ["DE", "FR"]},
        {"any": [{"segment": "staff"}, {"not": {"attr": "plan", "op": "eq", "value": "free plan"}}]},
        {"attr": "email", "op": "exists"}
    ]}))
    .expect("valid condition");
    assert_eq!(
        condition.to_string(),
        "country in [DE, FR] and (in segment staff or not plan eq \"free plan\") and email exists"
    );
}

#[test]
fn unknown_fields_are_rejected() {
    let json = serde_json::json!({"key": "x", "type": "boolean", "default": "on", "rollot": 1});
    assert!(serde_json::from_value::<Flag>(json).is_err());
}
