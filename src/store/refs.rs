//! Cheap reference reads for a follower (the runtime client): resolve a
//! reference's full name once, then read where it points in microseconds,
//! as often as needed; and where on disk a moved reference shows up, for a
//! file watcher.

use std::path::PathBuf;

use git2::ErrorCode;

use super::{GitError, RevisionId, Store, StoreError};

/// The full name of branch `branch` (`main` is `refs/heads/main`).
pub fn branch_reference(branch: &str) -> String {
    format!("refs/heads/{branch}")
}

/// A path whose changes may move a reference (see
/// [`Store::reference_paths`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReferencePath {
    /// A directory.
    pub path: PathBuf,
    /// Whether changes below its subdirectories count too.
    pub recursive: bool,
}

impl Store {
    /// Where a change to the repository's references shows up on disk:
    /// what a file watcher watches to notice that a branch or `HEAD` moved.
    /// Git's own layout: branches and `packed-refs` live in the common
    /// directory; a linked work tree's own `HEAD` in its git directory.
    pub fn reference_paths(&self) -> Vec<ReferencePath> {
        let common = self.common_dir().to_path_buf();
        let mut paths = vec![
            ReferencePath {
                path: common.join("refs"),
                recursive: true,
            },
            ReferencePath {
                path: common.clone(),
                recursive: false,
            },
        ];
        let git_dir = self.git_dir().to_path_buf();
        if git_dir.canonicalize().ok() != common.canonicalize().ok() {
            paths.push(ReferencePath {
                path: git_dir,
                recursive: false,
            });
        }
        paths
    }

    /// The full name of reference `name` as git resolves a short name
    /// (`main` is `refs/heads/main` unless a tag or another reference of that
    /// name comes first; `origin/main`, `HEAD` and full names work too).
    ///
    /// # Errors
    ///
    /// [`StoreError::RevisionNotFound`] when no reference has that name.
    pub fn reference_name(&self, name: &str) -> Result<String, StoreError> {
        if name == "HEAD" || name.starts_with("refs/") {
            return Ok(name.to_owned());
        }
        let reference = self
            .repo
            .resolve_reference_from_short_name(name)
            .map_err(|source| StoreError::RevisionNotFound {
                revision: name.to_owned(),
                source: GitError::new(source),
            })?;
        Ok(String::from_utf8_lossy(reference.name_bytes()).into_owned())
    }

    /// The commit that reference `full_name` (see [`Store::reference_name`])
    /// points at now, or `None` when it does not exist (yet), like a branch
    /// without commits.
    ///
    /// Reads the reference file (or `packed-refs`) and peels to the commit;
    /// a few microseconds, so polling it every few milliseconds is cheap.
    pub fn reference_commit(&self, full_name: &str) -> Result<Option<RevisionId>, StoreError> {
        let reference = match self.repo.find_reference(full_name) {
            Ok(reference) => reference,
            Err(e) if matches!(e.code(), ErrorCode::NotFound | ErrorCode::UnbornBranch) => {
                return Ok(None);
            }
            Err(e) => {
                return Err(StoreError::git(format!("read reference `{full_name}`"), e));
            }
        };
        match reference.peel_to_commit() {
            Ok(commit) => Ok(Some(RevisionId::from_oid(commit.id()))),
            Err(e) if matches!(e.code(), ErrorCode::NotFound | ErrorCode::UnbornBranch) => Ok(None),
            Err(e) => Err(StoreError::git(
                format!("resolve reference `{full_name}` to a commit"),
                e,
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_commits_of_references() {
        let dir = tempfile::tempdir().expect("temp dir");
        let repo = git2::Repository::init(dir.path()).expect("init");
        let store = Store::open(dir.path(), "").expect("open");
        let head = store.head().expect("head");
        let branch = format!("refs/heads/{}", head.branch().expect("on a branch"));
        assert_eq!(store.reference_commit(&branch).expect("read"), None);
        assert_eq!(store.reference_commit("HEAD").expect("read"), None);

        let signature = git2::Signature::now("T", "t@example.com").expect("signature");
        let tree = repo
            .find_tree(
                repo.treebuilder(None)
                    .expect("builder")
                    .write()
                    .expect("tree"),
            )
            .expect("tree");
        let id = repo
            .commit(Some("HEAD"), &signature, &signature, "first", &tree, &[])
            .expect("commit");
        let id = RevisionId::from_oid(id);
        let short = branch.trim_start_matches("refs/heads/");
        assert_eq!(store.reference_name(short).expect("name"), branch);
        assert_eq!(store.reference_commit(&branch).expect("read"), Some(id));
        assert_eq!(store.reference_commit("HEAD").expect("read"), Some(id));
        assert!(store.reference_name("no-such-branch").is_err());
        assert_eq!(store.common_dir(), store.git_dir());
        let paths = store.reference_paths();
        assert_eq!(paths.len(), 2, "no linked work tree: {paths:?}");
        assert!(paths[0].recursive && paths[0].path.ends_with("refs"));
        assert!(!paths[1].recursive && paths[1].path == store.common_dir());
    }
}
