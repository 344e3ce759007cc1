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
//! errors a root tree has is remembered by the store (`ValidTrees`, kept
//! under the git directory). A tree not in the cache is worked out from the
//! nearest valid first-parent ancestor when only flag files differ;
//! otherwise the first command pays for a full validation, later ones do
//! not.

use std::collections::HashSet;

use crate::diagnostic::{Code, Diagnostic};
use crate::format::{LoadOptions, Loaded, RootFiles, load};

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
