//! What the mutating commands need from the store beyond committing: the
//! documents one flag depends on, root tree ids, preflight checks, the
//! dirty check that tells a user's edits from another process's fresh
//! commit, and re-basing a commit onto a fetched tip.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use common::TestRepo;
use flagctl::store::{ChangeRequest, PathStatus, RevisionId, Store, StoreError};

fn request(path: &str, contents: &str, expected: Option<RevisionId>) -> ChangeRequest {
    ChangeRequest {
        files: vec![(path.to_owned(), Some(contents.as_bytes().to_vec()))],
        message: format!("change {path}"),
        author: None,
        expected_head: expected,
    }
}

#[test]
fn reads_only_what_one_flag_depends_on() {
    let repo = TestRepo::with_root();
    repo.write("flags/base/b.yaml", "key: b\n");
    repo.write("flags/segments/staff.yaml", "name: staff\n");
    repo.write("flags/overlays/prod/a.yaml", "enabled: false\n");
    repo.write("flags/overlays/prod/b.yaml", "enabled: false\n");
    repo.write("flags/overlays/dev/a.yaml", "default: on\n");
    repo.commit_all("root");
    let store = Store::discover(&repo.root()).unwrap();
    let files = store.read_flags_at("HEAD", &["a"]).unwrap();
    let paths: Vec<&str> = files.iter().map(|(p, _)| p).collect();
    assert_eq!(
        paths,
        [
            "base/a.yaml",
            "flagctl.yaml",
            "overlays/dev/a.yaml",
            "overlays/prod/a.yaml",
            "segments/staff.yaml"
        ]
    );
    assert!(
        store
            .read_flags_at("HEAD", &["nope"])
            .unwrap()
            .get("base/nope.yaml")
            .is_none()
    );
    assert_eq!(store.flag_keys_at("HEAD").unwrap(), ["a", "b"]);

    // The root tree id changes with the root's documents only.
    let tree = store.root_tree_at("HEAD").unwrap().unwrap();
    repo.write("README.md", "changed\n");
    repo.commit_all("readme");
    assert_eq!(store.root_tree_at("HEAD").unwrap(), Some(tree));
    assert_eq!(
        repo.git(&["rev-parse", "HEAD:flags"]).trim(),
        tree.to_string()
    );
}

#[test]
fn the_dirty_check_tells_work_from_a_fresh_commit() {
    let repo = TestRepo::with_root();
    let store = Store::discover(&repo.root()).unwrap();
    assert_eq!(store.uncommitted_edits("base/a.yaml").unwrap(), None);
    assert_eq!(store.uncommitted_edits("base/new.yaml").unwrap(), None);

    repo.write("flags/base/a.yaml", "key: a\n# mine\n");
    assert_eq!(
        store.uncommitted_edits("base/a.yaml").unwrap(),
        Some(PathStatus::Modified)
    );
    repo.git(&["add", "flags/base/a.yaml"]);
    assert_eq!(
        store.uncommitted_edits("base/a.yaml").unwrap(),
        Some(PathStatus::Staged)
    );
    repo.git(&["reset", "-q", "--hard"]);
    repo.write("flags/base/new.yaml", "key: new\n");
    assert_eq!(
        store.uncommitted_edits("base/new.yaml").unwrap(),
        Some(PathStatus::Untracked)
    );
    std::fs::remove_file(repo.path().join("flags/base/new.yaml")).unwrap();

    // Another process committed but has not written the file out yet: the
    // index and working tree hold the previous committed version.
    let before = repo.read("flags/base/a.yaml");
    let tip = store.head().unwrap().id();
    let other = Store::discover(&repo.root()).unwrap();
    other
        .commit_change(&request("base/a.yaml", "key: a\nx: 1\n", tip))
        .unwrap();
    repo.write("flags/base/a.yaml", &before);
    repo.git(&[
        "update-index",
        "--cacheinfo",
        &format!(
            "100644,{},flags/base/a.yaml",
            repo.git(&["rev-parse", &format!("{}:flags/base/a.yaml", tip.unwrap())])
                .trim()
        ),
    ]);
    assert_ne!(
        repo.status(),
        "",
        "the file looks staged against the new tip"
    );
    assert_eq!(store.uncommitted_edits("base/a.yaml").unwrap(), None);
    // Half written: the new content in the working tree, the old in the index.
    repo.write("flags/base/a.yaml", "key: a\nx: 1\n");
    assert_eq!(store.uncommitted_edits("base/a.yaml").unwrap(), None);
    // But a version no commit holds is work.
    repo.write("flags/base/a.yaml", "key: a\nx: 2\n");
    assert_eq!(
        store.uncommitted_edits("base/a.yaml").unwrap(),
        Some(PathStatus::Staged)
    );
}

