//! Committing one change: a new tree built from the branch tip with only the
//! given paths changed, a commit on top of the tip, a compare-and-swap update
//! of the branch, then the index and working tree of exactly those paths.

use std::collections::BTreeSet;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use git2::build::TreeUpdateBuilder;
use git2::{ErrorCode, FileMode, Index, IndexEntry, IndexTime, Oid, Signature};

use super::cache::{Cached, HistoryCache};
use super::error::GitContext;
use super::treediff::PathChange;
use super::{GitError, RevisionId, Store, StoreError};
use crate::format::files::is_root_document;

/// One change to commit.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChangeRequest {
    /// Root-relative paths and their new contents; `None` deletes the file.
    pub files: Vec<(String, Option<Vec<u8>>)>,
    /// The whole commit message (see [`super::CommitMessage`]).
    pub message: String,
    /// The author, instead of the identity from git's configuration.
    pub author: Option<Author>,
    /// The branch tip the change was prepared against: when the branch has
    /// moved since, [`Store::commit_change`] returns [`StoreError::Conflict`]
    /// instead of committing. `None` builds on whatever the tip is.
    pub expected_head: Option<RevisionId>,
}

/// A commit author given by the caller (`--author "Name <email>"`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Author {
    /// The name.
    pub name: String,
    /// The email address.
    pub email: String,
}

impl Author {
    /// Parses `Name <email>`.
    ///
    /// ```
    /// let author = flagctl::store::Author::parse(" Jane Doe <jane@example.com> ")?;
    /// assert_eq!(author.name, "Jane Doe");
    /// assert_eq!(author.email, "jane@example.com");
    /// assert!(flagctl::store::Author::parse("jane@example.com").is_err());
    /// # Ok::<(), flagctl::store::StoreError>(())
    /// ```
    pub fn parse(input: &str) -> Result<Author, StoreError> {
        let invalid = || StoreError::InvalidAuthor {
            input: input.to_owned(),
        };
        let text = input.trim();
        let rest = text.strip_suffix('>').ok_or_else(invalid)?;
        let (name, email) = rest.rsplit_once('<').ok_or_else(invalid)?;
        let (name, email) = (name.trim(), email.trim());
        let bad = |s: &str| s.is_empty() || s.contains(['<', '>', '\n', '\0']);
        if bad(name) || bad(email) {
            return Err(invalid());
        }
        Ok(Author {
            name: name.to_owned(),
            email: email.to_owned(),
        })
    }
}

impl std::str::FromStr for Author {
    type Err = StoreError;

    fn from_str(input: &str) -> Result<Author, StoreError> {
        Author::parse(input)
    }
}

impl std::fmt::Display for Author {
    /// `Name <email>`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} <{}>", self.name, self.email)
    }
}

/// What [`Store::commit_change`] did.
#[derive(Debug)]
pub struct CommitOutcome {
    /// The new commit.
    pub id: RevisionId,
    /// The commit it was built on: the branch tip, or the commit given to
    /// [`Store::commit_change_onto`] (`None` for a first commit).
    pub parent: Option<RevisionId>,
    /// The branch's full reference name (`refs/heads/main`).
    pub branch: String,
    /// Whether the index and working tree were brought in line.
    pub worktree: WorktreeSync,
}

/// How the index and working tree of the changed paths were updated after
/// the commit landed.
#[derive(Debug)]
pub enum WorktreeSync {
    /// They match the branch tip for every changed path.
    Updated,
    /// HEAD no longer points at the branch (someone switched branches), so
    /// they were left alone.
    NotCheckedOut,
    /// The commit landed but updating them failed (for example, another git
    /// process held the index lock too long); `git status` shows the paths
    /// as changed until `git restore --staged --worktree` is run on them.
    Failed(StoreError),
}

/// An error type that can say it is a lost compare-and-swap race, so that
/// [`Store::retry_on_conflict`] works with the caller's own error type.
pub trait ConflictError {
    /// Whether retrying from a fresh read may succeed.
    fn is_conflict(&self) -> bool;
}

impl ConflictError for StoreError {
    fn is_conflict(&self) -> bool {
        StoreError::is_conflict(self)
    }
}

/// Whether `error` is a [`StoreError::Conflict`] (handy for boxed errors).
pub fn is_conflict_error(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(error) = current {
        if error
            .downcast_ref::<StoreError>()
            .is_some_and(StoreError::is_conflict)
        {
            return true;
        }
        current = error.source();
    }
    false
}

