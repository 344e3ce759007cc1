//! The `flagctl` command-line interface: argument parsing, one file per
//! subcommand (an `Args` struct and a `run` function), rendering, and the one
//! place that maps errors to exit codes (0 ok, 1 failure, 2 usage, 101 bug).
//!
//! This is the only module that prints, reads environment variables or
//! exits; the library below it takes configuration explicitly.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

mod archive;
mod build;
pub(crate) mod changes;
mod diff;
mod disable;
mod enable;
mod eval;
mod init;
mod list;
mod log;
pub(crate) mod mutate;
mod new;
pub(crate) mod output;
mod promote;
mod revert;
mod rollout;
pub(crate) mod root;
mod serve;
mod set;
pub(crate) mod show;
pub(crate) mod source;
mod split;
mod target;
mod validate;
mod watch;

pub use output::ColorWhen;

/// An error that the user can act on: a message, an optional help line, and
/// the exit code (1 unless said otherwise).
#[derive(Debug)]
pub struct UserError {
    /// What went wrong, one sentence.
    pub message: String,
    /// What to do next.
    pub help: Option<String>,
    /// The exit code.
    pub code: u8,
}

impl UserError {
    /// A failure (exit 1).
    pub fn new(message: impl Into<String>) -> UserError {
        UserError {
            message: message.into(),
            help: None,
            code: 1,
        }
    }

    /// Adds a help line.
    #[must_use]
    pub fn help(mut self, help: impl Into<String>) -> UserError {
        self.help = Some(help.into());
        self
    }

    /// A usage error (exit 2).
    #[must_use]
    pub fn usage(mut self) -> UserError {
        self.code = 2;
        self
    }
}

impl std::fmt::Display for UserError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for UserError {}

/// What a subcommand returns: an exit code, or an error to report.
pub type CommandResult = anyhow::Result<ExitCode>;

const EXAMPLES: &str = "\
Examples:
  flagctl validate                      check every flag, segment and overlay
  flagctl list --env prod               what prod serves
  flagctl show new-checkout             one flag, all environments side by side
  flagctl eval new-checkout --env prod --user user-42 --explain   what a user gets, and why
  flagctl build --env prod -o prod.json the snapshot applications load
  flagctl diff                          uncommitted changes, per environment
  flagctl log new-checkout              who changed a flag, where, how and why
  flagctl rollout new-checkout 25 --env prod -m 'errors flat at 10%'   one minimal edit, one commit
  flagctl disable new-checkout --env prod   the kill switch
  flagctl watch --env prod              follow the current branch like an application
  flagctl serve --env prod              the relay: OFREP over HTTP for every language

Exit codes: 0 ok, 1 failure (invalid flags, refused change), 2 usage error.
FLAGCTL_TODAY=YYYY-MM-DD pins the date `expires` is compared with (tests, reproducible CI).
Docs: docs/format.md (file format), docs/bucketing.md (rollouts).";

/// Feature flags as code: YAML in git, validated, diffed, committed
#[derive(Debug, Parser)]
#[command(name = "flagctl", version, about, after_help = EXAMPLES, max_term_width = 100)]
pub struct Cli {
    /// Use the flag root at DIR instead of searching upward from the current directory
    ///
    /// The search takes the nearest directory holding `flagctl.yaml`, or whose
    /// `flags/` child does.
    #[arg(long, global = true, value_name = "DIR", env = "FLAGCTL_ROOT")]
    pub root: Option<PathBuf>,

    /// When to use colours: auto (a terminal, and NO_COLOR unset), always, never
    #[arg(long, global = true, value_enum, default_value_t = ColorWhen::Auto, value_name = "WHEN")]
    pub color: ColorWhen,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Init(init::Args),
    Validate(validate::Args),
    List(list::Args),
    Show(show::Args),
    Eval(eval::Args),
    Build(build::Args),
    Diff(diff::Args),
    Log(log::Args),
    New(new::Args),
    Set(set::Args),
    Enable(enable::Args),
    Disable(disable::Args),
    Rollout(rollout::Args),
    Split(split::Args),
    Target(target::Args),
    Promote(promote::Args),
    Revert(revert::Args),
    Archive(archive::Args),
    Watch(watch::Args),
    Serve(serve::Args),
}

