//! What every mutating command shares on the terminal side: the common
//! options (`-m`, `--author`, `--dry-run`, `--yes`, `--push`, `--format`),
//! confirmation for protected environments, the preview (per environment
//! the resolved flag's changed fields and rollout impact from
//! [`crate::diff`], then the unified file diffs) and the report of the
//! commit. The change itself
//! is made by [`crate::change::Pipeline`].

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use clap::ValueEnum;
use serde::Serialize;

use crate::change::{
    ChangeError, Committed, Effect, Intent, Options, Outcome, Pipeline, Preparation, Prepared,
};
use crate::cli::changes;
use crate::cli::output::{self, PathDisplay, style};
use crate::cli::root;
use crate::cli::{CommandResult, Globals, UserError};
use crate::store::{Author, Store, StoreError, WorktreeSync};

/// Text or JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ChangeFormat {
    /// For people.
    Text,
    /// For scripts: the commit id, summary, files and environment.
    Json,
}

/// The options every command that changes flags takes.
#[derive(Debug, clap::Args)]
#[command(next_help_heading = "Committing")]
pub struct ChangeArgs {
    /// Why: becomes the commit message's body
    #[arg(long, short = 'm', visible_alias = "message", value_name = "TEXT")]
    reason: Option<String>,

    /// Author the commit as "Name <email>" (default: git's configured identity)
    #[arg(long, value_name = "NAME <EMAIL>")]
    author: Option<String>,

    /// Show the change and what it affects; write nothing
    #[arg(long)]
    dry_run: bool,

    /// Confirm a change to a protected environment without asking (required when not on a terminal)
    #[arg(long, short = 'y')]
    yes: bool,

    /// Push the commit with `git push`, re-applying it on the remote's tip when the remote moved
    #[arg(long)]
    push: bool,

    /// The remote to push to (default: the branch's push remote, else `origin`)
    #[arg(long, value_name = "NAME", requires = "push")]
    remote: Option<String>,

    /// Output format
    #[arg(long, value_enum, default_value_t = ChangeFormat::Text)]
    format: ChangeFormat,
}

/// Turns a library error into what the user sees: the diagnostics it
/// carries (rendered against the in-memory files), then a one-line error
/// with a `help:` line.
pub fn report_change_error(error: ChangeError, paths: &PathDisplay, color: bool) -> anyhow::Error {
    if let Some((diagnostics, files)) = error.diagnostics()
        && !diagnostics.is_empty()
    {
        let mut stderr = anstream::stderr().lock();
        let _ = stderr.write_all(output::render_text(diagnostics, files, paths, color).as_bytes());
        let summary = crate::diagnostic::Summary::of(diagnostics);
        let _ = writeln!(stderr, "{}", output::summary_line(&summary, color));
    }
    if let Some(output) = error.git_output()
        && !output.trim().is_empty()
    {
        let mut stderr = anstream::stderr().lock();
        for line in output.trim_end().lines() {
            let _ = writeln!(stderr, "  git: {line}");
        }
    }
    let mut message = error.to_string();
    if let ChangeError::Invalid { preexisting, .. } = &error
        && *preexisting > 0
    {
        message.push_str(&format!(
            " ({preexisting} other {} on the branch are not this change's)",
            plural(*preexisting, "error")
        ));
    }
    let mut user = UserError::new(message);
    if let Some(help) = error.help() {
        user = user.help(help);
    }
    if matches!(error, ChangeError::Unexpected { .. }) {
        user.code = 101;
    }
    user.into()
}

fn store_error(error: StoreError) -> anyhow::Error {
    let mut user = UserError::new(error.to_string());
    if let Some(help) = error.help() {
        user = user.help(help);
    }
    user.into()
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        word.to_owned()
    } else {
        format!("{word}s")
    }
}

