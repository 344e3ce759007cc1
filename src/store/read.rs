//! Reading: the root's files at a revision, commit metadata, HEAD, and the
//! working tree's status.

use std::path::Path;

use git2::{ErrorCode, Status, StatusOptions};

use super::error::GitContext;
use super::message::{Trailer, parse_trailers};
use super::{GitError, RevisionId, Store, StoreError, branch_reference, collect_documents};
use crate::format::RootFiles;
use crate::format::files::is_root_document;

/// A person and a moment: a commit's author or committer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Person {
    /// The name (lossily decoded when not UTF-8).
    pub name: String,
    /// The email address.
    pub email: String,
    /// When, as an instant.
    pub time: jiff::Timestamp,
    /// The offset from UTC the person's clock had, in minutes.
    pub utc_offset_minutes: i32,
}

impl Person {
    fn from_signature(signature: &git2::Signature<'_>) -> Person {
        let when = signature.when();
        Person {
            name: String::from_utf8_lossy(signature.name_bytes()).into_owned(),
            email: String::from_utf8_lossy(signature.email_bytes()).into_owned(),
            time: jiff::Timestamp::from_second(when.seconds())
                .unwrap_or(jiff::Timestamp::UNIX_EPOCH),
            utc_offset_minutes: when.offset_minutes(),
        }
    }
}

impl std::fmt::Display for Person {
    /// `Name <email>`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} <{}>", self.name, self.email)
    }
}

/// What a commit says about itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommitInfo {
    /// The commit id.
    pub id: RevisionId,
    /// Its parents, first parent first (empty for a root commit).
    pub parents: Vec<RevisionId>,
    /// The first line of the message.
    pub summary: String,
    /// The whole message.
    pub message: String,
    /// The trailers of the message (`Flagctl-Flag: new-checkout`), in order.
    pub trailers: Vec<Trailer>,
    /// Who wrote the change, and when.
    pub author: Person,
    /// Who committed it, and when.
    pub committer: Person,
}

impl CommitInfo {
    pub(crate) fn from_commit(commit: &git2::Commit<'_>) -> CommitInfo {
        let message = String::from_utf8_lossy(commit.message_bytes()).into_owned();
        let summary = message.lines().next().unwrap_or_default().trim().to_owned();
        CommitInfo {
            id: RevisionId::from_oid(commit.id()),
            parents: commit.parent_ids().map(RevisionId::from_oid).collect(),
            summary,
            trailers: parse_trailers(&message),
            message,
            author: Person::from_signature(&commit.author()),
            committer: Person::from_signature(&commit.committer()),
        }
    }

    /// The value of the first trailer named `key` (case-insensitive), if any.
    pub fn trailer(&self, key: &str) -> Option<&str> {
        self.trailers
            .iter()
            .find(|t| t.key.eq_ignore_ascii_case(key))
            .map(|t| t.value.as_str())
    }
}

/// Where HEAD points.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Head {
    /// At a branch; `id` is `None` while the branch has no commit yet.
    Branch {
        /// The branch's short name (`main`).
        name: String,
        /// The branch's tip.
        id: Option<RevisionId>,
    },
    /// At a commit, not a branch.
    Detached {
        /// The commit.
        id: RevisionId,
    },
}

impl Head {
    /// The full name of the reference to follow for HEAD: its branch's
    /// (`refs/heads/main`), or `HEAD` itself when detached.
    pub fn reference(&self) -> String {
        match self {
            Head::Branch { name, .. } => branch_reference(name),
            Head::Detached { .. } => "HEAD".to_owned(),
        }
    }

    /// The commit HEAD resolves to, if there is one.
    pub fn id(&self) -> Option<RevisionId> {
        match self {
            Head::Branch { id, .. } => *id,
            Head::Detached { id } => Some(*id),
        }
    }

    /// The branch's short name, unless HEAD is detached.
    pub fn branch(&self) -> Option<&str> {
        match self {
            Head::Branch { name, .. } => Some(name),
            Head::Detached { .. } => None,
        }
    }
}

/// The state of one path in the working tree and index, compared with HEAD.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PathStatus {
    /// Tracked, and the index and working tree match HEAD.
    Clean,
    /// Neither in HEAD, the index, nor the working tree.
    Absent,
    /// The working tree differs from the index (edited, deleted, type changed).
    Modified,
    /// The index differs from HEAD (changes staged, maybe edited further).
    Staged,
    /// In the working tree only.
    Untracked,
    /// In the working tree only, and ignored by `.gitignore`.
    Ignored,
    /// Unmerged: a merge left conflict stages in the index.
    Conflicted,
}

