//! Commit messages: a summary line, an optional body, and machine-readable
//! trailers (`Flagctl-Action: rollout`) that `flagctl log` reads back.

use std::fmt;

/// The trailer naming what a command did (`rollout`, `enable`, `revert`, …).
pub const TRAILER_ACTION: &str = "Flagctl-Action";
/// The trailer naming the flag a change is about.
pub const TRAILER_FLAG: &str = "Flagctl-Flag";
/// The trailer naming the environment a change is about.
pub const TRAILER_ENV: &str = "Flagctl-Env";

/// One `Key: value` line at the end of a commit message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trailer {
    /// The key (`Flagctl-Flag`).
    pub key: String,
    /// The value (`new-checkout`).
    pub value: String,
}

/// A commit message to build: summary, body, trailers.
///
/// ```
/// use flagctl::store::{CommitMessage, TRAILER_ACTION, TRAILER_ENV, TRAILER_FLAG};
///
/// let message = CommitMessage::new("rollout new-checkout 10% -> 25% in prod")
///     .body("Checkout errors are flat after a day at 10%.")
///     .trailer(TRAILER_ACTION, "rollout")
///     .trailer(TRAILER_FLAG, "new-checkout")
///     .trailer(TRAILER_ENV, "prod");
/// let text = message.to_string();
/// assert!(text.ends_with("Flagctl-Flag: new-checkout\nFlagctl-Env: prod\n"));
/// assert_eq!(CommitMessage::parse(&text), message);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CommitMessage {
    /// The first line.
    pub summary: String,
    /// The paragraphs between the summary and the trailers.
    pub body: Option<String>,
    /// The trailers, in order.
    pub trailers: Vec<Trailer>,
}

impl CommitMessage {
    /// A message with this summary (line breaks become spaces).
    pub fn new(summary: impl Into<String>) -> CommitMessage {
        CommitMessage {
            summary: one_line(&summary.into()),
            body: None,
            trailers: Vec::new(),
        }
    }

    /// Sets the body (trimmed; an empty body is none).
    pub fn body(mut self, body: impl Into<String>) -> CommitMessage {
        let body = body.into().trim().to_owned();
        self.body = (!body.is_empty()).then_some(body);
        self
    }

    /// Adds a trailer. Characters other than ASCII letters, digits and `-` in
    /// the key become `-`; line breaks in the value become spaces.
    pub fn trailer(mut self, key: impl AsRef<str>, value: impl AsRef<str>) -> CommitMessage {
        let key: String = key
            .as_ref()
            .trim()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        self.trailers.push(Trailer {
            key,
            value: one_line(value.as_ref()),
        });
        self
    }

    /// Splits a commit message into summary, body and trailers.
    ///
    /// The trailers are those git recognizes in the last paragraph; that
    /// paragraph is left out of the body when every line of it is a trailer.
    pub fn parse(message: &str) -> CommitMessage {
        let message = message.trim();
        let (summary, rest) = match message.split_once('\n') {
            Some((summary, rest)) => (summary.trim(), rest.trim()),
            None => (message, ""),
        };
        let trailers = parse_trailers(message);
        let mut body = rest.to_owned();
        if !trailers.is_empty() {
            let (before, last) = match rest.rfind("\n\n") {
                Some(at) => (&rest[..at], &rest[at + 2..]),
                None => ("", rest),
            };
            let all_trailers = last.lines().all(|line| {
                line.split_once(':')
                    .is_some_and(|(k, _)| is_token(k.trim_end()))
            });
            if all_trailers {
                body = before.trim().to_owned();
            }
        }
        CommitMessage {
            summary: summary.to_owned(),
            body: (!body.is_empty()).then_some(body),
            trailers,
        }
    }
}

impl fmt::Display for CommitMessage {
    /// The message as git stores it, ending with a newline.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.summary)?;
        if let Some(body) = &self.body {
            write!(f, "\n{body}\n")?;
        }
        if !self.trailers.is_empty() {
            writeln!(f)?;
            for trailer in &self.trailers {
                writeln!(f, "{}: {}", trailer.key, trailer.value)?;
            }
        }
        Ok(())
    }
}

/// The trailers git recognizes at the end of a commit message, in order.
pub fn parse_trailers(message: &str) -> Vec<Trailer> {
    let Ok(trailers) = git2::message_trailers_strs(message) else {
        return Vec::new();
    };
    trailers
        .iter()
        .map(|(key, value)| Trailer {
            key: key.to_owned(),
            value: value.trim().to_owned(),
        })
        .collect()
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn is_token(key: &str) -> bool {
    !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_and_parses_trailers() {
        let message = CommitMessage::new("enable new-checkout\nin prod")
            .trailer("Flagctl-Action", "enable")
            .trailer("Flagctl Env", "prod\nx");
        let text = message.to_string();
        assert_eq!(
            text,
            "enable new-checkout in prod\n\nFlagctl-Action: enable\nFlagctl-Env: prod x\n"
        );
        let parsed = CommitMessage::parse(&text);
        assert_eq!(parsed, message);
        assert_eq!(parsed.body, None);
    }

    #[test]
    fn a_message_without_trailers_keeps_its_body() {
        let parsed = CommitMessage::parse("Fix typo\n\nThe flag was: wrong.\n");
        assert_eq!(parsed.summary, "Fix typo");
        assert_eq!(parsed.body.as_deref(), Some("The flag was: wrong."));
        assert!(parsed.trailers.is_empty());
        assert!(parse_trailers("one line").is_empty());
    }

    #[test]
    fn body_and_trailers() {
        let text = CommitMessage::new("s")
            .body("why\n\nmore")
            .trailer(TRAILER_FLAG, "a")
            .to_string();
        assert_eq!(text, "s\n\nwhy\n\nmore\n\nFlagctl-Flag: a\n");
        let parsed = CommitMessage::parse(&text);
        assert_eq!(parsed.body.as_deref(), Some("why\n\nmore"));
        assert_eq!(parsed.trailers[0].value, "a");
    }
}
