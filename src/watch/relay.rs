//! Following a relay (`flagctl serve`) instead of a repository: the
//! snapshot of the token's environment from `GET /v1/snapshot` (ETag/304,
//! the digest checked like any snapshot file), and the relay's change
//! stream, held open by a thread of its own, to know when to fetch again.
//!
//! The stream's URL is learned once from a bulk evaluation
//! (`POST /ofrep/v1/evaluate/flags`, its `eventStreams`). Every
//! `refetchEvaluation` message wakes the client's background thread, which
//! fetches the snapshot. A stream that ends, fails or stays silent longer
//! than three heartbeats is reconnected with exponential backoff (100 ms
//! doubling to 10 s, jittered), and every reconnection fetches the snapshot
//! again, so nothing announced while disconnected is missed. While the
//! stream is down the failure is reported as a source error, the snapshot
//! is still fetched at the poll interval, and the last good state serves.
//!
//! This module owns the HTTP side of that source. It never reads
//! environment variables (no proxy from the environment) and never prints.

use std::io::BufRead;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::apply::lock;
use super::error::{SourceError, chain};
use super::source::{Candidate, Content};
use super::worker::Message;

/// The relay's snapshot endpoint, below the base URL.
const SNAPSHOT_PATH: &str = "/v1/snapshot";
/// The relay's bulk evaluation endpoint, which names the change stream.
const BULK_PATH: &str = "/ofrep/v1/evaluate/flags";
/// The largest snapshot accepted.
const SNAPSHOT_LIMIT: u64 = 64 * 1024 * 1024;
/// The largest bulk evaluation answer accepted.
const BULK_LIMIT: u64 = 16 * 1024 * 1024;
/// The longest line accepted on the change stream.
const LINE_LIMIT: usize = 1024 * 1024;
/// Connecting and each request (but the stream) give up after this long.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// A stream silent this long is taken as dead: the relay sends a heartbeat
/// every 15 s.
const STREAM_SILENCE: Duration = Duration::from_secs(45);
/// Reconnection delays: the first, and the cap.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(10);
/// A connection that lasted this long resets the backoff even if nothing
/// arrived on it.
const HEALTHY_AFTER: Duration = Duration::from_secs(10);

/// A relay token: sent as `Authorization: Bearer TOKEN`, never shown by
/// `Debug` (a [`super::Source`] is logged and printed).
#[derive(Clone, PartialEq, Eq)]
pub struct RelayToken(String);

impl RelayToken {
    /// A token, as issued by the relay's operator (surrounding whitespace,
    /// such as a token file's final newline, is removed).
    pub fn new(token: impl Into<String>) -> RelayToken {
        let token: String = token.into();
        RelayToken(token.trim().to_owned())
    }

    /// The token itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for RelayToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RelayToken(<redacted>)")
    }
}

/// What went wrong following a relay (the cause of a
/// [`SourceError::Relay`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RelayError {
    /// The relay's URL is not an `http://` or `https://` URL.
    #[error("`{url}` is not an http:// or https:// URL")]
    InvalidUrl {
        /// The URL given.
        url: String,
    },
    /// The request could not be made or its answer not read: the relay is
    /// unreachable, the connection broke, a timeout.
    #[error("`{request}` failed")]
    Transport {
        /// The request (``GET /v1/snapshot``).
        request: String,
        /// What the HTTP client reported.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The relay refused the credentials (401 or 403): no token, or one it
    /// does not know.
    #[error("`{request}` was refused ({status}): {details}")]
    Refused {
        /// The request.
        request: String,
        /// The HTTP status.
        status: u16,
        /// What the relay said.
        details: String,
    },
    /// The relay answered with another unexpected status (a relay that has
    /// not loaded a valid state yet answers 503).
    #[error("`{request}` answered {status}: {details}")]
    Status {
        /// The request.
        request: String,
        /// The HTTP status.
        status: u16,
        /// What the relay said.
        details: String,
    },
    /// The answer is not what a flagctl relay sends.
    #[error("`{request}`: {details}")]
    Protocol {
        /// The request.
        request: String,
        /// What is wrong with the answer.
        details: String,
    },
    /// The relay closed the change stream.
    #[error("the change stream ended")]
    StreamEnded,
    /// Nothing, not even a heartbeat, arrived on the change stream for
    /// `silence`.
    #[error("the change stream was silent for {} s", silence.as_secs())]
    StreamSilent {
        /// How long it was silent.
        silence: Duration,
    },
}

