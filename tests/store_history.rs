//! History as the audit log, on repositories with commits made by hand with
//! plain `git`, merges, and by `commit_change`; and revert plans.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use common::TestRepo;
use flagctl::store::{ChangeRequest, HistoryEntry, HistoryQuery, Store, StoreError};

fn summaries(entries: &[HistoryEntry]) -> Vec<&str> {
    entries.iter().map(|e| e.commit.summary.as_str()).collect()
}

fn paths(query: &[&str]) -> HistoryQuery {
    HistoryQuery {
        paths: query.iter().map(|p| (*p).to_owned()).collect(),
        ..HistoryQuery::default()
    }
}

/// initial (a) → add b → edit a → prod overlay of a → readme only → edit b.
fn linear() -> TestRepo {
    let repo = TestRepo::with_root();
    repo.write("flags/base/b.yaml", "key: b\n");
    repo.commit_all("add b");
    repo.write("flags/base/a.yaml", "key: a\nenabled: false\n");
    repo.commit_all("edit a");
    repo.write("flags/overlays/prod/a.yaml", "enabled: true\n");
    repo.commit_all("prod overlay of a");
    repo.write("README.md", "more\n");
    repo.commit_all("readme only");
    repo.write("flags/base/b.yaml", "key: b\nenabled: false\n");
    repo.commit_all("edit b");
    repo
}

#[test]
fn history_of_paths_newest_first() {
    let repo = linear();
    let store = Store::discover(&repo.root()).unwrap();

    let all = store.history(&HistoryQuery::default()).unwrap();
    assert_eq!(
        summaries(&all),
        ["edit b", "prod overlay of a", "edit a", "add b", "initial"]
    );

    let a = store.history(&paths(&["base/a.yaml"])).unwrap();
    assert_eq!(summaries(&a), ["edit a", "initial"]);
    let edit = &a[0];
    assert_eq!(edit.changes.len(), 1);
    let change = &edit.changes[0];
    assert_eq!(change.path, "base/a.yaml");
    assert_eq!(store.blob(change.before.unwrap()).unwrap(), b"key: a\n");
    assert_eq!(
        store.blob(change.after.unwrap()).unwrap(),
        b"key: a\nenabled: false\n"
    );
    assert!(a[1].changes[0].is_addition());
    assert_eq!(a[0].commit.author.name, common::NAME);
    assert!(!a[0].merge);

    // Everything about flag `a`: the base and any environment's overlay.
    let flag = store
        .history(&paths(&["base/a.yaml", "overlays/*/a.yaml"]))
        .unwrap();
    assert_eq!(summaries(&flag), ["prod overlay of a", "edit a", "initial"]);
    let prod = store.history(&paths(&["overlays/prod"])).unwrap();
    assert_eq!(summaries(&prod), ["prod overlay of a"]);

    let limited = store
        .history(&HistoryQuery {
            limit: Some(2),
            ..HistoryQuery::default()
        })
        .unwrap();
    assert_eq!(summaries(&limited), ["edit b", "prod overlay of a"]);

    let range = store
        .history(&HistoryQuery {
            revision: Some("HEAD~4..HEAD~1".into()),
            ..HistoryQuery::default()
        })
        .unwrap();
    assert_eq!(summaries(&range), ["prod overlay of a", "edit a"]);
    let from = store
        .history(&HistoryQuery {
            revision: Some("HEAD~3".into()),
            ..HistoryQuery::default()
        })
        .unwrap();
    assert_eq!(summaries(&from), ["edit a", "add b", "initial"]);

    // Times: the helper dates commits one minute apart.
    let edit_a = store.resolve("HEAD~3").unwrap().committer.time;
    let since = store
        .history(&HistoryQuery {
            since: Some(edit_a),
            ..HistoryQuery::default()
        })
        .unwrap();
    assert_eq!(summaries(&since), ["edit b", "prod overlay of a", "edit a"]);
    let until = store
        .history(&HistoryQuery {
            until: Some(edit_a),
            ..HistoryQuery::default()
        })
        .unwrap();
    assert_eq!(summaries(&until), ["edit a", "add b", "initial"]);

    let error = store.history(&paths(&["../x"])).unwrap_err();
    assert!(matches!(error, StoreError::InvalidPath { .. }), "{error}");
    let error = store
        .history(&HistoryQuery {
            revision: Some("nope..HEAD".into()),
            ..HistoryQuery::default()
        })
        .unwrap_err();
    assert!(
        matches!(error, StoreError::RevisionNotFound { .. }),
        "{error}"
    );
}

