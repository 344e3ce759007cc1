//! `flagctl validate` and `flagctl build` on a generated root of 10,000 flags
//! with an overlay for every flag in each of 3 environments (40,001 files),
//! as the library runs them: read the directory, parse, check, resolve; and
//! for build, serialize one environment's snapshot with its digest.
//!
//! Baseline in the same run: reading the same files without parsing them.

use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use flagctl::format::snapshot::SnapshotFile;
use flagctl::format::{LoadOptions, RootFiles, load};

/// The allocator of the `flagctl` binary (src/main.rs).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const FLAGS: usize = 10_000;

fn flag(i: usize) -> String {
    match i % 4 {
        0 => format!(
            "# yaml-language-server: $schema=../../schemas/flag.schema.json\nkey: flag-{i:05}\ndescription: Generated flag {i}\nowner: team-{}\ntype: boolean\noff_variant: off\ntargets:\n  on: [user-{i}, user-{}]\nrules:\n  - name: staff\n    when: {{ segment: staff }}\n    serve: on\n  - when:\n      all:\n        - {{ attr: country, op: in, values: [DE, FR, NL] }}\n        - {{ attr: plan, op: eq, value: enterprise }}\n    serve: {{ rollout: {{ on: 50, off: 50 }} }}\ndefault:\n  rollout: {{ on: 10, off: 90 }}\n",
            i % 17,
            i + 1
        ),
        1 => format!(
            "key: flag-{i:05}\ntype: string\nvariants:\n  blue: \"#1f6feb\"\n  green: \"#2da44e\"\n  orange: \"#fb8500\"\ndefault:\n  rollout: {{ blue: 50, green: 30, orange: 20 }}\n  experiment: exp-{i}\n"
        ),
        2 => format!(
            "key: flag-{i:05}\ntype: number\nvariants: {{ low: 1, high: 2.5 }}\nrules:\n  - when: {{ attr: app_version, op: semver_gte, value: \"4.2\" }}\n    serve: high\n  - when: {{ attr: email, op: matches, value: \"^[a-z]+@example\\\\.com$\" }}\n    serve: high\ndefault: low\n"
        ),
        _ => format!("key: flag-{i:05}\ntype: boolean\nenabled: true\ndefault: on\n"),
    }
}

fn generate(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir.join("base"))?;
    std::fs::create_dir_all(dir.join("segments"))?;
    std::fs::write(
        dir.join("flagctl.yaml"),
        "environments: [dev, staging, prod]\nprotected: [prod]\nbucketing: v1\n",
    )?;
    std::fs::write(
        dir.join("segments/staff.yaml"),
        "name: staff\ninclude: [alice]\nwhen: { attr: email, op: ends_with, value: \"@example.com\" }\n",
    )?;
    for environment in ["dev", "staging", "prod"] {
        std::fs::create_dir_all(dir.join("overlays").join(environment))?;
    }
    for i in 0..FLAGS {
        std::fs::write(dir.join(format!("base/flag-{i:05}.yaml")), flag(i))?;
        // A realistic mix: rollout changes, kill switches, targets, rule
        // removals, per-environment defaults, ownership.
        let overlays: [(&str, &str); 3] = match i % 4 {
            0 => [
                ("dev", "targets:\n  on: [dev-user]\n"),
                ("staging", "default: on\n"),
                (
                    "prod",
                    "# ramping\ndefault:\n  rollout: { on: 25, off: 75 }\n",
                ),
            ],
            1 => [
                ("dev", "default: orange\n"),
                ("staging", "enabled: false\n"),
                (
                    "prod",
                    "default:\n  rollout: { blue: 34, green: 33, orange: 33 }\n",
                ),
            ],
            2 => [
                ("dev", "default: high\n"),
                ("staging", "rules: null\n"),
                ("prod", "enabled: false\n"),
            ],
            _ => [
                ("dev", "default: off\n"),
                ("staging", "owner: qa\n"),
                ("prod", "enabled: false\n"),
            ],
        };
        for (environment, text) in overlays {
            std::fs::write(
                dir.join(format!("overlays/{environment}/flag-{i:05}.yaml")),
                text,
            )?;
        }
    }
    Ok(())
}

fn benches(c: &mut Criterion) {
    let temp = tempfile::tempdir().expect("temp dir");
    let root = temp.path().join("flags");
    generate(&root).expect("generate the root");
    let options = LoadOptions::default();

    let files = RootFiles::from_dir(&root).expect("read");
    let loaded = load(&files, &options);
    assert!(loaded.is_valid(), "{:?}", loaded.diagnostics.first());
    assert_eq!(loaded.environments["prod"].flags.len(), FLAGS);

    let mut group = c.benchmark_group("10k-flags-3-envs");
    group.sample_size(10);
    group.bench_function("read files only (baseline)", |b| {
        b.iter(|| RootFiles::from_dir(&root).expect("read").len())
    });
    group.bench_function("validate (read + load)", |b| {
        b.iter(|| {
            let files = RootFiles::from_dir(&root).expect("read");
            load(&files, &options).diagnostics.len()
        })
    });
    group.bench_function("load only (files in memory)", |b| {
        b.iter(|| load(&files, &options).diagnostics.len())
    });
    group.bench_function("build prod (read + load + snapshot)", |b| {
        b.iter(|| {
            let files = RootFiles::from_dir(&root).expect("read");
            let loaded = load(&files, &options);
            SnapshotFile::new(&loaded.environments["prod"], None)
                .to_json_pretty()
                .len()
        })
    });
    group.finish();
}

criterion_group!(validate, benches);
criterion_main!(validate);
