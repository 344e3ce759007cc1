//! The only module that touches git: it reads a flag root's files at any
//! revision, commits one change at a time safely, reads history as the audit
//! log, and runs `git fetch` / `git push` through the system `git`.
//!
//! Everything local goes through libgit2 ([`git2`]); fetch and push run the
//! `git` binary so that the user's credentials, ssh configuration and hooks
//! apply. This module never evaluates flags, never prints and never exits: it
//! returns values and [`StoreError`]s.
//!
//! Paths in this API are **root-relative** with `/` separators
//! (`base/new-checkout.yaml`), like [`RootFiles`]; a [`Store`] remembers where
//! the flag root sits in the repository (the top, or a `flags/` directory).
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use flagctl::store::{Author, ChangeRequest, CommitMessage, Store};
//!
//! let dir = tempfile::tempdir()?;
//! let repo = dir.path();
//! std::process::Command::new("git").args(["init", "-q", "-b", "main"]).arg(repo).status()?;
//! std::fs::create_dir(repo.join("flags"))?;
//!
//! let store = Store::discover(&repo.join("flags"))?;
//! let message = CommitMessage::new("new flag new-checkout")
//!     .trailer("Flagctl-Action", "new")
//!     .trailer("Flagctl-Flag", "new-checkout");
//! let outcome = store.commit_change(&ChangeRequest {
//!     files: vec![("base/new-checkout.yaml".into(), Some(b"key: new-checkout\n".to_vec()))],
//!     message: message.to_string(),
//!     author: Some(Author::parse("Jane Doe <jane@example.com>")?),
//!     expected_head: None,
//! })?;
//!
//! let files = store.read_root_at("HEAD")?;
//! assert_eq!(files.get("base/new-checkout.yaml"), Some(&b"key: new-checkout\n"[..]));
//! assert_eq!(store.resolve("HEAD")?.id, outcome.id);
//! # Ok(())
//! # }
//! ```

mod cache;
mod commit;
mod error;
mod history;
mod message;
mod read;
mod refs;
mod remote;
mod revision;
mod scoped;
mod treediff;
#[cfg(feature = "edit")]
mod valid_trees;

use std::path::{Component, Path, PathBuf};

use git2::{Repository, RepositoryState};

pub use commit::{
    Author, ChangeRequest, CommitOutcome, ConflictError, WorktreeSync, is_conflict_error,
};
pub use error::{GitError, RemoteErrorKind, StoreError};
pub use history::{HistoryEntry, HistoryQuery, PathChange, RevertChange, RevertPlan};
pub use message::{
    CommitMessage, TRAILER_ACTION, TRAILER_ENV, TRAILER_FLAG, Trailer, parse_trailers,
};
pub use read::{CommitInfo, Head, PathStatus, Person, WorktreeState};
pub use refs::{ReferencePath, branch_reference};
pub use remote::{CacheFetch, PushOutcome, fetch_into_cache};
pub use revision::{ParseRevisionIdError, RevisionId};

use crate::format::RootFiles;
use error::GitContext;
#[cfg(feature = "edit")]
pub(crate) use valid_trees::ValidTrees;

/// A flag root inside a git repository: the entry point of this module.
///
/// A `Store` owns an open repository (it is `Send`, not `Sync`: open one per
/// thread). Reading works in any repository, bare ones included (see
/// [`Store::open`]); committing and status need a working tree.
///
/// Opening a `Store` turns off libgit2's re-hashing of every object it reads
/// (a process-wide libgit2 setting): git itself checks object ids only in
/// `git fsck`, and hashing each version of a directory of 10,000 flags
/// doubles the cost of reading history.
pub struct Store {
    repo: Repository,
    /// The canonical working tree, when there is one.
    workdir: Option<PathBuf>,
    /// The flag root relative to the top of the repository, `/`-separated,
    /// without a trailing slash; empty when the root is the top.
    root: String,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("git_dir", &self.repo.path())
            .field("workdir", &self.workdir)
            .field("root", &self.root)
            .finish()
    }
}

