//! HTTP: the routes, access, limits and the accept loop (plain or TLS),
//! with graceful shutdown. Every error a client can cause is a 4xx with an
//! OFREP error body; limits answer 413, 429 or 503 with `Retry-After`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path as UrlPath, Query, Request, State as Shared};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::StreamExt;
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::access::{Credential, Denied, Grantee, hex};
use super::ofrep::{self, Answer, Outcome};
use super::state::{self, State};
use super::stream;
use crate::eval::Context;
use crate::watch::{Origin, ProblemKind, Status};

/// The header naming the revision an answer was computed from.
pub(crate) const REVISION_HEADER: HeaderName = HeaderName::from_static("x-flagctl-revision");

/// The relay stopped serving.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// Accepting connections failed for good.
    #[error("cannot accept connections")]
    Accept(#[source] std::io::Error),
}

/// A certificate or key that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A PEM file could not be read or holds nothing usable.
    #[error("cannot read {what} from `{}`", path.display())]
    Pem {
        /// `certificates` or `a private key`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: rustls_pki_types::pem::Error,
    },
    /// rustls refused the pair.
    #[error("cannot use the certificate and key")]
    Config(#[source] rustls::Error),
}

/// A TLS configuration from PEM files: a certificate chain and its key.
///
/// # Errors
///
/// A file is unreadable or holds no certificate or key, or the key does
/// not match the certificate.
pub fn load_tls(certificate: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let certificates = CertificateDer::pem_file_iter(certificate)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .and_then(|certificates| {
            if certificates.is_empty() {
                Err(rustls_pki_types::pem::Error::NoItemsFound)
            } else {
                Ok(certificates)
            }
        })
        .map_err(|source| TlsError::Pem {
            what: "certificates",
            path: certificate.to_owned(),
            source,
        })?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|source| TlsError::Pem {
        what: "a private key",
        path: key.to_owned(),
        source,
    })?;
    #[expect(
        deprecated,
        reason = "ring has no post-quantum key exchange; aws-lc-rs would need cmake and a C build"
    )]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Config)?
        .with_no_client_auth()
        .with_single_cert(certificates, key)
        .map_err(TlsError::Config)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

pub(crate) fn router(state: Arc<State>) -> Router {
    let cors = tower_http::cors::CorsLayer::new()
        .allow_origin(tower_http::cors::Any)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_NONE_MATCH,
            HeaderName::from_static("x-api-key"),
        ])
        .expose_headers([header::ETAG, REVISION_HEADER]);
    Router::new()
        .route("/ofrep/v1/evaluate/flags/{key}", post(evaluate_one))
        .route("/ofrep/v1/evaluate/flags", post(evaluate_all))
        .route("/ofrep/v1/events/{channel}", get(events))
        .route("/v1/snapshot", get(snapshot))
        .route("/admin/refresh", post(refresh))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .layer(cors)
        .with_state(state)
}

/// The route a path belongs to, for metrics (never the path itself: it
/// holds flag keys and stream channels).
fn route_of(path: &str) -> &'static str {
    match path {
        "/ofrep/v1/evaluate/flags" => "evaluate_all",
        "/v1/snapshot" => "snapshot",
        "/admin/refresh" => "refresh",
        "/healthz" => "healthz",
        "/readyz" => "readyz",
        "/metrics" => "metrics",
        _ if path.starts_with("/ofrep/v1/evaluate/flags/") => "evaluate",
        _ if path.starts_with("/ofrep/v1/events/") => "events",
        _ => "other",
    }
}

