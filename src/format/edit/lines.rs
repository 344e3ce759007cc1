//! Line-level text helpers for the edits: lines with byte ranges and
//! character positions, and the clean-ups applied to an editor's output
//! (comments back in their column, a new block value at the document's
//! indentation, the comment lines of a removed entry).

use std::ops::Range;

use super::Endings;
use crate::diagnostic::Position;

/// The lines of a text, with their byte ranges.
pub(crate) struct Lines<'a> {
    text: &'a str,
    /// Byte offset where each line starts; a text ending in a line break
    /// has an empty last line.
    starts: Vec<usize>,
}

impl<'a> Lines<'a> {
    pub(crate) fn new(text: &'a str) -> Lines<'a> {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Lines { text, starts }
    }

    /// How many lines (a final line break starts an empty last line).
    pub(crate) fn len(&self) -> usize {
        self.starts.len()
    }

    /// The bytes of line `index` (from 0), line break included.
    pub(crate) fn range(&self, index: usize) -> Range<usize> {
        let start = self.starts.get(index).copied().unwrap_or(self.text.len());
        let end = self
            .starts
            .get(index + 1)
            .copied()
            .unwrap_or(self.text.len());
        start..end
    }

    /// Line `index` without its line break.
    pub(crate) fn line(&self, index: usize) -> &'a str {
        self.text
            .get(self.range(index))
            .unwrap_or_default()
            .trim_end_matches(['\n', '\r'])
    }

    /// The byte offset of a position (1-based line, 1-based column in
    /// characters), if it lies in the text.
    pub(crate) fn offset(&self, position: Position) -> Option<usize> {
        let index = usize::try_from(position.line).ok()?.checked_sub(1)?;
        if index >= self.len() {
            return None;
        }
        let start = self.range(index).start;
        let column = usize::try_from(position.column).ok()?.checked_sub(1)?;
        let line = self.line(index);
        match line.char_indices().nth(column) {
            Some((i, _)) => Some(start + i),
            None => (line.chars().count() == column).then_some(start + line.len()),
        }
    }
}

/// The number of spaces a line starts with.
pub(crate) fn indent(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

pub(crate) fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

/// What to clean up around an entry or item that is being removed: the
/// comment lines directly above it (same indentation, no blank line in
/// between) belong to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Removal {
    /// The first line (from 0) of the comments above the entry; equal to
    /// `entry_line` when there are none.
    pub first_line: usize,
    /// The line (from 0) the entry starts on.
    pub entry_line: usize,
    /// The column (from 0) of the entry's key or dash.
    pub column: usize,
}

/// After an entry starting at `removal.entry_line` of `original` was
/// removed, giving `result`: also removes the comment lines above it, and
/// comment lines indented deeper than it that the editor left behind where
/// it was. Returns `result` unchanged when its lines before the entry are
/// not those of `original`.
pub(crate) fn strip_comments(original: &str, result: String, removal: &Removal) -> String {
    let before = Lines::new(original);
    let after = Lines::new(&result);
    if after.len() <= removal.entry_line
        || (0..removal.entry_line).any(|i| before.line(i) != after.line(i))
    {
        return result;
    }
    let mut end_line = removal.entry_line;
    while end_line < after.len() {
        let line = after.line(end_line);
        if is_comment(line) && indent(line) > removal.column {
            end_line += 1;
        } else {
            break;
        }
    }
    let cut = after.range(removal.first_line).start..after.range(end_line).start;
    if cut.is_empty() {
        return result;
    }
    let mut out = result;
    out.replace_range(cut, "");
    out
}

/// Puts trailing comments back in the column they had, when an edit of a
/// value on their line moved them: `enabled: true    # kill switch` set to
/// `false` keeps `#` where it was. Only lines of `after` that replace a
/// line of `before` one for one are touched, only whitespace before a
/// comment changes, and only where the comment fits in its old column
/// with a space before it. `None` when nothing moved back.
pub(crate) fn realign_comments(before: &str, after: &str) -> Option<String> {
    let old = Lines::new(before);
    let new = Lines::new(after);
    if old.len() != new.len() {
        return None;
    }
    let mut out = String::with_capacity(after.len());
    let mut changed = false;
    for index in 0..new.len() {
        let range = new.range(index);
        let (old_line, new_line) = (old.line(index), new.line(index));
        let ending = &after[range.start + new_line.len()..range.end];
        match realign_line(old_line, new_line) {
            Some(line) if old_line != new_line => {
                out.push_str(&line);
                out.push_str(ending);
                changed = true;
            }
            _ => out.push_str(&after[range]),
        }
    }
    changed.then_some(out)
}

fn realign_line(old: &str, new: &str) -> Option<String> {
    // The comment and the space before it are in the common suffix.
    let common = old
        .bytes()
        .rev()
        .zip(new.bytes().rev())
        .take_while(|(a, b)| a == b)
        .count();
    let suffix_start = old.len() - common;
    let hash = (suffix_start..old.len())
        .find(|&i| old.as_bytes()[i] == b'#' && i > 0 && old.as_bytes()[i - 1] == b' ')?;
    let new_hash = new.len() - (old.len() - hash);
    let gap = |line: &str, at: usize| line[..at].len() - line[..at].trim_end_matches(' ').len();
    let (old_gap, new_gap) = (gap(old, hash), gap(new, new_hash));
    if old_gap < 2 {
        // A single space was not alignment.
        return None;
    }
    let old_column = old[..hash].chars().count();
    let new_column = new[..new_hash].chars().count();
    let value_end = new_hash - new_gap;
    // Realign only where the comment can go back to its column exactly.
    let wanted_gap = (new_gap + old_column).checked_sub(new_column)?;
    if wanted_gap == 0 || wanted_gap == new_gap {
        return None;
    }
    Some(format!(
        "{}{}{}",
        &new[..value_end],
        " ".repeat(wanted_gap),
        &new[new_hash..]
    ))
}

