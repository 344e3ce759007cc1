//! Committing changes: only the given paths, a clean `git status` for them,
//! other work untouched, refusals, compare-and-swap, and real processes
//! racing on one repository.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use std::path::Path;
use std::process::Command;

use common::TestRepo;
use flagctl::store::{
    Author, ChangeRequest, CommitMessage, RevisionId, Store, StoreError, TRAILER_ACTION,
    TRAILER_FLAG, WorktreeSync,
};

fn change(path: &str, contents: Option<&str>, message: &str) -> ChangeRequest {
    ChangeRequest {
        files: vec![(path.to_owned(), contents.map(|c| c.as_bytes().to_vec()))],
        message: message.to_owned(),
        author: None,
        expected_head: None,
    }
}

/// The paths a commit changed, as `git show --name-status` lists them.
fn changed_paths(repo: &TestRepo, revision: &str) -> String {
    repo.git(&["show", "--format=", "--name-status", revision])
}

#[test]
fn commits_only_the_path_and_keeps_other_work() {
    let repo = TestRepo::with_root();
    repo.write("flags/base/b.yaml", "key: b\n");
    repo.write("flags/base/c.yaml", "key: c\n");
    repo.commit_all("more flags");
    let before = repo.head();

    // Other work: a staged edit, an unstaged edit, a staged-then-edited file,
    // an untracked file.
    repo.write("flags/base/b.yaml", "key: b\nstaged: true\n");
    repo.git(&["add", "flags/base/b.yaml"]);
    repo.write("flags/base/c.yaml", "key: c\nunstaged: true\n");
    repo.write("README.md", "staged readme\n");
    repo.git(&["add", "README.md"]);
    repo.write("README.md", "staged readme, then edited\n");
    repo.write("notes.txt", "untracked\n");
    let status_before = repo.status();

    let store = Store::discover(&repo.root()).unwrap();
    let message = CommitMessage::new("rollout a 10% -> 25% in prod")
        .trailer(TRAILER_ACTION, "rollout")
        .trailer(TRAILER_FLAG, "a");
    let outcome = store
        .commit_change(&ChangeRequest {
            message: message.to_string(),
            expected_head: Some(before.parse().unwrap()),
            ..change("base/a.yaml", Some("key: a\nrollout: 25\n"), "")
        })
        .unwrap();
    assert!(
        matches!(outcome.worktree, WorktreeSync::Updated),
        "{:?}",
        outcome.worktree
    );
    assert_eq!(outcome.parent.unwrap().to_string(), before);
    assert_eq!(outcome.branch, "refs/heads/main");
    assert_eq!(repo.head(), outcome.id.to_string());
    assert_eq!(changed_paths(&repo, "HEAD"), "M\tflags/base/a.yaml\n");
    assert_eq!(
        repo.git(&["show", "HEAD:flags/base/a.yaml"]),
        "key: a\nrollout: 25\n"
    );
    assert_eq!(repo.read("flags/base/a.yaml"), "key: a\nrollout: 25\n");

    // `git status` is what it was: the committed path is clean, the rest kept.
    assert_eq!(repo.status(), status_before);
    assert_eq!(
        repo.git(&["diff", "--cached", "--name-only"]),
        "README.md\nflags/base/b.yaml\n"
    );
    assert_eq!(repo.read("flags/base/c.yaml"), "key: c\nunstaged: true\n");
    assert_eq!(repo.read("README.md"), "staged readme, then edited\n");
    assert_eq!(repo.git(&["show", ":README.md"]), "staged readme\n");

    let info = store.resolve("HEAD").unwrap();
    assert_eq!(info.summary, "rollout a 10% -> 25% in prod");
    assert_eq!(info.trailer("flagctl-flag"), Some("a"));
    assert_eq!(info.author.name, common::NAME);
    assert!(
        repo.git(&["reflog", "-1", "main"])
            .contains("commit: rollout a")
    );
    repo.git(&["fsck", "--strict"]);
}

