//! Changes racing each other through the real binary: 8 processes making
//! 50 changes each on one repository (half to their own flag, half to one
//! shared list), and two clones pushing to one bare remote at once.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::cli::Repo;

const WORKERS: usize = 8;
const CHANGES: usize = 50;

fn flag(key: &str) -> String {
    format!(
        "key: {key}\ndescription: worker flag\ntype: boolean\ntargets:\n  on: []\ndefault: off\n"
    )
}

#[test]
fn eight_processes_making_fifty_changes_each_lose_nothing() {
    let repo = Repo::new();
    for worker in 0..WORKERS {
        repo.write(
            &format!("flags/base/w{worker}.yaml"),
            &flag(&format!("w{worker}")),
        );
    }
    repo.write("flags/base/shared.yaml", &flag("shared"));
    repo.git(&["add", "."]);
    repo.git(&["commit", "-qm", "worker flags"]);
    let start = repo.head();

    let started = std::time::Instant::now();
    std::thread::scope(|scope| {
        for worker in 0..WORKERS {
            let repo = &repo;
            scope.spawn(move || {
                for change in 0..CHANGES {
                    let args: Vec<String> = if change % 2 == 0 {
                        vec![
                            "set".into(),
                            format!("w{worker}"),
                            format!("description=w{worker}-{change}"),
                        ]
                    } else {
                        vec![
                            "target".into(),
                            "shared".into(),
                            "on".into(),
                            "--add".into(),
                            format!("w{worker}-{change}"),
                        ]
                    };
                    let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
                    args.push("--yes");
                    let run = repo.flagctl(&args);
                    assert_eq!(run.code, 0, "worker {worker}, change {change}: {run:#?}");
                }
            });
        }
    });
    eprintln!(
        "{} changes by {WORKERS} processes in {:.1?}",
        WORKERS * CHANGES,
        started.elapsed()
    );

    let range = format!("{start}..HEAD");
    assert_eq!(
        repo.git(&["rev-list", "--count", &range]).trim(),
        (WORKERS * CHANGES).to_string()
    );
    assert_eq!(
        repo.git(&["rev-list", "--merges", "--count", &range])
            .trim(),
        "0"
    );
    let actions = repo.git(&[
        "log",
        "--format=%(trailers:key=Flagctl-Action,valueonly)",
        &range,
    ]);
    assert_eq!(
        actions.lines().filter(|l| !l.is_empty()).count(),
        WORKERS * CHANGES
    );
    repo.git(&["fsck", "--strict", "--no-progress"]);
    assert_eq!(repo.status(), "", "index and working tree match the tip");

    // No update lost: every target is there, every flag has its last value.
    let show = repo
        .flagctl(&["show", "shared", "--env", "dev", "--format", "json"])
        .ok()
        .json();
    let targets: BTreeSet<String> = show["environments"][0]["flag"]["targets"]["on"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    let expected: BTreeSet<String> = (0..WORKERS)
        .flat_map(|w| (1..CHANGES).step_by(2).map(move |c| format!("w{w}-{c}")))
        .collect();
    assert_eq!(targets, expected);
    for worker in 0..WORKERS {
        let text = repo.read(&format!("flags/base/w{worker}.yaml"));
        assert!(
            text.contains(&format!("description: w{worker}-{}\n", CHANGES - 2)),
            "{text}"
        );
    }
    repo.flagctl(&["validate"]).ok();
}

fn bare_remote_with_flags() -> (Repo, std::path::PathBuf) {
    let seed = Repo::new();
    let remote = seed.home.path().join("remote.git");
    let output = seed.git_output(&[
        "init",
        "-q",
        "--bare",
        "-b",
        "main",
        remote.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{output:?}");
    seed.git(&["push", "-q", remote.to_str().unwrap(), "main"]);
    (seed, remote)
}

fn remote_log(seed: &Repo, remote: &Path) -> String {
    let output = seed.git_output(&[
        "--git-dir",
        remote.to_str().unwrap(),
        "log",
        "--format=%s",
        "main",
    ]);
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn two_clones_pushing_to_one_remote_at_once() {
    const EACH: usize = 8;
    let (seed, remote) = bare_remote_with_flags();
    let clones = [Repo::clone_of(&remote), Repo::clone_of(&remote)];
    std::thread::scope(|scope| {
        for (name, clone) in ["a", "b"].into_iter().zip(&clones) {
            scope.spawn(move || {
                for change in 0..EACH {
                    let id = format!("{name}{change}");
                    let run = clone.flagctl(&[
                        "target",
                        "new-checkout",
                        "on",
                        "--add",
                        &id,
                        "--yes",
                        "--push",
                    ]);
                    assert_eq!(run.code, 0, "clone {name}, change {change}: {run:#?}");
                    assert!(run.stderr.contains("pushed `main` to `origin`"), "{run:#?}");
                }
            });
        }
    });
    let log = remote_log(&seed, &remote);
    let summaries: Vec<&str> = log.lines().collect();
    assert_eq!(summaries.len(), 2 * EACH + 1, "{log}");
    let merges = seed.git_output(&[
        "--git-dir",
        remote.to_str().unwrap(),
        "rev-list",
        "--merges",
        "--count",
        "main",
    ]);
    assert_eq!(String::from_utf8_lossy(&merges.stdout).trim(), "0");
    // Every change made it, each re-applied on whatever the other pushed.
    let shown = clones[0].git(&["show", "origin/main:flags/base/new-checkout.yaml"]);
    let fetched = clones[0].git_output(&["fetch", "-q", "origin"]);
    assert!(fetched.status.success());
    let text = clones[0].git(&["show", "origin/main:flags/base/new-checkout.yaml"]);
    for name in ["a", "b"] {
        for change in 0..EACH {
            assert!(
                text.contains(&format!("{name}{change}")),
                "{name}{change} missing: {text}"
            );
        }
    }
    drop(shown);
    for clone in &clones {
        assert_eq!(
            clone.status(),
            "",
            "each clone's working tree matches its branch"
        );
        clone.git(&["fsck", "--no-progress"]);
    }
}

#[test]
fn push_refuses_to_bury_unpushed_commits_and_keeps_the_change() {
    let (_seed, remote) = bare_remote_with_flags();
    let (mine, theirs) = (Repo::clone_of(&remote), Repo::clone_of(&remote));
    // Someone else pushes.
    theirs
        .flagctl(&["set", "beta-dashboard", "description=theirs", "--push"])
        .ok();
    // A commit of mine, not pushed, then a change with --push.
    mine.write("README.md", "mine\n");
    mine.git(&["add", "README.md"]);
    mine.git(&["commit", "-qm", "local work"]);
    let run = mine.flagctl(&["set", "legacy-export", "description=mine", "--push"]);
    assert_eq!(run.code, 1, "{run:#?}");
    let head = mine.head();
    assert!(
        run.stderr.ends_with(&format!(
            "error: `main` has commits that `origin` does not, besides this change\nhelp: the change is committed locally as `{}`; run `git pull --rebase` and `git push`\n",
            &head[..12]
        )),
        "{run:#?}"
    );
    assert_eq!(
        mine.git(&["log", "-1", "--format=%s"]).trim(),
        "set legacy-export description=mine"
    );
    assert_eq!(mine.status(), "");

    // Without local work of its own, the change is re-applied on the
    // remote's tip, and the files the remote changed follow.
    let fresh = Repo::clone_of(&remote);
    theirs
        .flagctl(&[
            "set",
            "beta-dashboard",
            "description=theirs again",
            "--push",
        ])
        .ok();
    let run = fresh
        .flagctl(&["set", "legacy-export", "description=fresh", "--push"])
        .ok();
    assert!(
        run.stderr.contains(
            "pushed `main` to `origin` (the remote had moved: re-applied on its tip, 2 pushes)"
        ),
        "{run:#?}"
    );
    assert!(
        fresh
            .read("flags/base/beta-dashboard.yaml")
            .contains("description: theirs again")
    );
    assert_eq!(fresh.status(), "");
    assert_eq!(
        fresh.head(),
        fresh.git(&["rev-parse", "origin/main"]).trim()
    );
}
