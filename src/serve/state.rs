//! What the relay's handlers share: one entry per environment (its client,
//! its change broadcast, what it knows of the served revision), access,
//! limits, metrics, and the shutdown signal.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use tokio::sync::{Semaphore, broadcast, watch};

use super::RelayOptions;
use super::access::Access;
use super::metrics::Metrics;
use crate::format::snapshot::{SnapshotFile, SourceRevision};
use crate::model::Serve;
use crate::watch::{Client, Current, Event};

/// A change announced to the streams of one environment.
#[derive(Clone, Debug)]
pub(crate) struct Notice {
    /// Counts notices, for SSE `id`.
    pub(crate) id: u64,
    /// The revision applied.
    pub(crate) revision: String,
    /// When it was applied, in seconds since the epoch.
    pub(crate) applied_at: u64,
}

/// One environment served.
pub(crate) struct Environment {
    pub(crate) name: String,
    pub(crate) client: Arc<Client>,
    pub(crate) notices: broadcast::Sender<Notice>,
    revision: ArcSwap<RevisionInfo>,
    forwarder: Option<JoinHandle<()>>,
    /// A refresh is running (`1`), and another was asked for meanwhile
    /// (`2`): webhooks in a burst cost one look at the source, plus one.
    refresh: Arc<std::sync::atomic::AtomicU8>,
}

/// What the relay derives from one served revision, once.
pub(crate) struct RevisionInfo {
    pub(crate) revision: String,
    /// Per flag key: what OFREP metadata and reasons need.
    pub(crate) flags: HashMap<String, FlagInfo>,
    /// The built snapshot (`GET /v1/snapshot`), made on first request.
    snapshot: OnceLock<Arc<BuiltSnapshot>>,
}

/// What a response needs to know about one flag beyond its evaluation.
pub(crate) struct FlagInfo {
    pub(crate) owner: Option<String>,
    /// No targets, no rules, a fixed default, enabled: every context gets
    /// the same variant (OpenFeature's `STATIC`).
    pub(crate) fixed: bool,
}

/// A snapshot file as served: its JSON and digest.
pub(crate) struct BuiltSnapshot {
    pub(crate) body: axum::body::Bytes,
    pub(crate) digest: String,
}

pub(crate) struct State {
    pub(crate) environments: Vec<Environment>,
    pub(crate) access: Access,
    pub(crate) options: RelayOptions,
    pub(crate) metrics: Metrics,
    pub(crate) in_flight: Arc<Semaphore>,
    pub(crate) streams: Arc<Semaphore>,
    /// `true` once shutting down: streams end, new requests get 503.
    pub(crate) shutdown: watch::Sender<bool>,
    stop_forwarders: Arc<AtomicBool>,
}

impl State {
    pub(crate) fn new(clients: Vec<Client>, access: Access, options: RelayOptions) -> Arc<State> {
        let names: Vec<&str> = clients.iter().map(Client::environment).collect();
        assert_eq!(
            names,
            access
                .environments()
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
            "the access policy lists the environments of the clients, in order"
        );
        let stop_forwarders = Arc::new(AtomicBool::new(false));
        let counter = Arc::new(AtomicU64::new(0));
        let environments = clients
            .into_iter()
            .map(|client| {
                let client = Arc::new(client);
                let (notices, _) = broadcast::channel(16);
                let forwarder = forward(
                    client.clone(),
                    notices.clone(),
                    stop_forwarders.clone(),
                    counter.clone(),
                );
                let info = RevisionInfo::of(&client.current());
                Environment {
                    name: client.environment().to_owned(),
                    client,
                    notices,
                    revision: ArcSwap::from_pointee(info),
                    forwarder: Some(forwarder),
                    refresh: Arc::new(std::sync::atomic::AtomicU8::new(0)),
                }
            })
            .collect();
        let (shutdown, _) = watch::channel(false);
        Arc::new(State {
            environments,
            access,
            in_flight: Arc::new(Semaphore::new(options.max_in_flight)),
            streams: Arc::new(Semaphore::new(options.max_streams)),
            options,
            metrics: Metrics::new(),
            shutdown,
            stop_forwarders,
        })
    }

    pub(crate) fn environment_names(&self) -> Vec<&str> {
        self.environments
            .iter()
            .map(|environment| environment.name.as_str())
            .collect()
    }

