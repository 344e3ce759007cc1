//! Paths into a flag document, parsed from the syntax users type on the
//! command line: `description`, `default.rollout.on`, `rules[0].serve`,
//! `variants."my.key"`.

use std::fmt;
use std::str::FromStr;

use crate::format::yaml::escape_pointer_token;

/// One step of a [`Path`]: a mapping key or a list index.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Segment {
    /// The entry of a mapping with this key.
    Key(String),
    /// The item of a list at this index (from 0).
    Index(usize),
}

impl From<&str> for Segment {
    fn from(key: &str) -> Segment {
        Segment::Key(key.to_owned())
    }
}

impl From<String> for Segment {
    fn from(key: String) -> Segment {
        Segment::Key(key)
    }
}

impl From<usize> for Segment {
    fn from(index: usize) -> Segment {
        Segment::Index(index)
    }
}

/// A location in a document: a sequence of keys and list indices from the
/// root.
///
/// Parse one from user syntax with [`Path::parse`] (or [`str::parse`]), or
/// build one with [`Path::new`] and [`Path::key`]/[`Path::index`]. Keys
/// holding `.`, `[`, `]`, `"`, `\`, whitespace or nothing at all are written
/// in double quotes, with `\"` and `\\` as escapes; [`Display`](fmt::Display)
/// writes them back that way.
///
/// ```
/// use flagctl::format::edit::{Path, Segment};
///
/// let path = Path::parse("rules[1].serve").unwrap();
/// assert_eq!(path.segments(), [Segment::from("rules"), Segment::Index(1), Segment::from("serve")]);
/// assert_eq!(path.to_json_pointer(), "/rules/1/serve");
///
/// let quoted = Path::parse(r#"variants."my.key""#).unwrap();
/// assert_eq!(quoted, Path::new().key("variants").key("my.key"));
/// assert_eq!(quoted.to_string(), r#"variants."my.key""#);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Path {
    segments: Vec<Segment>,
}

impl Path {
    /// The empty path, which names the document's root.
    pub fn new() -> Path {
        Path::default()
    }

    /// Parses a path from user syntax.
    ///
    /// The text is a key (bare or double-quoted) followed by any number of
    /// `.key` and `[index]` steps; an `[index]` may also come first. Errors
    /// name the argument and the column of the problem.
    pub fn parse(text: &str) -> Result<Path, PathError> {
        Parser::new(text).parse()
    }

    /// This path with a key step appended.
    #[must_use]
    pub fn key(mut self, key: impl Into<String>) -> Path {
        self.segments.push(Segment::Key(key.into()));
        self
    }

    /// This path with a list index step appended.
    #[must_use]
    pub fn index(mut self, index: usize) -> Path {
        self.segments.push(Segment::Index(index));
        self
    }

    /// The steps of this path, from the root.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// Whether this is the root path (no steps).
    pub fn is_root(&self) -> bool {
        self.segments.is_empty()
    }

    /// The path without its last step, or `None` for the root.
    pub fn parent(&self) -> Option<Path> {
        let (_, parent) = self.segments.split_last()?;
        Some(Path::from(parent.to_vec()))
    }

    /// The path as a JSON pointer (RFC 6901): `/rules/0/serve`, `""` for the root.
    pub fn to_json_pointer(&self) -> String {
        let mut pointer = String::new();
        for segment in &self.segments {
            pointer.push('/');
            match segment {
                Segment::Key(key) => pointer.push_str(&escape_pointer_token(key)),
                Segment::Index(index) => pointer.push_str(&index.to_string()),
            }
        }
        pointer
    }
}

impl From<Vec<Segment>> for Path {
    fn from(segments: Vec<Segment>) -> Path {
        Path { segments }
    }
}

impl FromIterator<Segment> for Path {
    fn from_iter<I: IntoIterator<Item = Segment>>(iter: I) -> Path {
        Path {
            segments: iter.into_iter().collect(),
        }
    }
}

impl FromStr for Path {
    type Err = PathError;

    fn from_str(text: &str) -> Result<Path, PathError> {
        Path::parse(text)
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.segments.iter().enumerate() {
            match segment {
                Segment::Index(index) => write!(f, "[{index}]")?,
                Segment::Key(key) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    if key.is_empty() || key.chars().any(needs_quotes) {
                        f.write_str("\"")?;
                        for c in key.chars() {
                            if matches!(c, '"' | '\\') {
                                f.write_str("\\")?;
                            }
                            write!(f, "{c}")?;
                        }
                        f.write_str("\"")?;
                    } else {
                        f.write_str(key)?;
                    }
                }
            }
        }
        Ok(())
    }
}

