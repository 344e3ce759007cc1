//! A persistent cache of which flag documents each commit changed, so that
//! `flagctl log` does not compare large directories again on every run.
//!
//! A commit's changes against its first parent never change (both are fixed
//! by the commit's id), so entries never go stale. The cache is an
//! append-only text file under the git directory (`flagctl/`), one line per
//! commit with a checksum; lines that do not parse or check are ignored, so
//! a torn write or a concurrent writer costs at most a recomputation.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use git2::Oid;

use super::RevisionId;
use super::treediff::PathChange;

const HEADER: &str = "flagctl history cache v1";

/// What the cache knows about one commit.
#[derive(Clone, Debug)]
pub(crate) struct Cached {
    /// How many parents the commit has.
    pub(crate) parents: usize,
    /// The root documents it changed against its first parent.
    pub(crate) changes: Vec<PathChange>,
}

pub(crate) struct HistoryCache {
    path: Option<PathBuf>,
    root: String,
    entries: HashMap<Oid, Cached>,
    pending: Vec<(Oid, Cached)>,
}

impl HistoryCache {
    /// Loads the cache for the flag root `root` of the repository whose
    /// shared git directory is `git_dir`. A missing or unreadable cache is empty.
    pub(crate) fn load(git_dir: &Path, root: &str) -> HistoryCache {
        let path = cache_path(git_dir, root);
        let mut cache = HistoryCache {
            path: Some(path.clone()),
            root: root.to_owned(),
            entries: HashMap::new(),
            pending: Vec::new(),
        };
        let Ok(text) = fs::read_to_string(&path) else {
            return cache;
        };
        let mut lines = text.lines();
        if lines.next() != Some(&cache.header()) {
            return cache;
        }
        for line in lines {
            if let Some((id, cached)) = parse_line(line) {
                cache.entries.insert(id, cached);
            }
        }
        cache
    }

    /// A cache that keeps nothing (for tests).
    #[cfg(test)]
    pub(crate) fn disabled() -> HistoryCache {
        HistoryCache {
            path: None,
            root: String::new(),
            entries: HashMap::new(),
            pending: Vec::new(),
        }
    }

    fn header(&self) -> String {
        format!("{HEADER} root={}", self.root)
    }

    pub(crate) fn get(&self, id: Oid) -> Option<&Cached> {
        self.entries.get(&id)
    }

    pub(crate) fn insert(&mut self, id: Oid, cached: Cached) {
        if self.path.is_some() {
            self.pending.push((id, cached.clone()));
        }
        self.entries.insert(id, cached);
    }

    /// Appends what was learned since loading. Failing to write a cache is
    /// not an error: the next run computes the same again.
    pub(crate) fn save(&mut self) {
        let Some(path) = &self.path else { return };
        if !self.pending.is_empty() {
            append(path, &self.header(), &self.pending);
            self.pending.clear();
        }
    }

    /// Records one commit without loading the cache (after
    /// [`crate::store::Store::commit_change`], which knows what it changed).
    pub(crate) fn record(git_dir: &Path, root: &str, id: Oid, cached: Cached) {
        let header = format!("{HEADER} root={root}");
        append(&cache_path(git_dir, root), &header, &[(id, cached)]);
    }
}

fn cache_path(git_dir: &Path, root: &str) -> PathBuf {
    git_dir
        .join("flagctl")
        .join(format!("history-{:016x}.v1", fnv(root.as_bytes())))
}

/// Appends lines in one write (whole lines, so that concurrent appends do
/// not interleave), with the header first in a new file.
fn append(path: &Path, header: &str, entries: &[(Oid, Cached)]) {
    let mut text = String::new();
    if !path.exists() {
        text.push_str(header);
        text.push('\n');
    }
    for (id, cached) in entries {
        if let Some(line) = format_line(*id, cached) {
            text.push_str(&line);
            text.push('\n');
        }
    }
    let Some(dir) = path.parent() else { return };
    if fs::create_dir_all(dir).is_err() {
        return;
    }
    let file = fs::OpenOptions::new().create(true).append(true).open(path);
    if let Ok(mut file) = file {
        let _ = file.write_all(text.as_bytes());
    }
}

