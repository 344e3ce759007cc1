//! The errors of [`crate::store`]: what went wrong, with the revision, path
//! or command involved, and (through [`StoreError::help`]) what to do next.

use std::path::PathBuf;

use super::RevisionId;

/// Everything that can go wrong in [`crate::store`].
///
/// Messages follow the project's style: lowercase, one sentence, user values in
/// backticks. [`StoreError::help`] gives the `help:` line a caller should print
/// after the message, and [`StoreError::is_conflict`] tells a lost
/// compare-and-swap race (retry it) from everything else.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The path is not inside a git repository.
    #[error("`{path}` is not inside a git repository")]
    NotARepository {
        /// The path that was searched from.
        path: PathBuf,
        /// What libgit2 reported.
        #[source]
        source: GitError,
    },
    /// The repository has no working tree, and the operation needs one.
    #[error("the repository at `{path}` is bare: {operation} needs a working tree")]
    BareRepository {
        /// The repository's git directory.
        path: PathBuf,
        /// What was attempted (`commit a change`, `check a path's status`).
        operation: &'static str,
    },
    /// The flag root lies outside the repository's working tree.
    #[error("the flag root `{root}` is outside the working tree `{workdir}`")]
    RootOutsideWorkTree {
        /// The flag root.
        root: PathBuf,
        /// The repository's working tree.
        workdir: PathBuf,
    },
    /// The repository has no commits yet, and the operation needs one.
    #[error("the repository has no commits yet: {operation} needs at least one")]
    NoCommits {
        /// What was attempted.
        operation: &'static str,
    },
    /// HEAD points at a commit rather than a branch.
    #[error("HEAD is detached at `{id}`: {operation} needs a checked-out branch")]
    DetachedHead {
        /// The commit HEAD points at.
        id: String,
        /// What was attempted.
        operation: &'static str,
    },
    /// A merge, rebase, cherry-pick, revert or patch application is in progress.
    #[error("a {state} is in progress: finish or abort it before {operation}")]
    OperationInProgress {
        /// The operation git is in the middle of (`rebase`, `merge`, …).
        state: &'static str,
        /// What was attempted.
        operation: &'static str,
    },
    /// A revision does not name a commit.
    #[error("revision `{revision}` not found")]
    RevisionNotFound {
        /// The revision as given.
        revision: String,
        /// What libgit2 reported.
        #[source]
        source: GitError,
    },
    /// The flag root does not exist at a revision.
    #[error("the flag root `{root}` does not exist at revision `{revision}`")]
    RootNotFound {
        /// The revision.
        revision: String,
        /// The flag root, relative to the top of the repository.
        root: String,
    },
    /// A root-relative path is empty, absolute, or leaves the root.
    #[error("invalid path `{path}`: {reason}")]
    InvalidPath {
        /// The path as given.
        path: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An argument for `git` (a remote, URL, branch or refspec) is unusable.
    #[error("invalid {what} `{value}`: {reason}")]
    InvalidArgument {
        /// What it is (`remote`, `branch`).
        what: &'static str,
        /// The value given.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An object id does not name a blob.
    #[error("object `{id}` is not a file in this repository")]
    BlobNotFound {
        /// The object id.
        id: RevisionId,
        /// What libgit2 reported.
        #[source]
        source: GitError,
    },
    /// Neither git's configuration nor the caller provided an identity.
    #[error("no git identity is configured to author the commit")]
    NoIdentity {
        /// What libgit2 reported.
        #[source]
        source: GitError,
    },
    /// An author override is not of the form `Name <email>`.
    #[error("invalid author `{input}`: expected `Name <email>`")]
    InvalidAuthor {
        /// The text given.
        input: String,
    },
    /// A change would not change anything.
    #[error("nothing to commit: the change leaves `{branch}` as it is")]
    NothingToCommit {
        /// The branch.
        branch: String,
    },
    /// The commit message is empty.
    #[error("the commit message is empty")]
    EmptyMessage,
    /// A change deletes a file that does not exist on the branch.
    #[error("cannot delete `{path}`: it does not exist on `{branch}`")]
    DeleteMissing {
        /// The path, relative to the flag root.
        path: String,
        /// The branch.
        branch: String,
    },
    /// The branch moved between reading it and updating it (a lost race).
    ///
    /// Re-read, re-apply, re-validate and try again;
    /// [`crate::store::Store::retry_on_conflict`] does the loop.
    #[error("branch `{branch}` moved from {} to {} while the change was prepared", show_id(.expected), show_id(.actual))]
    Conflict {
        /// The branch's full reference name.
        branch: String,
        /// The tip the change was built on (`None`: no commit yet).
        expected: Option<RevisionId>,
        /// The tip found when updating (`None`: unknown or absent).
        actual: Option<RevisionId>,
    },
    /// Re-basing a change would rewrite files that hold uncommitted work.
    #[error("the update would overwrite uncommitted changes in {}", list_paths(.paths))]
    WouldOverwrite {
        /// The files, relative to the top of the repository.
        paths: Vec<String>,
    },
    /// A commit cannot be reverted by `flagctl revert`.
    #[error("cannot revert `{id}`: {reason}")]
    CannotRevert {
        /// The commit.
        id: RevisionId,
        /// Why.
        reason: &'static str,
    },
    /// The system `git` could not be run.
    #[error("could not run `git`")]
    GitUnavailable {
        /// What the operating system reported.
        #[source]
        source: std::io::Error,
    },
    /// A `git` command (fetch, push) failed.
    #[error("`git {command}` failed: {kind}")]
    Remote {
        /// The command line after `git`.
        command: String,
        /// The kind of failure, read from git's output.
        kind: RemoteErrorKind,
        /// Git's standard error, kept for the user.
        stderr: String,
    },
    /// A file could not be read or written.
    #[error("could not {action} `{path}`")]
    Io {
        /// What was attempted (`write`, `remove`, `lock`).
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// What the operating system reported.
        #[source]
        source: std::io::Error,
    },
    /// Any other failure reported by libgit2.
    #[error("git operation failed: {context}")]
    Git {
        /// What was being done.
        context: String,
        /// What libgit2 reported.
        #[source]
        source: GitError,
    },
}

/// Why a `git fetch` or `git push` failed, as far as git's output tells.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RemoteErrorKind {
    /// The remote branch moved: the update is not a fast-forward (fetch,
    /// rebase and retry).
    #[error("rejected: remote moved")]
    RemoteMoved,
    /// The remote refused the update (a hook, a protected branch).
    #[error("rejected by the remote: {reason}")]
    RejectedByRemote {
        /// The reason the remote gave.
        reason: String,
    },
    /// Authentication or authorization failed.
    #[error("authentication failed")]
    Auth,
    /// The remote could not be reached.
    #[error("network error")]
    Network,
    /// The remote, its repository or the requested branch does not exist.
    #[error("not found")]
    NotFound,
    /// Anything else; see git's standard error.
    #[error("exit status {status}")]
    Other {
        /// Git's exit status (`-1` when killed by a signal).
        status: i32,
    },
}

