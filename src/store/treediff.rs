//! Fast tree comparison for history: raw tree objects are compared byte-wise
//! to skip identical runs, and only the entries that differ are parsed into
//! changes. Only directories that can hold flag documents are entered.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::rc::Rc;

use git2::{Odb, Oid};

use super::error::GitContext;
use super::{RevisionId, StoreError};
use crate::format::files::is_root_document;

/// One root-relative document that differs between two trees.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PathChange {
    /// The root-relative path (`base/new-checkout.yaml`).
    pub path: String,
    /// The blob before (`None`: the file did not exist).
    pub before: Option<RevisionId>,
    /// The blob after (`None`: the file was deleted).
    pub after: Option<RevisionId>,
}

const MODE_TREE: u32 = 0o40000;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Tree,
    File,
    /// Symbolic links and submodules: never documents.
    Other,
}

#[derive(Clone, Copy)]
struct Entry<'a> {
    kind: Kind,
    mode: u32,
    name: &'a [u8],
    id: &'a [u8],
    /// Offset just past the entry.
    end: usize,
}

/// Reads tree objects (keeping the last ones, since walking history reads
/// each version of a directory twice) and compares them.
pub(crate) struct TreeDiffer<'repo> {
    odb: Odb<'repo>,
    cache: HashMap<Oid, Rc<[u8]>>,
    cached_bytes: usize,
    oid_len: usize,
}

/// Above this many cached bytes the cache is emptied.
const CACHE_LIMIT: usize = 64 << 20;

impl<'repo> TreeDiffer<'repo> {
    pub(crate) fn new(repo: &'repo git2::Repository) -> Result<TreeDiffer<'repo>, StoreError> {
        Ok(TreeDiffer {
            odb: repo.odb().context("open the object database")?,
            cache: HashMap::new(),
            cached_bytes: 0,
            oid_len: Oid::ZERO_SHA1.as_bytes().len(),
        })
    }

    fn tree(&mut self, id: Oid) -> Result<Rc<[u8]>, StoreError> {
        if let Some(bytes) = self.cache.get(&id) {
            return Ok(Rc::clone(bytes));
        }
        let object = self.odb.read(id).context("read a tree")?;
        if object.kind() != git2::ObjectType::Tree {
            return Err(StoreError::git(
                "read a tree",
                git2::Error::from_str("the object is not a tree"),
            ));
        }
        let bytes: Rc<[u8]> = Rc::from(object.data());
        self.oid_len = id.as_bytes().len();
        if self.cached_bytes + bytes.len() > CACHE_LIMIT {
            self.cache.clear();
            self.cached_bytes = 0;
        }
        self.cached_bytes += bytes.len();
        self.cache.insert(id, Rc::clone(&bytes));
        Ok(bytes)
    }

    /// The id of the tree at `path` (`/`-separated, repository-relative;
    /// empty for `tree` itself) inside `tree`, if there is one.
    pub(crate) fn subtree(&mut self, tree: Oid, path: &str) -> Result<Option<Oid>, StoreError> {
        let mut current = tree;
        if path.is_empty() {
            return Ok(Some(current));
        }
        for part in path.split('/') {
            let bytes = self.tree(current)?;
            let mut pos = 0;
            let mut found = None;
            while let Some(entry) = parse_entry(&bytes, pos, self.oid_len) {
                pos = entry.end;
                if entry.name == part.as_bytes() {
                    if entry.kind == Kind::Tree {
                        found = Oid::from_bytes(entry.id).ok();
                    }
                    break;
                }
            }
            match found {
                Some(id) => current = id,
                None => return Ok(None),
            }
        }
        Ok(Some(current))
    }

    /// Appends the root documents that differ between two root trees
    /// (`None`: the root did not exist) to `out`, in path order.
    pub(crate) fn diff_root(
        &mut self,
        old: Option<Oid>,
        new: Option<Oid>,
        out: &mut Vec<PathChange>,
    ) -> Result<(), StoreError> {
        self.diff(old, new, "", out)
    }

    fn diff(
        &mut self,
        old: Option<Oid>,
        new: Option<Oid>,
        prefix: &str,
        out: &mut Vec<PathChange>,
    ) -> Result<(), StoreError> {
        if old == new {
            return Ok(());
        }
        let empty: Rc<[u8]> = Rc::from(&[][..]);
        let a = match old {
            Some(id) => self.tree(id)?,
            None => Rc::clone(&empty),
        };
        let b = match new {
            Some(id) => self.tree(id)?,
            None => empty,
        };
        let oid_len = self.oid_len;
        let (mut i, mut j) = (0, 0);
        loop {
            // Skip the entries both trees share byte for byte.
            let mut common = common_prefix(&a[i..], &b[j..]);
            if i + common == a.len() && j + common == b.len() {
                return Ok(());
            }
            while let Some(entry) = parse_entry(&a, i, oid_len) {
                let length = entry.end - i;
                if length > common {
                    break;
                }
                common -= length;
                i += length;
                j += length;
            }
            let ea = parse_entry(&a, i, oid_len);
            let eb = parse_entry(&b, j, oid_len);
            let order = match (&ea, &eb) {
                (None, None) => return Ok(()),
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (Some(x), Some(y)) => git_order(x, y),
            };
            match order {
                Ordering::Less => {
                    if let Some(x) = ea {
                        self.side(Some(x), None, prefix, out)?;
                        i = x.end;
                    }
                }
                Ordering::Greater => {
                    if let Some(y) = eb {
                        self.side(None, Some(y), prefix, out)?;
                        j = y.end;
                    }
                }
                Ordering::Equal => {
                    if let (Some(x), Some(y)) = (ea, eb) {
                        if x.id != y.id || x.kind != y.kind || x.mode != y.mode {
                            if x.kind == y.kind {
                                self.side(Some(x), Some(y), prefix, out)?;
                            } else {
                                self.side(Some(x), None, prefix, out)?;
                                self.side(None, Some(y), prefix, out)?;
                            }
                        }
                        i = x.end;
                        j = y.end;
                    }
                }
            }
        }
    }

    /// Records one differing entry (same name and kind on both sides, or one
    /// side missing).
    fn side(
        &mut self,
        old: Option<Entry<'_>>,
        new: Option<Entry<'_>>,
        prefix: &str,
        out: &mut Vec<PathChange>,
    ) -> Result<(), StoreError> {
        let Some(any) = old.or(new) else {
            return Ok(());
        };
        let name = String::from_utf8_lossy(any.name);
        let path = if prefix.is_empty() {
            name.into_owned()
        } else {
            format!("{prefix}/{name}")
        };
        let id = |entry: Option<Entry<'_>>| entry.and_then(|e| Oid::from_bytes(e.id).ok());
        match any.kind {
            Kind::Tree => {
                if super::could_hold_documents(&path) {
                    self.diff(id(old), id(new), &path, out)?;
                }
            }
            Kind::File => {
                if is_root_document(&path) && id(old) != id(new) {
                    out.push(PathChange {
                        path,
                        before: id(old).map(RevisionId::from_oid),
                        after: id(new).map(RevisionId::from_oid),
                    });
                }
            }
            Kind::Other => {}
        }
        Ok(())
    }
}

/// How many leading bytes two slices share.
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    const CHUNK: usize = 64;
    let limit = a.len().min(b.len());
    let mut at = 0;
    while at + CHUNK <= limit && a[at..at + CHUNK] == b[at..at + CHUNK] {
        at += CHUNK;
    }
    while at < limit && a[at] == b[at] {
        at += 1;
    }
    at
}

