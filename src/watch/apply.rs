//! Turning a state read from the source into a served one: validate it
//! fully, compile it off the hot path, swap it in atomically, and report
//! what changed (or why it was refused) to the status, subscribers,
//! callbacks and the `tracing` facade.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwap;

use crate::diagnostic::Diagnostic;
use crate::eval::Snapshot;
use crate::format::snapshot::SnapshotFile;
use crate::format::{LoadOptions, load};
use crate::model::{Flag, ResolvedEnvironment};

use super::error::{SourceError, chain};
use super::events::{
    Change, ChangeKind, Event, FlagChange, LoadTimings, Origin, Problem, Refresh, RejectReason,
    Rejection, SourceFailure, Status,
};
use super::served::{CountTotals, ExposureSink, Served};
use super::source::{Candidate, Checked, Content, SourceState};

/// A callback given to [`super::ClientBuilder::on_event`].
pub(crate) type Callback = Box<dyn Fn(&Event) + Send + Sync>;

/// Locks a mutex, taking the data of a poisoned one: every critical section
/// here leaves its data consistent between statements, and a panicking
/// callback must not stop the client.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Validates and compiles candidates for one environment.
pub(crate) struct Reloader {
    pub(crate) environment: String,
    pub(crate) options: LoadOptions,
    pub(crate) sink: Option<Arc<ExposureSink>>,
}

/// A candidate that passed: ready to swap in.
pub(crate) struct Prepared {
    pub(crate) served: Served,
    pub(crate) environment: Arc<ResolvedEnvironment>,
    pub(crate) fingerprint: String,
    pub(crate) timings: LoadTimings,
    /// When preparing the served state started (the swap's share of the time).
    pub(crate) swap_started: Instant,
}

impl Reloader {
    /// Validates and compiles `candidate`, or says why it cannot be served.
    pub(crate) fn prepare(
        &self,
        candidate: Candidate,
        origin: Origin,
    ) -> Result<Prepared, Box<Rejection>> {
        let Candidate {
            mut revision,
            fingerprint,
            content,
            read,
        } = candidate;
        let started = Instant::now();
        let reject = |revision: &str, reason: RejectReason, diagnostics: Vec<Diagnostic>| {
            Box::new(Rejection {
                revision: revision.to_owned(),
                reason,
                diagnostics,
                at: SystemTime::now(),
            })
        };
        let environment = match content {
            Content::Files(files) => {
                let mut loaded = load(&files, &self.options);
                if let Some(config) = &loaded.config
                    && !config.has_environment(&self.environment)
                {
                    let known = config.environments.clone();
                    return Err(reject(
                        &revision,
                        RejectReason::UnknownEnvironment { known },
                        Vec::new(),
                    ));
                }
                // What `flagctl build --env E` refuses: errors in E, and
                // errors that belong to no environment (files, the base).
                let errors: Vec<Diagnostic> = loaded
                    .diagnostics
                    .iter()
                    .filter(|d| {
                        d.is_error()
                            && d.environment
                                .as_deref()
                                .is_none_or(|found| found == self.environment)
                    })
                    .cloned()
                    .collect();
                if !errors.is_empty() {
                    return Err(reject(&revision, RejectReason::Invalid, errors));
                }
                match loaded.environments.remove(&self.environment) {
                    Some(environment) => environment,
                    None => {
                        return Err(reject(
                            &revision,
                            RejectReason::UnknownEnvironment {
                                known: loaded.environments.keys().cloned().collect(),
                            },
                            Vec::new(),
                        ));
                    }
                }
            }
            Content::Snapshot(bytes) => {
                let file = SnapshotFile::from_json(&bytes).map_err(|error| {
                    reject(
                        &revision,
                        RejectReason::Snapshot(Arc::new(error)),
                        Vec::new(),
                    )
                })?;
                revision = file.revision();
                if file.environment != self.environment {
                    return Err(reject(
                        &revision,
                        RejectReason::WrongEnvironment {
                            found: file.environment,
                        },
                        Vec::new(),
                    ));
                }
                ResolvedEnvironment {
                    environment: file.environment,
                    bucketing: file.bucketing,
                    flags: file.flags,
                    segments: file.segments,
                }
            }
        };
        let validate = started.elapsed();
        let started = Instant::now();
        let snapshot = Snapshot::compile(&environment, &revision).map_err(|error| {
            reject(
                &revision,
                RejectReason::Compile(Arc::new(error)),
                Vec::new(),
            )
        })?;
        let compile = started.elapsed();
        let swap_started = Instant::now();
        let environment = Arc::new(environment);
        let served = Served::new(snapshot, environment.clone(), origin, self.sink.as_ref());
        Ok(Prepared {
            served,
            environment,
            fingerprint,
            timings: LoadTimings {
                read,
                validate,
                compile,
                swap: Duration::ZERO,
            },
            swap_started,
        })
    }
}

