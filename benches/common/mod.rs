//! What the benchmarks generate and share:
//!
//! * the large repository: 10,000 flag files (`flags/base/flag-NNNNN.yaml`)
//!   and 50,000 commits each changing one to three of them, generated once
//!   with `git fast-import` and kept under cargo's target directory. No
//!   bench commits to it (`benches/log.rs` measures it as generated, and
//!   only fills its changed-path cache); a bench that commits or deletes
//!   caches works in its own [`scratch_clone`];
//! * a large flag root on disk ([`write_large_root`]): 10,000 flags of four
//!   shapes with an overlay for each in three environments (40,001 files).

#![allow(
    dead_code,
    reason = "each benchmark uses a different part of this module"
)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// How many flags.
pub const FLAGS: usize = 10_000;
/// How many commits.
pub const COMMITS: usize = 50_000;

/// A `git` command in `dir`, isolated from the user's configuration.
pub fn git(dir: &Path) -> Command {
    let mut command = Command::new("git");
    command
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Bench")
        .env("GIT_AUTHOR_EMAIL", "bench@example.com")
        .env("GIT_COMMITTER_NAME", "Bench")
        .env("GIT_COMMITTER_EMAIL", "bench@example.com");
    command
}

/// Runs a command, panicking unless it succeeds.
pub fn run(command: &mut Command) {
    let status = command.status().unwrap();
    assert!(status.success(), "{command:?} failed");
}

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n
    }
}

/// The text of flag number `key` at its `version`-th change.
pub fn flag(key: usize, version: usize) -> String {
    format!(
        "key: flag-{key:05}\ndescription: generated flag {key}\nowner: team-{}\ntype: boolean\ndefault:\n  rollout: {{ on: {}, off: {} }}\n",
        key % 17,
        version % 101,
        100 - version % 101
    )
}

fn data(out: &mut impl Write, text: &str) {
    write!(out, "data {}\n{text}\n", text.len()).unwrap();
}

