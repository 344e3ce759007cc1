//! The runtime client: what following a source costs and how fast it is.
//!
//! * `evaluate` (criterion): `Snapshot::evaluate` directly, through the
//!   client's guard only (`client.current().snapshot().evaluate`), and the
//!   client's counted evaluation (`client.current().evaluate`), in the same
//!   run, for three flag shapes of a 1,000-flag snapshot; then two threads
//!   evaluating the same flag (counter contention).
//! * `latency`: commit → served for a client following a local branch, over
//!   200 commits made with `Store::commit_change` (what `flagctl rollout`
//!   does): with the OS watcher, and polling only. "Served" is the client's
//!   own timestamp of the swap (`Change::applied_at`), not when this thread
//!   saw the event, so it can come before `commit_change` returns (the ref
//!   is written before the index and working tree are updated); both commit
//!   started → served and commit returned → served (negative: served
//!   first) are reported.
//! * `reload`: a 10,000-flag root (40,001 files with overlays); reload
//!   phases (read, validate, compile, swap) from a git reference and from a
//!   directory; then evaluation throughput and the longest batch while
//!   reloads run back to back, against the same without reloads.
//!
//! Run with `cargo bench --bench watch` (all), or name sections:
//! `cargo bench --bench watch -- latency reload`. Results go in
//! `docs/benchmarks.md`.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "benchmark setup")]

use std::hint::black_box;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

mod common;

use criterion::Criterion;
use flagctl::eval::Context;
use flagctl::format::snapshot::SnapshotFile;
use flagctl::model::ResolvedEnvironment;
use flagctl::store::{ChangeRequest, Store};
use flagctl::watch::{Client, Event, LoadTimings, Subscription};
use serde_json::{Value, json};

const TIMEOUT: Duration = Duration::from_secs(120);

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Bench")
        .env("GIT_AUTHOR_EMAIL", "bench@example.com")
        .env("GIT_COMMITTER_NAME", "Bench")
        .env("GIT_COMMITTER_EMAIL", "bench@example.com")
        .status()
        .unwrap();
    assert!(status.success(), "git {args:?}");
}

