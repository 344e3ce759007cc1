//! `flagctl revert`: undo a flagctl change as a new commit.

use crate::change::Intent;
use crate::cli::mutate::{ChangeArgs, execute};
use crate::cli::{CommandResult, Globals};

/// Undo a flagctl change with a new commit
///
/// Restores every flag file COMMIT changed to its state before it, validates
/// and commits (`revert "<summary>"`, with `Flagctl-Reverts: <commit>`).
/// Refused when COMMIT is not a flagctl change (no `Flagctl-Action`
/// trailer: use `git revert`), is a merge or not on the current branch, or
/// when later commits changed the same files (revert those first).
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  flagctl revert HEAD -m 'rollout raised checkout errors'
  flagctl revert 1a2b3c4d                   ids: `git log --oneline -- flags/`
  flagctl revert 1a2b3c4d --dry-run")]
pub struct Args {
    /// The commit to undo (an id, `HEAD~2`, anything git understands)
    commit: String,

    #[command(flatten)]
    change: ChangeArgs,
}

/// Runs `flagctl revert`.
pub fn run(globals: &Globals, args: &Args) -> CommandResult {
    execute(globals, &args.change, || {
        Ok(Intent::Revert {
            revision: args.commit.clone(),
        })
    })
}
