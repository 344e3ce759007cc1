//! Rendering shared by `flagctl log` and `flagctl diff`: field changes,
//! impact lines, unified file diffs (coloured on a terminal), Markdown
//! escaping, and store errors turned into one-line errors with help.

use serde::Deserialize;
use similar::{ChangeTag, TextDiff};

use crate::cli::UserError;
use crate::diff::{ChangeKind, FieldChange, Impact};
use crate::store::StoreError;

/// The styles of changes (the common ones live in [`crate::cli::output::style`]).
pub mod style {
    use anstyle::{AnsiColor, Style};

    pub use crate::cli::output::style::{DIM, HEADING};

    /// An added line or field.
    pub const ADDED: Style = AnsiColor::Green.on_default();
    /// A removed line or field.
    pub const REMOVED: Style = AnsiColor::Red.on_default();
    /// A hunk header.
    pub const HUNK: Style = AnsiColor::Cyan.on_default();
    /// The `impact:` label.
    pub const IMPACT: Style = AnsiColor::Magenta.on_default().bold();
    /// A commit id.
    pub const COMMIT: Style = AnsiColor::Yellow.on_default();
}

/// `text` in `style` when `color`.
pub fn paint(color: bool, style: anstyle::Style, text: &str) -> String {
    if color {
        format!("{style}{text}{style:#}")
    } else {
        text.to_owned()
    }
}

/// A store error as a one-line error with a `help:` line.
pub fn store_error(error: StoreError) -> anyhow::Error {
    let help = match &error {
        StoreError::RevisionNotFound { .. } => Some(
            "name a commit, branch or tag (`git log --oneline` lists them); write a range as `A..B`"
                .to_owned(),
        ),
        StoreError::NoCommits { .. } => {
            Some("commit the flag root first (`git add` it, then `git commit`)".to_owned())
        }
        StoreError::RootNotFound { .. } => {
            Some("pick a revision where the flag root exists".to_owned())
        }
        other => other.help(),
    };
    let mut user = UserError::new(error.to_string());
    if let Some(help) = help {
        user = user.help(help);
    }
    user.into()
}

/// Checks an environment against the root's environments (any passes when
/// none are known), suggesting the closest one.
pub fn check_environment(environment: &str, names: &[String]) -> Result<(), UserError> {
    if names.is_empty() || names.iter().any(|n| n == environment) {
        return Ok(());
    }
    let help = match crate::format::schema::closest(environment, names.iter().map(String::as_str)) {
        Some(suggestion) => format!(
            "did you mean `{suggestion}`? the environments are: {}",
            names.join(", ")
        ),
        None => format!("the environments are: {}", names.join(", ")),
    };
    Err(UserError::new(format!("unknown environment `{environment}`")).help(help))
}

/// The error for a repository without commits.
pub fn no_commits(what: &str) -> anyhow::Error {
    UserError::new(format!("the repository has no commits yet: {what}"))
        .help("commit the flag root first (`git add` it, then `git commit`)")
        .into()
}

/// One line per field change, `+`/`-`/`~` marked and coloured.
pub fn field_lines(changes: &[FieldChange], color: bool) -> Vec<String> {
    changes
        .iter()
        .map(|change| {
            let text = change.to_string();
            let style = match change.kind {
                ChangeKind::Added => style::ADDED,
                ChangeKind::Removed => style::REMOVED,
                _ => anstyle::Style::new(),
            };
            paint(color, style, &text)
        })
        .collect()
}

/// One line for a created flag: `flag created: serves on 10% / off 90%, 2
/// rules, 2 targeted users` (its field changes are in the JSON output).
pub fn created_summary(changes: &[FieldChange]) -> String {
    let field = |name: &str| {
        changes
            .iter()
            .find(|c| c.path == name)
            .and_then(|c| c.after.as_ref())
    };
    let mut parts = Vec::new();
    if let Some(default) = field("default") {
        let serves = crate::model::Serve::deserialize(default)
            .map_or_else(|_| crate::diff::compact(default), |s| s.summary());
        parts.push(format!("serves {serves}"));
    }
    if field("enabled") == Some(&serde_json::Value::Bool(false)) {
        parts.push("disabled".to_owned());
    }
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    if let Some(serde_json::Value::Array(rules)) = field("rules") {
        parts.push(plural(rules.len(), "rule"));
    }
    if let Some(serde_json::Value::Object(targets)) = field("targets") {
        let users = targets
            .values()
            .filter_map(serde_json::Value::as_array)
            .map(Vec::len)
            .sum();
        parts.push(plural(users, "targeted user"));
    }
    if parts.is_empty() {
        "flag created".to_owned()
    } else {
        format!("flag created: {}", parts.join(", "))
    }
}

