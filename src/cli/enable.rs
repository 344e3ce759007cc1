//! `flagctl enable`: the kill switch.

use crate::change::{Intent, parse_key};
use crate::cli::mutate::{ChangeArgs, execute};
use crate::cli::{CommandResult, Globals};

/// Turn a flag back on (the kill switch, undone)
///
/// Sets `enabled: true` in `overlays/ENV/KEY.yaml` (or the base without
/// `--env`), validates and commits. Does nothing when the flag is already
/// enabled there.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  flagctl enable new-checkout --env prod -m 'fix deployed (#4711)'
  flagctl enable new-checkout --env prod --yes --push     from a script")]
pub struct Args {
    /// The flag's key
    key: String,

    /// The environment (its overlay is changed); without it, the base
    #[arg(long, short, value_name = "ENV")]
    env: Option<String>,

    #[command(flatten)]
    change: ChangeArgs,
}

/// Runs `flagctl enable`.
pub fn run(globals: &Globals, args: &Args) -> CommandResult {
    execute(globals, &args.change, || {
        Ok(Intent::Switch {
            key: parse_key(&args.key)?,
            environment: args.env.clone(),
            enabled: true,
        })
    })
}