/// Parses the tree entry starting at `pos` (`<octal mode> <name>\0<id>`).
fn parse_entry(bytes: &[u8], pos: usize, oid_len: usize) -> Option<Entry<'_>> {
    let rest = bytes.get(pos..)?;
    let space = rest.iter().take(8).position(|&b| b == b' ')?;
    let mut mode = 0u32;
    for &digit in &rest[..space] {
        mode = mode * 8 + u32::from(digit.checked_sub(b'0')?);
    }
    let name_start = space + 1;
    let nul = rest.get(name_start..)?.iter().position(|&b| b == 0)? + name_start;
    let id = rest.get(nul + 1..nul + 1 + oid_len)?;
    let kind = match mode & 0o170000 {
        0o040000 => Kind::Tree,
        0o100000 => Kind::File,
        _ => Kind::Other,
    };
    Some(Entry {
        kind,
        mode,
        name: &rest[name_start..nul],
        id,
        end: pos + nul + 1 + oid_len,
    })
}

/// Git's order of tree entries: by name, a tree's name followed by `/`.
fn git_order(a: &Entry<'_>, b: &Entry<'_>) -> Ordering {
    let suffix = |e: &Entry<'_>| if e.mode == MODE_TREE { b'/' } else { 0 };
    let common = a.name.len().min(b.name.len());
    match a.name[..common].cmp(&b.name[..common]) {
        Ordering::Equal => {}
        other => return other,
    }
    let next = |e: &Entry<'_>| e.name.get(common).copied().unwrap_or_else(|| suffix(e));
    match next(a).cmp(&next(b)) {
        Ordering::Equal => a.name.len().cmp(&b.name.len()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_prefixes() {
        let a: Vec<u8> = (0..200u8).collect();
        let mut b = a.clone();
        assert_eq!(common_prefix(&a, &b), 200);
        b[130] = 0;
        assert_eq!(common_prefix(&a, &b), 130);
        assert_eq!(common_prefix(&a[..10], &b), 10);
    }

    #[test]
    fn orders_like_git() {
        let id = [0u8; 20];
        let entry = |name: &'static str, mode| Entry {
            kind: Kind::File,
            mode,
            name: name.as_bytes(),
            id: &id,
            end: 0,
        };
        // `a.b` (file) < `a` (tree, compared as `a/`) because `.` < `/`.
        assert_eq!(
            git_order(&entry("a.b", 0o100644), &entry("a", MODE_TREE)),
            Ordering::Less
        );
        assert_eq!(
            git_order(&entry("a", 0o100644), &entry("a.b", 0o100644)),
            Ordering::Less
        );
        assert_eq!(
            git_order(&entry("a0", 0o100644), &entry("a", MODE_TREE)),
            Ordering::Greater
        );
        assert_eq!(
            git_order(&entry("b", 0o100644), &entry("b", 0o100644)),
            Ordering::Equal
        );
    }
}
