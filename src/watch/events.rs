//! What a client reports: changes it applied, states it rejected, failures
//! to read its source, and its status.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::diagnostic::Diagnostic;
use crate::eval::CompileError;
use crate::format::snapshot::SnapshotError;

use super::error::SourceError;

/// Something that happened to a client's served state.
///
/// Delivered to [`super::Client::subscribe`]rs and to the callbacks given to
/// [`super::ClientBuilder::on_event`], after the fact: an applied change is
/// already being served when its event is sent.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Event {
    /// A new state is served.
    Applied(Change),
    /// A new state at the source was refused; the previous one keeps serving.
    Rejected(Rejection),
    /// The source could not be read (repository, network, file system); the
    /// current state keeps serving. Reported once per distinct error, not on
    /// every retry.
    SourceError(SourceFailure),
}

impl Event {
    /// The revision the event is about (`None` for a source error).
    pub fn revision(&self) -> Option<&str> {
        match self {
            Event::Applied(change) => Some(&change.revision),
            Event::Rejected(rejection) => Some(&rejection.revision),
            Event::SourceError(_) => None,
        }
    }
}

/// A new state that the client swapped in.
#[derive(Clone, Debug)]
pub struct Change {
    /// The revision now served: a commit id, a snapshot's source commit or
    /// digest, or a working tree's content digest (`worktree:…`).
    pub revision: String,
    /// The revision served before.
    pub previous_revision: String,
    /// The flags whose evaluation may differ from the previous state, sorted
    /// by key (see [`FlagChange`]); empty when only the revision moved (a
    /// commit that touched other environments or other files).
    pub flags: Vec<FlagChange>,
    /// How long reading, validating, compiling and swapping took.
    pub timings: LoadTimings,
    /// When the new state started serving.
    pub applied_at: SystemTime,
}

/// One flag that changed between two served states.
///
/// A flag is *modified* when anything that decides its evaluation differs:
/// type, variants, `enabled`, `off_variant`, salt, targets, rules, default,
/// or a segment it uses (directly or through other segments), or the
/// environment's bucketing contract. Metadata (`description`, `owner`,
/// `expires`, `tags`) does not count.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlagChange {
    /// The flag's key.
    pub key: String,
    /// What happened to it.
    pub kind: ChangeKind,
}

/// What happened to a flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChangeKind {
    /// The flag is new in this state.
    Added,
    /// The flag is gone from this state (evaluations report `FLAG_NOT_FOUND`).
    Removed,
    /// The flag's evaluation may differ.
    Modified,
}

impl ChangeKind {
    /// `added`, `removed` or `modified`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Added => "added",
            ChangeKind::Removed => "removed",
            ChangeKind::Modified => "modified",
        }
    }
}

impl fmt::Display for ChangeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where the time of one reload went.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoadTimings {
    /// Obtaining the files: reading a git tree, a directory or a snapshot
    /// file (and for a remote source, the fetch).
    pub read: Duration,
    /// Parsing and validating (schema, semantic checks, overlays), or
    /// checking a snapshot file's digest and content.
    pub validate: Duration,
    /// Compiling the environment for evaluation.
    pub compile: Duration,
    /// Preparing the served state and swapping it in.
    pub swap: Duration,
}

impl LoadTimings {
    /// The whole reload.
    pub fn total(&self) -> Duration {
        self.read + self.validate + self.compile + self.swap
    }
}

/// A state at the source that the client refused to serve.
#[derive(Clone, Debug)]
pub struct Rejection {
    /// The refused revision.
    pub revision: String,
    /// Why.
    pub reason: RejectReason,
    /// The errors found in the flags (for [`RejectReason::Invalid`]), each
    /// with its file and position.
    pub diagnostics: Vec<Diagnostic>,
    /// When the state was refused.
    pub at: SystemTime,
}

/// Why a state was refused.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum RejectReason {
    /// The flags have errors in the client's environment (see
    /// [`Rejection::diagnostics`]): exactly what `flagctl build --env E`
    /// refuses.
    Invalid,
    /// `flagctl.yaml` does not declare the client's environment.
    UnknownEnvironment {
        /// The environments it declares.
        known: Vec<String>,
    },
    /// A snapshot file holds another environment.
    WrongEnvironment {
        /// The snapshot's environment.
        found: String,
    },
    /// A snapshot file is not usable: not a snapshot, another format, a
    /// digest that does not match its content, or invalid content.
    Snapshot(Arc<SnapshotError>),
    /// The environment is valid but cannot be compiled for evaluation.
    Compile(Arc<CompileError>),
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "revision `{}` was refused: ", self.revision)?;
        match &self.reason {
            RejectReason::Invalid => {
                let count = self.diagnostics.len();
                let plural = if count == 1 { "" } else { "s" };
                write!(f, "{count} error{plural} in the flags")?;
                if let Some(first) = self.diagnostics.first() {
                    write!(f, "; first: {first}")?;
                }
                Ok(())
            }
            RejectReason::UnknownEnvironment { known } => write!(
                f,
                "`flagctl.yaml` does not declare the environment (it declares: {})",
                known.join(", ")
            ),
            RejectReason::WrongEnvironment { found } => {
                write!(f, "the snapshot is of environment `{found}`")
            }
            RejectReason::Snapshot(error) => write!(f, "{error}"),
            RejectReason::Compile(error) => write!(f, "{error}"),
        }
    }
}