#[test]
fn adds_and_deletes_files_and_refuses_empty_changes() {
    let repo = TestRepo::with_root();
    let store = Store::discover(&repo.root()).unwrap();

    store
        .commit_change(&change(
            "overlays/prod/a.yaml",
            Some("enabled: false\n"),
            "prod overlay",
        ))
        .unwrap();
    assert_eq!(
        changed_paths(&repo, "HEAD"),
        "A\tflags/overlays/prod/a.yaml\n"
    );
    assert_eq!(repo.status(), "");

    store
        .commit_change(&change("overlays/prod/a.yaml", None, "drop it"))
        .unwrap();
    assert_eq!(
        changed_paths(&repo, "HEAD"),
        "D\tflags/overlays/prod/a.yaml\n"
    );
    assert!(
        !repo.work.join("flags/overlays").exists(),
        "empty directories are removed"
    );
    assert_eq!(repo.status(), "");
    assert_eq!(
        repo.git(&["ls-tree", "-r", "--name-only", "HEAD"]),
        "README.md\nflags/base/a.yaml\nflags/flagctl.yaml\n"
    );

    let error = store
        .commit_change(&change("overlays/prod/a.yaml", None, "again"))
        .unwrap_err();
    assert!(matches!(error, StoreError::DeleteMissing { .. }), "{error}");
    let error = store
        .commit_change(&change("base/a.yaml", Some("key: a\n"), "same"))
        .unwrap_err();
    assert!(
        matches!(error, StoreError::NothingToCommit { .. }),
        "{error}"
    );
    let error = store
        .commit_change(&change("base/b.yaml", Some("key: b\n"), "  \n"))
        .unwrap_err();
    assert!(matches!(error, StoreError::EmptyMessage), "{error}");
    for directory in [None, Some("x")] {
        let error = store
            .commit_change(&change("base", directory, "a directory"))
            .unwrap_err();
        assert!(matches!(error, StoreError::InvalidPath { .. }), "{error}");
    }
    let error = store
        .commit_change(&change("../README.md", Some("x"), "escape"))
        .unwrap_err();
    assert!(matches!(error, StoreError::InvalidPath { .. }), "{error}");

    // Several files in one commit.
    store
        .commit_change(&ChangeRequest {
            files: vec![
                ("base/b.yaml".into(), Some(b"key: b\n".to_vec())),
                ("base/a.yaml".into(), None),
            ],
            ..change("x", None, "replace a with b")
        })
        .unwrap();
    assert_eq!(
        changed_paths(&repo, "HEAD"),
        "D\tflags/base/a.yaml\nA\tflags/base/b.yaml\n"
    );
    assert_eq!(repo.status(), "");
    repo.git(&["fsck", "--strict"]);
}

#[test]
fn the_first_commit_of_a_repository() {
    let repo = TestRepo::new();
    std::fs::create_dir_all(repo.root()).unwrap();
    let store = Store::discover(&repo.root()).unwrap();
    let outcome = store
        .commit_change(&change(
            "flagctl.yaml",
            Some("environments: [prod]\n"),
            "flagctl init",
        ))
        .unwrap();
    assert_eq!(outcome.parent, None);
    assert_eq!(repo.git(&["rev-list", "--count", "HEAD"]).trim(), "1");
    assert_eq!(repo.status(), "");
    assert!(
        repo.git(&["reflog", "-1", "main"])
            .contains("commit (initial)")
    );
}

#[test]
fn a_stale_expected_head_is_a_conflict_and_retry_recovers() {
    let repo = TestRepo::with_root();
    let store = Store::discover(&repo.root()).unwrap();
    let stale: RevisionId = repo.head().parse().unwrap();
    repo.write("flags/base/b.yaml", "key: b\n");
    repo.commit_all("someone else");

    let error = store
        .commit_change(&ChangeRequest {
            expected_head: Some(stale),
            ..change("base/a.yaml", Some("key: a\nx: 1\n"), "late")
        })
        .unwrap_err();
    assert!(error.is_conflict(), "{error}");
    assert!(
        error
            .to_string()
            .starts_with("branch `refs/heads/main` moved from `"),
        "{error}"
    );
    assert!(error.help().is_some());

    // The retry loop re-reads HEAD on every attempt.
    let mut attempts = 0;
    let outcome = store
        .retry_on_conflict(5, |store| {
            attempts += 1;
            let expected = if attempts == 1 {
                stale
            } else {
                store.head()?.id().unwrap()
            };
            store.commit_change(&ChangeRequest {
                expected_head: Some(expected),
                ..change("base/a.yaml", Some("key: a\nx: 1\n"), "retried")
            })
        })
        .unwrap();
    assert_eq!(attempts, 2);
    assert_eq!(repo.head(), outcome.id.to_string());

    // Giving up returns the last conflict.
    let error = store
        .retry_on_conflict(3, |store| {
            store.commit_change(&ChangeRequest {
                expected_head: Some(stale),
                ..change("base/a.yaml", Some("key: a\nx: 2\n"), "never")
            })
        })
        .unwrap_err();
    assert!(error.is_conflict());
}