fn needs_quotes(c: char) -> bool {
    matches!(c, '.' | '[' | ']' | '"' | '\\') || c.is_whitespace() || c.is_control()
}

/// Why a path argument could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid path `{path}`: {problem} at column {column}")]
pub struct PathError {
    /// The path as given.
    pub path: String,
    /// The column (in characters, from 1) where the problem is.
    pub column: usize,
    /// What is wrong there.
    pub problem: PathProblem,
}

/// What is wrong in a path argument.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PathProblem {
    /// The path is empty.
    #[error("the path is empty")]
    Empty,
    /// A key is missing, as in `a..b`, `.a` or `a.`.
    #[error("expected a key")]
    MissingKey,
    /// A character that cannot appear there, such as a space in a bare key.
    #[error("unexpected `{0}`; put keys holding it in double quotes")]
    Unexpected(char),
    /// Something other than `.` or `[` follows a quoted key or an index.
    #[error("expected `.` or `[` after `{after}`, found `{found}`")]
    ExpectedSeparator {
        /// What came before.
        after: String,
        /// The character found instead.
        found: char,
    },
    /// A quoted key has no closing quote.
    #[error("the quoted key is not closed")]
    UnclosedQuote,
    /// A `\` escape other than `\"` and `\\` in a quoted key.
    #[error("unknown escape `\\{0}`; use `\\\"` or `\\\\`")]
    BadEscape(char),
    /// An index is not a decimal number.
    #[error("expected a list index (a number such as `0`)")]
    BadIndex,
    /// An index has no closing `]`.
    #[error("expected `]`")]
    UnclosedBracket,
    /// An index is too large.
    #[error("the list index is too large")]
    IndexTooLarge,
}

struct Parser<'a> {
    text: &'a str,
    chars: Vec<char>,
    at: usize,
    segments: Vec<Segment>,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Parser<'a> {
        Parser {
            text,
            chars: text.chars().collect(),
            at: 0,
            segments: Vec::new(),
        }
    }

    fn error(&self, column_index: usize, problem: PathProblem) -> PathError {
        PathError {
            path: self.text.to_owned(),
            column: column_index + 1,
            problem,
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    fn parse(mut self) -> Result<Path, PathError> {
        if self.chars.is_empty() {
            return Err(self.error(0, PathProblem::Empty));
        }
        if self.peek() == Some('[') {
            self.index()?;
        } else {
            self.key()?;
        }
        while let Some(c) = self.peek() {
            match c {
                '.' => {
                    self.at += 1;
                    self.key()?;
                }
                '[' => self.index()?,
                found => {
                    // Only reachable after a quoted key or an index: a bare
                    // key runs up to the next `.` or `[`.
                    return Err(self.error(
                        self.at,
                        PathProblem::ExpectedSeparator {
                            after: last_step(&self.segments),
                            found,
                        },
                    ));
                }
            }
        }
        Ok(Path::from(self.segments))
    }

    fn key(&mut self) -> Result<(), PathError> {
        match self.peek() {
            Some('"') => self.quoted_key(),
            None | Some('.' | '[') => Err(self.error(self.at, PathProblem::MissingKey)),
            Some(_) => {
                let start = self.at;
                while let Some(c) = self.peek() {
                    if matches!(c, '.' | '[') {
                        break;
                    }
                    if matches!(c, ']' | '"' | '\\') || c.is_whitespace() || c.is_control() {
                        return Err(self.error(self.at, PathProblem::Unexpected(c)));
                    }
                    self.at += 1;
                }
                let key = self.chars[start..self.at].iter().collect();
                self.segments.push(Segment::Key(key));
                Ok(())
            }
        }
    }

    fn quoted_key(&mut self) -> Result<(), PathError> {
        let open = self.at;
        self.at += 1;
        let mut key = String::new();
        loop {
            match self.peek() {
                None => return Err(self.error(open, PathProblem::UnclosedQuote)),
                Some('"') => {
                    self.at += 1;
                    break;
                }
                Some('\\') => {
                    let escape_at = self.at;
                    self.at += 1;
                    match self.peek() {
                        Some(c @ ('"' | '\\')) => key.push(c),
                        Some(c) => return Err(self.error(escape_at, PathProblem::BadEscape(c))),
                        None => return Err(self.error(open, PathProblem::UnclosedQuote)),
                    }
                    self.at += 1;
                }
                Some(c) => {
                    key.push(c);
                    self.at += 1;
                }
            }
        }
        self.segments.push(Segment::Key(key));
        Ok(())
    }

    fn index(&mut self) -> Result<(), PathError> {
        // At `[`.
        self.at += 1;
        let start = self.at;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.at += 1;
        }
        if self.at == start {
            return Err(self.error(start, PathProblem::BadIndex));
        }
        if self.peek() != Some(']') {
            return Err(self.error(self.at, PathProblem::UnclosedBracket));
        }
        let digits: String = self.chars[start..self.at].iter().collect();
        let index = digits
            .parse::<usize>()
            .map_err(|_| self.error(start, PathProblem::IndexTooLarge))?;
        self.at += 1;
        self.segments.push(Segment::Index(index));
        Ok(())
    }
}

