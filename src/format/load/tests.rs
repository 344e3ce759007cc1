//! Tests of the loading pipeline.

use super::*;

fn options() -> LoadOptions {
    LoadOptions {
        today: Some(jiff::civil::date(2026, 11, 24)),
        threads: 1,
    }
}

fn codes(loaded: &Loaded) -> Vec<(&'static str, String)> {
    loaded
        .diagnostics
        .iter()
        .map(|d| {
            (
                d.code.as_str(),
                d.location
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
            )
        })
        .collect()
}

const CONFIG: &str = "environments: [dev, prod]\nprotected: [prod]\nbucketing: v1\n";

#[test]
fn resolves_overlays_per_environment() {
    let files = RootFiles::from_pairs([
        ("flagctl.yaml", CONFIG),
        (
            "base/checkout.yaml",
            "key: checkout\ntype: boolean\ndefault:\n  rollout: { on: 10, off: 90 }\n",
        ),
        (
            "overlays/prod/checkout.yaml",
            "default:\n  rollout: { on: 25, off: 75 }\n",
        ),
    ]);
    let loaded = load(&files, &options());
    assert!(loaded.is_valid(), "{:?}", loaded.diagnostics);
    let prod = &loaded.environments["prod"].flags["checkout"];
    assert_eq!(prod.default_summary(), "on 25% / off 75%");
    let dev = &loaded.environments["dev"].flags["checkout"];
    assert_eq!(dev.default_summary(), "on 10% / off 90%");
    let doc = loaded
        .resolved_document("prod", "checkout")
        .expect("resolved");
    assert!(doc.is_overridden("/default/rollout/on"));
    assert!(!doc.is_overridden("/type"));
    assert_eq!(
        doc.origin("/default/rollout/on").to_string(),
        "overlays/prod/checkout.yaml:2:18"
    );
}

#[test]
fn overlay_that_breaks_a_valid_base_points_into_the_overlay() {
    let files = RootFiles::from_pairs([
        ("flagctl.yaml", CONFIG),
        (
            "base/checkout.yaml",
            "key: checkout\ntype: boolean\ndefault:\n  rollout: { on: 10, off: 90 }\n",
        ),
        (
            "overlays/prod/checkout.yaml",
            "default:\n  rollout: { on: 20 }\n",
        ),
    ]);
    let loaded = load(&files, &options());
    assert_eq!(
        codes(&loaded),
        [("weights-sum", "overlays/prod/checkout.yaml:2:12".to_owned())]
    );
    assert_eq!(loaded.diagnostics[0].environment.as_deref(), Some("prod"));
    assert!(!loaded.environments["prod"].flags.contains_key("checkout"));
    assert!(loaded.environments["dev"].flags.contains_key("checkout"));
}

#[test]
fn reports_every_problem() {
    let files = RootFiles::from_pairs([
        (
            "flagctl.yaml",
            "environments: [dev, prod]\nprotected: [qa]\n",
        ),
        ("base/a.yaml", "key: b\ntype: boolean\ndefault: on\n"),
        (
            "base/c.yaml",
            "key: c\ntype: number\nvariants: { x: 1, y: \"2\" }\ndefault: z\nrollot: 1\n",
        ),
        ("base/d.yml", "key: d\n"),
        ("segments/s.yaml", "name: s\ninclude: [a]\n"),
        ("overlays/qa/c.yaml", "enabled: false\n"),
        ("overlays/dev/e.yaml", "enabled: false\n"),
    ]);
    let loaded = load(&files, &options());
    let found = codes(&loaded);
    for expected in [
        "key-mismatch",
        "unknown-field",
        "unexpected-file",
        "unused-segment",
        "unknown-environment",
        "orphan-overlay",
    ] {
        assert!(
            found.iter().any(|(c, _)| *c == expected),
            "{expected} missing from {found:?}"
        );
    }
    assert!(!loaded.is_valid());
}

#[test]
fn semantic_problems_have_positions() {
    let files = RootFiles::from_pairs([
        ("flagctl.yaml", CONFIG),
        (
            "base/c.yaml",
            "key: c\ntype: number\nvariants: { x: 1, y: \"2\" }\nexpires: 2026-01-01\nrules:\n  - when: { attr: v, op: semver_gt, value: \"x.y\" }\n    serve: x\n  - when: { segment: staf }\n    serve: x\ndefault: z\n",
        ),
        ("segments/staff.yaml", "name: staff\ninclude: [a]\n"),
    ]);
    let loaded = load(&files, &options());
    let found = codes(&loaded);
    assert!(
        found.contains(&("variant-type", "base/c.yaml:3:22".to_owned())),
        "{found:?}"
    );
    assert!(
        found.contains(&("expired", "base/c.yaml:4:10".to_owned())),
        "{found:?}"
    );
    assert!(
        found.contains(&("invalid-semver", "base/c.yaml:6:44".to_owned())),
        "{found:?}"
    );
    assert!(
        found.contains(&("unknown-segment", "base/c.yaml:8:22".to_owned())),
        "{found:?}"
    );
    assert!(
        found.contains(&("unknown-variant", "base/c.yaml:10:10".to_owned())),
        "{found:?}"
    );
    let unknown = loaded
        .diagnostics
        .iter()
        .find(|d| d.code == Code::UnknownSegment)
        .expect("found");
    assert_eq!(unknown.help.as_deref(), Some("did you mean `staff`?"));
}

