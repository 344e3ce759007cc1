//! The commands that change flags (`new`, `set`, `enable`, `disable`,
//! `rollout`, `split`, `target`, `promote`, `revert`, `archive`), driven
//! through the real binary against temporary git repositories holding the
//! bundled example root: what they commit (summary, body, trailers, the
//! exact lines changed), and what they refuse (with nothing written).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use common::cli::Repo;
use common::{EMAIL, NAME, Run, isolate, require_tool};

const PROD_OVERLAY: &str = "flags/overlays/prod/new-checkout.yaml";
const BASE: &str = "flags/base/new-checkout.yaml";

/// The lines a patch adds and removes (no headers).
fn changed_lines(patch: &str) -> Vec<&str> {
    patch
        .lines()
        .filter(|l| {
            (l.starts_with('+') || l.starts_with('-'))
                && !l.starts_with("+++")
                && !l.starts_with("---")
        })
        .collect()
}

#[test]
fn rollout_on_a_commented_file_changes_exactly_one_line() {
    let repo = Repo::new();
    let run = repo
        .flagctl(&[
            "rollout",
            "new-checkout",
            "50",
            "--env",
            "prod",
            "--yes",
            "-m",
            "Error budget held for a week.",
        ])
        .ok();
    let head = repo.head();
    assert_eq!(
        run.stdout,
        format!(
            "[main {}] rollout new-checkout 25% → 50% in prod\n",
            &head[..12]
        )
    );
    assert_eq!(
        changed_lines(&repo.patch()),
        [
            "-  rollout: { on: 25, off: 75 }",
            "+  rollout: { on: 50, off: 50 }"
        ]
    );
    assert_eq!(
        repo.message(),
        "rollout new-checkout 25% → 50% in prod\n\nError budget held for a week.\n\nFlagctl-Action: rollout\nFlagctl-Flag: new-checkout\nFlagctl-Env: prod\n\n"
    );
    assert_eq!(
        repo.git(&["show", "--stat", "--format=", "HEAD"]).trim(),
        "flags/overlays/prod/new-checkout.yaml | 2 +-\n 1 file changed, 1 insertion(+), 1 deletion(-)"
    );
    assert_eq!(
        repo.status(),
        "",
        "index and working tree follow the commit"
    );
    assert!(repo.read(PROD_OVERLAY).contains("# Ramping up: 10% -> 25%"));
}

#[test]
fn rollout_into_the_base_and_by_attribute_and_a_fresh_overlay() {
    let repo = Repo::new();
    repo.flagctl(&[
        "rollout",
        "new-checkout",
        "12.5",
        "--by",
        "company_id",
        "--yes",
    ])
    .ok();
    assert_eq!(
        repo.message().lines().next(),
        Some("rollout new-checkout 10% → 12.5% by company_id")
    );
    assert_eq!(
        changed_lines(&repo.patch()),
        [
            "-  rollout: { on: 10, off: 90 }",
            "+  rollout: { on: 12.5, off: 87.5 }",
            "+  by: company_id"
        ]
    );
    // An environment without an overlay gets one, with a modeline.
    repo.flagctl(&["rollout", "beta-dashboard", "5", "--env", "staging"])
        .ok();
    let overlay = repo.read("flags/overlays/staging/beta-dashboard.yaml");
    assert!(
        overlay
            .starts_with("# yaml-language-server: $schema=../../../schemas/overlay.schema.json\n"),
        "{overlay}"
    );
    let show = repo
        .flagctl(&[
            "show",
            "beta-dashboard",
            "--env",
            "staging",
            "--format",
            "json",
        ])
        .ok()
        .json();
    assert_eq!(
        show["environments"][0]["flag"]["default"]["rollout"],
        serde_json::json!({"on": 5, "off": 95})
    );
}