/// Limits, shutdown, metrics and the access log around every route.
async fn guard(Shared(state): Shared<Arc<State>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = route_of(request.uri().path());
    let method = request.method().clone();
    let response = if state.shutting_down() {
        unavailable("the relay is shutting down")
    } else if route == "events" {
        // Streams are long-lived: they have their own limit.
        next.run(request).await
    } else {
        match state.in_flight.clone().try_acquire_owned() {
            Ok(_permit) => next.run(request).await,
            Err(_) => unavailable("too many requests in flight"),
        }
    };
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    state.metrics.record(route, status, elapsed);
    tracing::debug!(
        target: "flagctl::serve",
        %method,
        route,
        status,
        micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
        revision = response
            .headers()
            .get(&REVISION_HEADER)
            .and_then(|value| value.to_str().ok())
            .unwrap_or(""),
        "request"
    );
    response
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn error_body(code: &str, details: impl Into<String>) -> Value {
    json!({"errorCode": code, "errorDetails": details.into()})
}

fn unavailable(details: &str) -> Response {
    let mut response = json_response(
        StatusCode::SERVICE_UNAVAILABLE,
        &error_body("GENERAL", details),
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

fn with_revision(mut response: Response, revision: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(revision) {
        response.headers_mut().insert(REVISION_HEADER, value);
    }
    response
}

async fn not_found(request: Request) -> Response {
    json_response(
        StatusCode::NOT_FOUND,
        &error_body(
            "GENERAL",
            format!(
                "no route `{} {}`; OFREP is under /ofrep/v1/",
                request.method(),
                request.uri().path()
            ),
        ),
    )
}

/// The environment a request may read, or why not ([`unauthorized`]).
fn admit(state: &State, headers: &HeaderMap) -> Result<Grantee, Denied> {
    let credential = match headers.get(header::AUTHORIZATION) {
        Some(value) => match value.to_str().ok().and_then(|value| {
            let (scheme, token) = value.trim().split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| token.trim())
                .filter(|token| !token.is_empty())
        }) {
            Some(token) => Credential::Token(token),
            None => Credential::Malformed,
        },
        None => match headers.get("x-api-key").map(HeaderValue::to_str) {
            Some(Ok(token)) if !token.trim().is_empty() => Credential::Token(token.trim()),
            Some(_) => Credential::Malformed,
            None => Credential::None,
        },
    };
    state.access.admit(credential)
}

/// The 401 of a refused credential.
fn unauthorized(denied: Denied) -> Response {
    let details = match denied {
        Denied::Missing => "this relay needs a token: send `Authorization: Bearer TOKEN`",
        Denied::Unknown => "the token is not known to this relay",
        Denied::Malformed => "expected `Authorization: Bearer TOKEN` or `X-API-Key: TOKEN`",
    };
    let mut response = json_response(StatusCode::UNAUTHORIZED, &error_body("GENERAL", details));
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"flagctl\""),
    );
    response
}

