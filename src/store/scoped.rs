//! Cheap reads for the mutating commands: the id of the root's tree (a
//! cache key for "this configuration was valid"), only the documents one
//! flag's validity depends on, the flag keys, and a check for uncommitted
//! edits that tells a user's work from a file another flagctl process has
//! just committed but not yet written out.

use std::path::Path;

use git2::{ErrorCode, ObjectType, Oid};

use super::error::GitContext;
use super::treediff::{PathChange, TreeDiffer};
use super::{PathStatus, RevisionId, Store, StoreError};
use crate::format::RootFiles;
use crate::format::files::{CONFIG_FILE, is_root_document};

/// How many first-parent commits [`Store::uncommitted_edits`] searches for
/// the content it finds in the index and working tree.
const STALE_WINDOW: usize = 64;

const MODE_LINK: i32 = 0o120000;

impl Store {
    /// The id of the flag root's tree at `revision` (`None` when the root
    /// does not exist there). Two revisions with the same root tree hold
    /// exactly the same flag documents.
    pub fn root_tree_at(&self, revision: &str) -> Result<Option<RevisionId>, StoreError> {
        let commit = self.commit_at(revision)?;
        Ok(self
            .root_tree_of(&commit)?
            .map(|tree| RevisionId::from_oid(tree.id())))
    }

    /// The documents that decide how the flags `keys` resolve and whether
    /// they are valid, as they were at `revision`: `flagctl.yaml`, every
    /// segment, and each key's base file and overlays (in every directory
    /// under `overlays/`). Reading them costs the same whether the root
    /// holds ten flags or ten thousand.
    ///
    /// # Errors
    ///
    /// As [`Store::read_root_at`].
    pub fn read_flags_at(&self, revision: &str, keys: &[&str]) -> Result<RootFiles, StoreError> {
        let commit = self.commit_at(revision)?;
        let Some(tree) = self.root_tree_of(&commit)? else {
            return Err(StoreError::RootNotFound {
                revision: revision.to_owned(),
                root: self.root.clone(),
            });
        };
        let mut files = RootFiles::new();
        self.insert_blob(&tree, CONFIG_FILE, CONFIG_FILE, &mut files)?;
        if let Some(segments) = self.subtree(&tree, "segments")? {
            for entry in segments.iter() {
                let Ok(name) = entry.name() else { continue };
                let path = format!("segments/{name}");
                if entry.kind() == Some(ObjectType::Blob)
                    && entry.filemode() != MODE_LINK
                    && is_root_document(&path)
                {
                    let blob = self.repo.find_blob(entry.id()).context("read a file")?;
                    files.insert(path, blob.content().to_vec());
                }
            }
        }
        if let Some(base) = self.subtree(&tree, "base")? {
            for key in keys {
                let name = format!("{key}.yaml");
                self.insert_blob(&base, &name, &format!("base/{name}"), &mut files)?;
            }
        }
        if let Some(overlays) = self.subtree(&tree, "overlays")? {
            for entry in overlays.iter() {
                let Ok(environment) = entry.name() else {
                    continue;
                };
                if entry.kind() != Some(ObjectType::Tree) || environment.starts_with('.') {
                    continue;
                }
                let directory = self
                    .repo
                    .find_tree(entry.id())
                    .context("read a directory")?;
                for key in keys {
                    let name = format!("{key}.yaml");
                    let path = format!("overlays/{environment}/{name}");
                    self.insert_blob(&directory, &name, &path, &mut files)?;
                }
            }
        }
        Ok(files)
    }