/// How long to wait for another process's `index.lock` before giving up.
const INDEX_LOCK_TIMEOUT: Duration = Duration::from_secs(10);

impl Store {
    /// Commits one change on the current branch, safely.
    ///
    /// The new tree is the branch tip's tree with only `request.files`
    /// changed: other staged or unstaged work in the index and working tree is
    /// neither committed nor touched. The branch is updated with
    /// compare-and-swap against the tip the change was built on, so a
    /// concurrent commit makes this return [`StoreError::Conflict`] (re-read,
    /// re-apply, re-validate and retry: [`Store::retry_on_conflict`]).
    /// Afterwards the index entries and working-tree files of exactly those
    /// paths match the branch tip, so `git status` is clean for them (see
    /// [`CommitOutcome::worktree`]).
    ///
    /// Author and committer are the identity `git commit` would use (git's
    /// configuration, `GIT_AUTHOR_*` / `GIT_COMMITTER_*`); `request.author`
    /// overrides the author, and stands in for the committer when no identity
    /// is configured. Hooks are not run (libgit2 does not run them).
    ///
    /// # Errors
    ///
    /// Refuses a bare repository, detached HEAD, a merge / rebase /
    /// cherry-pick / revert in progress, a missing identity
    /// ([`StoreError::NoIdentity`]), invalid paths, deleting a missing file,
    /// and a change that changes nothing ([`StoreError::NothingToCommit`]).
    pub fn commit_change(&self, request: &ChangeRequest) -> Result<CommitOutcome, StoreError> {
        self.commit_on(request, None)
    }

    /// Commits one change built on the commit `onto` instead of the branch
    /// tip, and moves the current branch from its tip to the new commit.
    ///
    /// This is how a change is re-applied on a remote's new tip after a
    /// push was rejected: the branch tip (the change as first committed,
    /// whose parent `onto` descends from) is replaced by a commit whose
    /// parent is `onto`. `request.expected_head` is compared with the branch
    /// tip as in [`Store::commit_change`]. Besides `request.files`, the
    /// index and working tree of every path that differs between the old
    /// tip and the new commit are updated (the files the remote changed),
    /// after checking that none of them holds uncommitted work.
    ///
    /// # Errors
    ///
    /// Those of [`Store::commit_change`], and
    /// [`StoreError::WouldOverwrite`] when a file the update would rewrite
    /// has uncommitted changes (nothing is changed then).
    pub fn commit_change_onto(
        &self,
        request: &ChangeRequest,
        onto: RevisionId,
    ) -> Result<CommitOutcome, StoreError> {
        self.commit_on(request, Some(onto.to_oid()))
    }

