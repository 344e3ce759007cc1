//! Reading a flag root at revisions, HEAD, and the working tree's status,
//! against real repositories.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use common::{Sandbox, TestRepo};
use flagctl::store::{Head, PathStatus, Store, StoreError};

#[test]
fn reads_the_root_at_revisions() {
    let repo = TestRepo::with_root();
    let first = repo.head();
    repo.git(&["tag", "v1"]);
    repo.write("flags/base/a.yaml", "key: a\nenabled: false\n");
    repo.write("flags/overlays/prod/a.yaml", "enabled: true\n");
    repo.write("flags/schemas/flag.schema.json", "{}");
    repo.write("flags/base/.gitkeep", "");
    repo.commit_all("second");
    repo.git(&["branch", "feature"]);

    let store = Store::discover(&repo.root()).unwrap();
    assert_eq!(store.root(), "flags");

    let head = store.read_root_at("HEAD").unwrap();
    let paths: Vec<&str> = head.iter().map(|(p, _)| p).collect();
    assert_eq!(
        paths,
        ["base/a.yaml", "flagctl.yaml", "overlays/prod/a.yaml"]
    );
    assert_eq!(
        head.get("base/a.yaml"),
        Some(&b"key: a\nenabled: false\n"[..])
    );

    for revision in ["HEAD~1", "v1", &first[..7], first.as_str()] {
        let old = store.read_root_at(revision).unwrap();
        assert_eq!(old.len(), 2, "{revision}");
        assert_eq!(old.get("base/a.yaml"), Some(&b"key: a\n"[..]));
    }
    assert_eq!(store.read_root_at("feature").unwrap(), head);

    assert_eq!(
        store.read_file_at("v1", "base/a.yaml").unwrap().as_deref(),
        Some(&b"key: a\n"[..])
    );
    assert_eq!(
        store.read_file_at("v1", "overlays/prod/a.yaml").unwrap(),
        None
    );

    let info = store.resolve("v1").unwrap();
    assert_eq!(info.id.to_string(), first);
    assert_eq!(info.summary, "initial");
    assert_eq!(info.author.name, common::NAME);
    assert_eq!(info.author.email, common::EMAIL);
    assert!(info.parents.is_empty());

    let missing = store.read_root_at("no-such-branch").unwrap_err();
    assert!(
        matches!(missing, StoreError::RevisionNotFound { .. }),
        "{missing}"
    );
    assert_eq!(missing.to_string(), "revision `no-such-branch` not found");
}

#[test]
fn a_root_at_the_top_of_the_repository() {
    let repo = TestRepo::new();
    repo.write("flagctl.yaml", "environments: [prod]\n");
    repo.write("base/a.yaml", "key: a\n");
    repo.write("src/main.rs", "fn main() {}\n");
    repo.commit_all("initial");
    let store = Store::discover(repo.path()).unwrap();
    assert_eq!(store.root(), "");
    let files = store.read_root_at("HEAD").unwrap();
    assert_eq!(files.len(), 2);
}

#[test]
fn the_root_may_not_exist_at_old_revisions() {
    let repo = TestRepo::new();
    repo.write("README.md", "x\n");
    repo.commit_all("before flags");
    repo.write("flags/flagctl.yaml", "environments: [prod]\n");
    repo.commit_all("flags");
    let store = Store::discover(&repo.root()).unwrap();
    let error = store.read_root_at("HEAD~1").unwrap_err();
    assert!(matches!(error, StoreError::RootNotFound { .. }), "{error}");
}

#[test]
fn discovery_errors_are_clear() {
    let sandbox = Sandbox::new();
    let plain = sandbox.path().join("plain");
    std::fs::create_dir_all(&plain).unwrap();
    let error = Store::discover(&plain).unwrap_err();
    assert!(
        matches!(error, StoreError::NotARepository { .. }),
        "{error}"
    );
    assert!(error.help().is_some());

    let bare = sandbox.path().join("bare.git");
    sandbox.git_in(sandbox.path(), &["init", "-q", "--bare", "bare.git"]);
    let error = Store::discover(&bare).unwrap_err();
    assert!(
        matches!(error, StoreError::BareRepository { .. }),
        "{error}"
    );

    // Reading a bare repository works through `open`; committing does not.
    let store = Store::open(&bare, "flags").unwrap();
    assert!(matches!(
        store.path_status("base/a.yaml").unwrap_err(),
        StoreError::BareRepository { .. }
    ));
}

