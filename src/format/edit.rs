//! Minimal, comment-preserving edits of flag YAML files: what the mutating
//! commands (`set`, `rollout`, `target`, …) use to change a document.
//!
//! [`apply`] changes only the text an edit requires: comments (including a
//! trailing comment on the edited line), key order, indentation, quoting of
//! untouched scalars, flow or block style of the surrounding collections,
//! line endings and the final newline stay as they were. Each [`Edit`] is
//! first worked out on the `serde_json::Value` level, independently of the
//! text, and broken into primitive steps. Each step is performed with
//! `yaml-edit`'s lossless tree, or by a splice of the text at the node's
//! position (recorded by the loader) where the tree edit is refused,
//! unfaithful or untidy (removals from block collections), and the
//! result is parsed again with [`crate::format::yaml::parse`]: unless it
//! reads as exactly the expected value, key order included, the edit fails
//! with [`EditError::Unfaithful`] and no text is returned. [`render_new`]
//! writes new documents.
//!
//! Values are written as YAML 1.2 (core schema): strings are quoted only
//! when they would otherwise read as something else (`"true"`, `"10"`,
//! `""`, `"a: b"`); a replaced string keeps its single or double quotes.
//! New collections are written in block style inside block collections and
//! in flow style (`{ on: 25, off: 75 }`) inside flow collections; a
//! collection that replaces a flow collection stays flow. So replacing
//! `default: off` by a rollout writes a block mapping under `default:`.
//!
//! Refused, with nothing changed: a document that does not parse
//! ([`EditError::InvalidDocument`]); an edit of the root itself
//! ([`EditError::RootPath`]); a path that goes below a scalar or indexes
//! past the end of a list (use [`Edit::Append`] to grow a list); a path
//! that goes through an alias (`*anchor`), and any edit whose result would
//! also change another place, such as an anchored value that aliases
//! elsewhere still use ([`EditError::Unfaithful`]); a key edit in a
//! document whose root is a scalar or a list.
//!
//! This module never touches files or git; it maps text to text.

mod lines;
mod path;
mod plan;
#[cfg(test)]
mod properties;
mod render;
mod splice;
mod tree;

use std::path::Path as FilePath;

use serde_json::Value;

use crate::diagnostic::Diagnostic;
use crate::format::yaml::{self, YamlDocument};

pub use path::{Path, PathError, PathProblem, Segment};
pub use render::render_new;

use plan::Step;

/// One change to a document.
///
/// Build edits with [`Edit::set`], [`Edit::remove`], [`Edit::append`] and
/// [`Edit::remove_items`]; paths come from [`Path::parse`].
#[derive(Clone, Debug, PartialEq)]
pub enum Edit {
    /// Sets the node at `path` to `value`, creating missing mappings on the
    /// way. An existing mapping or list is changed entry by entry where
    /// that reaches the same value, so unchanged entries (and their
    /// comments) stay; a new key goes at the end of its mapping.
    Set {
        /// Where.
        path: Path,
        /// The new value.
        value: Value,
    },
    /// Removes the mapping entry or list item at `path`, with the comment
    /// lines directly above it. Removing the last entry of a mapping leaves
    /// `{}`, of a list `[]`.
    Remove {
        /// What.
        path: Path,
    },
    /// Appends each of `values` that the list at `path` does not hold yet,
    /// creating the list (and missing mappings) if needed: adding a target
    /// twice changes nothing.
    Append {
        /// The list.
        path: Path,
        /// The items to add.
        values: Vec<Value>,
    },
    /// Removes every item of the list at `path` that equals one of
    /// `values`; values not in the list are ignored.
    RemoveItems {
        /// The list.
        path: Path,
        /// The items to take out.
        values: Vec<Value>,
    },
}

impl Edit {
    /// Sets `path` to `value`.
    pub fn set(path: Path, value: Value) -> Edit {
        Edit::Set { path, value }
    }

    /// Removes `path`.
    pub fn remove(path: Path) -> Edit {
        Edit::Remove { path }
    }

    /// Appends `values` (those not present yet) to the list at `path`.
    pub fn append(path: Path, values: impl IntoIterator<Item = Value>) -> Edit {
        Edit::Append {
            path,
            values: values.into_iter().collect(),
        }
    }

    /// Removes `values` from the list at `path`.
    pub fn remove_items(path: Path, values: impl IntoIterator<Item = Value>) -> Edit {
        Edit::RemoveItems {
            path,
            values: values.into_iter().collect(),
        }
    }

    /// The path the edit applies to.
    pub fn path(&self) -> &Path {
        match self {
            Edit::Set { path, .. }
            | Edit::Remove { path }
            | Edit::Append { path, .. }
            | Edit::RemoveItems { path, .. } => path,
        }
    }
}