/// Generates the repository (once) and returns its work tree.
pub fn repository() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("store-bench-{FLAGS}-{COMMITS}"));
    if dir.join("generated").exists() {
        return dir;
    }
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let started = Instant::now();
    run(git(&dir).args(["init", "-q", "-b", "main"]));
    run(git(&dir).args(["config", "user.name", "Bench"]));
    run(git(&dir).args(["config", "user.email", "bench@example.com"]));
    let mut import = git(&dir)
        .args(["fast-import", "--quiet", "--depth=50"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    {
        let stdin = import.stdin.take().unwrap();
        let mut out = std::io::BufWriter::new(stdin);
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut version = vec![0usize; FLAGS];
        for n in 0..COMMITS {
            let time = 1_600_000_000 + n * 60;
            writeln!(out, "commit refs/heads/main").unwrap();
            writeln!(out, "committer Bench <bench@example.com> {time} +0000").unwrap();
            if n == 0 {
                data(&mut out, "initial: 10000 flags");
                writeln!(out, "M 100644 inline flags/flagctl.yaml").unwrap();
                data(&mut out, "environments: [dev, staging, prod]\n");
                for key in 0..FLAGS {
                    writeln!(out, "M 100644 inline flags/base/flag-{key:05}.yaml").unwrap();
                    data(&mut out, &flag(key, 0));
                }
            } else {
                let changes = 1 + rng.below(3);
                let keys: Vec<usize> = (0..changes).map(|_| rng.below(FLAGS)).collect();
                let message = format!(
                    "rollout flag-{:05} (commit {n})\n\nFlagctl-Action: rollout\nFlagctl-Flag: flag-{:05}\n",
                    keys[0], keys[0]
                );
                data(&mut out, &message);
                for key in keys {
                    version[key] += 1;
                    writeln!(out, "M 100644 inline flags/base/flag-{key:05}.yaml").unwrap();
                    data(&mut out, &flag(key, version[key]));
                }
            }
        }
        out.flush().unwrap();
    }
    assert!(import.wait().unwrap().success(), "git fast-import failed");
    run(git(&dir).args(["reset", "-q", "--hard", "main"]));
    std::fs::write(dir.join("generated"), "").unwrap();
    std::fs::write(dir.join(".git/info/exclude"), "/generated\n").unwrap();
    println!(
        "generated {COMMITS} commits of {FLAGS} flags in {:.1?}",
        started.elapsed()
    );
    dir
}

/// A fresh clone of the generated repository in `name` under cargo's
/// target directory (objects hard-linked, so it costs seconds), for a bench
/// that commits, or deletes the caches, without changing what the others
/// measure.
pub fn scratch_clone(name: &str) -> PathBuf {
    let source = repository();
    let parent = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let dir = parent.join(name);
    let _ = std::fs::remove_dir_all(&dir);
    run(git(parent)
        .args(["clone", "-q", "--local"])
        .arg(&source)
        .arg(&dir));
    run(git(&dir).args(["config", "user.name", "Bench"]));
    run(git(&dir).args(["config", "user.email", "bench@example.com"]));
    dir
}

/// The base file of generated flag `i` of a large root, in one of four
/// shapes turn by turn: targets, a segment rule and a rollout of `percent`%
/// on a rule-less default; a three-way A/B split; semver and regex rules;
/// a plain switch.
pub fn large_flag(i: usize, percent: usize) -> String {
    match i % 4 {
        0 => format!(
            "# yaml-language-server: $schema=../../schemas/flag.schema.json\nkey: flag-{i:05}\ndescription: Generated flag {i}\nowner: team-{}\ntype: boolean\noff_variant: off\ntargets:\n  on: [user-{i}, user-{}]\nrules:\n  - name: staff\n    when: {{ segment: staff }}\n    serve: on\n  - when:\n      all:\n        - {{ attr: country, op: in, values: [DE, FR, NL] }}\n        - {{ attr: plan, op: eq, value: enterprise }}\n    serve: {{ rollout: {{ on: 50, off: 50 }} }}\ndefault:\n  rollout: {{ on: {}, off: {} }}\n",
            i % 17,
            i + 1,
            percent % 100,
            100 - percent % 100
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

/// Writes a large flag root into `root`: `count` flags ([`large_flag`] at
/// 10%), one segment, and an overlay for every flag in each of dev, staging
/// and prod, a realistic mix: rollout changes, kill switches, targets, rule
/// removals, per-environment defaults, ownership.
pub fn write_large_root(root: &Path, count: usize) -> std::io::Result<()> {
    std::fs::create_dir_all(root.join("base"))?;
    std::fs::create_dir_all(root.join("segments"))?;
    std::fs::write(
        root.join("flagctl.yaml"),
        "environments: [dev, staging, prod]\nprotected: [prod]\nbucketing: v1\n",
    )?;
    std::fs::write(
        root.join("segments/staff.yaml"),
        "name: staff\ninclude: [alice]\nwhen: { attr: email, op: ends_with, value: \"@example.com\" }\n",
    )?;
    for environment in ["dev", "staging", "prod"] {
        std::fs::create_dir_all(root.join("overlays").join(environment))?;
    }
    for i in 0..count {
        std::fs::write(
            root.join(format!("base/flag-{i:05}.yaml")),
            large_flag(i, 10),
        )?;
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
                root.join(format!("overlays/{environment}/flag-{i:05}.yaml")),
                text,
            )?;
        }
    }
    Ok(())
}

/// Commits version `counter` of `flag-00007` with `Store::commit_change`
/// on the branch tip: what every mutating command ends with, alone.
pub fn commit_one_flag(
    store: &flagctl::store::Store,
    counter: usize,
) -> flagctl::store::CommitOutcome {
    let head = store.head().unwrap().id();
    store
        .commit_change(&flagctl::store::ChangeRequest {
            files: vec![(
                "base/flag-00007.yaml".into(),
                Some(flag(7, 1_000_000 + counter).into_bytes()),
            )],
            message: format!("bench commit {counter}"),
            author: None,
            expected_head: head,
        })
        .unwrap()
}
