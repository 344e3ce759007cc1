//! `flagctl diff`: what changed between two revisions (or the working tree),
//! or between two environments, as each environment resolves its flags.

use std::io::Write;
use std::process::ExitCode;

use clap::ValueEnum;
use serde::Serialize;

use crate::cli::changes::{self, paint, style};
use crate::cli::root;
use crate::cli::{CommandResult, Globals, UserError};
use crate::diff::{
    DocumentDiff, EnvironmentDiff, FileChange, FlagDiff, RootDiff, Status, compare_environments,
    compare_roots, config_environments,
};
use crate::format::{CONFIG_FILE, RootFiles};
use crate::store::{Store, StoreError};

/// The output formats of `diff`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DiffFormat {
    /// For people: per environment, then the file diffs.
    Text,
    /// For scripts.
    Json,
    /// A pull request comment: a section per environment, tables, impact, diffs.
    Markdown,
}

/// Show what changed, per environment, as each resolves its flags
///
/// Compares the working tree with HEAD (default), the working tree with REV,
/// or revision A with revision B (`A..B`). For each environment: the flags
/// that resolve differently (base + overlay), field by field, and who gets
/// another variant (counted exactly from the rollout's bucket ranges); then
/// segment changes and the unified diff of each changed file.
///
/// With two `--env`, compares the two environments instead: how the second
/// resolves each flag against the first, in the working tree (or at REV).
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  flagctl diff                                uncommitted changes against HEAD
  flagctl diff HEAD~3                         the working tree against HEAD~3
  flagctl diff main..feature --env prod       what a branch changes in prod
  flagctl diff --env staging --env prod       how prod differs from staging
  flagctl diff origin/main..HEAD --format markdown > comment.md
  flagctl diff --exit-code                    exit 1 when something changed (CI)")]
pub struct Args {
    /// A revision to compare the working tree with, or a range A..B (default: HEAD)
    revision: Option<String>,

    /// Only ENV; give two to compare two environments
    #[arg(long, short, value_name = "ENV")]
    env: Vec<String>,

    /// Output format
    #[arg(long, value_enum, default_value_t = DiffFormat::Text)]
    format: DiffFormat,

    /// Exit with 1 when there are differences, 0 when there are none
    #[arg(long)]
    exit_code: bool,
}

/// How the two sides are named and how file paths are shown.
struct Sides {
    from: String,
    to: String,
    /// The root's path from the top of the repository (`flags`), for file headers.
    prefix: String,
}

impl Sides {
    fn show(&self, path: &str) -> String {
        if self.prefix.is_empty() || self.prefix == "." {
            path.to_owned()
        } else {
            format!("{}/{path}", self.prefix.trim_end_matches('/'))
        }
    }
}