    fn commit_on(
        &self,
        request: &ChangeRequest,
        onto: Option<Oid>,
    ) -> Result<CommitOutcome, StoreError> {
        const OPERATION: &str = "committing a change";
        self.require_workdir(OPERATION)?;
        self.require_clean_state(OPERATION)?;
        let branch = self.current_branch(OPERATION)?;
        let message = normalize_message(&request.message)?;
        let (author, committer) = self.signatures(request.author.as_ref())?;

        let mut paths = Vec::with_capacity(request.files.len());
        let mut seen = BTreeSet::new();
        for (path, _) in &request.files {
            let repo_path = self.repo_path(path)?;
            if !seen.insert(repo_path.clone()) {
                return Err(StoreError::InvalidPath {
                    path: path.clone(),
                    reason: "it is listed twice in one change",
                });
            }
            paths.push(repo_path);
        }
        if paths.is_empty() {
            return Err(StoreError::NothingToCommit {
                branch: short_branch(&branch).to_owned(),
            });
        }

        let repo = &self.repo;
        let tip = match repo.refname_to_id(&branch) {
            Ok(id) => Some(id),
            Err(e) if e.code() == ErrorCode::NotFound => None,
            Err(e) => return Err(StoreError::git("read the current branch", e)),
        };
        if let Some(expected) = request.expected_head
            && tip != Some(expected.to_oid())
        {
            return Err(StoreError::Conflict {
                branch,
                expected: Some(expected),
                actual: tip.map(RevisionId::from_oid),
            });
        }
        let parent = match onto.or(tip) {
            Some(id) => Some(repo.find_commit(id).context("read the branch tip")?),
            None => None,
        };
        let base_tree = match &parent {
            Some(commit) => commit.tree().context("read the branch tip's tree")?,
            None => {
                let empty = repo
                    .treebuilder(None)
                    .and_then(|builder| builder.write())
                    .context("write an empty tree")?;
                repo.find_tree(empty).context("read an empty tree")?
            }
        };

        let mut update = TreeUpdateBuilder::new();
        let mut changes = Vec::new();
        for ((path, contents), repo_path) in request.files.iter().zip(&paths) {
            let existing = base_tree.get_path(Path::new(repo_path)).ok();
            if existing
                .as_ref()
                .is_some_and(|e| e.kind() == Some(git2::ObjectType::Tree))
            {
                return Err(StoreError::InvalidPath {
                    path: path.clone(),
                    reason: "it is a directory",
                });
            }
            let before = existing
                .as_ref()
                .filter(|e| e.filemode() & 0o170000 == 0o100000)
                .map(|e| e.id());
            let after = match contents {
                Some(bytes) => Some(repo.blob(bytes).context("write a file's contents")?),
                None => None,
            };
            if before != after && is_root_document(path) {
                changes.push(PathChange {
                    path: path.clone(),
                    before: before.map(RevisionId::from_oid),
                    after: after.map(RevisionId::from_oid),
                });
            }
            match after {
                Some(blob) => {
                    let mode = match existing.map(|e| e.filemode()) {
                        Some(0o100755) => FileMode::BlobExecutable,
                        _ => FileMode::Blob,
                    };
                    update.upsert(repo_path.as_str(), blob, mode);
                }
                None => {
                    if existing.is_none() {
                        return Err(StoreError::DeleteMissing {
                            path: path.clone(),
                            branch: short_branch(&branch).to_owned(),
                        });
                    }
                    update.remove(repo_path.as_str());
                }
            }
        }
        let tree_id = update
            .create_updated(repo, &base_tree)
            .context("build the new tree")?;
        if tree_id == base_tree.id() {
            return Err(StoreError::NothingToCommit {
                branch: short_branch(&branch).to_owned(),
            });
        }
        let tree = repo.find_tree(tree_id).context("read the new tree")?;
        let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
        let id = repo
            .commit(None, &author, &committer, &message, &tree, &parents)
            .context("write the commit")?;

        // Re-basing: the files that differ between the old tip and the new
        // commit (what the remote changed) follow too, unless they hold
        // uncommitted work.
        let mut sync_paths = paths.clone();
        if onto.is_some()
            && let Some(old) = tip
        {
            let old_tree = repo
                .find_commit(old)
                .and_then(|c| c.tree())
                .context("read the branch tip's tree")?;
            let extra: Vec<String> = changed_paths(repo, &old_tree, &tree)?
                .into_iter()
                .filter(|p| !paths.contains(p))
                .collect();
            let mut dirty = Vec::new();
            for path in &extra {
                match repo.status_file(Path::new(path)) {
                    Ok(status) if status.is_empty() || status == git2::Status::IGNORED => {}
                    Err(e) if e.code() == ErrorCode::NotFound => {}
                    Ok(_) => dirty.push(path.clone()),
                    Err(e) => {
                        return Err(StoreError::git(format!("read the status of `{path}`"), e));
                    }
                }
            }
            if !dirty.is_empty() {
                return Err(StoreError::WouldOverwrite { paths: dirty });
            }
            sync_paths.extend(extra);
        }

        let summary = message.lines().next().unwrap_or_default();
        let updated = match tip {
            Some(old) => {
                repo.reference_matching(&branch, id, true, old, &format!("commit: {summary}"))
            }
            None => repo.reference(&branch, id, false, &format!("commit (initial): {summary}")),
        };
        if let Err(e) = updated {
            return Err(match e.code() {
                ErrorCode::Modified | ErrorCode::Locked | ErrorCode::Exists => {
                    StoreError::Conflict {
                        actual: repo.refname_to_id(&branch).ok().map(RevisionId::from_oid),
                        branch,
                        expected: tip.map(RevisionId::from_oid),
                    }
                }
                _ => StoreError::git(format!("update `{branch}`"), e),
            });
        }

        changes.sort();
        HistoryCache::record(
            repo.commondir(),
            &self.root,
            id,
            Cached {
                parents: parents.len(),
                changes,
            },
        );

        let worktree = match self.sync_worktree(&branch, &sync_paths) {
            Ok(true) => WorktreeSync::Updated,
            Ok(false) => WorktreeSync::NotCheckedOut,
            Err(e) => WorktreeSync::Failed(e),
        };
        Ok(CommitOutcome {
            id: RevisionId::from_oid(id),
            parent: onto.or(tip).map(RevisionId::from_oid),
            branch,
            worktree,
        })
    }