/// Why an edit could not be applied. Nothing is changed when one occurs.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EditError {
    /// The document does not parse, so it cannot be edited safely.
    #[error("the document to edit is not valid YAML")]
    InvalidDocument {
        /// What the parser found.
        diagnostics: Vec<Diagnostic>,
    },
    /// The edit names the document's root; edits change something inside it.
    #[error("an edit needs a path inside the document, such as `description`")]
    RootPath,
    /// The path does not exist (for a removal).
    #[error("`{path}` does not exist")]
    NotFound {
        /// The path of the edit.
        path: Path,
    },
    /// A step of the path needs a mapping and found something else.
    #[error("{}", not_a(.path, .at, .found, "mapping"))]
    NotAMapping {
        /// The path of the edit.
        path: Path,
        /// Where the mapping was expected.
        at: Path,
        /// What is there instead (`a string`, `a list`, …).
        found: &'static str,
    },
    /// A step of the path, or the target of a list edit, needs a list and
    /// found something else.
    #[error("{}", not_a(.path, .at, .found, "list"))]
    NotAList {
        /// The path of the edit.
        path: Path,
        /// Where the list was expected.
        at: Path,
        /// What is there instead.
        found: &'static str,
    },
    /// A list index is past the end of the list.
    #[error("cannot reach `{path}`: {} has {len} {}, no index {index}", name(.list), items(*.len))]
    IndexOutOfRange {
        /// The path of the edit.
        path: Path,
        /// The list.
        list: Path,
        /// The index asked for.
        index: usize,
        /// How many items the list has.
        len: usize,
    },
    /// The document has a shape this module does not edit.
    #[error("cannot edit `{path}`: {reason}")]
    Unsupported {
        /// The path of the edit.
        path: Path,
        /// Why, such as "it is reached through an alias".
        reason: &'static str,
    },
    /// Performing the edit would also have changed another part of the
    /// document, so it was refused.
    #[error("editing `{path}` would also change {}; the edit was refused", name(.changed))]
    Unfaithful {
        /// The path of the edit.
        path: Path,
        /// The first place where the result differs from the expected value.
        changed: Path,
    },
    /// Performing the edit produced text that does not parse, so it was refused.
    #[error("editing `{path}` would produce invalid YAML; the edit was refused")]
    InvalidResult {
        /// The path of the edit.
        path: Path,
        /// What the parser found in the rejected text.
        diagnostics: Vec<Diagnostic>,
    },
}

/// `` `a.b` `` or "the document" for the root.
fn name(path: &Path) -> String {
    if path.is_root() {
        "the document".to_owned()
    } else {
        format!("`{path}`")
    }
}

/// "cannot reach `a.b`: `a` is a string, not a mapping", or for the node
/// itself "`a` is a string, not a list".
fn not_a(path: &Path, at: &Path, found: &str, wanted: &str) -> String {
    if path == at {
        format!("`{path}` is {found}, not a {wanted}")
    } else {
        format!(
            "cannot reach `{path}`: {} is {found}, not a {wanted}",
            name(at)
        )
    }
}

fn items(len: usize) -> &'static str {
    if len == 1 { "item" } else { "items" }
}

/// Applies `edits` in order and returns the new text.
///
/// The result differs from `text` only where the edits require (see the
/// module documentation), and reads back as the original value with the
/// edits applied; otherwise an error says why and which path. Applying no
/// edits returns the text unchanged.
///
/// ```
/// use flagctl::format::edit::{apply, Edit, Path};
/// use serde_json::json;
///
/// let before = "\
/// key: new-checkout
/// default:
///   rollout: { on: 10, off: 90 } # ramping up
/// ";
/// let edits = [
///     Edit::set(Path::parse("default.rollout.on")?, json!(25)),
///     Edit::set(Path::parse("default.rollout.off")?, json!(75)),
///     Edit::append(Path::parse("targets.on")?, [json!("alice")]),
/// ];
/// let after = apply(before, &edits)?;
/// assert_eq!(after, "\
/// key: new-checkout
/// default:
///   rollout: { on: 25, off: 75 } # ramping up
/// targets:
///   on:
///     - alice
/// ");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn apply(text: &str, edits: &[Edit]) -> Result<String, EditError> {
    let mut document =
        parse(text).map_err(|diagnostics| EditError::InvalidDocument { diagnostics })?;
    let endings = Endings::of(text);
    let mut current = text.to_owned();
    for edit in edits {
        let steps = plan::plan(&document.value, edit)?;
        let whole = plan::expected(&document.value, edit);
        for step in steps {
            let mut expected = document.value.clone();
            step.apply(&mut expected);
            let (text, parsed) = perform(&current, &document, &step, &expected, edit, endings)?;
            current = text;
            document = parsed;
        }
        // The steps again, against the edit worked out in one piece.
        let faithful = whole
            .as_ref()
            .is_some_and(|whole| plan::same(whole, &document.value));
        if !faithful {
            let changed = whole
                .as_ref()
                .and_then(|whole| plan::first_difference(whole, &document.value))
                .unwrap_or_else(|| edit.path().clone());
            return Err(EditError::Unfaithful {
                path: edit.path().clone(),
                changed,
            });
        }
    }
    Ok(current)
}

