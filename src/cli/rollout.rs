//! `flagctl rollout`: a percentage rollout between two variants.

use crate::change::{Intent, parse_key, parse_percent};
use crate::cli::mutate::{ChangeArgs, execute};
use crate::cli::{CommandResult, Globals};

/// Roll a variant out to a percentage of users, and commit
///
/// Sets what the flag serves by default to a rollout giving VARIANT (default
/// `on`, else the first variant) PERCENT and the other variant the rest. For
/// flags with more than two variants use `flagctl split`. Users are bucketed
/// by the targeting key (or `--by ATTR`); raising the percentage keeps
/// everyone who had the variant. PERCENT is 0–100 with up to 3 decimals.
/// On a commented file exactly one line changes.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  flagctl rollout new-checkout 25 --env prod -m 'error budget held for a week'
  flagctl rollout new-checkout 0.5 --env prod --by company_id
  flagctl rollout new-checkout 25 --env prod --dry-run      see the diff first
  flagctl rollout checkout-theme 10 --variant dark --env staging")]
pub struct Args {
    /// The flag's key
    key: String,

    /// The share of users who get VARIANT, in percent (`25`, `12.5`, `0.001`)
    #[arg(allow_hyphen_values = true)]
    percent: String,

    /// The variant to roll out (default: `on`, else the flag's first variant)
    #[arg(long, value_name = "VARIANT")]
    variant: Option<String>,

    /// Bucket users by this context attribute instead of the targeting key
    #[arg(long, value_name = "ATTR")]
    by: Option<String>,

    /// The environment (its overlay is changed); without it, the base
    #[arg(long, short, value_name = "ENV")]
    env: Option<String>,

    #[command(flatten)]
    change: ChangeArgs,
}

/// Runs `flagctl rollout`.
pub fn run(globals: &Globals, args: &Args) -> CommandResult {
    execute(globals, &args.change, || {
        Ok(Intent::Rollout {
            key: parse_key(&args.key)?,
            environment: args.env.clone(),
            percent: parse_percent(&args.percent)?,
            variant: args.variant.clone(),
            by: args.by.clone(),
        })
    })
}
