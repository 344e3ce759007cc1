//! `flagctl log <flag>` over the generated repository of 10,000 flags and
//! 50,000 commits (see `common`): the library function behind it
//! ([`flagctl::audit::log`]: history, then per commit the flag resolved in
//! every environment at the parent and at the commit, compared semantically,
//! with the rollout impact) against [`Store::history`] alone, the baseline,
//! in the same run; and the binary end to end (process start, reading the
//! flag's files, the log, rendering).
//!
//! The changed-path cache is warm for the measurements: the first run that
//! fills it is timed once and printed.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "benchmark setup")]
#![allow(
    missing_docs,
    reason = "criterion's macros generate undocumented items"
)]

use std::process::Command;
use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use flagctl::audit::{self, LogQuery};
use flagctl::store::Store;

mod common;

use common::repository;

const KEY: &str = "flag-00042";

fn benches(c: &mut Criterion) {
    let dir = repository();
    let store = Store::discover(&dir.join("flags")).unwrap();
    let query = LogQuery {
        flag: Some(KEY.to_owned()),
        ..LogQuery::default()
    };
    let history_query = query.history_query();

    let started = Instant::now();
    let entries = audit::log(&store, &query).unwrap();
    println!(
        "log of {KEY}, first run (fills the history cache if empty): {:.2?}, {} entries, {} with an impact",
        started.elapsed(),
        entries.len(),
        entries
            .iter()
            .filter(|e| e.changes.iter().any(|c| c.impact.is_some()))
            .count()
    );

    let mut group = c.benchmark_group("log");
    group.sample_size(10);
    group.bench_function("Store::history of one flag (baseline)", |b| {
        b.iter(|| store.history(&history_query).unwrap());
    });
    group.bench_function("audit::log of one flag (history + semantic diffs)", |b| {
        b.iter(|| audit::log(&store, &query).unwrap());
    });
    group.bench_function("flagctl log <flag> (the binary, end to end)", |b| {
        b.iter(|| {
            let output = Command::new(env!("CARGO_BIN_EXE_flagctl"))
                .args(["log", KEY, "--color", "never"])
                .current_dir(&dir)
                .env("GIT_CONFIG_GLOBAL", "/dev/null")
                .output()
                .unwrap();
            assert!(output.status.success(), "{output:?}");
            output
        });
    });
    group.finish();
}

criterion_group!(log, benches);
criterion_main!(log);
