//! `flagctl eval` against temporary git repositories holding the example
//! root: what a user gets and why, `--explain`, `--all`, time travel with
//! `--at`, and bad input.

mod common;
use common::cli::Repo;

#[test]
fn a_rollout_is_decided_by_the_users_bucket() {
    let repo = Repo::new();
    let run = repo.flagctl(&["eval", "new-checkout", "--env", "prod", "--user", "user-42"]);
    assert_eq!(run.code, 0, "{run:?}");
    let head = repo.git(&["rev-parse", "HEAD"]);
    assert_eq!(
        run.stdout,
        format!(
            "new-checkout = false (variant off)\n  reason: SPLIT: the default rollout, bucket 55751 of 100000\n  revision {} in prod\n",
            &head.trim()[..12]
        )
    );
    let json = repo
        .flagctl(&[
            "eval",
            "new-checkout",
            "--env",
            "prod",
            "--user",
            "user-42",
            "--format",
            "json",
        ])
        .json();
    assert_eq!(json["flag"], "new-checkout");
    assert_eq!(json["value"], false);
    assert_eq!(json["variant"], "off");
    assert_eq!(json["reason"], "SPLIT");
    assert_eq!(json["split"]["bucket"], 55751);
    assert_eq!(json["revision"], &head.trim()[..12]);
}

#[test]
fn targets_rules_and_attributes() {
    let repo = Repo::new();
    let target = repo
        .flagctl(&[
            "eval",
            "new-checkout",
            "--env",
            "prod",
            "--user",
            "alice",
            "--format",
            "json",
        ])
        .json();
    assert_eq!(target["reason"], "TARGET_MATCH");
    assert_eq!(target["value"], true);
    let staff = repo
        .flagctl(&[
            "eval",
            "beta-dashboard",
            "--env",
            "prod",
            "--user",
            "zed",
            "--attr",
            "email=zed@example.com",
            "--format",
            "json",
        ])
        .json();
    assert_eq!(staff["reason"], "RULE_MATCH");
    assert_eq!(staff["rule_name"], "staff");
    // JSON values: numbers, booleans and lists; quoting forces a string.
    let app = repo
        .flagctl(&[
            "eval",
            "search-ranking-boost",
            "--env",
            "prod",
            "--user",
            "u",
            "--attr",
            "platform=ios",
            "--attr",
            "app_version=\"4.10\"",
            "--format",
            "json",
        ])
        .json();
    assert_eq!(app["variant"], "boosted");
    let limits = repo
        .flagctl(&[
            "eval",
            "api-rate-limits",
            "--env",
            "prod",
            "--user",
            "u",
            "--attr",
            "plan=enterprise",
            "--format",
            "json",
        ])
        .json();
    assert_eq!(limits["value"]["rpm"], 6000);
}

#[test]
fn context_from_a_file_or_standard_input() {
    let repo = Repo::new();
    repo.write(
        "ctx.json",
        r#"{"targetingKey": "u9", "country": "NL", "plan": "enterprise", "company_id": "acme"}"#,
    );
    let file = repo
        .flagctl(&[
            "eval",
            "new-checkout",
            "--env",
            "prod",
            "--context",
            "ctx.json",
            "--format",
            "json",
        ])
        .json();
    assert_eq!(file["rule_name"], "big-eu-customers");
    let stdin = repo
        .flagctl_with_input(
            repo.path().to_path_buf(),
            &[
                "eval",
                "new-checkout",
                "--env",
                "prod",
                "--context",
                "-",
                "--user",
                "alice",
                "--format",
                "json",
            ],
            &[],
            r#"{"targetingKey": "ignored", "country": "NL"}"#,
        )
        .json();
    assert_eq!(
        stdin["reason"], "TARGET_MATCH",
        "--user overrides the file's key"
    );
}

