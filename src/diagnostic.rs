//! Problems found in a flag configuration: severity, a stable code, a message,
//! where (`file:line:column`, relative to the flag root) and a help line.
//!
//! Loading returns every problem of a run as [`Diagnostic`] values instead of
//! stopping at the first. This module only describes problems; the CLI
//! renders them (source line and caret, JSON, GitHub annotations).

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Serialize, Serializer};

/// How bad a problem is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The configuration is invalid and must not be served or committed.
    Error,
    /// Worth fixing, but the configuration is usable.
    Warning,
}

impl Severity {
    /// `error` or `warning`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A place in a text file: 1-based line and 1-based column (in characters).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize)]
pub struct Position {
    /// The line, from 1.
    pub line: u32,
    /// The column in characters, from 1.
    pub column: u32,
}

impl Position {
    /// A position from a 1-based line and a 1-based column.
    pub fn new(line: u32, column: u32) -> Position {
        Position { line, column }
    }
}

/// A range of text from `start` (inclusive) to `end` (exclusive).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize)]
pub struct Span {
    /// Where the range starts.
    pub start: Position,
    /// Where the range ends (exclusive).
    pub end: Position,
}

impl Span {
    /// A span between two positions.
    pub fn new(start: Position, end: Position) -> Span {
        Span { start, end }
    }

    /// An empty span at one position.
    pub fn point(at: Position) -> Span {
        Span { start: at, end: at }
    }

    /// Whether the span starts and ends on the same line.
    pub fn is_single_line(&self) -> bool {
        self.start.line == self.end.line
    }
}

/// Where a problem is: a file relative to the flag root and a span in it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Location {
    /// The file, relative to the flag root (`base/new-checkout.yaml`).
    pub file: PathBuf,
    /// The span in the file, when the problem has one.
    pub span: Option<Span>,
}

impl Location {
    /// A location covering a whole file.
    pub fn file(file: impl Into<PathBuf>) -> Location {
        Location {
            file: file.into(),
            span: None,
        }
    }