/// Moves the lines of a block value that an editor wrote under the key at
/// `key` (line and column, from 0; the first changed line and its
/// indentation when `None`) in `after` so that
/// its first line is `wanted` columns past the key, as the document does
/// elsewhere. Only changed lines after the key line move, all by the same
/// amount. `None` when nothing would move or the change does not look
/// like one block value.
pub(crate) fn reindent_value(
    before: &str,
    after: &str,
    key: Option<(usize, usize)>,
    wanted: usize,
) -> Option<String> {
    let old = Lines::new(before);
    let new = Lines::new(after);
    let shared = old.len().min(new.len());
    let prefix = (0..shared)
        .take_while(|&i| old.line(i) == new.line(i))
        .count();
    let suffix = (0..shared - prefix)
        .take_while(|&i| old.line(old.len() - 1 - i) == new.line(new.len() - 1 - i))
        .count();
    let changed_end = new.len() - suffix;
    let (key_line, column) = key.unwrap_or_else(|| (prefix, indent(new.line(prefix))));
    if prefix > key_line + 1 || changed_end <= key_line + 1 {
        return None;
    }
    let value_lines = key_line + 1..changed_end;
    let first = value_lines
        .clone()
        .find(|&i| !new.line(i).trim().is_empty())?;
    let actual = indent(new.line(first)).checked_sub(column)?;
    if actual == wanted {
        return None;
    }
    let mut out = String::with_capacity(after.len());
    for index in 0..new.len() {
        let range = new.range(index);
        let line = new.line(index);
        if value_lines.contains(&index) && !line.trim().is_empty() {
            let own = indent(line);
            if own < column + actual {
                return None;
            }
            out.push_str(&" ".repeat(own + wanted - actual));
            out.push_str(&after[range.start + own..range.end]);
        } else {
            out.push_str(&after[range]);
        }
    }
    Some(out)
}

/// Inserts `{}` as line `line` (from 0) of `text`, for a root mapping
/// that lost its last entry.
pub(crate) fn insert_empty_mapping(text: String, line: usize, endings: Endings) -> String {
    let lines = Lines::new(&text);
    let at = lines.range(line).start;
    let mut out = text;
    if at > 0 && !out[..at].ends_with('\n') {
        out.insert_str(at, endings.eol());
        out.insert_str(at + endings.eol().len(), &format!("{{}}{}", endings.eol()));
    } else {
        out.insert_str(at, &format!("{{}}{}", endings.eol()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_count_characters() {
        let text = "a: größe\r\nb: x";
        let lines = Lines::new(text);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines.line(0), "a: größe");
        assert_eq!(lines.offset(Position::new(1, 4)), Some(3));
        assert_eq!(lines.offset(Position::new(1, 9)), Some(10));
        assert_eq!(lines.offset(Position::new(2, 4)), Some(15));
        assert_eq!(lines.offset(Position::new(2, 5)), Some(16));
        assert_eq!(lines.offset(Position::new(2, 6)), None);
        assert_eq!(lines.offset(Position::new(3, 1)), None);
    }

    #[test]
    fn realigns_trailing_comments() {
        let before = "a: true    # c\nb: 1 # d\n";
        assert_eq!(
            realign_comments(before, "a: false    # c\nb: 1 # d\n").as_deref(),
            Some("a: false   # c\nb: 1 # d\n")
        );
        assert_eq!(
            realign_comments(before, "a: 1    # c\nb: 1 # d\n").as_deref(),
            Some("a: 1       # c\nb: 1 # d\n")
        );
        assert_eq!(
            realign_comments(before, "a: a very long value    # c\nb: 1 # d\n"),
            None
        );
        // A single space is not alignment; lines without comments stay.
        assert_eq!(
            realign_comments(before, "a: true    # c\nb: 22 # d\n"),
            None
        );
        assert_eq!(realign_comments("a: 1\n", "a: 2\n"), None);
        assert_eq!(
            realign_comments("a: ü  # c\r\n", "a: üü  # c\r\n").as_deref(),
            Some("a: üü # c\r\n")
        );
    }

    #[test]
    fn reindents_inserted_values() {
        let before = "a:\n    b: 1\nc: 2\n";
        let after = "a:\n    b: 1\n    d:\n      e: 1\n      f:\n        - x\nc: 2\n";
        assert_eq!(
            reindent_value(before, after, None, 4).as_deref(),
            Some("a:\n    b: 1\n    d:\n        e: 1\n        f:\n          - x\nc: 2\n")
        );
        assert_eq!(reindent_value(before, after, None, 2), None);
        // An indentless list made indented, and the other way round.
        let before = "a: 1\n";
        let after = "a: 1\ntags:\n- x\n- y\n";
        assert_eq!(
            reindent_value(before, after, None, 2).as_deref(),
            Some("a: 1\ntags:\n  - x\n  - y\n")
        );
        let after = "a: 1\ntags:\n  - x\n";
        assert_eq!(
            reindent_value(before, after, None, 0).as_deref(),
            Some("a: 1\ntags:\n- x\n")
        );
    }
}
