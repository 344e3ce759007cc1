//! The pipeline every mutating command shares: preflight, plan against the
//! branch tip, edit, validate, commit with compare-and-swap (retrying a
//! lost race from a fresh read), push (re-applying on a moved remote).

use std::path::Path;

use crate::format::edit;
use crate::format::{LoadOptions, Loaded, RootFiles};
use crate::model::FlagKey;
use crate::store::{
    Author, ChangeRequest, CommitMessage, Head, HistoryQuery, Oid, RemoteErrorKind, Store,
    StoreError, TRAILER_ACTION, TRAILER_ENV, TRAILER_FLAG, WorktreeSync,
};

use super::error::short;
use super::plan::{self, Planned, State, flag_of_path};
use super::validate::{ValidTrees, judge, load_root};
use super::{
    Action, ChangeError, Effect, FileOperation, Intent, Plan, Prepared, PreparedFile, Validation,
};

/// How a [`Pipeline`] commits.
#[derive(Clone, Debug)]
pub struct Options {
    /// The author, instead of git's configured identity.
    pub author: Option<Author>,
    /// Why the change is made: the commit message's body.
    pub reason: Option<String>,
    /// How to load the configuration (the date `expires` warnings compare
    /// with; none by default).
    pub load: LoadOptions,
    /// How many times to try committing when other commits land first.
    pub max_attempts: u32,
    /// How many times to push when the remote moved.
    pub max_push_attempts: u32,
    /// Remember valid root trees under the git directory, so that later
    /// changes validate incrementally.
    pub cache: bool,
}

impl Default for Options {
    /// Git's identity, no reason, no date for `expires` warnings, 100
    /// commit attempts, 10 pushes, caching on.
    fn default() -> Self {
        Options {
            author: None,
            reason: None,
            load: LoadOptions::default(),
            max_attempts: 100,
            max_push_attempts: 10,
            cache: true,
        }
    }
}

/// What [`Pipeline::prepare`] found.
#[derive(Clone, Debug)]
pub enum Preparation {
    /// A change to show and commit.
    Change(Box<Prepared>),
    /// Nothing to change, and why (`new-checkout is already disabled in prod`).
    Unchanged(String),
}

/// What committing did.
#[derive(Debug)]
pub enum Outcome {
    /// A commit landed.
    Committed(Box<Committed>),
    /// Nothing needed changing (perhaps another change did the same first).
    Unchanged(String),
}

/// A change committed on the branch.
#[derive(Debug)]
pub struct Committed {
    /// The commit.
    pub id: Oid,
    /// The commit it was built on.
    pub parent: Oid,
    /// The branch's short name.
    pub branch: String,
    /// The summary line.
    pub summary: String,
    /// The whole message.
    pub message: String,
    /// The changed files, relative to the top of the repository.
    pub files: Vec<String>,
    /// How many times committing was tried (lost races retry).
    pub attempts: u32,
    /// The change as it was finally committed.
    pub prepared: Prepared,
    /// Whether the index and working tree were brought in line.
    pub worktree: WorktreeSync,
    /// Set once pushed.
    pub pushed: Option<Pushed>,
}

/// How a commit reached the remote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pushed {
    /// The remote.
    pub remote: String,
    /// How many pushes it took.
    pub attempts: u32,
}

/// Commits [`Intent`]s on a repository: see the [module documentation](super).
#[derive(Debug)]
pub struct Pipeline<'s> {
    store: &'s Store,
    options: Options,
    valid: ValidTrees,
    schemas: Option<String>,
}

