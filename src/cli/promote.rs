//! `flagctl promote`: make one environment serve a flag as another does.

use crate::change::{Intent, parse_key};
use crate::cli::mutate::{ChangeArgs, execute};
use crate::cli::{CommandResult, Globals};

/// Make an environment resolve a flag exactly as another does, and commit
///
/// Copies the overlay of `--from` into `--to` (with minimal edits when `--to`
/// has one, removing it when `--from` has none), so that afterwards the flag
/// resolves in `--to` exactly as in `--from`. The commit records both
/// (`Flagctl-Env: <to>`, `Flagctl-From: <from>`).
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  flagctl promote new-checkout --from staging --to prod -m 'a week in staging without errors'
  flagctl promote new-checkout --from staging --to prod --dry-run")]
pub struct Args {
    /// The flag's key
    key: String,

    /// The environment to copy from
    #[arg(long, value_name = "ENV")]
    from: String,

    /// The environment to change
    #[arg(long, value_name = "ENV")]
    to: String,

    #[command(flatten)]
    change: ChangeArgs,
}

/// Runs `flagctl promote`.
pub fn run(globals: &Globals, args: &Args) -> CommandResult {
    execute(globals, &args.change, || {
        Ok(Intent::Promote {
            key: parse_key(&args.key)?,
            from: args.from.clone(),
            to: args.to.clone(),
        })
    })
}