    /// A location at a span of a file.
    pub fn at(file: impl Into<PathBuf>, span: Span) -> Location {
        Location {
            file: file.into(),
            span: Some(span),
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(span) = self.span {
            write!(f, ":{}:{}", span.start.line, span.start.column)?;
        }
        Ok(())
    }
}

macro_rules! codes {
    ($($(#[$doc:meta])* $variant:ident = $name:literal,)*) => {
        /// A stable identifier for a kind of problem (`weights-sum`,
        /// `unknown-field`, …). Codes never change meaning; `docs/format.md`
        /// lists them all.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Code {
            $($(#[$doc])* $variant,)*
        }

        impl Code {
            /// Every code, in documentation order.
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            /// The code's stable name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Code::$variant => $name,)*
                }
            }
        }
    };
}

codes! {
    /// A file is not valid YAML.
    YamlSyntax = "yaml-syntax",
    /// A file is not UTF-8.
    Encoding = "encoding",
    /// A mapping holds the same key twice.
    DuplicateKey = "duplicate-key",
    /// Aliases expand past the node budget (an alias bomb), or name no anchor.
    AliasLimit = "alias-limit",
    /// A tag other than YAML's core `!!str`, `!!int`, … tags.
    UnsupportedTag = "unsupported-tag",
    /// A mapping key that is not a scalar.
    ComplexKey = "complex-key",
    /// A file holds more than one YAML document.
    MultipleDocuments = "multiple-documents",
    /// A number JSON cannot hold (`.inf`, `.nan`).
    InvalidNumber = "invalid-number",
    /// A field that the schema does not know (a typo such as `rollot:`).
    UnknownField = "unknown-field",
    /// A required field is missing.
    MissingField = "missing-field",
    /// A value has the wrong type.
    WrongType = "wrong-type",
    /// A value is outside what the schema allows.
    InvalidValue = "invalid-value",
    /// `flagctl.yaml` is missing.
    MissingConfig = "missing-config",
    /// A file whose name or place does not fit the root layout.
    UnexpectedFile = "unexpected-file",
    /// A name is not safe (path separators, `..`, bad characters).
    InvalidName = "invalid-name",
    /// A flag's `key` or a segment's `name` differs from its file stem.
    KeyMismatch = "key-mismatch",
    /// A variant's value does not match the flag type.
    VariantType = "variant-type",
    /// A non-boolean flag declares no variants.
    NoVariants = "no-variants",
    /// A referenced variant does not exist.
    UnknownVariant = "unknown-variant",
    /// A referenced segment does not exist.
    UnknownSegment = "unknown-segment",
    /// Segments refer to each other in a cycle.
    SegmentCycle = "segment-cycle",
    /// Rollout weights do not add up to 100.
    WeightsSum = "weights-sum",
    /// A rollout weight has more than three decimals or is outside 0–100.
    WeightPrecision = "weight-precision",
    /// An operator got `value` where it needs `values`, or the reverse, or an operand it ignores.
    OperatorArity = "operator-arity",
    /// An operand of the wrong type for its operator.
    OperandType = "operand-type",
    /// A `matches` pattern does not compile.
    InvalidRegex = "invalid-regex",
    /// A valid `matches` pattern that evaluation cannot run on a DFA (a
    /// Unicode word boundary, or too large), so evaluating it may lock and
    /// allocate.
    RegexFallback = "regex-fallback",
    /// A semver operand does not parse.
    InvalidSemver = "invalid-semver",
    /// A `before`/`after` operand is not an RFC 3339 time.
    InvalidTime = "invalid-time",
    /// A targeting key is listed under two variants.
    DuplicateTarget = "duplicate-target",
    /// An environment name that `flagctl.yaml` does not declare.
    UnknownEnvironment = "unknown-environment",
    /// An overlay for a flag that has no base file.
    OrphanOverlay = "orphan-overlay",
    /// A flag past its `expires` date.
    Expired = "expired",
    /// A segment no flag uses.
    UnusedSegment = "unused-segment",
    /// A built snapshot whose digest does not match its content.
    DigestMismatch = "digest-mismatch",
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Code {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// One problem in a configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// The stable code.
    pub code: Code,
    /// One sentence, lowercase, no trailing period, user values in backticks.
    pub message: String,
    /// Where, when the problem has a place.
    pub location: Option<Location>,
    /// What to do about it.
    pub help: Option<String>,
    /// The environment in which the problem appears, for problems found in
    /// a resolved environment rather than in one file.
    pub environment: Option<String>,
}

impl Diagnostic {
    /// An error.
    pub fn error(code: Code, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            code,
            message: message.into(),
            location: None,
            help: None,
            environment: None,
        }
    }

    /// A warning.
    pub fn warning(code: Code, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, message)
        }
    }

    /// Sets where the problem is.
    #[must_use]
    pub fn at(mut self, location: Location) -> Diagnostic {
        self.location = Some(location);
        self
    }

    /// Sets where the problem is, as a file and an optional span.
    #[must_use]
    pub fn in_file(mut self, file: &Path, span: Option<Span>) -> Diagnostic {
        self.location = Some(Location {
            file: file.to_path_buf(),
            span,
        });
        self
    }

    /// Adds a help line.
    #[must_use]
    pub fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    /// Names the environment the problem appears in.
    #[must_use]
    pub fn in_environment(mut self, environment: impl Into<String>) -> Diagnostic {
        self.environment = Some(environment.into());
        self
    }

    /// Whether this is an error.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    /// One line: `base/x.yaml:3:5: error[weights-sum]: message`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(location) = &self.location {
            write!(f, "{location}: ")?;
        }
        write!(f, "{}[{}]: {}", self.severity, self.code, self.message)?;
        if let Some(environment) = &self.environment {
            write!(f, " (in `{environment}`)")?;
        }
        Ok(())
    }
}