/// What the client's threads share.
pub(crate) struct Shared {
    /// The served state: the hot path loads it.
    pub(crate) current: ArcSwap<Served>,
    /// The source and what reloading needs; held while looking at the source.
    pub(crate) control: Mutex<Control>,
    pub(crate) status: Mutex<StatusCounters>,
    pub(crate) subscribers: Mutex<Vec<SyncSender<Event>>>,
    pub(crate) callbacks: Vec<Callback>,
    pub(crate) totals: Mutex<CountTotals>,
    pub(crate) sink: Option<Arc<ExposureSink>>,
    pub(crate) events_dropped: AtomicU64,
}

/// The source side, used by one thread at a time.
pub(crate) struct Control {
    pub(crate) source: SourceState,
    pub(crate) reloader: Reloader,
    /// The environment served, for telling which flags a change touches.
    pub(crate) served_environment: Arc<ResolvedEnvironment>,
    /// The last source error reported, so that a failure repeated on every
    /// poll is reported once.
    pub(crate) last_source_error: Option<String>,
}

/// What [`Status`] reports beyond the served state.
#[derive(Default)]
pub(crate) struct StatusCounters {
    pub(crate) load_timings: LoadTimings,
    pub(crate) latest_revision: Option<String>,
    pub(crate) last_error: Option<Problem>,
    pub(crate) reloads: u64,
    pub(crate) rejections: u64,
    pub(crate) source_errors: u64,
    pub(crate) checks: u64,
    /// Whether the last look at the source failed.
    pub(crate) failing: bool,
}

impl Shared {
    /// Looks at the source and applies or refuses what is new. `settle`
    /// defers a directory read during file-system events (the background
    /// thread's checks); [`super::Client::refresh`] takes what it reads.
    pub(crate) fn check(&self, settle: bool) -> Result<Refresh, Arc<SourceError>> {
        let mut events = Vec::new();
        let result = {
            let mut control = lock(&self.control);
            let checked = control.source.check(settle);
            {
                let mut status = lock(&self.status);
                status.checks += 1;
                status.failing = checked.is_err();
            }
            match checked {
                Ok(Checked::Unchanged | Checked::Unsettled) => {
                    control.last_source_error = None;
                    Ok(Refresh::Unchanged)
                }
                Ok(Checked::Candidate(candidate)) => {
                    control.last_source_error = None;
                    Ok(self.process(&mut control, candidate, &mut events))
                }
                Err(error) => {
                    let error = Arc::new(error);
                    let message = chain(&*error);
                    if control.last_source_error.as_deref() != Some(message.as_str()) {
                        let failure = SourceFailure {
                            error: error.clone(),
                            at: SystemTime::now(),
                        };
                        let mut status = lock(&self.status);
                        status.source_errors += 1;
                        status.last_error = Some(Problem::source(&failure));
                        events.push(Event::SourceError(failure));
                    }
                    control.last_source_error = Some(message);
                    Err(error)
                }
            }
        };
        self.dispatch(events);
        result
    }

    fn process(
        &self,
        control: &mut Control,
        candidate: Candidate,
        events: &mut Vec<Event>,
    ) -> Refresh {
        match control.reloader.prepare(candidate, Origin::Source) {
            Ok(prepared) => {
                let change = self.install(control, prepared);
                events.push(Event::Applied(change.clone()));
                Refresh::Applied(change)
            }
            Err(rejection) => {
                let mut status = lock(&self.status);
                status.latest_revision = Some(rejection.revision.clone());
                status.rejections += 1;
                status.last_error = Some(Problem::rejected(&rejection));
                events.push(Event::Rejected((*rejection).clone()));
                Refresh::Rejected(*rejection)
            }
        }
    }

