//! The pipeline every mutating command shares: preflight, plan against the
//! branch tip, edit, validate, commit with compare-and-swap (retrying a
//! lost race from a fresh read), push (re-applying on a moved remote).
//!
//! Here: [`Pipeline`], its options and outcomes, committing; `prepare`
//! (the steps of preparing a change on one commit), `effects` (what a
//! change does per environment), `push`.

mod effects;
mod prepare;
mod push;

use std::path::Path;

use crate::format::LoadOptions;
use crate::store::{
    Author, ChangeRequest, CommitMessage, Head, RevisionId, Store, TRAILER_ACTION, TRAILER_ENV,
    TRAILER_FLAG, ValidTrees, WorktreeSync,
};

use super::plan;
use super::{ChangeError, Intent, Plan, Prepared};

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
    pub id: RevisionId,
    /// The commit it was built on.
    pub parent: RevisionId,
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
            store.valid_trees()
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

    fn commit_prepared(
        &self,
        prepared: Prepared,
        attempts: u32,
        onto: Option<(RevisionId, RevisionId)>,
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
    use crate::change::{Assignment, Validation, parse_key};
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