/// Parses with the loader's parser; the file name only labels diagnostics.
fn parse(text: &str) -> Result<YamlDocument, Vec<Diagnostic>> {
    yaml::parse(text, FilePath::new("<edit>"))
}

/// Performs one step, trying the tree editor first and the text splice
/// second, and returns the first candidate that reads back as `expected`.
fn perform(
    text: &str,
    document: &YamlDocument,
    step: &Step,
    expected: &Value,
    edit: &Edit,
    endings: Endings,
) -> Result<(String, YamlDocument), EditError> {
    // yaml-edit 0.3 removes entries of block collections faithfully but
    // not always tidily (it re-indents the next sibling, or leaves `-`
    // alone on a line), so removals try the line splice first; the splice
    // does not handle flow collections, which yaml-edit does well.
    let attempts: [Performer; 2] = match step {
        Step::RemoveKey { .. } | Step::RemoveItem { .. } => [splice::perform, tree::perform],
        _ => [tree::perform, splice::perform],
    };
    let mut failure = None;
    let mut reason = None;
    for attempt in attempts {
        let candidates = match attempt(text, document, step, endings) {
            Attempt::Done(candidates) => candidates,
            Attempt::Unsupported(why) => {
                reason = reason.or(Some(why));
                continue;
            }
            Attempt::NotApplicable => continue,
        };
        for candidate in candidates {
            let candidate = endings.restore(candidate);
            if let Some(aligned) = lines::realign_comments(text, &candidate)
                && let Ok(parsed) = parse(&aligned)
                && plan::same(&parsed.value, expected)
            {
                return Ok((aligned, parsed));
            }
            match check(&candidate, expected, edit, step) {
                Ok(parsed) => return Ok((candidate, parsed)),
                Err(error) => failure = failure.or(Some(error)),
            }
        }
    }
    Err(failure.unwrap_or_else(|| EditError::Unsupported {
        path: edit.path().clone(),
        reason: reason.unwrap_or("the document has a shape this editor does not handle"),
    }))
}

/// Parses a candidate and compares it with the expected value.
fn check(
    candidate: &str,
    expected: &Value,
    edit: &Edit,
    step: &Step,
) -> Result<YamlDocument, EditError> {
    match parse(candidate) {
        Ok(parsed) if plan::same(&parsed.value, expected) => Ok(parsed),
        Ok(parsed) => Err(EditError::Unfaithful {
            path: edit.path().clone(),
            changed: plan::first_difference(expected, &parsed.value).unwrap_or_else(|| step.path()),
        }),
        Err(diagnostics) => Err(EditError::InvalidResult {
            path: edit.path().clone(),
            diagnostics,
        }),
    }
}

/// One way of performing a step: the tree editor or the text splice.
type Performer = fn(&str, &YamlDocument, &Step, Endings) -> Attempt;

/// What one way of performing a step came up with.
pub(crate) enum Attempt {
    /// Candidate texts, best first, still to be checked.
    Done(Vec<String>),
    /// This way refuses the step, for this reason.
    Unsupported(&'static str),
    /// This way does not handle such steps.
    NotApplicable,
}

/// The line-ending conventions of the original text, which every result
/// keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Endings {
    /// Every line break is `\r\n`.
    pub crlf: bool,
    /// The text ends with a line break (or is empty).
    pub final_newline: bool,
}

impl Endings {
    fn of(text: &str) -> Endings {
        let breaks = text.matches('\n').count();
        Endings {
            crlf: breaks > 0 && text.matches("\r\n").count() == breaks,
            final_newline: text.is_empty() || text.ends_with('\n'),
        }
    }

    /// The line break to write.
    pub(crate) fn eol(self) -> &'static str {
        if self.crlf { "\r\n" } else { "\n" }
    }

    /// Puts the original's line endings and final newline back on a
    /// candidate: a lone `\n` in a CRLF document can only come from the
    /// editor, and YAML reads both breaks alike.
    fn restore(self, mut text: String) -> String {
        if self.crlf && text.matches('\n').count() != text.matches("\r\n").count() {
            text = text.replace("\r\n", "\n").replace('\n', "\r\n");
        }
        if !self.final_newline {
            while text.ends_with('\n') {
                text.pop();
                if text.ends_with('\r') {
                    text.pop();
                }
            }
        } else if !text.is_empty() && !text.ends_with('\n') {
            text.push_str(self.eol());
        }
        text
    }
}
