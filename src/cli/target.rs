//! `flagctl target`: individual users per variant.

use clap::ArgGroup;

use crate::change::{Intent, parse_ids, parse_key};
use crate::cli::mutate::{ChangeArgs, execute};
use crate::cli::{CommandResult, Globals};

/// Give individual users a variant (or stop), and commit
///
/// Adds or removes targeting keys in the flag's `targets` list for VARIANT;
/// targets are checked before rules and the default. With `--env` the
/// environment's overlay gets the list (starting from what the environment
/// resolves today, since overlays replace lists). Adding a key that is
/// already there, or removing one that is not, changes nothing.
#[derive(Debug, clap::Args)]
#[command(group(ArgGroup::new("which").required(true).multiple(true).args(["add", "remove"])))]
#[command(after_help = "\
Examples:
  flagctl target new-checkout on --add alice,bob
  flagctl target new-checkout on --remove carol --env prod
  flagctl target new-checkout off --add qa-bot --remove alice --env staging")]
pub struct Args {
    /// The flag's key
    key: String,

    /// The variant the targeting keys get
    variant: String,

    /// Targeting keys to add, comma-separated (repeatable)
    #[arg(long, value_name = "ID,…")]
    add: Vec<String>,

    /// Targeting keys to remove, comma-separated (repeatable)
    #[arg(long, value_name = "ID,…")]
    remove: Vec<String>,

    /// The environment (its overlay is changed); without it, the base
    #[arg(long, short, value_name = "ENV")]
    env: Option<String>,

    #[command(flatten)]
    change: ChangeArgs,
}

/// Runs `flagctl target`.
pub fn run(globals: &Globals, args: &Args) -> CommandResult {
    execute(globals, &args.change, || {
        Ok(Intent::Target {
            key: parse_key(&args.key)?,
            environment: args.env.clone(),
            variant: args.variant.clone(),
            add: parse_ids(&args.add),
            remove: parse_ids(&args.remove),
        })
    })
}
