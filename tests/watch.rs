//! The runtime client end to end, on real repositories and directories:
//! following a git reference, a remote, a working tree and a snapshot file;
//! refusing invalid states while the last good one keeps serving; startup
//! with and without a fallback; readers during many swaps; counts and
//! exposures.
//!
//! Nothing here sleeps to synchronise: tests wait on the client's change
//! notifications with generous timeouts, or drive it with `refresh()`.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use common::{Sandbox, TestRepo};
use flagctl::eval::{Context, Reason};
use flagctl::format::snapshot::SnapshotFile;
use flagctl::format::{LoadOptions, RootFiles, load};
use flagctl::store::{ChangeRequest, Store};
use flagctl::watch::{
    BuildError, ChangeKind, Client, Event, Fallback, Origin, ProblemKind, Refresh, RejectReason,
    Source, StartError, Subscription,
};

/// Long enough for a loaded two-core machine; never reached when all is well.
const TIMEOUT: Duration = Duration::from_secs(60);

const CONFIG: &str = "environments: [dev, prod]\n";

fn rollout(key: &str, on: u32) -> String {
    format!(
        "key: {key}\ntype: boolean\ndefault:\n  rollout: {{ on: {on}, off: {} }}\n",
        100 - on
    )
}

fn kill_switch(key: &str) -> String {
    format!("key: {key}\ntype: boolean\noff_variant: off\ndefault: on\n")
}

/// A flag whose weights sum to 110: refused by validation.
fn broken(key: &str) -> String {
    format!("key: {key}\ntype: boolean\ndefault:\n  rollout: {{ on: 60, off: 50 }}\n")
}

/// A repository with a flag root in `flags/`: a 0% rollout and a kill switch.
fn repository() -> TestRepo {
    let repo = TestRepo::new();
    repo.write("flags/flagctl.yaml", CONFIG);
    repo.write("flags/base/new-checkout.yaml", &rollout("new-checkout", 0));
    repo.write(
        "flags/base/recommendations-panel.yaml",
        &kill_switch("recommendations-panel"),
    );
    repo.commit_all("add flags");
    repo
}

fn share_on(client: &Client, key: &str) -> usize {
    let flags = client.current();
    (0..200)
        .filter(|i| flags.bool_value(key, &Context::new(format!("user-{i}")), false))
        .count()
}

/// Waits for the event about `revision`.
fn wait_for_revision(events: &Subscription, revision: &str) -> Event {
    events
        .wait_for(TIMEOUT, |event| event.revision() == Some(revision))
        .unwrap_or_else(|| panic!("no event for revision {revision} within {TIMEOUT:?}"))
}

#[test]
fn a_commit_changing_a_rollout_is_served() {
    let repo = repository();
    let client = Client::builder()
        .environment("prod")
        .git_head(repo.root())
        .build()
        .unwrap();
    let events = client.subscribe();
    assert_eq!(client.current().revision(), repo.head());
    assert_eq!(client.current().origin(), Origin::Source);
    assert_eq!(share_on(&client, "new-checkout"), 0);

    // A commit made with plain git, noticed by the background thread.
    repo.write(
        "flags/base/new-checkout.yaml",
        &rollout("new-checkout", 100),
    );
    let head = repo.commit_all("rollout new-checkout 0% -> 100%");
    let Event::Applied(change) = wait_for_revision(&events, &head) else {
        panic!("expected the commit to be applied");
    };
    assert_eq!(change.flags.len(), 1);
    assert_eq!(change.flags[0].key, "new-checkout");
    assert_eq!(change.flags[0].kind, ChangeKind::Modified);
    assert_ne!(change.previous_revision, head);
    assert_eq!(share_on(&client, "new-checkout"), 200);
    let evaluation = client.evaluate_with("new-checkout", &Context::new("ada"), |e| {
        (e.revision().to_owned(), e.reason())
    });
    assert_eq!(evaluation, (head.clone(), Reason::Split));

    // A commit made through the store (what `flagctl rollout` does).
    let store = Store::discover(&repo.root()).unwrap();
    let outcome = store
        .commit_change(&ChangeRequest {
            files: vec![(
                "overlays/prod/recommendations-panel.yaml".into(),
                Some(b"enabled: false\n".to_vec()),
            )],
            message: "disable recommendations-panel in prod".into(),
            author: None,
            expected_head: None,
        })
        .unwrap();
    let revision = outcome.id.to_string();
    let Event::Applied(change) = wait_for_revision(&events, &revision) else {
        panic!("expected the change to be applied");
    };
    assert_eq!(change.flags[0].key, "recommendations-panel");
    let flags = client.current();
    let resolution = flags.bool_evaluation("recommendations-panel", &Context::new("u"), true);
    assert!(!resolution.value);
    assert_eq!(resolution.evaluation.reason(), Reason::Disabled);
    assert_eq!(resolution.evaluation.revision(), revision);

    // A commit that touches nothing prod serves moves the revision only.
    repo.write("flags/overlays/dev/new-checkout.yaml", "enabled: false\n");
    let head = repo.commit_all("disable new-checkout in dev");
    let Event::Applied(change) = wait_for_revision(&events, &head) else {
        panic!("expected the commit to be applied");
    };
    assert!(change.flags.is_empty(), "{:?}", change.flags);

    let status = client.status();
    assert_eq!(status.revision, head);
    assert_eq!(status.reloads, 3);
    assert!(status.is_current());
    assert!(status.last_error.is_none());
}

