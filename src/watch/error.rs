//! The errors of the runtime client: failures to read a source, and why a
//! client could not be built.

use std::path::PathBuf;

use crate::format::snapshot::SnapshotError;
use crate::store::StoreError;

use super::events::Rejection;

/// A failure to read a client's source. The client keeps serving what it
/// serves and tries again.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// The flag root's repository could not be opened.
    #[error("cannot open the git repository of `{}`", root.display())]
    OpenRepository {
        /// The flag root.
        root: PathBuf,
        /// What the store reported.
        #[source]
        source: StoreError,
    },
    /// The reference to follow could not be read or does not name a commit.
    #[error("cannot read reference `{reference}`")]
    Reference {
        /// The reference.
        reference: String,
        /// What the store reported.
        #[source]
        source: StoreError,
    },
    /// The reference to follow does not exist (yet): a branch without commits.
    #[error("reference `{reference}` does not exist yet")]
    MissingReference {
        /// The reference's full name.
        reference: String,
    },
    /// The flag root could not be read at a revision.
    #[error("cannot read the flag root at `{revision}`")]
    ReadRevision {
        /// The revision.
        revision: String,
        /// What the store reported.
        #[source]
        source: StoreError,
    },
    /// `git fetch` into the cache repository failed.
    #[error("cannot fetch branch `{branch}` of `{url}`")]
    Fetch {
        /// The remote's URL.
        url: String,
        /// The branch.
        branch: String,
        /// What the store reported (git's own message is kept in it).
        #[source]
        source: Box<StoreError>,
    },
    /// The cache repository of a remote source could not be read.
    #[error("cannot read the cache repository `{}`", cache.display())]
    Cache {
        /// The cache repository.
        cache: PathBuf,
        /// What the store reported.
        #[source]
        source: StoreError,
    },
    /// A directory or file could not be read.
    #[error("cannot read `{}`", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// What the operating system reported.
        #[source]
        source: std::io::Error,
    },
    /// A working-tree source's directory does not exist.
    #[error("the flag root `{}` is not a directory", path.display())]
    NotADirectory {
        /// The path given.
        path: PathBuf,
    },
    /// A relay could not be followed: unreachable, the token refused, an
    /// unexpected answer, or its change stream down (feature
    /// `relay-client`).
    #[cfg(feature = "relay-client")]
    #[error("cannot follow the relay at `{url}`")]
    Relay {
        /// The relay's base URL.
        url: String,
        /// What went wrong (shared: a change stream that stays down is
        /// reported on every look).
        #[source]
        source: std::sync::Arc<super::RelayError>,
    },
}

/// Why [`super::ClientBuilder::build`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// No environment was given.
    #[error("no environment given: call `ClientBuilder::environment`")]
    NoEnvironment,
    /// No source was given.
    #[error(
        "no source given: call `git_ref`, `git_head`, `remote`, `directory`, `snapshot_file` or `relay`"
    )]
    NoSource,
    /// The source has no valid state for the environment and no fallback
    /// was given.
    #[error("no valid state of environment `{environment}` to start from in {source_name}")]
    NoValidState {
        /// The environment.
        environment: String,
        /// The source, described (``git reference `release` of `/srv/app/flags` ``).
        source_name: String,
        /// What went wrong.
        #[source]
        cause: StartError,
    },
    /// The fallback snapshot file could not be used.
    #[error("the fallback snapshot `{}` cannot be used", path.display())]
    Fallback {
        /// The fallback file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        cause: StartError,
    },
    /// The background thread could not be started.
    #[error("cannot start the client's background thread")]
    Thread(#[source] std::io::Error),
}

/// Why no valid state was found at startup.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The source could not be read.
    #[error(transparent)]
    Source(#[from] Box<SourceError>),
    /// The source's state was refused.
    #[error(transparent)]
    Rejected(#[from] Box<Rejection>),
    /// A fallback snapshot file could not be read.
    #[error("cannot read `{}`", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system reported.
        #[source]
        source: std::io::Error,
    },
    /// A fallback snapshot file is not usable.
    #[error(transparent)]
    Snapshot(SnapshotError),
}

impl StartError {
    /// The refused state, when the source's state was refused.
    pub fn rejection(&self) -> Option<&Rejection> {
        match self {
            StartError::Rejected(rejection) => Some(rejection),
            _ => None,
        }
    }
}

/// An error and its causes on one line: `a: b: c`.
pub(crate) fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(next) = cause {
        let part = next.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        cause = next.source();
    }
    text
}
