//! `flagctl split`: weights over several variants (an A/B test).

use crate::change::{Intent, parse_key, parse_weights};
use crate::cli::mutate::{ChangeArgs, execute};
use crate::cli::{CommandResult, Globals};

/// Split traffic between variants by weight, and commit
///
/// Sets what the flag serves by default to a rollout with these weights
/// (percentages with up to 3 decimals, adding up to exactly 100; variants
/// left out get nothing). When the variants are those of the current
/// rollout their order, and so every user's bucket, is kept.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  flagctl split checkout-button-color blue=34 green=33 orange=33 --env prod
  flagctl split pricing-page-v3 control=50 annual=25 monthly=25 --by account_id
  flagctl split checkout-button-color blue=100 --env prod -m 'blue won'")]
pub struct Args {
    /// The flag's key
    key: String,

    /// VARIANT=WEIGHT pairs, adding up to 100
    #[arg(value_name = "VARIANT=WEIGHT", required = true)]
    weights: Vec<String>,

    /// Bucket users by this context attribute instead of the targeting key
    #[arg(long, value_name = "ATTR")]
    by: Option<String>,

    /// The environment (its overlay is changed); without it, the base
    #[arg(long, short, value_name = "ENV")]
    env: Option<String>,

    #[command(flatten)]
    change: ChangeArgs,
}

/// Runs `flagctl split`.
pub fn run(globals: &Globals, args: &Args) -> CommandResult {
    execute(globals, &args.change, || {
        Ok(Intent::Split {
            key: parse_key(&args.key)?,
            environment: args.env.clone(),
            weights: parse_weights(&args.weights)?,
            by: args.by.clone(),
        })
    })
}