impl Store {
    /// Finds the repository that contains the flag root directory `root` and
    /// remembers where the root sits in its working tree.
    ///
    /// `root` must exist. The root may be the top of the work tree or any
    /// directory below it (usually `flags/`).
    ///
    /// # Errors
    ///
    /// [`StoreError::NotARepository`] when no repository contains `root`,
    /// [`StoreError::BareRepository`] for a bare one, and
    /// [`StoreError::RootOutsideWorkTree`] when `root` is inside the git
    /// directory rather than the work tree.
    pub fn discover(root: &Path) -> Result<Store, StoreError> {
        configure_libgit2();
        let absolute = root.canonicalize().map_err(|source| StoreError::Io {
            action: "open",
            path: root.to_path_buf(),
            source,
        })?;
        let repo =
            Repository::discover(&absolute).map_err(|source| StoreError::NotARepository {
                path: root.to_path_buf(),
                source: GitError::new(source),
            })?;
        let Some(workdir) = repo.workdir() else {
            return Err(StoreError::BareRepository {
                path: repo.path().to_path_buf(),
                operation: "opening a flag root",
            });
        };
        let workdir = workdir.canonicalize().map_err(|source| StoreError::Io {
            action: "open",
            path: workdir.to_path_buf(),
            source,
        })?;
        let outside = || StoreError::RootOutsideWorkTree {
            root: absolute.clone(),
            workdir: workdir.clone(),
        };
        let relative = absolute.strip_prefix(&workdir).map_err(|_| outside())?;
        let mut parts = Vec::new();
        for component in relative.components() {
            match component {
                Component::Normal(part) => {
                    let part = part.to_str().ok_or_else(|| StoreError::InvalidPath {
                        path: relative.display().to_string(),
                        reason: "it is not valid UTF-8",
                    })?;
                    if part == ".git" {
                        return Err(outside());
                    }
                    parts.push(part.to_owned());
                }
                _ => return Err(outside()),
            }
        }
        Ok(Store {
            repo,
            workdir: Some(workdir),
            root: parts.join("/"),
        })
    }

    /// Opens the repository at exactly `repository` (a work tree or a git
    /// directory, bare repositories included) with the flag root at `root`,
    /// a `/`-separated path relative to the top of the repository (`""` for
    /// the top, `"flags"`).
    ///
    /// This is how a runtime client reads a cache filled by
    /// [`fetch_into_cache`]. In a bare repository only reading works.
    pub fn open(repository: &Path, root: &str) -> Result<Store, StoreError> {
        configure_libgit2();
        let repo = Repository::open(repository).map_err(|source| StoreError::NotARepository {
            path: repository.to_path_buf(),
            source: GitError::new(source),
        })?;
        let root = root.trim_matches('/');
        if !root.is_empty() {
            validate_relative(root)?;
        }
        let workdir = match repo.workdir() {
            Some(dir) => Some(dir.canonicalize().map_err(|source| StoreError::Io {
                action: "open",
                path: dir.to_path_buf(),
                source,
            })?),
            None => None,
        };
        Ok(Store {
            repo,
            workdir,
            root: root.to_owned(),
        })
    }

    /// The flag root relative to the top of the repository (`""` or `flags`).
    pub fn root(&self) -> &str {
        &self.root
    }

    /// The repository's working tree, unless it is bare.
    pub fn workdir(&self) -> Option<&Path> {
        self.workdir.as_deref()
    }

    /// The flag root's directory in the working tree, unless the repository is bare.
    pub fn root_dir(&self) -> Option<PathBuf> {
        let workdir = self.workdir.as_ref()?;
        Some(if self.root.is_empty() {
            workdir.clone()
        } else {
            workdir.join(&self.root)
        })
    }

    /// The repository's git directory (`.git`, or the bare repository itself).
    pub fn git_dir(&self) -> &Path {
        self.repo.path()
    }

    /// Turns a root-relative path into a repository-relative one, checking it.
    fn repo_path(&self, root_relative: &str) -> Result<String, StoreError> {
        validate_relative(root_relative)?;
        Ok(self.join_root(root_relative))
    }

    /// Joins the root prefix and a root-relative path (unchecked).
    fn join_root(&self, root_relative: &str) -> String {
        if self.root.is_empty() {
            root_relative.to_owned()
        } else if root_relative.is_empty() {
            self.root.clone()
        } else {
            format!("{}/{}", self.root, root_relative)
        }
    }

