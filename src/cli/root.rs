//! Finding and loading the flag root for a command.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::cli::output::{self, PathDisplay};
use crate::cli::{Globals, UserError};
use crate::diagnostic::Diagnostic;
use crate::format::{CONFIG_FILE, LoadOptions, Loaded, RootFiles, discover_root, load};

/// A loaded flag root.
pub struct OpenRoot {
    /// The root directory (absolute).
    pub dir: PathBuf,
    /// How to show paths inside it.
    pub paths: PathDisplay,
    /// Its files.
    pub files: RootFiles,
    /// What loading found.
    pub loaded: Loaded,
}

fn current_dir() -> anyhow::Result<PathBuf> {
    std::env::current_dir()
        .map_err(|e| anyhow::Error::new(e).context("cannot read the current directory"))
}

/// Where the flag root is: `--root`, or discovered from the current directory.
pub fn locate(globals: &Globals) -> anyhow::Result<PathBuf> {
    let cwd = current_dir()?;
    match &globals.root {
        Some(root) => {
            let root = cwd.join(root);
            if root.join(CONFIG_FILE).is_file() {
                Ok(root)
            } else if root.join("flags").join(CONFIG_FILE).is_file() {
                Ok(root.join("flags"))
            } else if !root.is_dir() {
                Err(UserError::new(format!("`{}` is not a directory", root.display()))
                    .help("pass `--root` the directory that holds `flagctl.yaml`")
                    .into())
            } else {
                Err(UserError::new(format!(
                    "`{}` is not a flag root: it has no `{CONFIG_FILE}`",
                    root.display()
                ))
                .help("pass `--root` the directory that holds `flagctl.yaml`, or create one with `flagctl init`")
                .into())
            }
        }
        None => discover_root(&cwd).ok_or_else(|| {
            UserError::new(format!(
                "no flag root in `{}` or above (looked for `{CONFIG_FILE}` and `flags/{CONFIG_FILE}`)",
                cwd.display()
            ))
            .help("run `flagctl init` to create one, or pass `--root DIR`")
            .into()
        }),
    }
}

/// How to show a directory to the user: relative to the current directory
/// when below it.
pub fn display_dir(dir: &Path) -> PathBuf {
    match std::env::current_dir() {
        Ok(cwd) => match dir.strip_prefix(&cwd) {
            Ok(relative) => relative.to_path_buf(),
            Err(_) => dir.to_path_buf(),
        },
        Err(_) => dir.to_path_buf(),
    }
}

/// How every command loads a root: `expires` compared with today.
pub fn load_options(globals: &Globals) -> LoadOptions {
    LoadOptions {
        today: Some(globals.today),
        ..LoadOptions::default()
    }
}

/// Finds, reads and loads the flag root.
pub fn open(globals: &Globals) -> anyhow::Result<OpenRoot> {
    let dir = locate(globals)?;
    let files = RootFiles::from_dir(&dir).map_err(|e| {
        anyhow::Error::new(e).context(format!("cannot read the flag root `{}`", dir.display()))
    })?;
    let loaded = load(&files, &load_options(globals));
    Ok(OpenRoot {
        paths: PathDisplay {
            root: display_dir(&dir),
        },
        dir,
        files,
        loaded,
    })
}

impl OpenRoot {
    /// Checks that `environment` is one of the root's environments.
    pub fn check_environment(&self, environment: &str) -> Result<(), UserError> {
        let names = self.loaded.environment_names();
        if names.is_empty() || names.contains(&environment) {
            return Ok(());
        }
        let help = match crate::format::schema::closest(environment, names.iter().copied()) {
            Some(suggestion) => format!(
                "did you mean `{suggestion}`? the environments are: {}",
                names.join(", ")
            ),
            None => format!("the environments are: {}", names.join(", ")),
        };
        Err(UserError::new(format!("unknown environment `{environment}`")).help(help))
    }

    /// The diagnostics that concern `environment` (those of every
    /// environment when `None`).
    pub fn diagnostics_for(&self, environment: Option<&str>) -> Vec<Diagnostic> {
        self.loaded
            .diagnostics
            .iter()
            .filter(|d| match (environment, &d.environment) {
                (Some(wanted), Some(found)) => wanted == found,
                _ => true,
            })
            .cloned()
            .collect()
    }

    /// Prints the errors among `diagnostics` to stderr with a summary line,
    /// for commands that cannot go on with an invalid root.
    pub fn print_problems(&self, diagnostics: &[Diagnostic], color: bool) -> std::io::Result<()> {
        let errors: Vec<Diagnostic> = diagnostics
            .iter()
            .filter(|d| d.is_error())
            .cloned()
            .collect();
        let mut stderr = anstream::stderr().lock();
        stderr
            .write_all(output::render_text(&errors, &self.files, &self.paths, color).as_bytes())?;
        let summary = crate::diagnostic::Summary::of(&errors);
        writeln!(stderr, "{}", output::summary_line(&summary, color))
    }

    /// The environments a command covers: the one asked for, or all.
    pub fn environments(&self, environment: Option<&str>) -> Result<Vec<String>, UserError> {
        match environment {
            Some(environment) => {
                self.check_environment(environment)?;
                Ok(vec![environment.to_owned()])
            }
            None => Ok(self
                .loaded
                .environment_names()
                .into_iter()
                .map(str::to_owned)
                .collect()),
        }
    }
}

/// The top of the git work tree containing `dir`, found by looking for `.git`.
pub fn git_toplevel(dir: &Path) -> Option<PathBuf> {
    dir.ancestors()
        .find(|d| d.join(".git").exists())
        .map(Path::to_path_buf)
}

/// A store error as the user sees it: the message, and the store's help
/// line when it has one.
pub fn store_error(error: &crate::store::StoreError) -> UserError {
    let mut message = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    let user = UserError::new(message);
    match error.help() {
        Some(help) => user.help(help),
        None => user,
    }
}