impl Serialize for Diagnostic {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("Diagnostic", 10)?;
        s.serialize_field("severity", &self.severity)?;
        s.serialize_field("code", &self.code)?;
        s.serialize_field("message", &self.message)?;
        let file = self
            .location
            .as_ref()
            .map(|l| l.file.to_string_lossy().replace('\\', "/"));
        let span = self.location.as_ref().and_then(|l| l.span);
        s.serialize_field("file", &file)?;
        s.serialize_field("line", &span.map(|s| s.start.line))?;
        s.serialize_field("column", &span.map(|s| s.start.column))?;
        s.serialize_field("end_line", &span.map(|s| s.end.line))?;
        s.serialize_field("end_column", &span.map(|s| s.end.column))?;
        s.serialize_field("help", &self.help)?;
        s.serialize_field("environment", &self.environment)?;
        s.end()
    }
}

/// Counts of errors and warnings in a list of diagnostics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// How many errors.
    pub errors: usize,
    /// How many warnings.
    pub warnings: usize,
    /// How many distinct files have an error.
    pub files: usize,
}

impl Summary {
    /// Counts `diagnostics`.
    pub fn of(diagnostics: &[Diagnostic]) -> Summary {
        let mut files: Vec<&Path> = diagnostics
            .iter()
            .filter(|d| d.is_error())
            .filter_map(|d| d.location.as_ref().map(|l| l.file.as_path()))
            .collect();
        files.sort();
        files.dedup();
        Summary {
            errors: diagnostics.iter().filter(|d| d.is_error()).count(),
            warnings: diagnostics.iter().filter(|d| !d.is_error()).count(),
            files: files.len(),
        }
    }
}

/// Sorts diagnostics by file, position, then severity and code, and removes
/// exact duplicates (the same problem found in several environments is
/// reported once per environment, but never twice for the same one).
pub fn sort_and_dedup(diagnostics: &mut Vec<Diagnostic>) {
    fn key(d: &Diagnostic) -> impl Ord + '_ {
        (
            d.location.as_ref().map(|l| &l.file),
            d.location.as_ref().and_then(|l| l.span),
            d.severity,
            d.code,
            &d.message,
            &d.environment,
        )
    }
    diagnostics.sort_by(|a, b| key(a).cmp(&key(b)));
    diagnostics.dedup();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_kebab_case() {
        let mut names: Vec<&str> = Code::ALL.iter().map(|c| c.as_str()).collect();
        assert!(
            names
                .iter()
                .all(|n| n.chars().all(|c| c.is_ascii_lowercase() || c == '-'))
        );
        let count = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), count);
    }

    #[test]
    fn every_code_is_documented() {
        let doc = include_str!("../docs/format.md");
        for code in Code::ALL {
            assert!(
                doc.contains(&format!("| `{code}` |")),
                "docs/format.md does not list `{code}`"
            );
        }
    }

    #[test]
    fn one_line_display() {
        let d = Diagnostic::error(Code::WeightsSum, "weights sum to 110, expected 100")
            .at(Location::at(
                "base/x.yaml",
                Span::point(Position::new(3, 5)),
            ))
            .in_environment("prod");
        assert_eq!(
            d.to_string(),
            "base/x.yaml:3:5: error[weights-sum]: weights sum to 110, expected 100 (in `prod`)"
        );
    }

    #[test]
    fn json_shape() {
        let d = Diagnostic::warning(Code::Expired, "flag `x` expired")
            .at(Location::at(
                "base/x.yaml",
                Span::new(Position::new(2, 10), Position::new(2, 20)),
            ))
            .with_help("remove it");
        let json = serde_json::to_value(&d).expect("serializes");
        assert_eq!(json["severity"], "warning");
        assert_eq!(json["code"], "expired");
        assert_eq!(json["line"], 2);
        assert_eq!(json["end_column"], 20);
        assert_eq!(json["help"], "remove it");
    }
}