    /// Checks, without changing anything, what [`Store::commit_change`]
    /// would refuse before building a commit: a bare repository, a merge /
    /// rebase / cherry-pick / revert in progress, a detached HEAD, and a
    /// missing identity (unless `author` is given). Returns the current
    /// branch's full reference name (`refs/heads/main`).
    ///
    /// Mutating commands call it first, so that they refuse before doing
    /// any work or asking the user anything.
    pub fn check_can_commit(&self, author: Option<&Author>) -> Result<String, StoreError> {
        const OPERATION: &str = "committing a change";
        self.require_workdir(OPERATION)?;
        self.require_clean_state(OPERATION)?;
        let branch = self.current_branch(OPERATION)?;
        self.signatures(author)?;
        Ok(branch)
    }

    /// Runs `attempt` until it succeeds, fails with something other than a
    /// conflict, or has been tried `max_attempts` times (at least once).
    ///
    /// `attempt` must do the whole read → apply → validate → commit cycle, so
    /// each try builds on the branch as it is now. Between tries it waits a
    /// short, random, growing time. After the last try the last conflict is
    /// returned.
    pub fn retry_on_conflict<T, E: ConflictError>(
        &self,
        max_attempts: u32,
        mut attempt: impl FnMut(&Store) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut tries = 0;
        loop {
            tries += 1;
            match attempt(self) {
                Err(e) if e.is_conflict() && tries < max_attempts => {
                    std::thread::sleep(backoff(tries));
                }
                other => return other,
            }
        }
    }

    /// The author and committer signatures for a new commit.
    fn signatures(
        &self,
        author: Option<&Author>,
    ) -> Result<(Signature<'static>, Signature<'static>), StoreError> {
        let identity = |result: Result<Signature<'static>, git2::Error>| match result {
            Ok(signature) => Ok(signature),
            Err(source) if source.code() == ErrorCode::NotFound => Err(StoreError::NoIdentity {
                source: GitError::new(source),
            }),
            Err(source) => Err(StoreError::git("read git's identity", source)),
        };
        let committer = identity(self.repo.committer_from_env());
        match author {
            Some(author) => {
                let signature = Signature::now(&author.name, &author.email).map_err(|_| {
                    StoreError::InvalidAuthor {
                        input: author.to_string(),
                    }
                })?;
                let committer = match committer {
                    Ok(committer) => committer,
                    Err(StoreError::NoIdentity { .. }) => signature.clone(),
                    Err(e) => return Err(e),
                };
                Ok((signature, committer))
            }
            None => Ok((identity(self.repo.author_from_env())?, committer?)),
        }
    }

    /// Brings the index entries and working-tree files of `paths`
    /// (repository-relative) in line with the tip of `branch`, under git's
    /// index lock. Returns `false` when HEAD no longer points at `branch`.
    ///
    /// Writing what the tip holds *now* (rather than what this process
    /// committed) makes concurrent committers converge: whoever takes the
    /// lock last writes the newest content.
    fn sync_worktree(&self, branch: &str, paths: &[String]) -> Result<bool, StoreError> {
        let workdir = self.require_workdir("updating the working tree")?;
        let git_dir = self.repo.path();
        let lock = IndexLock::acquire(git_dir)?;

        let head = self.repo.find_reference("HEAD").context("read HEAD")?;
        if head.symbolic_target_bytes() != Some(branch.as_bytes()) {
            return Ok(false);
        }
        let tip = self
            .repo
            .refname_to_id(branch)
            .context("read the current branch")?;
        let tree = self
            .repo
            .find_commit(tip)
            .and_then(|commit| commit.tree())
            .context("read the branch tip's tree")?;

        // libgit2 cannot lock the index, then read it, then write it; so with
        // git's `index.lock` held, work on a private copy and move it in place.
        let index_path = git_dir.join("index");
        let scratch = lock.scratch_path();
        match fs::copy(&index_path, &scratch) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(StoreError::Io {
                    action: "copy",
                    path: index_path,
                    source,
                });
            }
        }
        let result = (|| {
            let mut index = Index::open(&scratch).context("read the index")?;
            for path in paths {
                let file = workdir.join(path);
                match tree.get_path(Path::new(path)) {
                    Ok(entry) if entry.kind() == Some(git2::ObjectType::Blob) => {
                        let blob = self.repo.find_blob(entry.id()).context("read a file")?;
                        let executable = entry.filemode() == 0o100755;
                        write_file(&file, blob.content(), executable)?;
                        let metadata =
                            fs::symlink_metadata(&file).map_err(|source| StoreError::Io {
                                action: "read",
                                path: file.clone(),
                                source,
                            })?;
                        let _ = index.conflict_remove(Path::new(path));
                        index
                            .add(&index_entry(path, entry.id(), executable, &metadata))
                            .context("update the index")?;
                    }
                    _ => {
                        remove_file(&file, &self.root_dir().unwrap_or_default())?;
                        let _ = index.conflict_remove(Path::new(path));
                        match index.remove_path(Path::new(path)) {
                            Ok(()) => {}
                            Err(e) if e.code() == ErrorCode::NotFound => {}
                            Err(e) => return Err(StoreError::git("update the index", e)),
                        }
                    }
                }
            }
            index.write().context("write the index")
        })();
        if let Err(e) = result {
            let _ = fs::remove_file(&scratch);
            return Err(e);
        }
        lock.commit(&scratch, &index_path)?;
        Ok(true)
    }
}