#[test]
fn missing_config_is_an_error() {
    let files = RootFiles::from_pairs([("base/a.yaml", "key: a\ntype: boolean\ndefault: on\n")]);
    let loaded = load(&files, &options());
    assert_eq!(codes(&loaded), [("missing-config", String::new())]);
}

#[test]
fn segment_cycles_are_found() {
    let files = RootFiles::from_pairs([
        ("flagctl.yaml", CONFIG),
        (
            "base/f.yaml",
            "key: f\ntype: boolean\nrules:\n  - when: { segment: a }\n    serve: on\ndefault: off\n",
        ),
        ("segments/a.yaml", "name: a\nwhen: { segment: b }\n"),
        (
            "segments/b.yaml",
            "name: b\nwhen: { any: [{ segment: a }] }\n",
        ),
    ]);
    let loaded = load(&files, &options());
    let cycles: Vec<&str> = loaded
        .diagnostics
        .iter()
        .filter(|d| d.code == Code::SegmentCycle)
        .map(|d| d.message.as_str())
        .collect();
    assert_eq!(
        cycles,
        ["segments refer to each other in a cycle: `a` → `b` → `a`"],
        "one error per cycle"
    );
}

#[test]
fn each_segment_cycle_is_reported_once_naming_every_member() {
    let files = RootFiles::from_pairs([
        ("flagctl.yaml", CONFIG),
        ("segments/a.yaml", "name: a\nwhen: { segment: b }\n"),
        (
            "segments/b.yaml",
            "name: b\nwhen: { any: [{ segment: a }, { segment: c }] }\n",
        ),
        ("segments/c.yaml", "name: c\nwhen: { segment: b }\n"),
        ("segments/d.yaml", "name: d\nwhen: { segment: d }\n"),
        ("segments/e.yaml", "name: e\nwhen: { segment: a }\n"),
    ]);
    let loaded = load(&files, &options());
    let cycles: Vec<&str> = loaded
        .diagnostics
        .iter()
        .filter(|d| d.code == Code::SegmentCycle)
        .map(|d| d.message.as_str())
        .collect();
    assert_eq!(
        cycles,
        [
            "segments refer to each other in a cycle: `a` → `b` → `c` → `b` → `a`",
            "segments refer to each other in a cycle: `d` → `d`",
        ]
    );
}

#[test]
fn plain_field_patch_agrees_with_the_full_merge() {
    let base = "key: f\ntype: boolean\ndescription: d\nowner: o\ntags: [x]\ndefault:\n  rollout: { on: 10, off: 90 }\n";
    for overlay in [
        "enabled: false\n",
        "enabled: false\nowner: oncall\ntags: [a, b]\n",
        "description: null\nowner: null\ntags: null\n",
        "# empty\n",
    ] {
        let files = RootFiles::from_pairs([
            ("flagctl.yaml", "environments: [prod]\n"),
            ("base/f.yaml", base),
            ("overlays/prod/f.yaml", overlay),
        ]);
        let loaded = load(&files, &options());
        assert!(loaded.is_valid(), "{overlay}: {:?}", loaded.diagnostics);
        let doc = loaded.resolved_document("prod", "f").expect("resolved");
        let expected = Flag::deserialize(&*doc.value)
            .expect("valid")
            .with_implicit_variants();
        assert_eq!(
            loaded.environments["prod"].flags["f"], expected,
            "{overlay}"
        );
    }
}

#[test]
fn parallel_and_serial_agree() {
    let mut files = RootFiles::from_pairs([("flagctl.yaml", CONFIG)]);
    for i in 0..200 {
        let weight = if i % 7 == 0 { 20 } else { 10 };
        files.insert(
            format!("base/f{i}.yaml"),
            format!("key: f{i}\ntype: boolean\ndefault:\n  rollout: {{ on: {weight}, off: 90 }}\n"),
        );
    }
    let serial = load(&files, &options());
    let parallel = load(
        &files,
        &LoadOptions {
            threads: 4,
            ..options()
        },
    );
    assert_eq!(serial.diagnostics, parallel.diagnostics);
    assert_eq!(serial.environments, parallel.environments);
    assert_eq!(serial.diagnostics.len(), 29);
}
