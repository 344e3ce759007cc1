//! `flagctl validate` and `flagctl build` on a generated root of 10,000 flags
//! with an overlay for every flag in each of 3 environments (40,001 files),
//! as the library runs them: read the directory, parse, check, resolve; and
//! for build, serialize one environment's snapshot with its digest.
//!
//! Baseline in the same run: reading the same files without parsing them.
//! Then the `flagctl validate` binary end to end (process start, root
//! discovery, rendering), next to `flagctl --version` (the process floor).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "benchmark setup")]

mod common;

use criterion::{Criterion, criterion_group, criterion_main};
use flagctl::format::snapshot::SnapshotFile;
use flagctl::format::{LoadOptions, RootFiles, load};

/// The allocator of the `flagctl` binary (src/main.rs).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const FLAGS: usize = 10_000;

fn benches(c: &mut Criterion) {
    let temp = tempfile::tempdir().expect("temp dir");
    let root = temp.path().join("flags");
    common::write_large_root(&root, FLAGS).expect("generate the root");
    // As the CLI loads: with a date for `expires` warnings.
    let options = LoadOptions {
        today: Some(jiff::civil::date(2026, 11, 24)),
        ..LoadOptions::default()
    };

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
    let flagctl = |args: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_flagctl"))
            .args(args)
            .env("NO_COLOR", "1")
            .output()
            .expect("run flagctl");
        assert!(
            output.status.success(),
            "flagctl {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        output.stdout.len()
    };
    let root_arg = root.to_str().expect("UTF-8 temp path");
    group.bench_function("process floor: flagctl --version", |b| {
        b.iter(|| flagctl(&["--version"]))
    });
    group.bench_function("flagctl validate (the binary)", |b| {
        b.iter(|| flagctl(&["--root", root_arg, "validate"]))
    });
    group.finish();
}

criterion_group!(validate, benches);
criterion_main!(validate);