#[test]
fn preflight_refuses_what_commit_change_would() {
    let repo = TestRepo::with_root();
    let store = Store::discover(&repo.root()).unwrap();
    assert_eq!(store.check_can_commit(None).unwrap(), "refs/heads/main");
    repo.git(&["checkout", "-q", "--detach"]);
    assert!(matches!(
        store.check_can_commit(None),
        Err(StoreError::DetachedHead { .. })
    ));
    repo.git(&["checkout", "-q", "main"]);
    assert_eq!(store.push_remote("main").unwrap(), None);
    repo.git(&["config", "branch.main.remote", "upstream"]);
    assert_eq!(
        store.push_remote("main").unwrap().as_deref(),
        Some("upstream")
    );
    repo.git(&["config", "remote.pushDefault", "fork"]);
    assert_eq!(store.push_remote("main").unwrap().as_deref(), Some("fork"));
}

#[test]
fn commit_onto_another_tip_moves_the_branch_and_the_files_that_changed() {
    let repo = TestRepo::with_root();
    let store = Store::discover(&repo.root()).unwrap();
    let base = store.head().unwrap().id().unwrap();
    // "The remote": a commit on another branch that changes b and README.
    repo.git(&["checkout", "-q", "-b", "remote"]);
    repo.write("flags/base/b.yaml", "key: b\n");
    repo.write("README.md", "remote\n");
    let remote = repo
        .commit_all("remote work")
        .parse::<RevisionId>()
        .unwrap();
    repo.git(&["checkout", "-q", "main"]);
    // The local change, then re-based onto the remote commit.
    let local = store
        .commit_change(&request("base/a.yaml", "key: a\nlocal: 1\n", Some(base)))
        .unwrap();
    assert!(store.is_ancestor(base, remote).unwrap());
    assert!(!store.is_ancestor(local.id, remote).unwrap());

    // Uncommitted work in a file the remote changed: refused, nothing moves.
    repo.write("README.md", "my notes\n");
    let error = store
        .commit_change_onto(
            &request("base/a.yaml", "key: a\nlocal: 1\n", Some(local.id)),
            remote,
        )
        .unwrap_err();
    assert!(
        matches!(error, StoreError::WouldOverwrite { ref paths } if paths == &["README.md"]),
        "{error}"
    );
    assert_eq!(store.head().unwrap().id(), Some(local.id));
    repo.git(&["checkout", "-q", "--", "README.md"]);

    let rebased = store
        .commit_change_onto(
            &request("base/a.yaml", "key: a\nlocal: 1\n", Some(local.id)),
            remote,
        )
        .unwrap();
    assert_eq!(rebased.parent, Some(remote));
    assert_eq!(store.head().unwrap().id(), Some(rebased.id));
    assert_eq!(repo.read("README.md"), "remote\n");
    assert_eq!(repo.read("flags/base/b.yaml"), "key: b\n");
    assert_eq!(repo.read("flags/base/a.yaml"), "key: a\nlocal: 1\n");
    assert_eq!(repo.status(), "");
    // A stale expected head is a conflict.
    let error = store
        .commit_change_onto(&request("base/a.yaml", "key: a\n", Some(local.id)), remote)
        .unwrap_err();
    assert!(error.is_conflict(), "{error}");
}
