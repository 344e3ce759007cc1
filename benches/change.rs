//! Mutating commands on the large generated repository (10,000 flags,
//! 50,000 commits; see `common/mod.rs`), in a scratch clone so the shared
//! repository stays as generated.
//!
//! Measured in the same run, from the floor up:
//! * `commit_change` of one file: the git part alone (the baseline);
//! * the library pipeline (`Pipeline::run` of a `set`), with the root tree's
//!   validity cached: plan, edit, incremental validation, commit;
//! * the `flagctl` binary as a user runs it (`set`, `disable`/`enable`,
//!   `rollout`), process start included, next to `flagctl --version`;
//! * once, not repeated: the first command on a tree never validated before,
//!   which loads all 10,000 flags; and a command after commits made by other
//!   means, which loads only the flags they changed.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "benchmark setup")]
#![allow(
    missing_docs,
    reason = "criterion's macros generate undocumented items"
)]

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use common::{flag, scratch_clone};
use criterion::{Criterion, criterion_group, criterion_main};
use flagctl::change::{Assignment, Intent, Options, Outcome, Pipeline, parse_key};
use flagctl::format::edit::Path as FieldPath;
use flagctl::store::{ChangeRequest, Store};

fn flagctl(dir: &Path, args: &[&str]) {
    let output = Command::new(env!("CARGO_BIN_EXE_flagctl"))
        .current_dir(dir)
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "flagctl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn benches(c: &mut Criterion) {
    let dir = scratch_clone("change-bench");
    let store = Store::discover(&dir.join("flags")).unwrap();

    // Once: the first command on a tree nobody validated (no cache yet).
    let _ = std::fs::remove_dir_all(dir.join(".git/flagctl"));
    let started = Instant::now();
    flagctl(&dir, &["set", "flag-00042", "description=first run"]);
    println!(
        "flagctl set, first command on a tree never validated (loads all flags): {:.1?}",
        started.elapsed()
    );

    // Once: after commits made by other means (a pull), the tip's validity
    // is worked out from the valid tree before them and the flags they changed.
    for n in 0..3 {
        let head = store.head().unwrap().id();
        store
            .commit_change(&ChangeRequest {
                files: vec![(
                    format!("base/flag-0010{n}.yaml"),
                    Some(flag(100 + n, 2_000_000).into_bytes()),
                )],
                message: format!("by other means {n}"),
                author: None,
                expected_head: head,
            })
            .unwrap();
    }
    let started = Instant::now();
    flagctl(&dir, &["set", "flag-00042", "description=after a pull"]);
    println!(
        "flagctl set after 3 commits made by other means (loads the 3 flags they changed): {:.1?}",
        started.elapsed()
    );

    let mut group = c.benchmark_group("change");
    group.sample_size(20);
    let mut counter = 0usize;
    group.bench_function("baseline: commit_change of one file", |b| {
        b.iter(|| {
            counter += 1;
            common::commit_one_flag(&store, counter)
        });
    });
    let pipeline = Pipeline::new(&store, Options::default());
    group.bench_function("pipeline: set description (library)", |b| {
        b.iter(|| {
            counter += 1;
            let intent = Intent::Set {
                key: parse_key("flag-00042").unwrap(),
                environment: None,
                assignments: vec![Assignment {
                    path: FieldPath::parse("description").unwrap(),
                    value: Some(format!("library {counter}").into()),
                }],
            };
            assert!(matches!(
                pipeline.run(&intent).unwrap(),
                Outcome::Committed(_)
            ));
        });
    });
    group.bench_function("process floor: flagctl --version", |b| {
        b.iter(|| flagctl(&dir, &["--version"]));
    });
    group.bench_function("flagctl set description", |b| {
        b.iter(|| {
            counter += 1;
            flagctl(
                &dir,
                &["set", "flag-00042", &format!("description=cli {counter}")],
            );
        });
    });
    let mut enabled = true;
    group.bench_function("flagctl disable/enable --env prod", |b| {
        b.iter(|| {
            let command = if enabled { "disable" } else { "enable" };
            enabled = !enabled;
            flagctl(&dir, &[command, "flag-00042", "--env", "prod", "--yes"]);
        });
    });
    group.bench_function("flagctl rollout --env prod", |b| {
        b.iter(|| {
            counter += 1;
            let percent = (counter % 99 + 1).to_string();
            flagctl(&dir, &["rollout", "flag-00042", &percent, "--env", "prod"]);
        });
    });
    group.finish();
}

criterion_group!(change, benches);
criterion_main!(change);