/// Runs one mutating command: `intent` builds what the command asks for
/// from its arguments (bad input fails before the repository is opened).
pub fn execute(
    globals: &Globals,
    args: &ChangeArgs,
    intent: impl FnOnce() -> Result<Intent, ChangeError>,
) -> CommandResult {
    let plain = PathDisplay {
        root: std::path::PathBuf::new(),
    };
    let intent = intent().map_err(|e| report_change_error(e, &plain, globals.color_stderr))?;
    let author = args
        .author
        .as_deref()
        .map(Author::parse)
        .transpose()
        .map_err(store_error)?;
    let dir = root::locate(globals)?;
    let paths = PathDisplay {
        root: root::display_dir(&dir),
    };
    let store = Store::discover(&dir).map_err(store_error)?;
    let pipeline = Pipeline::new(
        &store,
        Options {
            author,
            reason: args.reason.clone(),
            load: root::load_options(globals),
            ..Options::default()
        },
    );
    let fail = |e: ChangeError| report_change_error(e, &paths, globals.color_stderr);
    let prepared = match pipeline.prepare(&intent).map_err(fail)? {
        Preparation::Unchanged(reason) => return unchanged(args, &reason),
        Preparation::Change(prepared) => *prepared,
    };
    print_warnings(&prepared, &paths, globals.color_stderr)?;

    if args.dry_run {
        return dry_run(globals, args, &pipeline, &prepared);
    }
    if !prepared.protected.is_empty() && !args.yes {
        confirm(&prepared, globals)?;
    }

    let committed = match pipeline.commit(&intent, prepared).map_err(fail)? {
        Outcome::Unchanged(reason) => return unchanged(args, &reason),
        Outcome::Committed(committed) => *committed,
    };
    let committed = if args.push {
        let remote = match &args.remote {
            Some(remote) => remote.clone(),
            None => store
                .push_remote(&committed.branch)
                .map_err(store_error)?
                .unwrap_or_else(|| "origin".to_owned()),
        };
        match pipeline.push(&intent, committed, &remote) {
            Ok(committed) => committed,
            Err(error) => return Err(fail(error)),
        }
    } else {
        committed
    };
    report(globals, args, &committed)
}

