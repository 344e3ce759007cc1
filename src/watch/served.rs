//! The served state and the hot path: a compiled snapshot with its
//! evaluation counters, the guard applications evaluate through, evaluation
//! counts aggregated across swaps, and the exposure queue.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::time::{Duration, SystemTime};

use arc_swap::{ArcSwap, Guard};
use rustc_hash::{FxHashMap, FxHashSet};
use serde_json::Value;

use crate::eval::{Context, Evaluation, Reason, Resolution, Snapshot};
use crate::model::{ResolvedEnvironment, Rollout, Serve};

use super::events::Origin;

/// One served state: the snapshot, where it came from, and its counters.
pub(crate) struct Served {
    pub(crate) snapshot: Snapshot,
    /// The resolved flags the snapshot was compiled from (owners,
    /// descriptions, the built snapshot file), off the hot path.
    pub(crate) environment: Arc<ResolvedEnvironment>,
    pub(crate) origin: Origin,
    pub(crate) loaded_at: SystemTime,
    /// For each reason: one counter per variant slot, then one per flag
    /// (evaluations that served no variant), then one for unknown flags;
    /// entry `i`'s counter for reason `r` is at `i * Reason::COUNT + r`.
    counts: Box<[AtomicU64]>,
    exposures: Option<ExposureNames>,
}

/// What an exposure needs, shared rather than copied on the hot path.
struct ExposureNames {
    sink: Arc<ExposureSink>,
    revision: Arc<str>,
    /// `(flag key, variant name)` of each variant slot.
    slots: Box<[(Arc<str>, Arc<str>)]>,
    experiments: FxHashSet<Arc<str>>,
}

impl Served {
    /// A state for `snapshot`, compiled from `environment`.
    pub(crate) fn new(
        snapshot: Snapshot,
        environment: Arc<ResolvedEnvironment>,
        origin: Origin,
        sink: Option<&Arc<ExposureSink>>,
    ) -> Served {
        let slots = snapshot.variant_slot_count();
        let flags = snapshot.flag_count();
        let counts = (0..(slots + flags + 1) * Reason::COUNT)
            .map(|_| AtomicU64::new(0))
            .collect();
        let exposures = sink.map(|sink| exposure_names(&snapshot, &environment, sink));
        Served {
            snapshot,
            environment,
            origin,
            loaded_at: SystemTime::now(),
            counts,
            exposures,
        }
    }

    /// Counts an evaluation and records an exposure when it decided an
    /// experiment: a relaxed atomic add, and a non-blocking queue push for
    /// experiments only.
    #[inline]
    fn record(&self, evaluation: &Evaluation<'_>, context: &Context) {
        let slots = self.snapshot.variant_slot_count();
        let index = match (evaluation.variant_slot(), evaluation.flag_index()) {
            (Some(slot), _) => slot as usize,
            (None, Some(flag)) => slots + flag as usize,
            (None, None) => self.counts.len() / Reason::COUNT - 1,
        };
        let index = index * Reason::COUNT + evaluation.reason().index();
        if let Some(counter) = self.counts.get(index) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(names) = &self.exposures
            && evaluation.split().is_some()
        {
            expose(names, evaluation, context);
        }
    }

    /// Adds this state's counters to `totals`.
    fn add_counts_to(&self, totals: &mut CountMap) {
        let slots = self.snapshot.variant_slot_count();
        let entries = self.counts.len() / Reason::COUNT;
        for (index, counter) in self.counts.iter().enumerate() {
            let count = counter.load(Ordering::Relaxed);
            if count == 0 {
                continue;
            }
            let reason = Reason::ALL[index % Reason::COUNT];
            let index = index / Reason::COUNT;
            let key = if index < slots {
                let Some((flag, variant)) = u32::try_from(index)
                    .ok()
                    .and_then(|slot| self.snapshot.variant_slot(slot))
                else {
                    continue;
                };
                CountKey::Variant(flag.into(), variant.into(), reason)
            } else if index < entries - 1 {
                let Some(flag) = u32::try_from(index - slots)
                    .ok()
                    .and_then(|flag| self.snapshot.flag_key(flag))
                else {
                    continue;
                };
                CountKey::NoVariant(flag.into(), reason)
            } else {
                CountKey::NotFound
            };
            *totals.entry(key).or_insert(0) += count;
        }
    }
}

