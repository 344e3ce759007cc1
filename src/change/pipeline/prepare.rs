//! Preparing a change on one commit, in named steps: find the root's tree,
//! work out a fixed plan (a revert), read what the change depends on, plan,
//! apply the plan in memory, check the work tree, validate the result
//! (incrementally when the tree is known), check the plan's expectations,
//! and work out the effects and the protected environments they reach.

use std::path::Path;

use crate::format::edit;
use crate::format::{Loaded, RootFiles};
use crate::model::{FlagKey, RootConfig};
use crate::store::RevisionId;

use super::super::plan::{self, Planned, State, flag_of_path};
use super::super::validate::{Verdict, judge, load_root};
use super::super::{ChangeError, FileOperation, Intent, Plan, Prepared, PreparedFile, Validation};
use super::effects::{effects, protected_environments};
use super::{Pipeline, Preparation};

/// The configuration at the base commit, as much of it as the change
/// depends on.
struct Before {
    /// The base commit, as a revision.
    revision: String,
    /// The root's tree there.
    root_tree: RevisionId,
    /// Whether only some flags' files were read (`flagctl.yaml`, the
    /// segments and those flags), not the whole root.
    scoped: bool,
    files: RootFiles,
    loaded: Loaded,
    config: RootConfig,
}

/// A plan's file operations applied in memory.
struct Applied {
    /// The files that change, before and after.
    files: Vec<PreparedFile>,
    /// The files read, with the changes applied.
    after_files: RootFiles,
}

/// What validating the configuration after a change found.
struct Validated {
    after: Loaded,
    verdict: Verdict,
    validation: Validation,
    /// The files the result was loaded from (the whole root when it was
    /// loaded whole), for showing diagnostics.
    shown: RootFiles,
}

