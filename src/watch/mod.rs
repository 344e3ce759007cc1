//! The runtime client: follows one source of flags for one environment,
//! rebuilds off the hot path, swaps atomically, keeps the last good state.
//!
//! A [`Client`] serves a compiled [`crate::eval::Snapshot`] behind an
//! [`arc_swap::ArcSwap`]: evaluating takes an atomic load, the engine's
//! evaluation, and a relaxed counter increment; readers never block and
//! never see a half-built state. A background thread follows the
//! [`Source`] (a git reference, a git remote, a working-tree directory, a
//! snapshot file or a relay): on a change it reads the new state, validates it fully
//! (what `flagctl build --env E` would accept), compiles it, and swaps it
//! in. A state that fails is never served: the last good one keeps serving,
//! and the failure is reported through [`Client::status`], [`Event`]s
//! ([`Client::subscribe`], [`ClientBuilder::on_event`]) and the `tracing`
//! facade (target `flagctl::watch`). The next good state is picked up as
//! usual.
//!
//! How changes are noticed:
//!
//! * **git reference**: the OS watcher on the reference files and
//!   `packed-refs`, plus a poll of the reference every 50 ms (a few
//!   microseconds each) in case events are missed;
//! * **remote**: `git fetch` into a bare cache repository every 30 s, and on
//!   [`Client::refresh`] (a webhook or a deploy hook);
//! * **directory**: the OS watcher, debounced (50 ms of quiet, 500 ms at
//!   most), which follows editors' atomic saves and Kubernetes ConfigMap
//!   symlink swaps, plus a full re-read every second;
//! * **snapshot file**: the OS watcher on its directory, debounced, plus a
//!   re-read every second;
//! * **relay** (feature `relay-client`): the relay's change stream, held
//!   open by a thread of its own and reconnected with backoff; each change
//!   it announces fetches the snapshot (`GET /v1/snapshot`, with
//!   `If-None-Match`), and so does a poll every 30 s and
//!   [`Client::refresh`].
//!
//! This module owns following, reloading, swapping and runtime
//! observability (evaluation counts, exposures). It never prints, never
//! reads environment variables, and never exits: it reports through return
//! values, events and `tracing`. Git is reached through [`crate::store`]
//! only. Dropping a [`Client`] stops and joins its threads.

mod apply;
mod builder;
mod error;
mod events;
#[cfg(feature = "relay-client")]
mod relay;
mod served;
mod source;
mod worker;

use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use builder::{CODE_DEFAULTS_REVISION, ClientBuilder, Fallback};
#[cfg(any(feature = "serve", feature = "cli"))]
pub(crate) use error::chain;
pub use error::{BuildError, SourceError, StartError};
pub use events::{
    Change, ChangeKind, Event, FlagChange, LoadTimings, Origin, Problem, ProblemKind, Refresh,
    RejectReason, Rejection, SourceFailure, Status,
};
#[cfg(feature = "relay-client")]
pub use relay::{RelayError, RelayToken};
pub use served::{Current, EvaluationCounts, Exposure, Exposures, FlagCounts};
pub use source::Source;

use crate::eval::{Context, Evaluation};
use apply::{Shared, lock};
use served::Served;
use worker::Worker;

/// Follows a source of flags and evaluates them; see the [module](self)
/// documentation.
///
/// `Client` is `Send + Sync`: share it (`Arc<Client>`, or a reference)
/// between request handlers. Dropping it stops its background thread.
pub struct Client {
    shared: Arc<Shared>,
    worker: Option<Worker>,
    environment: String,
    source: Source,
    exposures: Mutex<Option<Exposures>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("environment", &self.environment)
            .field("source", &self.source)
            .field("revision", &self.current().revision())
            .field("background", &self.worker.is_some())
            .finish()
    }
}

impl Client {
    /// Starts configuring a client: give it an environment and a source,
    /// then [`ClientBuilder::build`].
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use flagctl::eval::Context;
    /// use flagctl::store::{Author, ChangeRequest, Store};
    /// use flagctl::watch::Client;
    ///
    /// // A repository with a flag root in `flags/`, one commit.
    /// let dir = tempfile::tempdir()?;
    /// std::process::Command::new("git").args(["init", "-q", "-b", "main"]).arg(dir.path()).status()?;
    /// let root = dir.path().join("flags");
    /// std::fs::create_dir(&root)?;
    /// let store = Store::discover(&root)?;
    /// let commit = |files: &[(&str, &str)], message: &str| {
    ///     store.commit_change(&ChangeRequest {
    ///         files: files.iter().map(|(path, text)| (path.to_string(), Some(text.as_bytes().to_vec()))).collect(),
    ///         message: message.into(),
    ///         author: Some(Author::parse("Ada <ada@example.com>")?),
    ///         expected_head: None,
    ///     })
    /// };
    /// commit(&[
    ///     ("flagctl.yaml", "environments: [dev, prod]\n"),
    ///     ("base/recommendations-panel.yaml", "key: recommendations-panel\ntype: boolean\ndefault: on\n"),
    /// ], "add flags")?;
    ///
    /// // Follow the checked-out branch, serving prod.
    /// let client = Client::builder().environment("prod").git_head(&root).build()?;
    /// let user = Context::new("user-42");
    /// assert!(client.current().bool_value("recommendations-panel", &user, false));
    ///
    /// // What `flagctl disable recommendations-panel --env prod` commits.
    /// let disabled = commit(
    ///     &[("overlays/prod/recommendations-panel.yaml", "enabled: false\n")],
    ///     "disable recommendations-panel in prod",
    /// )?;
    /// // The background thread notices within milliseconds; `refresh` looks now.
    /// client.refresh()?;
    /// let flags = client.current();
    /// assert!(!flags.bool_value("recommendations-panel", &user, true));
    /// assert_eq!(flags.revision(), disabled.id.to_string());
    /// assert_eq!(client.status().reloads, 1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// The state served now, to evaluate through: an atomic load, never
    /// blocking. Hold it for one request so that all its evaluations see
    /// one revision; see [`Current`].
    #[inline]
    pub fn current(&self) -> Current {
        Current::load(&self.shared.current)
    }

