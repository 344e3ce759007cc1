//! Fetch and push through the system `git` against a bare remote on disk.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use std::path::{Path, PathBuf};

use common::Sandbox;
use flagctl::store::{
    ChangeRequest, PushOutcome, RemoteErrorKind, Store, StoreError, fetch_into_cache,
};

struct Setup {
    sandbox: Sandbox,
    remote: PathBuf,
}

impl Setup {
    /// A bare remote holding one commit on `main`.
    fn new() -> Setup {
        let sandbox = Sandbox::new();
        let remote = sandbox.path().join("remote.git");
        sandbox.git_in(
            sandbox.path(),
            &["init", "-q", "--bare", "-b", "main", "remote.git"],
        );
        let seed = sandbox.path().join("seed");
        sandbox.git_in(sandbox.path(), &["clone", "-q", "remote.git", "seed"]);
        std::fs::create_dir_all(seed.join("flags/base")).unwrap();
        std::fs::write(seed.join("flags/flagctl.yaml"), "environments: [prod]\n").unwrap();
        sandbox.git_in(&seed, &["add", "-A"]);
        sandbox.git_in(&seed, &["commit", "-q", "-m", "initial"]);
        sandbox.git_in(&seed, &["push", "-q", "origin", "main"]);
        Setup { sandbox, remote }
    }

    fn clone(&self, name: &str) -> PathBuf {
        self.sandbox
            .git_in(self.sandbox.path(), &["clone", "-q", "remote.git", name]);
        let dir = self.sandbox.path().join(name);
        self.sandbox
            .git_in(&dir, &["config", "user.name", common::NAME]);
        self.sandbox
            .git_in(&dir, &["config", "user.email", common::EMAIL]);
        dir
    }
}

fn commit(store: &Store, path: &str, contents: &str) {
    store
        .commit_change(&ChangeRequest {
            files: vec![(path.to_owned(), Some(contents.as_bytes().to_vec()))],
            message: format!("change {path}"),
            author: None,
            expected_head: None,
        })
        .unwrap();
}

#[test]
fn a_push_after_the_remote_moved_is_rejected_as_such() {
    let setup = Setup::new();
    let one = Store::discover(&setup.clone("one").join("flags")).unwrap();
    let two = Store::discover(&setup.clone("two").join("flags")).unwrap();

    commit(&one, "base/a.yaml", "key: a\n");
    commit(&two, "base/b.yaml", "key: b\n");
    assert_eq!(one.push("origin", "main").unwrap(), PushOutcome::Updated);
    assert_eq!(one.push("origin", "main").unwrap(), PushOutcome::UpToDate);

    let error = two.push("origin", "main").unwrap_err();
    match &error {
        StoreError::Remote {
            kind,
            stderr,
            command,
        } => {
            assert_eq!(*kind, RemoteErrorKind::RemoteMoved);
            assert!(
                stderr.contains("rejected") || stderr.contains("failed"),
                "{stderr}"
            );
            assert!(command.starts_with("push"));
        }
        other => panic!("unexpected error: {other}"),
    }
    assert_eq!(
        error.to_string(),
        "`git push --porcelain origin refs/heads/main:refs/heads/main` failed: rejected: remote moved"
    );
    assert!(error.help().unwrap().contains("rebase"));

    // The caller's recovery: fetch, rebase, push.
    two.fetch("origin", "+refs/heads/main:refs/remotes/origin/main")
        .unwrap();
    let work = two.workdir().unwrap().to_path_buf();
    setup
        .sandbox
        .git_in(&work, &["rebase", "-q", "origin/main"]);
    assert_eq!(two.push("origin", "main").unwrap(), PushOutcome::Updated);
    assert!(two.push("origin", "no-such-local-branch").is_err());
}