fn format_line(id: Oid, cached: &Cached) -> Option<String> {
    let mut line = format!("{id} {}", cached.parents);
    for change in &cached.changes {
        if change.path.contains(['\t', '\n', '\r']) {
            return None;
        }
        line.push('\t');
        line.push_str(&change.path);
        for side in [change.before, change.after] {
            line.push('\t');
            match side {
                Some(id) => line.push_str(&id.to_string()),
                None => line.push('-'),
            }
        }
    }
    let sum = fnv(line.as_bytes());
    Some(format!("{line}\t#{sum:016x}"))
}

fn parse_line(line: &str) -> Option<(Oid, Cached)> {
    let (content, sum) = line.rsplit_once("\t#")?;
    if u64::from_str_radix(sum, 16).ok()? != fnv(content.as_bytes()) {
        return None;
    }
    let mut fields = content.split('\t');
    let (id, parents) = fields.next()?.split_once(' ')?;
    let id = Oid::from_str(id).ok()?;
    let parents = parents.parse().ok()?;
    let side = |text: &str| -> Option<Option<RevisionId>> {
        if text == "-" {
            Some(None)
        } else {
            text.parse().ok().map(Some)
        }
    };
    let mut changes = Vec::new();
    while let Some(path) = fields.next() {
        let before = side(fields.next()?)?;
        let after = side(fields.next()?)?;
        changes.push(PathChange {
            path: path.to_owned(),
            before,
            after,
        });
    }
    Some((id, Cached { parents, changes }))
}

/// FNV-1a, 64 bits: a stable, dependency-free checksum.
fn fnv(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &byte in bytes {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip_and_reject_damage() -> Result<(), git2::Error> {
        let id = Oid::from_str("0123456789abcdef0123456789abcdef01234567")?;
        let blob = RevisionId::from_oid(Oid::from_str("89abcdef0123456789abcdef0123456789abcdef")?);
        let cached = Cached {
            parents: 1,
            changes: vec![
                PathChange {
                    path: "base/a.yaml".into(),
                    before: None,
                    after: Some(blob),
                },
                PathChange {
                    path: "base/b.yaml".into(),
                    before: Some(blob),
                    after: None,
                },
            ],
        };
        let line = format_line(id, &cached).expect("plain paths");
        let (parsed_id, parsed) = parse_line(&line).expect("valid line");
        assert_eq!(parsed_id, id);
        assert_eq!(parsed.parents, 1);
        assert_eq!(parsed.changes, cached.changes);
        assert!(parse_line(&line.replace("a.yaml", "c.yaml")).is_none());
        assert!(parse_line(&line[..line.len() - 3]).is_none());
        let empty = format_line(
            id,
            &Cached {
                parents: 0,
                changes: vec![],
            },
        )
        .expect("line");
        assert_eq!(parse_line(&empty).map(|(_, c)| c.changes.len()), Some(0));
        Ok(())
    }

    #[test]
    fn saves_and_loads() -> Result<(), git2::Error> {
        let dir = tempfile::tempdir().expect("temp dir");
        let id = Oid::from_str("0123456789abcdef0123456789abcdef01234567")?;
        let mut cache = HistoryCache::load(dir.path(), "flags");
        assert!(cache.get(id).is_none());
        cache.insert(
            id,
            Cached {
                parents: 1,
                changes: vec![],
            },
        );
        cache.save();
        cache.save();
        let again = HistoryCache::load(dir.path(), "flags");
        assert_eq!(again.get(id).map(|c| c.parents), Some(1));
        let other_root = HistoryCache::load(dir.path(), "");
        assert!(other_root.get(id).is_none());
        assert!(HistoryCache::disabled().get(id).is_none());
        Ok(())
    }
}