impl<'s> Pipeline<'s> {
    /// A pipeline on `store` (whose working tree holds the flag root).
    pub fn new(store: &'s Store, options: Options) -> Pipeline<'s> {
        let valid = if options.cache {
            ValidTrees::open(store.common_dir())
        } else {
            ValidTrees::disabled()
        };
        let schemas = find_schemas(store);
        Pipeline {
            store,
            options,
            valid,
            schemas,
        }
    }

    /// Prepares and commits `intent` without asking anything.
    pub fn run(&self, intent: &Intent) -> Result<Outcome, ChangeError> {
        match self.prepare(intent)? {
            Preparation::Change(prepared) => self.commit(intent, *prepared),
            Preparation::Unchanged(reason) => Ok(Outcome::Unchanged(reason)),
        }
    }

    /// Works `intent` out against the branch tip, applies it in memory and
    /// validates the result, writing nothing.
    ///
    /// # Errors
    ///
    /// Refusals of the repository's state (no commits, detached HEAD, a
    /// rebase in progress, no identity), bad input (unknown flag,
    /// environment or variant), uncommitted work in a file to change, and
    /// an invalid result ([`ChangeError::Invalid`], with diagnostics).
    pub fn prepare(&self, intent: &Intent) -> Result<Preparation, ChangeError> {
        let branch = self.store.check_can_commit(self.options.author.as_ref())?;
        let branch = branch.strip_prefix("refs/heads/").unwrap_or(&branch);
        let tip = match self.store.head()? {
            Head::Branch { id: Some(id), .. } => id,
            _ => return Err(ChangeError::NoCommits),
        };
        self.prepare_at(intent, tip, branch, true, None)
    }

    /// Commits a prepared change. When the branch moved since it was
    /// prepared, `intent` is prepared again on the new tip (validated
    /// again, not asked again) and committed, up to
    /// [`Options::max_attempts`] times.
    pub fn commit(&self, intent: &Intent, prepared: Prepared) -> Result<Outcome, ChangeError> {
        let mut pending = Some(prepared);
        let mut attempts = 0;
        self.store
            .retry_on_conflict(self.options.max_attempts.max(1), |_| {
                attempts += 1;
                let prepared = match pending.take() {
                    Some(prepared) => prepared,
                    None => match self.prepare(intent)? {
                        Preparation::Change(prepared) => *prepared,
                        Preparation::Unchanged(reason) => return Ok(Outcome::Unchanged(reason)),
                    },
                };
                let committed = self.commit_prepared(prepared, attempts, None)?;
                Ok(Outcome::Committed(Box::new(committed)))
            })
    }

    /// Pushes a committed change to `remote` with the system `git`. When the
    /// remote moved, fetches it, prepares `intent` again on the remote's tip
    /// (validating again), replaces the local commit with one on top of it,
    /// and pushes again, up to [`Options::max_push_attempts`] times.
    ///
    /// # Errors
    ///
    /// Every error leaves the change committed locally
    /// ([`ChangeError::committed_locally`]).
    pub fn push(
        &self,
        intent: &Intent,
        mut committed: Committed,
        remote: &str,
    ) -> Result<Committed, ChangeError> {
        let branch = committed.branch.clone();
        let tracking = format!("refs/remotes/{remote}/{branch}");
        let refspec = format!("+refs/heads/{branch}:{tracking}");
        let max = self.options.max_push_attempts.max(1);
        for attempt in 1..=max {
            let failed = |source: ChangeError, id: Oid| ChangeError::PushFailed {
                committed: short(id),
                source: Box::new(source),
            };
            match self.store.push(remote, &branch) {
                Ok(_) => {
                    committed.pushed = Some(super::Pushed {
                        remote: remote.to_owned(),
                        attempts: attempt,
                    });
                    return Ok(committed);
                }
                Err(StoreError::Remote {
                    kind: RemoteErrorKind::RemoteMoved,
                    ..
                }) if attempt < max => {}
                Err(StoreError::Remote {
                    kind: RemoteErrorKind::RemoteMoved,
                    ..
                }) => break,
                Err(error) => return Err(failed(error.into(), committed.id)),
            }
            let id = committed.id;
            let rebased = (|| -> Result<Option<Committed>, ChangeError> {
                self.store.fetch(remote, &refspec)?;
                let remote_tip = self.store.resolve(&tracking)?.id;
                if !self.store.is_ancestor(committed.parent, remote_tip)? {
                    return Err(ChangeError::Diverged {
                        remote: remote.to_owned(),
                        branch: branch.clone(),
                        committed: short(id),
                    });
                }
                let fixed = match intent {
                    Intent::Revert { .. } => {
                        self.check_revert_on(&committed, remote_tip)?;
                        Some(committed.prepared.plan.clone())
                    }
                    _ => None,
                };
                match self.prepare_at(intent, remote_tip, &branch, false, fixed)? {
                    Preparation::Change(prepared) => Ok(Some(self.commit_prepared(
                        *prepared,
                        committed.attempts,
                        Some((id, remote_tip)),
                    )?)),
                    Preparation::Unchanged(_) => Ok(None),
                }
            })();
            match rebased {
                Ok(Some(next)) => committed = next,
                Ok(None) => {
                    return Err(ChangeError::RemoteHasChange {
                        remote: remote.to_owned(),
                        committed: short(id),
                    });
                }
                Err(error @ ChangeError::Diverged { .. }) => return Err(error),
                Err(error) => return Err(failed(error, id)),
            }
        }
        Err(ChangeError::PushRetriesExhausted {
            attempts: max,
            committed: short(committed.id),
        })
    }

    /// A revert re-applied on a remote's tip: refused when the remote's new
    /// commits changed the same files.
    fn check_revert_on(&self, committed: &Committed, remote_tip: Oid) -> Result<(), ChangeError> {
        let paths: Vec<String> = committed
            .prepared
            .files
            .iter()
            .map(|f| f.path.clone())
            .collect();
        let later = self.store.history(&HistoryQuery {
            paths,
            revision: Some(format!("{}..{remote_tip}", committed.parent)),
            ..HistoryQuery::default()
        })?;
        if later.is_empty() {
            return Ok(());
        }
        let reverted = committed
            .prepared
            .plan
            .trailers
            .iter()
            .find(|t| t.key == plan::TRAILER_REVERTS)
            .map(|t| t.value.chars().take(12).collect())
            .unwrap_or_default();
        Err(ChangeError::Superseded {
            id: reverted,
            later: later
                .iter()
                .map(|e| (short(e.commit.id), e.commit.summary.clone()))
                .collect(),
        })
    }

    fn commit_prepared(
        &self,
        prepared: Prepared,
        attempts: u32,
        onto: Option<(Oid, Oid)>,
    ) -> Result<Committed, ChangeError> {
        let message = self.message(&prepared.plan);
        let request = ChangeRequest {
            files: prepared
                .files
                .iter()
                .map(|f| (f.path.clone(), f.after.clone().map(String::into_bytes)))
                .collect(),
            message: message.clone(),
            author: self.options.author.clone(),
            expected_head: Some(onto.map_or(prepared.tip, |(local, _)| local)),
        };
        let outcome = match onto {
            None => self.store.commit_change(&request)?,
            Some((_, base)) => self.store.commit_change_onto(&request, base)?,
        };
        if let Ok(Some(tree)) = self.store.root_tree_at(&outcome.id.to_string()) {
            self.valid.insert(tree, prepared.preexisting_errors);
        }
        Ok(Committed {
            id: outcome.id,
            parent: outcome.parent.unwrap_or(prepared.tip),
            branch: prepared.branch.clone(),
            summary: prepared.plan.summary.clone(),
            message,
            files: prepared.files.iter().map(|f| f.repo_path.clone()).collect(),
            attempts,
            prepared,
            worktree: outcome.worktree,
            pushed: None,
        })
    }

    /// The commit message of a plan: summary, the plan's paragraph, the
    /// reason, trailers.
    pub fn message(&self, plan: &Plan) -> String {
        let mut message = CommitMessage::new(&plan.summary);
        let body: Vec<&str> = plan
            .body
            .iter()
            .chain(self.options.reason.iter())
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .collect();
        if !body.is_empty() {
            message = message.body(body.join("\n\n"));
        }
        message = message.trailer(TRAILER_ACTION, plan.action.as_str());
        if let Some(flag) = &plan.flag {
            message = message.trailer(TRAILER_FLAG, flag.as_str());
        }
        if let Some(environment) = &plan.environment {
            message = message.trailer(TRAILER_ENV, environment);
        }
        for trailer in &plan.trailers {
            message = message.trailer(&trailer.key, &trailer.value);
        }
        message.to_string()
    }

    /// Prepares `intent` on commit `base`. `fixed` is a plan already worked
    /// out (a revert re-applied elsewhere); `check_worktree` refuses files
    /// with uncommitted work.
    fn prepare_at(
        &self,
        intent: &Intent,
        base: Oid,
        branch: &str,
        check_worktree: bool,
        fixed: Option<Plan>,
    ) -> Result<Preparation, ChangeError> {
        let revision = base.to_string();
        let Some(root_tree) = self.store.root_tree_at(&revision)? else {
            return Err(ChangeError::RootNotCommitted {
                root: self.store.root().to_owned(),
                branch: branch.to_owned(),
            });
        };
        let fixed = match (intent, fixed) {
            (_, Some(plan)) => Some(plan),
            (Intent::Revert { revision }, None) => {
                Some(plan::plan_revert(&self.store.revert_plan(revision)?)?)
            }
            _ => None,
        };
        let keys: Option<Vec<String>> = match &fixed {
            Some(plan) => plan
                .files
                .iter()
                .map(|f| flag_of_path(&f.path).map(str::to_owned))
                .collect(),
            None => intent.flag().map(|key| vec![key.to_string()]),
        };
        let before_files = match &keys {
            Some(keys) => {
                let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
                self.store.read_flags_at(&revision, &keys)?
            }
            None => self.store.read_root_at(&revision)?,
        };
        let before = load_root(&before_files, &self.options.load);
        let Some(config) = before.config.clone() else {
            return Err(ChangeError::BrokenConfig {
                diagnostics: before
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
                files: before_files,
            });
        };
        let plan = match fixed {
            Some(plan) => plan,
            None => {
                let state = State {
                    files: &before_files,
                    loaded: &before,
                    config: &config,
                    schemas: self.schemas.as_deref(),
                };
                match plan::plan(intent, &state) {
                    Ok(Planned::Change(plan)) => plan,
                    Ok(Planned::Unchanged(reason)) => return Ok(Preparation::Unchanged(reason)),
                    Err(error) => return Err(self.with_suggestion(error, &revision)),
                }
            }
        };

        // Apply the file operations in memory.
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
        if files.is_empty() {
            return Ok(Preparation::Unchanged(
                "the change leaves every file as it is".into(),
            ));
        }
        if check_worktree {
            for file in &files {
                if let Some(status) = self.store.uncommitted_edits(&file.path)? {
                    return Err(ChangeError::UncommittedChanges {
                        path: file.repo_path.clone(),
                        status,
                    });
                }
            }
        }

        // Validate what would be committed.
        let changed: Vec<String> = files.iter().map(|f| f.path.clone()).collect();
        let (after, verdict, validation, shown) = if keys.is_some() {
            let (after, verdict, validation, full) =
                self.validate_scoped(&revision, root_tree, &before, &after_files, &changed)?;
            (after, verdict, validation, full.unwrap_or(after_files))
        } else {
            let after = load_root(&after_files, &self.options.load);
            let verdict = judge(Some(&before), &after, &changed, false);
            (after, verdict, Validation::Full, after_files)
        };
        if !verdict.blocking.is_empty() {
            return Err(ChangeError::Invalid {
                diagnostics: verdict.blocking,
                files: shown,
                preexisting: verdict.preexisting,
            });
        }
        for expectation in &plan.expect {
            if !plan::check(expectation, &after) {
                return Err(ChangeError::Unexpected {
                    environment: expectation
                        .environment
                        .clone()
                        .unwrap_or_else(|| "base".into()),
                    flag: expectation.flag.to_string(),
                });
            }
        }

        let touched: Vec<FlagKey> = {
            let mut keys: Vec<FlagKey> = changed
                .iter()
                .filter_map(|p| flag_of_path(p))
                .filter_map(|k| FlagKey::parse(k).ok())
                .collect();
            keys.sort();
            keys.dedup();
            keys
        };
        let effects = effects(
            &config.environments,
            &config.protected,
            &before,
            &after,
            &touched,
        );
        let mut protected: Vec<String> = effects
            .iter()
            // A new flag serves nothing to anyone until code asks for it.
            .filter(|e| {
                e.protected && e.serving && !(e.before.is_none() && plan.action == Action::New)
            })
            .map(|e| e.environment.clone())
            .collect();
        if let Some(environment) = &plan.environment
            && config.is_protected(environment)
        {
            protected.push(environment.clone());
        }
        protected.sort_by_key(|e| config.environments.iter().position(|x| x == e));
        protected.dedup();
        Ok(Preparation::Change(Box::new(Prepared {
            plan,
            tip: base,
            branch: branch.to_owned(),
            files,
            effects,
            protected,
            warnings: verdict.warnings,
            preexisting_errors: verdict.preexisting,
            validation,
            after_files: shown,
        })))
    }

    /// Validates a change to some flags' files: incrementally when the
    /// tip's root tree was validated before; otherwise the whole root once
    /// (remembering how many errors it has).
    fn validate_scoped(
        &self,
        revision: &str,
        root_tree: Oid,
        before: &Loaded,
        after_files: &RootFiles,
        changed: &[String],
    ) -> Result<
        (
            Loaded,
            super::validate::Verdict,
            Validation,
            Option<RootFiles>,
        ),
        ChangeError,
    > {
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
                    return Ok((after, verdict, Validation::Full, Some(full_after)));
                }
                (0, Validation::Full)
            }
        };
        let after = load_root(after_files, &self.options.load);
        let mut verdict = judge(Some(before), &after, changed, true);
        // Errors elsewhere in the root are untouched by a change to these
        // flags: those the tip had, less those in the changed files.
        let fixed = before
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
        Ok((after, verdict, validation, None))
    }

    /// How many errors the tip's root tree has, when that is known without
    /// loading the whole root: from the cache, or from a valid first-parent
    /// ancestor whose differences to the tip are flag files only (then
    /// loading those flags decides; the tree is remembered when valid). So
    /// commits made by other means (a `git pull`) cost a load of the flags
    /// they changed, not of the whole root.
    fn known_errors(&self, revision: &str, root_tree: Oid) -> Result<Option<usize>, ChangeError> {
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

    fn repo_path(&self, path: &str) -> String {
        match self.store.root() {
            "" => path.to_owned(),
            root => format!("{root}/{path}"),
        }
    }

    /// What a new overlay starts as before its edits: a schema modeline.
    fn new_file_text(&self, path: &str) -> String {
        let depth = path.matches('/').count();
        let schema = if path.starts_with("overlays/") {
            "overlay.schema.json"
        } else {
            "flag.schema.json"
        };
        plan::modeline(self.schemas.as_deref(), depth, schema)
            .map(|line| format!("# {line}\n"))
            .unwrap_or_default()
    }

    fn with_suggestion(&self, error: ChangeError, revision: &str) -> ChangeError {
        match error {
            ChangeError::UnknownFlag {
                key,
                suggestion: None,
            } => {
                let keys = self.store.flag_keys_at(revision).unwrap_or_default();
                let suggestion =
                    crate::format::schema::closest(&key, keys.iter().map(String::as_str))
                        .map(str::to_owned);
                ChangeError::UnknownFlag { key, suggestion }
            }
            other => other,
        }
    }
}