/// A deterministic, well-mixed number.
fn mix(index: usize) -> u64 {
    let mut x = (index as u64).wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn contexts(count: usize) -> Vec<Context> {
    const COUNTRIES: [&str; 6] = ["DE", "FR", "NL", "US", "GB", "IT"];
    const PLANS: [&str; 3] = ["free", "pro", "enterprise"];
    (0..count)
        .map(|index| {
            let x = mix(index) as usize;
            Context::new(format!("user-{:08x}", x >> 32))
                .with("country", COUNTRIES[x % COUNTRIES.len()])
                .with("plan", PLANS[(x / 7) % PLANS.len()])
                .with("email", format!("person{index}@example.com"))
        })
        .collect()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn ms(duration: Duration) -> String {
    format!("{:.2}", duration.as_secs_f64() * 1e3)
}

fn summary(label: &str, samples: Vec<Duration>) {
    summary_ms(
        label,
        samples.iter().map(|d| d.as_secs_f64() * 1e3).collect(),
    );
}

/// Like [`summary`], for samples in milliseconds that may be negative.
fn summary_ms(label: &str, mut samples: Vec<f64>) {
    samples.sort_by(f64::total_cmp);
    let at = |p: f64| {
        let index = ((samples.len() as f64 - 1.0) * p).round() as usize;
        samples[index.min(samples.len() - 1)]
    };
    println!(
        "| {label} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |",
        samples.len(),
        at(0.5),
        at(0.9),
        at(0.99),
        samples[samples.len() - 1],
        samples[0],
    );
}

/// `later - earlier` in milliseconds, negative when `later` is earlier.
fn signed_ms(later: SystemTime, earlier: SystemTime) -> f64 {
    match later.duration_since(earlier) {
        Ok(after) => after.as_secs_f64() * 1e3,
        Err(before) => -before.duration().as_secs_f64() * 1e3,
    }
}

fn wait_applied(events: &Subscription, revision: &str) -> flagctl::watch::Change {
    match events.wait_for(TIMEOUT, |event| event.revision() == Some(revision)) {
        Some(Event::Applied(change)) => change,
        other => panic!("expected {revision} to be applied, got {other:?}"),
    }
}

// ---------------------------------------------------------------- evaluate

const SHAPES: [&str; 3] = ["a-on", "b-rollout", "c-rules"];
const FLAGS_PER_SHAPE: usize = 333;

fn shape_flag(shape: &str, key: &str) -> Value {
    match shape {
        "a-on" => json!({"key": key, "type": "boolean", "default": "on"}),
        "b-rollout" => {
            json!({"key": key, "type": "boolean", "default": {"rollout": {"on": 25, "off": 75}}})
        }
        _ => json!({"key": key, "type": "boolean", "rules": [
            {"when": {"all": [
                {"attr": "country", "op": "in", "values": ["DE", "FR", "NL"]},
                {"attr": "plan", "op": "eq", "value": "enterprise"}
            ]}, "serve": {"rollout": {"on": 50, "off": 50}}}
        ], "default": "off"}),
    }
}

fn evaluate(c: &mut Criterion) {
    let mut flags = serde_json::Map::new();
    for shape in SHAPES {
        for index in 0..FLAGS_PER_SHAPE {
            let key = format!("{shape}-{index:04}");
            flags.insert(key.clone(), shape_flag(shape, &key));
        }
    }
    let mut environment: ResolvedEnvironment = serde_json::from_value(json!({
        "environment": "prod", "bucketing": "v1", "flags": flags, "segments": {},
    }))
    .unwrap();
    // What loading a root does for boolean flags without `variants`.
    for flag in environment.flags.values_mut() {
        *flag = flag.clone().with_implicit_variants();
    }
    let temp = tempfile::tempdir().unwrap();
    let path = temp.path().join("prod.json");
    std::fs::write(
        &path,
        SnapshotFile::new(&environment, None).to_json_pretty(),
    )
    .unwrap();
    let client = Client::builder()
        .environment("prod")
        .snapshot_file(&path)
        .background(false)
        .build()
        .unwrap();
    // The very snapshot the client serves, evaluated directly.
    let held = client.current();
    let snapshot = held.snapshot();
    let users = contexts(10_000);

    let mut group = c.benchmark_group("client-evaluate");
    for shape in SHAPES {
        let keys: Vec<String> = (0..FLAGS_PER_SHAPE)
            .map(|index| format!("{shape}-{index:04}"))
            .collect();
        let mut i = 0usize;
        group.bench_function(format!("{shape}/snapshot"), |b| {
            b.iter(|| {
                i = i.wrapping_add(1);
                let evaluation = snapshot.evaluate(
                    black_box(&keys[i % FLAGS_PER_SHAPE]),
                    black_box(&users[i % users.len()]),
                );
                black_box(evaluation.value())
            })
        });
        group.bench_function(format!("{shape}/guard-only"), |b| {
            b.iter(|| {
                i = i.wrapping_add(1);
                let current = client.current();
                let evaluation = current.snapshot().evaluate(
                    black_box(&keys[i % FLAGS_PER_SHAPE]),
                    black_box(&users[i % users.len()]),
                );
                black_box(evaluation.value()).is_some()
            })
        });
        group.bench_function(format!("{shape}/client"), |b| {
            b.iter(|| {
                i = i.wrapping_add(1);
                let current = client.current();
                let evaluation = current.evaluate(
                    black_box(&keys[i % FLAGS_PER_SHAPE]),
                    black_box(&users[i % users.len()]),
                );
                black_box(evaluation.value()).is_some()
            })
        });
    }
    group.finish();
    drop(held);

    // Two threads hammering one flag: the shared counter's cache line moves
    // between cores on every evaluation.
    println!("\n### two threads, one flag (`b-rollout-0000`), 5,000,000 evaluations each\n");
    println!("| path | ns / evaluation / thread |");
    println!("|---|---:|");
    const EACH: usize = 5_000_000;
    for (label, counted) in [("snapshot", false), ("client", true)] {
        let started = Instant::now();
        std::thread::scope(|scope| {
            for thread in 0..2 {
                let client = &client;
                let users = &users;
                scope.spawn(move || {
                    let current = client.current();
                    let mut served = 0usize;
                    for i in 0..EACH {
                        let user = &users[(i + thread * 5_000) % users.len()];
                        let on = if counted {
                            current.evaluate("b-rollout-0000", user).variant_index()
                        } else {
                            current
                                .snapshot()
                                .evaluate("b-rollout-0000", user)
                                .variant_index()
                        };
                        served += on.unwrap_or(0) as usize;
                    }
                    black_box(served);
                });
            }
        });
        let per = started.elapsed().as_secs_f64() * 1e9 / EACH as f64;
        println!("| {label} | {per:.1} |");
    }
}

// ----------------------------------------------------------------- latency

fn small_flag(index: usize, on: usize) -> String {
    format!(
        "key: flag-{index:02}\ntype: boolean\ndefault:\n  rollout: {{ on: {on}, off: {} }}\n",
        100 - on
    )
}

fn latency(os_watcher: bool, changes: usize) {
    let temp = tempfile::tempdir().unwrap();
    let repo = temp.path();
    git(repo, &["init", "-q", "-b", "main"]);
    let root = repo.join("flags");
    std::fs::create_dir_all(root.join("base")).unwrap();
    std::fs::write(root.join("flagctl.yaml"), "environments: [dev, prod]\n").unwrap();
    for index in 0..20 {
        std::fs::write(
            root.join(format!("base/flag-{index:02}.yaml")),
            small_flag(index, 10),
        )
        .unwrap();
    }
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "-q", "-m", "flags"]);
    git(repo, &["config", "user.name", "Bench"]);
    git(repo, &["config", "user.email", "bench@example.com"]);

    let store = Store::discover(&root).unwrap();
    let client = Client::builder()
        .environment("prod")
        .git_head(&root)
        .os_watcher(os_watcher)
        .build()
        .unwrap();
    let events = client.subscribe();
    let mut from_start = Vec::new();
    let mut after_return = Vec::new();
    let mut commit = Vec::new();
    let mut reload = Vec::new();
    for change in 0..changes {
        let text = small_flag(3, (change * 37 + 11) % 100);
        // Commits land at any moment of the poll's period, not right after
        // the previous reload (which would make every poll-only wait a full
        // period): 0–49 ms apart, pseudo-randomly.
        std::thread::sleep(Duration::from_millis(mix(change) % 50));
        let started_at = SystemTime::now();
        let started = Instant::now();
        let outcome = store
            .commit_change(&ChangeRequest {
                files: vec![("base/flag-03.yaml".into(), Some(text.into_bytes()))],
                message: format!("rollout flag-03 (change {change})"),
                author: None,
                expected_head: None,
            })
            .unwrap();
        let committed = Instant::now();
        let committed_at = SystemTime::now();
        // Served is when the client swapped the new state in, by its own
        // clock, whether or not `commit_change` had returned by then.
        let applied = wait_applied(&events, &outcome.id.to_string());
        from_start.push(signed_ms(applied.applied_at, started_at));
        after_return.push(signed_ms(applied.applied_at, committed_at));
        commit.push(committed - started);
        reload.push(applied.timings.total());
    }
    let label = if os_watcher {
        "OS watcher + 50 ms poll"
    } else {
        "50 ms poll only"
    };
    let early = after_return.iter().filter(|ms| **ms < 0.0).count();
    summary_ms(&format!("{label}: commit started → served"), from_start);
    summary_ms(
        &format!(
            "{label}: commit returned → served (negative: served before it returned; {early} of {changes})"
        ),
        after_return,
    );
    summary(&format!("{label}: `commit_change` itself"), commit);
    summary(&format!("{label}: reload (read → swap)"), reload);
}