#[test]
fn disable_and_enable_are_the_kill_switch() {
    let repo = Repo::new();
    let run = repo
        .flagctl(&["disable", "new-checkout", "--env", "prod", "--yes"])
        .ok();
    assert!(
        run.stdout.ends_with("] disable new-checkout in prod\n"),
        "{run:?}"
    );
    assert!(
        run.stderr.starts_with(
            "prod (protected): disabling the flag serves off to everyone\nprod (protected): rules[0] (staff): disabling the flag moves 100.000% of users from on to off; they lose on\n"
        ),
        "what everyone now gets: {}",
        run.stderr
    );
    assert_eq!(changed_lines(&repo.patch()), ["+enabled: false"]);
    assert!(
        repo.message().ends_with(
            "Flagctl-Action: disable\nFlagctl-Flag: new-checkout\nFlagctl-Env: prod\n\n"
        )
    );
    // Again: nothing to do, nothing committed, success.
    let head = repo.head();
    let run = repo
        .flagctl(&["disable", "new-checkout", "--env", "prod", "--yes"])
        .ok();
    assert_eq!(
        run.stderr,
        "nothing to change: `new-checkout` is already disabled in `prod`\n"
    );
    assert_eq!(repo.head(), head);
    repo.flagctl(&["enable", "new-checkout", "--env", "prod", "--yes"])
        .ok();
    assert_eq!(
        changed_lines(&repo.patch()),
        ["-enabled: false", "+enabled: true"]
    );
    // In the base, the comment on the line stays.
    repo.flagctl(&["disable", "new-checkout", "--yes"]).ok();
    assert_eq!(
        changed_lines(&repo.patch()),
        [
            "-enabled: true            # the kill switch: false serves `off` to everyone",
            "+enabled: false           # the kill switch: false serves `off` to everyone"
        ]
    );
}

#[test]
fn set_edits_fields_by_path_and_unset_removes() {
    let repo = Repo::new();
    repo.flagctl(&[
        "set",
        "new-checkout",
        "description=One-page checkout",
        "tags=[checkout, q1]",
        "-m",
        "Renamed after the design review.",
    ])
    .ok();
    assert_eq!(
        repo.message(),
        "set new-checkout description=\"One-page checkout\", tags=[\"checkout\",\"q1\"]\n\nRenamed after the design review.\n\nFlagctl-Action: set\nFlagctl-Flag: new-checkout\n\n"
    );
    assert_eq!(
        changed_lines(&repo.patch()),
        [
            "-description: Rebuilt checkout flow (one page, saved carts)",
            "+description: One-page checkout",
            "-tags: [checkout, q4]",
            "+tags: [checkout, q1]"
        ]
    );
    repo.flagctl(&["set", "new-checkout", "rules[0].serve=off", "--yes"])
        .ok();
    assert_eq!(
        repo.message().lines().next(),
        Some("set new-checkout rules[0].serve=off")
    );
    let error = repo.refused(&["set", "new-checkout", "rules[0].serve=on", "--env", "dev"]);
    assert_eq!(
        error,
        "error: cannot edit `flags/overlays/dev/new-checkout.yaml`: cannot reach `rules[0].serve`: `rules` has 0 items, no index 0\nhelp: an overlay replaces a list as a whole: set the whole list (`rules=[...]`), change the base (no `--env`), or edit the file by hand\n"
    );
    repo.flagctl(&["set", "new-checkout", "--unset", "expires"])
        .ok();
    assert_eq!(changed_lines(&repo.patch()), ["-expires: 2027-03-31"]);
    assert_eq!(
        repo.message().lines().next(),
        Some("set new-checkout unset expires")
    );
    let error = repo.refused(&["set", "new-checkout", "description="]);
    assert!(
        error.contains(
            "help: remove the field with `--unset description`, set null with `description=null`"
        ),
        "{error}"
    );
}

#[test]
fn new_writes_a_flag_with_a_modeline_and_refuses_an_existing_key() {
    let repo = Repo::new();
    repo.flagctl(&[
        "new",
        "dark-mode",
        "--description",
        "Dark theme",
        "--owner",
        "web",
        "--expires",
        "2027-06-30",
    ])
    .ok();
    assert_eq!(
        repo.read("flags/base/dark-mode.yaml"),
        "# yaml-language-server: $schema=../../schemas/flag.schema.json\nkey: dark-mode\ndescription: Dark theme\nowner: web\nexpires: 2027-06-30\ntype: boolean\ndefault: off\n"
    );
    assert_eq!(
        repo.message(),
        "new dark-mode (boolean, serves off)\n\nFlagctl-Action: new\nFlagctl-Flag: dark-mode\n\n"
    );
    repo.flagctl(&[
        "new",
        "banner",
        "--type",
        "string",
        "--variant",
        "short=Hi",
        "--variant",
        "long=Hello there",
    ])
    .ok();
    assert!(
        repo.read("flags/base/banner.yaml")
            .contains("variants:\n  short: Hi\n  long: Hello there\ndefault: short\n")
    );
    let error = repo.refused(&["new", "new-checkout"]);
    assert_eq!(
        error,
        "error: flag `new-checkout` already exists\nhelp: change it with `flagctl set new-checkout FIELD=VALUE`, or pick another key\n"
    );
    let error = repo.refused(&["new", "colour", "--type", "string"]);
    assert!(
        error.starts_with("error: invalid flag `colour`: a string flag needs variants\n"),
        "{error}"
    );
    // A root with its own schemas/ points there.
    let own = Repo::empty();
    own.git(&["init", "-q", "-b", "main"]);
    own.write("flags/flagctl.yaml", "environments: [prod]\n");
    own.write("flags/schemas/flag.schema.json", "{}\n");
    own.git(&["add", "."]);
    own.git(&["commit", "-q", "-m", "root"]);
    own.flagctl(&["new", "x"]).ok();
    assert!(
        own.read("flags/base/x.yaml")
            .starts_with("# yaml-language-server: $schema=../schemas/flag.schema.json\n")
    );
}

