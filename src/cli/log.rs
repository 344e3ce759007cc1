//! `flagctl log`: the audit trail, newest first.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use clap::ValueEnum;
use serde::Serialize;

use crate::audit::{self, AuditEntry, LogQuery, SubjectChange, SubjectKind};
use crate::cli::changes::{self, paint, style};
use crate::cli::root;
use crate::cli::{CommandResult, Globals, UserError};
use crate::diff::{FlagSources, Status, config_environments};
use crate::format::{CONFIG_FILE, RootFiles};
use crate::model::Flag;
use crate::store::Store;
use serde::Deserialize;

/// Text or JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// For people.
    Text,
    /// For scripts: one document with every entry.
    Json,
}

/// Show the audit trail: who changed which flag, where, how and why
///
/// Newest first. Each entry gives the time, the author, the action, the
/// flag, the environment, what changed in the resolved flag (before → after,
/// per environment), who gets another variant, the reason (the commit
/// message's body) and the commit. Commits made with plain `git` appear too:
/// without `Flagctl-*` trailers the action, flag and environment are read from
/// the paths.
///
/// With KEY, only commits that touched the flag's base, its overlays, or a
/// segment its rules use.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  flagctl log                                   every change, newest first
  flagctl log new-checkout                      one flag's history
  flagctl log new-checkout --env prod -n 5      the last 5 changes that reached prod
  flagctl log --since 2026-11-01 --author jane  what Jane changed this month
  flagctl log --since '2 weeks ago'             relative dates work too
  flagctl log new-checkout --format json | jq '.entries[0].changes'

Dates: YYYY-MM-DD (midnight UTC), an RFC 3339 time (2026-11-24T10:00:00Z), or
a span ago (`3 days ago`, `2w`). --since and --until compare the commit time.")]
pub struct Args {
    /// Only changes to this flag (its base, overlays, and the segments it uses)
    key: Option<String>,

    /// Only changes that reach ENV (repeat for several)
    #[arg(long, short, value_name = "ENV")]
    env: Vec<String>,

    /// Only changes committed at or after DATE
    #[arg(long, value_name = "DATE", value_parser = parse_date)]
    since: Option<jiff::Timestamp>,

    /// Only changes committed at or before DATE
    #[arg(long, value_name = "DATE", value_parser = parse_date)]
    until: Option<jiff::Timestamp>,

    /// Only changes whose author's name or email contains WHO (ignoring case)
    #[arg(long, value_name = "WHO")]
    author: Option<String>,

    /// Show at most N entries
    #[arg(long, short = 'n', value_name = "N")]
    limit: Option<usize>,

    /// Walk from REV, or the range A..B, instead of HEAD
    #[arg(long, value_name = "REV")]
    revision: Option<String>,

    /// Follow only the first parent of merges (when changes reached the branch)
    #[arg(long)]
    first_parent: bool,

    /// With KEY, leave out changes to the segments the flag uses
    #[arg(long)]
    no_segments: bool,

    /// Output format
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    format: LogFormat,
}

/// Parses `--since`/`--until`: a date, an RFC 3339 time, or a span ago.
pub fn parse_date(text: &str) -> Result<jiff::Timestamp, String> {
    parse_date_at(text, jiff::Timestamp::now())
}

fn parse_date_at(text: &str, now: jiff::Timestamp) -> Result<jiff::Timestamp, String> {
    let text = text.trim();
    let utc = jiff::tz::TimeZone::UTC;
    if let Ok(timestamp) = text.parse::<jiff::Timestamp>() {
        return Ok(timestamp);
    }
    if let Ok(datetime) = text.parse::<jiff::civil::DateTime>() {
        return datetime
            .to_zoned_datetime(utc)
            .map(|z| z.timestamp())
            .map_err(|e| e.to_string());
    }
    if let Ok(date) = text.parse::<jiff::civil::Date>() {
        return date
            .to_zoned_datetime(utc)
            .map(|z| z.timestamp())
            .map_err(|e| e.to_string());
    }
    if let Ok(span) = text.parse::<jiff::Span>() {
        return now
            .to_zoned_datetime(utc)
            .checked_sub(span.abs())
            .map(|z| z.timestamp())
            .map_err(|e| e.to_string());
    }
    Err(format!(
        "`{text}` is not a date: write `2026-11-24`, `2026-11-24T10:00:00Z` or `3 days ago`"
    ))
}

#[derive(Serialize)]
struct LogJson<'a> {
    flag: Option<&'a str>,
    environments: &'a [String],
    entries: Vec<AuditEntry>,
}

