//! Terminal output: colour choice, styles, and the three renderings of
//! diagnostics (human text with the source line and a caret, JSON, GitHub
//! Actions annotations).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use annotate_snippets::{AnnotationKind, Group, Level, Renderer, Snippet};
use clap::ValueEnum;
use serde::Serialize;

use crate::diagnostic::{Diagnostic, Severity, Span, Summary};
use crate::format::RootFiles;

/// When to colour output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ColorWhen {
    /// On a terminal, unless `NO_COLOR` is set.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// An output stream.
#[derive(Clone, Copy, Debug)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// Sets anstream's global colour choice, which every `anstream` writer honours.
pub fn init_color(when: ColorWhen) {
    let choice = match when {
        ColorWhen::Auto => anstream::ColorChoice::Auto,
        ColorWhen::Always => anstream::ColorChoice::Always,
        ColorWhen::Never => anstream::ColorChoice::Never,
    };
    choice.write_global();
}

/// Whether a stream gets colours: `--color`, then `NO_COLOR` and whether it is
/// a terminal.
pub fn color_enabled(when: ColorWhen, stream: Stream) -> bool {
    match when {
        ColorWhen::Always => true,
        ColorWhen::Never => false,
        ColorWhen::Auto => {
            let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
            let terminal = match stream {
                Stream::Stdout => std::io::stdout().is_terminal(),
                Stream::Stderr => std::io::stderr().is_terminal(),
            };
            terminal && !no_color
        }
    }
}

/// The styles used across commands.
pub mod style {
    use anstyle::{AnsiColor, Style};

    /// `error`.
    pub const ERROR: Style = AnsiColor::Red.on_default().bold();
    /// `warning`.
    pub const WARNING: Style = AnsiColor::Yellow.on_default().bold();
    /// `help`.
    pub const HELP: Style = AnsiColor::Cyan.on_default().bold();
    /// Headings.
    pub const HEADING: Style = Style::new().bold();
    /// Values set by an overlay.
    pub const OVERRIDE: Style = AnsiColor::Yellow.on_default();
    /// De-emphasised text.
    pub const DIM: Style = Style::new().dimmed();
    /// Something good.
    pub const OK: Style = AnsiColor::Green.on_default().bold();
}

/// The output format of `validate`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DiagnosticFormat {
    /// Human text: the source line with a caret, like rustc.
    Text,
    /// One JSON document with every diagnostic.
    Json,
    /// GitHub Actions workflow commands (`::error file=…`), annotating pull requests.
    Github,
}

/// How paths of a root are shown: the root's directory as the user would
/// type it, joined with the root-relative path.
#[derive(Clone, Debug)]
pub struct PathDisplay {
    /// The root directory as displayed (relative to the current directory
    /// when below it).
    pub root: PathBuf,
}

impl PathDisplay {
    /// The displayed path of a root-relative file.
    pub fn show(&self, file: &Path) -> String {
        let joined = if self.root.as_os_str().is_empty() || self.root == Path::new(".") {
            file.to_path_buf()
        } else {
            self.root.join(file)
        };
        joined.to_string_lossy().replace('\\', "/")
    }
}

fn byte_range(text: &str, span: Span) -> std::ops::Range<usize> {
    let offset = |line: u32, column: u32| -> usize {
        let mut start = 0;
        for _ in 1..line {
            match text[start..].find('\n') {
                Some(i) => start += i + 1,
                None => return text.len(),
            }
        }
        let line_text = &text[start..];
        let line_end = line_text.find('\n').unwrap_or(line_text.len());
        let mut byte = start;
        for (i, (index, _)) in line_text[..line_end].char_indices().enumerate() {
            byte = start + index;
            if i + 1 == column as usize {
                return byte;
            }
        }
        if column as usize > line_text[..line_end].chars().count() {
            start + line_end
        } else {
            byte
        }
    };
    let start = offset(span.start.line, span.start.column);
    let mut end = offset(span.end.line, span.end.column).max(start);
    if end == start {
        // Show at least one character (the end of the line when the point is there).
        end = text[start..]
            .char_indices()
            .nth(1)
            .map_or(text.len(), |(i, _)| start + i);
        if text[start..end].starts_with(['\n', '\r']) {
            end = start;
        }
    }
    // Never underline a line break.
    let trimmed = text[start..end].trim_end_matches(['\r', '\n']).len();
    start..start + trimmed
}