impl Pipeline<'_> {
    /// Prepares `intent` on commit `base`. `fixed` is a plan already worked
    /// out (a revert re-applied elsewhere); `check_worktree` refuses files
    /// with uncommitted work.
    pub(super) fn prepare_at(
        &self,
        intent: &Intent,
        base: RevisionId,
        branch: &str,
        check_worktree: bool,
        fixed: Option<Plan>,
    ) -> Result<Preparation, ChangeError> {
        let revision = base.to_string();
        let root_tree = self.root_tree(&revision, branch)?;
        let fixed = self.fixed_plan(intent, fixed)?;
        let before = self.read_before(revision, root_tree, &scope(intent, fixed.as_ref()))?;
        let plan = match fixed {
            Some(plan) => plan,
            None => match self.plan(intent, &before)? {
                Planned::Change(plan) => plan,
                Planned::Unchanged(reason) => return Ok(Preparation::Unchanged(reason)),
            },
        };
        let applied = self.apply(&plan, &before.files)?;
        if applied.files.is_empty() {
            return Ok(Preparation::Unchanged(
                "the change leaves every file as it is".into(),
            ));
        }
        if check_worktree {
            self.check_worktree(&applied.files)?;
        }
        let changed: Vec<String> = applied.files.iter().map(|f| f.path.clone()).collect();
        let validated = self.validate(&before, applied.after_files, &changed)?;
        if !validated.verdict.blocking.is_empty() {
            return Err(ChangeError::Invalid {
                diagnostics: validated.verdict.blocking,
                files: validated.shown,
                preexisting: validated.verdict.preexisting,
            });
        }
        check_expectations(&plan, &validated.after)?;
        let effects = effects(
            &before.config.environments,
            &before.config.protected,
            &before.loaded,
            &validated.after,
            &touched_flags(&changed),
        );
        let protected = protected_environments(&plan, &before.config, &effects);
        Ok(Preparation::Change(Box::new(Prepared {
            plan,
            tip: base,
            branch: branch.to_owned(),
            files: applied.files,
            effects,
            protected,
            warnings: validated.verdict.warnings,
            preexisting_errors: validated.verdict.preexisting,
            validation: validated.validation,
            after_files: validated.shown,
        })))
    }

    /// The id of the root's tree at `revision`; the root must be committed.
    fn root_tree(&self, revision: &str, branch: &str) -> Result<RevisionId, ChangeError> {
        self.store
            .root_tree_at(revision)?
            .ok_or_else(|| ChangeError::RootNotCommitted {
                root: self.store.root().to_owned(),
                branch: branch.to_owned(),
            })
    }

    /// The plan when it does not depend on the tip's files: the one given,
    /// or a revert's (worked out from the reverted commit).
    fn fixed_plan(
        &self,
        intent: &Intent,
        fixed: Option<Plan>,
    ) -> Result<Option<Plan>, ChangeError> {
        Ok(match (intent, fixed) {
            (_, Some(plan)) => Some(plan),
            (Intent::Revert { revision }, None) => {
                Some(plan::plan_revert(&self.store.revert_plan(revision)?)?)
            }
            _ => None,
        })
    }

    /// Reads and loads the files at `revision` that the flags `keys` depend
    /// on (all of them for `None`); `flagctl.yaml` must load.
    fn read_before(
        &self,
        revision: String,
        root_tree: RevisionId,
        keys: &Option<Vec<String>>,
    ) -> Result<Before, ChangeError> {
        let files = match keys {
            Some(keys) => {
                let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
                self.store.read_flags_at(&revision, &keys)?
            }
            None => self.store.read_root_at(&revision)?,
        };
        let loaded = load_root(&files, &self.options.load);
        let Some(config) = loaded.config.clone() else {
            return Err(ChangeError::BrokenConfig {
                diagnostics: loaded
                    .diagnostics
                    .iter()
                    .filter(|d| d.is_error())
                    .filter(|d| {
                        d.location
                            .as_ref()
                            .is_none_or(|l| l.file == Path::new(crate::format::CONFIG_FILE))
                    })
                    .cloned()
                    .collect(),
                files,
            });
        };
        Ok(Before {
            revision,
            root_tree,
            scoped: keys.is_some(),
            files,
            loaded,
            config,
        })
    }

    /// Works `intent` out against the configuration before.
    fn plan(&self, intent: &Intent, before: &Before) -> Result<Planned, ChangeError> {
        let state = State {
            files: &before.files,
            loaded: &before.loaded,
            config: &before.config,
            schemas: self.schemas.as_deref(),
        };
        plan::plan(intent, &state).map_err(|error| self.with_suggestion(error, &before.revision))
    }

    /// Applies the plan's file operations in memory, keeping only the files
    /// that change.
    fn apply(&self, plan: &Plan, before_files: &RootFiles) -> Result<Applied, ChangeError> {
        let mut after_files = before_files.clone();
        let mut files = Vec::new();
        for change in &plan.files {
            let before_text = before_files
                .get(&change.path)
                .map(|bytes| String::from_utf8_lossy(bytes).into_owned());
            let after_text = match &change.operation {
                FileOperation::Edit(edits) => {
                    let start = before_text
                        .clone()
                        .unwrap_or_else(|| self.new_file_text(&change.path));
                    Some(
                        edit::apply(&start, edits).map_err(|source| ChangeError::Edit {
                            path: self.repo_path(&change.path),
                            source,
                        })?,
                    )
                }
                FileOperation::Write(text) => Some(text.clone()),
                FileOperation::Delete => None,
            };
            if after_text == before_text {
                continue;
            }
            match &after_text {
                Some(text) => after_files.insert(change.path.clone(), text.as_bytes().to_vec()),
                None => {
                    after_files.remove(&change.path);
                }
            }
            files.push(PreparedFile {
                path: change.path.clone(),
                repo_path: self.repo_path(&change.path),
                before: before_text,
                after: after_text,
            });
        }
        Ok(Applied { files, after_files })
    }

    /// Refuses to change a file that holds uncommitted work.
    fn check_worktree(&self, files: &[PreparedFile]) -> Result<(), ChangeError> {
        for file in files {
            if let Some(status) = self.store.uncommitted_edits(&file.path)? {
                return Err(ChangeError::UncommittedChanges {
                    path: file.repo_path.clone(),
                    status,
                });
            }
        }
        Ok(())
    }

    /// Validates what would be committed: the whole root when it was read
    /// whole, else the changed flags (see [`Pipeline::validate_scoped`]).
    fn validate(
        &self,
        before: &Before,
        after_files: RootFiles,
        changed: &[String],
    ) -> Result<Validated, ChangeError> {
        if before.scoped {
            return self.validate_scoped(before, after_files, changed);
        }
        let after = load_root(&after_files, &self.options.load);
        let verdict = judge(Some(&before.loaded), &after, changed, false);
        Ok(Validated {
            after,
            verdict,
            validation: Validation::Full,
            shown: after_files,
        })
    }

    /// Validates a change to some flags' files: incrementally when the
    /// tip's root tree was validated before; otherwise the whole root once
    /// (remembering how many errors it has).
    fn validate_scoped(
        &self,
        before: &Before,
        after_files: RootFiles,
        changed: &[String],
    ) -> Result<Validated, ChangeError> {
        let (revision, root_tree) = (before.revision.as_str(), before.root_tree);
        let (known, validation) = match self.known_errors(revision, root_tree)? {
            Some(errors) => (errors, Validation::Incremental),
            None => {
                let full_files = self.store.read_root_at(revision)?;
                let full = load_root(&full_files, &self.options.load);
                let errors = full.summary().errors;
                self.valid.insert(root_tree, errors);
                if errors > 0 {
                    // Compare everything this once: exact, and it says which
                    // errors are old.
                    let mut full_after = full_files;
                    for path in changed {
                        match after_files.get(path) {
                            Some(bytes) => full_after.insert(path.clone(), bytes.to_vec()),
                            None => {
                                full_after.remove(path);
                            }
                        }
                    }
                    let after = load_root(&full_after, &self.options.load);
                    let verdict = judge(Some(&full), &after, changed, false);
                    return Ok(Validated {
                        after,
                        verdict,
                        validation: Validation::Full,
                        shown: full_after,
                    });
                }
                (0, Validation::Full)
            }
        };
        let after = load_root(&after_files, &self.options.load);
        let mut verdict = judge(Some(&before.loaded), &after, changed, true);
        // Errors elsewhere in the root are untouched by a change to these
        // flags: those the tip had, less those in the changed files.
        let fixed = before
            .loaded
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .filter(|d| {
                d.location
                    .as_ref()
                    .is_some_and(|l| changed.contains(&l.file.to_string_lossy().replace('\\', "/")))
            })
            .count();
        let scoped_old = verdict.preexisting;
        verdict.preexisting = known.saturating_sub(fixed).max(scoped_old);
        Ok(Validated {
            after,
            verdict,
            validation,
            shown: after_files,
        })
    }

    /// How many errors the tip's root tree has, when that is known without
    /// loading the whole root: from the cache, or from a valid first-parent
    /// ancestor whose differences to the tip are flag files only (then
    /// loading those flags decides; the tree is remembered when valid). So
    /// commits made by other means (a `git pull`) cost a load of the flags
    /// they changed, not of the whole root.
    fn known_errors(
        &self,
        revision: &str,
        root_tree: RevisionId,
    ) -> Result<Option<usize>, ChangeError> {
        /// How far back to look for a tree known to be valid.
        const ANCESTORS: usize = 64;
        /// Beyond this many changed flags a full load is about as cheap.
        const MAX_FLAGS: usize = 500;
        let known = self.valid.known();
        if let Some(errors) = known.get(&root_tree) {
            return Ok(Some(*errors));
        }
        if known.is_empty() {
            return Ok(None);
        }
        let trees = self.store.recent_root_trees(revision, ANCESTORS)?;
        let Some(ancestor) = trees
            .iter()
            .skip(1)
            .flatten()
            .find(|tree| known.get(tree) == Some(&0))
        else {
            return Ok(None);
        };
        let mut keys: Vec<&str> = Vec::new();
        let changes = self.store.root_changes(Some(*ancestor), Some(root_tree))?;
        for change in &changes {
            match flag_of_path(&change.path) {
                Some(key) => keys.push(key),
                None => return Ok(None),
            }
        }
        keys.sort_unstable();
        keys.dedup();
        if keys.len() > MAX_FLAGS {
            return Ok(None);
        }
        let files = self.store.read_flags_at(revision, &keys)?;
        if load_root(&files, &self.options.load).is_valid() {
            self.valid.insert(root_tree, 0);
            Ok(Some(0))
        } else {
            Ok(None)
        }
    }
}