    /// Swaps a prepared state in and says what changed.
    fn install(&self, control: &mut Control, prepared: Prepared) -> Change {
        let Prepared {
            served,
            environment,
            fingerprint,
            mut timings,
            swap_started,
        } = prepared;
        let revision = served.snapshot.revision().to_owned();
        let previous = self.current.swap(Arc::new(served));
        timings.swap = swap_started.elapsed();
        let applied_at = SystemTime::now();
        // Everything below happens while the new state already serves.
        let previous_revision = previous.snapshot.revision().to_owned();
        lock(&self.totals).retire(previous);
        let flags = changed_flags(&control.served_environment, &environment);
        control.served_environment = environment;
        control.source.mark_served(fingerprint);
        {
            let mut status = lock(&self.status);
            status.latest_revision = Some(revision.clone());
            status.reloads += 1;
            status.load_timings = timings;
        }
        Change {
            revision,
            previous_revision,
            flags,
            timings,
            applied_at,
        }
    }

    /// Reports events to the `tracing` facade, the callbacks and the
    /// subscribers, outside every lock.
    pub(crate) fn dispatch(&self, events: Vec<Event>) {
        for event in events {
            trace_event(&event);
            for callback in &self.callbacks {
                // A panicking callback must not stop the client from following.
                let call = std::panic::AssertUnwindSafe(|| callback(&event));
                if std::panic::catch_unwind(call).is_err() {
                    tracing::error!(target: "flagctl::watch", "an event callback panicked");
                }
            }
            let mut subscribers = lock(&self.subscribers);
            subscribers.retain(|subscriber| match subscriber.try_send(event.clone()) {
                Ok(()) => true,
                Err(TrySendError::Full(_)) => {
                    self.events_dropped.fetch_add(1, Ordering::Relaxed);
                    true
                }
                Err(TrySendError::Disconnected(_)) => false,
            });
        }
    }

    /// The status now.
    pub(crate) fn status(&self, environment: &str) -> Status {
        let current = self.current.load();
        let status = lock(&self.status);
        Status {
            revision: current.snapshot.revision().to_owned(),
            origin: current.origin,
            environment: environment.to_owned(),
            flag_count: current.snapshot.flag_count(),
            loaded_at: current.loaded_at,
            load_timings: status.load_timings,
            latest_revision: status.latest_revision.clone(),
            last_error: status.last_error.clone(),
            reloads: status.reloads,
            rejections: status.rejections,
            source_errors: status.source_errors,
            source_failing: status.failing,
            checks: status.checks,
            exposures_dropped: self.sink.as_ref().map_or(0, |sink| sink.dropped()),
            events_dropped: self.events_dropped.load(Ordering::Relaxed),
        }
    }
}

fn trace_event(event: &Event) {
    match event {
        Event::Applied(change) => tracing::info!(
            target: "flagctl::watch",
            revision = %change.revision,
            previous = %change.previous_revision,
            flags_changed = change.flags.len(),
            load_ms = change.timings.total().as_secs_f64() * 1e3,
            "serving a new revision"
        ),
        Event::Rejected(rejection) => tracing::warn!(
            target: "flagctl::watch",
            revision = %rejection.revision,
            error = %rejection,
            "refused a new revision; the previous one keeps serving"
        ),
        Event::SourceError(failure) => tracing::warn!(
            target: "flagctl::watch",
            error = %chain(&*failure.error),
            "cannot read the source; the current state keeps serving"
        ),
    }
}