/// Global options every subcommand sees.
#[derive(Debug, Clone)]
pub struct Globals {
    /// `--root`.
    pub root: Option<PathBuf>,
    /// Whether stdout gets colours.
    pub color_stdout: bool,
    /// Whether stderr gets colours.
    pub color_stderr: bool,
    /// Today's date, which `expires` is compared with: `FLAGCTL_TODAY`, or
    /// the system clock's date in UTC.
    pub today: jiff::civil::Date,
}

/// The variable that pins "today" (for tests and reproducible CI).
pub const TODAY_VARIABLE: &str = "FLAGCTL_TODAY";

/// Today's date: `FLAGCTL_TODAY` (`YYYY-MM-DD`) when set, else the system
/// clock's date in UTC. The one place flagctl reads the date.
fn today() -> Result<jiff::civil::Date, UserError> {
    match std::env::var_os(TODAY_VARIABLE) {
        None => Ok(jiff::Timestamp::now()
            .to_zoned_datetime(jiff::tz::TimeZone::UTC)
            .date()),
        Some(value) => {
            let text = value.to_string_lossy();
            text.parse::<jiff::civil::Date>().map_err(|_| {
                UserError::new(format!(
                    "invalid `{TODAY_VARIABLE}` value `{text}`: expected a date like `2026-11-24`"
                ))
                .help(format!(
                    "set `{TODAY_VARIABLE}` to a date (YYYY-MM-DD), or unset it to use the system clock"
                ))
                .usage()
            })
        }
    }
}

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return match error.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    ExitCode::SUCCESS
                }
                _ => ExitCode::from(2),
            };
        }
    };
    output::init_color(cli.color);
    let today = match today() {
        Ok(today) => today,
        Err(error) => return report(&anyhow::Error::new(error)),
    };
    let globals = Globals {
        root: cli.root.clone(),
        color_stdout: output::color_enabled(cli.color, output::Stream::Stdout),
        color_stderr: output::color_enabled(cli.color, output::Stream::Stderr),
        today,
    };
    let result = match cli.command {
        Command::Init(args) => init::run(&globals, &args),
        Command::Validate(args) => validate::run(&globals, &args),
        Command::List(args) => list::run(&globals, &args),
        Command::Show(args) => show::run(&globals, &args),
        Command::Eval(args) => eval::run(&globals, &args),
        Command::Build(args) => build::run(&globals, &args),
        Command::Diff(args) => diff::run(&globals, &args),
        Command::Log(args) => log::run(&globals, &args),
        Command::New(args) => new::run(&globals, &args),
        Command::Set(args) => set::run(&globals, &args),
        Command::Enable(args) => enable::run(&globals, &args),
        Command::Disable(args) => disable::run(&globals, &args),
        Command::Rollout(args) => rollout::run(&globals, &args),
        Command::Split(args) => split::run(&globals, &args),
        Command::Target(args) => target::run(&globals, &args),
        Command::Promote(args) => promote::run(&globals, &args),
        Command::Revert(args) => revert::run(&globals, &args),
        Command::Archive(args) => archive::run(&globals, &args),
        Command::Watch(args) => watch::run(&globals, &args),
        Command::Serve(args) => serve::run(&globals, &args),
    };
    match result {
        Ok(code) => code,
        Err(error) => report(&error),
    }
}

/// Prints an error the way every command does and returns its exit code.
fn report(error: &anyhow::Error) -> ExitCode {
    if let Some(io_error) = error.downcast_ref::<io::Error>()
        && io_error.kind() == io::ErrorKind::BrokenPipe
    {
        return ExitCode::SUCCESS;
    }
    let mut stderr = anstream::stderr().lock();
    let red = output::style::ERROR;
    let _ = write!(stderr, "{red}error{red:#}: {error}");
    let mut code = 1;
    if let Some(user) = error.downcast_ref::<UserError>() {
        let _ = writeln!(stderr);
        if let Some(help) = &user.help {
            let help_style = output::style::HELP;
            let _ = writeln!(stderr, "{help_style}help{help_style:#}: {help}");
        }
        code = user.code;
    } else {
        for cause in error.chain().skip(1) {
            let _ = write!(stderr, ": {cause}");
        }
        let _ = writeln!(stderr);
    }
    ExitCode::from(code)
}

/// The clap command, for completions and man pages.
pub fn command() -> clap::Command {
    Cli::command()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
