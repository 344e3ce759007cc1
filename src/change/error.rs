//! The errors of [`crate::change`]: bad input, refusals and failures, each
//! with what to do next ([`ChangeError::help`]).

use crate::diagnostic::Diagnostic;
use crate::format::RootFiles;
use crate::format::edit::{EditError, PathError};
use crate::model::{NameError, WeightError};
use crate::store::{PathStatus, RevisionId, StoreError};

/// Everything that can stop a change. Nothing is written when one occurs
/// (except where a variant says the change was committed locally).
///
/// Messages follow the project's style: lowercase, one sentence, user values
/// in backticks; [`ChangeError::help`] gives the `help:` line.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChangeError {
    /// A git operation failed or was refused.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The branch has no commit yet.
    #[error("the repository has no commits yet: flagctl changes build on the branch tip")]
    NoCommits,
    /// The flag root is not in the branch tip's tree.
    #[error("the flag root `{root}` is not committed on `{branch}`")]
    RootNotCommitted {
        /// The root, relative to the top of the repository.
        root: String,
        /// The branch.
        branch: String,
    },
    /// `flagctl.yaml` at the branch tip does not load.
    #[error("`flagctl.yaml` on the branch tip has errors")]
    BrokenConfig {
        /// Its problems.
        diagnostics: Vec<Diagnostic>,
        /// The files they point into.
        files: RootFiles,
    },
    /// A flag key, variant or environment name is not a valid name.
    #[error("invalid {what}: {source}")]
    InvalidName {
        /// What the name is for (`flag key`).
        what: &'static str,
        /// The name given.
        name: String,
        /// Why it is invalid.
        #[source]
        source: NameError,
    },
    /// No flag has this key.
    #[error("flag `{key}` does not exist")]
    UnknownFlag {
        /// The key given.
        key: String,
        /// The closest existing key.
        suggestion: Option<String>,
    },
    /// `flagctl new` of a key that exists.
    #[error("flag `{key}` already exists")]
    FlagExists {
        /// The key.
        key: String,
    },
    /// The environment is not declared in `flagctl.yaml`.
    #[error("unknown environment `{environment}`")]
    UnknownEnvironment {
        /// The name given.
        environment: String,
        /// The declared environments.
        environments: Vec<String>,
    },
    /// The flag has no such variant.
    #[error("flag `{flag}` has no variant `{variant}`")]
    UnknownVariant {
        /// The flag.
        flag: String,
        /// The variant given.
        variant: String,
        /// The flag's variants.
        variants: Vec<String>,
    },
    /// A percentage or weight is not a number from 0 to 100 with at most 3 decimals.
    #[error("invalid percentage `{input}`: {problem}")]
    InvalidPercent {
        /// The text given.
        input: String,
        /// What is wrong with it.
        problem: String,
    },
    /// Split weights do not add up to 100.
    #[error("the weights add up to {total}, expected 100")]
    WeightsSum {
        /// Their sum, as a percentage.
        total: String,
        /// The difference to 100, signed (`+10`: add ten).
        missing: String,
    },
    /// `flagctl rollout` on a flag with more than two variants.
    #[error("flag `{flag}` has {} variants; `rollout` splits traffic between two", .variants.len())]
    NeedsSplit {
        /// The flag.
        flag: String,
        /// Its variants.
        variants: Vec<String>,
    },
    /// An argument is malformed (`FIELD=VALUE`, `VARIANT=WEIGHT`, a date).
    #[error("invalid {what} `{input}`: {problem}")]
    InvalidArgument {
        /// What the argument is (`assignment`).
        what: &'static str,
        /// The text given.
        input: String,
        /// What is wrong with it.
        problem: String,
        /// What to write instead.
        help: String,
    },
    /// A field path does not parse.
    #[error(transparent)]
    Path(#[from] PathError),
    /// A minimal edit of a file could not be made.
    #[error("cannot edit `{path}`: {source}")]
    Edit {
        /// The root-relative file.
        path: String,
        /// Why.
        #[source]
        source: EditError,
    },
    /// A file to change has uncommitted work.
    #[error("`{path}` has uncommitted changes ({})", status_word(*.status))]
    UncommittedChanges {
        /// The file, relative to the top of the repository.
        path: String,
        /// What git says about it.
        status: PathStatus,
    },
    /// The flag does not resolve in an environment, so the command cannot
    /// reason about it.
    #[error("flag `{flag}` has errors in `{environment}`; fix them first")]
    FlagHasErrors {
        /// The flag.
        flag: String,
        /// The environment (`base` for the base file).
        environment: String,
        /// Its problems.
        diagnostics: Vec<Diagnostic>,
        /// The files they point into.
        files: RootFiles,
    },
    /// The configuration after the change is invalid.
    #[error("the change would make the flags invalid")]
    Invalid {
        /// The errors the change introduces or touches.
        diagnostics: Vec<Diagnostic>,
        /// The configuration after the change, which they point into.
        files: RootFiles,
        /// Errors that were already there in files the change does not touch.
        preexisting: usize,
    },
    /// The commit to revert was not made by flagctl.
    #[error("commit `{id}` is not a flagctl change (it has no `Flagctl-Action` trailer)")]
    NotAFlagctlChange {
        /// The commit (abbreviated).
        id: String,
    },
    /// Later commits changed the files of the commit to revert.
    #[error("cannot revert `{id}`: {} later {} changed the same files ({})", .later.len(), if .later.len() == 1 { "commit" } else { "commits" }, show_later(.later))]
    Superseded {
        /// The commit (abbreviated).
        id: String,
        /// The later commits, newest first: abbreviated id and summary.
        later: Vec<(String, String)>,
    },
    /// A change would leave nothing to commit where the command must change something.
    #[error("the edit of `{path}` changes nothing")]
    EditChangedNothing {
        /// The root-relative file.
        path: String,
    },
    /// The edits did not have the effect the command promised (a bug).
    #[error(
        "the edit did not have the intended effect on `{flag}` in `{environment}` (this is a bug in flagctl)"
    )]
    Unexpected {
        /// The environment (`base` for the base file).
        environment: String,
        /// The flag, or what was being planned.
        flag: String,
    },
    /// `--push` found the local branch holding commits the remote lacks.
    #[error("`{branch}` has commits that `{remote}` does not, besides this change")]
    Diverged {
        /// The remote.
        remote: String,
        /// The branch.
        branch: String,
        /// The change, committed locally (abbreviated id).
        committed: String,
    },
    /// `--push` kept finding the remote moved.
    #[error("the remote kept moving: gave up after {attempts} pushes")]
    PushRetriesExhausted {
        /// How many pushes were tried.
        attempts: u32,
        /// The change, committed locally (abbreviated id).
        committed: String,
    },
    /// The remote already holds an equivalent change.
    #[error("`{remote}` already has this change")]
    RemoteHasChange {
        /// The remote.
        remote: String,
        /// The change, committed locally (abbreviated id).
        committed: String,
    },
    /// Pushing failed for another reason; the change is committed locally.
    #[error("the change is committed locally as `{committed}`, but pushing failed: {source}")]
    PushFailed {
        /// The change (abbreviated id).
        committed: String,
        /// What went wrong.
        source: Box<ChangeError>,
    },
}