#[test]
fn an_invalid_commit_is_refused_and_the_next_valid_one_served() {
    let repo = repository();
    let first = repo.head();
    let client = Client::builder()
        .environment("prod")
        .git_head(repo.root())
        .build()
        .unwrap();
    let events = client.subscribe();

    repo.write("flags/base/new-checkout.yaml", &broken("new-checkout"));
    let bad = repo.commit_all("break new-checkout");
    let Event::Rejected(rejection) = wait_for_revision(&events, &bad) else {
        panic!("expected the invalid commit to be refused");
    };
    assert!(matches!(rejection.reason, RejectReason::Invalid));
    let first_error = &rejection.diagnostics[0];
    assert_eq!(first_error.code.as_str(), "weights-sum");
    assert_eq!(
        first_error.location.as_ref().unwrap().file,
        Path::new("base/new-checkout.yaml")
    );
    assert!(rejection.to_string().contains("weights-sum"), "{rejection}");

    // The old state keeps serving, and says why it is behind.
    assert_eq!(client.current().revision(), first);
    assert_eq!(share_on(&client, "new-checkout"), 0);
    let status = client.status();
    assert_eq!(status.revision, first);
    assert_eq!(status.latest_revision.as_deref(), Some(bad.as_str()));
    assert_eq!(status.rejections, 1);
    assert!(!status.is_current());
    let problem = status.last_error.unwrap();
    assert_eq!(problem.kind, ProblemKind::Rejected);
    assert_eq!(problem.revision.as_deref(), Some(bad.as_str()));

    // Looking again does not refuse the same state twice.
    assert!(matches!(client.refresh().unwrap(), Refresh::Unchanged));
    assert_eq!(client.status().rejections, 1);

    // An environment the root does not declare is refused too.
    repo.write("flags/flagctl.yaml", "environments: [dev]\n");
    repo.write(
        "flags/base/new-checkout.yaml",
        &rollout("new-checkout", 100),
    );
    let undeclared = repo.commit_all("drop prod");
    let Event::Rejected(rejection) = wait_for_revision(&events, &undeclared) else {
        panic!("expected a refusal");
    };
    assert!(
        matches!(&rejection.reason, RejectReason::UnknownEnvironment { known } if known == &["dev"])
    );

    repo.write("flags/flagctl.yaml", CONFIG);
    let good = repo.commit_all("fix new-checkout");
    let Event::Applied(change) = wait_for_revision(&events, &good) else {
        panic!("expected the fixed commit to be applied");
    };
    // Compared with what was served, not with the refused states.
    assert_eq!(change.previous_revision, first);
    assert_eq!(share_on(&client, "new-checkout"), 200);
    assert!(client.status().is_current());
}

#[test]
fn without_the_os_watcher_the_poll_notices_commits_and_packed_refs() {
    let repo = repository();
    let client = Client::builder()
        .environment("prod")
        .git_head(repo.root())
        .os_watcher(false)
        .poll_interval(Duration::from_millis(20))
        .build()
        .unwrap();
    let events = client.subscribe();

    repo.write(
        "flags/base/new-checkout.yaml",
        &rollout("new-checkout", 100),
    );
    let head = repo.commit_all("rollout new-checkout to everyone");
    assert!(matches!(
        wait_for_revision(&events, &head),
        Event::Applied(_)
    ));
    assert_eq!(share_on(&client, "new-checkout"), 200);

    // Moving back, then along `packed-refs` alone (no loose ref file, as
    // after `git gc`, and a tool that rewrites `packed-refs`).
    repo.write("flags/base/new-checkout.yaml", &rollout("new-checkout", 0));
    let next = repo.commit_all("back to none");
    assert!(matches!(
        wait_for_revision(&events, &next),
        Event::Applied(_)
    ));
    repo.git(&["update-ref", "refs/heads/main", &head]);
    assert!(matches!(
        wait_for_revision(&events, &head),
        Event::Applied(_)
    ));
    repo.git(&["pack-refs", "--all"]);
    assert!(!repo.path().join(".git/refs/heads/main").exists());
    let packed = std::fs::read_to_string(repo.path().join(".git/packed-refs")).unwrap();
    std::fs::write(
        repo.path().join(".git/packed-refs"),
        packed.replace(&head, &next),
    )
    .unwrap();
    assert!(matches!(
        wait_for_revision(&events, &next),
        Event::Applied(_)
    ));
    assert_eq!(share_on(&client, "new-checkout"), 0);
}

