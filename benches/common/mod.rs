//! The large generated repository the benchmarks share: 10,000 flag files
//! (`flags/base/flag-NNNNN.yaml`) and 50,000 commits each changing one to
//! three of them, generated once with `git fast-import` and kept under
//! cargo's target directory.

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

fn git(dir: &Path) -> Command {
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

fn run(command: &mut Command) {
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