#[test]
fn history_filters_by_author_and_reads_trailers() {
    let repo = TestRepo::with_root();
    let store = Store::discover(&repo.root()).unwrap();
    repo.git(&["config", "user.name", "Jane Doe"]);
    repo.git(&["config", "user.email", "jane@example.com"]);
    let message = flagctl::store::CommitMessage::new("enable a in prod")
        .trailer("Flagctl-Action", "enable")
        .trailer("Flagctl-Flag", "a")
        .trailer("Flagctl-Env", "prod");
    store
        .commit_change(&ChangeRequest {
            files: vec![(
                "overlays/prod/a.yaml".into(),
                Some(b"enabled: true\n".to_vec()),
            )],
            message: message.to_string(),
            author: None,
            expected_head: None,
        })
        .unwrap();
    let jane = store
        .history(&HistoryQuery {
            author: Some("JANE@".into()),
            ..HistoryQuery::default()
        })
        .unwrap();
    assert_eq!(summaries(&jane), ["enable a in prod"]);
    assert_eq!(jane[0].commit.trailer("Flagctl-Env"), Some("prod"));
    assert_eq!(jane[0].commit.trailers.len(), 3);
    let nobody = store
        .history(&HistoryQuery {
            author: Some("nobody".into()),
            ..HistoryQuery::default()
        })
        .unwrap();
    assert!(nobody.is_empty());
}

/// main: initial → edit a (main) ─────────────── merge side → merge other (resolved)
///        \→ side: edit b (side) ─┘                          /
///        \→ other: edit a differently ─────────────────────┘ (conflict, resolved by hand)
fn with_merges() -> TestRepo {
    let repo = TestRepo::with_root();
    repo.git(&["branch", "side"]);
    repo.git(&["branch", "other"]);
    repo.write("flags/base/a.yaml", "key: a\nmain: true\n");
    repo.commit_all("edit a on main");
    repo.git(&["checkout", "-q", "side"]);
    repo.write("flags/base/b.yaml", "key: b\n");
    repo.commit_all("add b on side");
    repo.git(&["checkout", "-q", "other"]);
    repo.write("flags/base/a.yaml", "key: a\nother: true\n");
    repo.commit_all("edit a on other");
    repo.git(&["checkout", "-q", "main"]);
    repo.git(&["merge", "-q", "--no-ff", "-m", "merge side", "side"]);
    assert!(
        !repo
            .git_output(&["merge", "-q", "-m", "merge other", "other"])
            .status
            .success()
    );
    repo.write("flags/base/a.yaml", "key: a\nmain: true\nother: true\n");
    repo.git(&["add", "flags/base/a.yaml"]);
    repo.git(&["commit", "-q", "--no-edit"]);
    repo
}

#[test]
fn merges_do_not_hide_changes() {
    let repo = with_merges();
    let store = Store::discover(&repo.root()).unwrap();

    let b = store.history(&paths(&["base/b.yaml"])).unwrap();
    assert_eq!(
        summaries(&b),
        ["add b on side"],
        "the side commit, not the merge"
    );

    let a = store.history(&paths(&["base/a.yaml"])).unwrap();
    let mut names = summaries(&a);
    assert_eq!(
        names[0], "merge other",
        "the conflict resolution is a change of its own"
    );
    assert!(a[0].merge);
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "edit a on main",
            "edit a on other",
            "initial",
            "merge other"
        ]
    );
    let resolution = &a[0].changes[0];
    assert_eq!(
        store.blob(resolution.after.unwrap()).unwrap(),
        b"key: a\nmain: true\nother: true\n"
    );
    assert_eq!(
        store.blob(resolution.before.unwrap()).unwrap(),
        b"key: a\nmain: true\n"
    );

    // First parent: what reached main, merges compared with their first parent.
    let first = store
        .history(&HistoryQuery {
            first_parent: true,
            ..paths(&["base/b.yaml"])
        })
        .unwrap();
    assert_eq!(summaries(&first), ["merge side"]);
    assert!(first[0].merge);
    let first_a = store
        .history(&HistoryQuery {
            first_parent: true,
            ..paths(&["base/a.yaml"])
        })
        .unwrap();
    assert_eq!(
        summaries(&first_a),
        ["merge other", "edit a on main", "initial"]
    );
}