/// The impact's summary lines, prefixed with `impact: `.
pub fn impact_lines(impact: &Impact, color: bool) -> Vec<String> {
    impact
        .summary
        .iter()
        .map(|line| format!("{} {line}", paint(color, style::IMPACT, "impact:")))
        .collect()
}

/// A unified diff of one file (3 lines of context), with `a/` and `b/`
/// headers; coloured like `git diff` when `color`.
pub fn unified_diff(
    label_before: &str,
    label_after: &str,
    before: Option<&[u8]>,
    after: Option<&[u8]>,
    color: bool,
) -> String {
    let old = before.map(String::from_utf8_lossy).unwrap_or_default();
    let new = after.map(String::from_utf8_lossy).unwrap_or_default();
    let header_before = match before {
        Some(_) => format!("a/{label_before}"),
        None => "/dev/null".to_owned(),
    };
    let header_after = match after {
        Some(_) => format!("b/{label_after}"),
        None => "/dev/null".to_owned(),
    };
    let diff = TextDiff::from_lines(old.as_ref(), new.as_ref());
    let mut out = String::new();
    let mut line = |text: &str, style: anstyle::Style| {
        out.push_str(&paint(color, style, text));
        out.push('\n');
    };
    line(&format!("--- {header_before}"), style::HEADING);
    line(&format!("+++ {header_after}"), style::HEADING);
    for hunk in diff.unified_diff().context_radius(3).iter_hunks() {
        line(&hunk.header().to_string(), style::HUNK);
        for change in hunk.iter_changes() {
            let (sign, style) = match change.tag() {
                ChangeTag::Delete => ('-', style::REMOVED),
                ChangeTag::Insert => ('+', style::ADDED),
                ChangeTag::Equal => (' ', anstyle::Style::new()),
            };
            let value = change.value();
            let text = value.strip_suffix('\n').unwrap_or(value);
            line(&format!("{sign}{text}"), style);
            if change.missing_newline() {
                line("\\ No newline at end of file", style::DIM);
            }
        }
    }
    out
}

/// Text safe inside a Markdown table cell: pipes escaped, line breaks as `<br>`.
pub fn markdown_cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', "<br>")
}

/// `text` as inline code, with a fence long enough for the backticks it holds.
pub fn markdown_code(text: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for c in text.chars() {
        if c == '`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    let fence = "`".repeat(longest + 1);
    if longest == 0 {
        format!("{fence}{text}{fence}")
    } else {
        format!("{fence} {text} {fence}")
    }
}

/// A field change for Markdown: the path as code, then what happened.
pub fn markdown_change(change: &FieldChange) -> String {
    let text = change.to_string();
    match text.split_once(": ") {
        Some((path, rest)) if !change.path.is_empty() => {
            format!("{} {}", markdown_code(path), markdown_cell(rest))
        }
        _ => markdown_cell(&text),
    }
}

/// A fenced block long enough for the backtick runs inside `text`.
pub fn markdown_fence(info: &str, text: &str) -> String {
    let mut longest = 0;
    for line in text.lines() {
        let run = line.chars().take_while(|c| *c == '`').count();
        longest = longest.max(run);
    }
    let fence = "`".repeat((longest + 1).max(3));
    let body = if text.ends_with('\n') {
        text.to_owned()
    } else {
        format!("{text}\n")
    };
    format!("{fence}{info}\n{body}{fence}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unified_diffs_have_headers_and_hunks() {
        let text = unified_diff(
            "flags/base/x.yaml",
            "flags/base/x.yaml",
            Some(b"key: x\ndefault: off\n"),
            Some(b"key: x\ndefault: on\n"),
            false,
        );
        assert_eq!(
            text,
            "--- a/flags/base/x.yaml\n+++ b/flags/base/x.yaml\n@@ -1,2 +1,2 @@\n key: x\n-default: off\n+default: on\n"
        );
        let created = unified_diff("x", "x", None, Some(b"a"), false);
        assert_eq!(
            created,
            "--- /dev/null\n+++ b/x\n@@ -0,0 +1 @@\n+a\n\\ No newline at end of file\n"
        );
        let coloured = unified_diff("x", "x", Some(b"a\n"), Some(b"b\n"), true);
        assert!(coloured.contains("\u{1b}["), "{coloured}");
    }

    #[test]
    fn markdown_escapes() {
        assert_eq!(markdown_cell("a | b\nc"), "a \\| b<br>c");
        assert_eq!(markdown_code("x"), "`x`");
        assert_eq!(markdown_code("a`b"), "`` a`b ``");
        assert_eq!(markdown_fence("diff", "+a"), "```diff\n+a\n```\n");
        assert_eq!(markdown_fence("", "```\n"), "````\n```\n````\n");
    }
}