#[cold]
#[inline(never)]
fn expose(names: &ExposureNames, evaluation: &Evaluation<'_>, context: &Context) {
    let Some(experiment) = evaluation
        .experiment()
        .and_then(|name| names.experiments.get(name))
    else {
        return;
    };
    let Some((flag, variant)) = evaluation
        .variant_slot()
        .and_then(|slot| names.slots.get(slot as usize))
    else {
        return;
    };
    names.sink.push(Exposure {
        flag: flag.clone(),
        variant: variant.clone(),
        experiment: experiment.clone(),
        targeting_key: context.targeting_key().into(),
        revision: names.revision.clone(),
        time: SystemTime::now(),
    });
}

fn exposure_names(
    snapshot: &Snapshot,
    environment: &ResolvedEnvironment,
    sink: &Arc<ExposureSink>,
) -> ExposureNames {
    let mut keys: FxHashMap<&str, Arc<str>> = FxHashMap::default();
    let slots = (0..snapshot.variant_slot_count())
        .filter_map(|slot| snapshot.variant_slot(u32::try_from(slot).ok()?))
        .map(|(flag, variant)| {
            let flag = keys.entry(flag).or_insert_with(|| flag.into()).clone();
            (flag, Arc::from(variant))
        })
        .collect();
    let mut experiments = FxHashSet::default();
    for flag in environment.flags.values() {
        let serves = flag.rules.iter().map(|rule| &rule.serve);
        for serve in serves.chain([&flag.default]) {
            if let Serve::Rollout(Rollout {
                experiment: Some(name),
                ..
            }) = serve
                && !experiments.contains(name.as_str())
            {
                experiments.insert(Arc::<str>::from(name.as_str()));
            }
        }
    }
    ExposureNames {
        sink: sink.clone(),
        revision: snapshot.revision().into(),
        slots,
        experiments,
    }
}

/// The state being served, held for as long as the caller needs it.
///
/// Taking one ([`super::Client::current`]) costs an atomic load and never
/// blocks; evaluating through it is [`Snapshot::evaluate`] plus a relaxed
/// counter increment. Every evaluation made through one guard sees the same
/// revision, so hold one per request to evaluate all its flags consistently.
/// Hold it briefly: the state it guards stays in memory until it is dropped.
///
/// ```
/// use flagctl::eval::Context;
/// use flagctl::watch::{Client, Fallback};
///
/// # let dir = tempfile::tempdir()?;
/// # let missing = dir.path().join("nothing-here");
/// let client = Client::builder()
///     .environment("prod")
///     .directory(&missing)
///     .fallback(Fallback::CodeDefaults)
///     .build()?;
/// let flags = client.current();
/// let user = Context::new("user-42");
/// assert!(!flags.bool_value("new-checkout", &user, false));
/// assert_eq!(flags.revision(), "code-defaults");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Current {
    guard: Guard<Arc<Served>>,
}

impl Current {
    pub(crate) fn load(current: &ArcSwap<Served>) -> Current {
        Current {
            guard: current.load(),
        }
    }