/// Renders diagnostics as human text (rustc-like), with `files` giving the
/// source of each root-relative path.
pub fn render_text(
    diagnostics: &[Diagnostic],
    files: &RootFiles,
    paths: &PathDisplay,
    color: bool,
) -> String {
    let renderer = if color {
        Renderer::styled()
    } else {
        Renderer::plain()
    };
    let mut out = String::new();
    for diagnostic in diagnostics {
        let level = match diagnostic.severity {
            Severity::Error => Level::ERROR,
            Severity::Warning => Level::WARNING,
        };
        let mut title = diagnostic.message.clone();
        if let Some(environment) = &diagnostic.environment {
            title.push_str(&format!(" (in `{environment}`)"));
        }
        let path_text;
        let source_text;
        let mut group = Group::with_title(
            level
                .primary_title(title.as_str())
                .id(diagnostic.code.as_str()),
        );
        let mut groups: Vec<Group<'_>> = Vec::new();
        match &diagnostic.location {
            Some(location) => {
                path_text = paths.show(&location.file);
                let source = files
                    .get(&location.file.to_string_lossy().replace('\\', "/"))
                    .and_then(|b| std::str::from_utf8(b).ok());
                match (source, location.span) {
                    (Some(source), Some(span)) => {
                        source_text = source.to_owned();
                        let range = byte_range(&source_text, span);
                        group = group.element(
                            Snippet::source(source_text.as_str())
                                .path(path_text.as_str())
                                .annotation(AnnotationKind::Primary.span(range)),
                        );
                    }
                    _ => {
                        group = group.element(annotate_snippets::Origin::path(path_text.as_str()));
                    }
                }
                if let Some(help) = &diagnostic.help {
                    group = group.element(Level::HELP.message(help.as_str()));
                }
                groups.push(group);
                out.push_str(&renderer.render(&groups));
            }
            None => {
                if let Some(help) = &diagnostic.help {
                    group = group.element(Level::HELP.message(help.as_str()));
                }
                groups.push(group);
                out.push_str(&renderer.render(&groups));
            }
        }
        out.push_str("\n\n");
    }
    out
}

/// A one-line summary after the diagnostics: `error: validation failed: 2
/// errors in 1 file` or `N flags valid`.
pub fn summary_line(summary: &Summary, color: bool) -> String {
    let (error, warning) = if color {
        (style::ERROR, style::WARNING)
    } else {
        (anstyle::Style::new(), anstyle::Style::new())
    };
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    if summary.errors > 0 {
        let mut line = format!(
            "{error}error{error:#}: validation failed: {} in {}",
            plural(summary.errors, "error"),
            plural(summary.files.max(1), "file")
        );
        if summary.warnings > 0 {
            line.push_str(&format!(", {}", plural(summary.warnings, "warning")));
        }
        line
    } else if summary.warnings > 0 {
        format!(
            "{warning}warning{warning:#}: {}",
            plural(summary.warnings, "warning")
        )
    } else {
        String::new()
    }
}

fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// Renders diagnostics as GitHub Actions workflow commands. `paths` shows
/// file paths relative to the repository's top.
pub fn render_github(diagnostics: &[Diagnostic], paths: &PathDisplay) -> String {
    let mut out = String::new();
    for diagnostic in diagnostics {
        let command = match diagnostic.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let mut properties = Vec::new();
        if let Some(location) = &diagnostic.location {
            properties.push(format!(
                "file={}",
                escape_property(&paths.show(&location.file))
            ));
            if let Some(span) = location.span {
                properties.push(format!("line={}", span.start.line));
                properties.push(format!("col={}", span.start.column));
                properties.push(format!("endLine={}", span.end.line));
                if span.is_single_line() {
                    properties.push(format!("endColumn={}", span.end.column));
                }
            }
        }
        properties.push(format!(
            "title={}",
            escape_property(&format!("flagctl {}", diagnostic.code))
        ));
        let mut message = diagnostic.message.clone();
        if let Some(environment) = &diagnostic.environment {
            message.push_str(&format!(" (in `{environment}`)"));
        }
        if let Some(help) = &diagnostic.help {
            message.push_str(&format!("\nhelp: {help}"));
        }
        out.push_str(&format!(
            "::{command} {}::{}\n",
            properties.join(","),
            escape_data(&message)
        ));
    }
    out
}

/// The JSON document `validate --format json` prints.
#[derive(Serialize)]
pub struct DiagnosticsJson<'a> {
    /// No errors.
    pub valid: bool,
    /// The root directory.
    pub root: String,
    /// Counts.
    pub summary: Summary,
    /// Every diagnostic, with paths relative to the root.
    pub diagnostics: &'a [Diagnostic],
}

/// Writes a value as pretty JSON with a final newline.
pub fn json_pretty<T: Serialize>(value: &T) -> String {
    let mut text = serde_json::to_string_pretty(value).expect("CLI output types serialize");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::{Code, Location, Position};

    #[test]
    fn byte_ranges_from_positions() {
        let text = "a: 1\nbé: { x: 2 }\n";
        let span = Span::new(Position::new(2, 5), Position::new(2, 13));
        assert_eq!(&text[byte_range(text, span)], "{ x: 2 }");
        let point = Span::point(Position::new(1, 4));
        assert_eq!(&text[byte_range(text, point)], "1");
        let end_of_line = Span::point(Position::new(1, 5));
        assert_eq!(&text[byte_range(text, end_of_line)], "");
    }

    #[test]
    fn text_rendering_shows_the_line_and_a_caret() {
        let files = RootFiles::from_pairs([(
            "base/x.yaml",
            "key: x\ndefault:\n  rollout: { on: 60, off: 50 }\n",
        )]);
        let diagnostic = Diagnostic::error(
            Code::WeightsSum,
            "rollout weights of flag `x` sum to 110, expected 100",
        )
        .at(Location::at(
            "base/x.yaml",
            Span::new(Position::new(3, 12), Position::new(3, 31)),
        ))
        .with_help("make the weights add up to 100 (remove 10)");
        let text = render_text(
            &[diagnostic],
            &files,
            &PathDisplay {
                root: PathBuf::from("flags"),
            },
            false,
        );
        assert!(
            text.contains("error[weights-sum]: rollout weights"),
            "{text}"
        );
        assert!(text.contains("flags/base/x.yaml:3:12"), "{text}");
        assert!(
            text.contains("3 |   rollout: { on: 60, off: 50 }"),
            "{text}"
        );
        assert!(text.contains("^^^^^^^^^^^^^^^^^^^"), "{text}");
        assert!(
            text.contains("help: make the weights add up to 100"),
            "{text}"
        );
    }

    #[test]
    fn github_annotations_escape() {
        let diagnostic = Diagnostic::warning(Code::Expired, "flag `x` expired: 100%")
            .at(Location::at(
                "base/x,y.yaml",
                Span::point(Position::new(2, 3)),
            ))
            .with_help("line\nbreak");
        let text = render_github(
            &[diagnostic],
            &PathDisplay {
                root: PathBuf::from("flags"),
            },
        );
        assert_eq!(
            text,
            "::warning file=flags/base/x%2Cy.yaml,line=2,col=3,endLine=2,endColumn=3,title=flagctl expired::flag `x` expired: 100%25%0Ahelp: line%0Abreak\n"
        );
    }
}