#[test]
fn split_sets_weights_and_keeps_the_order_and_the_experiment() {
    let repo = Repo::new();
    repo.flagctl(&[
        "split",
        "checkout-button-color",
        "orange=20",
        "green=30",
        "blue=50",
        "--yes",
    ])
    .ok();
    assert_eq!(
        repo.message().lines().next(),
        Some("split checkout-button-color blue 50% / green 30% / orange 20%")
    );
    assert_eq!(
        changed_lines(&repo.patch()),
        [
            "-  rollout: { blue: 34, green: 33, orange: 33 }",
            "+  rollout: { blue: 50, green: 30, orange: 20 }"
        ]
    );
    // In dev the overlay serves `orange`; a split there replaces it and
    // keeps the base's experiment by inheritance.
    repo.flagctl(&[
        "split",
        "checkout-button-color",
        "blue=50",
        "orange=50",
        "--env",
        "dev",
    ])
    .ok();
    let show = repo
        .flagctl(&[
            "show",
            "checkout-button-color",
            "--env",
            "dev",
            "--format",
            "json",
        ])
        .ok()
        .json();
    let default = &show["environments"][0]["flag"]["default"];
    assert_eq!(
        default["rollout"],
        serde_json::json!({"blue": 50, "orange": 50})
    );
    assert_eq!(default["experiment"], "checkout-button-color-q4");
    let error = repo.refused(&["split", "checkout-button-color", "blue=60", "green=50"]);
    assert_eq!(
        error,
        "error: the weights add up to 110, expected 100\nhelp: make the weights add up to 100 (remove 10)\n"
    );
    let error = repo.refused(&["rollout", "checkout-button-color", "10"]);
    assert_eq!(
        error,
        "error: flag `checkout-button-color` has 3 variants; `rollout` splits traffic between two\nhelp: give every variant its weight with `flagctl split checkout-button-color blue=34 green=33 orange=33`\n"
    );
}

#[test]
fn target_adds_and_removes_and_an_overlay_starts_from_the_inherited_list() {
    let repo = Repo::new();
    repo.flagctl(&[
        "target",
        "new-checkout",
        "on",
        "--add",
        "carol,dave",
        "--yes",
    ])
    .ok();
    assert_eq!(
        repo.message().lines().next(),
        Some("target new-checkout on +carol,dave")
    );
    assert_eq!(
        changed_lines(&repo.patch()),
        ["-  on: [alice, bob]", "+  on: [alice, bob, carol, dave]"]
    );
    repo.flagctl(&[
        "target",
        "new-checkout",
        "on",
        "--remove",
        "alice",
        "--add",
        "erin",
        "--env",
        "staging",
    ])
    .ok();
    assert_eq!(
        repo.message().lines().next(),
        Some("target new-checkout on +erin -alice in staging")
    );
    let show = repo
        .flagctl(&["show", "new-checkout", "--format", "json"])
        .ok()
        .json();
    let targets = |env: usize| show["environments"][env]["flag"]["targets"]["on"].clone();
    assert_eq!(
        targets(0),
        serde_json::json!(["alice", "bob", "carol", "dave"])
    );
    assert_eq!(
        targets(1),
        serde_json::json!(["bob", "carol", "dave", "erin"])
    );
    let run = repo
        .flagctl(&["target", "new-checkout", "on", "--add", "bob"])
        .ok();
    assert!(run.stderr.starts_with("nothing to change: "), "{run:?}");
    let error = repo.refused(&["target", "new-checkout", "maybe", "--add", "x"]);
    assert_eq!(
        error,
        "error: flag `new-checkout` has no variant `maybe`\nhelp: the variants are: on, off\n"
    );
}