/// The relay side of a client: fetching snapshots, and the change stream
/// once the background thread follows.
pub(crate) struct RelaySource {
    /// The base URL, without a trailing `/`.
    base: String,
    token: Option<RelayToken>,
    agent: ureq::Agent,
    /// The ETag and `X-Flagctl-Revision` of the last snapshot fetched.
    etag: Option<String>,
    revision: Option<String>,
    stream: Option<Stream>,
}

/// What one snapshot request brought.
enum Fetched {
    Snapshot(Candidate),
    /// 304, with the revision the relay serves.
    NotModified(Option<String>),
}

impl RelaySource {
    pub(crate) fn new(url: &str, token: Option<&RelayToken>) -> RelaySource {
        RelaySource {
            base: url.trim_end_matches('/').to_owned(),
            token: token.cloned(),
            agent: agent(Some(REQUEST_TIMEOUT), None),
            etag: None,
            revision: None,
            stream: None,
        }
    }

    /// Fetches the snapshot. A look by the background thread (`background`)
    /// also reports a change stream that is down, unless the fetch brought
    /// a new state.
    pub(crate) fn look(&mut self, background: bool) -> Result<Option<Candidate>, SourceError> {
        let fetched = self.read();
        let stream_failure = if background {
            self.stream.as_ref().and_then(Stream::failure)
        } else {
            None
        };
        match (fetched, stream_failure) {
            (Ok(Some(candidate)), _) => Ok(Some(candidate)),
            (fetched, Some(failure)) => {
                drop(fetched);
                Err(self.error(failure))
            }
            (Ok(None), None) => Ok(None),
            (Err(error), None) => Err(self.error(Arc::new(error))),
        }
    }

    /// Starts following the change stream; `wake` asks the background
    /// thread to look at the source.
    pub(crate) fn follow(&mut self, wake: Sender<Message>) {
        if self.stream.is_some() || !valid_url(&self.base) {
            return;
        }
        let endpoint = Endpoint {
            base: self.base.clone(),
            token: self.token.clone(),
        };
        match Stream::spawn(endpoint, wake) {
            Ok(stream) => self.stream = Some(stream),
            Err(error) => tracing::warn!(
                target: "flagctl::watch",
                error = %error,
                "cannot start the relay's change stream thread; polling only"
            ),
        }
    }

    fn error(&self, source: Arc<RelayError>) -> SourceError {
        SourceError::Relay {
            url: self.base.clone(),
            source,
        }
    }

    fn read(&mut self) -> Result<Option<Candidate>, RelayError> {
        match self.fetch(true)? {
            Fetched::Snapshot(candidate) => Ok(Some(candidate)),
            // The ETag is the content's digest: a new commit that changed
            // nothing in this environment keeps it, but moves the revision.
            Fetched::NotModified(revision) if revision.is_some() && revision != self.revision => {
                match self.fetch(false)? {
                    Fetched::Snapshot(candidate) => Ok(Some(candidate)),
                    Fetched::NotModified(_) => Ok(None),
                }
            }
            Fetched::NotModified(_) => Ok(None),
        }
    }

    fn fetch(&mut self, conditional: bool) -> Result<Fetched, RelayError> {
        if !valid_url(&self.base) {
            return Err(RelayError::InvalidUrl {
                url: self.base.clone(),
            });
        }
        let started = Instant::now();
        let request_name = format!("GET {SNAPSHOT_PATH}");
        let announced = self
            .stream
            .as_ref()
            .and_then(|stream| lock(&stream.state.announced).take());
        let mut request = self
            .agent
            .get(format!("{}{SNAPSHOT_PATH}", self.base))
            .header("Accept", "application/json");
        if let Some(etag) = &announced {
            request = request.query("flagConfigEtag", etag);
        }
        if let Some(token) = &self.token {
            request = request.header("Authorization", format!("Bearer {}", token.expose()));
        }
        if conditional && let Some(etag) = &self.etag {
            request = request.header("If-None-Match", etag.as_str());
        }
        let mut response = request
            .call()
            .map_err(|error| transport(&request_name, error))?;
        let revision = header(&response, "x-flagctl-revision");
        match response.status().as_u16() {
            200 => {}
            304 => return Ok(Fetched::NotModified(revision)),
            status => return Err(refusal(&request_name, status, &mut response)),
        }
        let bytes = response
            .body_mut()
            .with_config()
            .limit(SNAPSHOT_LIMIT)
            .read_to_vec()
            .map_err(|error| transport(&request_name, error))?;
        self.etag = header(&response, "etag");
        self.revision.clone_from(&revision);
        let fingerprint = format!("relay:{}", short_hex(&Sha256::digest(&bytes)));
        // Until the snapshot parses (its source commit, or its digest), the
        // relay's word names the state.
        Ok(Fetched::Snapshot(Candidate {
            revision: revision.unwrap_or_else(|| fingerprint.clone()),
            fingerprint,
            content: Content::Snapshot(bytes),
            read: started.elapsed(),
        }))
    }
}