#[test]
fn the_cache_gives_the_same_answers_and_survives_damage() {
    let repo = with_merges();
    let store = Store::discover(&repo.root()).unwrap();
    let query = paths(&["base"]);
    let cold = store.history(&query).unwrap();
    let cache_dir = repo.work.join(".git/flagctl");
    let files: Vec<_> = std::fs::read_dir(&cache_dir).unwrap().collect();
    assert_eq!(files.len(), 1);
    let warm = store.history(&query).unwrap();
    assert_eq!(cold, warm);

    // A damaged cache line is ignored and recomputed.
    let file = files[0].as_ref().unwrap().path();
    let text = std::fs::read_to_string(&file).unwrap();
    let damaged = text.replacen("base/a.yaml", "base/z.yaml", 1);
    assert_ne!(damaged, text);
    std::fs::write(&file, damaged + "garbage\n").unwrap();
    assert_eq!(store.history(&query).unwrap(), cold);
    std::fs::write(&file, "not a cache\n").unwrap();
    assert_eq!(store.history(&query).unwrap(), cold);
}

#[test]
fn revert_plans() {
    let repo = linear();
    let store = Store::discover(&repo.root()).unwrap();

    // `edit b` is the newest change of b: nothing later.
    let plan = store.revert_plan("HEAD").unwrap();
    assert_eq!(plan.commit.summary, "edit b");
    assert!(!plan.is_superseded());
    assert_eq!(plan.changes.len(), 1);
    assert_eq!(plan.changes[0].before.as_deref(), Some(&b"key: b\n"[..]));
    assert_eq!(
        plan.changes[0].after.as_deref(),
        Some(&b"key: b\nenabled: false\n"[..])
    );
    assert_eq!(
        plan.restore_files(),
        vec![("base/b.yaml".to_owned(), Some(b"key: b\n".to_vec()))]
    );

    // `prod overlay of a`: not touched since (the readme and b changed).
    let plan = store.revert_plan("HEAD~2").unwrap();
    assert!(!plan.is_superseded());
    assert_eq!(
        plan.restore_files(),
        vec![("overlays/prod/a.yaml".to_owned(), None)]
    );

    // `add b`: b changed later, in `edit b`.
    let plan = store.revert_plan("HEAD~4").unwrap();
    assert!(plan.is_superseded());
    assert_eq!(summaries(&plan.later), ["edit b"]);

    let error = store.revert_plan("HEAD~1").unwrap_err();
    assert!(
        matches!(
            error,
            StoreError::CannotRevert {
                reason: "it changed no flag file",
                ..
            }
        ),
        "{error}"
    );

    // Applying a plan is an ordinary change.
    let plan = store.revert_plan("HEAD").unwrap();
    store
        .commit_change(&ChangeRequest {
            files: plan.restore_files(),
            message: format!("revert {}", plan.commit.summary),
            author: None,
            expected_head: Some(plan.commit.id),
        })
        .unwrap();
    assert_eq!(repo.read("flags/base/b.yaml"), "key: b\n");
    assert_eq!(repo.status(), "");
}

#[test]
fn merges_and_other_branches_cannot_be_reverted() {
    let repo = with_merges();
    let store = Store::discover(&repo.root()).unwrap();
    let error = store.revert_plan("HEAD").unwrap_err();
    assert!(
        matches!(
            error,
            StoreError::CannotRevert {
                reason: "it is a merge",
                ..
            }
        ),
        "{error}"
    );
    repo.git(&["checkout", "-q", "-b", "elsewhere", "side~1"]);
    repo.write("flags/base/c.yaml", "key: c\n");
    repo.commit_all("c elsewhere");
    repo.git(&["checkout", "-q", "main"]);
    let error = store.revert_plan("elsewhere").unwrap_err();
    assert!(
        matches!(
            error,
            StoreError::CannotRevert {
                reason: "it is not on the current branch",
                ..
            }
        ),
        "{error}"
    );
}

