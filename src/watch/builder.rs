//! Configuring and starting a [`Client`]: the environment, one source, an
//! explicit fallback, pacing, observability.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;

use crate::eval::Snapshot;
use crate::format::LoadOptions;
use crate::format::snapshot::SnapshotFile;
use crate::model::ResolvedEnvironment;

use super::Client;
use super::apply::{Callback, Control, Reloader, Shared, StatusCounters};
use super::error::{BuildError, StartError, chain};
use super::events::{Event, Origin, Problem, SourceFailure};
use super::served::{CountTotals, ExposureSink, Served};
use super::source::{Source, SourceState};
use super::worker::{Pacing, Worker};

/// What to serve when the source has no valid state at startup.
///
/// The default, [`Fallback::None`], makes [`ClientBuilder::build`] fail: a
/// service that cannot read its flags does not start unless told what to do.
/// With a fallback the client starts, reports the problem (status, events,
/// log), and keeps following the source: its first valid state replaces the
/// fallback.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fallback {
    /// Fail to start.
    #[default]
    None,
    /// Serve this snapshot file (written by `flagctl build`, checked
    /// against its digest) until the source has a valid state.
    SnapshotFile(PathBuf),
    /// Serve no flags until the source has a valid state: every evaluation
    /// reports `FLAG_NOT_FOUND` and the typed accessors return the defaults
    /// written in the code. The revision served is `code-defaults`.
    CodeDefaults,
}

/// The revision a client serving code defaults reports.
pub const CODE_DEFAULTS_REVISION: &str = "code-defaults";

/// Builds a [`Client`]; see [`Client::builder`].
#[must_use = "a builder does nothing until `build` is called"]
pub struct ClientBuilder {
    environment: Option<String>,
    source: Option<Source>,
    fallback: Fallback,
    poll_interval: Option<Duration>,
    debounce: Option<Duration>,
    max_delay: Duration,
    os_watcher: bool,
    background: bool,
    load_threads: usize,
    exposures: Option<usize>,
    callbacks: Vec<Callback>,
}

impl std::fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("environment", &self.environment)
            .field("source", &self.source)
            .field("fallback", &self.fallback)
            .field("poll_interval", &self.poll_interval)
            .field("debounce", &self.debounce)
            .field("os_watcher", &self.os_watcher)
            .field("background", &self.background)
            .field("exposures", &self.exposures)
            .field("callbacks", &self.callbacks.len())
            .finish_non_exhaustive()
    }
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder {
            environment: None,
            source: None,
            fallback: Fallback::None,
            poll_interval: None,
            debounce: None,
            max_delay: Duration::from_millis(500),
            os_watcher: true,
            background: true,
            load_threads: 0,
            exposures: None,
            callbacks: Vec::new(),
        }
    }
}

impl ClientBuilder {
    /// The environment to serve (required).
    pub fn environment(mut self, environment: impl Into<String>) -> Self {
        self.environment = Some(environment.into());
        self
    }

    /// The source to follow (required; the last source given wins).
    pub fn source(mut self, source: Source) -> Self {
        self.source = Some(source);
        self
    }

    /// Follows the branch that HEAD points at (at startup) in the git
    /// repository holding the flag root `root` (see [`Source::GitRef`]).
    pub fn git_head(self, root: impl AsRef<Path>) -> Self {
        self.source(Source::GitRef {
            root: root.as_ref().to_path_buf(),
            reference: None,
        })
    }

    /// Follows reference `reference` (`main`, `refs/heads/release`, `HEAD`)
    /// in the git repository holding the flag root `root`.
    pub fn git_ref(self, root: impl AsRef<Path>, reference: impl Into<String>) -> Self {
        self.source(Source::GitRef {
            root: root.as_ref().to_path_buf(),
            reference: Some(reference.into()),
        })
    }