#[test]
fn a_named_reference_is_followed_and_other_branches_ignored() {
    let repo = repository();
    repo.git(&["branch", "release"]);
    let client = Client::builder()
        .environment("prod")
        .git_ref(repo.root(), "release")
        .background(false)
        .on_event(|_| panic!("a buggy callback (expected in this test)"))
        .build()
        .unwrap();
    let first = client.current().revision().to_owned();

    repo.write(
        "flags/base/new-checkout.yaml",
        &rollout("new-checkout", 100),
    );
    repo.commit_all("on main only");
    assert!(matches!(client.refresh().unwrap(), Refresh::Unchanged));
    assert_eq!(client.current().revision(), first);

    repo.git(&["branch", "-f", "release", "main"]);
    let Refresh::Applied(change) = client.refresh().unwrap() else {
        panic!("expected the release branch's move to be applied");
    };
    assert_eq!(change.revision, repo.head());
    assert_eq!(share_on(&client, "new-checkout"), 200);

    // The panicking callback did not stop anything.
    repo.write("flags/base/new-checkout.yaml", &rollout("new-checkout", 0));
    repo.commit_all("back to none");
    repo.git(&["branch", "-f", "release", "main"]);
    assert!(matches!(client.refresh().unwrap(), Refresh::Applied(_)));
    assert_eq!(share_on(&client, "new-checkout"), 0);
}

/// A bare "origin", with clones that push to it.
struct Remote {
    sandbox: Sandbox,
    url: PathBuf,
}

impl Remote {
    fn new() -> Remote {
        let sandbox = Sandbox::new();
        sandbox.git_in(
            sandbox.path(),
            &["init", "-q", "--bare", "-b", "main", "origin.git"],
        );
        let remote = Remote {
            url: sandbox.path().join("origin.git"),
            sandbox,
        };
        let seed = remote.clone("seed");
        std::fs::create_dir_all(seed.join("flags/base")).unwrap();
        std::fs::write(seed.join("flags/flagctl.yaml"), CONFIG).unwrap();
        std::fs::write(
            seed.join("flags/base/new-checkout.yaml"),
            rollout("new-checkout", 0),
        )
        .unwrap();
        remote.push(&seed, "initial");
        remote
    }

    fn clone(&self, name: &str) -> PathBuf {
        self.sandbox
            .git_in(self.sandbox.path(), &["clone", "-q", "origin.git", name]);
        self.sandbox.path().join(name)
    }

    /// Commits everything in `clone` and pushes; returns the commit.
    fn push(&self, clone: &Path, message: &str) -> String {
        self.sandbox.git_in(clone, &["add", "-A"]);
        self.sandbox.git_in(clone, &["commit", "-q", "-m", message]);
        self.sandbox
            .git_in(clone, &["push", "-q", "origin", "main"]);
        self.sandbox
            .git_in(clone, &["rev-parse", "HEAD"])
            .trim()
            .to_owned()
    }

    fn url(&self) -> String {
        self.url.to_str().unwrap().to_owned()
    }
}

