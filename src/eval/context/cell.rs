//! The layout of an [`Attributes`](super::Attributes) table: 16-byte value
//! cells (short strings inline, packed into a word up to 7 bytes), the spans
//! of longer text, and what `eval::fast` reads from cells directly.

use super::bytes::name_key;

/// A range of an [`Attributes`](super::Attributes)' text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Span {
    pub(super) start: u32,
    pub(super) len: u32,
}

impl Span {
    pub(super) fn to_bytes(self) -> [u8; 8] {
        let mut bytes = [0; 8];
        let (start, len) = bytes.split_at_mut(4);
        start.copy_from_slice(&self.start.to_le_bytes());
        len.copy_from_slice(&self.len.to_le_bytes());
        bytes
    }

    #[inline]
    pub(super) fn from_bytes(bytes: [u8; 8]) -> Span {
        let [a, b, c, d, e, f, g, h] = bytes;
        Span {
            start: u32::from_le_bytes([a, b, c, d]),
            len: u32::from_le_bytes([e, f, g, h]),
        }
    }
}

/// The bytes of an attribute's lookup key in the table.
pub(super) const KEY: usize = 8;
/// The bytes of an attribute's value in the table.
pub(super) const CELL: usize = 16;
/// The bytes of an attribute's name (a [`Span`]) in the table.
pub(super) const NAME: usize = 8;
/// The bytes of one attribute in the table.
pub(super) const ENTRY: usize = KEY + CELL + NAME;

/// The longest string a value cell holds inline.
pub(super) const SHORT: usize = CELL - 1;

/// The last byte of a value cell: up to [`SHORT`], the length of a string
/// held inline; else one of these.
pub(super) const NUMBER: u8 = 16;
pub(super) const BOOL: u8 = 17;
/// A longer string, in the text: a [`Span`].
pub(super) const TEXT: u8 = 18;
/// A list or a map, in `Attributes::heavy`: an index.
pub(super) const HEAVY: u8 = 19;

/// A value cell: 16 bytes, the last one saying what the others hold.
///
/// A string of up to 7 bytes is packed into the first 8 as [`name_key`]
/// packs names (so `eq` and `in` compare one integer); one of up to 15
/// bytes is held as is; a number is its `f64`, a boolean one byte; longer
/// strings, lists and maps are elsewhere and the cell says where.
pub(crate) type Cell = [u8; CELL];

/// The cell of a string of up to [`SHORT`] bytes, which holds it whole:
/// equal strings have equal cells, so an `eq` test may compare cells.
pub(crate) fn short_string_cell(s: &str) -> Option<Cell> {
    if s.len() <= 7 {
        // Exact: at most 7.
        return Some(cell(name_key(s.as_bytes()).to_le_bytes(), s.len() as u8));
    }
    let len = u8::try_from(s.len())
        .ok()
        .filter(|len| usize::from(*len) <= SHORT)?;
    let mut cell = [0; CELL];
    cell.get_mut(..s.len())?.copy_from_slice(s.as_bytes());
    cell[CELL - 1] = len;
    Some(cell)
}

/// What a value cell holds, for tests that read cells directly
/// ([`crate::eval::fast`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum CellKind {
    /// A string, of any length (see [`packed_word`] for short ones).
    String,
    Number(f64),
    Bool(bool),
    /// A list or a map.
    Other,
}

/// Whether `cell` holds a string, of any length.
#[inline(always)]
pub(crate) fn holds_string(cell: &Cell) -> bool {
    let tag = cell[CELL - 1];
    tag <= SHORT as u8 || tag == TEXT
}

/// For a cell holding a string: whether it is packed into a word (7 bytes
/// or fewer), and the cell's first 8 bytes, which are then that word. Read
/// without a branch, since which it is depends on the user.
#[inline(always)]
pub(crate) fn packed_word(cell: &Cell) -> (bool, u64) {
    (cell[CELL - 1] <= 7, u64::from_le_bytes(head(cell)))
}

/// What `cell` holds.
#[inline(always)]
pub(crate) fn cell_kind(cell: &Cell) -> CellKind {
    match cell[CELL - 1] {
        0..=15 | TEXT => CellKind::String,
        NUMBER => CellKind::Number(f64::from_le_bytes(head(cell))),
        BOOL => CellKind::Bool(cell[0] != 0),
        _ => CellKind::Other,
    }
}

pub(super) fn cell(head: [u8; 8], tag: u8) -> Cell {
    let mut cell = [0; CELL];
    let (first, _) = cell.split_at_mut(8);
    first.copy_from_slice(&head);
    cell[CELL - 1] = tag;
    cell
}

#[inline]
pub(super) fn head(cell: &Cell) -> [u8; 8] {
    let (head, _) = cell.split_first_chunk::<8>().unwrap_or((&[0; 8], &[]));
    *head
}
