//! `flagctl watch`: follow a source the way an application does and print
//! one line per applied change and per refused state.

use std::io::Write;
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::{Duration, SystemTime};

use clap::ValueEnum;
use serde_json::json;

use crate::cli::output::style;
use crate::cli::source::{self, SourceArgs};
use crate::cli::{CommandResult, Globals, UserError};
use crate::watch::{
    BuildError, Change, Client, Event, LoadTimings, RejectReason, Rejection, Source, SourceFailure,
    StartError, chain,
};

/// Text or JSON lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum WatchFormat {
    /// One line per event for people.
    Text,
    /// One JSON object per line for scripts.
    Json,
}

/// Follow a source like an application would and print what it serves
///
/// Starts the runtime client on one source, prints what it serves, then one
/// line per applied change (time, revision, flags changed, load time) and
/// per refused state (revision, first problems); refused states are never
/// served. Without a source option, follows the branch checked out in the
/// repository holding the flag root: only committed states are served.
/// Ends on Ctrl-C.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  flagctl watch --env prod                          the current branch (committed states)
  flagctl watch --env prod --ref release            another branch or reference
  flagctl watch --env dev --dir                     the working tree, uncommitted edits included
  flagctl watch --env prod --remote https://github.com/acme/flags.git#main
  flagctl watch --env prod --snapshot prod.json     a file written by `flagctl build`
  flagctl watch --env prod --relay https://flags.example.com --token-file prod.token
  flagctl watch --env prod --format json | jq -c 'select(.event == \"applied\")'

JSON lines: {\"event\": \"serving\" | \"applied\" | \"rejected\" | \"source-error\", \"time\", \"revision\", …}.")]
pub struct Args {
    /// The environment to serve
    #[arg(long, short, value_name = "ENV")]
    env: String,

    #[command(flatten)]
    source: SourceArgs,

    /// Follow a relay (`flagctl serve`) at URL: its snapshot, fetched again on every change its stream announces and every `--interval` seconds (default 30)
    #[arg(long, value_name = "URL", group = "source", value_parser = source::parse_relay_url)]
    relay: Option<String>,

    /// Send the token in FILE to the relay (default: no token)
    #[arg(long, value_name = "FILE", requires = "relay")]
    token_file: Option<std::path::PathBuf>,

    /// Output format
    #[arg(long, value_enum, default_value_t = WatchFormat::Text)]
    format: WatchFormat,
}

enum Message {
    Event(Box<Event>),
    Interrupted,
}

/// Runs `flagctl watch`.
pub fn run(globals: &Globals, args: &Args) -> CommandResult {
    let (source, temporary_cache) = match &args.relay {
        Some(url) => (source::relay(url, args.token_file.as_deref())?, None),
        None => source::resolve(globals, &args.source, "watch", None)?,
    };

    let (sender, receiver) = mpsc::channel();
    let events = sender.clone();
    let mut builder = Client::builder()
        .environment(&args.env)
        .source(source.clone())
        .on_event(move |event| {
            let _ = events.send(Message::Event(Box::new(event.clone())));
        });
    if let Some(interval) = args.source.interval {
        builder = builder.poll_interval(interval);
    }
    let client = builder
        .build()
        .map_err(|error| start_error(&error, &source))?;

    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
    ])
    .map_err(|e| anyhow::Error::new(e).context("cannot handle Ctrl-C"))?;
    let handle = signals.handle();
    let listener = std::thread::spawn(move || {
        if signals.forever().next().is_some() {
            let _ = sender.send(Message::Interrupted);
        }
    });

    let printer = Printer {
        format: args.format,
        color: globals.color_stdout,
    };
    let result = (|| -> std::io::Result<()> {
        let status = client.status();
        printer.serving(&status, &source)?;
        for message in &receiver {
            match message {
                Message::Event(event) => printer.event(&event)?,
                Message::Interrupted => break,
            }
        }
        Ok(())
    })();
    drop(client);
    handle.close();
    let _ = listener.join();
    drop(temporary_cache);
    result?;
    Ok(ExitCode::SUCCESS)
}

/// A failure to start, as the user sees it.
fn start_error(error: &BuildError, source: &Source) -> anyhow::Error {
    let message = chain(error);
    let help = match error {
        BuildError::NoValidState { cause, .. } => match cause {
            StartError::Rejected(rejection) => match rejection.reason {
                RejectReason::Invalid => {
                    "fix the flags (`flagctl validate` lists the problems), then commit"
                }
                RejectReason::UnknownEnvironment { .. } => {
                    "pass `--env` one of the environments `flagctl.yaml` declares"
                }
                RejectReason::WrongEnvironment { .. } if matches!(source, Source::Relay { .. }) => {
                    "the token grants the relay's snapshot of another environment: pass that one to `--env`, or the token of this one"
                }
                _ => "build the snapshot again with `flagctl build`",
            },
            StartError::Source(error) => source_help(error),
            _ => "check the source",
        },
        _ => "check the options",
    };
    UserError::new(message).help(help).into()
}

/// What to do about a source that cannot be read at startup.
fn source_help(error: &crate::watch::SourceError) -> &'static str {
    match error {
        crate::watch::SourceError::Relay { source, .. } => match &**source {
            crate::watch::RelayError::Refused { .. } => {
                "pass a token this relay knows with `--token-file FILE` (its `--tokens` file grants it an environment)"
            }
            crate::watch::RelayError::InvalidUrl { .. } => {
                "give the relay's base URL, such as `https://flags.example.com`"
            }
            _ => "check that the relay runs and that its URL is right (`curl URL/healthz`)",
        },
        _ => "check the source: the repository, the remote or the path",
    }
}

struct Printer {
    format: WatchFormat,
    color: bool,
}