/// Where the relay is and who asks.
#[derive(Clone)]
struct Endpoint {
    base: String,
    token: Option<RelayToken>,
}

impl Endpoint {
    /// `scheme://authority` of the base URL.
    fn origin(&self) -> &str {
        let after_scheme = self.base.find("://").map_or(0, |at| at + 3);
        match self.base[after_scheme..].find('/') {
            Some(slash) => &self.base[..after_scheme + slash],
            None => &self.base,
        }
    }

    /// The change stream's URL, from one bulk evaluation's `eventStreams`.
    fn learn_stream(&self, agent: &ureq::Agent) -> Result<String, RelayError> {
        let request_name = format!("POST {BULK_PATH}");
        let mut request = agent
            .post(format!("{}{BULK_PATH}", self.base))
            .header("Content-Type", "application/json")
            .header("Accept", "application/json");
        if let Some(token) = &self.token {
            request = request.header("Authorization", format!("Bearer {}", token.expose()));
        }
        let mut response = request
            .send(&br#"{"context":{}}"#[..])
            .map_err(|error| transport(&request_name, error))?;
        let status = response.status().as_u16();
        if status != 200 {
            return Err(refusal(&request_name, status, &mut response));
        }
        let bytes = response
            .body_mut()
            .with_config()
            .limit(BULK_LIMIT)
            .read_to_vec()
            .map_err(|error| transport(&request_name, error))?;
        let protocol = |details: &str| RelayError::Protocol {
            request: request_name.clone(),
            details: details.to_owned(),
        };
        let body: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|_| protocol("the answer is not JSON"))?;
        stream_url(&body, self.origin()).ok_or_else(|| {
            protocol("the answer names no change stream (`eventStreams` with type `sse`)")
        })
    }
}

/// The URL of the first SSE stream in a bulk evaluation's `eventStreams`:
/// the endpoint's `origin` (default: the relay's) followed by its
/// `requestUri`, or `requestUri` itself when it is absolute.
fn stream_url(body: &serde_json::Value, default_origin: &str) -> Option<String> {
    let streams = body.get("eventStreams")?.as_array()?;
    let stream = streams
        .iter()
        .find(|stream| stream.get("type").and_then(|kind| kind.as_str()) == Some("sse"))?;
    let endpoint = stream.get("endpoint")?;
    let uri = endpoint.get("requestUri")?.as_str()?;
    if valid_url(uri) {
        return Some(uri.to_owned());
    }
    if !uri.starts_with('/') {
        return None;
    }
    let origin = endpoint
        .get("origin")
        .and_then(|origin| origin.as_str())
        .filter(|origin| valid_url(origin))
        .unwrap_or(default_origin);
    Some(format!("{}{uri}", origin.trim_end_matches('/')))
}

fn valid_url(url: &str) -> bool {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    (lower.starts_with("http://") && url.len() > 7)
        || (lower.starts_with("https://") && url.len() > 8)
}

