//! A temporary git repository holding a copy of the bundled example root,
//! and the `flagctl` binary run in it through the harness of `common`
//! (fully isolated, "today" pinned).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use super::{Run, flagctl_command, isolate};

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

    /// A clone of `remote` (a path).
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

    pub fn root(&self) -> PathBuf {
        self.path().join("flags")
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

    /// `flagctl ARGS` in the repository, not yet run.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = flagctl_command(self.path(), self.home.path());
        command.args(args);
        command
    }

    pub fn flagctl(&self, args: &[&str]) -> Run {
        self.run(self.command(args))
    }

    /// Runs flagctl in `cwd` with extra variables.
    pub fn flagctl_in(&self, cwd: PathBuf, args: &[&str], env: &[(&str, &str)]) -> Run {
        self.flagctl_with_input(cwd, args, env, "")
    }

    /// Runs flagctl in `cwd` with extra variables and `input` on its
    /// standard input.
    pub fn flagctl_with_input(
        &self,
        cwd: PathBuf,
        args: &[&str],
        env: &[(&str, &str)],
        input: &str,
    ) -> Run {
        use std::io::Write;
        let mut command = self.command(args);
        command.current_dir(cwd);
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("flagctl runs");
        child
            .stdin
            .take()
            .expect("stdin piped")
            .write_all(input.as_bytes())
            .expect("write stdin");
        Run::from(child.wait_with_output().expect("flagctl finishes"))
    }

    pub fn run(&self, command: Command) -> Run {
        Run::of(command)
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
}