// ------------------------------------------------------------------ reload

const BIG: usize = 10_000;

fn phases(label: &str, timings: &[LoadTimings]) {
    let median = |pick: fn(&LoadTimings) -> Duration| {
        let mut values: Vec<Duration> = timings.iter().map(pick).collect();
        values.sort();
        percentile(&values, 0.5)
    };
    println!(
        "| {label} | {} | {} | {} | {} | {} | {} |",
        timings.len(),
        ms(median(|t| t.read)),
        ms(median(|t| t.validate)),
        ms(median(|t| t.compile)),
        ms(median(|t| t.swap)),
        ms(median(LoadTimings::total)),
    );
}

/// Evaluations per second and the longest batch of 1,000 (one guard per
/// evaluation, as a request handler would), for `duration`.
fn throughput(client: &Client, users: &[Context], duration: Duration) -> (f64, Duration, Duration) {
    let keys: Vec<String> = (0..BIG).map(|i| format!("flag-{i:05}")).collect();
    let started = Instant::now();
    let mut count = 0usize;
    let mut longest = Duration::ZERO;
    let mut batches = Vec::new();
    let mut i = 0usize;
    while started.elapsed() < duration {
        let batch = Instant::now();
        for _ in 0..1000 {
            i = i.wrapping_add(7919);
            let current = client.current();
            black_box(
                current
                    .evaluate(&keys[i % BIG], &users[i % users.len()])
                    .variant_index(),
            );
        }
        count += 1000;
        let took = batch.elapsed();
        longest = longest.max(took);
        batches.push(took);
    }
    batches.sort();
    (
        count as f64 / started.elapsed().as_secs_f64(),
        percentile(&batches, 0.999),
        longest,
    )
}