#[test]
fn promote_makes_an_environment_resolve_like_another() {
    let repo = Repo::new();
    repo.flagctl(&[
        "promote",
        "new-checkout",
        "--from",
        "staging",
        "--to",
        "prod",
        "--yes",
    ])
    .ok();
    assert_eq!(
        repo.message(),
        "promote new-checkout staging → prod\n\nFlagctl-Action: promote\nFlagctl-Flag: new-checkout\nFlagctl-Env: prod\nFlagctl-From: staging\n\n"
    );
    // The prod overlay's comments stay; only the weights change.
    assert_eq!(
        changed_lines(&repo.patch()),
        [
            "-  rollout: { on: 25, off: 75 }",
            "+  rollout: { on: 50, off: 50 }"
        ]
    );
    let show = repo
        .flagctl(&["show", "new-checkout", "--format", "json"])
        .ok()
        .json();
    assert_eq!(
        show["environments"][1]["flag"],
        show["environments"][2]["flag"]
    );
    // To an environment without an overlay of its own: removed, so it
    // resolves like the base again.
    repo.flagctl(&["promote", "new-checkout", "--from", "prod", "--to", "dev"])
        .ok();
    let show = repo
        .flagctl(&["show", "new-checkout", "--format", "json"])
        .ok()
        .json();
    assert_eq!(
        show["environments"][0]["flag"],
        show["environments"][2]["flag"]
    );
    let run = repo
        .flagctl(&[
            "promote",
            "new-checkout",
            "--from",
            "staging",
            "--to",
            "prod",
        ])
        .ok();
    assert_eq!(
        run.stderr,
        "nothing to change: `new-checkout` already resolves in `prod` as in `staging`\n"
    );
}

#[test]
fn revert_undoes_a_change_and_refuses_what_it_cannot() {
    let repo = Repo::new();
    let before = repo.read(BASE);
    repo.flagctl(&["rollout", "new-checkout", "30", "--yes"])
        .ok();
    let rollout = repo.head();
    repo.flagctl(&["revert", "HEAD", "-m", "Errors went up.", "--yes"])
        .ok();
    assert_eq!(repo.read(BASE), before);
    assert_eq!(
        repo.message(),
        format!(
            "revert \"rollout new-checkout 10% → 30%\"\n\nThis reverts commit {rollout}.\n\nErrors went up.\n\nFlagctl-Action: revert\nFlagctl-Flag: new-checkout\nFlagctl-Reverts: {rollout}\n\n"
        )
    );
    // A later commit touched the same file: refused.
    repo.flagctl(&["rollout", "new-checkout", "40", "--yes"])
        .ok();
    repo.flagctl(&["target", "new-checkout", "on", "--add", "zoe", "--yes"])
        .ok();
    let error = repo.refused(&["revert", "HEAD~1", "--yes"]);
    assert!(
        error.starts_with("error: cannot revert `")
            && error.contains(": 1 later commit changed the same files (`"),
        "{error}"
    );
    assert!(error.contains("target new-checkout on +zoe"), "{error}");
    // Not a flagctl change.
    repo.write(
        "flags/base/legacy-export.yaml",
        &repo
            .read("flags/base/legacy-export.yaml")
            .replace("default: on", "default: off"),
    );
    repo.git(&["commit", "-qam", "by hand"]);
    let id = repo.head();
    let error = repo.refused(&["revert", "HEAD", "--yes"]);
    assert_eq!(
        error,
        format!(
            "error: commit `{}` is not a flagctl change (it has no `Flagctl-Action` trailer)\nhelp: undo it with `git revert {}`\n",
            &id[..12],
            &id[..12]
        )
    );
}