/// A request body within the limits, or the 4xx to answer (`key` labels
/// OFREP error bodies of single evaluations).
async fn read_json_body(
    state: &State,
    headers: &HeaderMap,
    body: Body,
    key: Option<&str>,
) -> Result<Bytes, Response> {
    let failure = |status: StatusCode, code: &str, details: String| {
        let mut body = error_body(code, details);
        if let Some(key) = key {
            body["key"] = Value::String(key.to_owned());
        }
        json_response(status, &body)
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    let media = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if media != "application/json" {
        return Err(failure(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "PARSE_ERROR",
            format!(
                "expected `Content-Type: application/json`, got `{}`",
                if content_type.is_empty() {
                    "nothing"
                } else {
                    content_type
                }
            ),
        ));
    }
    let limit = state.options.body_limit;
    let too_large = || {
        failure(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PARSE_ERROR",
            format!("the request body is larger than {limit} bytes"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        drain(body, state).await;
        return Err(too_large());
    }
    let mut received = Vec::new();
    let mut frames = body.into_data_stream();
    let read = async {
        while let Some(frame) = frames.next().await {
            let Ok(frame) = frame else {
                return false;
            };
            if received.len() + frame.len() > limit {
                return false;
            }
            received.extend_from_slice(&frame);
        }
        true
    };
    match tokio::time::timeout(state.options.request_timeout, read).await {
        Ok(true) => Ok(Bytes::from(received)),
        Ok(false) => {
            drain_stream(frames, state).await;
            Err(too_large())
        }
        Err(_) => Err(failure(
            StatusCode::REQUEST_TIMEOUT,
            "PARSE_ERROR",
            "the request body did not arrive in time".into(),
        )),
    }
}

/// Reads and discards what is left of an oversized body (up to 16 times
/// the limit, within the request timeout) so that a client that sends it
/// all before reading gets the 413 instead of a broken connection.
async fn drain(body: Body, state: &State) {
    drain_stream(body.into_data_stream(), state).await;
}

async fn drain_stream(mut frames: axum::body::BodyDataStream, state: &State) {
    let budget = state.options.body_limit.saturating_mul(16);
    let _ = tokio::time::timeout(state.options.request_timeout, async {
        let mut seen = 0usize;
        while let Some(Ok(frame)) = frames.next().await {
            seen += frame.len();
            if seen > budget {
                break;
            }
        }
    })
    .await;
}

/// Who asks and for which context, or the 4xx to answer (`key` labels
/// the error bodies of single evaluations).
async fn read_request(
    state: &State,
    headers: &HeaderMap,
    body: Body,
    key: Option<&str>,
) -> Result<(Grantee, Context), Response> {
    let grantee = admit(state, headers).map_err(unauthorized)?;
    let body = read_json_body(state, headers, body, key).await?;
    let context = ofrep::read_context(&body).map_err(|bad| {
        let mut body = error_body(bad.code, bad.details);
        if let Some(key) = key {
            body["key"] = Value::String(key.to_owned());
        }
        json_response(StatusCode::BAD_REQUEST, &body)
    })?;
    Ok((grantee, context))
}

async fn evaluate_one(
    Shared(state): Shared<Arc<State>>,
    UrlPath(key): UrlPath<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let (grantee, context) = match read_request(&state, &headers, body, Some(&key)).await {
        Ok(request) => request,
        Err(response) => return response,
    };
    let environment = &state.environments[grantee.environment];
    let current = environment.client.current();
    let info = environment.revision_info(&current);
    let evaluation = current.evaluate(&key, &context);
    let response = match ofrep::outcome(&key, &evaluation, &info, Answer::Single(&environment.name))
    {
        Outcome::Success(body) => json_response(StatusCode::OK, &body),
        Outcome::NotFound(body) => json_response(StatusCode::NOT_FOUND, &body),
        Outcome::Failed(body) => json_response(StatusCode::BAD_REQUEST, &body),
    };
    with_revision(response, &info.revision)
}

/// A change stream announced revision `etag` (the `flagConfigEtag` of a
/// re-fetch), which this replica may not serve yet: look at the source
/// once (2 s at most) before answering.
async fn catch_up(environment: &state::Environment, etag: Option<&str>) {
    let Some(etag) = etag else { return };
    if etag.trim_matches('"') == environment.client.current().revision() {
        return;
    }
    let client = environment.client.clone();
    let refresh = tokio::task::spawn_blocking(move || client.refresh());
    let _ = tokio::time::timeout(Duration::from_secs(2), refresh).await;
}

/// What a re-fetch triggered by the change stream carries (ADR-0008).
#[derive(serde::Deserialize)]
struct RefetchQuery {
    #[serde(rename = "flagConfigEtag")]
    flag_config_etag: Option<String>,
}

async fn evaluate_all(
    Shared(state): Shared<Arc<State>>,
    Query(query): Query<RefetchQuery>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let (grantee, context) = match read_request(&state, &headers, body, None).await {
        Ok(request) => request,
        Err(response) => return response,
    };
    let environment = &state.environments[grantee.environment];
    catch_up(environment, query.flag_config_etag.as_deref()).await;
    let current = environment.client.current();
    let info = environment.revision_info(&current);
    let flags: Vec<Value> = current
        .snapshot()
        .flag_keys()
        .map(|key| {
            let evaluation = current.evaluate(key, &context);
            match ofrep::outcome(key, &evaluation, &info, Answer::Bulk) {
                Outcome::Success(body) | Outcome::NotFound(body) | Outcome::Failed(body) => body,
            }
        })
        .collect();
    let flags = Value::Array(flags);
    // The evaluated flags and the revision: a new context or a new revision
    // is a new entity.
    let mut digest = Sha256::new();
    digest.update(info.revision.as_bytes());
    digest.update(b"\0");
    digest.update(flags.to_string().as_bytes());
    let etag = format!("\"{}\"", hex(&digest.finalize()[..16]));
    let matches = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|candidate| {
            let candidate = candidate.trim();
            candidate == etag || candidate.strip_prefix("W/") == Some(etag.as_str())
        });
    let mut response = if matches {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let channel = state.access.channel(grantee);
        let body = json!({
            "flags": flags,
            "eventStreams": [{
                "type": "sse",
                "endpoint": {"requestUri": format!("/ofrep/v1/events/{channel}")},
                "inactivityDelaySec": 120,
            }],
            "metadata": {"revision": info.revision, "environment": environment.name},
        });
        json_response(StatusCode::OK, &body)
    };
    if let Ok(value) = HeaderValue::from_str(&etag) {
        response.headers_mut().insert(header::ETAG, value);
    }
    with_revision(response, &info.revision)
}

async fn events(Shared(state): Shared<Arc<State>>, UrlPath(channel): UrlPath<String>) -> Response {
    let Some(environment) = state.access.channel_environment(&channel) else {
        return json_response(
            StatusCode::NOT_FOUND,
            &error_body(
                "GENERAL",
                "no such change stream; take the stream URL from a bulk evaluation's `eventStreams`",
            ),
        );
    };
    let Ok(permit) = state.streams.clone().try_acquire_owned() else {
        return unavailable("too many change streams connected");
    };
    let revision = state.environments[environment]
        .client
        .current()
        .revision()
        .to_owned();
    with_revision(
        stream::open(&state, environment, permit).into_response(),
        &revision,
    )
}

async fn snapshot(
    Shared(state): Shared<Arc<State>>,
    Query(query): Query<RefetchQuery>,
    headers: HeaderMap,
) -> Response {
    let grantee = match admit(&state, &headers) {
        Ok(grantee) => grantee,
        Err(denied) => return unauthorized(denied),
    };
    let environment = &state.environments[grantee.environment];
    catch_up(environment, query.flag_config_etag.as_deref()).await;
    let current = environment.client.current();
    if current.origin() == Origin::CodeDefaults {
        return unavailable("no valid state of this environment has been loaded yet");
    }
    let info = environment.revision_info(&current);
    let built = info.snapshot(&current);
    let etag = format!("\"{}\"", built.digest);
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.split(',').any(|candidate| candidate.trim() == etag));
    let mut response = if matches {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut response = (StatusCode::OK, built.body.clone()).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        response
    };
    if let Ok(value) = HeaderValue::from_str(&etag) {
        response.headers_mut().insert(header::ETAG, value);
    }
    with_revision(response, &info.revision)
}

async fn refresh(Shared(state): Shared<Arc<State>>, headers: HeaderMap, body: Body) -> Response {
    let unauthorized =
        |details: &str| json_response(StatusCode::UNAUTHORIZED, &error_body("GENERAL", details));
    let Some(secret) = &state.options.webhook else {
        return unauthorized(
            "this relay takes no webhooks: start it with `--webhook-secret-file FILE`",
        );
    };
    let body = match tokio::time::timeout(
        state.options.request_timeout,
        axum::body::to_bytes(body, state.options.body_limit),
    )
    .await
    {
        Ok(Ok(body)) => body,
        Ok(Err(_)) => {
            return json_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                &error_body("GENERAL", "the webhook body is too large"),
            );
        }
        Err(_) => {
            return json_response(
                StatusCode::REQUEST_TIMEOUT,
                &error_body("GENERAL", "the webhook body did not arrive in time"),
            );
        }
    };
    let header_text = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    let verified = if let Some(signature) = header_text("x-hub-signature-256") {
        secret.verify_github(signature, &body)
    } else if let Some(token) = header_text("x-gitlab-token") {
        secret.verify_gitlab(token)
    } else {
        return unauthorized(
            "expected `X-Hub-Signature-256` (GitHub) or `X-Gitlab-Token` (GitLab)",
        );
    };
    if !verified {
        return unauthorized("the webhook signature does not match the secret");
    }
    state::refresh_all(&state);
    json_response(
        StatusCode::ACCEPTED,
        &json!({"refreshing": state.environment_names()}),
    )
}