#[test]
fn a_remote_source_follows_what_another_clone_pushes() {
    let remote = Remote::new();
    let cache = remote.sandbox.path().join("cache.git");
    // Fetching only on refresh (no background thread, whose first look
    // fetches too): deterministic. `a_remote_source_fetches_periodically`
    // covers the background fetch.
    let client = Client::builder()
        .environment("prod")
        .remote(remote.url(), "main", &cache)
        .background(false)
        .build()
        .unwrap();
    assert_eq!(share_on(&client, "new-checkout"), 0);

    let other = remote.clone("other");
    std::fs::write(
        other.join("flags/base/new-checkout.yaml"),
        rollout("new-checkout", 100),
    )
    .unwrap();
    let pushed = remote.push(&other, "rollout to everyone");
    assert_ne!(client.current().revision(), pushed);
    let Refresh::Applied(change) = client.refresh().unwrap() else {
        panic!("expected the pushed commit to be applied");
    };
    assert_eq!(change.revision, pushed);
    assert_eq!(share_on(&client, "new-checkout"), 200);
    assert!(matches!(client.refresh().unwrap(), Refresh::Unchanged));

    // A broken push is refused; the next one is served.
    std::fs::write(
        other.join("flags/base/new-checkout.yaml"),
        broken("new-checkout"),
    )
    .unwrap();
    let bad = remote.push(&other, "break it");
    let Refresh::Rejected(rejection) = client.refresh().unwrap() else {
        panic!("expected a refusal");
    };
    assert_eq!(rejection.revision, bad);
    assert_eq!(client.current().revision(), pushed);
    drop(client);

    // Restarting with the remote unreachable starts from the cache, and
    // says the fetch failed.
    let client = Client::builder()
        .environment("prod")
        .source(Source::Remote {
            url: remote.sandbox.path().join("gone.git").display().to_string(),
            branch: "main".into(),
            cache_dir: cache.clone(),
            root: Some("flags".into()),
        })
        .background(false)
        .build();
    // The cache's tip is the refused commit: nothing valid to start from.
    let error = client.unwrap_err();
    assert!(matches!(error, BuildError::NoValidState { .. }), "{error}");

    std::fs::write(
        other.join("flags/base/new-checkout.yaml"),
        rollout("new-checkout", 100),
    )
    .unwrap();
    let fixed = remote.push(&other, "fix it");
    let client = Client::builder()
        .environment("prod")
        .remote(remote.url(), "main", &cache)
        .background(false)
        .build()
        .unwrap();
    assert_eq!(client.current().revision(), fixed);
    drop(client);
    let client = Client::builder()
        .environment("prod")
        .remote(
            remote.sandbox.path().join("gone.git").display().to_string(),
            "main",
            &cache,
        )
        .background(false)
        .build()
        .unwrap();
    assert_eq!(client.current().revision(), fixed);
    let status = client.status();
    assert_eq!(status.last_error.unwrap().kind, ProblemKind::Source);
    assert_eq!(status.source_errors, 1);
    assert!(client.refresh().is_err());
    // The same failure again is not reported twice.
    let status = client.status();
    assert_eq!(status.source_errors, 1);
    assert!(status.source_failing);
    assert!(!status.is_current());
}

#[test]
fn a_remote_source_fetches_periodically() {
    let remote = Remote::new();
    let cache = remote.sandbox.path().join("cache.git");
    let client = Client::builder()
        .environment("prod")
        .remote(remote.url(), "main", &cache)
        .fetch_interval(Duration::from_millis(50))
        .build()
        .unwrap();
    let events = client.subscribe();
    let other = remote.clone("other");
    std::fs::write(
        other.join("flags/base/new-checkout.yaml"),
        rollout("new-checkout", 100),
    )
    .unwrap();
    let pushed = remote.push(&other, "rollout to everyone");
    assert!(matches!(
        wait_for_revision(&events, &pushed),
        Event::Applied(_)
    ));
}