    /// Evaluates flag `key` for `context` (see [`Snapshot::evaluate`]) and
    /// counts the evaluation.
    #[inline]
    pub fn evaluate<'s>(&'s self, key: &str, context: &Context) -> Evaluation<'s> {
        let evaluation = self.guard.snapshot.evaluate(key, context);
        self.guard.record(&evaluation, context);
        evaluation
    }

    /// The value of boolean flag `key`, or `default` (see
    /// [`Snapshot::bool_value`]).
    #[inline]
    pub fn bool_value(&self, key: &str, context: &Context, default: bool) -> bool {
        self.bool_evaluation(key, context, default).value
    }

    /// Like [`Current::bool_value`], with the evaluation.
    pub fn bool_evaluation(
        &self,
        key: &str,
        context: &Context,
        default: bool,
    ) -> Resolution<'_, bool> {
        let resolution = self.guard.snapshot.bool_evaluation(key, context, default);
        self.guard.record(&resolution.evaluation, context);
        resolution
    }

    /// The value of string flag `key`, or `default`.
    #[inline]
    pub fn string_value<'s>(&'s self, key: &str, context: &Context, default: &'s str) -> &'s str {
        self.string_evaluation(key, context, default).value
    }

    /// Like [`Current::string_value`], with the evaluation.
    pub fn string_evaluation<'s>(
        &'s self,
        key: &str,
        context: &Context,
        default: &'s str,
    ) -> Resolution<'s, &'s str> {
        let resolution = self.guard.snapshot.string_evaluation(key, context, default);
        self.guard.record(&resolution.evaluation, context);
        resolution
    }

    /// The value of number flag `key`, or `default`.
    #[inline]
    pub fn number_value(&self, key: &str, context: &Context, default: f64) -> f64 {
        self.number_evaluation(key, context, default).value
    }

    /// Like [`Current::number_value`], with the evaluation.
    pub fn number_evaluation(
        &self,
        key: &str,
        context: &Context,
        default: f64,
    ) -> Resolution<'_, f64> {
        let resolution = self.guard.snapshot.number_evaluation(key, context, default);
        self.guard.record(&resolution.evaluation, context);
        resolution
    }

    /// The value of flag `key` as JSON, or `default`.
    #[inline]
    pub fn json_value<'s>(&'s self, key: &str, context: &Context, default: &'s Value) -> &'s Value {
        self.json_evaluation(key, context, default).value
    }

    /// Like [`Current::json_value`], with the evaluation.
    pub fn json_evaluation<'s>(
        &'s self,
        key: &str,
        context: &Context,
        default: &'s Value,
    ) -> Resolution<'s, &'s Value> {
        let resolution = self.guard.snapshot.json_evaluation(key, context, default);
        self.guard.record(&resolution.evaluation, context);
        resolution
    }

    /// The compiled snapshot, for what [`Current`] does not wrap
    /// ([`Snapshot::explain`], [`Snapshot::evaluate_all`], listing flags).
    /// Evaluations made on it directly are not counted.
    pub fn snapshot(&self) -> &Snapshot {
        &self.guard.snapshot
    }

    /// The revision served.
    pub fn revision(&self) -> &str {
        self.guard.snapshot.revision()
    }

    /// Where the served state came from.
    pub fn origin(&self) -> Origin {
        self.guard.origin
    }

    /// When the served state started serving.
    pub fn loaded_at(&self) -> SystemTime {
        self.guard.loaded_at
    }

    /// The resolved flags and segments the served state was compiled from:
    /// owners, descriptions, experiments, and what `flagctl build` writes
    /// ([`crate::format::snapshot::SnapshotFile::new`]). Empty while code
    /// defaults are served.
    pub fn environment(&self) -> &ResolvedEnvironment {
        &self.guard.environment
    }
}

impl std::fmt::Debug for Current {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Current")
            .field("revision", &self.revision())
            .field("origin", &self.origin())
            .finish()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum CountKey {
    Variant(Box<str>, Box<str>, Reason),
    NoVariant(Box<str>, Reason),
    NotFound,
}

type CountMap = FxHashMap<CountKey, u64>;

/// Evaluation counts of past states, by flag and variant, and the states
/// that were swapped out while readers may still count into them.
#[derive(Default)]
pub(crate) struct CountTotals {
    folded: CountMap,
    retired: Vec<Arc<Served>>,
}

impl CountTotals {
    /// Keeps a swapped-out state until no reader holds it, then folds its
    /// counters in.
    pub(crate) fn retire(&mut self, served: Arc<Served>) {
        self.retired.push(served);
        self.fold_released();
    }

    /// Folds in the retired states that nobody holds any more: after an
    /// `ArcSwap` swap, every reader of the old state holds a real reference,
    /// so a count of one (ours) means no evaluation can still count into it.
    fn fold_released(&mut self) {
        let folded = &mut self.folded;
        self.retired.retain(|served| {
            if Arc::strong_count(served) == 1 {
                served.add_counts_to(folded);
                false
            } else {
                true
            }
        });
    }

