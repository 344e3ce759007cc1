//! `flagctl watch` against a temporary repository: the lines it prints for
//! the served state, an applied commit and a refused one, and a clean end
//! on Ctrl-C (SIGINT). Waits on its output lines with a timeout; never sleeps.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

use common::{TestRepo, flagctl_command};
use serde_json::Value;

const TIMEOUT: Duration = Duration::from_secs(60);

struct Watch {
    child: Child,
    lines: Receiver<String>,
}

impl Watch {
    fn start(repo: &TestRepo, args: &[&str]) -> Watch {
        let mut child = flagctl_command(repo.path(), repo.sandbox.home.path())
            .args(["watch"])
            .args(args)
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        Watch { child, lines }
    }

    fn next_line(&self) -> String {
        self.lines
            .recv_timeout(TIMEOUT)
            .expect("flagctl watch printed a line in time")
    }

    fn next_json(&self) -> Value {
        let line = self.next_line();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"))
    }

    /// Sends Ctrl-C and returns the exit code and standard error.
    fn interrupt(self) -> (Option<i32>, String) {
        let status = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let (sender, done) = mpsc::channel();
        std::thread::spawn(move || {
            let output = self.child.wait_with_output().unwrap();
            let _ = sender.send(output);
        });
        let output = done
            .recv_timeout(TIMEOUT)
            .expect("flagctl watch ended after Ctrl-C");
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }
}

fn repository() -> TestRepo {
    let repo = TestRepo::new();
    repo.write("flags/flagctl.yaml", "environments: [dev, prod]\n");
    repo.write(
        "flags/base/recommendations-panel.yaml",
        "key: recommendations-panel\ntype: boolean\noff_variant: off\ndefault: on\n",
    );
    repo.commit_all("add flags");
    repo
}

#[test]
fn watch_prints_applied_and_refused_states_as_json_lines() {
    let repo = repository();
    let first = repo.head();
    let watch = Watch::start(&repo, &["--env", "prod", "--format", "json"]);
    let serving = watch.next_json();
    assert_eq!(serving["event"], "serving");
    assert_eq!(serving["revision"], first.as_str());
    assert_eq!(serving["flags"], 1);
    assert_eq!(serving["origin"], "source");

    // What `flagctl disable recommendations-panel --env prod --yes` commits.
    repo.write(
        "flags/overlays/prod/recommendations-panel.yaml",
        "enabled: false\n",
    );
    let disabled = repo.commit_all("disable recommendations-panel in prod");
    let applied = watch.next_json();
    assert_eq!(applied["event"], "applied", "{applied}");
    assert_eq!(applied["revision"], disabled.as_str());
    assert_eq!(applied["previous_revision"], first.as_str());
    assert_eq!(
        applied["flags"],
        serde_json::json!([{"key": "recommendations-panel", "change": "modified"}])
    );
    assert!(applied["load_ms"].as_f64().unwrap() > 0.0);
    assert!(applied["time"].as_str().unwrap().ends_with('Z'));

    repo.write(
        "flags/base/recommendations-panel.yaml",
        "key: recommendations-panel\ntype: boolean\ndefault:\n  rollout: { on: 60, off: 50 }\n",
    );
    let broken = repo.commit_all("break it");
    let rejected = watch.next_json();
    assert_eq!(rejected["event"], "rejected", "{rejected}");
    assert_eq!(rejected["revision"], broken.as_str());
    assert_eq!(rejected["diagnostics"][0]["code"], "weights-sum");
    assert_eq!(
        rejected["diagnostics"][0]["file"],
        "base/recommendations-panel.yaml"
    );

    let (code, stderr) = watch.interrupt();
    assert_eq!(code, Some(0), "{stderr}");
}

#[test]
fn watch_prints_text_lines_for_a_working_tree() {
    let repo = repository();
    let watch = Watch::start(&repo, &["--env", "prod", "--dir"]);
    let serving = watch.next_line();
    assert!(serving.contains(" serving worktree:"), "{serving}");
    assert!(serving.contains("(1 flags of `prod`)"), "{serving}");

    // Uncommitted edits are served from a working tree. Written in one
    // step: a watcher that reads a half-written file serves (or refuses)
    // that state first.
    repo.write_atomically(
        "flags/overlays/prod/recommendations-panel.yaml",
        "enabled: false\n",
    );
    let applied = watch.next_line();
    assert!(
        applied.contains(" applied worktree:")
            && applied.contains("recommendations-panel (modified)"),
        "{applied}"
    );
    let (code, stderr) = watch.interrupt();
    assert_eq!(code, Some(0), "{stderr}");
}