/// A flag without its descriptive fields: what evaluation depends on.
fn serving(flag: Option<&crate::model::Flag>) -> Option<String> {
    flag.and_then(|flag| {
        let mut flag = flag.clone();
        flag.description = None;
        flag.owner = None;
        flag.expires = None;
        flag.tags.clear();
        serde_json::to_string(&flag).ok()
    })
}

/// How each touched flag resolves before and after, where that differs.
fn effects(
    environments: &[String],
    protected: &[String],
    before: &Loaded,
    after: &Loaded,
    keys: &[FlagKey],
) -> Vec<Effect> {
    let exact =
        |flag: Option<&crate::model::Flag>| flag.and_then(|f| serde_json::to_string(f).ok());
    let mut effects = Vec::new();
    for environment in environments {
        for key in keys {
            let was = before
                .environments
                .get(environment)
                .and_then(|e| e.flags.get(key));
            let now = after
                .environments
                .get(environment)
                .and_then(|e| e.flags.get(key));
            if exact(was) != exact(now) {
                effects.push(Effect {
                    environment: environment.clone(),
                    flag: key.clone(),
                    before: was.cloned(),
                    after: now.cloned(),
                    protected: protected.contains(environment),
                    serving: serving(was) != serving(now),
                });
            }
        }
    }
    effects
}

