//! Temporary git repositories for the store's integration tests, with git
//! isolated from the user's configuration.

#![allow(dead_code, reason = "each test file uses a different part")]
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

pub mod cli;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicI64, Ordering};

use tempfile::TempDir;

/// The identity every test commit made with the `git` CLI carries.
pub const NAME: &str = "Test Author";
/// Its email.
pub const EMAIL: &str = "author@example.com";

static CLOCK: AtomicI64 = AtomicI64::new(1_700_000_000);

/// A `git` command isolated from the user's and the system's configuration,
/// with a fixed identity and a date one minute after the previous command's.
pub fn git_command(dir: &Path, home: &Path) -> Command {
    let date = format!("{} +0000", CLOCK.fetch_add(60, Ordering::SeqCst));
    let mut command = Command::new("git");
    command
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_SYSTEM", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home)
        .env("GIT_AUTHOR_NAME", NAME)
        .env("GIT_AUTHOR_EMAIL", EMAIL)
        .env("GIT_COMMITTER_NAME", NAME)
        .env("GIT_COMMITTER_EMAIL", EMAIL)
        .env("GIT_AUTHOR_DATE", &date)
        .env("GIT_COMMITTER_DATE", &date)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("LC_ALL", "C")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE");
    command
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