/// The files of one flag in the working tree: its base and its overlays.
fn flag_files(dir: &Path, key: &str, environments: &[String]) -> RootFiles {
    let mut paths = vec![format!("base/{key}.yaml")];
    paths.extend(
        environments
            .iter()
            .map(|e| format!("overlays/{e}/{key}.yaml")),
    );
    let mut files = RootFiles::new();
    for path in paths {
        if let Ok(bytes) = std::fs::read(dir.join(&path)) {
            files.insert(path, bytes);
        }
    }
    files
}

/// The segments a flag's rules use in any environment of the working tree.
fn segments_of(dir: &Path, key: &str, environments: &[String]) -> Vec<String> {
    let files = flag_files(dir, key, environments);
    let sources = FlagSources::from_root(&files, key, environments);
    let mut flags: Vec<Flag> = Vec::new();
    let mut names: Vec<&str> = vec![""];
    names.extend(environments.iter().map(String::as_str));
    for environment in names {
        if let (Some(value), _) = sources.resolve(environment)
            && let Ok(flag) = Flag::deserialize(&value)
        {
            flags.push(flag);
        }
    }
    audit::segments_used(&flags)
}

/// The flag keys of the working tree, for "did you mean".
fn flag_keys(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir.join("base")) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .filter_map(|name| name.strip_suffix(".yaml").map(str::to_owned))
        .collect()
}