/// Every file path (repository-relative) that differs between two trees;
/// submodules are left out.
fn changed_paths(
    repo: &git2::Repository,
    old: &git2::Tree<'_>,
    new: &git2::Tree<'_>,
) -> Result<Vec<String>, StoreError> {
    let mut options = git2::DiffOptions::new();
    options.ignore_submodules(true);
    let diff = repo
        .diff_tree_to_tree(Some(old), Some(new), Some(&mut options))
        .context("compare two trees")?;
    let mut paths = Vec::new();
    for delta in diff.deltas() {
        for file in [delta.old_file(), delta.new_file()] {
            if file.mode() == FileMode::Commit {
                continue;
            }
            if let Some(path) = file.path().and_then(Path::to_str)
                && !paths.iter().any(|p| p == path)
            {
                paths.push(path.to_owned());
            }
        }
    }
    Ok(paths)
}

/// The message with trailing whitespace cleaned up and a final newline, as
/// `git commit` stores it; refuses an empty one.
fn normalize_message(message: &str) -> Result<String, StoreError> {
    let cleaned = git2::message_prettify(message, None).context("clean up the commit message")?;
    if cleaned.trim().is_empty() {
        return Err(StoreError::EmptyMessage);
    }
    Ok(cleaned)
}

fn short_branch(branch: &str) -> &str {
    branch.strip_prefix("refs/heads/").unwrap_or(branch)
}

/// A random wait before retry number `tries` (1-based): up to 1, 2, 4 … 64 ms.
fn backoff(tries: u32) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(tries);
    let ceiling_us = 1000u64 << tries.min(7);
    Duration::from_micros(hasher.finish() % ceiling_us + 100)
}

/// An index entry for a file just written, with its stat data so that
/// `git status` need not hash it again.
fn index_entry(path: &str, id: Oid, executable: bool, metadata: &fs::Metadata) -> IndexEntry {
    let mode = if executable { 0o100755 } else { 0o100644 };
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        // The index stores 32-bit stat fields; git truncates the same way.
        #[expect(
            clippy::cast_possible_truncation,
            reason = "the index format keeps 32 bits"
        )]
        IndexEntry {
            ctime: IndexTime::new(metadata.ctime() as i32, metadata.ctime_nsec() as u32),
            mtime: IndexTime::new(metadata.mtime() as i32, metadata.mtime_nsec() as u32),
            dev: metadata.dev() as u32,
            ino: metadata.ino() as u32,
            mode,
            uid: metadata.uid(),
            gid: metadata.gid(),
            file_size: metadata.size() as u32,
            id,
            flags: 0,
            flags_extended: 0,
            path: path.as_bytes().to_vec(),
        }
    }
    #[cfg(not(unix))]
    {
        let since_epoch = metadata
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .unwrap_or_default();
        let time = IndexTime::new(since_epoch.as_secs() as i32, since_epoch.subsec_nanos());
        IndexEntry {
            ctime: time,
            mtime: time,
            dev: 0,
            ino: 0,
            mode,
            uid: 0,
            gid: 0,
            file_size: metadata.len() as u32,
            id,
            flags: 0,
            flags_extended: 0,
            path: path.as_bytes().to_vec(),
        }
    }
}