fn unchanged(args: &ChangeArgs, reason: &str) -> CommandResult {
    match args.format {
        ChangeFormat::Json => {
            let json = serde_json::json!({
                "committed": false,
                "dry_run": args.dry_run,
                "unchanged": reason,
            });
            std::io::stdout()
                .lock()
                .write_all(output::json_pretty(&json).as_bytes())?;
        }
        ChangeFormat::Text => {
            writeln!(anstream::stderr().lock(), "nothing to change: {reason}")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_warnings(prepared: &Prepared, paths: &PathDisplay, color: bool) -> std::io::Result<()> {
    let mut stderr = anstream::stderr().lock();
    if !prepared.warnings.is_empty() {
        stderr.write_all(
            output::render_text(&prepared.warnings, &prepared.after_files, paths, color).as_bytes(),
        )?;
    }
    if prepared.preexisting_errors > 0 {
        let warning = style::WARNING;
        let (on, off) = if color {
            (format!("{warning}"), format!("{warning:#}"))
        } else {
            (String::new(), String::new())
        };
        writeln!(
            stderr,
            "{on}warning{off}: the branch already has {} {} in files this change does not touch; run `flagctl validate`",
            prepared.preexisting_errors,
            plural(prepared.preexisting_errors, "error")
        )?;
    }
    Ok(())
}

/// The unified diff of the change's files, paths from the repository's top.
pub fn unified_diff(prepared: &Prepared, color: bool) -> String {
    prepared
        .files
        .iter()
        .map(|file| {
            changes::unified_diff(
                &file.repo_path,
                &file.repo_path,
                file.before.as_deref().map(str::as_bytes),
                file.after.as_deref().map(str::as_bytes),
                color,
            )
        })
        .collect()
}

/// What the change does, environment by environment: the resolved flag's
/// changed fields and who gets another variant (as `flagctl diff` shows
/// them).
fn semantic(prepared: &Prepared, color: bool) -> String {
    let mut out = String::new();
    let mut current: Option<&str> = None;
    for effect in &prepared.effects {
        if current != Some(effect.environment.as_str()) {
            current = Some(&effect.environment);
            if !out.is_empty() {
                out.push('\n');
            }
            let protected = if effect.protected { " (protected)" } else { "" };
            out.push_str(&format!(
                "{}{protected}\n",
                changes::paint(color, style::HEADING, &effect.environment)
            ));
        }
        flag_block(effect, color, &mut out);
    }
    out
}

fn flag_block(effect: &Effect, color: bool, out: &mut String) {
    let fields = effect.changes();
    let (sign, sign_style, note) = match (&effect.before, &effect.after) {
        (None, _) => ("+", changes::style::ADDED, " (added)"),
        (_, None) => ("-", changes::style::REMOVED, " (removed)"),
        _ => ("~", anstyle::Style::new(), ""),
    };
    out.push_str(&format!(
        "  {} {}{note}\n",
        changes::paint(color, sign_style, sign),
        changes::paint(color, style::HEADING, effect.flag.as_str())
    ));
    match (&effect.before, &effect.after) {
        (_, None) => {}
        (None, Some(_)) => out.push_str(&format!(
            "      {}\n",
            changes::paint(
                color,
                changes::style::ADDED,
                &changes::created_summary(&fields)
            )
        )),
        _ => {
            for line in changes::field_lines(&fields, color) {
                out.push_str(&format!("      {line}\n"));
            }
        }
    }
    if let Some(impact) = effect.impact() {
        for line in changes::impact_lines(&impact, color) {
            out.push_str(&format!("      {line}\n"));
        }
    }
}

fn preview(prepared: &Prepared, color: bool) -> String {
    let mut out = format!(
        "{}\n",
        changes::paint(color, style::HEADING, &prepared.plan.summary)
    );
    let semantic = semantic(prepared, color);
    if !semantic.is_empty() {
        out.push('\n');
        out.push_str(&semantic);
    }
    out.push('\n');
    out.push_str(&unified_diff(prepared, color));
    out
}

#[derive(Serialize)]
struct ChangeJson<'a> {
    committed: bool,
    dry_run: bool,
    commit: Option<String>,
    branch: &'a str,
    summary: &'a str,
    action: &'a str,
    flag: Option<&'a str>,
    environment: Option<&'a str>,
    files: Vec<&'a str>,
    environments: Vec<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pushed: Option<PushedJson<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    diff: Option<String>,
    /// What each environment resolves differently: fields and impact.
    effects: Vec<EffectJson<'a>>,
}

#[derive(Serialize)]
struct EffectJson<'a> {
    environment: &'a str,
    flag: &'a str,
    protected: bool,
    status: &'static str,
    changes: Vec<crate::diff::FieldChange>,
    #[serde(skip_serializing_if = "Option::is_none")]
    impact: Option<crate::diff::Impact>,
}

#[derive(Serialize)]
struct PushedJson<'a> {
    remote: &'a str,
    attempts: u32,
}

fn change_json<'a>(prepared: &'a Prepared, dry_run: bool) -> ChangeJson<'a> {
    let mut environments: Vec<&str> = Vec::new();
    for effect in &prepared.effects {
        if !environments.contains(&effect.environment.as_str()) {
            environments.push(&effect.environment);
        }
    }
    ChangeJson {
        committed: false,
        dry_run,
        commit: None,
        branch: &prepared.branch,
        summary: &prepared.plan.summary,
        action: prepared.plan.action.as_str(),
        flag: prepared.plan.flag.as_ref().map(|f| f.as_str()),
        environment: prepared.plan.environment.as_deref(),
        files: prepared
            .files
            .iter()
            .map(|f| f.repo_path.as_str())
            .collect(),
        environments,
        pushed: None,
        message: None,
        diff: None,
        effects: prepared
            .effects
            .iter()
            .map(|effect| EffectJson {
                environment: &effect.environment,
                flag: effect.flag.as_str(),
                protected: effect.protected,
                status: match (&effect.before, &effect.after) {
                    (None, _) => "added",
                    (_, None) => "removed",
                    _ => "changed",
                },
                changes: effect.changes(),
                impact: effect.impact(),
            })
            .collect(),
    }
}

