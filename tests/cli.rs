//! The `flagctl` binary against temporary git repositories holding a copy of
//! the bundled example root: read-only commands (`validate`, `list`, `show`,
//! `build`), their formats, exit codes and errors.

mod common;
use common::cli::Repo;

const BROKEN_WEIGHTS: &str =
    "key: broken\ntype: boolean\ndefault:\n  rollout: { on: 60, off: 50 }\n";

#[test]
fn bundled_example_validates_with_only_the_expiry_warning() {
    // "Today" is pinned by the harness (`common::TODAY`, 2026-11-24).
    let repo = Repo::new();
    let run = repo.flagctl(&["validate"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        "\
warning[expired]: flag `legacy-export` expired on 2026-06-30 (147 days ago)
 --> flags/base/legacy-export.yaml:6:10
  |
6 | expires: 2026-06-30
  |          ^^^^^^^^^^
  |
  = help: remove the flag from the code and archive it, or move `expires` later

warning: 1 warning
valid: flags (9 flags, 3 segments, 3 environments)
"
    );
}

#[test]
fn today_comes_from_flagctl_today_when_set() {
    let repo = Repo::new();
    let root = repo.path().to_path_buf();
    // The day after `holiday-banner` expires.
    let later = repo.flagctl_in(
        root.clone(),
        &["validate", "--format", "json"],
        &[("FLAGCTL_TODAY", "2027-01-16")],
    );
    assert_eq!(later.code, 0, "{later:?}");
    let expired: Vec<String> = later.json()["diagnostics"]
        .as_array()
        .expect("list")
        .iter()
        .filter(|d| d["code"] == "expired")
        .map(|d| d["file"].as_str().expect("file").to_owned())
        .collect();
    assert_eq!(
        expired,
        ["base/holiday-banner.yaml", "base/legacy-export.yaml"],
        "{later:?}"
    );
    let expired_in_list = |today: &str| -> Vec<String> {
        let run = repo.flagctl_in(
            root.clone(),
            &["list", "--env", "prod", "--format", "json"],
            &[("FLAGCTL_TODAY", today)],
        );
        assert_eq!(run.code, 0, "{run:?}");
        run.json()["environments"][0]["flags"]
            .as_array()
            .expect("list")
            .iter()
            .filter(|f| f["expired"] == true)
            .map(|f| f["key"].as_str().expect("key").to_owned())
            .collect()
    };
    assert_eq!(expired_in_list("2026-06-01"), Vec::<String>::new());
    assert_eq!(expired_in_list("2026-11-24"), ["legacy-export"]);
    assert_eq!(
        expired_in_list("2027-04-01"),
        [
            "checkout-button-color",
            "holiday-banner",
            "legacy-export",
            "new-checkout"
        ]
    );

    for bad in ["tomorrow", "2026-13-01", ""] {
        let run = repo.flagctl_in(root.clone(), &["validate"], &[("FLAGCTL_TODAY", bad)]);
        assert_eq!(run.code, 2, "{run:?}");
        assert_eq!(
            run.stderr,
            format!(
                "error: invalid `FLAGCTL_TODAY` value `{bad}`: expected a date like `2026-11-24`\nhelp: set `FLAGCTL_TODAY` to a date (YYYY-MM-DD), or unset it to use the system clock\n"
            )
        );
    }
}

#[test]
fn invalid_flag_is_reported_with_file_line_column_and_caret() {
    let repo = Repo::new();
    repo.write("flags/base/broken.yaml", BROKEN_WEIGHTS);
    let run = repo.flagctl(&["validate"]);
    assert_eq!(run.code, 1, "{run:?}");
    let error = run
        .stderr
        .split("\n\n")
        .find(|block| block.contains("error[weights-sum]"))
        .unwrap_or_else(|| panic!("no weights-sum error in {}", run.stderr));
    insta::assert_snapshot!(error, @r"
    error[weights-sum]: rollout weights of flag `broken` sum to 110, expected 100
     --> flags/base/broken.yaml:4:12
      |
    4 |   rollout: { on: 60, off: 50 }
      |            ^^^^^^^^^^^^^^^^^^^
      |
      = help: make the weights add up to 100 (remove 10)
    ");
    assert!(
        run.stderr
            .contains("error: validation failed: 1 error in 1 file, 1 warning"),
        "{}",
        run.stderr
    );
}

#[test]
fn every_problem_of_a_run_is_reported() {
    let repo = Repo::new();
    repo.write("flags/base/broken.yaml", BROKEN_WEIGHTS);
    repo.write(
        "flags/base/typo.yaml",
        "key: typo\ntype: boolean\nrollot: 1\ndefault: on\n",
    );
    repo.write("flags/overlays/qa/typo.yaml", "enabled: false\n");
    let run = repo.flagctl(&["validate", "--format", "json"]);
    assert_eq!(run.code, 1, "{run:?}");
    let json = run.json();
    assert_eq!(json["valid"], false);
    let codes: Vec<&str> = json["diagnostics"]
        .as_array()
        .expect("list")
        .iter()
        .map(|d| d["code"].as_str().expect("code"))
        .collect();
    for code in [
        "weights-sum",
        "unknown-field",
        "unknown-environment",
        "expired",
    ] {
        assert!(codes.contains(&code), "{code} missing from {codes:?}");
    }
    let typo = json["diagnostics"]
        .as_array()
        .expect("list")
        .iter()
        .find(|d| d["code"] == "unknown-field")
        .expect("typo reported");
    assert_eq!(typo["file"], "base/typo.yaml");
    assert_eq!(typo["line"], 3);
    assert_eq!(typo["column"], 1);
    assert!(
        typo["help"]
            .as_str()
            .expect("help")
            .starts_with("the fields here are: key, description"),
        "{typo}"
    );
    assert_eq!(json["summary"]["errors"], 3);
}

#[test]
fn github_format_annotates_paths_from_the_repository_top() {
    let repo = Repo::new();
    repo.write("flags/base/broken.yaml", BROKEN_WEIGHTS);
    let run = repo.flagctl_in(
        repo.path().join("flags/base"),
        &["validate", "--format", "github"],
        &[],
    );
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stdout.contains(
            "::error file=flags/base/broken.yaml,line=4,col=12,endLine=4,endColumn=31,title=flagctl weights-sum::rollout weights of flag `broken` sum to 110, expected 100%0Ahelp: make the weights add up to 100 (remove 10)"
        ),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("::warning file=flags/base/legacy-export.yaml"),
        "{}",
        run.stdout
    );
}

#[test]
fn env_limits_validation_to_one_environment() {
    let repo = Repo::new();
    repo.write(
        "flags/overlays/prod/new-checkout.yaml",
        "default:\n  rollout: { on: 30 }\n",
    );
    let prod = repo.flagctl(&["validate", "--env", "prod"]);
    assert_eq!(prod.code, 1, "{prod:?}");
    assert!(
        prod.stderr
            .contains("--> flags/overlays/prod/new-checkout.yaml:2:12"),
        "{}",
        prod.stderr
    );
    assert!(prod.stderr.contains("(in `prod`)"), "{}", prod.stderr);
    let dev = repo.flagctl(&["validate", "--env", "dev"]);
    assert_eq!(dev.code, 0, "{dev:?}");
}

#[test]
fn unknown_environment_is_a_clear_error() {
    let repo = Repo::new();
    let run = repo.flagctl(&["list", "--env", "production"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(
        run.stderr,
        "error: unknown environment `production`\nhelp: did you mean `prod`? the environments are: dev, staging, prod\n"
    );
    assert!(run.stdout.is_empty());
}

#[test]
fn usage_errors_exit_2() {
    let repo = Repo::new();
    let run = repo.flagctl(&["validate", "--format", "xml"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("invalid value 'xml'"), "{}", run.stderr);
    let run = repo.flagctl(&["no-such-command"]);
    assert_eq!(run.code, 2, "{run:?}");
}

#[test]
fn root_is_found_from_subdirectories_or_given() {
    let repo = Repo::new();
    std::fs::create_dir_all(repo.path().join("src/deep")).expect("mkdir");
    let run = repo.flagctl_in(
        repo.path().join("src/deep"),
        &["list", "--env", "dev", "--format", "json"],
        &[],
    );
    assert_eq!(run.code, 0, "{run:?}");
    let outside = Repo::empty();
    let run = outside.flagctl(&["validate"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.starts_with("error: no flag root in `"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("help: run `flagctl init` to create one, or pass `--root DIR`"),
        "{}",
        run.stderr
    );
    let root = repo.path().join("flags");
    let run = outside.flagctl(&["--root", root.to_str().expect("utf-8"), "validate"]);
    assert_eq!(run.code, 0, "{run:?}");
    let run = outside.flagctl(&[
        "--root",
        outside.path().to_str().expect("utf-8"),
        "validate",
    ]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr
            .contains("is not a flag root: it has no `flagctl.yaml`"),
        "{}",
        run.stderr
    );
}

#[test]
fn list_shows_what_each_environment_serves() {
    let repo = Repo::new();
    let run = repo.flagctl(&["list", "--env", "prod"]);
    assert_eq!(run.code, 0, "{run:?}");
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines[0], "prod (protected)");
    assert!(
        lines[1].contains("KEY") && lines[1].contains("SERVES") && lines[1].contains("EXPIRES")
    );
    let checkout = lines
        .iter()
        .find(|l| l.contains("new-checkout"))
        .expect("row");
    assert!(checkout.contains("on 25% / off 75%"), "{checkout}");
    assert!(checkout.contains("payments"), "{checkout}");
    let expired = lines
        .iter()
        .find(|l| l.contains("legacy-export"))
        .expect("row");
    assert!(expired.contains("2026-06-30 (expired)"), "{expired}");

    let all = repo.flagctl(&["list", "--format", "json"]).json();
    let names: Vec<&str> = all["environments"]
        .as_array()
        .expect("list")
        .iter()
        .map(|e| e["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["dev", "staging", "prod"]);
    let dev_checkout = all["environments"][0]["flags"]
        .as_array()
        .expect("flags")
        .iter()
        .find(|f| f["key"] == "new-checkout")
        .expect("flag");
    assert_eq!(dev_checkout["serves"], "on");
    assert_eq!(dev_checkout["rules"], 2);
    assert_eq!(dev_checkout["targets"], 2);
}

#[test]
fn disabled_flag_lists_its_off_variant() {
    let repo = Repo::new();
    repo.write(
        "flags/overlays/prod/recommendations-panel.yaml",
        "enabled: false\n",
    );
    let json = repo
        .flagctl(&["list", "--env", "prod", "--format", "json"])
        .json();
    let panel = json["environments"][0]["flags"]
        .as_array()
        .expect("flags")
        .iter()
        .find(|f| f["key"] == "recommendations-panel")
        .expect("flag");
    assert_eq!(panel["enabled"], false);
    assert_eq!(panel["serves"], "off (disabled)");
}

#[test]
fn show_marks_overlay_values() {
    let repo = Repo::new();
    let run = repo.flagctl(&["show", "new-checkout"]);
    assert_eq!(run.code, 0, "{run:?}");
    let default = run
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("default"))
        .expect("default row");
    assert!(
        default.contains("on *") && default.contains("on 25% / off 75% *"),
        "{default}"
    );
    assert!(
        run.stdout
            .contains("* set by an overlay (flags/overlays/<env>/new-checkout.yaml)")
    );

    let one = repo.flagctl(&["show", "new-checkout", "--env", "prod"]);
    assert_eq!(one.code, 0, "{one:?}");
    assert!(
        one.stdout
            .contains("in prod: base + flags/overlays/prod/new-checkout.yaml"),
        "{}",
        one.stdout
    );
    let rollout = one
        .stdout
        .lines()
        .find(|l| l.contains("rollout: { on: 25, off: 75 }"))
        .expect("line");
    assert!(
        rollout.ends_with("# flags/overlays/prod/new-checkout.yaml:4"),
        "{rollout}"
    );

    let json = repo
        .flagctl(&["show", "new-checkout", "--format", "json"])
        .json();
    let prod = &json["environments"][2];
    assert_eq!(prod["name"], "prod");
    assert_eq!(prod["overlay"], "overlays/prod/new-checkout.yaml");
    assert_eq!(prod["flag"]["default"]["rollout"]["on"], 25);
    let pointers: Vec<&str> = prod["overrides"]
        .as_array()
        .expect("list")
        .iter()
        .map(|o| o["pointer"].as_str().expect("pointer"))
        .collect();
    assert_eq!(pointers, ["/default/rollout/on", "/default/rollout/off"]);
    assert_eq!(
        prod["overrides"][0]["source"],
        "overlays/prod/new-checkout.yaml:4:18"
    );
}

#[test]
fn show_unknown_flag_suggests_a_key() {
    let repo = Repo::new();
    let run = repo.flagctl(&["show", "new-chekout"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(
        run.stderr,
        "error: flag `new-chekout` does not exist\nhelp: did you mean `new-checkout`?\n"
    );
}

#[test]
fn build_writes_a_verified_snapshot() {
    let repo = Repo::new();
    let output = repo.path().join("prod.json");
    let run = repo.flagctl(&[
        "build",
        "--env",
        "prod",
        "-o",
        output.to_str().expect("utf-8"),
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    let bytes = std::fs::read(&output).expect("written");
    let snapshot =
        flagctl::format::snapshot::SnapshotFile::from_json(&bytes).expect("valid snapshot");
    assert_eq!(snapshot.environment, "prod");
    assert_eq!(snapshot.flags.len(), 9);
    assert!(snapshot.digest.starts_with("sha256:"));
    let checkout = &snapshot.flags["new-checkout"];
    assert_eq!(checkout.default_summary(), "on 25% / off 75%");
    // Building to stdout gives the same content.
    let stdout = repo.flagctl(&["build", "--env", "prod"]);
    assert_eq!(stdout.stdout.as_bytes(), bytes.as_slice());
}

#[test]
fn build_records_the_source_commit_and_dirtiness() {
    let repo = Repo::new();
    let head = repo.git(&["rev-parse", "HEAD"]);
    let clean = repo.flagctl(&["build", "--env", "dev"]).json();
    assert_eq!(clean["source"]["commit"], head.trim());
    assert_eq!(clean["source"]["dirty"], false);
    // Edits outside the flag root do not make the flags dirty; inside they do.
    repo.write("README.md", "hello\n");
    assert_eq!(
        repo.flagctl(&["build", "--env", "dev"]).json()["source"]["dirty"],
        false
    );
    repo.write(
        "flags/overlays/dev/recommendations-panel.yaml",
        "enabled: false\n",
    );
    let dirty = repo.flagctl(&["build", "--env", "dev"]).json();
    assert_eq!(dirty["source"]["dirty"], true);
    assert_eq!(dirty["flags"]["recommendations-panel"]["enabled"], false);
    assert_ne!(dirty["digest"], clean["digest"]);
}

#[test]
fn init_scaffolds_a_root_and_a_repository() {
    let dir = Repo::empty();
    let run = dir.flagctl(&["init"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout
            .starts_with("initialized a git repository in .\ncreated flag root flags\n"),
        "{}",
        run.stdout
    );
    assert!(dir.path().join(".git").is_dir());
    for file in [
        "flags/flagctl.yaml",
        "flags/base/example-feature.yaml",
        "flags/schemas/flag.schema.json",
        "flags/overlays/prod/.gitkeep",
    ] {
        assert!(dir.path().join(file).is_file(), "{file} missing");
    }
    let validate = dir.flagctl(&["validate"]);
    assert_eq!(validate.code, 0, "{validate:?}");
    assert!(
        validate
            .stderr
            .contains("valid: flags (1 flag, 0 segments, 3 environments)"),
        "{}",
        validate.stderr
    );
    let prod = dir
        .flagctl(&["list", "--env", "prod", "--format", "json"])
        .json();
    assert_eq!(prod["environments"][0]["protected"], true);

    // Never over an existing root, never into a non-empty directory.
    let again = dir.flagctl(&["init"]);
    assert_eq!(again.code, 1, "{again:?}");
    assert_eq!(
        again.stderr,
        "error: `flags` is already a flag root\nhelp: edit it, or choose another directory\n"
    );
    std::fs::create_dir_all(dir.path().join("busy")).expect("mkdir");
    std::fs::write(dir.path().join("busy/notes.txt"), "mine").expect("write");
    let busy = dir.flagctl(&["init", "busy"]);
    assert_eq!(busy.code, 1, "{busy:?}");
    assert!(
        busy.stderr.contains("exists and is not empty"),
        "{}",
        busy.stderr
    );
    assert_eq!(
        std::fs::read_dir(dir.path().join("busy"))
            .expect("dir")
            .count(),
        1
    );
}

#[test]
fn init_inside_a_repository_reuses_it() {
    let repo = Repo::new();
    let run = repo.flagctl(&["init", "config/flags"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.starts_with("created flag root config/flags\n"),
        "{}",
        run.stdout
    );
    assert!(!repo.path().join("config/.git").exists());
    let run = repo.flagctl(&["--root", "config/flags", "validate"]);
    assert_eq!(run.code, 0, "{run:?}");
}

#[test]
fn build_refuses_an_invalid_environment_and_writes_nothing() {
    let repo = Repo::new();
    repo.write(
        "flags/overlays/prod/new-checkout.yaml",
        "default:\n  rollout: { on: 30 }\n",
    );
    let output = repo.path().join("prod.json");
    let run = repo.flagctl(&[
        "build",
        "--env",
        "prod",
        "-o",
        output.to_str().expect("utf-8"),
    ]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("error[weights-sum]"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("error: cannot build `prod`: the flags have errors"),
        "{}",
        run.stderr
    );
    assert!(!output.exists());
    // Other environments still build.
    let dev = repo.flagctl(&["build", "--env", "dev"]);
    assert_eq!(dev.code, 0, "{dev:?}");
}

#[test]
fn colours_follow_the_flag_and_no_color() {
    let repo = Repo::new();
    let plain = repo.flagctl(&["validate"]);
    assert!(
        !plain.stderr.contains('\u{1b}'),
        "non-terminal output has no colour"
    );
    let forced = repo.flagctl(&["--color", "always", "validate"]);
    assert!(forced.stderr.contains('\u{1b}'), "{}", forced.stderr);
    let no_color = repo.flagctl_in(
        repo.path().to_path_buf(),
        &["validate"],
        &[("NO_COLOR", "1")],
    );
    assert!(!no_color.stderr.contains('\u{1b}'));
    let never = repo.flagctl(&["--color", "never", "validate"]);
    assert!(!never.stderr.contains('\u{1b}'));
}

#[test]
fn help_teaches_with_examples() {
    let repo = Repo::new();
    for command in ["init", "validate", "list", "show", "build"] {
        let run = repo.flagctl(&[command, "--help"]);
        assert_eq!(run.code, 0, "{run:?}");
        assert!(
            run.stdout.contains("Examples:"),
            "{command}: {}",
            run.stdout
        );
        assert!(
            run.stdout.contains(&format!("flagctl {command}")),
            "{command}"
        );
    }
    let top = repo.flagctl(&["--help"]);
    assert!(
        top.stdout.contains("Exit codes: 0 ok, 1 failure"),
        "{}",
        top.stdout
    );
}
