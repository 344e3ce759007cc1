//! The one test harness: temporary git repositories, and `git` and the
//! real `flagctl` binary run in them fully isolated from the user's and the
//! system's configuration, with a pinned identity, commit date and "today".

#![allow(dead_code, reason = "each test file uses a different part")]
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

pub mod cli;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicI64, Ordering};

use assert_cmd::cargo::CommandCargoExt;
use tempfile::TempDir;

/// The identity every test commit carries.
pub const NAME: &str = "Test Author";
/// Its email.
pub const EMAIL: &str = "author@example.com";
/// The commit date of commits made without [`git_command`]'s clock
/// (`flagctl` itself, [`cli::Repo`]'s `git`).
pub const DATE: &str = "2026-11-24T10:00:00Z";
/// "Today" for every `flagctl` run (`FLAGCTL_TODAY`): `expires` warnings
/// never depend on the real clock.
pub const TODAY: &str = "2026-11-24";

static CLOCK: AtomicI64 = AtomicI64::new(1_700_000_000);

/// Isolates a command (`git`, `flagctl`, or a wrapper running them) from
/// the user's and the system's configuration: `home` as `HOME` and
/// `XDG_CONFIG_HOME`, no global or system git config, no `GIT_DIR` or
/// `GIT_WORK_TREE` inherited, the C locale, a fixed identity and commit
/// date, `FLAGCTL_TODAY` pinned, and none of flagctl's own variables
/// inherited. Tests override single variables after calling this.
pub fn isolate(command: &mut Command, home: &Path) {
    command
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_SYSTEM", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", NAME)
        .env("GIT_AUTHOR_EMAIL", EMAIL)
        .env("GIT_COMMITTER_NAME", NAME)
        .env("GIT_COMMITTER_EMAIL", EMAIL)
        .env("GIT_AUTHOR_DATE", DATE)
        .env("GIT_COMMITTER_DATE", DATE)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("LC_ALL", "C")
        .env("FLAGCTL_TODAY", TODAY)
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .env_remove("EMAIL")
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR")
        .env_remove("CLICOLOR_FORCE")
        .env_remove("FLAGCTL_ROOT");
}

/// A `git` command in `dir`, isolated ([`isolate`]), with a date one minute
/// after the previous command's.
pub fn git_command(dir: &Path, home: &Path) -> Command {
    let date = format!("{} +0000", CLOCK.fetch_add(60, Ordering::SeqCst));
    let mut command = Command::new("git");
    isolate(&mut command, home);
    command
        .current_dir(dir)
        .env("GIT_AUTHOR_DATE", &date)
        .env("GIT_COMMITTER_DATE", &date);
    command
}

/// The `flagctl` binary in `dir`, isolated ([`isolate`]): the one way the
/// tests run it.
pub fn flagctl_command(dir: &Path, home: &Path) -> Command {
    let mut command = Command::cargo_bin("flagctl").expect("the binary is built");
    isolate(&mut command, home);
    command.current_dir(dir);
    command
}

/// What a run of `flagctl` did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Runs `command` to its end.
    pub fn of(mut command: Command) -> Run {
        Run::from(command.output().expect("the command runs"))
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.stdout))
    }

    /// Asserts success and returns self.
    #[track_caller]
    pub fn ok(self) -> Run {
        assert_eq!(self.code, 0, "{self:#?}");
        self
    }
}

impl From<Output> for Run {
    fn from(output: Output) -> Run {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

/// Whether the external `tool` a test needs is installed. When it is not,
/// the test fails, with what to install; outside CI (`CI` unset) a
/// developer may set `FLAGCTL_TEST_SKIP_MISSING_TOOLS=1` to skip it
/// instead (the skip is printed; CI never skips).
#[track_caller]
pub fn require_tool(tool: &str, package: &str) -> bool {
    let found = Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success());
    if found {
        return true;
    }
    let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty());
    let skip = std::env::var_os("FLAGCTL_TEST_SKIP_MISSING_TOOLS").is_some_and(|v| v == "1");
    if skip && !ci {
        eprintln!("SKIPPED: `{tool}` is not installed (package `{package}`)");
        return false;
    }
    panic!(
        "`{tool}` is not installed: install the package `{package}` (`.ci/run` does){}",
        if ci {
            ""
        } else {
            ", or set FLAGCTL_TEST_SKIP_MISSING_TOOLS=1 to skip this test"
        }
    );
}

/// A temporary directory with a temporary `HOME` beside it.
pub struct Sandbox {
    pub dir: TempDir,
    pub home: TempDir,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        Sandbox {
            dir: tempfile::tempdir().unwrap(),
            home: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Runs git in `dir` (relative to the sandbox), panicking on failure.
    pub fn git_in(&self, dir: &Path, args: &[&str]) -> String {
        let output = self.git_output(dir, args);
        assert!(
            output.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    pub fn git_output(&self, dir: &Path, args: &[&str]) -> Output {
        git_command(dir, self.home.path())
            .args(args)
            .output()
            .unwrap()
    }
}

/// A non-bare repository on branch `main`, with a local identity configured
/// so that libgit2 (which reads the repository's configuration) finds one.
pub struct TestRepo {
    pub sandbox: Sandbox,
    pub work: PathBuf,
}

impl TestRepo {
    pub fn new() -> TestRepo {
        let sandbox = Sandbox::new();
        let work = sandbox.path().join("repo");
        std::fs::create_dir_all(&work).unwrap();
        let repo = TestRepo { sandbox, work };
        repo.git(&["init", "-q", "-b", "main"]);
        repo.git(&["config", "user.name", NAME]);
        repo.git(&["config", "user.email", EMAIL]);
        repo
    }

    /// A repository with a flag root at `flags/` holding `flagctl.yaml` and
    /// one flag, committed.
    pub fn with_root() -> TestRepo {
        let repo = TestRepo::new();
        repo.write("flags/flagctl.yaml", "environments: [dev, prod]\n");
        repo.write("flags/base/a.yaml", "key: a\n");
        repo.write("README.md", "app\n");
        repo.commit_all("initial");
        repo
    }

    pub fn path(&self) -> &Path {
        &self.work
    }

    pub fn root(&self) -> PathBuf {
        self.work.join("flags")
    }

    pub fn git(&self, args: &[&str]) -> String {
        self.sandbox.git_in(&self.work, args)
    }

    pub fn git_output(&self, args: &[&str]) -> Output {
        self.sandbox.git_output(&self.work, args)
    }

    pub fn write(&self, path: &str, contents: &str) {
        let file = self.work.join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, contents).unwrap();
    }

    pub fn read(&self, path: &str) -> String {
        std::fs::read_to_string(self.work.join(path)).unwrap()
    }

    /// Writes `path` whole in one step (a file written beside the
    /// repository, then renamed into place), for a watcher that must never
    /// see it half written.
    pub fn write_atomically(&self, path: &str, contents: &str) {
        let file = self.work.join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        let partial = self.sandbox.path().join("partial-write");
        std::fs::write(&partial, contents).unwrap();
        std::fs::rename(&partial, file).unwrap();
    }

    /// Stages everything and commits with `git commit`; returns the new id.
    pub fn commit_all(&self, message: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--allow-empty", "-m", message]);
        self.head()
    }

    pub fn head(&self) -> String {
        self.git(&["rev-parse", "HEAD"]).trim().to_owned()
    }

    /// `git status --porcelain` output.
    pub fn status(&self) -> String {
        self.git(&["status", "--porcelain"])
    }
}