/// An HTTP client for the relay: no proxy from the environment, statuses
/// read as answers, bounded waits.
fn agent(timeout: Option<Duration>, per_read: Option<Duration>) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .proxy(None)
        .timeout_connect(Some(CONNECT_TIMEOUT))
        .timeout_global(timeout)
        .timeout_per_read(per_read)
        .user_agent(concat!("flagctl/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

fn header(response: &ureq::http::Response<ureq::Body>, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

fn transport(request: &str, error: ureq::Error) -> RelayError {
    RelayError::Transport {
        request: request.to_owned(),
        source: Box::new(error),
    }
}

/// The error for an unexpected status, with what the relay said (an
/// OFREP `errorDetails`, else the start of the body).
fn refusal(
    request: &str,
    status: u16,
    response: &mut ureq::http::Response<ureq::Body>,
) -> RelayError {
    let body = response
        .body_mut()
        .with_config()
        .limit(64 * 1024)
        .read_to_vec()
        .unwrap_or_default();
    let details = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|value| value.get("errorDetails")?.as_str().map(str::to_owned))
        .unwrap_or_else(|| {
            let text = String::from_utf8_lossy(&body);
            let text = text.trim();
            match text.char_indices().nth(200) {
                Some((end, _)) => format!("{}…", &text[..end]),
                None if text.is_empty() => "no details".to_owned(),
                None => text.to_owned(),
            }
        });
    let request = request.to_owned();
    match status {
        401 | 403 => RelayError::Refused {
            request,
            status,
            details,
        },
        _ => RelayError::Status {
            request,
            status,
            details,
        },
    }
}

/// The first 12 hex digits of a digest.
fn short_hex(digest: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(12);
    for byte in digest.iter().take(6) {
        let _ = write!(out, "{byte:02x}");
    }
    out
}

/// The change stream's thread and what it shares.
struct Stream {
    state: Arc<StreamState>,
    /// Dropped to wake the thread from a backoff wait.
    stop: Option<Sender<()>>,
    /// Shut down to interrupt the thread's blocking read.
    agent: ureq::Agent,
    handle: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct StreamState {
    /// Why the stream is down, while it is.
    failure: Mutex<Option<Arc<RelayError>>>,
    /// The `etag` of the last `refetchEvaluation` (the revision announced),
    /// sent with the next snapshot request as `flagConfigEtag` so that a
    /// replica behind the one that announced it catches up first.
    announced: Mutex<Option<String>>,
    stopping: AtomicBool,
}

impl Stream {
    fn spawn(endpoint: Endpoint, wake: Sender<Message>) -> std::io::Result<Stream> {
        let state = Arc::new(StreamState::default());
        let (stop, stopped) = mpsc::channel();
        let agent = agent(None, Some(STREAM_SILENCE));
        let follower = Follower {
            endpoint,
            agent: agent.clone(),
            wake,
            state: state.clone(),
            stopped,
            channel: None,
        };
        let handle = std::thread::Builder::new()
            .name("flagctl-stream".to_owned())
            .spawn(move || follower.run())?;
        Ok(Stream {
            state,
            stop: Some(stop),
            agent,
            handle: Some(handle),
        })
    }

    fn failure(&self) -> Option<Arc<RelayError>> {
        lock(&self.state.failure).clone()
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.state.stopping.store(true, Ordering::SeqCst);
        self.stop = None;
        // Interrupts a read blocked on the socket; later requests fail.
        self.agent.clone().shutdown();
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

/// The stream thread.
struct Follower {
    endpoint: Endpoint,
    agent: ureq::Agent,
    wake: Sender<Message>,
    state: Arc<StreamState>,
    stopped: Receiver<()>,
    /// The stream's URL, once learned.
    channel: Option<String>,
}

impl Follower {
    fn run(mut self) {
        let mut backoff = Backoff::new(BACKOFF_MIN, BACKOFF_MAX);
        loop {
            if self.stopping() {
                return;
            }
            let started = Instant::now();
            let mut heard = false;
            let error = self.connect_and_read(&mut heard);
            if self.stopping() {
                return;
            }
            if heard || started.elapsed() >= HEALTHY_AFTER {
                backoff.reset();
            }
            self.failed(error);
            match self.stopped.recv_timeout(backoff.next(random())) {
                Err(RecvTimeoutError::Timeout) => {}
                Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }

    fn stopping(&self) -> bool {
        self.state.stopping.load(Ordering::SeqCst)
    }

    /// Records why the stream is down and, when that is news, wakes the
    /// background thread to report it.
    fn failed(&self, error: RelayError) {
        let mut failure = lock(&self.state.failure);
        let news = failure
            .as_ref()
            .is_none_or(|known| chain(&**known) != chain(&error));
        if news {
            *failure = Some(Arc::new(error));
            drop(failure);
            let _ = self.wake.send(Message::Changed);
        }
    }

    /// Connects and reads until the stream ends; returns why it ended.
    /// `heard` is set once anything arrived.
    fn connect_and_read(&mut self, heard: &mut bool) -> RelayError {
        let url = match &self.channel {
            Some(url) => url.clone(),
            None => match self.endpoint.learn_stream(&self.agent) {
                Ok(url) => {
                    self.channel = Some(url.clone());
                    url
                }
                Err(error) => return error,
            },
        };
        let request_name = format!("GET {}", stream_path(&url));
        let response = self
            .agent
            .get(&url)
            .header("Accept", "text/event-stream")
            .header("Cache-Control", "no-cache")
            .call();
        let mut response = match response {
            Ok(response) => response,
            Err(error) => return transport(&request_name, error),
        };
        let status = response.status().as_u16();
        if status != 200 {
            if status == 404 {
                // Another relay, or its channels changed: learn the URL again.
                self.channel = None;
            }
            return refusal(&request_name, status, &mut response);
        }
        let content_type = header(&response, "content-type").unwrap_or_default();
        if !content_type.starts_with("text/event-stream") {
            self.channel = None;
            return RelayError::Protocol {
                request: request_name,
                details: format!("expected `text/event-stream`, got `{content_type}`"),
            };
        }
        // Connected: whatever was announced while disconnected is fetched now.
        *lock(&self.state.failure) = None;
        let _ = self.wake.send(Message::Changed);

        let mut reader = std::io::BufReader::new(response.into_body().into_reader());
        let mut parser = SseParser::default();
        let mut line = Vec::new();
        loop {
            line.clear();
            match read_line(&mut reader, &mut line, LINE_LIMIT) {
                Ok(0) => return RelayError::StreamEnded,
                Ok(_) => {}
                Err(error) => return stream_error(&request_name, error),
            }
            *heard = true;
            let text = String::from_utf8_lossy(&line);
            let text = text.trim_end_matches(['\n', '\r']);
            if let Some(event) = parser.line(text)
                && event.is_refetch()
            {
                if let Some(etag) = event.etag() {
                    *lock(&self.state.announced) = Some(etag);
                }
                let _ = self.wake.send(Message::Changed);
            }
        }
    }
}

/// The path of a stream URL for messages, its last segment (the channel,
/// derived from the token, which the relay never logs either) elided.
fn stream_path(url: &str) -> String {
    let after_scheme = url.find("://").map_or(0, |at| at + 3);
    let path = url[after_scheme..]
        .find('/')
        .map_or("/", |slash| &url[after_scheme + slash..]);
    match path.rsplit_once('/') {
        Some((directory, channel)) if !channel.is_empty() => format!("{directory}/…"),
        _ => path.to_owned(),
    }
}

/// Why reading the stream failed: silence (a read timeout), the relay
/// going away, or another transport failure.
fn stream_error(request: &str, error: std::io::Error) -> RelayError {
    use std::io::ErrorKind;
    match error.kind() {
        ErrorKind::TimedOut | ErrorKind::WouldBlock => {
            return RelayError::StreamSilent {
                silence: STREAM_SILENCE,
            };
        }
        ErrorKind::UnexpectedEof => return RelayError::StreamEnded,
        _ => {}
    }
    match ureq::Error::from(error) {
        ureq::Error::Timeout(_) => RelayError::StreamSilent {
            silence: STREAM_SILENCE,
        },
        error => transport(request, error),
    }
}

/// Reads one line (up to and including `\n`) into `line`, refusing lines
/// longer than `limit`.
fn read_line(
    reader: &mut impl BufRead,
    line: &mut Vec<u8>,
    limit: usize,
) -> std::io::Result<usize> {
    use std::io::Read as _;
    let read = reader
        .by_ref()
        .take(limit as u64 + 1)
        .read_until(b'\n', line)?;
    if line.len() > limit {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("a change-stream line is longer than {limit} bytes"),
        ));
    }
    Ok(read)
}

/// One server-sent event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SseEvent {
    /// The event type (`message` unless named).
    pub(crate) event: String,
    /// The data lines, joined by `\n`.
    pub(crate) data: String,
}

impl SseEvent {
    /// Whether the event asks providers to fetch again: an OFREP
    /// `{"type": "refetchEvaluation"}` message.
    /// The `etag` of a `refetchEvaluation` message, if it has one.
    pub(crate) fn etag(&self) -> Option<String> {
        let value = serde_json::from_str::<serde_json::Value>(&self.data).ok()?;
        value.get("etag")?.as_str().map(str::to_owned)
    }

    pub(crate) fn is_refetch(&self) -> bool {
        self.event == "message"
            && serde_json::from_str::<serde_json::Value>(&self.data)
                .ok()
                .and_then(|value| {
                    value
                        .get("type")
                        .and_then(|kind| kind.as_str())
                        .map(|kind| kind == "refetchEvaluation")
                })
                .unwrap_or(false)
    }
}

/// Server-sent events from lines (without their line ends), as the HTML
/// standard reads them: `field: value` lines, comments (`:`), an event
/// dispatched at a blank line when it has data.
#[derive(Debug, Default)]
pub(crate) struct SseParser {
    event: Option<String>,
    data: Option<String>,
}

impl SseParser {
    /// Takes one line; returns the event it completes, if any.
    pub(crate) fn line(&mut self, line: &str) -> Option<SseEvent> {
        if line.is_empty() {
            let event = self.event.take();
            let data = self.data.take()?;
            return Some(SseEvent {
                event: event
                    .filter(|event| !event.is_empty())
                    .unwrap_or_else(|| "message".to_owned()),
                data,
            });
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "event" => self.event = Some(value.to_owned()),
            "data" => match &mut self.data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => self.data = Some(value.to_owned()),
            },
            // `id`, `retry` and unknown fields: nothing to do here (every
            // reconnection fetches the snapshot anyway).
            _ => {}
        }
        None
    }
}

/// Exponential backoff with jitter: each delay is drawn from the upper
/// half of a base that doubles from `min` to `max`.
#[derive(Debug)]
pub(crate) struct Backoff {
    min: Duration,
    max: Duration,
    base: Duration,
}

impl Backoff {
    pub(crate) fn new(min: Duration, max: Duration) -> Backoff {
        Backoff {
            min,
            max,
            base: min,
        }
    }

    /// The next delay, jittered by `random`, and doubles the base.
    pub(crate) fn next(&mut self, random: u64) -> Duration {
        let base = self.base;
        self.base = (self.base * 2).min(self.max);
        let half = base / 2;
        let spread = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
        half + Duration::from_nanos(random % spread.saturating_add(1))
    }

    /// Back to the first delay (after a healthy connection).
    pub(crate) fn reset(&mut self) {
        self.base = self.min;
    }
}

/// A random number for jitter, from the standard library's randomly keyed
/// hasher and the time.
fn random() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.as_nanos()),
    );
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Vec<SseEvent> {
        let mut parser = SseParser::default();
        // `lines` ends lines at `\n` and `\r\n`, as the stream reader does.
        text.lines().filter_map(|line| parser.line(line)).collect()
    }

    #[test]
    fn the_relays_messages_and_heartbeats_parse() {
        let text = ": heartbeat\n\nid: 1\nevent: message\ndata: {\"type\":\"refetchEvaluation\",\"etag\":\"\\\"abc\\\"\",\"lastModified\":1}\n\n: heartbeat\n\n";
        let events = parse(text);
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0].event, "message");
        assert!(events[0].is_refetch());
        assert_eq!(events[0].etag().as_deref(), Some("\"abc\""));
    }

    #[test]
    fn sse_fields_follow_the_standard() {
        // Several data lines join with `\n`; one leading space is removed;
        // a line without a colon is a field with an empty value; CRLF ends.
        let events = parse("data:a\r\ndata:  b\r\ndata\r\n\r\n");
        assert_eq!(
            events,
            [SseEvent {
                event: "message".into(),
                data: "a\n b\n".into()
            }]
        );
        // No data: nothing is dispatched, and the event name does not leak
        // into the next event.
        let events = parse("event: ping\n\ndata: x\n\n");
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].event, "message");
        // Named events other than `message`, other message types, and data
        // that is not JSON do not ask for a refetch.
        for text in [
            "event: other\ndata: {\"type\":\"refetchEvaluation\"}\n\n",
            "data: {\"type\":\"somethingElse\"}\n\n",
            "data: refetchEvaluation\n\n",
        ] {
            let events = parse(text);
            assert_eq!(events.len(), 1, "{text}");
            assert!(!events[0].is_refetch(), "{text}");
        }
        // An event without `event:` is a message.
        assert!(parse("data: {\"type\":\"refetchEvaluation\"}\n\n")[0].is_refetch());
        // An unterminated event is not dispatched.
        assert!(parse("data: {\"type\":\"refetchEvaluation\"}\n").is_empty());
    }

    #[test]
    fn long_lines_are_refused() {
        let mut reader = std::io::Cursor::new(b"short\nmuch too long\n".to_vec());
        let mut line = Vec::new();
        assert_eq!(read_line(&mut reader, &mut line, 8).expect("fits"), 6);
        line.clear();
        let error = read_line(&mut reader, &mut line, 8).expect_err("too long");
        assert_eq!(error.kind(), std::io::ErrorKind::InvalidData);
    }

    #[test]
    fn backoff_doubles_to_its_cap_with_jitter_in_the_upper_half() {
        let mut backoff = Backoff::new(BACKOFF_MIN, BACKOFF_MAX);
        let bases: Vec<Duration> = (0..10)
            .map(|_| {
                let base = backoff.base;
                let low = backoff.base / 2;
                // The lowest draw is half the base, the highest the base.
                let mut copy = Backoff::new(base, BACKOFF_MAX);
                assert_eq!(copy.next(0), low);
                let mut copy = Backoff::new(base, BACKOFF_MAX);
                assert_eq!(
                    copy.next(u64::try_from(low.as_nanos()).expect("small")),
                    base
                );
                let delay = backoff.next(random());
                assert!(delay >= low && delay <= base, "{delay:?} of {base:?}");
                base
            })
            .collect();
        let millis: Vec<u128> = bases.iter().map(Duration::as_millis).collect();
        assert_eq!(
            millis,
            [100, 200, 400, 800, 1600, 3200, 6400, 10_000, 10_000, 10_000]
        );
        backoff.reset();
        assert!(backoff.next(random()) <= BACKOFF_MIN);
    }

    #[test]
    fn the_stream_url_comes_from_event_streams() {
        let body = serde_json::json!({"flags": [], "eventStreams": [
            {"type": "polling"},
            {"type": "sse", "endpoint": {"requestUri": "/ofrep/v1/events/abc"}}]});
        assert_eq!(
            stream_url(&body, "http://127.0.0.1:8016").as_deref(),
            Some("http://127.0.0.1:8016/ofrep/v1/events/abc")
        );
        let body = serde_json::json!({"eventStreams": [{"type": "sse", "endpoint":
            {"origin": "https://stream.example.com/", "requestUri": "/events/x"}}]});
        assert_eq!(
            stream_url(&body, "http://relay").as_deref(),
            Some("https://stream.example.com/events/x")
        );
        let body = serde_json::json!({"eventStreams": [{"type": "sse", "endpoint":
            {"requestUri": "https://elsewhere/events/x"}}]});
        assert_eq!(
            stream_url(&body, "http://relay").as_deref(),
            Some("https://elsewhere/events/x")
        );
        assert_eq!(
            stream_url(&serde_json::json!({"flags": []}), "http://relay"),
            None
        );
        let endpoint = Endpoint {
            base: "https://flags.example.com/relay".into(),
            token: None,
        };
        assert_eq!(endpoint.origin(), "https://flags.example.com");
        assert_eq!(
            stream_path("http://h:1/ofrep/v1/events/c"),
            "/ofrep/v1/events/…"
        );
    }

    /// A relay stand-in on a loopback port: answers one connection per
    /// answer, in order, then stops; hands back the requests' heads.
    fn fake_relay(answers: Vec<String>) -> (String, JoinHandle<Vec<String>>) {
        use std::io::{Read as _, Write as _};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let handle = std::thread::spawn(move || {
            let mut heads = Vec::new();
            for answer in answers {
                let (mut socket, _) = listener.accept().expect("accept");
                let mut request = Vec::new();
                let mut buffer = [0u8; 4096];
                while !request.windows(4).any(|window| window == b"\r\n\r\n") {
                    let read = socket.read(&mut buffer).expect("read");
                    if read == 0 {
                        break;
                    }
                    request.extend_from_slice(&buffer[..read]);
                }
                heads.push(String::from_utf8_lossy(&request).into_owned());
                socket.write_all(answer.as_bytes()).expect("write");
            }
            heads
        });
        (url, handle)
    }

    fn answer(status: &str, headers: &[(&str, &str)], body: &str) -> String {
        let mut text = format!(
            "HTTP/1.1 {status}\r\nConnection: close\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (name, value) in headers {
            text.push_str(&format!("{name}: {value}\r\n"));
        }
        text.push_str("\r\n");
        text.push_str(body);
        text
    }

    fn snapshot(commit: &str, default: &str) -> crate::format::snapshot::SnapshotFile {
        let environment: crate::model::ResolvedEnvironment =
            serde_json::from_value(serde_json::json!({
                "environment": "prod", "bucketing": "v1", "segments": {},
                "flags": {"a": {"key": "a", "type": "boolean", "default": default}},
            }))
            .expect("environment");
        crate::format::snapshot::SnapshotFile::new(
            &environment,
            Some(crate::format::snapshot::SourceRevision {
                commit: commit.to_owned(),
                dirty: false,
            }),
        )
    }

    #[test]
    fn a_snapshot_whose_digest_does_not_match_is_refused() {
        let file = snapshot(&"1".repeat(40), "on");
        // Served `on`, but the digest says it was built with `off`.
        let tampered = file
            .to_json_pretty()
            .replace(&file.digest, &snapshot(&"1".repeat(40), "off").digest);
        let etag = format!("\"{}\"", file.digest);
        let (url, server) = fake_relay(vec![answer(
            "200 OK",
            &[
                ("ETag", etag.as_str()),
                ("X-Flagctl-Revision", &"1".repeat(40)),
            ],
            &tampered,
        )]);
        let error = super::super::Client::builder()
            .environment("prod")
            .relay(&url, Some("t0ken"))
            .background(false)
            .build()
            .expect_err("refused");
        let rejection = match &error {
            super::super::BuildError::NoValidState { cause, .. } => {
                cause.rejection().expect("a rejection")
            }
            other => panic!("{other:?}"),
        };
        assert!(
            matches!(
                &rejection.reason,
                super::super::RejectReason::Snapshot(error)
                    if matches!(**error, crate::format::snapshot::SnapshotError::DigestMismatch { .. })
            ),
            "{rejection:?}"
        );
        let heads = server.join().expect("server");
        assert!(
            heads[0].starts_with("GET /v1/snapshot HTTP/1.1\r\n"),
            "{heads:?}"
        );
        assert!(
            heads[0].contains("authorization: Bearer t0ken\r\n"),
            "{heads:?}"
        );
    }

    #[test]
    fn a_304_for_a_moved_revision_fetches_the_snapshot_again() {
        let first = snapshot(&"1".repeat(40), "on");
        let second = snapshot(&"2".repeat(40), "on");
        assert_eq!(
            first.digest, second.digest,
            "the digest covers content only"
        );
        let etag = format!("\"{}\"", first.digest);
        let (url, server) = fake_relay(vec![
            answer(
                "200 OK",
                &[
                    ("ETag", etag.as_str()),
                    ("X-Flagctl-Revision", &"1".repeat(40)),
                ],
                &first.to_json_pretty(),
            ),
            // Same content: 304, but the relay serves another commit.
            answer(
                "304 Not Modified",
                &[
                    ("ETag", etag.as_str()),
                    ("X-Flagctl-Revision", &"2".repeat(40)),
                ],
                "",
            ),
            answer(
                "200 OK",
                &[
                    ("ETag", etag.as_str()),
                    ("X-Flagctl-Revision", &"2".repeat(40)),
                ],
                &second.to_json_pretty(),
            ),
            // Nothing new.
            answer(
                "304 Not Modified",
                &[
                    ("ETag", etag.as_str()),
                    ("X-Flagctl-Revision", &"2".repeat(40)),
                ],
                "",
            ),
        ]);
        let client = super::super::Client::builder()
            .environment("prod")
            .relay(&url, None)
            .background(false)
            .build()
            .expect("served");
        assert_eq!(client.current().revision(), "1".repeat(40));
        match client.refresh() {
            Ok(super::super::Refresh::Applied(change)) => {
                assert_eq!(change.revision, "2".repeat(40));
                assert!(change.flags.is_empty());
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            client.refresh(),
            Ok(super::super::Refresh::Unchanged)
        ));
        let heads = server.join().expect("server");
        let conditional: Vec<bool> = heads
            .iter()
            .map(|head| head.contains(&format!("if-none-match: {etag}\r\n")))
            .collect();
        assert_eq!(conditional, [false, true, false, true], "{heads:?}");
        assert!(!heads[0].contains("authorization"), "{heads:?}");
    }

    #[test]
    fn urls_and_tokens() {
        assert!(valid_url("http://127.0.0.1:1"));
        assert!(valid_url("HTTPS://relay.example.com"));
        assert!(!valid_url("relay.example.com"));
        assert!(!valid_url("http://"));
        assert!(!valid_url("file:///etc/passwd"));
        let token = RelayToken::new("s3cret\n");
        assert_eq!(token.expose(), "s3cret");
        assert!(!format!("{token:?}").contains("s3cret"));
    }
}