#[test]
fn archive_removes_the_flag_and_its_overlays() {
    let repo = Repo::new();
    let error = repo.refused(&["archive", "new-checkout"]);
    assert!(
        error.starts_with("error: this change alters what protected `prod` serves"),
        "{error}"
    );
    repo.flagctl(&["archive", "new-checkout", "--yes", "-m", "Shipped."])
        .ok();
    assert_eq!(
        repo.git(&["show", "--name-status", "--format=", "HEAD"]),
        "D\tflags/base/new-checkout.yaml\nD\tflags/overlays/dev/new-checkout.yaml\nD\tflags/overlays/prod/new-checkout.yaml\nD\tflags/overlays/staging/new-checkout.yaml\n"
    );
    assert!(
        repo.message()
            .starts_with("archive new-checkout\n\nShipped.\n")
    );
    assert_eq!(repo.status(), "");
    repo.flagctl(&["validate"]).ok();
}

#[test]
fn dry_run_shows_the_diff_and_writes_nothing() {
    let repo = Repo::new();
    let head = repo.head();
    let run = repo
        .flagctl(&[
            "rollout",
            "new-checkout",
            "50",
            "--env",
            "prod",
            "--dry-run",
        ])
        .ok();
    assert_eq!(
        run.stdout,
        "rollout new-checkout 25% → 50% in prod\n\nprod (protected)\n  ~ new-checkout\n      default.rollout.on: 25 → 50\n      default.rollout.off: 75 → 50\n      impact: default: raising on 25% → 50% moves 25.000% of users from off to on; nobody leaves on\n\n--- a/flags/overlays/prod/new-checkout.yaml\n+++ b/flags/overlays/prod/new-checkout.yaml\n@@ -1,4 +1,4 @@\n # yaml-language-server: $schema=../../../schemas/overlay.schema.json\n # Ramping up: 10% -> 25% after the error budget held for a week.\n default:\n-  rollout: { on: 25, off: 75 }\n+  rollout: { on: 50, off: 50 }\n"
    );
    assert_eq!(
        run.stderr,
        "dry run: nothing was written (`prod` is protected: committing needs confirmation or --yes)\n"
    );
    assert_eq!(repo.head(), head);
    assert_eq!(repo.status(), "");
    let json = repo
        .flagctl(&["archive", "legacy-export", "--dry-run", "--format", "json"])
        .ok()
        .json();
    assert_eq!(json["committed"], false);
    assert_eq!(json["dry_run"], true);
    assert_eq!(
        json["files"],
        serde_json::json!(["flags/base/legacy-export.yaml"])
    );
    assert!(
        json["diff"]
            .as_str()
            .unwrap()
            .contains("--- a/flags/base/legacy-export.yaml\n+++ /dev/null\n")
    );
    assert!(
        json["message"]
            .as_str()
            .unwrap()
            .starts_with("archive legacy-export\n")
    );
    let effects = json["effects"].as_array().unwrap();
    assert_eq!(effects.len(), 3, "removed in every environment");
    assert_eq!(effects[2]["environment"], "prod");
    assert_eq!(effects[2]["status"], "removed");
    assert_eq!(effects[2]["protected"], true);
    // A rollout's exact impact, for scripts.
    let json = repo
        .flagctl(&[
            "rollout",
            "new-checkout",
            "35",
            "--env",
            "staging",
            "--dry-run",
            "--format",
            "json",
        ])
        .ok()
        .json();
    assert_eq!(
        json["effects"][0]["impact"]["summary"][0],
        "default: lowering on 50% → 35% moves 15.000% of users from on to off; they lose on"
    );
    assert_eq!(
        json["effects"][0]["changes"][0]["path"],
        "default.rollout.on"
    );
    assert_eq!(repo.head(), head);
}

#[test]
fn json_output_author_override_and_reason() {
    let repo = Repo::new();
    let json = repo
        .flagctl(&[
            "disable",
            "new-checkout",
            "--env",
            "staging",
            "--author",
            "Pager Bot <pager@example.com>",
            "-m",
            "Incident 4711",
            "--format",
            "json",
        ])
        .ok()
        .json();
    assert_eq!(json["committed"], true);
    assert_eq!(json["commit"], repo.head());
    assert_eq!(json["branch"], "main");
    assert_eq!(json["summary"], "disable new-checkout in staging");
    assert_eq!(json["action"], "disable");
    assert_eq!(json["flag"], "new-checkout");
    assert_eq!(json["environment"], "staging");
    assert_eq!(
        json["files"],
        serde_json::json!(["flags/overlays/staging/new-checkout.yaml"])
    );
    assert_eq!(json["environments"], serde_json::json!(["staging"]));
    assert_eq!(
        repo.git(&["log", "-1", "--format=%an <%ae>|%cn <%ce>"])
            .trim(),
        format!("Pager Bot <pager@example.com>|{NAME} <{EMAIL}>")
    );
    assert!(repo.message().contains("\n\nIncident 4711\n\n"));
    let error = repo.refused(&["disable", "new-checkout", "--author", "pager@example.com"]);
    assert_eq!(
        error,
        "error: invalid author `pager@example.com`: expected `Name <email>`\nhelp: write it like `Jane Doe <jane@example.com>`\n"
    );
}

