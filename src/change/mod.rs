//! Changing flags: one command, one minimal YAML edit, one validated commit.
//!
//! Every mutating command describes what it wants as an [`Intent`]; a
//! [`Pipeline`] turns it into a change and commits it, the same way for
//! all of them:
//!
//! 1. **Preflight.** The repository must have a checked-out branch with at
//!    least one commit, no merge or rebase in progress, and an identity to
//!    commit with.
//! 2. **Plan.** The intent is worked out against the *branch tip* (never the
//!    working tree) into a [`Plan`]: the action, flag, environment, the
//!    edits to make per file, and the one-line summary
//!    (`rollout new-checkout 10% → 25% in prod`).
//! 3. **Edit.** Each file is edited minimally ([`crate::format::edit`]):
//!    comments, key order and quoting of untouched lines stay. A file with
//!    uncommitted work is refused, never folded into the commit.
//! 4. **Validate** the whole configuration that would be committed (the tip
//!    plus this change) in every environment. A change to one flag's files
//!    can only change that flag, so when the tip's root tree is known to be
//!    valid (a cache under `<git common dir>/flagctl/`, or a valid ancestor
//!    plus the flags changed since) only the changed flags, `flagctl.yaml`
//!    and the segments are loaded; otherwise the whole root is, once.
//!    Errors already there in files the change does not touch are
//!    tolerated (and counted); errors it introduces or touches refuse it.
//! 5. **Commit** only the changed paths with compare-and-swap on the branch;
//!    a lost race re-reads, re-plans, re-validates and retries.
//! 6. **Push** (optional) with the system `git`; when the remote moved, the
//!    change is planned again on the fetched tip and pushed again.
//!
//! Confirmation for protected environments and all printing belong to the
//! caller: [`Pipeline::prepare`] returns a [`Prepared`] change (files before
//! and after, the environments it affects, whether one is protected) to
//! show, and [`Pipeline::commit`] commits it.
//!
//! This module never prints, prompts or reads the environment.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use flagctl::change::{Intent, Options, Outcome, Pipeline, parse_key, parse_percent};
//! use flagctl::store::{Author, Store};
//!
//! # let dir = tempfile::tempdir()?;
//! # let repo = dir.path();
//! # let git = |args: &[&str]| std::process::Command::new("git").arg("-C").arg(repo).args(args).output();
//! # git(&["init", "-q", "-b", "main"])?;
//! # std::fs::create_dir_all(repo.join("flags/base"))?;
//! # std::fs::write(repo.join("flags/flagctl.yaml"), "environments: [dev, prod]\n")?;
//! # std::fs::write(repo.join("flags/base/new-checkout.yaml"),
//! #     "key: new-checkout\ntype: boolean\ndefault:\n  rollout: { on: 10, off: 90 } # ramping\n")?;
//! # git(&["add", "."])?;
//! # git(&["-c", "user.name=A", "-c", "user.email=a@example.com", "commit", "-q", "-m", "flags"])?;
//! let store = Store::discover(&repo.join("flags"))?;
//! let pipeline = Pipeline::new(&store, Options {
//!     author: Some(Author::parse("Jane Doe <jane@example.com>")?),
//!     reason: Some("error budget held for a week".into()),
//!     ..Options::default()
//! });
//! let intent = Intent::Rollout {
//!     key: parse_key("new-checkout")?,
//!     environment: Some("prod".into()),
//!     percent: parse_percent("25")?,
//!     variant: None,
//!     by: None,
//! };
//! let Outcome::Committed(committed) = pipeline.run(&intent)? else { unreachable!() };
//! assert_eq!(committed.summary, "rollout new-checkout 10% → 25% in prod");
//! assert_eq!(committed.files, ["flags/overlays/prod/new-checkout.yaml"]);
//! # Ok(())
//! # }
//! ```

mod error;
mod intent;
mod pipeline;
mod plan;
mod validate;

use serde_json::Value;

use crate::diagnostic::Diagnostic;
use crate::format::RootFiles;
use crate::format::edit::Edit;
use crate::model::{Flag, FlagKey};
use crate::store::{RevisionId, Trailer};

pub use error::ChangeError;
pub use intent::{
    Assignment, Intent, NewFlag, parse_assignment, parse_date, parse_ids, parse_key, parse_percent,
    parse_value, parse_variant, parse_weights,
};
pub use pipeline::{Committed, Options, Outcome, Pipeline, Preparation, Pushed};

/// What a change does, as recorded in the `Flagctl-Action` trailer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// `flagctl new`.
    New,
    /// `flagctl set`.
    Set,
    /// `flagctl enable`.
    Enable,
    /// `flagctl disable`.
    Disable,
    /// `flagctl rollout`.
    Rollout,
    /// `flagctl split`.
    Split,
    /// `flagctl target`.
    Target,
    /// `flagctl promote`.
    Promote,
    /// `flagctl revert`.
    Revert,
    /// `flagctl archive`.
    Archive,
}

impl Action {
    /// The name in trailers and JSON (`rollout`).
    pub fn as_str(self) -> &'static str {
        match self {
            Action::New => "new",
            Action::Set => "set",
            Action::Enable => "enable",
            Action::Disable => "disable",
            Action::Rollout => "rollout",
            Action::Split => "split",
            Action::Target => "target",
            Action::Promote => "promote",
            Action::Revert => "revert",
            Action::Archive => "archive",
        }
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A change worked out against one branch tip: the data every command
/// produces and the pipeline applies.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// What kind of change.
    pub action: Action,
    /// The flag it is about (`Flagctl-Flag`).
    pub flag: Option<FlagKey>,
    /// The environment it is about (`Flagctl-Env`).
    pub environment: Option<String>,
    /// The commit's summary line.
    pub summary: String,
    /// A paragraph for the commit body before the reason (a revert names
    /// the commit it reverts).
    pub body: Option<String>,
    /// Trailers besides `Flagctl-Action`, `Flagctl-Flag` and `Flagctl-Env`.
    pub trailers: Vec<Trailer>,
    /// The files to change, root-relative, in order.
    pub files: Vec<FileChange>,
    /// What must hold after the change (checked before committing).
    pub expect: Vec<Expectation>,
}