    /// Follows `branch` of the remote at `url`, fetched into the bare cache
    /// repository `cache_dir` every [`ClientBuilder::fetch_interval`] (30 s
    /// unless set) and on [`Client::refresh`]. The flag root is found in
    /// the remote's tree (the top, else `flags/`); give
    /// [`Source::Remote`] to [`ClientBuilder::source`] to name it.
    pub fn remote(
        self,
        url: impl Into<String>,
        branch: impl Into<String>,
        cache_dir: impl AsRef<Path>,
    ) -> Self {
        self.source(Source::Remote {
            url: url.into(),
            branch: branch.into(),
            cache_dir: cache_dir.as_ref().to_path_buf(),
            root: None,
        })
    }

    /// Serves the flag root directory `root` as it is on disk, reloading
    /// when files change (see [`Source::Directory`]).
    pub fn directory(self, root: impl AsRef<Path>) -> Self {
        self.source(Source::Directory(root.as_ref().to_path_buf()))
    }

    /// Serves the snapshot file `path` written by `flagctl build`, reloading
    /// when it is replaced (see [`Source::SnapshotFile`]).
    pub fn snapshot_file(self, path: impl AsRef<Path>) -> Self {
        self.source(Source::SnapshotFile(path.as_ref().to_path_buf()))
    }