/// Writes a flag root's files into `dir`.
fn write_root(dir: &Path, files: &[(&str, &str)]) {
    for (path, text) in files {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

fn revision_of(dir: &Path) -> String {
    // The working-tree revision is the content's digest: what a fresh
    // client on the same files reports.
    Client::builder()
        .environment("prod")
        .directory(dir)
        .background(false)
        .build()
        .unwrap()
        .current()
        .revision()
        .to_owned()
}

#[test]
fn a_directory_source_survives_an_editors_atomic_save() {
    let sandbox = Sandbox::new();
    let root = sandbox.path().join("flags");
    write_root(
        &root,
        &[
            ("flagctl.yaml", CONFIG),
            ("base/new-checkout.yaml", &rollout("new-checkout", 0)),
        ],
    );
    let client = Client::builder()
        .environment("prod")
        .directory(&root)
        .build()
        .unwrap();
    let events = client.subscribe();
    assert!(client.current().revision().starts_with("worktree:"));

    // Write a temporary file beside it, then rename over it (vim, VS Code, …).
    let temp = root.join("base/.new-checkout.yaml.swp");
    std::fs::write(&temp, rollout("new-checkout", 100)).unwrap();
    std::fs::rename(&temp, root.join("base/new-checkout.yaml")).unwrap();
    let event = events
        .wait_for(TIMEOUT, |event| matches!(event, Event::Applied(_)))
        .expect("the save is applied");
    let Event::Applied(change) = event else {
        unreachable!()
    };
    assert_eq!(change.flags[0].key, "new-checkout");
    assert_eq!(share_on(&client, "new-checkout"), 200);

    // A half-written file is refused; finishing it is served.
    std::fs::write(
        root.join("base/new-checkout.yaml"),
        "key: new-checkout\ntype: bool",
    )
    .unwrap();
    events
        .wait_for(TIMEOUT, |event| matches!(event, Event::Rejected(_)))
        .expect("the broken file is refused");
    assert_eq!(share_on(&client, "new-checkout"), 200);
    std::fs::write(
        root.join("base/new-checkout.yaml"),
        rollout("new-checkout", 0),
    )
    .unwrap();
    events
        .wait_for(TIMEOUT, |event| matches!(event, Event::Applied(_)))
        .expect("the fixed file is applied");
    assert_eq!(share_on(&client, "new-checkout"), 0);
}

#[cfg(unix)]
#[test]
fn a_directory_source_follows_configmap_symlink_swaps() {
    use std::os::unix::fs::symlink;

    // What the kubelet lays out for a ConfigMap volume with nested paths:
    // a timestamped directory, `..data` pointing at it, and one link per
    // top-level entry through `..data`.
    let sandbox = Sandbox::new();
    let mount = sandbox.path().join("config");
    std::fs::create_dir_all(&mount).unwrap();
    let version = |name: &str, on: u32| {
        write_root(
            &mount.join(name),
            &[
                ("flagctl.yaml", CONFIG),
                ("base/new-checkout.yaml", &rollout("new-checkout", on)),
            ],
        );
    };
    version("..2026_11_24_10_00_00.1", 0);
    symlink("..2026_11_24_10_00_00.1", mount.join("..data")).unwrap();
    symlink("..data/flagctl.yaml", mount.join("flagctl.yaml")).unwrap();
    symlink("..data/base", mount.join("base")).unwrap();
    let swap = |name: &str, old: &str| {
        symlink(name, mount.join("..data_tmp")).unwrap();
        std::fs::rename(mount.join("..data_tmp"), mount.join("..data")).unwrap();
        std::fs::remove_dir_all(mount.join(old)).unwrap();
    };

    let client = Client::builder()
        .environment("prod")
        .directory(&mount)
        .build()
        .unwrap();
    let events = client.subscribe();
    assert_eq!(share_on(&client, "new-checkout"), 0);

    for (round, (name, old, on)) in [
        ("..2026_11_24_10_05_00.2", "..2026_11_24_10_00_00.1", 100),
        ("..2026_11_24_10_10_00.3", "..2026_11_24_10_05_00.2", 0),
        ("..2026_11_24_10_15_00.4", "..2026_11_24_10_10_00.3", 100),
    ]
    .into_iter()
    .enumerate()
    {
        version(name, on);
        swap(name, old);
        let expected = revision_of(&mount);
        let event = wait_for_revision(&events, &expected);
        assert!(
            matches!(event, Event::Applied(_)),
            "round {round}: {event:?}"
        );
        assert_eq!(share_on(&client, "new-checkout"), on as usize * 2);
    }

    // A root that is itself a link, re-pointed at a new release.
    let releases = sandbox.path().join("releases");
    write_root(
        &releases.join("v1"),
        &[
            ("flagctl.yaml", CONFIG),
            ("base/new-checkout.yaml", &rollout("new-checkout", 0)),
        ],
    );
    write_root(
        &releases.join("v2"),
        &[
            ("flagctl.yaml", CONFIG),
            ("base/new-checkout.yaml", &rollout("new-checkout", 100)),
        ],
    );
    let current = sandbox.path().join("current");
    symlink(releases.join("v1"), &current).unwrap();
    let client = Client::builder()
        .environment("prod")
        .directory(&current)
        .build()
        .unwrap();
    let events = client.subscribe();
    let next = sandbox.path().join("current.next");
    symlink(releases.join("v2"), &next).unwrap();
    std::fs::rename(&next, &current).unwrap();
    let expected = revision_of(&releases.join("v2"));
    assert!(matches!(
        wait_for_revision(&events, &expected),
        Event::Applied(_)
    ));
    // And the new target is watched: edit it in place.
    std::fs::write(
        releases.join("v2/base/new-checkout.yaml"),
        rollout("new-checkout", 0),
    )
    .unwrap();
    let expected = revision_of(&releases.join("v2"));
    assert!(matches!(
        wait_for_revision(&events, &expected),
        Event::Applied(_)
    ));
}

/// One state of the many-swaps test: every flag serves variant `v` with
/// value `generation`.
fn generation_files(flags: usize, generation: u64) -> Vec<(String, String)> {
    let mut files = vec![("flagctl.yaml".to_owned(), CONFIG.to_owned())];
    for index in 0..flags {
        files.push((
            format!("base/f{index}.yaml"),
            format!("key: f{index}\ntype: number\nvariants: {{ v: {generation} }}\ndefault: v\n"),
        ));
    }
    files
}

#[test]
fn readers_see_only_complete_states_during_many_swaps() {
    const FLAGS: usize = 20;
    const SWAPS: u64 = 150;
    let sandbox = Sandbox::new();
    let root = sandbox.path().join("flags");
    let write = |generation: u64| {
        for (path, text) in generation_files(FLAGS, generation) {
            write_root(&root, &[(path.as_str(), text.as_str())]);
        }
    };
    write(0);
    // No background thread: files are written non-atomically, and only
    // `refresh` (after each full write) looks at them.
    let client = Arc::new(
        Client::builder()
            .environment("prod")
            .directory(&root)
            .background(false)
            .build()
            .unwrap(),
    );
    let done = Arc::new(AtomicBool::new(false));
    let evaluations = Arc::new(AtomicU64::new(0));
    let readers: Vec<_> = (0..2)
        .map(|reader| {
            let client = client.clone();
            let done = done.clone();
            let evaluations = evaluations.clone();
            std::thread::spawn(move || {
                let user = Context::new(format!("reader-{reader}"));
                let mut last = 0.0;
                let mut rounds = 0u64;
                while !done.load(Ordering::Relaxed) || rounds == 0 {
                    let flags = client.current();
                    let first = flags.number_value("f0", &user, -1.0);
                    for index in 1..FLAGS {
                        let value = flags.number_value(&format!("f{index}"), &user, -1.0);
                        assert_eq!(value, first, "a mixed state at {}", flags.revision());
                    }
                    assert!(first >= last, "went back from {last} to {first}");
                    last = first;
                    rounds += 1;
                    evaluations.fetch_add(FLAGS as u64, Ordering::Relaxed);
                }
                last
            })
        })
        .collect();
    for generation in 1..=SWAPS {
        write(generation);
        assert!(matches!(client.refresh().unwrap(), Refresh::Applied(_)));
    }
    done.store(true, Ordering::Relaxed);
    for reader in readers {
        let last = reader.join().expect("reader passed");
        assert!(last <= SWAPS as f64);
    }
    assert_eq!(client.status().reloads, SWAPS);
    // Every evaluation was counted once, across all the states it met.
    let counts = client.evaluation_counts();
    assert_eq!(counts.total(), evaluations.load(Ordering::Relaxed));
    assert_eq!(counts.not_found, 0);
    let per_flag = counts.flags["f3"].total();
    assert_eq!(per_flag * FLAGS as u64, counts.total());
}

#[test]
fn startup_without_a_valid_state_fails_unless_a_fallback_is_given() {
    let repo = repository();
    repo.write("flags/base/new-checkout.yaml", &broken("new-checkout"));
    let bad = repo.commit_all("break it");
    let builder = || Client::builder().environment("prod").git_head(repo.root());

    let error = builder().build().unwrap_err();
    let message = error.to_string();
    assert!(
        message.starts_with("no valid state of environment `prod` to start from in"),
        "{message}"
    );
    let BuildError::NoValidState { cause, .. } = &error else {
        panic!("{error}");
    };
    let rejection = cause.rejection().expect("a refused state");
    assert_eq!(rejection.revision, bad);
    assert_eq!(rejection.diagnostics[0].code.as_str(), "weights-sum");

    // Not a repository at all.
    let elsewhere = Sandbox::new();
    let error = Client::builder()
        .environment("prod")
        .git_head(elsewhere.path())
        .build()
        .unwrap_err();
    assert!(matches!(
        &error,
        BuildError::NoValidState {
            cause: StartError::Source(_),
            ..
        }
    ));
    let error = Client::builder().git_head(repo.root()).build().unwrap_err();
    assert!(matches!(error, BuildError::NoEnvironment));

    // Serving code defaults until the source is fixed.
    let seen = Arc::new(AtomicU64::new(0));
    let client = builder()
        .fallback(Fallback::CodeDefaults)
        .on_event({
            let seen = seen.clone();
            move |_| {
                seen.fetch_add(1, Ordering::Relaxed);
            }
        })
        .build()
        .unwrap();
    let events = client.subscribe();
    assert_eq!(seen.load(Ordering::Relaxed), 1, "the refusal was reported");
    let flags = client.current();
    assert_eq!(flags.origin(), Origin::CodeDefaults);
    assert_eq!(flags.revision(), "code-defaults");
    let resolution = flags.bool_evaluation("recommendations-panel", &Context::new("u"), true);
    assert!(resolution.value);
    assert_eq!(resolution.evaluation.reason(), Reason::FlagNotFound);
    drop(flags);
    let status = client.status();
    assert_eq!(status.origin, Origin::CodeDefaults);
    assert_eq!(status.latest_revision.as_deref(), Some(bad.as_str()));
    assert_eq!(status.last_error.unwrap().kind, ProblemKind::Rejected);

    repo.write(
        "flags/base/new-checkout.yaml",
        &rollout("new-checkout", 100),
    );
    let good = repo.commit_all("fix it");
    let Event::Applied(change) = wait_for_revision(&events, &good) else {
        panic!("expected the fix to be applied");
    };
    assert_eq!(change.previous_revision, "code-defaults");
    assert!(
        change
            .flags
            .iter()
            .all(|flag| flag.kind == ChangeKind::Added)
    );
    assert_eq!(client.current().origin(), Origin::Source);
    assert_eq!(share_on(&client, "new-checkout"), 200);
    drop(client);

    // Serving a built snapshot until the source is fixed.
    repo.write("flags/base/new-checkout.yaml", &broken("new-checkout"));
    repo.commit_all("break it again");
    let snapshot = sandbox_snapshot(&repo, 0);
    let client = builder()
        .fallback(Fallback::SnapshotFile(snapshot.clone()))
        .build()
        .unwrap();
    assert_eq!(client.current().origin(), Origin::FallbackSnapshot);
    assert_eq!(client.current().revision(), "abc123");
    assert_eq!(share_on(&client, "new-checkout"), 0);
    drop(client);

    // A fallback that is itself unusable.
    let text = std::fs::read_to_string(&snapshot).unwrap();
    std::fs::write(&snapshot, text.replace("\"off\": 100", "\"off\": 90")).unwrap();
    let error = builder()
        .fallback(Fallback::SnapshotFile(snapshot))
        .build()
        .unwrap_err();
    assert!(matches!(error, BuildError::Fallback { .. }), "{error}");
}

/// A snapshot file of prod with `new-checkout` at `on`%, from commit `abc123`.
fn sandbox_snapshot(repo: &TestRepo, on: u32) -> PathBuf {
    let files = RootFiles::from_pairs([
        ("flagctl.yaml".to_owned(), CONFIG.to_owned()),
        (
            "base/new-checkout.yaml".to_owned(),
            rollout("new-checkout", on),
        ),
    ]);
    let loaded = load(&files, &LoadOptions::default());
    assert!(loaded.is_valid());
    let file = SnapshotFile::new(
        &loaded.environments["prod"],
        Some(flagctl::format::snapshot::SourceRevision {
            commit: "abc123".into(),
            dirty: false,
        }),
    );
    let path = repo.sandbox.path().join(format!("prod-{on}.json"));
    std::fs::write(&path, file.to_json_pretty()).unwrap();
    path
}

#[test]
fn a_snapshot_file_source_refuses_a_tampered_file() {
    let repo = repository();
    let good = sandbox_snapshot(&repo, 0);
    let text = std::fs::read_to_string(&good).unwrap();
    let tampered = text.replace("\"off\": 100", "\"off\": 90");
    assert_ne!(text, tampered);
    let path = repo.sandbox.path().join("prod.json");

    std::fs::write(&path, &tampered).unwrap();
    let error = Client::builder()
        .environment("prod")
        .snapshot_file(&path)
        .build()
        .unwrap_err();
    let BuildError::NoValidState { cause, .. } = &error else {
        panic!("{error}");
    };
    assert!(matches!(
        cause.rejection().map(|r| &r.reason),
        Some(RejectReason::Snapshot(_))
    ));
    assert!(error.to_string().contains("snapshot file"), "{error}");

    std::fs::write(&path, &text).unwrap();
    let client = Client::builder()
        .environment("prod")
        .snapshot_file(&path)
        .build()
        .unwrap();
    let events = client.subscribe();
    assert_eq!(client.current().revision(), "abc123");

    // Replaced by a tampered file: refused, the good one keeps serving.
    let temp = repo.sandbox.path().join("prod.json.tmp");
    std::fs::write(&temp, &tampered).unwrap();
    std::fs::rename(&temp, &path).unwrap();
    events
        .wait_for(TIMEOUT, |event| {
            matches!(event, Event::Rejected(rejection) if rejection.to_string().contains("digest mismatch"))
        })
        .expect("the tampered file is refused");
    assert_eq!(client.current().revision(), "abc123");

    // Replaced (atomically, as `flagctl build -o` does) by a new build.
    let next = sandbox_snapshot(&repo, 100);
    std::fs::rename(&next, &path).unwrap();
    events
        .wait_for(TIMEOUT, |event| matches!(event, Event::Applied(_)))
        .expect("the new build is applied");
    assert_eq!(share_on(&client, "new-checkout"), 200);

    // A snapshot of another environment is refused.
    let dev = SnapshotFile::new(
        &load(
            &RootFiles::from_pairs([("flagctl.yaml", CONFIG)]),
            &LoadOptions::default(),
        )
        .environments["dev"],
        None,
    );
    let temp = repo.sandbox.path().join("dev.json.tmp");
    std::fs::write(&temp, dev.to_json_pretty()).unwrap();
    std::fs::rename(&temp, &path).unwrap();
    let Some(Event::Rejected(rejection)) = events.wait_for(TIMEOUT, |event| {
        matches!(event, Event::Rejected(r) if matches!(r.reason, RejectReason::WrongEnvironment { .. }))
    }) else {
        panic!("expected the snapshot of `dev` to be refused");
    };
    assert!(
        matches!(&rejection.reason, RejectReason::WrongEnvironment { found } if found == "dev"),
        "{rejection}"
    );
    assert_eq!(
        client.status().last_error.unwrap().kind,
        ProblemKind::Rejected
    );
    assert_eq!(share_on(&client, "new-checkout"), 200);
}

#[test]
fn exposures_and_counts() {
    let sandbox = Sandbox::new();
    let root = sandbox.path().join("flags");
    write_root(
        &root,
        &[
            ("flagctl.yaml", CONFIG),
            (
                "base/checkout-button-color.yaml",
                "key: checkout-button-color\ntype: string\nvariants: { blue: '#00f', green: '#0f0' }\ndefault:\n  rollout: { blue: 50, green: 50 }\n  experiment: button-q4\n",
            ),
            (
                "base/recommendations-panel.yaml",
                &kill_switch("recommendations-panel"),
            ),
        ],
    );
    let client = Client::builder()
        .environment("prod")
        .directory(&root)
        .background(false)
        .exposures(3)
        .build()
        .unwrap();
    let exposures = client.take_exposures().expect("exposures are on");
    assert!(client.take_exposures().is_none());

    let flags = client.current();
    for user in ["ada", "grace", "linus", "ken", "barbara"] {
        flags.string_value("checkout-button-color", &Context::new(user), "#000");
    }
    for _ in 0..4 {
        flags.bool_value("recommendations-panel", &Context::new("ada"), false);
    }
    flags.evaluate("no-such-flag", &Context::new("ada"));
    let revision = flags.revision().to_owned();
    drop(flags);

    let received: Vec<_> = exposures.drain().collect();
    assert_eq!(received.len(), 3);
    let first = &received[0];
    assert_eq!(&*first.flag, "checkout-button-color");
    assert_eq!(&*first.experiment, "button-q4");
    assert_eq!(&*first.targeting_key, "ada");
    assert_eq!(&*first.revision, revision);
    assert!(["blue", "green"].contains(&&*first.variant));
    assert_eq!(client.status().exposures_dropped, 2);

    let counts = client.evaluation_counts();
    assert_eq!(counts.get("recommendations-panel", "on"), 4);
    assert_eq!(counts.flags["checkout-button-color"].total(), 5);
    assert_eq!(counts.not_found, 1);
    assert_eq!(counts.total(), 10);

    // Counts carry across a swap, by key.
    write_root(
        &root,
        &[(
            "base/recommendations-panel.yaml",
            "key: recommendations-panel\ntype: boolean\noff_variant: off\nenabled: false\ndefault: on\n",
        )],
    );
    assert!(matches!(client.refresh().unwrap(), Refresh::Applied(_)));
    client.bool_value("recommendations-panel", &Context::new("ada"), true);
    let counts = client.evaluation_counts();
    assert_eq!(counts.get("recommendations-panel", "on"), 4);
    assert_eq!(counts.get("recommendations-panel", "off"), 1);
    assert_eq!(counts.total(), 11);
    // The same counts by variant and reason: the kill switch is its own reason.
    let by_reason = &counts.flags["recommendations-panel"].by_reason;
    assert_eq!(
        by_reason[&(Some("off".to_owned()), flagctl::eval::Reason::Disabled)],
        1
    );
    assert_eq!(by_reason.values().sum::<u64>(), 5);
    assert_eq!(
        counts
            .flags
            .values()
            .flat_map(|flag| flag.by_reason.values())
            .sum::<u64>()
            + counts.not_found,
        counts.total()
    );

    // A shipping thread blocked in `recv` gets what is queued, then `None`
    // once the client is gone.
    for _ in 0..2 {
        client.string_value("checkout-button-color", &Context::new("bob"), "x");
    }
    let shipper = std::thread::spawn(move || {
        let mut shipped = 0;
        while exposures.recv().is_some() {
            shipped += 1;
        }
        shipped
    });
    drop(client);
    assert_eq!(shipper.join().unwrap(), 2);
}
