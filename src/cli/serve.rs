//! `flagctl serve`: the relay. Starts one runtime client per environment on
//! the chosen source and serves them over HTTP (OFREP, the change stream,
//! health, metrics) until SIGTERM or Ctrl-C.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use clap::ValueEnum;

use crate::cli::source::{self, SourceArgs};
use crate::cli::{CommandResult, Globals, UserError};
use crate::serve::{Access, Relay, RelayOptions, TokensError, WebhookSecret, load_tls};
use crate::watch::{Client, Event, Fallback, Origin, RejectReason, chain};

/// How log lines are written to stderr.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line, for log collectors.
    Json,
    /// Human-readable lines.
    Text,
}

/// Serve flags to any language over OpenFeature's remote protocol (OFREP)
///
/// Follows the source like `flagctl watch` (one runtime client per
/// environment: only committed, valid states are served, a refused state
/// never replaces the last good one) and answers OFREP single and bulk
/// evaluations, with a Server-Sent Events change stream that tells
/// connected providers to re-fetch on every applied revision. Every answer
/// names its revision in `X-Flagctl-Revision`. Prints `listening on URL`
/// on stdout once serving; logs go to stderr. SIGTERM or Ctrl-C stops
/// accepting, lets requests in flight finish (5 s at most), closes the
/// streams and exits 0; SIGHUP looks at the source now.
///
/// Access: a tokens file maps each token to the one environment it reads.
/// Without one, only a single environment on a loopback address is served.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  flagctl serve --env prod                                  the current branch, on 127.0.0.1:8016
  flagctl serve --env dev --env prod --tokens tokens.yaml --listen 0.0.0.0:8016
  flagctl serve --env prod --tokens tokens.yaml --remote https://github.com/acme/flags.git#main \\
      --webhook-secret-file hook.secret --tls-cert cert.pem --tls-key key.pem
  curl -s localhost:8016/ofrep/v1/evaluate/flags/new-checkout \\
      -H 'Content-Type: application/json' -d '{\"context\": {\"targetingKey\": \"user-42\"}}'