    /// The root trees of `revision` and of its first-parent ancestors,
    /// nearest first, each once, at most `limit` of them (`None` where the
    /// root did not exist). A caller that knows something about an older
    /// tree can work out the newer one from [`Store::root_changes`].
    pub fn recent_root_trees(
        &self,
        revision: &str,
        limit: usize,
    ) -> Result<Vec<Option<RevisionId>>, StoreError> {
        let mut commit = self.commit_at(revision)?;
        let mut differ = TreeDiffer::new(&self.repo)?;
        let mut trees: Vec<Option<RevisionId>> = Vec::new();
        while trees.len() < limit {
            let tree = differ
                .subtree(commit.tree_id(), &self.root)?
                .map(RevisionId::from_oid);
            if trees.last() != Some(&tree) {
                trees.push(tree);
            }
            match commit.parent(0) {
                Ok(parent) => commit = parent,
                Err(_) => break,
            }
        }
        Ok(trees)
    }

    /// The root documents that differ between two root trees (`None`: no
    /// root), in path order, with their blobs on both sides.
    pub fn root_changes(
        &self,
        old: Option<RevisionId>,
        new: Option<RevisionId>,
    ) -> Result<Vec<PathChange>, StoreError> {
        let mut differ = TreeDiffer::new(&self.repo)?;
        let mut changes = Vec::new();
        differ.diff_root(
            old.map(RevisionId::to_oid),
            new.map(RevisionId::to_oid),
            &mut changes,
        )?;
        Ok(changes)
    }

    /// The keys of the flags at `revision`: the stems of `base/*.yaml`, in
    /// order (for suggestions when a key is mistyped).
    pub fn flag_keys_at(&self, revision: &str) -> Result<Vec<String>, StoreError> {
        let commit = self.commit_at(revision)?;
        let Some(tree) = self.root_tree_of(&commit)? else {
            return Ok(Vec::new());
        };
        let Some(base) = self.subtree(&tree, "base")? else {
            return Ok(Vec::new());
        };
        Ok(base
            .iter()
            .filter(|entry| entry.kind() == Some(ObjectType::Blob))
            .filter_map(|entry| {
                entry
                    .name()
                    .ok()
                    .and_then(|n| n.strip_suffix(".yaml"))
                    .map(str::to_owned)
            })
            .collect())
    }

    /// The git directory that all of the repository's work trees share
    /// (where branches, `packed-refs` and caches that outlive one command
    /// live). It differs from [`Store::git_dir`] in a linked work tree
    /// (`git worktree add`).
    pub fn common_dir(&self) -> &Path {
        self.repo.commondir()
    }

    /// Whether `ancestor` is `descendant` or one of its ancestors.
    pub fn is_ancestor(
        &self,
        ancestor: RevisionId,
        descendant: RevisionId,
    ) -> Result<bool, StoreError> {
        if ancestor == descendant {
            return Ok(true);
        }
        self.repo
            .graph_descendant_of(descendant.to_oid(), ancestor.to_oid())
            .context("compare two commits")
    }

    /// The remote a branch pushes to by git's configuration
    /// (`branch.<name>.pushRemote`, `remote.pushDefault`, then
    /// `branch.<name>.remote`), if any. `branch` is a short name (`main`).
    pub fn push_remote(&self, branch: &str) -> Result<Option<String>, StoreError> {
        let config = self.repo.config().context("read git's configuration")?;
        let read = |key: &str| -> Option<String> {
            config
                .get_string(key)
                .ok()
                .filter(|value| !value.is_empty() && value != ".")
        };
        Ok(read(&format!("branch.{branch}.pushRemote"))
            .or_else(|| read("remote.pushDefault"))
            .or_else(|| read(&format!("branch.{branch}.remote"))))
    }

