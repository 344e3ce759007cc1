//! For the tests of the commands that change flags: a temporary git
//! repository holding a copy of the bundled example root, and the
//! `flagctl` binary run in it, with git isolated from the user's
//! configuration (temporary `HOME`, no global or system config, a fixed
//! identity through the environment).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use assert_cmd::cargo::CommandCargoExt;

/// The identity of commits made by the tests.
pub const NAME: &str = "Test Author";
/// Its email.
pub const EMAIL: &str = "author@example.com";

/// A repository and a home directory, both temporary.
pub struct Repo {
    pub dir: tempfile::TempDir,
    pub home: tempfile::TempDir,
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// What a run of `flagctl` did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
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

/// Sets the isolated git environment on a command.
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
        .env("GIT_AUTHOR_DATE", "2026-11-24T10:00:00Z")
        .env("GIT_COMMITTER_DATE", "2026-11-24T10:00:00Z")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("LC_ALL", "C")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .env_remove("EMAIL")
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE")
        .env_remove("FLAGCTL_ROOT");
}

impl Repo {
    /// The bundled example root in `flags/` and the schemas in `schemas/`,
    /// committed on `main`.
    pub fn new() -> Repo {
        let repo = Repo::empty();
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
        copy_dir(&manifest.join("flags"), &repo.path().join("flags"));
        copy_dir(&manifest.join("schemas"), &repo.path().join("schemas"));
        repo.git(&["init", "-q", "-b", "main"]);
        repo.git(&["add", "."]);
        repo.git(&["commit", "-q", "-m", "Add flags"]);
        repo
    }

    /// An empty directory (no repository).
    pub fn empty() -> Repo {
        Repo {
            dir: tempfile::tempdir().unwrap(),
            home: tempfile::tempdir().unwrap(),
        }
    }

    /// A clone of `remote` (a path) in `name` beside the sandbox's repository.
    pub fn clone_of(remote: &Path) -> Repo {
        let repo = Repo::empty();
        let mut command = Command::new("git");
        isolate(&mut command, repo.home.path());
        let output = command
            .arg("clone")
            .arg("-q")
            .arg(remote)
            .arg(repo.path())
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        repo
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn git_output(&self, args: &[&str]) -> Output {
        let mut command = Command::new("git");
        isolate(&mut command, self.home.path());
        command
            .current_dir(self.path())
            .args(args)
            .output()
            .unwrap()
    }

    #[track_caller]
    pub fn git(&self, args: &[&str]) -> String {
        let output = self.git_output(args);
        assert!(
            output.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    pub fn write(&self, path: &str, text: &str) {
        let path = self.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    pub fn read(&self, path: &str) -> String {
        std::fs::read_to_string(self.path().join(path)).unwrap()
    }

    pub fn exists(&self, path: &str) -> bool {
        self.path().join(path).exists()
    }

    pub fn head(&self) -> String {
        self.git(&["rev-parse", "HEAD"]).trim().to_owned()
    }

    /// `git status --porcelain` (untracked files included).
    pub fn status(&self) -> String {
        self.git(&["status", "--porcelain"])
    }

    /// The last commit's message.
    pub fn message(&self) -> String {
        self.git(&["log", "-1", "--format=%B"])
    }

    /// The last commit's patch, without its header.
    pub fn patch(&self) -> String {
        self.git(&["show", "--format=", "HEAD"])
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::cargo_bin("flagctl").unwrap();
        isolate(&mut command, self.home.path());
        command.current_dir(self.path()).args(args);
        command
    }

    pub fn flagctl(&self, args: &[&str]) -> Run {
        self.run(self.command(args))
    }

    pub fn run(&self, mut command: Command) -> Run {
        let output = command.output().unwrap();
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Runs flagctl expecting a refusal: exit 1, an `error:` line and a
    /// `help:` line on stderr and nothing else, HEAD and the working tree
    /// unchanged. Returns the error line.
    #[track_caller]
    pub fn refused(&self, args: &[&str]) -> String {
        self.refused_by(self.command(args))
    }

    #[track_caller]
    pub fn refused_by(&self, command: Command) -> String {
        let head = self.git_output(&["rev-parse", "HEAD"]).stdout;
        let status = self.status();
        let run = self.run(command);
        assert_eq!(run.code, 1, "{run:#?}");
        let lines: Vec<&str> = run.stderr.lines().collect();
        assert_eq!(lines.len(), 2, "one error and one help line: {run:#?}");
        assert!(lines[0].starts_with("error: "), "{run:#?}");
        assert!(lines[1].starts_with("help: "), "{run:#?}");
        assert!(run.stdout.is_empty(), "{run:#?}");
        assert_eq!(
            self.git_output(&["rev-parse", "HEAD"]).stdout,
            head,
            "HEAD moved"
        );
        assert_eq!(self.status(), status, "the working tree changed");
        run.stderr
    }

    pub fn root(&self) -> PathBuf {
        self.path().join("flags")
    }
}