/// The flags whose evaluation may differ between `old` and `new`, sorted by
/// key (see [`FlagChange`]).
pub(crate) fn changed_flags(
    old: &ResolvedEnvironment,
    new: &ResolvedEnvironment,
) -> Vec<FlagChange> {
    let everything = old.bucketing != new.bucketing;
    let segments = changed_segments(old, new);
    let mut changes = Vec::new();
    for (key, flag) in &new.flags {
        let kind = match old.flags.get(key) {
            None => ChangeKind::Added,
            Some(before)
                if everything
                    || !before.evaluates_like(flag)
                    || uses_any_segment(flag, &segments) =>
            {
                ChangeKind::Modified
            }
            Some(_) => continue,
        };
        changes.push(FlagChange {
            key: key.to_string(),
            kind,
        });
    }
    for key in old.flags.keys() {
        if !new.flags.contains_key(key) {
            changes.push(FlagChange {
                key: key.to_string(),
                kind: ChangeKind::Removed,
            });
        }
    }
    changes.sort_by(|a, b| a.key.cmp(&b.key));
    changes
}

/// The segments that changed, and those that use them (to a fixed point).
fn changed_segments<'e>(
    old: &'e ResolvedEnvironment,
    new: &'e ResolvedEnvironment,
) -> BTreeSet<&'e str> {
    let mut changed: BTreeSet<&str> = BTreeSet::new();
    for (name, segment) in &new.segments {
        if old.segments.get(name) != Some(segment) {
            changed.insert(name.as_str());
        }
    }
    for name in old.segments.keys() {
        if !new.segments.contains_key(name) {
            changed.insert(name.as_str());
        }
    }
    loop {
        let mut grew = false;
        for (name, segment) in &new.segments {
            if changed.contains(name.as_str()) {
                continue;
            }
            let mut uses = false;
            if let Some(condition) = &segment.when {
                condition.for_each_segment(&mut |used| uses |= changed.contains(used.as_str()));
            }
            if uses {
                changed.insert(name.as_str());
                grew = true;
            }
        }
        if !grew {
            return changed;
        }
    }
}

fn uses_any_segment(flag: &Flag, segments: &BTreeSet<&str>) -> bool {
    if segments.is_empty() {
        return false;
    }
    let mut uses = false;
    for rule in &flag.rules {
        rule.when
            .for_each_segment(&mut |used| uses |= segments.contains(used.as_str()));
    }
    uses
}

#[cfg(test)]
mod tests {
    use super::*;

    fn environment(flags: serde_json::Value, segments: serde_json::Value) -> ResolvedEnvironment {
        serde_json::from_value(serde_json::json!({
            "environment": "prod", "bucketing": "v1", "flags": flags, "segments": segments,
        }))
        .expect("environment")
    }

    #[test]
    fn changed_flags_ignore_metadata_and_follow_segments() {
        let staff = serde_json::json!({"staff": {"name": "staff", "include": ["ada"]},
            "insiders": {"name": "insiders", "when": {"segment": "staff"}}});
        let old = environment(
            serde_json::json!({
                "a": {"key": "a", "type": "boolean", "default": "on"},
                "b": {"key": "b", "type": "boolean", "default": "off", "description": "x"},
                "c": {"key": "c", "type": "boolean", "default": "off",
                      "rules": [{"when": {"segment": "insiders"}, "serve": "on"}]},
                "gone": {"key": "gone", "type": "boolean", "default": "off"},
            }),
            staff.clone(),
        );
        let mut new = old.clone();
        new.flags.remove("gone");
        let mut added = new.flags["a"].clone();
        added.key = crate::model::FlagKey::parse("new").expect("key");
        new.flags.insert(added.key.clone(), added);
        if let Some(b) = new.flags.get_mut("b") {
            b.description = Some("only words".into());
        }
        assert_eq!(
            changed_flags(&old, &new),
            [
                FlagChange {
                    key: "gone".into(),
                    kind: ChangeKind::Removed
                },
                FlagChange {
                    key: "new".into(),
                    kind: ChangeKind::Added
                },
            ]
        );
        // A segment used through another segment changes `c`.
        if let Some(segment) = new.segments.get_mut("staff") {
            segment.include.push("grace".into());
        }
        let keys: Vec<(String, ChangeKind)> = changed_flags(&old, &new)
            .into_iter()
            .map(|change| (change.key, change.kind))
            .collect();
        assert!(
            keys.contains(&("c".into(), ChangeKind::Modified)),
            "{keys:?}"
        );
        assert!(!keys.iter().any(|(key, _)| key == "a" || key == "b"));
    }
}