    /// Evaluates flag `key` for `context` on the state served now and hands
    /// the evaluation (which borrows that state) to `read`.
    #[inline]
    pub fn evaluate_with<R>(
        &self,
        key: &str,
        context: &Context,
        read: impl FnOnce(&Evaluation<'_>) -> R,
    ) -> R {
        let current = self.current();
        let evaluation = current.evaluate(key, context);
        read(&evaluation)
    }

    /// The value of boolean flag `key` for `context`, or `default`.
    #[inline]
    pub fn bool_value(&self, key: &str, context: &Context, default: bool) -> bool {
        self.current().bool_value(key, context, default)
    }

    /// The value of number flag `key` for `context`, or `default`.
    #[inline]
    pub fn number_value(&self, key: &str, context: &Context, default: f64) -> f64 {
        self.current().number_value(key, context, default)
    }

    /// The value of string flag `key` for `context`, or `default`, copied
    /// out (an allocation; [`Current::string_value`] borrows instead).
    pub fn string_value(&self, key: &str, context: &Context, default: &str) -> String {
        self.current()
            .string_value(key, context, default)
            .to_owned()
    }

    /// The environment served.
    pub fn environment(&self) -> &str {
        &self.environment
    }

    /// The source followed.
    pub fn source(&self) -> &Source {
        &self.source
    }

    /// The revision served, where it came from, when it was loaded, the
    /// last error, and counts of reloads, refusals and source failures.
    pub fn status(&self) -> Status {
        self.shared.status(&self.environment)
    }

    /// A queue of every later [`Event`]. Events are dropped (and counted in
    /// [`Status::events_dropped`]) when 1024 are waiting.
    ///
    /// What happened while the client was being built (a refused state or
    /// a source failure before a fallback was served) is not in the queue:
    /// it reaches [`ClientBuilder::on_event`], `tracing` and
    /// [`Client::status`] (`last_error`).
    pub fn subscribe(&self) -> Subscription {
        let (sender, receiver) = std::sync::mpsc::sync_channel(1024);
        lock(&self.shared.subscribers).push(sender);
        Subscription { receiver }
    }

    /// Looks at the source now, on the calling thread (fetching first for
    /// a remote), and applies or refuses what is new before returning.
    ///
    /// For a webhook or a deploy hook, and for tests: without a background
    /// thread ([`ClientBuilder::background`]) it is the only way the client
    /// changes. A change the background thread applied first shows as
    /// [`Refresh::Unchanged`]; read [`Client::current`] for what is served.
    ///
    /// # Errors
    ///
    /// The source could not be read; the current state keeps serving.
    pub fn refresh(&self) -> Result<Refresh, Arc<SourceError>> {
        self.shared.check(false)
    }

    /// Evaluation counts by flag and variant since the client started,
    /// across every state it served: counts of a state swapped out are
    /// added once no reader holds it any more.
    pub fn evaluation_counts(&self) -> EvaluationCounts {
        let current: Arc<Served> = self.shared.current.load_full();
        lock(&self.shared.totals).snapshot(&current)
    }

    /// The receiving end of the exposure queue, once (see
    /// [`ClientBuilder::exposures`]); `None` when exposures are off or the
    /// receiver was taken.
    pub fn take_exposures(&self) -> Option<Exposures> {
        lock(&self.exposures).take()
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        if let Some(worker) = &mut self.worker {
            worker.stop();
        }
    }
}

/// A client's [`Event`]s, in order (see [`Client::subscribe`]).
#[derive(Debug)]
pub struct Subscription {
    receiver: Receiver<Event>,
}

impl Subscription {
    /// The next event, waiting at most `timeout`.
    pub fn recv_timeout(&self, timeout: Duration) -> Option<Event> {
        self.receiver.recv_timeout(timeout).ok()
    }

    /// The next event if one is waiting.
    pub fn try_recv(&self) -> Option<Event> {
        self.receiver.try_recv().ok()
    }

    /// Waits (at most `timeout` in all) for an event that `wanted` accepts,
    /// skipping the others.
    pub fn wait_for(
        &self,
        timeout: Duration,
        mut wanted: impl FnMut(&Event) -> bool,
    ) -> Option<Event> {
        let deadline = worker::later(std::time::Instant::now(), timeout);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let event = self.recv_timeout(left)?;
            if wanted(&event) {
                return Some(event);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Client>();
        assert_send_sync::<Current>();
    }
}
