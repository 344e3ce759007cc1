//! Benchmarks of the git store on a large generated repository: 10,000 flag
//! files (`flags/base/flag-NNNNN.yaml`) and 50,000 commits each changing one
//! to three of them.
//!
//! The repository is generated once with `git fast-import` (which writes a
//! packfile with deltas directly; loose objects for 50,000 versions of a
//! 10,000-entry directory would take tens of gigabytes) and kept under
//! cargo's target directory; this bench works in its own clone of it
//! (`common::scratch_clone`), since it deletes the cache and commits, so the
//! shared repository stays as generated for `benches/log.rs` and
//! `benches/change.rs`. Measured: `history` of one flag (first run, which
//! fills the changed-path cache, timed once; then warm), `read_root_at` of
//! HEAD, and `commit_change` of one file (the git part of a mutating
//! command, index and working-tree update included).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "benchmark setup")]
#![allow(
    missing_docs,
    reason = "criterion's macros generate undocumented items"
)]

use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use flagctl::store::{HistoryQuery, Store};

mod common;

use common::scratch_clone;

fn benches(c: &mut Criterion) {
    let dir = scratch_clone("store-bench-clone");
    let store = Store::discover(&dir.join("flags")).unwrap();
    let query = HistoryQuery {
        paths: vec![
            "base/flag-00042.yaml".into(),
            "overlays/*/flag-00042.yaml".into(),
        ],
        ..HistoryQuery::default()
    };

    // The first run computes every commit's changes and fills the cache.
    let _ = std::fs::remove_dir_all(dir.join(".git/flagctl"));
    let started = Instant::now();
    let cold = store.history(&query).unwrap();
    println!(
        "history of one flag, cold (fills the cache): {:.2?}, {} commits",
        started.elapsed(),
        cold.len()
    );

    let mut group = c.benchmark_group("store");
    group.sample_size(10);
    group.bench_function("history of one flag (cached)", |b| {
        b.iter(|| store.history(&query).unwrap());
    });
    group.bench_function("history of one flag, first parent (cached)", |b| {
        let query = HistoryQuery {
            first_parent: true,
            ..query.clone()
        };
        b.iter(|| store.history(&query).unwrap());
    });
    group.bench_function("read_root_at HEAD", |b| {
        b.iter(|| store.read_root_at("HEAD").unwrap());
    });
    group.bench_function("worktree_state", |b| {
        b.iter(|| store.worktree_state().unwrap());
    });
    let mut counter = 0usize;
    group.bench_function("commit_change of one file", |b| {
        b.iter(|| {
            counter += 1;
            common::commit_one_flag(&store, counter)
        });
    });
    group.finish();
}

criterion_group!(store, benches);
criterion_main!(store);
