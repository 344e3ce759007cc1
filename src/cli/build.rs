//! `flagctl build`: the resolved snapshot of one environment, as JSON.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::cli::root;
use crate::cli::{CommandResult, Globals, UserError};
use crate::format::snapshot::{SnapshotFile, SourceRevision};

/// Write the resolved snapshot of one environment as JSON
///
/// The snapshot holds the environment's flags and segments with overlays
/// applied, the bucketing contract, the source revision (commit id, and
/// whether the working tree was dirty) when the root is inside git, and a
/// sha256 digest of its canonical content. Applications load it with the
/// runtime client; it is refused when the environment has errors.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  flagctl build --env prod                   print the snapshot
  flagctl build --env prod -o prod.json      write it (atomically)
  flagctl build --env prod | jq .digest")]
pub struct Args {
    /// The environment to build
    #[arg(long, short, value_name = "ENV")]
    env: String,

    /// Write to FILE instead of standard output (atomically: all or nothing)
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
}

/// Runs `flagctl build`.
pub fn run(globals: &Globals, args: &Args) -> CommandResult {
    let root = root::open(globals)?;
    root.check_environment(&args.env)?;
    let diagnostics = root.diagnostics_for(Some(&args.env));
    if diagnostics.iter().any(|d| d.is_error()) {
        root.print_problems(&diagnostics, globals.color_stderr)?;
        return Err(UserError::new(format!(
            "cannot build `{}`: the flags have errors",
            args.env
        ))
        .help("fix them (see above), then build again")
        .into());
    }
    let Some(environment) = root.loaded.environments.get(&args.env) else {
        return Err(UserError::new(format!("environment `{}` did not resolve", args.env)).into());
    };
    let source = source_revision(&root.dir);
    let snapshot = SnapshotFile::new(environment, source);
    let text = snapshot.to_json_pretty();
    match &args.output {
        None => std::io::stdout().lock().write_all(text.as_bytes())?,
        Some(path) => {
            write_atomically(path, text.as_bytes()).map_err(|e| {
                anyhow::Error::new(e).context(format!("cannot write `{}`", path.display()))
            })?;
            let mut stderr = anstream::stderr().lock();
            writeln!(
                stderr,
                "wrote {} ({} flags, {})",
                path.display(),
                snapshot.flags.len(),
                snapshot.digest
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The commit the root was read at and whether it had uncommitted changes.
fn source_revision(dir: &Path) -> Option<SourceRevision> {
    let store = crate::store::Store::discover(dir).ok()?;
    let state = store.worktree_state().ok()?;
    let commit = match state.head {
        crate::store::Head::Branch { id, .. } => id?,
        crate::store::Head::Detached { id } => id,
    };
    Some(SourceRevision {
        commit: commit.to_string(),
        dirty: state.is_dirty(),
    })
}

/// Writes `bytes` to `path` through a temporary file in the same directory
/// and a rename, so readers see the old file or the new one, never half.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut temp = tempfile::NamedTempFile::new_in(dir)?;
    temp.write_all(bytes)?;
    temp.as_file().sync_all()?;
    temp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
