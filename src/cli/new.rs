//! `flagctl new`: create a flag.

use clap::ValueEnum;

use crate::change::{Intent, NewFlag, parse_date, parse_key, parse_variant};
use crate::cli::mutate::{ChangeArgs, execute};
use crate::cli::{CommandResult, Globals};
use crate::model::FlagType;

/// The type of a new flag's values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    /// `true` / `false` (variants `on` and `off` unless given).
    Boolean,
    /// Strings.
    String,
    /// Numbers.
    Number,
    /// Any JSON value.
    Json,
}

/// Create a flag and commit it
///
/// Writes `base/KEY.yaml` (with a `yaml-language-server` schema modeline
/// when the schemas are found: the root's `schemas/`, else the nearest one
/// above it) and commits it. A boolean flag serves `off` until you roll it
/// out; other types need `--variant`s and serve the first (or `off`).
/// Refuses a key that exists.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  flagctl new new-checkout --description 'Rebuilt checkout' --owner payments --expires 2027-03-31
  flagctl new button-color --type string --variant blue='#1f6feb' --variant green='#2da44e'
  flagctl new rate-limit --type number --variant low=10 --variant high=100 -m 'for the EU launch'
Then:
  flagctl rollout new-checkout 10 --env prod")]
pub struct Args {
    /// The flag's key (letters, digits, `.`, `_`, `-`)
    key: String,

    /// The type of the values
    #[arg(long = "type", value_enum, default_value_t = Kind::Boolean)]
    kind: Kind,

    /// A variant as NAME=VALUE, VALUE read as YAML (repeat, in order)
    #[arg(long = "variant", value_name = "NAME=VALUE")]
    variants: Vec<String>,

    /// What the flag is for
    #[arg(long, value_name = "TEXT")]
    description: Option<String>,

    /// The team or person responsible
    #[arg(long, value_name = "OWNER")]
    owner: Option<String>,

    /// When the flag becomes stale (YYYY-MM-DD); `validate` warns after
    #[arg(long, value_name = "DATE")]
    expires: Option<String>,

    #[command(flatten)]
    change: ChangeArgs,
}

/// Runs `flagctl new`.
pub fn run(globals: &Globals, args: &Args) -> CommandResult {
    execute(globals, &args.change, || {
        Ok(Intent::New(NewFlag {
            key: parse_key(&args.key)?,
            kind: match args.kind {
                Kind::Boolean => FlagType::Boolean,
                Kind::String => FlagType::String,
                Kind::Number => FlagType::Number,
                Kind::Json => FlagType::Json,
            },
            variants: args
                .variants
                .iter()
                .map(|v| parse_variant(v))
                .collect::<Result<_, _>>()?,
            description: args.description.clone(),
            owner: args.owner.clone(),
            expires: args.expires.as_deref().map(parse_date).transpose()?,
        }))
    })
}
