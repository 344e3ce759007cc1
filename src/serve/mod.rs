//! The relay: the flags of [`crate::watch::Client`]s served over HTTP to
//! services in any language (feature `serve`).
//!
//! A [`Relay`] is nothing but clients behind HTTP: one [`Client`] per
//! environment, each following its source and hot-reloading as usual, and
//! an [axum] router that evaluates on the state they serve now. It speaks
//! the OpenFeature Remote Evaluation Protocol (OFREP, `docs/relay.md` names
//! the spec commit): single and bulk evaluation with ETag/304, and the
//! Server-Sent Events change stream of ADR-0008 that tells connected
//! providers to re-fetch when a new revision is applied. Around it:
//! bearer tokens that each grant one environment ([`Access`]), `/healthz`,
//! `/readyz`, `/metrics` (Prometheus text, read from the clients' counters
//! at scrape time), `POST /admin/refresh` for forge push webhooks
//! ([`WebhookSecret`]), and `GET /v1/snapshot`, the built snapshot of the
//! token's environment for processes that follow a relay. Every response
//! names the revision it was computed from (`X-Flagctl-Revision`).
//!
//! This module owns HTTP, OFREP's JSON, the change stream and access: it
//! holds no flag logic (evaluation is [`crate::eval`]'s, reloading
//! [`crate::watch`]'s). It never prints, reads environment variables or
//! exits: the CLI (`flagctl serve`) configures it and reports; it logs
//! through `tracing` (target `flagctl::serve`) and never logs a token or a
//! stream URL.

mod access;
mod http;
mod metrics;
mod ofrep;
mod state;
mod stream;

use std::sync::Arc;
use std::time::Duration;

pub use access::{Access, AccessError, TokensError, WebhookSecret};
pub use http::{ServeError, TlsError, load_tls};

use crate::watch::Client;
use state::State;

/// Limits and timings of a [`Relay`]; the defaults suit most deployments.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RelayOptions {
    /// The largest request body read, in bytes (default 1 MiB); a larger
    /// one gets 413.
    pub body_limit: usize,
    /// How many requests are handled at once (default 512); past it,
    /// requests get 503 with `Retry-After`.
    pub max_in_flight: usize,
    /// How many change-stream clients may be connected (default 10,000);
    /// past it, new streams get 503 with `Retry-After`.
    pub max_streams: usize,
    /// How often an idle change stream gets a comment line, so that
    /// proxies keep it open (default 15 s).
    pub heartbeat: Duration,
    /// How long a client may take to send a request's headers or body
    /// (default 10 s); an idle keep-alive connection is closed after it too.
    pub request_timeout: Duration,
    /// How long shutting down waits for requests in flight (default 5 s).
    pub shutdown_grace: Duration,
    /// The secret of `POST /admin/refresh`; without one it answers 401.
    pub webhook: Option<WebhookSecret>,
}

impl Default for RelayOptions {
    fn default() -> Self {
        RelayOptions {
            body_limit: 1024 * 1024,
            max_in_flight: 512,
            max_streams: 10_000,
            heartbeat: Duration::from_secs(15),
            request_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(5),
            webhook: None,
        }
    }
}

/// The relay: clients behind HTTP; see the [module](self) documentation.
///
/// Build it from running clients and an [`Access`] policy, then
/// [`Relay::serve`] it on a listener from inside a tokio runtime.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use flagctl::serve::{Access, Relay, RelayOptions};
/// use flagctl::watch::Client;
///
/// let prod = Client::builder().environment("prod").git_head("flags").build()?;
/// let access = Access::anonymous(&["prod"], "prod")?;
/// let relay = Relay::new(vec![prod], access, RelayOptions::default());
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8016").await?;
/// relay.serve(listener, None, std::future::pending()).await?;
/// # Ok(())
/// # }
/// ```
pub struct Relay {
    state: Arc<State>,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("environments", &self.state.environment_names())
            .finish()
    }
}

impl Relay {
    /// A relay serving `clients`, one per environment, to whoever `access`
    /// lets in.
    ///
    /// Each client's changes are forwarded to the change streams by a
    /// thread of its own, which ends when the relay is dropped.
    ///
    /// # Panics
    ///
    /// When `access` names an environment no client serves, or two clients
    /// serve the same environment: [`Access`] is built from the same list.
    pub fn new(clients: Vec<Client>, access: Access, options: RelayOptions) -> Relay {
        Relay {
            state: State::new(clients, access, options),
        }
    }

    /// The router alone, for embedding the relay in another axum
    /// application or testing it without a socket. Change streams started
    /// from it end when [`Relay::shutdown`] is called.
    pub fn router(&self) -> axum::Router {
        http::router(self.state.clone())
    }

    /// Looks at every environment's source now (fetching a remote), in the
    /// background: what `POST /admin/refresh` and `SIGHUP` do.
    pub fn refresh_all(&self) {
        state::refresh_all(&self.state);
    }

    /// Ends every change stream and makes new requests get 503: the first
    /// step of a graceful shutdown, which [`Relay::serve`] takes itself.
    pub fn shutdown(&self) {
        self.state.begin_shutdown();
    }

    /// Serves HTTP (or HTTPS, with `tls`) on `listener` until `shutdown`
    /// completes; then stops accepting, ends the change streams, and waits
    /// up to [`RelayOptions::shutdown_grace`] for requests in flight.
    ///
    /// # Errors
    ///
    /// The listener failed in a way that is not about one connection.
    pub async fn serve(
        &self,
        listener: tokio::net::TcpListener,
        tls: Option<Arc<rustls::ServerConfig>>,
        shutdown: impl std::future::Future<Output = ()> + Send,
    ) -> Result<(), ServeError> {
        http::serve(self.state.clone(), listener, tls, shutdown).await
    }
}