    /// Follows the relay (`flagctl serve`) at `url`, sending `token` as
    /// `Authorization: Bearer TOKEN` when given (feature `relay-client`;
    /// see [`Source::Relay`]).
    ///
    /// The client fetches the snapshot of the token's environment
    /// (`GET /v1/snapshot`) and serves it once its digest checks out and
    /// its environment is the one given to [`ClientBuilder::environment`]
    /// (anything else is refused, never served). It then follows the
    /// relay's change stream and fetches the snapshot again on every change
    /// announced, on every reconnection, every
    /// [`ClientBuilder::poll_interval`] (30 s unless set) and on
    /// [`Client::refresh`]. The revision served is the snapshot's source
    /// commit, as for a snapshot file. While the relay is unreachable the
    /// last good state keeps serving, and the failure is reported
    /// ([`Client::status`], [`Event::SourceError`]).
    ///
    /// ```no_run
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use flagctl::watch::Client;
    ///
    /// let token = std::fs::read_to_string("/run/secrets/flagctl-prod-token")?;
    /// let client = Client::builder()
    ///     .environment("prod")
    ///     .relay("https://flags.internal.example.com", Some(&token))
    ///     .build()?;
    /// println!("serving {}", client.current().revision());
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(feature = "relay-client")]
    pub fn relay(self, url: impl Into<String>, token: Option<&str>) -> Self {
        self.source(Source::Relay {
            url: url.into(),
            token: token.map(super::RelayToken::new),
        })
    }

    /// What to serve when the source has no valid state at startup (see
    /// [`Fallback`]; by default, building fails).
    pub fn fallback(mut self, fallback: Fallback) -> Self {
        self.fallback = fallback;
        self
    }

    /// How often to look at the source without an OS event (see
    /// [`Source::default_poll_interval`]). For a remote, how often to fetch.
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = Some(interval);
        self
    }

    /// How often a remote source fetches: the same setting as
    /// [`ClientBuilder::poll_interval`], named for remotes.
    pub fn fetch_interval(self, interval: Duration) -> Self {
        self.poll_interval(interval)
    }

    /// How long file-system events must stay quiet before a directory or a
    /// snapshot file is read again (see [`Source::default_debounce`]).
    /// Bursts that never go quiet are read every 500 ms.
    pub fn debounce(mut self, debounce: Duration) -> Self {
        self.debounce = Some(debounce);
        self
    }

    /// Whether to use the operating system's file watcher (default: yes).
    /// Without it the source is only polled.
    pub fn os_watcher(mut self, enabled: bool) -> Self {
        self.os_watcher = enabled;
        self
    }

    /// Whether to follow the source from a background thread (default:
    /// yes). Without it the client changes only when [`Client::refresh`]
    /// is called: for tests, or for a caller with its own scheduling.
    pub fn background(mut self, enabled: bool) -> Self {
        self.background = enabled;
        self
    }

    /// How many threads parse a new state's files (default 0: one per core).
    pub fn load_threads(mut self, threads: usize) -> Self {
        self.load_threads = threads;
        self
    }

    /// Records an [`super::Exposure`] for each evaluation that decides an
    /// experiment (a rollout with `experiment:`), into a bounded queue of
    /// `capacity` entries read through [`Client::take_exposures`]. When the
    /// queue is full, exposures are dropped and counted
    /// ([`super::Status::exposures_dropped`]); evaluations never wait.
    pub fn exposures(mut self, capacity: usize) -> Self {
        self.exposures = Some(capacity);
        self
    }

    /// Calls `callback` for every [`Event`], on the thread that looked at
    /// the source, after the change is served. Keep it short; it may call
    /// the client (except dropping it).
    pub fn on_event(mut self, callback: impl Fn(&Event) + Send + Sync + 'static) -> Self {
        self.callbacks.push(Box::new(callback));
        self
    }

    /// Reads the source, validates and compiles its state, and starts
    /// following it.
    ///
    /// # Errors
    ///
    /// [`BuildError::NoValidState`] when the source cannot be read or its
    /// state is refused and no [`Fallback`] was given;
    /// [`BuildError::Fallback`] when the fallback snapshot is unusable;
    /// [`BuildError::NoEnvironment`] / [`BuildError::NoSource`] when the
    /// builder is incomplete.
    pub fn build(self) -> Result<Client, BuildError> {
        let ClientBuilder {
            environment,
            source,
            fallback,
            poll_interval,
            debounce,
            max_delay,
            os_watcher,
            background,
            load_threads,
            exposures,
            callbacks,
        } = self;
        let environment = environment.ok_or(BuildError::NoEnvironment)?;
        let source = source.ok_or(BuildError::NoSource)?;
        let generation = Arc::new(AtomicU64::new(0));
        let mut state = SourceState::new(&source, generation.clone());
        let (sink, receiver) = match exposures {
            Some(capacity) => {
                let (sink, receiver) = ExposureSink::new(capacity);
                (Some(sink), Some(receiver))
            }
            None => (None, None),
        };
        let reloader = Reloader {
            environment: environment.clone(),
            options: LoadOptions {
                today: None,
                threads: load_threads,
            },
            sink: sink.clone(),
        };
        let mut counters = StatusCounters {
            checks: 1,
            ..StatusCounters::default()
        };
        let mut events = Vec::new();
        let mut last_source_error = None;

        let mut source_failure = |error: super::error::SourceError,
                                  counters: &mut StatusCounters,
                                  events: &mut Vec<Event>| {
            let failure = SourceFailure {
                error: Arc::new(error),
                at: SystemTime::now(),
            };
            counters.source_errors += 1;
            counters.failing = true;
            counters.last_error = Some(Problem::source(&failure));
            last_source_error = Some(chain(&*failure.error));
            events.push(Event::SourceError(failure));
        };
        let candidate = match state.initial() {
            Ok(candidate) => Ok(candidate),
            // A remote that cannot be fetched: start from what the cache
            // holds from an earlier run, and say so.
            Err(error) => match state.cached() {
                Ok(Some(candidate)) => {
                    source_failure(error, &mut counters, &mut events);
                    Ok(candidate)
                }
                _ => Err(error),
            },
        };
        let prepared = match candidate {
            Ok(candidate) => reloader
                .prepare(candidate, Origin::Source)
                .map_err(StartError::Rejected),
            Err(error) => Err(StartError::Source(Box::new(error))),
        };
        let (served, served_environment) = match prepared {
            Ok(prepared) => {
                state.mark_served(prepared.fingerprint);
                let mut timings = prepared.timings;
                timings.swap = prepared.swap_started.elapsed();
                counters.load_timings = timings;
                counters.latest_revision = Some(prepared.served.snapshot.revision().to_owned());
                (prepared.served, prepared.environment)
            }
            Err(cause) => {
                let origin = match &fallback {
                    Fallback::None => {
                        return Err(BuildError::NoValidState {
                            environment,
                            source_name: source.to_string(),
                            cause,
                        });
                    }
                    Fallback::SnapshotFile(_) => Origin::FallbackSnapshot,
                    Fallback::CodeDefaults => Origin::CodeDefaults,
                };
                let (served, fallback_environment) =
                    load_fallback(&fallback, origin, &environment, &reloader)?;
                match cause {
                    StartError::Rejected(rejection) => {
                        counters.latest_revision = Some(rejection.revision.clone());
                        counters.rejections += 1;
                        counters.last_error = Some(Problem::rejected(&rejection));
                        events.push(Event::Rejected(*rejection));
                    }
                    StartError::Source(error) => {
                        source_failure(*error, &mut counters, &mut events);
                    }
                    StartError::Io { .. } | StartError::Snapshot(_) => {}
                }
                (served, fallback_environment)
            }
        };
        let shared = Arc::new(Shared {
            current: ArcSwap::from_pointee(served),
            control: Mutex::new(Control {
                source: state,
                reloader,
                served_environment,
                last_source_error,
            }),
            status: Mutex::new(counters),
            subscribers: Mutex::new(Vec::new()),
            callbacks,
            totals: Mutex::new(CountTotals::default()),
            sink,
            events_dropped: AtomicU64::new(0),
        });
        shared.dispatch(events);
        let worker = if background {
            let pacing = Pacing {
                poll: poll_interval
                    .unwrap_or_else(|| source.default_poll_interval())
                    .max(Duration::from_millis(1)),
                debounce: debounce.unwrap_or_else(|| source.default_debounce()),
                max_delay,
                os_watcher,
            };
            Some(
                Worker::spawn(shared.clone(), pacing, generation.clone())
                    .map_err(BuildError::Thread)?,
            )
        } else {
            None
        };
        Ok(Client {
            shared,
            worker,
            environment,
            source,
            exposures: Mutex::new(receiver),
        })
    }
}

