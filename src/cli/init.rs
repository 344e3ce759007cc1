//! `flagctl init`: scaffold a flag root.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::cli::root::display_dir;
use crate::cli::{CommandResult, Globals, UserError};
use crate::format::CONFIG_FILE;
use crate::format::schema::DocumentKind;

/// Create a flag root (dev, staging and prod; prod protected; one example flag)
///
/// Writes `flagctl.yaml`, `base/`, `segments/`, `overlays/<env>/` and the
/// JSON Schemas editors use to complete and check the files. The root goes
/// into the git repository around DIR; when there is none, one is created
/// (`git init`). Refuses to touch an existing root.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  flagctl init                 create ./flags/ in this repository
  flagctl init config/flags    somewhere else
Then:
  git add flags && git commit -m 'Add flagctl'
  flagctl validate")]
pub struct Args {
    /// Where to create the root
    #[arg(default_value = "flags", value_name = "DIR")]
    dir: PathBuf,
}

const CONFIG: &str = "\
# yaml-language-server: $schema=schemas/config.schema.json
# The environments, in display order. Overlays live in overlays/<env>/.
environments: [dev, staging, prod]
# Changes to protected environments ask for confirmation (`--yes` in scripts).
protected: [prod]
# The bucketing contract (how rollouts assign users); never change it silently.
bucketing: v1
";

const EXAMPLE_FLAG: &str = "\
# yaml-language-server: $schema=../schemas/flag.schema.json
# An example flag: a kill switch with a gradual rollout. Try:
#   flagctl show example-feature
#   flagctl validate
key: example-feature
description: An example flag; rename or remove it
owner: your-team
type: boolean
enabled: true            # the kill switch: false serves `off` to everyone
off_variant: off
targets:                 # individual users, checked first
  on: [alice]
default:                 # everyone else: 10% get it
  rollout: { on: 10, off: 90 }
";

/// The files of a new root, relative to it.
fn scaffold() -> Vec<(String, String)> {
    let mut files = vec![
        (CONFIG_FILE.to_owned(), CONFIG.to_owned()),
        (
            "base/example-feature.yaml".to_owned(),
            EXAMPLE_FLAG.to_owned(),
        ),
        ("segments/.gitkeep".to_owned(), String::new()),
    ];
    for environment in ["dev", "staging", "prod"] {
        files.push((format!("overlays/{environment}/.gitkeep"), String::new()));
    }
    for (kind, name) in DocumentKind::ALL {
        files.push((format!("schemas/{name}"), kind.schema_text().to_owned()));
    }
    files
}

/// Runs `flagctl init`.
pub fn run(_globals: &Globals, args: &Args) -> CommandResult {
    let cwd = std::env::current_dir()?;
    let dir = cwd.join(&args.dir);
    if dir.join(CONFIG_FILE).exists() {
        return Err(UserError::new(format!(
            "`{}` is already a flag root",
            display_dir(&dir).display()
        ))
        .help("edit it, or choose another directory")
        .into());
    }
    if dir.exists() {
        let mut entries = std::fs::read_dir(&dir).map_err(|e| {
            anyhow::Error::new(e).context(format!("cannot read `{}`", dir.display()))
        })?;
        if !dir.is_dir() || entries.next().is_some() {
            return Err(UserError::new(format!(
                "`{}` exists and is not empty; refusing to write into it",
                display_dir(&dir).display()
            ))
            .help("choose an empty or new directory")
            .into());
        }
    }
    let parent = dir
        .parent()
        .ok_or_else(|| UserError::new("cannot create a flag root at the file system root"))?;
    std::fs::create_dir_all(parent)?;
    // Write everything next to the target, then move it into place: a
    // failure leaves nothing half-written.
    let staging = tempfile::Builder::new()
        .prefix(".flagctl-init-")
        .tempdir_in(parent)?;
    for (path, text) in scaffold() {
        let target = staging.path().join(&path);
        if let Some(directory) = target.parent() {
            std::fs::create_dir_all(directory)?;
        }
        std::fs::write(&target, text)?;
    }
    if dir.exists() {
        std::fs::remove_dir(&dir)?;
    }
    std::fs::rename(staging.path(), &dir)?;
    // The temporary directory is gone (renamed); don't let its guard remove anything.
    let _ = staging.keep();

    let repository = match crate::store::Store::discover(&dir) {
        Ok(_) => None,
        Err(_) => {
            let top = if dir.starts_with(&cwd) {
                cwd.clone()
            } else {
                dir.clone()
            };
            crate::store::init_repository(&top).map_err(|e| {
                anyhow::Error::new(e).context(format!(
                    "cannot create a git repository in `{}`",
                    top.display()
                ))
            })?;
            Some(top)
        }
    };
    let shown = display_dir(&dir);
    let mut stdout = std::io::stdout().lock();
    if let Some(top) = repository {
        writeln!(
            stdout,
            "initialized a git repository in {}",
            show_path(&display_dir(&top))
        )?;
    }
    writeln!(stdout, "created flag root {}", show_path(&shown))?;
    for (path, _) in scaffold() {
        if !path.ends_with(".gitkeep") {
            writeln!(stdout, "  {}", shown.join(&path).display())?;
        }
    }
    writeln!(
        stdout,
        "\nnext:\n  git add {0} && git commit -m 'Add flagctl'\n  flagctl validate",
        show_path(&shown)
    )?;
    Ok(ExitCode::SUCCESS)
}

fn show_path(path: &Path) -> String {
    if path.as_os_str().is_empty() {
        ".".to_owned()
    } else {
        path.display().to_string()
    }
}