/// The flags a change is confined to, when it is: those of a fixed plan's
/// files, or the intent's flag (`None`: it may touch the whole root).
fn scope(intent: &Intent, fixed: Option<&Plan>) -> Option<Vec<String>> {
    match fixed {
        Some(plan) => plan
            .files
            .iter()
            .map(|f| flag_of_path(&f.path).map(str::to_owned))
            .collect(),
        None => intent.flag().map(|key| vec![key.to_string()]),
    }
}

/// Refuses a result in which the plan's expectations do not hold.
fn check_expectations(plan: &Plan, after: &Loaded) -> Result<(), ChangeError> {
    for expectation in &plan.expect {
        if !plan::check(expectation, after) {
            return Err(ChangeError::Unexpected {
                environment: expectation
                    .environment
                    .clone()
                    .unwrap_or_else(|| "base".into()),
                flag: expectation.flag.to_string(),
            });
        }
    }
    Ok(())
}

/// The flags whose files changed, sorted, each once.
fn touched_flags(changed: &[String]) -> Vec<FlagKey> {
    let mut keys: Vec<FlagKey> = changed
        .iter()
        .filter_map(|p| flag_of_path(p))
        .filter_map(|k| FlagKey::parse(k).ok())
        .collect();
    keys.sort();
    keys.dedup();
    keys
}