Tokens file (YAML; `sha256:HEX` keys hold a token's digest so the file can be committed):
  3f9c2a…long-random-token: dev
  sha256:5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8: prod

Routes: POST /ofrep/v1/evaluate/flags/{key}, POST /ofrep/v1/evaluate/flags, GET /v1/snapshot,
POST /admin/refresh (forge webhook), GET /healthz, /readyz, /metrics. See docs/relay.md.")]
pub struct Args {
    /// Serve environment ENV (repeat for several; each needs a token)
    #[arg(long, short, value_name = "ENV", required = true)]
    env: Vec<String>,

    /// Listen on ADDR (host:port)
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8016")]
    listen: SocketAddr,

    /// Read access tokens from FILE (YAML: `TOKEN: ENV` per line)
    #[arg(long, value_name = "FILE")]
    tokens: Option<PathBuf>,

    /// Serve ENV to requests without a token (needed without `--tokens` on a non-loopback address)
    #[arg(long, value_name = "ENV")]
    allow_anonymous: Option<String>,

    /// Serve HTTPS with this PEM certificate chain (with `--tls-key`)
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,

    /// The PEM private key of `--tls-cert`
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,

    /// Accept forge push webhooks on POST /admin/refresh signed with the secret in FILE
    #[arg(long, value_name = "FILE")]
    webhook_secret_file: Option<PathBuf>,

    /// Answer at most N requests at once; past it, 503 with Retry-After
    #[arg(long, value_name = "N", default_value_t = 512, value_parser = clap::value_parser!(u32).range(1..))]
    max_in_flight: u32,

    /// Keep at most N change streams open; past it, 503 with Retry-After
    #[arg(long, value_name = "N", default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..))]
    max_streams: u32,

    /// Close a connection that takes longer than SECONDS to send a request's headers or body, or sits idle
    #[arg(long, value_name = "SECONDS", default_value = "10", value_parser = parse_timeout)]
    request_timeout: std::time::Duration,

    /// Log format on stderr
    #[arg(long, value_enum, default_value_t = LogFormat::Json)]
    log_format: LogFormat,

    /// Log every request (route, status, time, revision; never tokens or stream URLs)
    #[arg(long, short)]
    verbose: bool,

    #[command(flatten)]
    source: SourceArgs,
}

/// Runs `flagctl serve`.
pub fn run(globals: &Globals, args: &Args) -> CommandResult {
    let environments = &args.env;
    for (index, environment) in environments.iter().enumerate() {
        if environments[..index].contains(environment) {
            return Err(
                UserError::new(format!("`--env {environment}` is given twice"))
                    .usage()
                    .into(),
            );
        }
    }
    let served: Vec<&str> = environments.iter().map(String::as_str).collect();
    let access = access(args, &served)?;
    let webhook = match &args.webhook_secret_file {
        Some(path) => {
            let bytes = std::fs::read(path).map_err(|e| {
                anyhow::Error::new(e).context(format!(
                    "cannot read webhook secret file `{}`",
                    path.display()
                ))
            })?;
            Some(WebhookSecret::new(&bytes).ok_or_else(|| {
                UserError::new(format!("webhook secret file `{}` is empty", path.display()))
                    .help("put the secret configured in the forge's webhook settings in it")
            })?)
        }
        None => None,
    };
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(certificate), Some(key)) => Some(load_tls(certificate, key).map_err(|error| {
            UserError::new(chain(&error)).help(
                "give a PEM certificate chain and its PEM private key (PKCS#8, PKCS#1 or SEC1)",
            )
        })?),
        _ => None,
    };
    init_logging(args);

    let mut temporaries = Vec::new();
    let mut clients = Vec::with_capacity(environments.len());
    for environment in environments {
        let label = (environments.len() > 1).then_some(environment.as_str());
        let (source, temporary) = source::resolve(globals, &args.source, "serve", label)?;
        temporaries.extend(temporary);
        clients.push(start_client(environment, source, args)?);
    }
    let options = RelayOptions {
        max_in_flight: args.max_in_flight as usize,
        max_streams: args.max_streams as usize,
        request_timeout: args.request_timeout,
        webhook,
        ..RelayOptions::default()
    };
    let relay = Arc::new(Relay::new(clients, access, options));

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("flagctl-serve")
        .build()
        .map_err(|e| anyhow::Error::new(e).context("cannot start the relay's runtime"))?;
    let result = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|error| {
                UserError::new(format!("cannot listen on `{}`: {error}", args.listen))
                    .help("pick a free port with `--listen HOST:PORT` (port 0 picks one)")
            })?;
        let address = listener
            .local_addr()
            .map_err(|e| anyhow::Error::new(e).context("cannot read the listening address"))?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        tracing::info!(
            target: "flagctl::serve",
            address = %address,
            environments = %environments.join(","),
            tls = tls.is_some(),
            "serving"
        );
        {
            let mut stdout = std::io::stdout().lock();
            writeln!(stdout, "listening on {scheme}://{address}")?;
            stdout.flush()?;
        }
        let hangups = relay.clone();
        tokio::spawn(async move {
            let Ok(mut hangup) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            else {
                return;
            };
            while hangup.recv().await.is_some() {
                tracing::info!(target: "flagctl::serve", "SIGHUP: looking at the source");
                hangups.refresh_all();
            }
        });
        let shutdown = async {
            let terminate = async {
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(mut terminate) => {
                        terminate.recv().await;
                    }
                    Err(_) => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                () = terminate => {}
            }
            tracing::info!(target: "flagctl::serve", "shutting down");
        };
        relay
            .serve(listener, tls, shutdown)
            .await
            .map_err(anyhow::Error::new)
    });
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    drop(relay);
    drop(temporaries);
    result?;
    Ok(ExitCode::SUCCESS)
}

