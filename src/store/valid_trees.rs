//! Which root trees were found valid, remembered between commands: how
//! many errors a root tree has, in `<git common dir>/flagctl/valid-trees-<version>`,
//! one `<tree> <errors>` line per tree (used by `crate::change`). A tree id
//! fixes the flag documents, so entries never go stale; a torn or lost line
//! costs one full validation.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::{RevisionId, Store};

/// How many tree ids the cache keeps after compacting.
const KEEP: usize = 2048;
/// Above this size (about 6,000 lines) the cache is compacted.
const COMPACT_AT: u64 = 256 * 1024;

/// What full validations found, per root tree: how many errors (0: valid).
#[derive(Debug)]
pub(crate) struct ValidTrees {
    path: Option<PathBuf>,
}

impl Store {
    /// The repository's cache of valid root trees.
    pub(crate) fn valid_trees(&self) -> ValidTrees {
        ValidTrees::open(self.common_dir())
    }
}

impl ValidTrees {
    /// The cache of the repository whose shared git directory is `common_dir`.
    fn open(common_dir: &Path) -> ValidTrees {
        let name = format!("valid-trees-{}", env!("CARGO_PKG_VERSION"));
        ValidTrees {
            path: Some(common_dir.join("flagctl").join(name)),
        }
    }

    /// A cache that remembers nothing (every change validates fully).
    pub(crate) fn disabled() -> ValidTrees {
        ValidTrees { path: None }
    }

    /// Every tree validated before, with its number of errors (the newest
    /// line wins).
    pub(crate) fn known(&self) -> HashMap<RevisionId, usize> {
        let Some(text) = self.path.as_ref().and_then(|p| fs::read_to_string(p).ok()) else {
            return HashMap::new();
        };
        text.lines()
            .filter_map(|line| {
                let (id, errors) = line.split_once(' ')?;
                Some((id.parse().ok()?, errors.parse().ok()?))
            })
            .collect()
    }

    /// How many errors `tree` has, when it was validated before.
    #[cfg(test)]
    pub(crate) fn errors(&self, tree: RevisionId) -> Option<usize> {
        self.known().get(&tree).copied()
    }

    /// Remembers how many errors `tree` has. Failing to write is not an
    /// error: the next command validates again.
    pub(crate) fn insert(&self, tree: RevisionId, errors: usize) {
        let Some(path) = &self.path else { return };
        let Some(dir) = path.parent() else { return };
        if fs::create_dir_all(dir).is_err() {
            return;
        }
        let line = format!("{tree} {errors}\n");
        if let Ok(mut file) = fs::OpenOptions::new().create(true).append(true).open(path) {
            // One short write: concurrent appends do not interleave.
            let _ = file.write_all(line.as_bytes());
        }
        if fs::metadata(path).is_ok_and(|m| m.len() > COMPACT_AT) {
            compact(path);
        }
    }
}

/// Keeps the newest [`KEEP`] ids (a concurrent append may be lost, which
/// costs one full validation).
fn compact(path: &Path) {
    let Ok(text) = fs::read_to_string(path) else {
        return;
    };
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.split_once(' ').is_some_and(|(id, _)| id.len() == 40))
        .collect();
    let kept = lines[lines.len().saturating_sub(KEEP)..].join("\n") + "\n";
    let temp = path.with_extension(format!("tmp-{}", std::process::id()));
    if fs::write(&temp, kept).is_ok() && fs::rename(&temp, path).is_err() {
        let _ = fs::remove_file(&temp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_remembers_and_compacts() -> Result<(), super::super::ParseRevisionIdError> {
        let dir = tempfile::tempdir().expect("temp dir");
        let cache = ValidTrees::open(dir.path());
        let id: RevisionId = "0123456789abcdef0123456789abcdef01234567".parse()?;
        assert_eq!(cache.errors(id), None);
        cache.insert(id, 0);
        assert_eq!(cache.errors(id), Some(0));
        cache.insert(id, 3);
        assert_eq!(cache.errors(id), Some(3), "the newest line wins");
        assert_eq!(ValidTrees::disabled().errors(id), None);
        let path = cache.path.clone().expect("a path");
        let filler: String = (0..7000).map(|i| format!("{i:040x} 0\n")).collect();
        fs::write(&path, filler).expect("write");
        cache.insert(id, 0);
        assert_eq!(
            cache.errors(id),
            Some(0),
            "the newest id survives compaction"
        );
        let lines = fs::read_to_string(&path).expect("read").lines().count();
        assert_eq!(lines, KEEP);
        Ok(())
    }
}