    /// Every count so far, the current state's included.
    pub(crate) fn snapshot(&mut self, current: &Served) -> EvaluationCounts {
        self.fold_released();
        let mut all = self.folded.clone();
        for served in &self.retired {
            served.add_counts_to(&mut all);
        }
        current.add_counts_to(&mut all);
        let mut counts = EvaluationCounts::default();
        for (key, count) in all {
            match key {
                CountKey::Variant(flag, variant, reason) => {
                    let flag = counts.flags.entry(flag.into()).or_default();
                    *flag.variants.entry(variant.to_string()).or_insert(0) += count;
                    *flag
                        .by_reason
                        .entry((Some(variant.into()), reason))
                        .or_insert(0) += count;
                }
                CountKey::NoVariant(flag, reason) => {
                    let flag = counts.flags.entry(flag.into()).or_default();
                    flag.no_variant += count;
                    *flag.by_reason.entry((None, reason)).or_insert(0) += count;
                }
                CountKey::NotFound => counts.not_found += count,
            }
        }
        counts
    }
}

/// How many evaluations a client made, by flag and variant, since it
/// started, across every state it served (see
/// [`super::Client::evaluation_counts`]). Flags never evaluated are absent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EvaluationCounts {
    /// Per flag key.
    pub flags: BTreeMap<String, FlagCounts>,
    /// Evaluations of keys that no served state had.
    pub not_found: u64,
}

impl EvaluationCounts {
    /// How many times flag `flag` served variant `variant`.
    pub fn get(&self, flag: &str, variant: &str) -> u64 {
        self.flags
            .get(flag)
            .and_then(|counts| counts.variants.get(variant))
            .copied()
            .unwrap_or(0)
    }

    /// Every evaluation counted.
    pub fn total(&self) -> u64 {
        self.not_found + self.flags.values().map(FlagCounts::total).sum::<u64>()
    }
}

/// One flag's evaluation counts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FlagCounts {
    /// Per variant served.
    pub variants: BTreeMap<String, u64>,
    /// Evaluations that served no variant (the caller's default applied:
    /// disabled without `off_variant`, a failed rollout, a type mismatch).
    pub no_variant: u64,
    /// The same evaluations by variant served (`None`: no variant) and
    /// [`Reason`], for metrics that label both.
    pub by_reason: BTreeMap<(Option<String>, Reason), u64>,
}

impl FlagCounts {
    /// Every evaluation of the flag.
    pub fn total(&self) -> u64 {
        self.no_variant + self.variants.values().sum::<u64>()
    }
}

/// One evaluation that decided an experiment: which user saw which variant
/// of which flag, from which revision, when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exposure {
    /// The flag's key.
    pub flag: Arc<str>,
    /// The variant served.
    pub variant: Arc<str>,
    /// The experiment's name (the rollout's `experiment`).
    pub experiment: Arc<str>,
    /// The context's targeting key.
    pub targeting_key: Box<str>,
    /// The revision that evaluated.
    pub revision: Arc<str>,
    /// When.
    pub time: SystemTime,
}

/// The sending side of the exposure queue: bounded, never blocking.
pub(crate) struct ExposureSink {
    sender: SyncSender<Exposure>,
    dropped: AtomicU64,
}

impl ExposureSink {
    pub(crate) fn new(capacity: usize) -> (Arc<ExposureSink>, Exposures) {
        let (sender, receiver) = std::sync::mpsc::sync_channel(capacity.max(1));
        (
            Arc::new(ExposureSink {
                sender,
                dropped: AtomicU64::new(0),
            }),
            Exposures { receiver },
        )
    }

    fn push(&self, exposure: Exposure) {
        match self.sender.try_send(exposure) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// The receiving end of a client's exposure queue (see
/// [`super::ClientBuilder::exposures`]).
///
/// The queue is bounded: when the receiver falls behind, new exposures are
/// dropped (never blocking an evaluation) and counted in
/// [`super::Status::exposures_dropped`].
#[derive(Debug)]
pub struct Exposures {
    receiver: Receiver<Exposure>,
}

impl Exposures {
    /// The next exposure, waiting as long as it takes; `None` once the
    /// client is gone and the queue is empty. For a thread that ships
    /// exposures for the client's whole life.
    pub fn recv(&self) -> Option<Exposure> {
        self.receiver.recv().ok()
    }

    /// The next exposure, waiting at most `timeout`; `None` when none came.
    pub fn recv_timeout(&self, timeout: Duration) -> Option<Exposure> {
        self.receiver.recv_timeout(timeout).ok()
    }

    /// Every exposure queued now, without waiting.
    pub fn drain(&self) -> impl Iterator<Item = Exposure> + '_ {
        self.receiver.try_iter()
    }
}