    /// Whether a root-relative path holds uncommitted work, and which:
    /// `None` when committing over it loses nothing.
    ///
    /// Like [`Store::path_status`], except that a file whose index entry and
    /// working-tree content are both versions committed on the current
    /// branch (at its tip or up to 64 first-parent commits before it) is
    /// not counted: that is what another process's commit looks like until
    /// it has written the file out, and overwriting it loses nothing. Only
    /// this path is looked at (no directory scan), so the cost does not
    /// grow with the number of flags.
    pub fn uncommitted_edits(&self, path: &str) -> Result<Option<PathStatus>, StoreError> {
        let repo_path = self.repo_path(path)?;
        let workdir = self.require_workdir("checking a file's status")?;
        let file = workdir.join(&repo_path);
        // Read once from disk (the repository's own index object may be
        // cached and stale; re-reading it would parse the file twice).
        let index = git2::Index::open(&self.repo.path().join("index")).context("read the index")?;
        let entry_path = Path::new(&repo_path);
        if (1..=3).any(|stage| index.get_path(entry_path, stage).is_some()) {
            return Ok(Some(PathStatus::Conflicted));
        }
        let in_index = index.get_path(entry_path, 0).map(|e| e.id);
        let in_worktree = match std::fs::symlink_metadata(&file) {
            Ok(metadata) if metadata.is_file() => {
                Some(Oid::hash_file(ObjectType::Blob, &file).context("hash a working-tree file")?)
            }
            Ok(_) => return Ok(Some(PathStatus::Modified)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(source) => {
                return Err(StoreError::Io {
                    action: "read",
                    path: file,
                    source,
                });
            }
        };
        // Read after the file: a commit's ref moves before its files are
        // written, so whatever was read above is reachable from here.
        let tip = match self.head()? {
            super::Head::Branch { id, .. } => id,
            super::Head::Detached { id } => Some(id),
        };
        let Some(tip) = tip else {
            return Ok(match (in_index, in_worktree) {
                (None, None) => None,
                (None, Some(_)) => Some(PathStatus::Untracked),
                (Some(_), _) => Some(PathStatus::Staged),
            });
        };
        let mut commit = self
            .repo
            .find_commit(tip.to_oid())
            .context("read the branch tip")?;
        let at_tip = self.version_in(&commit, entry_path)?;
        if in_index == at_tip && in_worktree == at_tip {
            return Ok(None);
        }
        let status = match (in_index, in_worktree) {
            (None, Some(_)) => PathStatus::Untracked,
            _ if in_index != at_tip => PathStatus::Staged,
            _ => PathStatus::Modified,
        };
        let (mut seen_index, mut seen_worktree) = (false, false);
        for _ in 0..STALE_WINDOW {
            let version = self.version_in(&commit, entry_path)?;
            seen_index |= version == in_index;
            seen_worktree |= version == in_worktree;
            if seen_index && seen_worktree {
                return Ok(None);
            }
            match commit.parent(0) {
                Ok(parent) => commit = parent,
                Err(_) => break,
            }
        }
        Ok(Some(status))
    }

    /// The blob at `path` (repository-relative) in a commit, if any.
    fn version_in(
        &self,
        commit: &git2::Commit<'_>,
        path: &Path,
    ) -> Result<Option<Oid>, StoreError> {
        let tree = commit.tree().context("read a commit's tree")?;
        match tree.get_path(path) {
            Ok(entry) if entry.kind() == Some(ObjectType::Blob) => Ok(Some(entry.id())),
            Ok(_) => Ok(None),
            Err(e) if e.code() == ErrorCode::NotFound => Ok(None),
            Err(e) => Err(StoreError::git("look up a path", e)),
        }
    }

    fn subtree<'r>(
        &'r self,
        tree: &git2::Tree<'r>,
        name: &str,
    ) -> Result<Option<git2::Tree<'r>>, StoreError> {
        match tree.get_name(name) {
            Some(entry) if entry.kind() == Some(ObjectType::Tree) => Ok(Some(
                self.repo
                    .find_tree(entry.id())
                    .context("read a directory")?,
            )),
            _ => Ok(None),
        }
    }

    fn insert_blob(
        &self,
        tree: &git2::Tree<'_>,
        name: &str,
        path: &str,
        files: &mut RootFiles,
    ) -> Result<(), StoreError> {
        if let Some(entry) = tree.get_name(name)
            && entry.kind() == Some(ObjectType::Blob)
            && entry.filemode() != MODE_LINK
        {
            let blob = self.repo.find_blob(entry.id()).context("read a file")?;
            files.insert(path, blob.content().to_vec());
        }
        Ok(())
    }
}
