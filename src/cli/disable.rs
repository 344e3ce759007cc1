//! `flagctl disable`: the kill switch.

use crate::change::{Intent, parse_key};
use crate::cli::mutate::{ChangeArgs, execute};
use crate::cli::{CommandResult, Globals};

/// Turn a flag off: the kill switch
///
/// Sets `enabled: false` in `overlays/ENV/KEY.yaml` (or the base without
/// `--env`), validates and commits: everyone then gets the flag's
/// `off_variant` (`off` for boolean flags). One line changes; nothing else
/// is read but the flag's own files. Does nothing when it is already off.
/// A protected environment asks first on a terminal (`--yes` skips that).
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  flagctl disable new-checkout --env prod -m 'checkout errors (#4711)'
  flagctl disable new-checkout --env prod --yes --push     from a script or a pager alert
  flagctl disable new-checkout                             in every environment without its own `enabled`")]
pub struct Args {
    /// The flag's key
    key: String,

    /// The environment (its overlay is changed); without it, the base
    #[arg(long, short, value_name = "ENV")]
    env: Option<String>,

    #[command(flatten)]
    change: ChangeArgs,
}

/// Runs `flagctl disable`.
pub fn run(globals: &Globals, args: &Args) -> CommandResult {
    execute(globals, &args.change, || {
        Ok(Intent::Switch {
            key: parse_key(&args.key)?,
            environment: args.env.clone(),
            enabled: false,
        })
    })
}