#[test]
fn an_invalid_result_is_refused_with_located_diagnostics() {
    let repo = Repo::new();
    let head = repo.head();
    let run = repo.flagctl(&[
        "set",
        "new-checkout",
        "default=maybe",
        "--env",
        "prod",
        "--yes",
    ]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("error[unknown-variant]: "),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("--> flags/overlays/prod/new-checkout.yaml:3:10"),
        "the in-memory file, with its position: {}",
        run.stderr
    );
    assert!(run.stderr.contains("3 | default: maybe"), "{}", run.stderr);
    assert!(
        run.stderr.ends_with("error: the change would make the flags invalid\nhelp: nothing was written; change the arguments, or fix the files by hand\n"),
        "{}",
        run.stderr
    );
    assert_eq!(repo.head(), head);
    assert_eq!(repo.status(), "");
    assert!(
        repo.read(PROD_OVERLAY)
            .contains("rollout: { on: 25, off: 75 }")
    );
}

#[test]
fn errors_elsewhere_on_the_branch_do_not_block_other_changes() {
    let repo = Repo::new();
    repo.write(
        "flags/base/broken.yaml",
        "key: broken\ntype: boolean\ndefault:\n  rollout: { on: 60, off: 50 }\n",
    );
    repo.git(&["add", "."]);
    repo.git(&["commit", "-qm", "broken by hand"]);
    for _ in 0..2 {
        // The first run validates everything, the second incrementally.
        let run = repo
            .flagctl(&[
                "target",
                "new-checkout",
                "on",
                "--add",
                &format!("u{}", repo.head()),
                "--yes",
            ])
            .ok();
        assert_eq!(
            run.stderr,
            "warning: the branch already has 1 error in files this change does not touch; run `flagctl validate`\n"
        );
    }
    // Touching the broken flag shows its errors.
    let run = repo.flagctl(&["set", "broken", "description=still broken"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("error[weights-sum]"), "{}", run.stderr);
    assert!(
        run.stderr.contains("--> flags/base/broken.yaml:4:12"),
        "{}",
        run.stderr
    );
    // Fixing it works.
    repo.flagctl(&["set", "broken", "default.rollout.off=40", "--yes"])
        .ok();
    repo.flagctl(&["validate"]).ok();
}

#[test]
fn uncommitted_edits_to_the_file_are_never_committed_along() {
    let repo = Repo::new();
    let edited = repo.read(PROD_OVERLAY) + "# my notes\n";
    repo.write(PROD_OVERLAY, &edited);
    let error = repo.refused(&["rollout", "new-checkout", "50", "--env", "prod", "--yes"]);
    assert_eq!(
        error,
        "error: `flags/overlays/prod/new-checkout.yaml` has uncommitted changes (edited)\nhelp: commit or stash your changes to `flags/overlays/prod/new-checkout.yaml` first (`git stash push -- flags/overlays/prod/new-checkout.yaml`); flagctl never commits them along\n"
    );
    assert_eq!(repo.read(PROD_OVERLAY), edited);
    // Staged counts too; an untracked file where an overlay would go too.
    repo.git(&["add", PROD_OVERLAY]);
    assert!(
        repo.refused(&["disable", "new-checkout", "--env", "prod", "--yes"])
            .contains("(staged)")
    );
    repo.write("flags/overlays/dev/beta-dashboard.yaml", "enabled: false\n");
    assert!(
        repo.refused(&["disable", "beta-dashboard", "--env", "dev"])
            .contains("(untracked)")
    );
    // Other files' edits are left alone and out of the commit.
    repo.write("flags/base/legacy-export.yaml", "key: legacy-export\n");
    repo.flagctl(&["target", "new-checkout", "on", "--add", "zoe", "--yes"])
        .ok();
    assert_eq!(
        repo.git(&["show", "--name-only", "--format=", "HEAD"]),
        "flags/base/new-checkout.yaml\n"
    );
    assert_eq!(
        repo.read("flags/base/legacy-export.yaml"),
        "key: legacy-export\n"
    );
    assert_eq!(
        repo.status(),
        " M flags/base/legacy-export.yaml\nM  flags/overlays/prod/new-checkout.yaml\n?? flags/overlays/dev/beta-dashboard.yaml\n"
    );
}

#[test]
fn bad_input_gets_one_error_and_a_help_line() {
    let repo = Repo::new();
    let cases: &[(&[&str], &str)] = &[
        (
            &["rollout", "new-chekout", "10", "--env", "prod"],
            "error: flag `new-chekout` does not exist\nhelp: did you mean `new-checkout`?\n",
        ),
        (
            &["rollout", "new-checkout", "10", "--env", "production"],
            "error: unknown environment `production`\nhelp: did you mean `prod`? the environments are: dev, staging, prod\n",
        ),
        (
            &["rollout", "new-checkout", "150", "--env", "prod"],
            "error: invalid percentage `150`: it is outside 0–100\nhelp: give a number from 0 to 100 with at most 3 decimals, such as `25` or `12.5`\n",
        ),
        (
            &["rollout", "new-checkout", "-5", "--env", "prod"],
            "error: invalid percentage `-5`: it is outside 0–100\nhelp: give a number from 0 to 100 with at most 3 decimals, such as `25` or `12.5`\n",
        ),
        (
            &["rollout", "new-checkout", "12.3456", "--env", "prod"],
            "error: invalid percentage `12.3456`: it has more than 3 decimals\nhelp: give a number from 0 to 100 with at most 3 decimals, such as `25` or `12.5`\n",
        ),
        (
            &[
                "rollout",
                "new-checkout",
                "10",
                "--variant",
                "onn",
                "--env",
                "prod",
            ],
            "error: flag `new-checkout` has no variant `onn`\nhelp: did you mean `on`? the variants are: on, off\n",
        ),
        (
            &["split", "checkout-button-color", "blue=50", "green=49.5"],
            "error: the weights add up to 99.5, expected 100\nhelp: make the weights add up to 100 (add 0.5)\n",
        ),
        (
            &["set", "new-checkout", "description"],
            "error: invalid assignment `description`: expected FIELD=VALUE\nhelp: write it like `description=\"Rebuilt checkout\"`, or remove a field with `--unset FIELD`\n",
        ),
        (
            &["disable", "new/checkout"],
            "error: invalid flag key: `new/checkout` contains `/`; use letters, digits, `.`, `_` and `-`\nhelp: for example `new-checkout` or `checkout.v2`\n",
        ),
        (
            &["revert", "no-such-commit"],
            "error: revision `no-such-commit` not found\nhelp: list the changes with `git log --oneline`, then pass one of their ids\n",
        ),
        (
            &["promote", "new-checkout", "--from", "prod", "--to", "prod"],
            "error: invalid environments `prod → prod`: they are the same\nhelp: promote from one environment to another, such as `--from staging --to prod`\n",
        ),
    ];
    for (args, expected) in cases {
        assert_eq!(&repo.refused(args), expected, "{args:?}");
    }
}

#[test]
fn repository_states_that_cannot_take_a_change() {
    // No commits yet.
    let repo = Repo::empty();
    repo.git(&["init", "-q", "-b", "main"]);
    repo.write("flags/flagctl.yaml", "environments: [prod]\n");
    repo.write("flags/base/a.yaml", "key: a\ntype: boolean\ndefault: on\n");
    let run = repo.flagctl(&["disable", "a"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(
        run.stderr,
        "error: the repository has no commits yet: flagctl changes build on the branch tip\nhelp: commit the flag root first: `git add flags && git commit -m 'Add flags'`\n"
    );
    assert!(repo.git_output(&["rev-parse", "HEAD"]).status.code() != Some(0));

    // The root exists but is not committed.
    repo.write("README", "x\n");
    repo.git(&["add", "README"]);
    repo.git(&["commit", "-qm", "readme"]);
    let error = repo.refused(&["disable", "a"]);
    assert_eq!(
        error,
        "error: the flag root `flags` is not committed on `main`\nhelp: commit it first: `git add flags && git commit -m 'Add flags'`\n"
    );

    let repo = Repo::new();
    // Detached HEAD.
    repo.git(&["checkout", "-q", "--detach"]);
    let error = repo.refused(&["disable", "new-checkout", "--env", "dev"]);
    assert!(error.starts_with("error: HEAD is detached at `"), "{error}");
    assert!(
        error.ends_with("help: check out a branch with `git switch <branch>`\n"),
        "{error}"
    );
    repo.git(&["checkout", "-q", "main"]);
    // A rebase in progress.
    std::fs::create_dir_all(repo.path().join(".git/rebase-merge")).unwrap();
    let error = repo.refused(&["disable", "new-checkout", "--env", "dev"]);
    assert_eq!(
        error,
        "error: a rebase is in progress: finish or abort it before committing a change\nhelp: run `git rebase --continue` or `git rebase --abort`\n"
    );
    std::fs::remove_dir_all(repo.path().join(".git/rebase-merge")).unwrap();

    // No identity anywhere.
    let mut command = repo.command(&["disable", "new-checkout", "--env", "dev"]);
    for var in [
        "GIT_AUTHOR_NAME",
        "GIT_AUTHOR_EMAIL",
        "GIT_COMMITTER_NAME",
        "GIT_COMMITTER_EMAIL",
    ] {
        command.env_remove(var);
    }
    let error = repo.refused_by(command);
    assert_eq!(
        error,
        "error: no git identity is configured to author the commit\nhelp: set one with git config user.name/user.email, or pass --author\n"
    );
    // Protected without a terminal.
    let error = repo.refused(&["disable", "new-checkout", "--env", "prod"]);
    assert_eq!(
        error,
        "error: `prod` is protected: this change needs confirmation\nhelp: run it again with `--yes`, or see the change first with `--dry-run`\n"
    );
    // A change to the base that alters what prod serves is a prod change
    // too; one that does not (prod overrides the default) is not.
    let error = repo.refused(&["target", "new-checkout", "on", "--add", "zoe"]);
    assert_eq!(
        error,
        "error: this change alters what protected `prod` serves: it needs confirmation\nhelp: run it again with `--yes`, or see the change first with `--dry-run`\n"
    );
    repo.flagctl(&["rollout", "new-checkout", "15"]).ok();
    repo.flagctl(&[
        "set",
        "new-checkout",
        "description=Descriptions are not served",
    ])
    .ok();
}

#[test]
fn every_command_teaches_with_an_example() {
    let repo = Repo::new();
    for command in [
        "new", "set", "enable", "disable", "rollout", "split", "target", "promote", "revert",
        "archive",
    ] {
        let run = repo.flagctl(&[command, "--help"]).ok();
        assert!(
            run.stdout.contains("Examples:\n  flagctl "),
            "{command}: {}",
            run.stdout
        );
        assert!(run.stdout.contains("--dry-run"), "{command}");
    }
}

/// Runs `flagctl ARGS` on a pseudo-terminal (through util-linux `script`)
/// with `answer` typed in.
fn on_a_terminal(repo: &Repo, args: &str, answer: &str) -> Run {
    use std::io::Write;
    use std::process::{Command, Stdio};

    let binary = assert_cmd::cargo::cargo_bin("flagctl");
    let mut command = Command::new("script");
    isolate(&mut command, repo.home.path());
    command
        .env("NO_COLOR", "1")
        .current_dir(repo.path())
        .args(["-qec", &format!("{} {args}", binary.display()), "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("`script` runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(answer.as_bytes())
        .expect("type the answer");
    let output = child.wait_with_output().expect("script finishes");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).replace("\r\n", "\n"),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

#[test]
fn protected_changes_ask_on_a_terminal() {
    if !require_tool("script", "bsdutils") {
        return;
    }
    let repo = Repo::new();
    let head = repo.head();
    let run = on_a_terminal(&repo, "disable new-checkout --env prod", "n\n");
    assert!(
        run.stdout.contains("+enabled: false\n"),
        "the diff is shown: {run:#?}"
    );
    assert!(
        run.stdout
            .contains("Commit this change to protected `prod`? [y/N] "),
        "{run:#?}"
    );
    assert!(
        run.stdout.contains("error: cancelled: nothing was written"),
        "{run:#?}"
    );
    assert_eq!(repo.head(), head);
    let run = on_a_terminal(&repo, "disable new-checkout --env prod", "y\n");
    assert!(
        run.stdout.contains("] disable new-checkout in prod\n"),
        "{run:#?}"
    );
    assert_eq!(
        repo.message().lines().next(),
        Some("disable new-checkout in prod")
    );
}