/// The state a fallback serves, and the environment it holds.
fn load_fallback(
    fallback: &Fallback,
    origin: Origin,
    environment: &str,
    reloader: &Reloader,
) -> Result<(Served, Arc<ResolvedEnvironment>), BuildError> {
    match fallback {
        Fallback::None | Fallback::CodeDefaults => {
            let empty = ResolvedEnvironment {
                environment: environment.to_owned(),
                bucketing: Default::default(),
                flags: Default::default(),
                segments: Default::default(),
            };
            let snapshot = Snapshot::compile(&empty, CODE_DEFAULTS_REVISION)
                .expect("an environment without flags always compiles");
            let empty = Arc::new(empty);
            let served = Served::new(snapshot, empty.clone(), origin, reloader.sink.as_ref());
            Ok((served, empty))
        }
        Fallback::SnapshotFile(path) => {
            let fail = |cause| BuildError::Fallback {
                path: path.clone(),
                cause,
            };
            let bytes = std::fs::read(path).map_err(|source| {
                fail(StartError::Io {
                    path: path.clone(),
                    source,
                })
            })?;
            let file = SnapshotFile::from_json(&bytes)
                .map_err(|error| fail(StartError::Snapshot(error)))?;
            let candidate = super::source::Candidate {
                revision: file.revision(),
                fingerprint: String::new(),
                content: super::source::Content::Snapshot(bytes),
                read: Duration::ZERO,
            };
            let prepared = reloader
                .prepare(candidate, origin)
                .map_err(|rejection| fail(StartError::Rejected(rejection)))?;
            Ok((prepared.served, prepared.environment))
        }
    }
}