fn dry_run(
    globals: &Globals,
    args: &ChangeArgs,
    pipeline: &Pipeline<'_>,
    prepared: &Prepared,
) -> CommandResult {
    let mut stdout = anstream::stdout().lock();
    match args.format {
        ChangeFormat::Json => {
            let message = pipeline.message(&prepared.plan);
            let mut json = change_json(prepared, true);
            json.message = Some(&message);
            json.diff = Some(unified_diff(prepared, false));
            stdout.write_all(output::json_pretty(&json).as_bytes())?;
        }
        ChangeFormat::Text => {
            stdout.write_all(preview(prepared, globals.color_stdout).as_bytes())?;
            drop(stdout);
            let mut note = String::from("dry run: nothing was written");
            if !prepared.protected.is_empty() {
                note.push_str(&format!(
                    " (`{}` is protected: committing needs confirmation or --yes)",
                    prepared.protected.join("`, `")
                ));
            }
            writeln!(anstream::stderr().lock(), "{note}")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Asks on the terminal before changing a protected environment; refuses
/// without a terminal.
fn confirm(prepared: &Prepared, globals: &Globals) -> anyhow::Result<()> {
    let names = format!("`{}`", prepared.protected.join("`, `"));
    let terminal = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    if !terminal {
        let named = prepared
            .plan
            .environment
            .as_ref()
            .is_some_and(|e| prepared.protected == [e.clone()]);
        let message = if named {
            format!("{names} is protected: this change needs confirmation")
        } else {
            format!("this change alters what protected {names} serves: it needs confirmation")
        };
        return Err(UserError::new(message)
            .help("run it again with `--yes`, or see the change first with `--dry-run`")
            .into());
    }
    let mut stderr = anstream::stderr().lock();
    stderr.write_all(preview(prepared, globals.color_stderr).as_bytes())?;
    write!(stderr, "\nCommit this change to protected {names}? [y/N] ")?;
    stderr.flush()?;
    drop(stderr);
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if matches!(answer.trim().to_lowercase().as_str(), "y" | "yes") {
        Ok(())
    } else {
        Err(UserError::new("cancelled: nothing was written").into())
    }
}

fn report(globals: &Globals, args: &ChangeArgs, committed: &Committed) -> CommandResult {
    let short: String = committed.id.to_string().chars().take(12).collect();
    match args.format {
        ChangeFormat::Json => {
            let id = committed.id.to_string();
            let mut json = change_json(&committed.prepared, false);
            json.committed = true;
            json.commit = Some(id);
            json.files = committed.files.iter().map(String::as_str).collect();
            json.message = Some(&committed.message);
            json.pushed = committed.pushed.as_ref().map(|p| PushedJson {
                remote: &p.remote,
                attempts: p.attempts,
            });
            std::io::stdout()
                .lock()
                .write_all(output::json_pretty(&json).as_bytes())?;
        }
        ChangeFormat::Text => {
            let mut stdout = anstream::stdout().lock();
            let (on, off) = if globals.color_stdout {
                let s = anstyle::AnsiColor::Yellow.on_default();
                (format!("{s}"), format!("{s:#}"))
            } else {
                (String::new(), String::new())
            };
            writeln!(
                stdout,
                "[{} {on}{short}{off}] {}",
                committed.branch, committed.summary
            )?;
            drop(stdout);
            let mut stderr = anstream::stderr().lock();
            if matches!(
                committed.prepared.plan.action,
                crate::change::Action::Disable | crate::change::Action::Enable
            ) {
                // The kill switch says at once what everyone now gets.
                for effect in &committed.prepared.effects {
                    let protected = if effect.protected { " (protected)" } else { "" };
                    for line in effect.impact().map(|i| i.summary).unwrap_or_default() {
                        writeln!(stderr, "{}{protected}: {line}", effect.environment)?;
                    }
                }
            }
            if let Some(pushed) = &committed.pushed {
                let again = if pushed.attempts > 1 {
                    format!(
                        " (the remote had moved: re-applied on its tip, {} pushes)",
                        pushed.attempts
                    )
                } else {
                    String::new()
                };
                writeln!(
                    stderr,
                    "pushed `{}` to `{}`{again}",
                    committed.branch, pushed.remote
                )?;
            }
        }
    }
    if let WorktreeSync::Failed(error) = &committed.worktree {
        let mut stderr = anstream::stderr().lock();
        writeln!(
            stderr,
            "warning: the commit landed, but the working tree was not updated ({error}); run `git restore --staged --worktree -- {}`",
            committed.files.join(" ")
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