fn seconds(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

fn environment_health(status: &Status) -> Value {
    let mut health = json!({
        "environment": status.environment,
        "revision": status.revision,
        "origin": status.origin.as_str(),
        "ready": status.origin == Origin::Source,
        "loadedAt": seconds(status.loaded_at),
        "latestRevision": status.latest_revision,
        "sourceFailing": status.source_failing,
        "reloads": status.reloads,
        "rejections": status.rejections,
    });
    if let Some(problem) = &status.last_error {
        health["lastError"] = json!({
            "kind": match problem.kind {
                ProblemKind::Rejected => "rejected",
                ProblemKind::Source => "source",
            },
            "revision": problem.revision,
            "message": problem.message,
            "at": seconds(problem.at),
        });
    }
    health
}

fn health(state: &State) -> (bool, Value) {
    let statuses: Vec<Status> = state
        .environments
        .iter()
        .map(|environment| environment.client.status())
        .collect();
    let ready = statuses
        .iter()
        .all(|status| status.origin == Origin::Source);
    let environments: Vec<Value> = statuses.iter().map(environment_health).collect();
    (ready, json!({"ready": ready, "environments": environments}))
}

async fn healthz(Shared(state): Shared<Arc<State>>) -> Response {
    let (_, mut body) = health(&state);
    body["status"] = Value::String("serving".into());
    json_response(StatusCode::OK, &body)
}

async fn readyz(Shared(state): Shared<Arc<State>>) -> Response {
    let (ready, body) = health(&state);
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    json_response(status, &body)
}

/// OpenMetrics to whoever asks for it (Prometheus does), the classic
/// text format otherwise.
async fn metrics(Shared(state): Shared<Arc<State>>, headers: HeaderMap) -> Response {
    let openmetrics = headers
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|accept| accept.contains("application/openmetrics-text"));
    match super::metrics::render(&state) {
        Ok(text) => {
            let (text, content_type) = if openmetrics {
                (
                    text,
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                )
            } else {
                (
                    super::metrics::to_classic(&text),
                    "text/plain; version=0.0.4; charset=utf-8",
                )
            };
            let mut response = (StatusCode::OK, text).into_response();
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            response
        }
        Err(_) => json_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            &error_body("GENERAL", "the metrics could not be written"),
        ),
    }
}