/// Runs `flagctl diff`.
pub fn run(globals: &Globals, args: &Args) -> CommandResult {
    let dir = root::locate(globals)?;
    let read_dir = || {
        RootFiles::from_dir(&dir).map_err(|e| {
            anyhow::Error::new(e).context(format!("cannot read the flag root `{}`", dir.display()))
        })
    };
    let store = || Store::discover(&dir).map_err(changes::store_error);
    let read_at = |store: &Store, revision: &str| -> anyhow::Result<RootFiles> {
        match store.read_root_at(revision) {
            Ok(files) => Ok(files),
            // Before the root existed: everything is new.
            Err(StoreError::RootNotFound { .. }) => Ok(RootFiles::new()),
            Err(StoreError::NoCommits { .. }) => {
                Err(changes::no_commits("there is nothing to compare with"))
            }
            Err(error) => Err(changes::store_error(error)),
        }
    };
    match args.env.as_slice() {
        [from, to] => {
            let (files, label, prefix) = match &args.revision {
                Some(revision) if revision.contains("..") => {
                    return Err(UserError::new(format!(
                        "comparing environments takes one revision, not the range `{revision}`"
                    ))
                    .help(
                        "drop the range to compare them in the working tree, or name one revision",
                    )
                    .usage()
                    .into());
                }
                Some(revision) => {
                    let store = store()?;
                    (
                        read_at(&store, revision)?,
                        format!(" at {revision}"),
                        store.root().to_owned(),
                    )
                }
                None => (
                    read_dir()?,
                    String::new(),
                    root::display_dir(&dir).to_string_lossy().into_owned(),
                ),
            };
            for environment in [from, to] {
                check_environment(environment, &[&files])?;
            }
            let comparison = compare_environments(&files, from, to);
            let sides = Sides {
                from: format!("{from}{label}"),
                to: format!("{to}{label}"),
                prefix,
            };
            let changed = !comparison.flags.is_empty() || !comparison.files.is_empty();
            let files: Vec<(String, String, &FileChange)> = comparison
                .files
                .iter()
                .map(|(a, b, change)| (sides.show(a), sides.show(b), change))
                .collect();
            let section = Section {
                title: "flags".to_owned(),
                flags: &comparison.flags,
            };
            print(
                globals,
                args,
                &sides,
                "environments",
                &[section],
                &[],
                None,
                &files,
            )?;
            Ok(exit(args, changed))
        }
        [_, _, _, ..] => Err(
            UserError::new("`--env` takes one environment, or two to compare")
                .help("pass `--env A --env B` to compare two environments")
                .usage()
                .into(),
        ),
        _ => {
            let store = store()?;
            let (before, after, from, to) = match args.revision.as_deref() {
                Some(range) if range.contains("...") => {
                    return Err(UserError::new(format!(
                        "symmetric ranges like `{range}` are not supported"
                    ))
                    .help("compare with the merge base: `flagctl diff $(git merge-base A B)..B`")
                    .usage()
                    .into());
                }
                Some(range) if range.contains("..") => {
                    let (a, b) = range.split_once("..").unwrap_or((range, ""));
                    let a = if a.is_empty() { "HEAD" } else { a };
                    let b = if b.is_empty() { "HEAD" } else { b };
                    (
                        read_at(&store, a)?,
                        read_at(&store, b)?,
                        a.to_owned(),
                        b.to_owned(),
                    )
                }
                Some(revision) => (
                    read_at(&store, revision)?,
                    read_dir()?,
                    revision.to_owned(),
                    "working tree".to_owned(),
                ),
                None => (
                    read_at(&store, "HEAD")?,
                    read_dir()?,
                    "HEAD".to_owned(),
                    "working tree".to_owned(),
                ),
            };
            for environment in &args.env {
                check_environment(environment, &[&before, &after])?;
            }
            let diff = compare_roots(&before, &after, &args.env);
            let sides = Sides {
                from,
                to,
                prefix: store.root().to_owned(),
            };
            let sections: Vec<Section<'_>> = diff
                .environments
                .iter()
                .map(|e: &EnvironmentDiff| Section {
                    title: e.environment.clone(),
                    flags: &e.flags,
                })
                .collect();
            let files: Vec<(String, String, &FileChange)> = diff
                .files
                .iter()
                .map(|f| (sides.show(&f.path), sides.show(&f.path), f))
                .collect();
            print(
                globals,
                args,
                &sides,
                "revisions",
                &sections,
                &diff.segments,
                diff.config.as_ref(),
                &files,
            )?;
            Ok(exit(args, !RootDiff::is_empty(&diff)))
        }
    }
}

fn exit(args: &Args, changed: bool) -> ExitCode {
    if args.exit_code && changed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Checks an environment against those the sides declare.
fn check_environment(environment: &str, sides: &[&RootFiles]) -> Result<(), UserError> {
    let mut names: Vec<String> = Vec::new();
    for files in sides {
        for name in config_environments(files.get(CONFIG_FILE)).unwrap_or_default() {
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    changes::check_environment(environment, &names)
}

/// The flags that differ under one heading.
struct Section<'a> {
    title: String,
    flags: &'a [FlagDiff],
}

#[derive(Serialize)]
struct FileJson<'a> {
    path: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    from_path: Option<&'a str>,
    status: Status,
    diff: String,
}

#[derive(Serialize)]
struct SectionJson<'a> {
    environment: &'a str,
    flags: &'a [FlagDiff],
}

#[derive(Serialize)]
struct DiffJson<'a> {
    compare: &'a str,
    from: &'a str,
    to: &'a str,
    environments: Vec<SectionJson<'a>>,
    segments: &'a [DocumentDiff],
    config: Option<&'a DocumentDiff>,
    files: Vec<FileJson<'a>>,
}