fn reload() {
    let temp = tempfile::tempdir().unwrap();
    let repo = temp.path();
    let root = repo.join("flags");
    common::write_large_root(&root, BIG).unwrap();
    git(repo, &["init", "-q", "-b", "main"]);
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "-q", "-m", "10,000 flags"]);
    git(repo, &["config", "user.name", "Bench"]);
    git(repo, &["config", "user.email", "bench@example.com"]);
    let store = Store::discover(&root).unwrap();

    println!("\n### reload phases, medians (ms)\n");
    println!("| source | reloads | read | validate | compile | swap | total |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let mut version = 10;
    let mut commit_one = |store: &Store, flag: usize| {
        version += 1;
        store
            .commit_change(&ChangeRequest {
                files: vec![(
                    format!("base/flag-{flag:05}.yaml"),
                    Some(common::large_flag(flag, version).into_bytes()),
                )],
                message: format!("change flag-{flag:05}"),
                author: None,
                expected_head: None,
            })
            .unwrap()
            .id
            .to_string()
    };
    for threads in [0, 1] {
        let client = Client::builder()
            .environment("prod")
            .git_head(&root)
            .load_threads(threads)
            .build()
            .unwrap();
        let events = client.subscribe();
        let startup = client.status().load_timings;
        let mut timings = Vec::new();
        for round in 0..8 {
            let revision = commit_one(&store, round * 4);
            timings.push(wait_applied(&events, &revision).timings);
        }
        let threads_label = if threads == 0 { "2 (all cores)" } else { "1" };
        phases(
            &format!("git ref, startup, {threads_label} load threads"),
            &[startup],
        );
        phases(
            &format!("git ref, one flag changed, {threads_label} load threads"),
            &timings,
        );
    }
    {
        let client = Client::builder()
            .environment("prod")
            .directory(&root)
            .build()
            .unwrap();
        let events = client.subscribe();
        let mut timings = vec![client.status().load_timings];
        for round in 0..8 {
            let flag = round * 4 + 400;
            std::fs::write(
                root.join(format!("base/flag-{flag:05}.yaml")),
                common::large_flag(flag, 50 + round),
            )
            .unwrap();
            match events.wait_for(TIMEOUT, |event| matches!(event, Event::Applied(_))) {
                Some(Event::Applied(change)) => timings.push(change.timings),
                other => panic!("{other:?}"),
            }
        }
        phases("directory (startup + 8 edits), 2 load threads", &timings);
    }

    println!(
        "\n### evaluation during back-to-back reloads (10,000 flags, one reader thread, one load thread)\n"
    );
    println!(
        "| phase | evaluations / s | p99.9 batch of 1,000 (ms) | longest batch (ms) | reloads |"
    );
    println!("|---|---:|---:|---:|---:|");
    let client = Client::builder()
        .environment("prod")
        .git_head(&root)
        .load_threads(1)
        .build()
        .unwrap();
    let users = contexts(10_000);
    let duration = Duration::from_secs(8);
    let (rate, p999, longest) = throughput(&client, &users, duration);
    println!(
        "| no reloads | {rate:.0} | {} | {} | 0 |",
        ms(p999),
        ms(longest)
    );
    // The control: the same loading and compiling work on another thread,
    // with nothing swapped in. What it costs the reader is CPU contention.
    let files = flagctl::format::RootFiles::from_dir(&root).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let (rate, p999, longest, loads) = std::thread::scope(|scope| {
        let stop_worker = stop.clone();
        let files = &files;
        let worker = scope.spawn(move || {
            let options = flagctl::format::LoadOptions {
                today: None,
                threads: 1,
            };
            let mut loads = 0usize;
            while !stop_worker.load(Ordering::Relaxed) {
                let loaded = flagctl::format::load(files, &options);
                let snapshot =
                    flagctl::eval::Snapshot::compile(&loaded.environments["prod"], "control")
                        .unwrap();
                black_box(snapshot.flag_count());
                loads += 1;
            }
            loads
        });
        let (rate, p999, longest) = throughput(&client, &users, duration);
        stop.store(true, Ordering::Relaxed);
        (rate, p999, longest, worker.join().unwrap())
    });
    println!(
        "| the same load + compile work on another thread, nothing swapped | {rate:.0} | {} | {} | ({loads} loads) |",
        ms(p999),
        ms(longest)
    );
    let stop = Arc::new(AtomicBool::new(false));
    let events = client.subscribe();
    let (rate, p999, longest, reloads) = std::thread::scope(|scope| {
        let stop_writer = stop.clone();
        let writer = scope.spawn(move || {
            let mut reloads = 0usize;
            let mut flag = 0usize;
            while !stop_writer.load(Ordering::Relaxed) {
                flag = (flag + 4) % BIG;
                let revision = commit_one(&store, flag);
                wait_applied(&events, &revision);
                reloads += 1;
            }
            reloads
        });
        let (rate, p999, longest) = throughput(&client, &users, duration);
        stop.store(true, Ordering::Relaxed);
        (rate, p999, longest, writer.join().unwrap())
    });
    println!(
        "| reloading back to back | {rate:.0} | {} | {} | {reloads} |",
        ms(p999),
        ms(longest)
    );
}

fn main() {
    let sections: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with('-'))
        .collect();
    let wanted = |name: &str| sections.is_empty() || sections.iter().any(|s| s == name);
    println!(
        "flagctl runtime benchmarks; load average at start: {}",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    if wanted("evaluate") {
        let mut criterion = Criterion::default()
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3));
        evaluate(&mut criterion);
        criterion.final_summary();
    }
    if wanted("latency") {
        println!("\n### commit → served, local branch, 200 commits (ms)\n");
        println!("| what | n | p50 | p90 | p99 | max | min |");
        println!("|---|---:|---:|---:|---:|---:|---:|");
        latency(true, 200);
        latency(false, 200);
    }
    if wanted("reload") {
        reload();
    }
}