/// Accepts connections until `shutdown`, then shuts down gracefully.
pub(crate) async fn serve(
    state: Arc<State>,
    listener: tokio::net::TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    let router = router(state.clone());
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let mut shutdown = std::pin::pin!(shutdown);
    let mut failures = 0u32;
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let stream = match accepted {
            Ok((stream, _peer)) => {
                failures = 0;
                stream
            }
            Err(error) => {
                // Out of file descriptors and the like: wait and go on;
                // give up only when it never recovers.
                failures += 1;
                if failures > 1000 {
                    return Err(ServeError::Accept(error));
                }
                tracing::warn!(target: "flagctl::serve", %error, "accept failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let service = hyper_util::service::TowerToHyperService::new(router.clone());
        let watcher = graceful.watcher();
        let acceptor = acceptor.clone();
        let timeout = state.options.request_timeout;
        tokio::spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(timeout)
                .keep_alive(true);
            match acceptor {
                Some(acceptor) => {
                    let Ok(Ok(stream)) =
                        tokio::time::timeout(timeout, acceptor.accept(stream)).await
                    else {
                        return;
                    };
                    let connection = builder.serve_connection(TokioIo::new(stream), service);
                    let _ = watcher.watch(connection).await;
                }
                None => {
                    let connection = builder.serve_connection(TokioIo::new(stream), service);
                    let _ = watcher.watch(connection).await;
                }
            }
        });
    }
    drop(listener);
    state.begin_shutdown();
    let grace = state.options.shutdown_grace;
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(grace) => {
            tracing::warn!(target: "flagctl::serve", "requests still in flight after the grace period were cut");
        }
    }
    Ok(())
}