/// Runs `flagctl log`.
///
/// Only `flagctl.yaml` and the flag's own files are read from the working
/// tree (not the whole root), so that the log of one flag in a root of
/// 10,000 stays fast.
pub fn run(globals: &Globals, args: &Args) -> CommandResult {
    let dir = root::locate(globals)?;
    let environments = config_environments(std::fs::read(dir.join(CONFIG_FILE)).ok().as_deref())
        .unwrap_or_default();
    for environment in &args.env {
        changes::check_environment(environment, &environments)?;
    }
    if let Some(key) = &args.key
        && let Err(error) = crate::model::check_name(key)
    {
        return Err(UserError::new(format!("invalid flag key: {error}")).into());
    }
    let store = Store::discover(&dir).map_err(changes::store_error)?;
    if store.head().map_err(changes::store_error)?.id().is_none() {
        return Err(changes::no_commits("there is no history to show"));
    }
    let known = args
        .key
        .as_deref()
        .is_none_or(|key| dir.join("base").join(format!("{key}.yaml")).is_file());
    let segments = match &args.key {
        Some(key) if !args.no_segments => segments_of(&dir, key, &environments),
        _ => Vec::new(),
    };
    let query = LogQuery {
        flag: args.key.clone(),
        segments,
        environments: args.env.clone(),
        since: args.since,
        until: args.until,
        author: args.author.clone(),
        revision: args.revision.clone(),
        limit: args.limit,
        first_parent: args.first_parent,
    };
    let history = store
        .history(&query.history_query())
        .map_err(changes::store_error)?;
    let color = globals.color_stdout;
    let mut stdout = anstream::stdout().lock();
    let mut entries = Vec::new();
    let mut shown = 0;
    for commit in &history {
        if args.limit.is_some_and(|limit| shown >= limit) {
            break;
        }
        let Some(entry) = audit::entry(&store, commit, &query).map_err(changes::store_error)?
        else {
            continue;
        };
        shown += 1;
        match args.format {
            LogFormat::Text => {
                if shown > 1 {
                    writeln!(stdout)?;
                }
                stdout.write_all(render_entry(&entry, color).as_bytes())?;
            }
            LogFormat::Json => entries.push(entry),
        }
    }
    if shown == 0
        && !known
        && let Some(key) = &args.key
    {
        drop(stdout);
        let keys = flag_keys(&dir);
        let help = match crate::format::schema::closest(key, keys.iter().map(String::as_str)) {
            Some(suggestion) => format!("did you mean `{suggestion}`?"),
            None => "list the flags with `flagctl list`".to_owned(),
        };
        return Err(UserError::new(format!("flag `{key}` does not exist"))
            .help(help)
            .into());
    }
    if args.format == LogFormat::Json {
        let document = LogJson {
            flag: args.key.as_deref(),
            environments: &args.env,
            entries,
        };
        stdout.write_all(crate::cli::output::json_pretty(&document).as_bytes())?;
    } else if shown == 0 {
        drop(stdout);
        let mut stderr = anstream::stderr().lock();
        writeln!(stderr, "no changes match")?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `2026-11-24 10:00 UTC`.
fn time(timestamp: jiff::Timestamp) -> String {
    timestamp.strftime("%Y-%m-%d %H:%M UTC").to_string()
}

fn environments_label(entry: &AuditEntry) -> String {
    if entry.environments.is_empty() {
        "-".to_owned()
    } else if entry.every_environment && entry.environments.len() > 1 {
        "all environments".to_owned()
    } else {
        entry.environments.join(", ")
    }
}

/// One entry as text: a header line, then what changed, indented.
fn render_entry(entry: &AuditEntry, color: bool) -> String {
    let mut out = String::new();
    let flags = if entry.flags.is_empty() {
        let others: Vec<String> = entry.changes.iter().map(subject_label).collect();
        if others.is_empty() {
            "-".to_owned()
        } else {
            others.join(", ")
        }
    } else {
        entry.flags.join(", ")
    };
    let short = &entry.commit[..entry.commit.len().min(12)];
    out.push_str(&format!(
        "{}  {} <{}>  {}  {}  {}  {}\n",
        paint(color, style::DIM, &time(entry.author.time)),
        entry.author.name,
        entry.author.email,
        paint(color, style::HEADING, &entry.action),
        flags,
        environments_label(entry),
        paint(color, style::COMMIT, short),
    ));
    let single = entry.changes.len() == 1;
    for change in &entry.changes {
        let indent = if single {
            "    "
        } else {
            out.push_str(&format!("    {}:\n", subject_label(change)));
            "      "
        };
        for line in subject_lines(change, color) {
            out.push_str(indent);
            out.push_str(&line);
            out.push('\n');
        }
    }
    let reason = entry.reason.as_deref().or(if entry.inferred {
        Some(entry.summary.as_str())
    } else {
        None
    });
    if let Some(reason) = reason.filter(|r| !r.trim().is_empty()) {
        let mut lines = reason.lines();
        if let Some(first) = lines.next() {
            out.push_str(&format!(
                "    {} {first}\n",
                paint(color, style::DIM, "reason:")
            ));
        }
        for line in lines {
            out.push_str(&format!("            {line}\n"));
        }
    }
    out
}

fn subject_label(change: &SubjectChange) -> String {
    match change.kind {
        SubjectKind::Flag if change.environments.is_empty() => change.name.clone(),
        SubjectKind::Flag => format!("{} in {}", change.name, change.environments.join(", ")),
        SubjectKind::Segment => format!("segment {}", change.name),
        SubjectKind::Config => change.name.clone(),
    }
}

fn subject_lines(change: &SubjectChange, color: bool) -> Vec<String> {
    let mut lines = Vec::new();
    for problem in &change.problems {
        lines.push(format!(
            "{}: {problem}",
            paint(color, crate::cli::output::style::WARNING, "warning")
        ));
    }
    match change.status {
        Status::Removed if change.kind == SubjectKind::Flag => {
            lines.push(paint(color, style::REMOVED, "flag deleted"))
        }
        Status::Removed => lines.push(paint(color, style::REMOVED, "deleted")),
        Status::Added if change.kind == SubjectKind::Flag => lines.push(paint(
            color,
            style::ADDED,
            &changes::created_summary(&change.changes),
        )),
        _ if change.changes.is_empty() && change.problems.is_empty() => lines.push(paint(
            color,
            style::DIM,
            "no change to what is served (comments or formatting only)",
        )),
        _ => lines.extend(changes::field_lines(&change.changes, color)),
    }
    if let Some(impact) = &change.impact {
        lines.extend(changes::impact_lines(impact, color));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_parse_in_every_accepted_form() {
        let now: jiff::Timestamp = "2026-11-24T10:00:00Z".parse().expect("a time");
        let at = |text: &str| parse_date_at(text, now).map(|t| t.to_string());
        assert_eq!(at("2026-11-01").as_deref(), Ok("2026-11-01T00:00:00Z"));
        assert_eq!(
            at("2026-11-01T08:30:00Z").as_deref(),
            Ok("2026-11-01T08:30:00Z")
        );
        assert_eq!(
            at("2026-11-01T08:30").as_deref(),
            Ok("2026-11-01T08:30:00Z")
        );
        assert_eq!(at("3 days ago").as_deref(), Ok("2026-11-21T10:00:00Z"));
        assert_eq!(at("2w").as_deref(), Ok("2026-11-10T10:00:00Z"));
        assert!(at("yesterday-ish").is_err());
    }
}