/// Where the JSON Schemas are, relative to the root: its own `schemas/`, or
/// the nearest `schemas/` above it inside the work tree (the directory must
/// hold `flag.schema.json`).
fn find_schemas(store: &Store) -> Option<String> {
    let root = store.root_dir()?;
    let top = store.workdir()?;
    let mut up = String::new();
    let mut dir: &Path = &root;
    loop {
        if dir.join("schemas").join("flag.schema.json").is_file() {
            return Some(format!("{up}schemas"));
        }
        if dir == top {
            return None;
        }
        dir = dir.parent()?;
        up.push_str("../");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::change::{Assignment, parse_key};
    use crate::format::edit::Path as FieldPath;

    fn author() -> Author {
        Author::parse("Test <test@example.com>").expect("valid")
    }

    /// A repository whose flag root `flags/` holds one committed flag.
    fn repository() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("temp dir");
        crate::store::init_repository(dir.path()).expect("git init");
        std::fs::create_dir_all(dir.path().join("flags")).expect("mkdir");
        let store = Store::discover(&dir.path().join("flags")).expect("store");
        store
            .commit_change(&ChangeRequest {
                files: vec![
                    (
                        "flagctl.yaml".into(),
                        Some(b"environments: [dev, prod]\nprotected: [prod]\n".to_vec()),
                    ),
                    (
                        "base/checkout.yaml".into(),
                        Some(b"key: checkout\ntype: boolean\ndefault: off\n".to_vec()),
                    ),
                ],
                message: "flags".into(),
                author: Some(author()),
                expected_head: None,
            })
            .expect("first commit");
        (dir, store)
    }

    fn options(cache: bool) -> Options {
        Options {
            author: Some(author()),
            reason: Some("Because.".into()),
            cache,
            ..Options::default()
        }
    }

    fn describe(text: &str) -> Intent {
        Intent::Set {
            key: parse_key("checkout").expect("key"),
            environment: None,
            assignments: vec![Assignment {
                path: FieldPath::parse("description").expect("path"),
                value: Some(text.into()),
            }],
        }
    }

    fn prepared(pipeline: &Pipeline<'_>, intent: &Intent) -> Prepared {
        match pipeline.prepare(intent).expect("prepares") {
            Preparation::Change(prepared) => *prepared,
            Preparation::Unchanged(reason) => panic!("unchanged: {reason}"),
        }
    }

    #[test]
    fn validation_is_incremental_once_a_tree_is_known() {
        let (_dir, store) = repository();
        let pipeline = Pipeline::new(&store, options(true));
        let first = prepared(&pipeline, &describe("one"));
        assert_eq!(first.validation, Validation::Full);
        let Outcome::Committed(committed) =
            pipeline.commit(&describe("one"), first).expect("commits")
        else {
            panic!("nothing committed")
        };
        assert_eq!(committed.attempts, 1);
        // The committed tree was recorded: the next change loads one flag.
        assert_eq!(
            prepared(&pipeline, &describe("two")).validation,
            Validation::Incremental
        );
        let uncached = Pipeline::new(&store, options(false));
        assert_eq!(
            prepared(&uncached, &describe("two")).validation,
            Validation::Full
        );
    }

    #[test]
    fn commits_made_by_other_means_cost_a_load_of_what_they_changed() {
        let (_dir, store) = repository();
        let pipeline = Pipeline::new(&store, options(true));
        pipeline.run(&describe("one")).expect("commits");
        let commit = |path: &str, text: &str| {
            store
                .commit_change(&ChangeRequest {
                    files: vec![(path.into(), Some(text.as_bytes().to_vec()))],
                    message: "by hand".into(),
                    author: Some(author()),
                    expected_head: None,
                })
                .expect("commits");
        };
        // Two commits of flag files by hand: derived from the valid tree
        // before them.
        commit(
            "base/other.yaml",
            "key: other\ntype: boolean\ndefault: on\n",
        );
        commit("overlays/dev/checkout.yaml", "default: on\n");
        assert_eq!(
            prepared(&pipeline, &describe("two")).validation,
            Validation::Incremental
        );
        // A change to flagctl.yaml may change every flag: a full load.
        commit(
            "flagctl.yaml",
            "environments: [dev, staging, prod]\nprotected: [prod]\n",
        );
        assert_eq!(
            prepared(&pipeline, &describe("two")).validation,
            Validation::Full
        );
    }

    #[test]
    fn a_lost_race_is_planned_again_on_the_new_tip() {
        let (_dir, store) = repository();
        let pipeline = Pipeline::new(&store, options(true));
        let stale = prepared(&pipeline, &describe("mine"));
        // Another change lands first.
        pipeline.run(&describe("theirs")).expect("commits");
        let Outcome::Committed(committed) =
            pipeline.commit(&describe("mine"), stale).expect("commits")
        else {
            panic!("nothing committed")
        };
        assert_eq!(committed.attempts, 2);
        let text = store
            .read_file_at("HEAD", "base/checkout.yaml")
            .expect("reads")
            .expect("exists");
        assert!(String::from_utf8_lossy(&text).contains("description: mine\n"));
        // The same change again: nothing to do.
        assert!(matches!(
            pipeline.run(&describe("mine")).expect("runs"),
            Outcome::Unchanged(_)
        ));
    }

    #[test]
    fn the_message_has_the_reason_and_trailers() {
        let (_dir, store) = repository();
        let pipeline = Pipeline::new(&store, options(true));
        let intent = Intent::Switch {
            key: parse_key("checkout").expect("key"),
            environment: Some("prod".into()),
            enabled: false,
        };
        let prepared = prepared(&pipeline, &intent);
        assert_eq!(prepared.protected, ["prod"]);
        assert_eq!(
            prepared.files[0].repo_path,
            "flags/overlays/prod/checkout.yaml"
        );
        assert_eq!(
            pipeline.message(&prepared.plan),
            "disable checkout in prod\n\nBecause.\n\nFlagctl-Action: disable\nFlagctl-Flag: checkout\nFlagctl-Env: prod\n"
        );
        let effect = &prepared.effects[0];
        assert_eq!(effect.environment, "prod");
        assert!(effect.serving && effect.protected);
        assert_eq!(effect.after.as_ref().map(|f| f.enabled), Some(false));
    }

    #[test]
    fn mistyped_keys_get_a_suggestion() {
        let (_dir, store) = repository();
        let pipeline = Pipeline::new(&store, options(true));
        let intent = Intent::Switch {
            key: parse_key("chekout").expect("key"),
            environment: None,
            enabled: false,
        };
        let error = pipeline.prepare(&intent).expect_err("unknown");
        assert_eq!(error.help().as_deref(), Some("did you mean `checkout`?"));
    }

    #[test]
    fn schemas_are_found_in_the_root_or_above() {
        let (dir, store) = repository();
        assert_eq!(find_schemas(&store), None);
        std::fs::create_dir_all(dir.path().join("schemas")).expect("mkdir");
        std::fs::write(dir.path().join("schemas/flag.schema.json"), "{}").expect("write");
        assert_eq!(find_schemas(&store).as_deref(), Some("../schemas"));
        std::fs::create_dir_all(dir.path().join("flags/schemas")).expect("mkdir");
        std::fs::write(dir.path().join("flags/schemas/flag.schema.json"), "{}").expect("write");
        assert_eq!(find_schemas(&store).as_deref(), Some("schemas"));
    }
}
