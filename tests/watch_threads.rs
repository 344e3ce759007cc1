//! Dropping a runtime client stops its threads: its own background thread
//! (joined before `drop` returns) and the OS watcher's (released before
//! `drop` returns, gone a moment later).
//!
//! A joined thread can still be listed in `/proc/self/task` for a moment:
//! `pthread_join` returns once the kernel has cleared the thread's id,
//! which happens before the kernel removes the task. So the test waits,
//! bounded, for every thread to leave the list instead of looking once.
//!
//! One test in this file on purpose: it counts the process's threads, so
//! nothing else may start any.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use std::time::{Duration, Instant};

use common::{Sandbox, TestRepo};
use flagctl::watch::Client;

/// The names of the process's threads (Linux truncates them to 15 bytes).
#[cfg(target_os = "linux")]
fn thread_names() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .map(|name| name.trim_end().to_owned())
        .collect()
}

#[cfg(target_os = "linux")]
fn count(prefix: &str) -> usize {
    thread_names()
        .iter()
        .filter(|name| name.starts_with(prefix))
        .count()
}

#[cfg(target_os = "linux")]
#[test]
fn dropping_a_client_leaves_no_thread_behind() {
    let repo = TestRepo::new();
    repo.write("flags/flagctl.yaml", "environments: [prod]\n");
    repo.write("flags/base/a.yaml", "key: a\ntype: boolean\ndefault: on\n");
    repo.commit_all("add a flag");
    let sandbox = Sandbox::new();
    sandbox.git_in(
        sandbox.path(),
        &[
            "clone",
            "-q",
            "--bare",
            repo.path().to_str().unwrap(),
            "origin.git",
        ],
    );
    let total = thread_names().len();

    for round in 0..3 {
        let clients = vec![
            Client::builder()
                .environment("prod")
                .git_head(repo.root())
                .build()
                .unwrap(),
            Client::builder()
                .environment("prod")
                .directory(repo.root())
                .build()
                .unwrap(),
            Client::builder()
                .environment("prod")
                .remote(
                    sandbox.path().join("origin.git").to_str().unwrap(),
                    "main",
                    sandbox.path().join(format!("cache-{round}")),
                )
                .build()
                .unwrap(),
        ];
        // Three background threads, and an OS watcher thread for the two
        // local sources (a remote has nothing to watch). A thread names
        // itself once it runs.
        let deadline = Instant::now() + Duration::from_secs(60);
        while count("flagctl-watch") < 3 || count("notify-rs") < 2 {
            assert!(
                Instant::now() < deadline,
                "threads never started: {:?}",
                thread_names()
            );
            std::thread::yield_now();
        }
        assert_eq!(count("flagctl-watch"), 3);
        assert_eq!(count("notify-rs"), 2);

        drop(clients);
        // The background threads are joined; the watcher threads have
        // released their handlers and end a moment later.
        let deadline = Instant::now() + Duration::from_secs(10);
        while count("flagctl-watch") > 0 || count("notify-rs") > 0 || thread_names().len() > total {
            assert!(
                Instant::now() < deadline,
                "threads left behind: {:?}",
                thread_names()
            );
            std::thread::yield_now();
        }
    }
}