fn status_word(status: PathStatus) -> &'static str {
    match status {
        PathStatus::Modified => "edited",
        PathStatus::Staged => "staged",
        PathStatus::Untracked => "untracked",
        PathStatus::Ignored => "ignored by .gitignore",
        PathStatus::Conflicted => "unmerged",
        PathStatus::Clean | PathStatus::Absent => "clean",
    }
}

fn show_later(later: &[(String, String)]) -> String {
    let mut shown: Vec<String> = later
        .iter()
        .take(3)
        .map(|(id, summary)| format!("`{id}` {summary}"))
        .collect();
    if later.len() > 3 {
        shown.push(format!("and {} more", later.len() - 3));
    }
    shown.join("; ")
}

impl ChangeError {
    /// The `help:` line to print after the error, when there is one.
    pub fn help(&self) -> Option<String> {
        let text = match self {
            ChangeError::Store(error) => {
                if let Some(help) = error.help() {
                    return Some(help);
                }
                match error {
                    StoreError::RevisionNotFound { .. } => {
                        "list the changes with `git log --oneline`, then pass one of their ids".into()
                    }
                    StoreError::CannotRevert { id, .. } => format!("undo it with `git revert {id}`"),
                    StoreError::RootNotFound { .. } => {
                        "commit the flag root first, then run the command again".into()
                    }
                    StoreError::Remote { .. } => "see git's message above".into(),
                    StoreError::Io { .. } | StoreError::Git { .. } => {
                        "check the repository with `git status`, then run the command again".into()
                    }
                    _ => "nothing was written".into(),
                }
            }
            ChangeError::NoCommits => {
                "commit the flag root first: `git add flags && git commit -m 'Add flags'`".into()
            }
            ChangeError::RootNotCommitted { root, .. } => {
                let root = if root.is_empty() { "." } else { root };
                format!("commit it first: `git add {root} && git commit -m 'Add flags'`")
            }
            ChangeError::BrokenConfig { .. } => {
                "fix `flagctl.yaml` (see above) and commit it, then run the command again".into()
            }
            ChangeError::InvalidName { .. } => "for example `new-checkout` or `checkout.v2`".into(),
            ChangeError::UnknownFlag { suggestion, .. } => match suggestion {
                Some(suggestion) => format!("did you mean `{suggestion}`?"),
                None => "list the flags with `flagctl list`, or create one with `flagctl new`".into(),
            },
            ChangeError::FlagExists { key } => format!(
                "change it with `flagctl set {key} FIELD=VALUE`, or pick another key"
            ),
            ChangeError::UnknownEnvironment {
                environment,
                environments,
            } => match crate::format::schema::closest(
                environment,
                environments.iter().map(String::as_str),
            ) {
                Some(suggestion) => format!(
                    "did you mean `{suggestion}`? the environments are: {}",
                    environments.join(", ")
                ),
                None => format!("the environments are: {}", environments.join(", ")),
            },
            ChangeError::UnknownVariant {
                variant, variants, ..
            } => match crate::format::schema::closest(
                variant,
                variants.iter().map(String::as_str),
            ) {
                Some(suggestion) => format!(
                    "did you mean `{suggestion}`? the variants are: {}",
                    variants.join(", ")
                ),
                None => format!("the variants are: {}", variants.join(", ")),
            },
            ChangeError::InvalidPercent { .. } => {
                "give a number from 0 to 100 with at most 3 decimals, such as `25` or `12.5`".into()
            }
            ChangeError::WeightsSum { missing, .. } => {
                format!("make the weights add up to 100 ({missing})")
            }
            ChangeError::NeedsSplit { flag, variants } => {
                let share = 100 / variants.len().max(1);
                let example: Vec<String> = variants
                    .iter()
                    .enumerate()
                    .map(|(i, v)| {
                        let weight = if i == 0 {
                            100 - share * (variants.len() - 1)
                        } else {
                            share
                        };
                        format!("{v}={weight}")
                    })
                    .collect();
                format!(
                    "give every variant its weight with `flagctl split {flag} {}`",
                    example.join(" ")
                )
            }
            ChangeError::InvalidArgument { help, .. } => help.clone(),
            ChangeError::Path(_) => {
                "write paths like `description`, `default.rollout.on` or `rules[0].serve`".into()
            }
            ChangeError::Edit { path, .. } if path.contains("/overlays/") || path.starts_with("overlays/") => {
                "an overlay replaces a list as a whole: set the whole list (`rules=[...]`), change the base (no `--env`), or edit the file by hand".into()
            }
            ChangeError::Edit { .. } => "edit the file by hand and commit it".into(),
            ChangeError::UncommittedChanges { path, .. } => format!(
                "commit or stash your changes to `{path}` first (`git stash push -- {path}`); flagctl never commits them along"
            ),
            ChangeError::FlagHasErrors { .. } => "run `flagctl validate` to see them all".into(),
            ChangeError::Invalid { .. } => "nothing was written; change the arguments, or fix the files by hand".into(),
            ChangeError::NotAFlagctlChange { id } => {
                format!("undo it with `git revert {id}`")
            }
            ChangeError::Superseded { .. } => {
                "revert the later commits first (newest first), or make the change you want with a new command".into()
            }
            ChangeError::EditChangedNothing { .. } => "nothing was written".into(),
            ChangeError::Unexpected { .. } => {
                "nothing was written; please report this with the command you ran".into()
            }
            ChangeError::Diverged { committed, .. } => format!(
                "the change is committed locally as `{committed}`; run `git pull --rebase` and `git push`"
            ),
            ChangeError::PushRetriesExhausted { committed, .. } => format!(
                "the change is committed locally as `{committed}`; run `git pull --rebase` and `git push`"
            ),
            ChangeError::RemoteHasChange { committed, .. } => format!(
                "your branch holds the same change as `{committed}`; run `git pull --rebase` to drop it"
            ),
            ChangeError::PushFailed { source, .. } => match source.help() {
                Some(help) => format!("{help}; then run `git push`"),
                None => "then run `git push`".into(),
            },
        };
        Some(text)
    }

