//! Validating the configuration a change would commit, and remembering
//! which root trees were found valid.
//!
//! A change to one flag's files (`base/K.yaml`, `overlays/*/K.yaml`) can
//! only change that flag's resolution: every check that relates documents
//! to each other looks from a flag at `flagctl.yaml` and the segment names,
//! never at another flag (the one exception, a segment no flag uses, is a
//! warning). So when the tip's root tree was validated before, loading
//! `flagctl.yaml`, the segments and the changed flags' files decides
//! whether the result is valid, and which of its errors are new. How many
//! errors a root tree has is remembered in
//! `<git common dir>/flagctl/valid-trees-<version>`, one `<tree> <errors>`
//! line per tree. A tree not in the cache is worked out from the nearest
//! valid first-parent ancestor when only flag files differ; otherwise the
//! first command pays for a full validation, later ones do not.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::diagnostic::{Code, Diagnostic};
use crate::format::{LoadOptions, Loaded, RootFiles, load};
use crate::store::Oid;

/// How many tree ids the cache keeps after compacting.
const KEEP: usize = 2048;
/// Above this size (about 6,000 lines) the cache is compacted.
const COMPACT_AT: u64 = 256 * 1024;

/// What full validations found, per root tree: how many errors (0: valid).
#[derive(Debug)]
pub(crate) struct ValidTrees {
    path: Option<PathBuf>,
}

impl ValidTrees {
    /// The cache of the repository whose shared git directory is `common_dir`.
    pub(crate) fn open(common_dir: &Path) -> ValidTrees {
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
    pub(crate) fn known(&self) -> HashMap<Oid, usize> {
        let Some(text) = self.path.as_ref().and_then(|p| fs::read_to_string(p).ok()) else {
            return HashMap::new();
        };
        text.lines()
            .filter_map(|line| {
                let (id, errors) = line.split_once(' ')?;
                Some((Oid::from_str(id).ok()?, errors.parse().ok()?))
            })
            .collect()
    }

    /// How many errors `tree` has, when it was validated before.
    #[cfg(test)]
    pub(crate) fn errors(&self, tree: Oid) -> Option<usize> {
        self.known().get(&tree).copied()
    }

    /// Remembers how many errors `tree` has. Failing to write is not an
    /// error: the next command validates again.
    pub(crate) fn insert(&self, tree: Oid, errors: usize) {
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

/// What validation of the configuration after a change found.
pub(crate) struct Verdict {
    /// The errors that refuse the change: those in changed files, and
    /// those the change introduces elsewhere.
    pub blocking: Vec<Diagnostic>,
    /// Errors that were there before in files the change does not touch.
    pub preexisting: usize,
    /// Warnings in the changed files.
    pub warnings: Vec<Diagnostic>,
}

fn file_of(diagnostic: &Diagnostic) -> Option<String> {
    diagnostic
        .location
        .as_ref()
        .map(|l| l.file.to_string_lossy().replace('\\', "/"))
}

type Identity = (Code, Option<String>, String, Option<String>);

fn identity(diagnostic: &Diagnostic) -> Identity {
    (
        diagnostic.code,
        file_of(diagnostic),
        diagnostic.message.clone(),
        diagnostic.environment.clone(),
    )
}

/// Compares the configuration before and after a change.
///
/// `scoped` says the loads hold only `flagctl.yaml`, the segments and the
/// changed flags (so "segment not used" warnings mean nothing).
pub(crate) fn judge(
    before: Option<&Loaded>,
    after: &Loaded,
    changed: &[String],
    scoped: bool,
) -> Verdict {
    let known: HashSet<Identity> = before
        .map(|b| {
            b.diagnostics
                .iter()
                .filter(|d| d.is_error())
                .map(identity)
                .collect()
        })
        .unwrap_or_default();
    let touches = |d: &Diagnostic| file_of(d).is_some_and(|f| changed.contains(&f));
    let mut blocking = Vec::new();
    let mut preexisting = 0;
    let mut warnings = Vec::new();
    for diagnostic in &after.diagnostics {
        if diagnostic.is_error() {
            if touches(diagnostic) || !known.contains(&identity(diagnostic)) {
                blocking.push(diagnostic.clone());
            } else {
                preexisting += 1;
            }
        } else if touches(diagnostic) && !(scoped && diagnostic.code == Code::UnusedSegment) {
            warnings.push(diagnostic.clone());
        }
    }
    Verdict {
        blocking,
        preexisting,
        warnings,
    }
}

/// Loads `files` with `options`.
pub(crate) fn load_root(files: &RootFiles, options: &LoadOptions) -> Loaded {
    load(files, options)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::RootFiles;

    fn options() -> LoadOptions {
        LoadOptions {
            today: Some(jiff::civil::date(2026, 11, 24)),
            threads: 1,
        }
    }

    #[test]
    fn the_cache_remembers_and_compacts() -> Result<(), git2::Error> {
        let dir = tempfile::tempdir().expect("temp dir");
        let cache = ValidTrees::open(dir.path());
        let id = Oid::from_str("0123456789abcdef0123456789abcdef01234567")?;
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

    #[test]
    fn only_errors_the_change_touches_or_introduces_block() {
        let config = ("flagctl.yaml", "environments: [dev, prod]\n");
        let broken = (
            "base/broken.yaml",
            "key: broken\ntype: boolean\ndefault:\n  rollout: { on: 60, off: 50 }\n",
        );
        let before = RootFiles::from_pairs([
            config,
            broken,
            ("base/a.yaml", "key: a\ntype: boolean\ndefault: on\n"),
        ]);
        let after_ok = RootFiles::from_pairs([
            config,
            broken,
            ("base/a.yaml", "key: a\ntype: boolean\ndefault: off\n"),
        ]);
        let after_bad = RootFiles::from_pairs([
            config,
            broken,
            ("base/a.yaml", "key: a\ntype: boolean\ndefault: maybe\n"),
        ]);
        let before = load(&before, &options());
        let changed = vec!["base/a.yaml".to_owned()];
        let verdict = judge(Some(&before), &load(&after_ok, &options()), &changed, false);
        assert!(verdict.blocking.is_empty());
        assert_eq!(verdict.preexisting, 1);
        let verdict = judge(
            Some(&before),
            &load(&after_bad, &options()),
            &changed,
            false,
        );
        assert_eq!(verdict.blocking.len(), 1);
        assert_eq!(verdict.blocking[0].code, Code::UnknownVariant);
        // Touching the broken file makes its errors blocking.
        let changed = vec!["base/broken.yaml".to_owned()];
        let verdict = judge(Some(&before), &load(&after_ok, &options()), &changed, false);
        assert_eq!(verdict.blocking.len(), 1);
    }
}