impl PathStatus {
    /// Whether the path holds work that committing over it would lose or
    /// mix in: everything but [`PathStatus::Clean`] and [`PathStatus::Absent`].
    pub fn has_uncommitted_changes(self) -> bool {
        !matches!(self, PathStatus::Clean | PathStatus::Absent)
    }

    fn from_status(status: Status) -> PathStatus {
        if status.is_conflicted() {
            PathStatus::Conflicted
        } else if status.intersects(
            Status::INDEX_NEW
                | Status::INDEX_MODIFIED
                | Status::INDEX_DELETED
                | Status::INDEX_RENAMED
                | Status::INDEX_TYPECHANGE,
        ) {
            PathStatus::Staged
        } else if status.contains(Status::WT_NEW) {
            PathStatus::Untracked
        } else if status.intersects(
            Status::WT_MODIFIED | Status::WT_DELETED | Status::WT_TYPECHANGE | Status::WT_RENAMED,
        ) {
            PathStatus::Modified
        } else if status.contains(Status::IGNORED) {
            PathStatus::Ignored
        } else {
            PathStatus::Clean
        }
    }
}

/// The working tree as `flagctl build` records it: the HEAD commit, and which
/// of the root's documents differ from it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorktreeState {
    /// Where HEAD points.
    pub head: Head,
    /// The root's documents (root-relative) with uncommitted changes, staged,
    /// unstaged or untracked, in path order. Ignored files are not counted.
    pub changed: Vec<(String, PathStatus)>,
}

impl WorktreeState {
    /// Whether any of the root's documents differ from HEAD.
    pub fn is_dirty(&self) -> bool {
        !self.changed.is_empty()
    }
}