/// Who may read what, or why the options cannot be served safely.
fn access(args: &Args, served: &[&str]) -> anyhow::Result<Access> {
    if let Some(anonymous) = &args.allow_anonymous
        && !served.contains(&anonymous.as_str())
    {
        return Err(UserError::new(format!(
            "`--allow-anonymous {anonymous}` names an environment that is not served"
        ))
        .help(format!(
            "add `--env {anonymous}`, or pick one of: {}",
            served.join(", ")
        ))
        .usage()
        .into());
    }
    let access = match &args.tokens {
        Some(path) => {
            let access = Access::from_tokens_file(path, served, args.allow_anonymous.as_deref())
                .map_err(|error| match &error {
                    TokensError::Invalid { .. } => UserError::new(error.to_string())
                        .help("each line is `TOKEN: ENV` or `sha256:HEX: ENV`"),
                    TokensError::Read { .. } => UserError::new(chain(&error)),
                })?
                .map_err(|error| UserError::new(error.to_string()))?;
            for environment in served {
                let reachable = access.anonymous_environment() == Some(*environment)
                    || access.has_token_for(environment);
                if !reachable {
                    return Err(UserError::new(format!(
                        "no token in `{}` reads environment `{environment}`",
                        path.display()
                    ))
                    .help(format!(
                        "add a line `TOKEN: {environment}` (for example with `openssl rand -hex 24`), or drop `--env {environment}`"
                    ))
                    .into());
                }
            }
            access
        }
        None => {
            if served.len() > 1 {
                return Err(UserError::new(
                    "serving several environments needs tokens: without them, any client could read any environment",
                )
                .help("pass `--tokens FILE` with one line `TOKEN: ENV` per token (each token reads one environment)")
                .usage()
                .into());
            }
            if !args.listen.ip().is_loopback() && args.allow_anonymous.is_none() {
                return Err(UserError::new(format!(
                    "`{}` is not a loopback address and no tokens are configured: anyone who reaches it could read `{}`",
                    args.listen, served[0]
                ))
                .help(format!(
                    "pass `--tokens FILE` (lines `TOKEN: ENV`), or `--allow-anonymous {}` to serve it to everyone",
                    served[0]
                ))
                .usage()
                .into());
            }
            Access::anonymous(served, served[0])
                .map_err(|error| UserError::new(error.to_string()))?
        }
    };
    Ok(access)
}

/// The client of one environment: it starts even when the source has no
/// valid state yet (serving nothing, not ready) and picks up the first
/// valid one; an environment the flag root does not declare is an error.
fn start_client(
    environment: &str,
    source: crate::watch::Source,
    args: &Args,
) -> anyhow::Result<Client> {
    let unknown = Arc::new(Mutex::new(None::<Vec<String>>));
    let seen = unknown.clone();
    let mut builder = Client::builder()
        .environment(environment)
        .source(source)
        .fallback(Fallback::CodeDefaults)
        .on_event(move |event| {
            if let Event::Rejected(rejection) = event
                && let RejectReason::UnknownEnvironment { known } = &rejection.reason
                && let Ok(mut unknown) = seen.lock()
            {
                *unknown = Some(known.clone());
            }
        });
    if let Some(interval) = args.source.interval {
        builder = builder.poll_interval(interval);
    }
    let client = builder.build().map_err(|error| {
        UserError::new(chain(&error))
            .help("check the source: the repository, the remote or the path")
    })?;
    let status = client.status();
    if status.origin == Origin::CodeDefaults {
        if let Some(known) = unknown.lock().ok().and_then(|known| known.clone()) {
            return Err(UserError::new(format!(
                "environment `{environment}` is not declared in `flagctl.yaml`"
            ))
            .help(format!("the environments are: {}", known.join(", ")))
            .into());
        }
        tracing::warn!(
            target: "flagctl::serve",
            environment,
            problem = status.last_error.as_ref().map_or("", |problem| problem.message.as_str()),
            "no valid state yet: serving nothing (not ready) until the source has one"
        );
    }
    Ok(client)
}

fn parse_timeout(text: &str) -> Result<std::time::Duration, String> {
    let seconds: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number of seconds"))?;
    if !(seconds.is_finite() && (0.1..=3600.0).contains(&seconds)) {
        return Err(format!("`{text}` must be between 0.1 and 3600 seconds"));
    }
    Ok(std::time::Duration::from_secs_f64(seconds))
}

fn init_logging(args: &Args) {
    let level = if args.verbose {
        tracing::Level::DEBUG
    } else {
        tracing::Level::INFO
    };
    let builder = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_target(true);
    let _ = match args.log_format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.with_ansi(false).try_init(),
    };
}