/// Writes a file atomically (a temporary file renamed over it), creating
/// its directory, so that a watcher never sees half a file.
fn write_file(path: &Path, contents: &[u8], executable: bool) -> Result<(), StoreError> {
    let io_error = |action, path: &Path| {
        let path = path.to_path_buf();
        move |source| StoreError::Io {
            action,
            path,
            source,
        }
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(io_error("create", dir))?;
    if fs::symlink_metadata(path).is_ok_and(|m| m.is_dir()) {
        return Err(StoreError::Io {
            action: "write",
            path: path.to_path_buf(),
            source: io::Error::other("a directory is in the way"),
        });
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = dir.join(format!(".{name}.flagctl-{}.tmp", std::process::id()));
    let result = (|| {
        let mut file = fs::File::create(&temp)?;
        file.write_all(contents)?;
        #[cfg(unix)]
        if executable {
            use std::os::unix::fs::PermissionsExt;
            file.set_permissions(fs::Permissions::from_mode(0o755))?;
        }
        #[cfg(not(unix))]
        let _ = executable;
        drop(file);
        fs::rename(&temp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result.map_err(io_error("write", path))
}

/// Removes a file and then its directories while they are empty, up to (not
/// including) `stop`.
fn remove_file(path: &Path, stop: &Path) -> Result<(), StoreError> {
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(StoreError::Io {
                action: "remove",
                path: path.to_path_buf(),
                source,
            });
        }
    }
    let mut dir = path.parent();
    while let Some(current) = dir {
        if current == stop || !current.starts_with(stop) || fs::remove_dir(current).is_err() {
            break;
        }
        dir = current.parent();
    }
    Ok(())
}

/// Git's `index.lock`, held while the index is read, changed and replaced.
struct IndexLock {
    lock: PathBuf,
    held: bool,
}

impl IndexLock {
    /// Creates `index.lock`, waiting (with short sleeps) while another
    /// process holds it, up to [`INDEX_LOCK_TIMEOUT`].
    fn acquire(git_dir: &Path) -> Result<IndexLock, StoreError> {
        let lock = git_dir.join("index.lock");
        let start = Instant::now();
        let mut tries = 0;
        loop {
            match fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&lock)
            {
                Ok(_) => return Ok(IndexLock { lock, held: true }),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    if start.elapsed() > INDEX_LOCK_TIMEOUT {
                        return Err(StoreError::Io {
                            action: "lock",
                            path: lock,
                            source: io::Error::other(
                                "another git process holds the index lock; if none is running, remove the file",
                            ),
                        });
                    }
                    tries += 1;
                    std::thread::sleep(backoff(tries.min(4)));
                }
                Err(source) => {
                    return Err(StoreError::Io {
                        action: "lock",
                        path: lock,
                        source,
                    });
                }
            }
        }
    }

    /// A private file next to the index to prepare the new index in.
    fn scratch_path(&self) -> PathBuf {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        self.lock
            .with_file_name(format!("index.flagctl-{}-{nanos}", std::process::id()))
    }

    /// Moves the prepared index into place the way git does: over the lock
    /// file, then the lock file over the index.
    fn commit(mut self, prepared: &Path, index: &Path) -> Result<(), StoreError> {
        let io_error = |path: &Path| {
            let path = path.to_path_buf();
            move |source| StoreError::Io {
                action: "replace",
                path,
                source,
            }
        };
        if let Err(e) = fs::rename(prepared, &self.lock) {
            let _ = fs::remove_file(prepared);
            return Err(io_error(index)(e));
        }
        fs::rename(&self.lock, index).map_err(io_error(index))?;
        self.held = false;
        Ok(())
    }
}

impl Drop for IndexLock {
    fn drop(&mut self) {
        if self.held {
            let _ = fs::remove_file(&self.lock);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_authors() {
        let author = Author::parse("Jane Doe <jane@example.com>").expect("valid");
        assert_eq!(author.to_string(), "Jane Doe <jane@example.com>");
        let odd = Author::parse("A <b> <c@d>");
        assert!(odd.is_err());
        for bad in [
            "",
            "Jane",
            "<jane@example.com>",
            "Jane <>",
            "Jane <a",
            "Jane a>",
        ] {
            assert!(Author::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn backoff_grows_and_stays_bounded() {
        for tries in 1..20 {
            assert!(backoff(tries) <= Duration::from_millis(130));
        }
    }

    #[test]
    fn finds_conflicts_in_error_chains() {
        let conflict = StoreError::Conflict {
            branch: "refs/heads/main".into(),
            expected: None,
            actual: None,
        };
        assert!(is_conflict_error(&conflict));
        let other = StoreError::NothingToCommit {
            branch: "main".into(),
        };
        assert!(!is_conflict_error(&other));
    }
}