#[test]
fn head_in_every_state() {
    let repo = TestRepo::new();
    std::fs::create_dir_all(repo.root()).unwrap();
    let store = Store::discover(&repo.root()).unwrap();
    assert_eq!(
        store.head().unwrap(),
        Head::Branch {
            name: "main".into(),
            id: None
        }
    );
    let error = store.read_root_at("HEAD").unwrap_err();
    assert!(matches!(error, StoreError::NoCommits { .. }), "{error}");
    assert!(store.history(&Default::default()).unwrap().is_empty());

    repo.write("flags/flagctl.yaml", "environments: [prod]\n");
    let id = repo.commit_all("first");
    let head = store.head().unwrap();
    assert_eq!(head.branch(), Some("main"));
    assert_eq!(head.id().unwrap().to_string(), id);

    repo.git(&["checkout", "-q", "--detach"]);
    assert_eq!(
        store.head().unwrap(),
        Head::Detached {
            id: id.parse().unwrap()
        }
    );
}

#[test]
fn path_status_and_worktree_state() {
    let repo = TestRepo::with_root();
    repo.write("flags/base/b.yaml", "key: b\n");
    repo.write("flags/base/c.yaml", "key: c\n");
    repo.write(".gitignore", "*.ignored.yaml\n");
    repo.commit_all("more");
    let store = Store::discover(&repo.root()).unwrap();
    let clean = store.worktree_state().unwrap();
    assert!(!clean.is_dirty(), "{clean:?}");
    assert_eq!(clean.head.id().unwrap().to_string(), repo.head());

    repo.write("flags/base/a.yaml", "key: a\nedited: true\n");
    repo.write("flags/base/b.yaml", "key: b\nstaged: true\n");
    repo.git(&["add", "flags/base/b.yaml"]);
    repo.write("flags/base/new.yaml", "key: new\n");
    repo.write("flags/base/x.ignored.yaml", "key: x\n");
    repo.write("README.md", "changed outside the root\n");
    repo.write("flags/notes.txt", "not a document\n");

    assert_eq!(
        store.path_status("base/a.yaml").unwrap(),
        PathStatus::Modified
    );
    assert_eq!(
        store.path_status("base/b.yaml").unwrap(),
        PathStatus::Staged
    );
    assert_eq!(store.path_status("base/c.yaml").unwrap(), PathStatus::Clean);
    assert_eq!(
        store.path_status("base/new.yaml").unwrap(),
        PathStatus::Untracked
    );
    assert_eq!(
        store.path_status("base/x.ignored.yaml").unwrap(),
        PathStatus::Ignored
    );
    assert_eq!(
        store.path_status("base/none.yaml").unwrap(),
        PathStatus::Absent
    );
    assert!(!PathStatus::Absent.has_uncommitted_changes());
    assert!(PathStatus::Untracked.has_uncommitted_changes());
    assert!(store.path_status("../README.md").is_err());

    let state = store.worktree_state().unwrap();
    assert_eq!(
        state.changed,
        vec![
            ("base/a.yaml".to_owned(), PathStatus::Modified),
            ("base/b.yaml".to_owned(), PathStatus::Staged),
            ("base/new.yaml".to_owned(), PathStatus::Untracked),
        ]
    );

    std::fs::remove_file(repo.work.join("flags/base/c.yaml")).unwrap();
    assert_eq!(
        store.path_status("base/c.yaml").unwrap(),
        PathStatus::Modified
    );
}

#[test]
fn conflicted_paths_are_reported() {
    let repo = TestRepo::with_root();
    repo.git(&["checkout", "-q", "-b", "side"]);
    repo.write("flags/base/a.yaml", "key: a\nside: true\n");
    repo.commit_all("side");
    repo.git(&["checkout", "-q", "main"]);
    repo.write("flags/base/a.yaml", "key: a\nmain: true\n");
    repo.commit_all("main");
    assert!(!repo.git_output(&["merge", "side"]).status.success());
    let store = Store::discover(&repo.root()).unwrap();
    assert_eq!(
        store.path_status("base/a.yaml").unwrap(),
        PathStatus::Conflicted
    );
    assert!(store.worktree_state().unwrap().is_dirty());
}