#[expect(
    clippy::too_many_arguments,
    reason = "one call per mode, all parts named"
)]
fn print(
    globals: &Globals,
    args: &Args,
    sides: &Sides,
    compare: &str,
    sections: &[Section<'_>],
    segments: &[DocumentDiff],
    config: Option<&DocumentDiff>,
    files: &[(String, String, &FileChange)],
) -> std::io::Result<()> {
    let color = globals.color_stdout;
    let text = match args.format {
        DiffFormat::Json => {
            let document = DiffJson {
                compare,
                from: &sides.from,
                to: &sides.to,
                environments: sections
                    .iter()
                    .map(|s| SectionJson {
                        environment: &s.title,
                        flags: s.flags,
                    })
                    .collect(),
                segments,
                config,
                files: files
                    .iter()
                    .map(|(before, after, change)| FileJson {
                        path: after,
                        from_path: (before != after).then_some(before.as_str()),
                        status: change.status(),
                        diff: changes::unified_diff(
                            before,
                            after,
                            change.before.as_deref(),
                            change.after.as_deref(),
                            false,
                        ),
                    })
                    .collect(),
            };
            crate::cli::output::json_pretty(&document)
        }
        DiffFormat::Markdown => markdown(sides, sections, segments, config, files),
        DiffFormat::Text => text(sides, sections, segments, config, files, color),
    };
    let nothing = files.is_empty() && sections.iter().all(|s| s.flags.is_empty());
    if args.format == DiffFormat::Text && nothing {
        let mut stderr = anstream::stderr().lock();
        writeln!(stderr, "no changes between {} and {}", sides.from, sides.to)?;
        return Ok(());
    }
    anstream::stdout().lock().write_all(text.as_bytes())
}

fn marker(status: Status) -> (&'static str, anstyle::Style, &'static str) {
    match status {
        Status::Added => ("+", style::ADDED, " (added)"),
        Status::Removed => ("-", style::REMOVED, " (removed)"),
        Status::Changed => ("~", anstyle::Style::new(), ""),
    }
}

fn flag_block(flag: &FlagDiff, color: bool, out: &mut String) {
    let (sign, sign_style, note) = marker(flag.status);
    out.push_str(&format!(
        "  {} {}{note}\n",
        paint(color, sign_style, sign),
        paint(color, style::HEADING, &flag.key)
    ));
    for problem in &flag.problems {
        out.push_str(&format!(
            "      {}: {problem}\n",
            paint(color, crate::cli::output::style::WARNING, "warning")
        ));
    }
    match flag.status {
        Status::Removed => {}
        Status::Added => out.push_str(&format!(
            "      {}\n",
            paint(
                color,
                style::ADDED,
                &changes::created_summary(&flag.changes)
            )
        )),
        Status::Changed => {
            for line in changes::field_lines(&flag.changes, color) {
                out.push_str(&format!("      {line}\n"));
            }
        }
    }
    if let Some(impact) = &flag.impact {
        for line in changes::impact_lines(impact, color) {
            out.push_str(&format!("      {line}\n"));
        }
    }
}

fn document_block(title: &str, documents: &[DocumentDiff], color: bool, out: &mut String) {
    out.push_str(&format!("{}\n", paint(color, style::HEADING, title)));
    for document in documents {
        let (sign, sign_style, note) = marker(document.status);
        out.push_str(&format!(
            "  {} {}{note}\n",
            paint(color, sign_style, sign),
            document.name
        ));
        for line in changes::field_lines(&document.changes, color) {
            out.push_str(&format!("      {line}\n"));
        }
    }
}

fn text(
    sides: &Sides,
    sections: &[Section<'_>],
    segments: &[DocumentDiff],
    config: Option<&DocumentDiff>,
    files: &[(String, String, &FileChange)],
    color: bool,
) -> String {
    let mut out = format!(
        "{}\n",
        paint(color, style::DIM, &format!("{} → {}", sides.from, sides.to))
    );
    for section in sections {
        out.push('\n');
        if section.flags.is_empty() {
            out.push_str(&format!(
                "{} {}\n",
                paint(color, style::HEADING, &section.title),
                paint(color, style::DIM, "(no changes)")
            ));
            continue;
        }
        out.push_str(&format!(
            "{}\n",
            paint(color, style::HEADING, &section.title)
        ));
        for flag in section.flags {
            flag_block(flag, color, &mut out);
        }
    }
    if !segments.is_empty() {
        out.push('\n');
        document_block("segments", segments, color, &mut out);
    }
    if let Some(config) = config {
        out.push('\n');
        document_block(CONFIG_FILE, std::slice::from_ref(config), color, &mut out);
    }
    for (before, after, change) in files {
        out.push('\n');
        out.push_str(&changes::unified_diff(
            before,
            after,
            change.before.as_deref(),
            change.after.as_deref(),
            color,
        ));
    }
    out
}

fn markdown_table(kind: &str, rows: Vec<(String, Status, Vec<String>)>, out: &mut String) {
    out.push_str(&format!("| {kind} | status | changes |\n|---|---|---|\n"));
    for (name, status, lines) in rows {
        let status = match status {
            Status::Added => "added",
            Status::Removed => "removed",
            Status::Changed => "changed",
        };
        let cell = if lines.is_empty() {
            "comments or formatting only".to_owned()
        } else {
            lines.join("<br>")
        };
        out.push_str(&format!(
            "| {} | {status} | {cell} |\n",
            changes::markdown_code(&name)
        ));
    }
}

fn markdown(
    sides: &Sides,
    sections: &[Section<'_>],
    segments: &[DocumentDiff],
    config: Option<&DocumentDiff>,
    files: &[(String, String, &FileChange)],
) -> String {
    let mut out = format!(
        "## flagctl diff: {} → {}\n",
        changes::markdown_code(&sides.from),
        changes::markdown_code(&sides.to)
    );
    for section in sections {
        out.push_str(&format!("\n### {}\n\n", section.title));
        if section.flags.is_empty() {
            out.push_str("No changes.\n");
            continue;
        }
        let rows = section
            .flags
            .iter()
            .map(|flag| {
                let mut lines: Vec<String> = flag
                    .problems
                    .iter()
                    .map(|p| format!("⚠️ {}", changes::markdown_cell(p)))
                    .collect();
                match flag.status {
                    Status::Removed => {}
                    Status::Added => lines.push(changes::markdown_cell(&changes::created_summary(
                        &flag.changes,
                    ))),
                    Status::Changed => {
                        lines.extend(flag.changes.iter().map(changes::markdown_change));
                    }
                }
                (flag.key.clone(), flag.status, lines)
            })
            .collect();
        markdown_table("flag", rows, &mut out);
        let impacts: Vec<String> = section
            .flags
            .iter()
            .filter_map(|flag| flag.impact.as_ref().map(|impact| (flag, impact)))
            .flat_map(|(flag, impact)| {
                impact
                    .summary
                    .iter()
                    .map(move |line| format!("- {} {}\n", changes::markdown_code(&flag.key), line))
            })
            .collect();
        if !impacts.is_empty() {
            out.push_str("\n**Impact**\n\n");
            out.extend(impacts);
        }
    }
    if !segments.is_empty() || config.is_some() {
        out.push_str("\n### Segments and configuration\n\n");
        let rows = segments
            .iter()
            .chain(config)
            .map(|d| {
                (
                    d.name.clone(),
                    d.status,
                    d.changes.iter().map(changes::markdown_change).collect(),
                )
            })
            .collect();
        markdown_table("document", rows, &mut out);
    }
    if !files.is_empty() {
        out.push_str("\n### Files\n");
        for (before, after, change) in files {
            let title = if before == after {
                changes::markdown_code(after)
            } else {
                format!(
                    "{} → {}",
                    changes::markdown_code(before),
                    changes::markdown_code(after)
                )
            };
            out.push_str(&format!("\n{title}\n\n"));
            let diff = changes::unified_diff(
                before,
                after,
                change.before.as_deref(),
                change.after.as_deref(),
                false,
            );
            out.push_str(&changes::markdown_fence("diff", &diff));
        }
    }
    if sections.is_empty() && files.is_empty() {
        out.push_str("\nNo changes.\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sides_show_paths_under_the_root() {
        let sides = Sides {
            from: "HEAD".into(),
            to: "working tree".into(),
            prefix: "flags".into(),
        };
        assert_eq!(sides.show("base/x.yaml"), "flags/base/x.yaml");
        let top = Sides {
            prefix: String::new(),
            ..sides
        };
        assert_eq!(top.show("base/x.yaml"), "base/x.yaml");
    }
}