/// One file of a [`Plan`].
#[derive(Clone, Debug, PartialEq)]
pub struct FileChange {
    /// The root-relative path (`overlays/prod/new-checkout.yaml`).
    pub path: String,
    /// What to do with it.
    pub operation: FileOperation,
}

/// What a [`Plan`] does to one file.
#[derive(Clone, Debug, PartialEq)]
pub enum FileOperation {
    /// Minimal edits; a missing overlay is created (with a schema modeline
    /// when the schemas are found) and then edited.
    Edit(Vec<Edit>),
    /// Write these contents (a new flag, a copied overlay, a revert).
    Write(String),
    /// Remove the file.
    Delete,
}

/// A property of the resolved configuration that a plan promises, checked
/// after the edit (a bug guard: overlays deep-merge, and the pipeline
/// verifies that the edit had the intended effect).
#[derive(Clone, Debug, PartialEq)]
pub struct Expectation {
    /// The flag.
    pub flag: FlagKey,
    /// The environment, or `None` for the base file alone.
    pub environment: Option<String>,
    /// What must hold.
    pub check: Check,
}

/// See [`Expectation`].
#[derive(Clone, Debug, PartialEq)]
pub enum Check {
    /// The kill switch is in this position.
    Enabled(bool),
    /// The default serves a rollout with exactly these weights (in any
    /// order), bucketed by this attribute.
    DefaultWeights {
        /// Variant and weight in thousandths of a percent.
        weights: Vec<(String, u32)>,
        /// The `by` attribute.
        by: Option<String>,
    },
    /// The variant targets exactly these keys (in any order).
    Targets {
        /// The variant.
        variant: String,
        /// The targeting keys.
        keys: Vec<String>,
    },
    /// The flag resolves exactly as in that environment.
    SameAs(String),
}

/// One file of a [`Prepared`] change, before and after.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreparedFile {
    /// Root-relative path.
    pub path: String,
    /// Path relative to the top of the repository (what git shows).
    pub repo_path: String,
    /// The contents at the branch tip (`None`: the file is new).
    pub before: Option<String>,
    /// The contents after the change (`None`: the file is removed).
    pub after: Option<String>,
}

/// How one flag resolves in one environment before and after a change.
#[derive(Clone, Debug, PartialEq)]
pub struct Effect {
    /// The environment.
    pub environment: String,
    /// The flag.
    pub flag: FlagKey,
    /// Resolved before (`None`: absent or invalid).
    pub before: Option<Flag>,
    /// Resolved after (`None`: removed).
    pub after: Option<Flag>,
    /// Whether the environment is protected.
    pub protected: bool,
    /// Whether what the flag serves changes (anything but `description`,
    /// `owner`, `expires` and `tags`: see [`Flag::evaluates_like`]).
    pub serving: bool,
}

impl Effect {
    /// The resolved flag before, as the JSON document `flagctl build` writes.
    pub fn before_value(&self) -> Option<Value> {
        self.before
            .as_ref()
            .and_then(|f| serde_json::to_value(f).ok())
    }

    /// The resolved flag after, as JSON.
    pub fn after_value(&self) -> Option<Value> {
        self.after
            .as_ref()
            .and_then(|f| serde_json::to_value(f).ok())
    }

    /// The fields that change, with their values before and after
    /// ([`crate::diff::diff_flag`] of the resolved flags).
    pub fn changes(&self) -> Vec<crate::diff::FieldChange> {
        crate::diff::diff_flag(self.before_value().as_ref(), self.after_value().as_ref())
    }

    /// Who gets another variant ([`crate::diff::rollout_impact`]), when the
    /// flag exists on both sides and someone is concerned.
    pub fn impact(&self) -> Option<crate::diff::Impact> {
        match (&self.before, &self.after) {
            (Some(before), Some(after)) => {
                Some(crate::diff::rollout_impact(before, after)).filter(|i| !i.is_empty())
            }
            _ => None,
        }
    }
}

/// How the configuration after a change was validated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Validation {
    /// The tip was known to be valid; only the changed flags were loaded.
    Incremental,
    /// The whole root was loaded (the tip's validity was not cached yet, or
    /// the change touches more than flags).
    Full,
}

/// A change ready to commit: shown to the user, then given to
/// [`Pipeline::commit`].
#[derive(Clone, Debug)]
pub struct Prepared {
    /// The plan.
    pub plan: Plan,
    /// The commit it was prepared against.
    pub tip: RevisionId,
    /// The branch's short name.
    pub branch: String,
    /// The files, before and after.
    pub files: Vec<PreparedFile>,
    /// The environments whose resolution of a flag changes.
    pub effects: Vec<Effect>,
    /// Protected environments where the change alters what is served, or
    /// that it names (`--env`): these need confirmation.
    pub protected: Vec<String>,
    /// Warnings in the changed files.
    pub warnings: Vec<Diagnostic>,
    /// Errors already present in files the change does not touch.
    pub preexisting_errors: usize,
    /// How validation ran.
    pub validation: Validation,
    /// The documents after the change that warnings point into.
    pub after_files: RootFiles,
}