impl Store {
    /// The commit a revision names: `HEAD`, a branch, a tag, `HEAD~3`, a
    /// (prefix of a) commit id, anything `git rev-parse` understands.
    pub(crate) fn commit_at(&self, revision: &str) -> Result<git2::Commit<'_>, StoreError> {
        let object = self.repo.revparse_single(revision).map_err(|source| {
            if revision.starts_with("HEAD") && self.is_unborn() {
                StoreError::NoCommits {
                    operation: "reading a revision",
                }
            } else {
                StoreError::RevisionNotFound {
                    revision: revision.to_owned(),
                    source: GitError::new(source),
                }
            }
        })?;
        object
            .peel_to_commit()
            .map_err(|source| StoreError::RevisionNotFound {
                revision: revision.to_owned(),
                source: GitError::new(source),
            })
    }

    /// The root's own tree in a commit, if the root exists there.
    pub(crate) fn root_tree_of<'r>(
        &'r self,
        commit: &git2::Commit<'r>,
    ) -> Result<Option<git2::Tree<'r>>, StoreError> {
        let tree = commit.tree().context("read a commit's tree")?;
        if self.root.is_empty() {
            return Ok(Some(tree));
        }
        let entry = match tree.get_path(Path::new(&self.root)) {
            Ok(entry) => entry,
            Err(e) if e.code() == ErrorCode::NotFound => return Ok(None),
            Err(e) => return Err(StoreError::git("read the flag root's tree", e)),
        };
        if entry.kind() != Some(git2::ObjectType::Tree) {
            return Ok(None);
        }
        Ok(Some(
            self.repo
                .find_tree(entry.id())
                .context("read the flag root's tree")?,
        ))
    }

    /// The root's documents as they were at `revision` (only the paths
    /// [`is_root_document`] accepts; symbolic links and submodules are skipped).
    ///
    /// # Errors
    ///
    /// [`StoreError::RevisionNotFound`], [`StoreError::NoCommits`], or
    /// [`StoreError::RootNotFound`] when the root directory did not exist at
    /// that revision (a caller comparing with an old revision may treat that
    /// as an empty root).
    pub fn read_root_at(&self, revision: &str) -> Result<RootFiles, StoreError> {
        let commit = self.commit_at(revision)?;
        let Some(tree) = self.root_tree_of(&commit)? else {
            return Err(StoreError::RootNotFound {
                revision: revision.to_owned(),
                root: self.root.clone(),
            });
        };
        collect_documents(&self.repo, &tree)
    }

    /// One root-relative file as it was at `revision`; `None` when it did not exist.
    pub fn read_file_at(&self, revision: &str, path: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let repo_path = self.repo_path(path)?;
        let commit = self.commit_at(revision)?;
        let tree = commit.tree().context("read a commit's tree")?;
        let entry = match tree.get_path(Path::new(&repo_path)) {
            Ok(entry) => entry,
            Err(e) if e.code() == ErrorCode::NotFound => return Ok(None),
            Err(e) => return Err(StoreError::git("look up a path", e)),
        };
        if entry.kind() != Some(git2::ObjectType::Blob) {
            return Ok(None);
        }
        self.blob(RevisionId::from_oid(entry.id())).map(Some)
    }

    /// The contents of a blob (the `before` / `after` ids of a [`super::PathChange`]).
    pub fn blob(&self, id: RevisionId) -> Result<Vec<u8>, StoreError> {
        let blob = self
            .repo
            .find_blob(id.to_oid())
            .map_err(|source| StoreError::BlobNotFound {
                id,
                source: GitError::new(source),
            })?;
        Ok(blob.content().to_vec())
    }

    /// The commit a revision names, with its metadata.
    pub fn resolve(&self, revision: &str) -> Result<CommitInfo, StoreError> {
        Ok(CommitInfo::from_commit(&self.commit_at(revision)?))
    }

    /// Where HEAD points: a branch (maybe without commits yet) or a commit.
    pub fn head(&self) -> Result<Head, StoreError> {
        let head = self.repo.find_reference("HEAD").context("read HEAD")?;
        match head.symbolic_target_bytes() {
            Some(target) => {
                let target = String::from_utf8_lossy(target).into_owned();
                let id = match self.repo.refname_to_id(&target) {
                    Ok(id) => Some(RevisionId::from_oid(id)),
                    Err(e) if e.code() == ErrorCode::NotFound => None,
                    Err(e) => return Err(StoreError::git("read the current branch", e)),
                };
                let name = target
                    .strip_prefix("refs/heads/")
                    .unwrap_or(&target)
                    .to_owned();
                Ok(Head::Branch { name, id })
            }
            None => {
                let id = head
                    .resolve()
                    .context("resolve HEAD")?
                    .target()
                    .ok_or_else(|| {
                        StoreError::git("resolve HEAD", git2::Error::from_str("HEAD has no target"))
                    })?;
                Ok(Head::Detached {
                    id: RevisionId::from_oid(id),
                })
            }
        }
    }

    /// The HEAD commit and which of the root's documents have uncommitted
    /// changes (for `flagctl build`'s source revision).
    pub fn worktree_state(&self) -> Result<WorktreeState, StoreError> {
        self.require_workdir("checking the working tree")?;
        let head = self.head()?;
        let mut options = StatusOptions::new();
        options
            .include_untracked(true)
            .recurse_untracked_dirs(true)
            .include_ignored(false)
            .exclude_submodules(true)
            .renames_head_to_index(false);
        if !self.root.is_empty() {
            options.pathspec(format!("{}/", self.root));
            options.disable_pathspec_match(true);
        }
        let statuses = self
            .repo
            .statuses(Some(&mut options))
            .context("read the working tree's status")?;
        let mut changed = Vec::new();
        for entry in statuses.iter() {
            let path = String::from_utf8_lossy(entry.path_bytes()).into_owned();
            let Some(relative) = self.strip_root(&path) else {
                continue;
            };
            if !is_root_document(relative) {
                continue;
            }
            let status = PathStatus::from_status(entry.status());
            if status.has_uncommitted_changes() {
                changed.push((relative.to_owned(), status));
            }
        }
        changed.sort();
        changed.dedup_by(|a, b| a.0 == b.0);
        Ok(WorktreeState { head, changed })
    }

    /// The status of one root-relative path: the mutating commands refuse
    /// when the file to change has uncommitted edits
    /// ([`PathStatus::has_uncommitted_changes`]).
    pub fn path_status(&self, path: &str) -> Result<PathStatus, StoreError> {
        self.require_workdir("checking a file's status")?;
        let repo_path = self.repo_path(path)?;
        match self.repo.status_file(Path::new(&repo_path)) {
            Ok(status) => Ok(PathStatus::from_status(status)),
            Err(e) if e.code() == ErrorCode::NotFound => Ok(PathStatus::Absent),
            Err(e) => Err(StoreError::git(format!("read the status of `{path}`"), e)),
        }
    }
}
