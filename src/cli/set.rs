//! `flagctl set`: set or remove fields of a flag by path.

use crate::change::{Assignment, Intent, parse_assignment, parse_key};
use crate::cli::mutate::{ChangeArgs, execute};
use crate::cli::{CommandResult, Globals};
use crate::format::edit::Path;

/// Set or remove fields of a flag by path, and commit
///
/// Each FIELD=VALUE sets a field of `base/KEY.yaml`, or with `--env` of
/// `overlays/ENV/KEY.yaml` (created when missing). FIELD is a path
/// (`description`, `default.rollout.on`, `rules[0].serve`,
/// `variants."my.key"`); VALUE is read as a YAML scalar or flow collection
/// (`false`, `25`, `[a, b]`, `{ on: 50, off: 50 }`, `"quoted"`, `null`), and
/// anything else is a string. An empty VALUE is refused: `--unset FIELD`
/// removes a field, `FIELD=null` sets null (in an overlay: removes the
/// base's value in that environment), `FIELD='""'` sets an empty string.
/// Only the edited lines change; the result is validated before committing.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  flagctl set new-checkout description='Rebuilt checkout, one page'
  flagctl set new-checkout owner=payments tags='[checkout, q4]'
  flagctl set new-checkout rules[0].serve=off --env prod -m 'staff see the old flow too'
  flagctl set new-checkout --unset expires")]
pub struct Args {
    /// The flag's key
    key: String,

    /// FIELD=VALUE assignments, applied in order
    #[arg(value_name = "FIELD=VALUE", required_unless_present = "unset")]
    assignments: Vec<String>,

    /// Remove FIELD from the file (repeatable)
    #[arg(long, value_name = "FIELD")]
    unset: Vec<String>,

    /// Change the overlay of ENV instead of the base
    #[arg(long, short, value_name = "ENV")]
    env: Option<String>,

    #[command(flatten)]
    change: ChangeArgs,
}

/// Runs `flagctl set`.
pub fn run(globals: &Globals, args: &Args) -> CommandResult {
    execute(globals, &args.change, || {
        let mut assignments = args
            .assignments
            .iter()
            .map(|a| parse_assignment(a))
            .collect::<Result<Vec<_>, _>>()?;
        for field in &args.unset {
            assignments.push(Assignment {
                path: Path::parse(field)?,
                value: None,
            });
        }
        Ok(Intent::Set {
            key: parse_key(&args.key)?,
            environment: args.env.clone(),
            assignments,
        })
    })
}
