//! `flagctl log` and `flagctl diff`, the real binary against temporary git
//! repositories whose commits are made with plain `git` (with and without
//! `Flagctl-*` trailers), at fixed dates and by fixed authors.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use std::path::Path;

use common::{Run, TestRepo, flagctl_command, git_command};

const CONFIG: &str = "environments: [dev, staging, prod]\nprotected: [prod]\n";

fn checkout(on: u32) -> String {
    format!(
        "key: checkout\ntype: boolean\ntargets:\n  on: [alice]\nrules:\n  - name: staff\n    when: {{ segment: staff }}\n    serve: on\ndefault:\n  rollout: {{ on: {on}, off: {} }}\n",
        100 - on
    )
}

/// A repository with `flags/` holding three environments, the `checkout`
/// flag (prod overrides its default) and the `banner` flag, committed by
/// hand on 2026-11-01.
fn repo() -> TestRepo {
    let repo = TestRepo::new();
    repo.write("flags/flagctl.yaml", CONFIG);
    repo.write("flags/base/checkout.yaml", &checkout(10));
    repo.write("flags/overlays/prod/checkout.yaml", "default: off\n");
    repo.write(
        "flags/base/banner.yaml",
        "key: banner\ntype: boolean\ndefault: off\n",
    );
    repo.write("flags/segments/staff.yaml", "name: staff\ninclude: [sam]\n");
    commit(
        &repo,
        "Add flags",
        "2026-11-01T09:00:00Z",
        "Test Author <author@example.com>",
    );
    repo
}

/// Commits everything with `git commit`, at `date`, by `author` (`Name <email>`).
fn commit(repo: &TestRepo, message: &str, date: &str, author: &str) -> String {
    let (name, email) = author.trim_end_matches('>').split_once(" <").unwrap();
    repo.git(&["add", "-A"]);
    let output = git_command(repo.path(), repo.sandbox.home.path())
        .args(["commit", "-q", "--allow-empty", "-m", message])
        .env("GIT_AUTHOR_NAME", name)
        .env("GIT_AUTHOR_EMAIL", email)
        .env("GIT_AUTHOR_DATE", date)
        .env("GIT_COMMITTER_DATE", date)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    repo.head()
}

fn flagctl_env(dir: &Path, home: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut command = flagctl_command(dir, home);
    command.args(args);
    for (key, value) in env {
        command.env(key, value);
    }
    Run::of(command)
}

fn flagctl(repo: &TestRepo, args: &[&str]) -> Run {
    flagctl_env(repo.path(), repo.sandbox.home.path(), args, &[])
}

/// Replaces commit ids (12 hex digits in text, 40 in JSON) with `<id>`.
fn redact_ids(text: &str, ids: &[&str]) -> String {
    let mut out = text.to_owned();
    for (n, id) in ids.iter().enumerate() {
        out = out.replace(id, &format!("<commit {n}>"));
        out = out.replace(&id[..12], &format!("<commit {n}>"));
    }
    out
}