/// The last step of a path as written, for messages.
fn last_step(segments: &[Segment]) -> String {
    match segments.last() {
        None => String::new(),
        Some(Segment::Index(index)) => format!("[{index}]"),
        Some(last) => Path::from(vec![last.clone()]).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(path: &Path) -> Vec<String> {
        path.segments()
            .iter()
            .map(|s| match s {
                Segment::Key(k) => format!("K({k})"),
                Segment::Index(i) => format!("I({i})"),
            })
            .collect()
    }

    #[test]
    fn parses_user_syntax() {
        let cases = [
            ("description", vec!["K(description)"]),
            (
                "default.rollout.on",
                vec!["K(default)", "K(rollout)", "K(on)"],
            ),
            ("rules[0].serve", vec!["K(rules)", "I(0)", "K(serve)"]),
            ("targets.on", vec!["K(targets)", "K(on)"]),
            (r#"variants."my.key""#, vec!["K(variants)", "K(my.key)"]),
            (r#""a\"b\\c""#, vec![r#"K(a"b\c)"#]),
            ("[2]", vec!["I(2)"]),
            ("m[1][2].x", vec!["K(m)", "I(1)", "I(2)", "K(x)"]),
            ("größe.日本", vec!["K(größe)", "K(日本)"]),
            (r#"a."""#, vec!["K(a)", "K()"]),
            ("a-b_c:d", vec!["K(a-b_c:d)"]),
        ];
        for (text, expected) in cases {
            let path = Path::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(keys(&path), expected, "{text}");
        }
    }

    #[test]
    fn errors_name_the_argument_and_column() {
        let cases = [
            ("", 1, "the path is empty"),
            ("a..b", 3, "expected a key"),
            (".a", 1, "expected a key"),
            ("a.", 3, "expected a key"),
            ("a b", 2, "unexpected ` `"),
            ("rules[x]", 7, "expected a list index"),
            ("rules[0", 8, "expected `]`"),
            ("rules[-1]", 7, "expected a list index"),
            (r#"a."b"#, 3, "not closed"),
            (r#""a"b"#, 4, "expected `.` or `[` after `a`, found `b`"),
            ("rules[0]x", 9, "after `[0]`"),
            (r#""a\n""#, 3, "unknown escape"),
            ("a]", 2, "unexpected `]`"),
            ("rules[99999999999999999999999]", 7, "too large"),
        ];
        for (text, column, message) in cases {
            let error = Path::parse(text).expect_err(text);
            assert_eq!(error.column, column, "{text}: {error}");
            let shown = error.to_string();
            assert!(shown.contains(message), "{text}: {shown}");
            assert!(
                shown.starts_with(&format!("invalid path `{text}`")),
                "{shown}"
            );
        }
    }

    #[test]
    fn display_round_trips() {
        let paths = [
            Path::new().key("variants").key("my.key"),
            Path::new().key("rules").index(3).key("serve"),
            Path::new().key("").key("a b").key(r#"q"\"#),
            Path::new().index(0).index(1),
            Path::new().key("größe"),
        ];
        for path in paths {
            let text = path.to_string();
            assert_eq!(Path::parse(&text).as_ref(), Ok(&path), "{text}");
        }
    }

    #[test]
    fn json_pointer() {
        let path = Path::new().key("a/b").key("c~d").index(2);
        assert_eq!(path.to_json_pointer(), "/a~1b/c~0d/2");
        assert_eq!(Path::new().to_json_pointer(), "");
    }
}