#[test]
fn two_clones_pushing_at_once_never_lose_a_commit() {
    let setup = Setup::new();
    let dirs = [setup.clone("one"), setup.clone("two")];
    let home = setup.sandbox.home.path().to_path_buf();
    std::thread::scope(|scope| {
        for (n, dir) in dirs.iter().enumerate() {
            let home = home.clone();
            scope.spawn(move || {
                let store = Store::discover(&dir.join("flags")).unwrap();
                for i in 0..5 {
                    commit(&store, &format!("base/c{n}-{i}.yaml"), "x: 1\n");
                    // Push, and on "remote moved" fetch + rebase + push again.
                    for _ in 0..50 {
                        match store.push("origin", "main") {
                            Ok(_) => break,
                            Err(StoreError::Remote {
                                kind: RemoteErrorKind::RemoteMoved,
                                ..
                            }) => {
                                store
                                    .fetch("origin", "+refs/heads/main:refs/remotes/origin/main")
                                    .unwrap();
                                let status = common::git_command(dir, &home)
                                    .args(["rebase", "-q", "origin/main"])
                                    .status()
                                    .unwrap();
                                assert!(status.success());
                            }
                            Err(other) => panic!("push failed: {other}"),
                        }
                    }
                }
            });
        }
    });
    let log = setup.sandbox.git_in(
        &setup.remote,
        &["ls-tree", "--name-only", "main", "flags/base/"],
    );
    assert_eq!(log.lines().count(), 10, "{log}");
    setup.sandbox.git_in(&setup.remote, &["fsck", "--strict"]);
}

#[test]
fn fetch_failures_are_classified() {
    let setup = Setup::new();
    let store = Store::discover(&setup.clone("one").join("flags")).unwrap();
    let error = store
        .fetch("/no/such/repository.git", "refs/heads/main")
        .unwrap_err();
    assert!(
        matches!(
            error,
            StoreError::Remote {
                kind: RemoteErrorKind::NotFound,
                ..
            }
        ),
        "{error}"
    );
    let error = store
        .fetch("origin", "refs/heads/no-such-branch")
        .unwrap_err();
    assert!(
        matches!(
            error,
            StoreError::Remote {
                kind: RemoteErrorKind::NotFound,
                ..
            }
        ),
        "{error}"
    );
}

#[test]
fn following_a_remote_through_a_cache() {
    let setup = Setup::new();
    let cache = setup.sandbox.path().join("cache.git");
    let url = setup.remote.to_str().unwrap();

    let first = fetch_into_cache(url, &cache, "main").unwrap();
    assert_eq!(first.previous, None);
    assert!(first.changed());
    let reader = Store::open(&cache, "flags").unwrap();
    let files = reader.read_root_at("refs/heads/main").unwrap();
    assert_eq!(
        files.get("flagctl.yaml"),
        Some(&b"environments: [prod]\n"[..])
    );

    let again = fetch_into_cache(url, &cache, "main").unwrap();
    assert!(!again.changed());

    let one = Store::discover(&setup.clone("one").join("flags")).unwrap();
    commit(&one, "base/a.yaml", "key: a\n");
    one.push("origin", "main").unwrap();
    let moved = fetch_into_cache(url, &cache, "main").unwrap();
    assert!(moved.changed());
    assert_eq!(moved.previous, Some(first.tip));
    let reader = Store::open(&cache, "flags").unwrap();
    assert_eq!(reader.read_root_at("refs/heads/main").unwrap().len(), 2);

    let error = fetch_into_cache(url, &cache, "no-such-branch").unwrap_err();
    assert!(
        matches!(
            error,
            StoreError::Remote {
                kind: RemoteErrorKind::NotFound,
                ..
            }
        ),
        "{error}"
    );
    let error = fetch_into_cache(url, Path::new(&cache), "bad..name").unwrap_err();
    assert!(
        matches!(error, StoreError::InvalidArgument { .. }),
        "{error}"
    );
    let error = fetch_into_cache("--upload-pack=touch /tmp/x", &cache, "main").unwrap_err();
    assert!(
        matches!(error, StoreError::InvalidArgument { .. }),
        "{error}"
    );
    let error = one.fetch("-oops", "main").unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid remote `-oops`: it must not be empty or start with `-`"
    );
}