#[test]
fn log_shows_hand_made_commits_as_semantic_changes_per_environment() {
    let repo = repo();
    let first = repo.head();
    repo.write("flags/base/checkout.yaml", &checkout(25));
    let second = commit(
        &repo,
        "more checkout\n\nErrors are flat.",
        "2026-11-02T10:30:00Z",
        "Jane Doe <jane@example.com>",
    );
    let run = flagctl(&repo, &["log", "checkout"]);
    assert_eq!(run.code, 0, "{run:?}");
    insta::assert_snapshot!(redact_ids(&run.stdout, &[&first, &second]), @r"
    2026-11-02 10:30 UTC  Jane Doe <jane@example.com>  edit  checkout  dev, staging  <commit 1>
        default.rollout.on: 10 → 25
        default.rollout.off: 90 → 75
        impact: default: raising on 10% → 25% moves 15.000% of users from off to on; nobody leaves on
        reason: Errors are flat.

    2026-11-01 09:00 UTC  Test Author <author@example.com>  new  checkout  all environments  <commit 0>
        checkout in dev, staging:
          flag created: serves on 10% / off 90%, 1 rule, 1 targeted user
        checkout in prod:
          flag created: serves off, 1 rule, 1 targeted user
        segment staff:
          name: added staff
          include: added [sam]
        reason: Add flags
    ");
}

#[test]
fn log_uses_trailers_and_the_body_as_reason() {
    let repo = repo();
    repo.write(
        "flags/overlays/prod/checkout.yaml",
        "default:\n  rollout: { on: 5, off: 95 }\n",
    );
    commit(
        &repo,
        "rollout checkout 0% -> 5% in prod\n\nFirst customers, watching the error rate.\n\nFlagctl-Action: rollout\nFlagctl-Flag: checkout\nFlagctl-Env: prod",
        "2026-11-03T08:00:00Z",
        "Jane Doe <jane@example.com>",
    );
    let run = flagctl(&repo, &["log", "checkout", "-n", "1"]);
    assert_eq!(run.code, 0, "{run:?}");
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(
        lines[0].starts_with(
            "2026-11-03 08:00 UTC  Jane Doe <jane@example.com>  rollout  checkout  prod  "
        ),
        "{}",
        run.stdout
    );
    assert_eq!(
        &lines[1..],
        [
            "    default: off → {rollout: {on: 5, off: 95}}",
            "    impact: default: changing off → on 5% / off 95% moves 5.000% of users from off to on",
            "    reason: First customers, watching the error rate.",
        ]
    );
}

#[test]
fn a_trailer_that_disagrees_with_the_paths_loses() {
    let repo = repo();
    repo.write(
        "flags/base/banner.yaml",
        "key: banner\ntype: boolean\ndefault: on\n",
    );
    commit(
        &repo,
        "enable checkout\n\nFlagctl-Action: enable\nFlagctl-Flag: checkout\nFlagctl-Env: prod",
        "2026-11-03T08:00:00Z",
        "Jane Doe <jane@example.com>",
    );
    let run = flagctl(&repo, &["log", "-n", "1", "--format", "json"]);
    let entry = &run.json()["entries"][0];
    assert_eq!(entry["action"], "enable");
    assert_eq!(entry["flags"], serde_json::json!(["banner"]));
    assert_eq!(
        entry["environments"],
        serde_json::json!(["dev", "staging", "prod"])
    );
    assert_eq!(entry["trailers"]["flag"], "checkout");
    assert!(
        flagctl(&repo, &["log", "checkout", "-n", "1"])
            .stdout
            .contains("Add flags")
    );
}

#[test]
fn log_filters_by_environment_date_and_author() {
    let repo = repo();
    repo.write("flags/base/checkout.yaml", &checkout(25));
    commit(
        &repo,
        "base ramp",
        "2026-11-02T10:00:00Z",
        "Jane Doe <jane@example.com>",
    );
    repo.write("flags/overlays/prod/checkout.yaml", "default: on\n");
    commit(
        &repo,
        "prod on",
        "2026-11-05T10:00:00Z",
        "Bob Stone <bob@example.com>",
    );
    repo.write(
        "flags/base/banner.yaml",
        "key: banner\ntype: boolean\ndefault: on\n",
    );
    commit(
        &repo,
        "banner on",
        "2026-11-06T10:00:00Z",
        "Jane Doe <jane@example.com>",
    );

    let summaries = |args: &[&str]| -> Vec<String> {
        let run = flagctl(&repo, args);
        assert_eq!(run.code, 0, "{run:?}");
        run.json()["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["summary"].as_str().unwrap().to_owned())
            .collect()
    };
    // The base ramp does not reach prod, whose overlay sets the default.
    assert_eq!(
        summaries(&["log", "checkout", "--env", "prod", "--format", "json"]),
        ["prod on", "Add flags"]
    );
    assert_eq!(
        summaries(&["log", "--since", "2026-11-02", "--format", "json"]),
        ["banner on", "prod on", "base ramp"]
    );
    assert_eq!(
        summaries(&[
            "log",
            "--since",
            "2026-11-03",
            "--until",
            "2026-11-05T23:00:00Z",
            "--format",
            "json"
        ]),
        ["prod on"]
    );
    assert_eq!(
        summaries(&["log", "--author", "JANE", "--format", "json"]),
        ["banner on", "base ramp"]
    );
    assert_eq!(
        summaries(&["log", "banner", "--author", "jane@", "--format", "json"]),
        ["banner on"]
    );
    assert_eq!(
        summaries(&["log", "-n", "2", "--format", "json"]),
        ["banner on", "prod on"]
    );
    let run = flagctl(&repo, &["log", "--since", "2027-01-01"]);
    assert_eq!(run.code, 0);
    assert_eq!(run.stdout, "");
    assert_eq!(run.stderr, "no changes match\n");
}

#[test]
fn log_json_has_a_stable_shape() {
    let repo = repo();
    repo.write(
        "flags/base/checkout.yaml",
        &checkout(25).replace("[alice]", "[alice, bob]"),
    );
    let id = commit(
        &repo,
        "ramp\n\nWhy not.\n\nFlagctl-Action: rollout\nFlagctl-Flag: checkout",
        "2026-11-02T10:30:00Z",
        "Jane Doe <jane@example.com>",
    );
    let run = flagctl(
        &repo,
        &["log", "checkout", "--env", "dev", "--format", "json"],
    );
    assert_eq!(run.code, 0, "{run:?}");
    let json = run.json();
    assert_eq!(json["flag"], "checkout");
    assert_eq!(json["environments"], serde_json::json!(["dev"]));
    let entry = &json["entries"][0];
    assert_eq!(entry["commit"], id.as_str());
    assert_eq!(entry["author"]["name"], "Jane Doe");
    assert_eq!(entry["author"]["time"], "2026-11-02T10:30:00Z");
    assert_eq!(entry["action"], "rollout");
    assert_eq!(entry["inferred"], false);
    assert_eq!(
        entry["trailers"],
        serde_json::json!({"action": "rollout", "flag": "checkout"})
    );
    assert_eq!(entry["flags"], serde_json::json!(["checkout"]));
    assert_eq!(entry["environments"], serde_json::json!(["dev"]));
    assert_eq!(entry["reason"], "Why not.");
    assert_eq!(entry["merge"], false);
    let change = &entry["changes"][0];
    assert_eq!(change["kind"], "flag");
    assert_eq!(change["name"], "checkout");
    assert_eq!(change["status"], "changed");
    assert_eq!(change["changes"][0]["path"], "targets.on");
    assert_eq!(change["changes"][0]["kind"], "members");
    assert_eq!(change["changes"][0]["added"], serde_json::json!(["bob"]));
    assert_eq!(
        change["changes"][1],
        serde_json::json!({"path": "default.rollout.on", "kind": "changed", "before": 10, "after": 25})
    );
    let serve = &change["impact"]["serves"][0];
    assert_eq!(serve["serve"], "default");
    assert_eq!(serve["kind"], "exact");
    assert_eq!(serve["moved"]["numerator"], 322_122_547);
    assert_eq!(serve["moved"]["denominator"], 2_147_483_648_u64);
    assert_eq!(serve["moved"]["percent"], 15.0);
    assert_eq!(
        change["impact"]["targets"],
        serde_json::json!([{"key": "bob", "before": "not targeted", "after": "on"}])
    );
}

#[test]
fn log_follows_the_segments_a_flag_uses_and_deleted_flags() {
    let repo = repo();
    repo.write(
        "flags/segments/staff.yaml",
        "name: staff\ninclude: [sam, kim]\n",
    );
    commit(
        &repo,
        "kim joins staff",
        "2026-11-02T10:00:00Z",
        "Jane Doe <jane@example.com>",
    );
    let run = flagctl(&repo, &["log", "checkout", "-n", "1"]);
    assert!(
        run.stdout
            .contains("  edit  segment staff  all environments  "),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("    include: +kim\n"), "{}", run.stdout);
    let without = flagctl(&repo, &["log", "checkout", "--no-segments", "-n", "1"]);
    assert!(without.stdout.contains("Add flags"), "{}", without.stdout);
    // The banner does not use the segment.
    let banner = flagctl(&repo, &["log", "banner"]);
    assert!(!banner.stdout.contains("kim"), "{}", banner.stdout);

    std::fs::remove_file(repo.path().join("flags/base/banner.yaml")).unwrap();
    commit(
        &repo,
        "drop banner",
        "2026-11-03T10:00:00Z",
        "Jane Doe <jane@example.com>",
    );
    let run = flagctl(&repo, &["log", "banner"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains("  delete  banner  all environments  "),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("    flag deleted\n"), "{}", run.stdout);
}

#[test]
fn comment_only_changes_are_logged_as_such() {
    let repo = repo();
    repo.write(
        "flags/base/banner.yaml",
        "# shown in December\nkey: banner\ntype: boolean\ndefault: off\n",
    );
    commit(
        &repo,
        "explain banner",
        "2026-11-02T10:00:00Z",
        "Jane Doe <jane@example.com>",
    );
    let run = flagctl(&repo, &["log", "banner", "-n", "1"]);
    assert!(
        run.stdout
            .contains("    no change to what is served (comments or formatting only)\n"),
        "{}",
        run.stdout
    );
}

#[test]
fn log_errors_are_one_line_with_help() {
    let repo = repo();
    let run = flagctl(&repo, &["log", "chekout"]);
    assert_eq!(run.code, 1);
    assert_eq!(
        run.stderr,
        "error: flag `chekout` does not exist\nhelp: did you mean `checkout`?\n"
    );
    let run = flagctl(&repo, &["log", "--env", "prd"]);
    assert_eq!(run.code, 1);
    assert_eq!(
        run.stderr,
        "error: unknown environment `prd`\nhelp: did you mean `prod`? the environments are: dev, staging, prod\n"
    );
    let run = flagctl(&repo, &["log", "--revision", "nope"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .starts_with("error: revision `nope` not found\nhelp: "),
        "{}",
        run.stderr
    );
    assert_eq!(run.stderr.lines().count(), 2);
    let run = flagctl(&repo, &["log", "--since", "someday"]);
    assert_eq!(run.code, 2, "{run:?}");

    let empty = TestRepo::new();
    empty.write("flags/flagctl.yaml", CONFIG);
    let run = flagctl(&empty, &["log"]);
    assert_eq!(run.code, 1);
    assert_eq!(run.stderr.lines().count(), 2, "{}", run.stderr);
    assert!(
        run.stderr
            .starts_with("error: the repository has no commits yet"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("\nhelp: commit the flag root first"),
        "{}",
        run.stderr
    );
    let run = flagctl(&empty, &["diff"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .starts_with("error: the repository has no commits yet"),
        "{}",
        run.stderr
    );

    let plain = tempfile::tempdir().unwrap();
    std::fs::write(plain.path().join("flagctl.yaml"), CONFIG).unwrap();
    let run = flagctl_env(plain.path(), repo.sandbox.home.path(), &["log"], &[]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .contains("is not inside a git repository\nhelp: "),
        "{}",
        run.stderr
    );
}

#[test]
fn diff_compares_the_working_tree_with_head() {
    let repo = repo();
    let run = flagctl(&repo, &["diff"]);
    assert_eq!((run.code, run.stdout.as_str()), (0, ""), "{run:?}");
    assert_eq!(run.stderr, "no changes between HEAD and working tree\n");

    repo.write("flags/base/checkout.yaml", &checkout(25));
    repo.write(
        "flags/overlays/prod/checkout.yaml",
        "enabled: false\ndefault: off\n",
    );
    let run = flagctl(&repo, &["diff"]);
    assert_eq!(run.code, 0, "{run:?}");
    insta::assert_snapshot!(run.stdout, @r"
    HEAD → working tree

    dev
      ~ checkout
          default.rollout.on: 10 → 25
          default.rollout.off: 90 → 75
          impact: default: raising on 10% → 25% moves 15.000% of users from off to on; nobody leaves on

    staging
      ~ checkout
          default.rollout.on: 10 → 25
          default.rollout.off: 90 → 75
          impact: default: raising on 10% → 25% moves 15.000% of users from off to on; nobody leaves on

    prod
      ~ checkout
          enabled: true → false
          impact: disabling the flag serves off to everyone
          impact: rules[0] (staff): disabling the flag moves 100.000% of users from on to off; they lose on
          impact: targets: alice (on → off)

    --- a/flags/base/checkout.yaml
    +++ b/flags/base/checkout.yaml
    @@ -7,4 +7,4 @@
         when: { segment: staff }
         serve: on
     default:
    -  rollout: { on: 10, off: 90 }
    +  rollout: { on: 25, off: 75 }

    --- a/flags/overlays/prod/checkout.yaml
    +++ b/flags/overlays/prod/checkout.yaml
    @@ -1 +1,2 @@
    +enabled: false
     default: off
    ");
    // Not a terminal: no colours, unless asked.
    assert!(!run.stdout.contains('\u{1b}'));
    let forced = flagctl(&repo, &["--color", "always", "diff"]);
    assert!(
        forced.stdout.contains("\u{1b}[32m+  rollout"),
        "{}",
        forced.stdout
    );
    let never = flagctl_env(
        repo.path(),
        repo.sandbox.home.path(),
        &["diff"],
        &[("NO_COLOR", "1"), ("CLICOLOR_FORCE", "1")],
    );
    assert!(!never.stdout.contains('\u{1b}'));

    let only_prod = flagctl(&repo, &["diff", "--env", "prod", "--format", "json"]);
    let json = only_prod.json();
    assert_eq!(json["compare"], "revisions");
    assert_eq!(json["environments"].as_array().unwrap().len(), 1);
    assert_eq!(json["environments"][0]["environment"], "prod");
    assert_eq!(
        json["environments"][0]["flags"][0]["impact"]["kill_switch"],
        "disabled"
    );
    assert_eq!(json["files"][0]["path"], "flags/base/checkout.yaml");
    assert_eq!(json["files"][0]["status"], "changed");
    assert!(
        json["files"][0]["diff"]
            .as_str()
            .unwrap()
            .contains("+  rollout: { on: 25, off: 75 }")
    );

    let exit = flagctl(&repo, &["diff", "--exit-code"]);
    assert_eq!(exit.code, 1);
}

#[test]
fn diff_compares_two_revisions() {
    let repo = repo();
    let first = repo.head();
    repo.write(
        "flags/base/new-flag.yaml",
        "key: new-flag\ntype: string\nvariants: { a: x, b: y }\ndefault: a\n",
    );
    repo.write(
        "flags/segments/staff.yaml",
        "name: staff\ninclude: [sam, kim]\n",
    );
    commit(
        &repo,
        "more",
        "2026-11-02T10:00:00Z",
        "Jane Doe <jane@example.com>",
    );
    std::fs::remove_file(repo.path().join("flags/base/banner.yaml")).unwrap();
    let second = commit(
        &repo,
        "drop banner",
        "2026-11-03T10:00:00Z",
        "Jane Doe <jane@example.com>",
    );
    // Uncommitted edits do not matter to a range.
    repo.write("flags/base/checkout.yaml", &checkout(50));

    let range = format!("{first}..{second}");
    let run = flagctl(&repo, &["diff", &range, "--env", "dev"]);
    assert_eq!(run.code, 0, "{run:?}");
    let text = redact_ids(&run.stdout, &[&first, &second]);
    assert!(
        text.starts_with("<commit 0> → <commit 1>\n\ndev\n"),
        "{text}"
    );
    assert!(text.contains("  - banner (removed)\n"), "{text}");
    assert!(
        text.contains("  + new-flag (added)\n      flag created: serves a\n"),
        "{text}"
    );
    assert!(
        text.contains("segments\n  ~ staff\n      include: +kim\n"),
        "{text}"
    );
    assert!(
        text.contains("--- a/flags/base/banner.yaml\n+++ /dev/null\n"),
        "{text}"
    );
    assert!(!text.contains("checkout"), "{text}");

    let run = flagctl(&repo, &["diff", "HEAD~1..HEAD", "--format", "json"]);
    let json = run.json();
    assert_eq!(json["from"], "HEAD~1");
    assert_eq!(json["to"], "HEAD");
    assert_eq!(json["environments"][0]["flags"][0]["key"], "banner");
    assert_eq!(json["environments"][0]["flags"][0]["status"], "removed");

    // A single revision compares the working tree with it.
    let run = flagctl(&repo, &["diff", "HEAD~1", "--env", "dev"]);
    assert!(run.stdout.contains("  ~ checkout\n"), "{}", run.stdout);
    assert!(
        run.stdout.contains("  - banner (removed)\n"),
        "{}",
        run.stdout
    );

    let run = flagctl(&repo, &["diff", "nope..HEAD"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .starts_with("error: revision `nope` not found\nhelp: "),
        "{}",
        run.stderr
    );
    let run = flagctl(&repo, &["diff", "--env", "qa"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .starts_with("error: unknown environment `qa`\nhelp: "),
        "{}",
        run.stderr
    );
}

#[test]
fn diff_compares_two_environments() {
    let repo = repo();
    repo.write(
        "flags/overlays/staging/checkout.yaml",
        "default:\n  rollout: { on: 50, off: 50 }\n",
    );
    let run = flagctl(&repo, &["diff", "--env", "staging", "--env", "prod"]);
    assert_eq!(run.code, 0, "{run:?}");
    insta::assert_snapshot!(run.stdout, @r"
    staging → prod

    flags
      ~ checkout
          default: {rollout: {on: 50, off: 50}} → off
          impact: default: changing on 50% / off 50% → off moves 50.000% of users from on to off; they lose on

    --- a/flags/overlays/staging/checkout.yaml
    +++ b/flags/overlays/prod/checkout.yaml
    @@ -1,2 +1 @@
    -default:
    -  rollout: { on: 50, off: 50 }
    +default: off
    ");
    let run = flagctl(
        &repo,
        &[
            "diff", "--env", "dev", "--env", "staging", "--format", "json",
        ],
    );
    let json = run.json();
    assert_eq!(json["compare"], "environments");
    assert_eq!(
        json["files"][0]["path"],
        "flags/overlays/staging/checkout.yaml"
    );
    assert_eq!(json["files"][0]["status"], "added");
    let run = flagctl(
        &repo,
        &["diff", "--env", "dev", "--env", "staging", "--env", "prod"],
    );
    assert_eq!(run.code, 2, "{run:?}");
}

#[test]
fn diff_as_markdown_is_a_pull_request_comment() {
    let repo = repo();
    let base = repo.head();
    repo.write(
        "flags/base/checkout.yaml",
        &checkout(25).replace("[alice]", "[alice, bob]"),
    );
    repo.write(
        "flags/overlays/prod/checkout.yaml",
        "default:\n  rollout: { on: 5, off: 95 }\n",
    );
    repo.write(
        "flags/base/banner.yaml",
        "key: banner\ntype: boolean\ndescription: \"a | b\"\ndefault: off\n",
    );
    let head = commit(
        &repo,
        "ramp",
        "2026-11-02T10:00:00Z",
        "Jane Doe <jane@example.com>",
    );
    let range = format!("{base}..{head}");
    let run = flagctl(&repo, &["diff", &range, "--format", "markdown"]);
    assert_eq!(run.code, 0, "{run:?}");
    insta::assert_snapshot!("diff_markdown", redact_ids(&run.stdout, &[&base, &head]));
}

#[test]
fn help_has_examples() {
    let repo = repo();
    for command in ["log", "diff"] {
        let run = flagctl(&repo, &[command, "--help"]);
        assert_eq!(run.code, 0);
        assert!(
            run.stdout.contains("Examples:\n  flagctl "),
            "{}",
            run.stdout
        );
    }
}
