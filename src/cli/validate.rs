//! `flagctl validate`: check every flag, segment and overlay.

use std::io::Write;
use std::process::ExitCode;

use crate::cli::output::{self, DiagnosticFormat, PathDisplay};
use crate::cli::root::{self, git_toplevel};
use crate::cli::{CommandResult, Globals};
use crate::diagnostic::Summary;

/// Check every flag, segment and overlay
///
/// Parses every file of the flag root, checks it against its JSON Schema and
/// the semantic rules (references, weights, operators, overlays per
/// environment), and reports every problem with its file, line and column.
/// Exits 0 when there is no error (warnings allowed), 1 otherwise.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  flagctl validate                       every environment, human output
  flagctl validate --env prod            only what affects prod
  flagctl validate --format json | jq .  machine-readable diagnostics
  flagctl validate --format github       annotations on a pull request (see .github/workflows/flags.yml)")]
pub struct Args {
    /// Check only ENV (problems of other environments are left out)
    #[arg(long, short, value_name = "ENV")]
    env: Option<String>,

    /// Output format
    #[arg(long, value_enum, default_value_t = DiagnosticFormat::Text)]
    format: DiagnosticFormat,
}

/// Runs `flagctl validate`.
pub fn run(globals: &Globals, args: &Args) -> CommandResult {
    let root = root::open(globals)?;
    if let Some(environment) = &args.env {
        root.check_environment(environment)?;
    }
    let diagnostics = root.diagnostics_for(args.env.as_deref());
    let summary = Summary::of(&diagnostics);
    match args.format {
        DiagnosticFormat::Text => {
            let mut stderr = anstream::stderr().lock();
            stderr.write_all(
                output::render_text(&diagnostics, &root.files, &root.paths, globals.color_stderr)
                    .as_bytes(),
            )?;
            if summary.errors > 0 || summary.warnings > 0 {
                writeln!(
                    stderr,
                    "{}",
                    output::summary_line(&summary, globals.color_stderr)
                )?;
            }
            if summary.errors == 0 {
                let flags = root.loaded.flag_keys().count();
                let environments = args
                    .env
                    .as_ref()
                    .map_or(root.loaded.environment_names().len(), |_| 1);
                let ok = output::style::OK;
                let ok = if globals.color_stderr {
                    ok
                } else {
                    anstyle::Style::new()
                };
                writeln!(
                    stderr,
                    "{ok}valid{ok:#}: {} ({flags} flag{}, {} segment{}, {environments} environment{})",
                    if root.paths.root.as_os_str().is_empty() {
                        ".".to_owned()
                    } else {
                        root.paths.root.display().to_string()
                    },
                    if flags == 1 { "" } else { "s" },
                    root.loaded.segments.len(),
                    if root.loaded.segments.len() == 1 {
                        ""
                    } else {
                        "s"
                    },
                    if environments == 1 { "" } else { "s" },
                )?;
            }
        }
        DiagnosticFormat::Json => {
            let document = output::DiagnosticsJson {
                valid: summary.errors == 0,
                root: root
                    .paths
                    .show(std::path::Path::new(""))
                    .trim_end_matches('/')
                    .to_owned(),
                summary,
                diagnostics: &diagnostics,
            };
            std::io::stdout()
                .lock()
                .write_all(output::json_pretty(&document).as_bytes())?;
        }
        DiagnosticFormat::Github => {
            // Paths relative to the repository top, as GitHub expects.
            let top = git_toplevel(&root.dir);
            let relative = top
                .as_deref()
                .and_then(|t| root.dir.strip_prefix(t).ok())
                .map_or_else(|| root.paths.root.clone(), std::path::Path::to_path_buf);
            let paths = PathDisplay { root: relative };
            std::io::stdout()
                .lock()
                .write_all(output::render_github(&diagnostics, &paths).as_bytes())?;
        }
    }
    Ok(if summary.errors > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