    /// Turns a repository-relative path into a root-relative one, if it lies
    /// under the root.
    fn strip_root<'p>(&self, repo_path: &'p str) -> Option<&'p str> {
        if self.root.is_empty() {
            return Some(repo_path);
        }
        repo_path
            .strip_prefix(self.root.as_str())
            .and_then(|rest| rest.strip_prefix('/'))
    }

    /// The working tree, or the error for a bare repository.
    fn require_workdir(&self, operation: &'static str) -> Result<&Path, StoreError> {
        self.workdir
            .as_deref()
            .ok_or_else(|| StoreError::BareRepository {
                path: self.repo.path().to_path_buf(),
                operation,
            })
    }

    /// Refuses while a merge, rebase, cherry-pick, revert or `git am` is in progress.
    fn require_clean_state(&self, operation: &'static str) -> Result<(), StoreError> {
        let state = match self.repo.state() {
            RepositoryState::Clean | RepositoryState::Bisect => return Ok(()),
            RepositoryState::Merge => "merge",
            RepositoryState::Revert | RepositoryState::RevertSequence => "revert",
            RepositoryState::CherryPick | RepositoryState::CherryPickSequence => "cherry-pick",
            RepositoryState::Rebase
            | RepositoryState::RebaseInteractive
            | RepositoryState::RebaseMerge => "rebase",
            RepositoryState::ApplyMailbox | RepositoryState::ApplyMailboxOrRebase => "am",
        };
        Err(StoreError::OperationInProgress { state, operation })
    }

    /// Whether HEAD points at a branch that has no commit yet.
    fn is_unborn(&self) -> bool {
        matches!(self.repo.head(), Err(e) if e.code() == git2::ErrorCode::UnbornBranch)
    }

    /// The full name of the branch HEAD points at (`refs/heads/main`), which
    /// may not exist yet in a repository without commits.
    fn current_branch(&self, operation: &'static str) -> Result<String, StoreError> {
        let head = self.repo.find_reference("HEAD").context("read HEAD")?;
        match head.symbolic_target_bytes() {
            Some(target) => Ok(String::from_utf8_lossy(target).into_owned()),
            None => Err(StoreError::DetachedHead {
                id: head
                    .target()
                    .map(|id| error::short(RevisionId::from_oid(id)))
                    .unwrap_or_default(),
                operation,
            }),
        }
    }
}

/// Process-wide libgit2 settings, applied once.
/// Creates an empty git repository at `path` (`git init`), with git's
/// configured default branch name.
pub fn init_repository(path: &Path) -> Result<(), StoreError> {
    configure_libgit2();
    Repository::init(path)
        .map(|_| ())
        .map_err(|source| StoreError::Git {
            context: format!("initializing a repository in `{}`", path.display()),
            source: GitError::new(source),
        })
}

fn configure_libgit2() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| git2::opts::strict_hash_verification(false));
}

/// Checks a root-relative path: not empty, no leading or trailing `/`, no
/// `.`, `..` or `.git` components, no backslashes or NUL bytes.
fn validate_relative(path: &str) -> Result<(), StoreError> {
    let invalid = |reason| StoreError::InvalidPath {
        path: path.to_owned(),
        reason,
    };
    if path.is_empty() {
        return Err(invalid("it is empty"));
    }
    if path.contains('\\') || path.contains('\0') {
        return Err(invalid("use `/` as the separator"));
    }
    if path.starts_with('/') {
        return Err(invalid("it must be relative to the flag root"));
    }
    for part in path.split('/') {
        match part {
            "" => return Err(invalid("it has an empty component")),
            "." | ".." => return Err(invalid("it must stay inside the flag root")),
            _ if part.eq_ignore_ascii_case(".git") => {
                return Err(invalid("it must not name git's own directory"));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Reads the root's documents out of `tree` (the root's own tree).
fn collect_documents(repo: &Repository, tree: &git2::Tree<'_>) -> Result<RootFiles, StoreError> {
    let mut files = RootFiles::new();
    collect_into(repo, tree, "", 0, &mut files)?;
    Ok(files)
}

fn collect_into(
    repo: &Repository,
    tree: &git2::Tree<'_>,
    prefix: &str,
    depth: usize,
    files: &mut RootFiles,
) -> Result<(), StoreError> {
    for entry in tree.iter() {
        let Ok(name) = entry.name() else { continue };
        let path = if prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{prefix}/{name}")
        };
        match entry.kind() {
            Some(git2::ObjectType::Blob)
                if entry.filemode() != 0o120000
                    && crate::format::files::is_root_document(&path) =>
            {
                let blob = repo.find_blob(entry.id()).context("read a file")?;
                files.insert(path, blob.content().to_vec());
            }
            Some(git2::ObjectType::Tree) if depth < 2 && could_hold_documents(&path) => {
                let subtree = repo.find_tree(entry.id()).context("read a directory")?;
                collect_into(repo, &subtree, &path, depth + 1, files)?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// Whether a directory of the root may hold documents (`base`, `segments`,
/// `overlays`, `overlays/<env>`).
fn could_hold_documents(dir: &str) -> bool {
    match dir.split_once('/') {
        None => crate::format::files::DOCUMENT_DIRS.contains(&dir),
        Some(("overlays", env)) => !env.contains('/') && !env.starts_with('.'),
        Some(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_paths() {
        assert!(validate_relative("base/a.yaml").is_ok());
        assert!(validate_relative("flagctl.yaml").is_ok());
        for bad in [
            "",
            "/a",
            "a//b",
            "a/../b",
            "./a",
            "a\\b",
            ".git/config",
            "a/",
        ] {
            assert!(validate_relative(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn document_dirs() {
        assert!(could_hold_documents("base"));
        assert!(could_hold_documents("overlays"));
        assert!(could_hold_documents("overlays/prod"));
        assert!(!could_hold_documents("schemas"));
        assert!(!could_hold_documents("base/x"));
    }
}