    /// The diagnostics to show with the error, and the files they point into.
    pub fn diagnostics(&self) -> Option<(&[Diagnostic], &RootFiles)> {
        match self {
            ChangeError::PushFailed { source, .. } => source.diagnostics(),
            ChangeError::BrokenConfig { diagnostics, files }
            | ChangeError::FlagHasErrors {
                diagnostics, files, ..
            }
            | ChangeError::Invalid {
                diagnostics, files, ..
            } => Some((diagnostics, files)),
            _ => None,
        }
    }

    /// What `git` printed when a fetch or push failed (to show the user).
    pub fn git_output(&self) -> Option<&str> {
        match self {
            ChangeError::Store(StoreError::Remote { stderr, .. }) => Some(stderr),
            ChangeError::PushFailed { source, .. } => source.git_output(),
            _ => None,
        }
    }

    /// Whether this is a lost compare-and-swap race (retried by the pipeline).
    pub fn is_conflict(&self) -> bool {
        matches!(self, ChangeError::Store(error) if error.is_conflict())
    }

    /// Whether the change was committed locally although the command failed
    /// (a push problem).
    pub fn committed_locally(&self) -> bool {
        matches!(
            self,
            ChangeError::Diverged { .. }
                | ChangeError::PushRetriesExhausted { .. }
                | ChangeError::RemoteHasChange { .. }
                | ChangeError::PushFailed { .. }
        )
    }
}

impl crate::store::ConflictError for ChangeError {
    fn is_conflict(&self) -> bool {
        ChangeError::is_conflict(self)
    }
}

impl From<WeightError> for ChangeError {
    fn from(error: WeightError) -> ChangeError {
        let (input, problem) = match error {
            WeightError::OutOfRange(value) => (value.to_string(), "it is outside 0–100".to_owned()),
            WeightError::TooPrecise(value) => {
                (value.to_string(), "it has more than 3 decimals".to_owned())
            }
        };
        ChangeError::InvalidPercent { input, problem }
    }
}

/// An abbreviated commit id for messages (12 hex digits).
pub(crate) fn short(id: RevisionId) -> String {
    let mut text = id.to_string();
    text.truncate(12);
    text
}