#[test]
fn refuses_detached_head_and_operations_in_progress() {
    let repo = TestRepo::with_root();
    let store = Store::discover(&repo.root()).unwrap();

    repo.git(&["checkout", "-q", "--detach"]);
    let error = store
        .commit_change(&change("base/a.yaml", Some("key: a\nx: 1\n"), "m"))
        .unwrap_err();
    assert!(matches!(error, StoreError::DetachedHead { .. }), "{error}");
    assert_eq!(
        error.help().unwrap(),
        "check out a branch with `git switch <branch>`"
    );
    repo.git(&["checkout", "-q", "main"]);

    // A rebase stopped on a conflict.
    repo.git(&["checkout", "-q", "-b", "side"]);
    repo.write("flags/base/a.yaml", "key: a\nside: true\n");
    repo.commit_all("side");
    repo.git(&["checkout", "-q", "main"]);
    repo.write("flags/base/a.yaml", "key: a\nmain: true\n");
    repo.commit_all("main");
    repo.git(&["checkout", "-q", "side"]);
    assert!(!repo.git_output(&["rebase", "main"]).status.success());
    let error = store
        .commit_change(&change("base/b.yaml", Some("key: b\n"), "m"))
        .unwrap_err();
    assert!(
        matches!(
            error,
            StoreError::OperationInProgress {
                state: "rebase",
                ..
            }
        ),
        "{error}"
    );
    repo.git(&["rebase", "--abort"]);

    // A merge stopped on a conflict.
    assert!(!repo.git_output(&["merge", "main"]).status.success());
    let error = store
        .commit_change(&change("base/b.yaml", Some("key: b\n"), "m"))
        .unwrap_err();
    assert!(
        matches!(
            error,
            StoreError::OperationInProgress { state: "merge", .. }
        ),
        "{error}"
    );
    assert_eq!(
        error.to_string(),
        "a merge is in progress: finish or abort it before committing a change"
    );
    assert_eq!(
        error.help().unwrap(),
        "run `git merge --continue` or `git merge --abort`"
    );
    repo.git(&["merge", "--abort"]);
}

#[test]
fn an_author_override() {
    let repo = TestRepo::with_root();
    let store = Store::discover(&repo.root()).unwrap();
    store
        .commit_change(&ChangeRequest {
            author: Some(Author::parse("Jane Doe <jane@example.com>").unwrap()),
            ..change("base/a.yaml", Some("key: a\nx: 1\n"), "by jane")
        })
        .unwrap();
    let info = store.resolve("HEAD").unwrap();
    assert_eq!(info.author.to_string(), "Jane Doe <jane@example.com>");
    assert_eq!(info.committer.name, common::NAME);
}

/// Runs this test binary again, running only the ignored child entry point
/// `test` with `vars` set, in an environment without any git identity.
fn rerun(test: &str, home: &Path, vars: &[(&str, &str)]) -> Command {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            test,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env_remove("GIT_AUTHOR_NAME")
        .env_remove("GIT_AUTHOR_EMAIL")
        .env_remove("GIT_COMMITTER_NAME")
        .env_remove("GIT_COMMITTER_EMAIL")
        .env_remove("EMAIL");
    for (key, value) in vars {
        command.env(key, value);
    }
    command
}

#[test]
fn refuses_without_an_identity() {
    let repo = TestRepo::with_root();
    repo.git(&["config", "--unset", "user.name"]);
    repo.git(&["config", "--unset", "user.email"]);
    let output = rerun(
        "child_without_identity",
        repo.sandbox.home.path(),
        &[("FLAGCTL_TEST_REPO", repo.root().to_str().unwrap())],
    )
    .output()
    .unwrap();
    assert_child_ran(&output);
}

