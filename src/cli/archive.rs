//! `flagctl archive`: remove a flag.

use crate::change::{Intent, parse_key};
use crate::cli::mutate::{ChangeArgs, execute};
use crate::cli::{CommandResult, Globals};

/// Remove a flag and its overlays, and commit
///
/// Deletes `base/KEY.yaml` and every `overlays/*/KEY.yaml` in one commit, after
/// checking that the rest of the configuration stays valid without it.
/// Applications asking for the flag then get their own default, so remove
/// it from the code first. Every environment is affected: protected ones ask
/// for confirmation (`--yes` in scripts). Git history keeps the files.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  flagctl archive legacy-export -m 'export v2 shipped in 4.12'
  flagctl archive legacy-export --dry-run")]
pub struct Args {
    /// The flag's key
    key: String,

    #[command(flatten)]
    change: ChangeArgs,
}

/// Runs `flagctl archive`.
pub fn run(globals: &Globals, args: &Args) -> CommandResult {
    execute(globals, &args.change, || {
        Ok(Intent::Archive {
            key: parse_key(&args.key)?,
        })
    })
}
