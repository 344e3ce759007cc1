//! The files of a flag root, in memory: read from a directory here, or from a
//! git tree by [`crate::store`], so that loading never cares where they came
//! from.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

/// The name of the file that marks a flag root.
pub const CONFIG_FILE: &str = "flagctl.yaml";

/// The directories of a flag root that hold documents.
pub const DOCUMENT_DIRS: [&str; 3] = ["base", "segments", "overlays"];

/// The files of a flag root: relative paths with `/` separators
/// (`base/new-checkout.yaml`) to their bytes.
///
/// Only `flagctl.yaml` and the files under `base/`, `segments/` and
/// `overlays/<env>/` matter; anything else in the root (a README, the
/// `schemas/` written by `flagctl init`) is never read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RootFiles {
    files: BTreeMap<String, Vec<u8>>,
}

/// Whether a root-relative path is one that loading reads: `flagctl.yaml`,
/// `base/*`, `segments/*` or `overlays/*/*` (hidden files excepted).
pub fn is_root_document(path: &str) -> bool {
    let parts: Vec<&str> = path.split('/').collect();
    if parts.iter().any(|p| p.starts_with('.') || p.is_empty()) {
        return false;
    }
    match parts.as_slice() {
        [name] => *name == CONFIG_FILE,
        ["base" | "segments", _] => true,
        ["overlays", _, _] => true,
        _ => false,
    }
}

impl RootFiles {
    /// An empty set of files.
    pub fn new() -> RootFiles {
        RootFiles::default()
    }

    /// Files from `(path, contents)` pairs (handy in tests and examples).
    pub fn from_pairs<P: Into<String>, C: Into<Vec<u8>>>(
        pairs: impl IntoIterator<Item = (P, C)>,
    ) -> RootFiles {
        let mut files = RootFiles::new();
        for (path, contents) in pairs {
            files.insert(path, contents);
        }
        files
    }

    /// Reads the documents of the root at `root` (see [`is_root_document`]).
    ///
    /// Symbolic links are followed (Kubernetes ConfigMaps are links).
    pub fn from_dir(root: &Path) -> io::Result<RootFiles> {
        let mut paths: Vec<String> = Vec::new();
        if root.join(CONFIG_FILE).exists() {
            paths.push(CONFIG_FILE.to_owned());
        }
        for dir in ["base", "segments"] {
            for name in list_files(&root.join(dir))? {
                paths.push(format!("{dir}/{name}"));
            }
        }
        for environment in list_dirs(&root.join("overlays"))? {
            for name in list_files(&root.join("overlays").join(&environment))? {
                paths.push(format!("overlays/{environment}/{name}"));
            }
        }
        paths.retain(|p| is_root_document(p));
        // Small files: the cost is in system calls, which overlap well.
        let threads = std::thread::available_parallelism()
            .map_or(1, usize::from)
            .min(4);
        let chunk = paths.len().div_ceil(threads).max(1);
        type Chunk = io::Result<Vec<(String, Vec<u8>)>>;
        let read: Vec<Chunk> = std::thread::scope(|scope| {
            let handles: Vec<_> = paths
                .chunks(chunk)
                .map(|part| {
                    scope.spawn(move || {
                        part.iter()
                            .map(|path| {
                                std::fs::read(root.join(path)).map(|bytes| (path.clone(), bytes))
                            })
                            .collect::<io::Result<Vec<_>>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                })
                .collect()
        });
        let mut files = RootFiles::new();
        for part in read {
            for (path, bytes) in part? {
                files.insert(path, bytes);
            }
        }
        Ok(files)
    }

    /// Adds or replaces a file.
    pub fn insert(&mut self, path: impl Into<String>, contents: impl Into<Vec<u8>>) {
        self.files.insert(path.into(), contents.into());
    }

    /// Removes a file, returning its contents.
    pub fn remove(&mut self, path: &str) -> Option<Vec<u8>> {
        self.files.remove(path)
    }

    /// The contents of a file.
    pub fn get(&self, path: &str) -> Option<&[u8]> {
        self.files.get(path).map(Vec::as_slice)
    }

    /// Every file, in path order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.files.iter().map(|(p, c)| (p.as_str(), c.as_slice()))
    }

    /// How many files.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Whether there are no files.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

fn list_entries(dir: &Path, want_dirs: bool) -> io::Result<Vec<String>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if name.starts_with('.') {
            continue;
        }
        let Ok(file_type) = entry.file_type() else {
            continue;
        };
        // Follow symbolic links (Kubernetes ConfigMaps are links); other
        // entries need no extra system call.
        let is_dir = if file_type.is_symlink() {
            std::fs::metadata(entry.path()).is_ok_and(|m| m.is_dir())
        } else {
            file_type.is_dir()
        };
        if is_dir == want_dirs {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

fn list_files(dir: &Path) -> io::Result<Vec<String>> {
    list_entries(dir, false)
}

fn list_dirs(dir: &Path) -> io::Result<Vec<String>> {
    list_entries(dir, true)
}

/// Finds the flag root for `start`: the nearest directory at or above it that
/// holds `flagctl.yaml`, or whose `flags/` child does.
pub fn discover_root(start: &Path) -> Option<PathBuf> {
    let mut dir = Some(start);
    while let Some(current) = dir {
        if current.join(CONFIG_FILE).is_file() {
            return Some(current.to_path_buf());
        }
        let child = current.join("flags");
        if child.join(CONFIG_FILE).is_file() {
            return Some(child);
        }
        dir = current.parent();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_paths_are_documents() {
        assert!(is_root_document("flagctl.yaml"));
        assert!(is_root_document("base/x.yaml"));
        assert!(is_root_document("base/x.yml"));
        assert!(is_root_document("overlays/prod/x.yaml"));
        assert!(!is_root_document("overlays/x.yaml"));
        assert!(!is_root_document("schemas/flag.schema.json"));
        assert!(!is_root_document("base/.gitkeep"));
        assert!(!is_root_document("README.md"));
        assert!(!is_root_document("base/sub/x.yaml"));
    }

    #[test]
    fn reads_a_directory_and_discovers_it() -> io::Result<()> {
        let temp = tempfile::tempdir()?;
        let root = temp.path().join("flags");
        std::fs::create_dir_all(root.join("base"))?;
        std::fs::create_dir_all(root.join("overlays/prod"))?;
        std::fs::create_dir_all(root.join("schemas"))?;
        std::fs::write(root.join(CONFIG_FILE), "environments: [prod]\n")?;
        std::fs::write(root.join("base/a.yaml"), "key: a\n")?;
        std::fs::write(root.join("base/.gitkeep"), "")?;
        std::fs::write(root.join("overlays/prod/a.yaml"), "enabled: false\n")?;
        std::fs::write(root.join("schemas/flag.schema.json"), "{}")?;
        let files = RootFiles::from_dir(&root)?;
        let paths: Vec<&str> = files.iter().map(|(p, _)| p).collect();
        assert_eq!(
            paths,
            ["base/a.yaml", "flagctl.yaml", "overlays/prod/a.yaml"]
        );

        let nested = temp.path().join("src/deep");
        std::fs::create_dir_all(&nested)?;
        assert_eq!(discover_root(&nested), Some(root.clone()));
        assert_eq!(discover_root(&root.join("base")), Some(root));
        Ok(())
    }
}