impl std::error::Error for Rejection {}

/// A failure to read the source.
#[derive(Clone, Debug)]
pub struct SourceFailure {
    /// What went wrong.
    pub error: Arc<SourceError>,
    /// When.
    pub at: SystemTime,
}

/// What one [`super::Client::refresh`] did.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Refresh {
    /// The source holds the state already served or already refused (a
    /// change the background thread applied first shows as unchanged).
    Unchanged,
    /// A new state is served.
    Applied(Change),
    /// A new state was refused.
    Rejected(Rejection),
}

/// Where the served state came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Origin {
    /// The client's source.
    Source,
    /// The fallback snapshot file given to the builder: the source had no
    /// valid state at startup.
    FallbackSnapshot,
    /// No flags at all: the source had no valid state at startup and the
    /// builder was told to serve code defaults. Every evaluation reports
    /// `FLAG_NOT_FOUND` and typed accessors return the caller's default.
    CodeDefaults,
}

impl Origin {
    /// `source`, `fallback-snapshot` or `code-defaults`.
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Source => "source",
            Origin::FallbackSnapshot => "fallback-snapshot",
            Origin::CodeDefaults => "code-defaults",
        }
    }
}

/// A client's state, for health checks and dashboards.
#[derive(Clone, Debug)]
pub struct Status {
    /// The revision served.
    pub revision: String,
    /// Where it came from.
    pub origin: Origin,
    /// The environment.
    pub environment: String,
    /// How many flags it has.
    pub flag_count: usize,
    /// When it started serving.
    pub loaded_at: SystemTime,
    /// How long loading it took.
    pub load_timings: LoadTimings,
    /// The newest revision seen at the source, served or refused; when it
    /// differs from [`Status::revision`] the client serves an older state
    /// because the newest was refused.
    pub latest_revision: Option<String>,
    /// The most recent problem: a refused state or a source failure. It
    /// stays after the client recovers; compare its time with
    /// [`Status::loaded_at`], or look at [`Status::is_current`].
    pub last_error: Option<Problem>,
    /// How many new states were swapped in after startup.
    pub reloads: u64,
    /// How many states were refused.
    pub rejections: u64,
    /// How many times reading the source failed (a failure repeated on
    /// every poll counts once).
    pub source_errors: u64,
    /// Whether the last look at the source failed.
    pub source_failing: bool,
    /// How many times the source was looked at.
    pub checks: u64,
    /// Exposures dropped because the exposure queue was full (or its
    /// receiver gone).
    pub exposures_dropped: u64,
    /// Events dropped because a subscriber's queue was full.
    pub events_dropped: u64,
}

impl Status {
    /// Whether the client serves the newest state it saw at its source, and
    /// the last look at the source succeeded.
    pub fn is_current(&self) -> bool {
        self.origin == Origin::Source
            && self.latest_revision.as_deref() == Some(self.revision.as_str())
            && !self.source_failing
    }
}

/// A refused state or a source failure, as kept in [`Status::last_error`].
#[derive(Clone, Debug)]
pub struct Problem {
    /// Which kind.
    pub kind: ProblemKind,
    /// When it happened.
    pub at: SystemTime,
    /// The refused revision, for a refused state.
    pub revision: Option<String>,
    /// The message, one line.
    pub message: String,
    /// The errors found, for a refused state.
    pub diagnostics: Vec<Diagnostic>,
}

/// The kind of a [`Problem`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProblemKind {
    /// A state was refused.
    Rejected,
    /// The source could not be read.
    Source,
}

impl Problem {
    pub(crate) fn rejected(rejection: &Rejection) -> Problem {
        Problem {
            kind: ProblemKind::Rejected,
            at: rejection.at,
            revision: Some(rejection.revision.clone()),
            message: rejection.to_string(),
            diagnostics: rejection.diagnostics.clone(),
        }
    }

    pub(crate) fn source(failure: &SourceFailure) -> Problem {
        Problem {
            kind: ProblemKind::Source,
            at: failure.at,
            revision: None,
            message: super::error::chain(&*failure.error),
            diagnostics: Vec::new(),
        }
    }
}