#[test]
fn explain_walks_every_step() {
    let repo = Repo::new();
    let run = repo.flagctl(&[
        "eval",
        "new-checkout",
        "--env",
        "prod",
        "--user",
        "u1",
        "--attr",
        "country=DE",
        "--attr",
        "plan=enterprise",
        "--attr",
        "company_id=acme",
        "--explain",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    for expected in [
        "1. targets: `u1` is not listed",
        "2. rule 1 `staff`: no match",
        "email ends_with \"@example.com\" — no match (found null)",
        "3. rule 2 `big-eu-customers`: matched",
        "country in [\"DE\",\"FR\",\"NL\"] — matched (found \"DE\")",
        "rollout by `company_id`: murmur3(`new-checkout` ++ `acme`)",
        "bucket 50947 of 100000",
        "off              50%  [ 50000, 100000)  ←",
        "result: false (variant off), reason SPLIT",
    ] {
        assert!(
            run.stdout.contains(expected),
            "missing {expected:?} in\n{}",
            run.stdout
        );
    }
    let json = repo
        .flagctl(&[
            "eval",
            "new-checkout",
            "--env",
            "prod",
            "--user",
            "alice",
            "--explain",
            "--format",
            "json",
        ])
        .json();
    assert_eq!(json["steps"][0]["step"], "targets");
    assert_eq!(json["steps"][0]["matched"], "on");
    assert_eq!(json["result"]["reason"], "TARGET_MATCH");
}

#[test]
fn all_flags_for_one_user() {
    let repo = Repo::new();
    let json = repo
        .flagctl(&[
            "eval", "--all", "--env", "dev", "--user", "user-42", "--format", "json",
        ])
        .json();
    let list = json.as_array().expect("a list");
    assert_eq!(list.len(), 9);
    let checkout = list
        .iter()
        .find(|e| e["flag"] == "new-checkout")
        .expect("present");
    assert_eq!(checkout["value"], true, "dev serves on to everyone");
    let text = repo.flagctl(&["eval", "--all", "--env", "dev", "--user", "user-42"]);
    assert!(text.stdout.starts_with(" FLAG"), "{}", text.stdout);
    assert!(
        text.stdout.contains("checkout-button-color  orange"),
        "{}",
        text.stdout
    );
}

#[test]
fn time_travel_with_at() {
    let repo = Repo::new();
    let before = repo.git(&["rev-parse", "HEAD"]);
    repo.write("flags/overlays/prod/new-checkout.yaml", "default: on\n");
    repo.git(&["commit", "-q", "-am", "new-checkout to everyone in prod"]);
    let now = repo
        .flagctl(&[
            "eval",
            "new-checkout",
            "--env",
            "prod",
            "--user",
            "user-42",
            "--format",
            "json",
        ])
        .json();
    assert_eq!(now["value"], true);
    let then = repo
        .flagctl(&[
            "eval",
            "new-checkout",
            "--env",
            "prod",
            "--user",
            "user-42",
            "--at",
            "HEAD~1",
            "--format",
            "json",
        ])
        .json();
    assert_eq!(then["value"], false);
    assert_eq!(then["revision"], &before.trim()[..12]);
    // Uncommitted edits are evaluated without --at and marked dirty.
    repo.write("flags/overlays/prod/new-checkout.yaml", "default: off\n");
    let dirty = repo
        .flagctl(&[
            "eval",
            "new-checkout",
            "--env",
            "prod",
            "--user",
            "user-42",
            "--format",
            "json",
        ])
        .json();
    assert_eq!(dirty["value"], false);
    assert!(
        dirty["revision"]
            .as_str()
            .expect("revision")
            .ends_with("-dirty")
    );
}

#[test]
fn an_invalid_revision_is_not_evaluated() {
    let repo = Repo::new();
    repo.write(
        "flags/overlays/prod/new-checkout.yaml",
        "default:\n  rollout: { on: 30 }\n",
    );
    repo.git(&["commit", "-q", "-am", "broken by hand"]);
    let run = repo.flagctl(&[
        "eval",
        "new-checkout",
        "--env",
        "prod",
        "--user",
        "u",
        "--at",
        "HEAD",
    ]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("error[weights-sum]"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("error: `prod` at `HEAD` has errors: nothing to evaluate"),
        "{}",
        run.stderr
    );
    let earlier = repo.flagctl(&[
        "eval",
        "new-checkout",
        "--env",
        "prod",
        "--user",
        "u",
        "--at",
        "HEAD~1",
    ]);
    assert_eq!(earlier.code, 0, "{earlier:?}");
}

#[test]
fn bad_input_is_a_clear_error() {
    let repo = Repo::new();
    let unknown = repo.flagctl(&["eval", "new-chekout", "--env", "prod", "--user", "u"]);
    assert_eq!(unknown.code, 1);
    assert_eq!(
        unknown.stderr,
        "error: flag `new-chekout` does not exist\nhelp: did you mean `new-checkout`?\n"
    );
    let env = repo.flagctl(&["eval", "new-checkout", "--env", "qa", "--user", "u"]);
    assert_eq!(env.code, 1);
    assert!(
        env.stderr.starts_with("error: unknown environment `qa`"),
        "{}",
        env.stderr
    );
    let attr = repo.flagctl(&["eval", "new-checkout", "--env", "prod", "--attr", "country"]);
    assert_eq!(attr.code, 2);
    assert!(
        attr.stderr
            .contains("invalid attribute `country`: expected NAME=VALUE"),
        "{}",
        attr.stderr
    );
    let revision = repo.flagctl(&[
        "eval",
        "new-checkout",
        "--env",
        "prod",
        "--at",
        "no-such-branch",
    ]);
    assert_eq!(revision.code, 1, "{revision:?}");
    assert!(
        revision
            .stderr
            .contains("revision `no-such-branch` not found"),
        "{}",
        revision.stderr
    );
    repo.write("bad.json", "[1, 2]");
    let context = repo.flagctl(&[
        "eval",
        "new-checkout",
        "--env",
        "prod",
        "--context",
        "bad.json",
    ]);
    assert_eq!(context.code, 1);
    assert!(
        context
            .stderr
            .contains("an evaluation context must be a JSON object"),
        "{}",
        context.stderr
    );
    let neither = repo.flagctl(&["eval", "--env", "prod"]);
    assert_eq!(neither.code, 2);
}