#[test]
fn watch_fails_to_start_without_a_valid_state() {
    let repo = repository();
    let output = flagctl_command(repo.path(), repo.sandbox.home.path())
        .args(["watch", "--env", "staging"])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with(
            "error: no valid state of environment `staging` to start from in the current branch of"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("does not declare the environment (it declares: dev, prod)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("help: pass `--env` one of the environments"),
        "{stderr}"
    );
}

/// `flagctl` itself, run in the repository like a user would.
fn flagctl(repo: &TestRepo, args: &[&str]) -> std::process::Output {
    let output = flagctl_command(repo.path(), repo.sandbox.home.path())
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "flagctl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

#[test]
fn watch_serves_a_flagctl_rollout_commit_and_prints_a_refused_one_as_text() {
    let repo = repository();
    let watch = Watch::start(&repo, &["--env", "prod", "--ref", "main"]);
    let serving = watch.next_line();
    assert!(
        serving.contains(&format!(
            " serving {} (1 flags of `prod`)",
            &repo.head()[..12]
        )),
        "{serving}"
    );

    // The commit `flagctl rollout` makes is served.
    flagctl(
        &repo,
        &[
            "rollout",
            "recommendations-panel",
            "25",
            "--env",
            "prod",
            "-m",
            "a quarter first",
        ],
    );
    let rolled = repo.head();
    assert_eq!(
        repo.git(&["log", "-1", "--format=%s"]).trim(),
        "rollout recommendations-panel 100% → 25% in prod"
    );
    let applied = watch.next_line();
    assert!(
        applied.contains(&format!(
            " applied {} recommendations-panel (modified), loaded in ",
            &rolled[..12]
        )),
        "{applied}"
    );

    // A commit made with plain git that breaks the flag is refused, with
    // its first problem and where it is.
    repo.write(
        "flags/base/recommendations-panel.yaml",
        "key: recommendations-panel\ntype: boolean\ndefault:\n  rollout: { on: 60, off: 50 }\n",
    );
    let broken = repo.commit_all("break it");
    let rejected = watch.next_line();
    assert!(
        rejected.contains(&format!(
            " rejected {}, still serving the previous revision: base/recommendations-panel.yaml:4:",
            &broken[..12]
        )) && rejected.contains("error[weights-sum]"),
        "{rejected}"
    );
    let (code, stderr) = watch.interrupt();
    assert_eq!(code, Some(0), "{stderr}");
}

#[test]
fn watch_follows_a_snapshot_file_written_by_flagctl_build() {
    let repo = repository();
    let file = repo.sandbox.path().join("prod.json");
    let file_arg = file.to_str().unwrap();
    flagctl(&repo, &["build", "--env", "prod", "-o", file_arg]);
    let watch = Watch::start(
        &repo,
        &["--env", "prod", "--snapshot", file_arg, "--format", "json"],
    );
    let serving = watch.next_json();
    assert_eq!(serving["event"], "serving", "{serving}");
    assert_eq!(serving["flags"], 1);

    // A new build after a change is applied; the file is replaced whole.
    repo.write(
        "flags/overlays/prod/recommendations-panel.yaml",
        "enabled: false\n",
    );
    repo.commit_all("disable recommendations-panel in prod");
    flagctl(&repo, &["build", "--env", "prod", "-o", file_arg]);
    let applied = watch.next_json();
    assert_eq!(applied["event"], "applied", "{applied}");
    assert_eq!(
        applied["flags"],
        serde_json::json!([{"key": "recommendations-panel", "change": "modified"}])
    );

    // A file whose digest does not match its content is refused.
    let text = std::fs::read_to_string(&file).unwrap();
    let tampered = text.replacen("\"enabled\": false", "\"enabled\": true", 1);
    assert_ne!(tampered, text, "the snapshot holds `\"enabled\": false`");
    let partial = repo.sandbox.path().join("prod.json.tmp");
    std::fs::write(&partial, tampered).unwrap();
    std::fs::rename(&partial, &file).unwrap();
    let rejected = watch.next_json();
    assert_eq!(rejected["event"], "rejected", "{rejected}");
    assert!(
        rejected["message"].as_str().unwrap().contains("digest"),
        "{rejected}"
    );
    let (code, stderr) = watch.interrupt();
    assert_eq!(code, Some(0), "{stderr}");
}