fn list_paths(paths: &[String]) -> String {
    let mut shown: Vec<String> = paths.iter().take(5).map(|p| format!("`{p}`")).collect();
    if paths.len() > 5 {
        shown.push(format!("and {} more", paths.len() - 5));
    }
    shown.join(", ")
}

fn show_id(id: &Option<RevisionId>) -> String {
    match id {
        Some(id) => format!("`{}`", short(*id)),
        None => "nothing".to_owned(),
    }
}

/// The first 12 hex digits of an object id, for messages.
pub(crate) fn short(id: RevisionId) -> String {
    let mut text = id.to_string();
    text.truncate(12);
    text
}

impl StoreError {
    /// Whether this is a lost compare-and-swap race that a retry can fix.
    pub fn is_conflict(&self) -> bool {
        matches!(self, StoreError::Conflict { .. })
    }

    /// The `help:` line to show after the error, when there is one.
    pub fn help(&self) -> Option<String> {
        let text = match self {
            StoreError::NotARepository { .. } => {
                "run `git init` in the repository that holds the flag root".to_owned()
            }
            StoreError::BareRepository { .. } => {
                "run flagctl in a clone with a working tree".to_owned()
            }
            StoreError::NoCommits { .. } => "commit something first".to_owned(),
            StoreError::DetachedHead { .. } => {
                "check out a branch with `git switch <branch>`".to_owned()
            }
            StoreError::OperationInProgress { state, .. } => {
                format!("run `git {state} --continue` or `git {state} --abort`")
            }
            StoreError::NoIdentity { .. } => {
                "set one with git config user.name/user.email, or pass --author".to_owned()
            }
            StoreError::InvalidAuthor { .. } => {
                "write it like `Jane Doe <jane@example.com>`".to_owned()
            }
            StoreError::Conflict { .. } => {
                "another change landed first; run the command again".to_owned()
            }
            StoreError::EmptyMessage => "say what the change does and why".to_owned(),
            StoreError::WouldOverwrite { .. } => {
                "commit or stash those changes, then run the command again".to_owned()
            }
            StoreError::GitUnavailable { .. } => "install git and put it on PATH".to_owned(),
            StoreError::Remote { kind, .. } => match kind {
                RemoteErrorKind::RemoteMoved => {
                    "fetch, rebase onto the remote branch and push again".to_owned()
                }
                RemoteErrorKind::Auth => "check your credentials for this remote".to_owned(),
                RemoteErrorKind::Network => {
                    "check the remote's address and your connection".to_owned()
                }
                RemoteErrorKind::NotFound => {
                    "check the remote's name or URL and the branch".to_owned()
                }
                RemoteErrorKind::RejectedByRemote { .. } | RemoteErrorKind::Other { .. } => {
                    return None;
                }
            },
            _ => return None,
        };
        Some(text)
    }

    pub(crate) fn git(context: impl Into<String>, source: git2::Error) -> StoreError {
        StoreError::Git {
            context: context.into(),
            source: GitError::new(source),
        }
    }
}

/// What the git library reported, as the cause of a [`StoreError`]: its
/// message, without making the git library part of this crate's API.
pub struct GitError(git2::Error);

impl GitError {
    pub(crate) fn new(error: git2::Error) -> GitError {
        GitError(error)
    }

    /// The git library's message.
    pub fn message(&self) -> &str {
        self.0.message()
    }
}

impl std::fmt::Display for GitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.0, f)
    }
}

impl std::fmt::Debug for GitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.0, f)
    }
}

impl std::error::Error for GitError {}

/// Adds a context to libgit2 errors.
pub(crate) trait GitContext<T> {
    /// Wraps the error in [`StoreError::Git`] with `context`.
    fn context(self, context: &str) -> Result<T, StoreError>;
}

impl<T> GitContext<T> for Result<T, git2::Error> {
    fn context(self, context: &str) -> Result<T, StoreError> {
        self.map_err(|source| StoreError::git(context, source))
    }
}