fn timestamp(time: SystemTime) -> String {
    match jiff::Timestamp::try_from(time) {
        Ok(timestamp) => timestamp
            .round(jiff::Unit::Millisecond)
            .unwrap_or(timestamp)
            .to_string(),
        Err(_) => "-".to_owned(),
    }
}

fn milliseconds(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1e6).round() / 1e3
}

fn timings_json(timings: &LoadTimings) -> serde_json::Value {
    json!({
        "read_ms": milliseconds(timings.read),
        "validate_ms": milliseconds(timings.validate),
        "compile_ms": milliseconds(timings.compile),
        "swap_ms": milliseconds(timings.swap),
    })
}

/// A commit id shortened to 12 digits; other revisions as they are.
fn short(revision: &str) -> &str {
    if revision.len() == 40 && revision.bytes().all(|b| b.is_ascii_hexdigit()) {
        &revision[..12]
    } else {
        revision
    }
}

impl Printer {
    fn paint(&self, style: anstyle::Style, text: &str) -> String {
        if self.color {
            format!("{style}{text}{style:#}")
        } else {
            text.to_owned()
        }
    }

    fn line(&self, value: &serde_json::Value) -> std::io::Result<()> {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{value}")?;
        stdout.flush()
    }

    fn text(&self, text: &str) -> std::io::Result<()> {
        let mut stdout = anstream::stdout().lock();
        writeln!(stdout, "{text}")?;
        stdout.flush()
    }

    fn serving(&self, status: &crate::watch::Status, source: &Source) -> std::io::Result<()> {
        match self.format {
            WatchFormat::Json => self.line(&json!({
                "time": timestamp(status.loaded_at),
                "event": "serving",
                "environment": status.environment,
                "revision": status.revision,
                "origin": status.origin.as_str(),
                "flags": status.flag_count,
                "source": source.to_string(),
                "load_ms": milliseconds(status.load_timings.total()),
                "timings": timings_json(&status.load_timings),
            })),
            WatchFormat::Text => self.text(&format!(
                "{} {} {} ({} flags of `{}`) from {}, loaded in {} ms",
                self.paint(style::DIM, &timestamp(status.loaded_at)),
                self.paint(style::HEADING, "serving"),
                short(&status.revision),
                status.flag_count,
                status.environment,
                source,
                milliseconds(status.load_timings.total()),
            )),
        }
    }

    fn event(&self, event: &Event) -> std::io::Result<()> {
        match event {
            Event::Applied(change) => self.applied(change),
            Event::Rejected(rejection) => self.rejected(rejection),
            Event::SourceError(failure) => self.source_error(failure),
        }
    }

    fn applied(&self, change: &Change) -> std::io::Result<()> {
        match self.format {
            WatchFormat::Json => self.line(&json!({
                "time": timestamp(change.applied_at),
                "event": "applied",
                "revision": change.revision,
                "previous_revision": change.previous_revision,
                "flags": change.flags.iter().map(|flag| json!({
                    "key": flag.key,
                    "change": flag.kind.as_str(),
                })).collect::<Vec<_>>(),
                "load_ms": milliseconds(change.timings.total()),
                "timings": timings_json(&change.timings),
            })),
            WatchFormat::Text => {
                const SHOWN: usize = 8;
                let mut flags: Vec<String> = change
                    .flags
                    .iter()
                    .take(SHOWN)
                    .map(|flag| format!("{} ({})", flag.key, flag.kind))
                    .collect();
                if change.flags.len() > SHOWN {
                    flags.push(format!("and {} more", change.flags.len() - SHOWN));
                }
                let flags = if flags.is_empty() {
                    "no flag changed".to_owned()
                } else {
                    flags.join(", ")
                };
                self.text(&format!(
                    "{} {} {} {flags}, loaded in {} ms",
                    self.paint(style::DIM, &timestamp(change.applied_at)),
                    self.paint(style::OK, "applied"),
                    short(&change.revision),
                    milliseconds(change.timings.total()),
                ))
            }
        }
    }

    fn rejected(&self, rejection: &Rejection) -> std::io::Result<()> {
        match self.format {
            WatchFormat::Json => self.line(&json!({
                "time": timestamp(rejection.at),
                "event": "rejected",
                "revision": rejection.revision,
                "message": rejection.to_string(),
                "diagnostics": rejection.diagnostics,
            })),
            WatchFormat::Text => {
                let detail = match (&rejection.reason, rejection.diagnostics.first()) {
                    (RejectReason::Invalid, Some(first)) => {
                        let more = rejection.diagnostics.len() - 1;
                        if more > 0 {
                            format!("{first} (and {more} more)")
                        } else {
                            first.to_string()
                        }
                    }
                    _ => {
                        let text = rejection.to_string();
                        text.split_once(": ")
                            .map_or(text.clone(), |(_, rest)| rest.to_owned())
                    }
                };
                self.text(&format!(
                    "{} {} {}, still serving the previous revision: {detail}",
                    self.paint(style::DIM, &timestamp(rejection.at)),
                    self.paint(style::ERROR, "rejected"),
                    short(&rejection.revision),
                ))
            }
        }
    }

    fn source_error(&self, failure: &SourceFailure) -> std::io::Result<()> {
        let message = chain(&*failure.error);
        match self.format {
            WatchFormat::Json => self.line(&json!({
                "time": timestamp(failure.at),
                "event": "source-error",
                "message": message,
            })),
            WatchFormat::Text => {
                let mut stderr = anstream::stderr().lock();
                let warning = style::WARNING;
                writeln!(
                    stderr,
                    "{warning}warning{warning:#}: {message}; still serving the current revision"
                )
            }
        }
    }
}