#[test]
fn commits_made_here_are_cached_exactly_as_history_computes_them() {
    let repo = TestRepo::with_root();
    let store = Store::discover(&repo.root()).unwrap();
    let commit = |files: Vec<(&str, Option<&str>)>| {
        store
            .commit_change(&ChangeRequest {
                files: files
                    .into_iter()
                    .map(|(p, c)| (p.to_owned(), c.map(|c| c.as_bytes().to_vec())))
                    .collect(),
                message: "change".into(),
                author: None,
                expected_head: None,
            })
            .unwrap();
    };
    commit(vec![
        ("base/b.yaml", Some("key: b\n")),
        ("notes.txt", Some("not a document\n")),
    ]);
    commit(vec![
        ("base/b.yaml", None),
        ("base/a.yaml", Some("key: a\nx: 1\n")),
    ]);
    commit(vec![
        ("overlays/prod/a.yaml", Some("x: 2\n")),
        ("base/a.yaml", Some("key: a\nx: 1\n")),
    ]);
    let cache_dir = repo.work.join(".git/flagctl");
    let recorded = std::fs::read_dir(&cache_dir).unwrap().count();
    assert_eq!(recorded, 1, "commit_change wrote the cache");
    let from_records = store.history(&HistoryQuery::default()).unwrap();
    std::fs::remove_dir_all(&cache_dir).unwrap();
    let computed = store.history(&HistoryQuery::default()).unwrap();
    assert_eq!(from_records, computed);
    assert_eq!(computed.len(), 4);
    assert_eq!(
        computed[0].changes.len(),
        1,
        "an unchanged file is no change"
    );
    assert_eq!(computed[2].changes.len(), 1, "notes.txt is not a document");
}

/// 700 commits written with `git fast-import` (adds, edits, deletes, files
/// that are not documents): the history agrees with `git log` on every path,
/// cold (computed on several threads) and cached.
#[test]
fn agrees_with_git_log_on_a_long_history() {
    use std::io::Write;
    let repo = TestRepo::new();
    let mut import = common::git_command(repo.path(), repo.sandbox.home.path())
        .args(["fast-import", "--quiet"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        let mut out = import.stdin.take().unwrap();
        let mut state = 0x2545_f491_u64;
        let mut next = |n: u64| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) % n
        };
        for n in 0..700u64 {
            let time = 1_700_000_000 + n * 60;
            let message = format!("commit {n}");
            write!(
                out,
                "commit refs/heads/main\ncommitter T <t@example.com> {time} +0000\ndata {}\n{message}\n",
                message.len()
            )
            .unwrap();
            let file = next(20);
            let path = match next(4) {
                0 => format!("flags/overlays/prod/f{file}.yaml"),
                1 => format!("flags/notes/f{file}.txt"),
                _ => format!("flags/base/f{file}.yaml"),
            };
            if next(6) == 0 {
                writeln!(out, "D {path}").unwrap();
            } else {
                let body = format!("key: f{file}\nv: {}\n", next(5));
                write!(out, "M 100644 inline {path}\ndata {}\n{body}\n", body.len()).unwrap();
            }
        }
    }
    assert!(import.wait().unwrap().success());
    repo.git(&["reset", "-q", "--hard", "main"]);
    std::fs::create_dir_all(repo.root()).unwrap();
    let store = Store::discover(&repo.root()).unwrap();

    let expected = |pathspec: &str| -> Vec<String> {
        repo.git(&["log", "--format=%H", "--", pathspec])
            .lines()
            .map(str::to_owned)
            .collect()
    };
    let ids = |entries: &[HistoryEntry]| -> Vec<String> {
        entries.iter().map(|e| e.commit.id.to_string()).collect()
    };
    for round in ["cold", "cached"] {
        let all = store.history(&paths(&["base", "overlays"])).unwrap();
        let in_order: Vec<String> = repo
            .git(&["log", "--format=%H", "--", "flags/base", "flags/overlays"])
            .lines()
            .map(str::to_owned)
            .collect();
        assert_eq!(ids(&all), in_order, "{round}");
        for file in [0, 7, 19] {
            let path = format!("base/f{file}.yaml");
            let mine = store.history(&paths(&[&path])).unwrap();
            assert_eq!(
                ids(&mine),
                expected(&format!("flags/{path}")),
                "{round} {path}"
            );
        }
        let notes = store.history(&paths(&["notes"])).unwrap();
        assert!(notes.is_empty(), "only documents have history");
    }
}