/// Asserts that a child run by [`rerun`] ran its one test and passed.
#[track_caller]
fn assert_child_ran(output: &std::process::Output) {
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("test result: ok. 1 passed"),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The value of a variable the parent test sets for a child entry point;
/// run alone, without it, the child fails instead of passing vacuously.
fn from_parent(variable: &str) -> String {
    std::env::var(variable).unwrap_or_else(|_| {
        panic!("a child entry point: `{variable}` is not set; run its parent test instead")
    })
}

/// A child of `refuses_without_an_identity`, ignored so that it runs only
/// when that test starts it.
#[test]
#[ignore = "child process of `refuses_without_an_identity`; fails when run alone"]
fn child_without_identity() {
    let root = from_parent("FLAGCTL_TEST_REPO");
    let store = Store::discover(Path::new(&root)).unwrap();
    let error = store
        .commit_change(&change("base/a.yaml", Some("key: a\nx: 1\n"), "m"))
        .unwrap_err();
    assert!(matches!(error, StoreError::NoIdentity { .. }), "{error}");
    assert_eq!(
        error.help().unwrap(),
        "set one with git config user.name/user.email, or pass --author"
    );
    // An explicit author is enough, and stands in for the committer.
    store
        .commit_change(&ChangeRequest {
            author: Some(Author::parse("CI Bot <ci@example.com>").unwrap()),
            ..change("base/a.yaml", Some("key: a\nx: 1\n"), "m")
        })
        .unwrap();
    assert_eq!(store.resolve("HEAD").unwrap().committer.name, "CI Bot");
}

const WORKERS: usize = 8;
const COMMITS_PER_WORKER: usize = 50;

/// 8 processes × 50 commits on one repository: each commit adds the
/// worker's own file and increments a shared counter read from HEAD.
#[test]
fn concurrent_processes_lose_nothing() {
    let repo = TestRepo::with_root();
    repo.write("flags/segments/counter.yaml", "0\n");
    let start = repo.commit_all("counter");
    let mut children = Vec::new();
    for worker in 0..WORKERS {
        let child = rerun(
            "child_worker",
            repo.sandbox.home.path(),
            &[
                ("FLAGCTL_TEST_REPO", repo.root().to_str().unwrap()),
                ("FLAGCTL_TEST_WORKER", &worker.to_string()),
                ("GIT_AUTHOR_NAME", "Worker"),
                ("GIT_AUTHOR_EMAIL", "worker@example.com"),
                ("GIT_COMMITTER_NAME", "Worker"),
                ("GIT_COMMITTER_EMAIL", "worker@example.com"),
            ],
        )
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
        children.push(child);
    }
    let mut attempts = 0;
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert_child_ran(&output);
        let stdout = String::from_utf8_lossy(&output.stdout);
        attempts += stdout
            .lines()
            .find_map(|l| l.split("attempts: ").nth(1))
            .map_or(0, |n| n.parse::<usize>().unwrap());
    }
    eprintln!(
        "{attempts} attempts for {} commits",
        WORKERS * COMMITS_PER_WORKER
    );
    let total = WORKERS * COMMITS_PER_WORKER;
    let range = format!("{start}..HEAD");
    assert_eq!(
        repo.git(&["rev-list", "--count", &range]).trim(),
        total.to_string()
    );
    assert_eq!(
        repo.git(&["show", "HEAD:flags/segments/counter.yaml"])
            .trim(),
        total.to_string()
    );
    let files = repo.git(&["ls-tree", "--name-only", "HEAD", "flags/base/"]);
    assert_eq!(
        files.lines().count(),
        total + 1,
        "every worker's files are there"
    );
    assert_eq!(
        repo.git(&["rev-list", "--merges", "--count", "HEAD"])
            .trim(),
        "0"
    );
    repo.git(&["fsck", "--strict"]);
    assert_eq!(repo.status(), "", "index and working tree match HEAD");
}

/// A child of `concurrent_processes_lose_nothing`, ignored so that it runs
/// only when that test starts it.
#[test]
#[ignore = "child process of `concurrent_processes_lose_nothing`; fails when run alone"]
fn child_worker() {
    let root = from_parent("FLAGCTL_TEST_REPO");
    let worker = from_parent("FLAGCTL_TEST_WORKER");
    let store = Store::discover(Path::new(&root)).unwrap();
    let mut attempts = 0;
    for n in 0..COMMITS_PER_WORKER {
        store
            .retry_on_conflict(1000, |store| {
                attempts += 1;
                let head = store.head()?.id();
                let head_name = head.map(|h| h.to_string()).unwrap_or_default();
                let counter = store
                    .read_file_at(&head_name, "segments/counter.yaml")?
                    .unwrap();
                let value: usize = String::from_utf8(counter).unwrap().trim().parse().unwrap();
                store.commit_change(&ChangeRequest {
                    files: vec![
                        (
                            format!("base/w{worker}-{n:02}.yaml"),
                            Some(format!("key: w{worker}-{n:02}\n").into_bytes()),
                        ),
                        (
                            "segments/counter.yaml".into(),
                            Some(format!("{}\n", value + 1).into_bytes()),
                        ),
                    ],
                    message: format!("worker {worker} commit {n}"),
                    author: None,
                    expected_head: head,
                })
            })
            .unwrap();
    }
    println!("attempts: {attempts}");
}