    pub(crate) fn begin_shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    pub(crate) fn shutting_down(&self) -> bool {
        *self.shutdown.borrow()
    }
}

impl Drop for State {
    fn drop(&mut self) {
        self.stop_forwarders.store(true, Ordering::Relaxed);
        for environment in &mut self.environments {
            if let Some(forwarder) = environment.forwarder.take() {
                let _ = forwarder.join();
            }
        }
    }
}

impl Environment {
    /// What the relay knows of `current`'s revision, derived once per
    /// revision.
    pub(crate) fn revision_info(&self, current: &Current) -> Arc<RevisionInfo> {
        let known = self.revision.load_full();
        if known.revision == current.revision() {
            return known;
        }
        let info = Arc::new(RevisionInfo::of(current));
        self.revision.store(info.clone());
        info
    }
}

impl RevisionInfo {
    fn of(current: &Current) -> RevisionInfo {
        let flags = current
            .environment()
            .flags
            .iter()
            .map(|(key, flag)| {
                let fixed = flag.enabled
                    && flag.rules.is_empty()
                    && targets_empty(&flag.targets)
                    && matches!(flag.default, Serve::Variant(_));
                (
                    key.to_string(),
                    FlagInfo {
                        owner: flag.owner.clone(),
                        fixed,
                    },
                )
            })
            .collect();
        RevisionInfo {
            revision: current.revision().to_owned(),
            flags,
            snapshot: OnceLock::new(),
        }
    }

    /// The snapshot file of this revision, as `flagctl build` writes it.
    pub(crate) fn snapshot(&self, current: &Current) -> Arc<BuiltSnapshot> {
        self.snapshot
            .get_or_init(|| {
                let source = (current.revision().len() == 40
                    && current.revision().bytes().all(|b| b.is_ascii_hexdigit()))
                .then(|| SourceRevision {
                    commit: current.revision().to_owned(),
                    dirty: false,
                });
                let file = SnapshotFile::new(current.environment(), source);
                Arc::new(BuiltSnapshot {
                    digest: file.digest.clone(),
                    body: axum::body::Bytes::from(file.to_json_pretty()),
                })
            })
            .clone()
    }
}

fn targets_empty(targets: &indexmap::IndexMap<String, Vec<String>>) -> bool {
    targets.values().all(Vec::is_empty)
}

/// Forwards `client`'s applied changes to `notices` until `stop`.
fn forward(
    client: Arc<Client>,
    notices: broadcast::Sender<Notice>,
    stop: Arc<AtomicBool>,
    counter: Arc<AtomicU64>,
) -> JoinHandle<()> {
    let subscription = client.subscribe();
    std::thread::Builder::new()
        .name(format!("flagctl-relay-{}", client.environment()))
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let Some(event) = subscription.recv_timeout(Duration::from_millis(100)) else {
                    continue;
                };
                if let Event::Applied(change) = event {
                    let applied_at = change
                        .applied_at
                        .duration_since(SystemTime::UNIX_EPOCH)
                        .map_or(0, |since| since.as_secs());
                    // No receiver is fine: no stream is connected.
                    let _ = notices.send(Notice {
                        id: counter.fetch_add(1, Ordering::Relaxed) + 1,
                        revision: change.revision,
                        applied_at,
                    });
                }
            }
        })
        .expect("the relay can start a thread")
}

/// Looks at every environment's source, each on a thread of its own;
/// requests that arrive while one runs are folded into one more look.
pub(crate) fn refresh_all(state: &Arc<State>) {
    for environment in &state.environments {
        // 0 → 1: start; 1 → 2: ask the running one to look again; 2: asked already.
        let previous =
            environment
                .refresh
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |now| {
                    Some(if now == 0 { 1 } else { 2 })
                });
        if previous != Ok(0) {
            continue;
        }
        let client = environment.client.clone();
        let pending = environment.refresh.clone();
        let name = environment.name.clone();
        std::thread::spawn(move || {
            loop {
                if let Err(error) = client.refresh() {
                    tracing::warn!(
                        target: "flagctl::serve",
                        environment = %name,
                        error = %crate::watch::chain(&*error),
                        "refresh failed"
                    );
                }
                // 2 → 1: look again; 1 → 0: done.
                let before = pending.fetch_sub(1, Ordering::AcqRel);
                if before == 1 {
                    break;
                }
            }
        });
    }
}
