//! [`Attributes`]: one level of named, typed values, laid out for lookups.

use std::fmt;

use serde_json::Value;

use super::bytes::*;
use super::cell::*;
use super::value::*;

/// A list or a map, out of the table.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Heavy {
    List(Box<[AttributeValue]>),
    Map(Attributes),
}

/// A map of attribute names to values (one level; dots address nested maps).
///
/// Laid out for lookups, in one table (one allocation): the keys of the
/// names (a name of up to 7 bytes is its own key, a longer one is hashed),
/// sorted, a cache line for eight of them; then the values, 16 bytes each,
/// strings of up to 15 bytes inline; then where each name is. Longer names
/// and strings (and a context's targeting key) are in one string; lists and
/// maps in a vector of their own. Testing `country in [DE, FR]` and
/// `plan == enterprise` reads the table's first cache lines and compares
/// integers and a few bytes. Iteration order is unspecified.
#[derive(Clone, Default)]
pub struct Attributes {
    /// `n` keys, then `n` value cells, then `n` name spans.
    pub(super) table: Vec<u8>,
    pub(super) text: String,
    pub(super) heavy: Vec<Heavy>,
    /// Bytes of `text` no longer referred to (replaced values).
    pub(super) garbage: u32,
    /// The targeting key, for a context's top level.
    pub(super) key: Span,
}

/// Up to this many entries a lookup scans; beyond, it bisects.
pub(super) const LINEAR_SCAN: usize = 8;

/// The longest text an [`Attributes`] holds (spans are 32-bit).
pub(super) const MAX_TEXT: usize = u32::MAX as usize;

impl PartialEq for Attributes {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len()
            && self
                .iter()
                .all(|(name, value)| other.get(name) == Some(value))
    }
}

impl fmt::Debug for Attributes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl Attributes {
    /// An empty map.
    pub fn new() -> Attributes {
        Attributes::default()
    }

    /// The number of attributes at this level.
    #[inline]
    pub fn len(&self) -> usize {
        self.table.len() / ENTRY
    }

    /// Whether there is no attribute at this level.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    #[inline]
    pub(super) fn text(&self, span: Span) -> &str {
        let start = span.start as usize;
        self.text
            .get(start..start + span.len as usize)
            .unwrap_or_default()
    }

    /// The keys, in order.
    #[inline]
    pub(super) fn keys(&self) -> &[[u8; KEY]] {
        let len = self.len();
        self.table
            .get(..len * KEY)
            .unwrap_or_default()
            .as_chunks()
            .0
    }

    #[inline]
    pub(super) fn key_at(&self, index: usize) -> Option<u64> {
        self.keys().get(index).map(|key| u64::from_le_bytes(*key))
    }

    #[inline]
    pub(super) fn cell(&self, index: usize) -> Option<&Cell> {
        let start = self.len() * KEY;
        self.table.get(start..)?.as_chunks::<CELL>().0.get(index)
    }

    pub(super) fn name_span(&self, index: usize) -> Span {
        let start = self.len() * (KEY + CELL);
        self.table
            .get(start..)
            .and_then(|names| names.as_chunks::<NAME>().0.get(index))
            .map_or_else(Span::default, |name| Span::from_bytes(*name))
    }

    pub(super) fn name(&self, index: usize) -> &str {
        self.text(self.name_span(index))
    }

    /// Appends `text`, returning where it is (empty when the text is full).
    pub(super) fn push(&mut self, text: &str) -> Span {
        if self.text.len() + text.len() > MAX_TEXT {
            return Span::default();
        }
        // Exact: bounded by MAX_TEXT.
        let span = Span {
            start: self.text.len() as u32,
            len: text.len() as u32,
        };
        self.text.push_str(text);
        span
    }

    pub(super) fn view<'a>(&'a self, cell: &'a Cell) -> AttributeRef<'a> {
        match cell[CELL - 1] {
            // A packed string's bytes lead its word.
            len @ 0..=15 => AttributeRef::String(
                cell.get(..usize::from(len))
                    .and_then(|bytes| std::str::from_utf8(bytes).ok())
                    .unwrap_or_default(),
            ),
            NUMBER => AttributeRef::Number(f64::from_le_bytes(head(cell))),
            BOOL => AttributeRef::Bool(cell[0] != 0),
            TEXT => AttributeRef::String(self.text(Span::from_bytes(head(cell)))),
            _ => match self.heavy_at(cell) {
                Some(Heavy::List(items)) => AttributeRef::List(items),
                Some(Heavy::Map(map)) => AttributeRef::Map(map),
                None => AttributeRef::List(&[]),
            },
        }
    }

    pub(super) fn heavy_index(cell: &Cell) -> Option<usize> {
        if cell[CELL - 1] != HEAVY {
            return None;
        }
        let [a, b, c, d, ..] = head(cell);
        usize::try_from(u32::from_le_bytes([a, b, c, d])).ok()
    }

    pub(super) fn heavy_at(&self, cell: &Cell) -> Option<&Heavy> {
        self.heavy.get(Self::heavy_index(cell)?)
    }

    #[inline]
    pub(super) fn actual<'a>(&'a self, cell: &'a Cell) -> Option<Actual<'a>> {
        Some(match cell[CELL - 1] {
            0..=7 => Actual::Word(u64::from_le_bytes(head(cell))),
            len @ 8..=15 => Actual::Str(cell.get(..usize::from(len)).unwrap_or_default()),
            NUMBER => Actual::Number(f64::from_le_bytes(head(cell))),
            BOOL => Actual::Bool(cell[0] != 0),
            TEXT => Actual::Str(self.text(Span::from_bytes(head(cell))).as_bytes()),
            _ => match self.heavy_at(cell)? {
                Heavy::List(items) => Actual::List(items),
                Heavy::Map(map) => Actual::Map(map),
            },
        })
    }

    pub(super) fn store(&mut self, value: AttributeValue) -> Cell {
        match value {
            AttributeValue::String(s) => match short_string_cell(&s) {
                Some(cell) => cell,
                None => cell(self.push(&s).to_bytes(), TEXT),
            },
            AttributeValue::Number(n) => cell(n.to_le_bytes(), NUMBER),
            AttributeValue::Bool(b) => cell([u8::from(b), 0, 0, 0, 0, 0, 0, 0], BOOL),
            AttributeValue::List(items) => self.store_heavy(Heavy::List(items.into_boxed_slice())),
            AttributeValue::Map(map) => self.store_heavy(Heavy::Map(map)),
        }
    }

    pub(super) fn store_heavy(&mut self, heavy: Heavy) -> Cell {
        let Ok(index) = u32::try_from(self.heavy.len()) else {
            return cell([0; 8], TEXT);
        };
        self.heavy.push(heavy);
        let [a, b, c, d] = index.to_le_bytes();
        cell([a, b, c, d, 0, 0, 0, 0], HEAVY)
    }

    /// Forgets a value no longer in the table: its text becomes garbage
    /// (compacted when half is garbage), its list or map is dropped.
    pub(super) fn discard(&mut self, value: &Cell) {
        if value[CELL - 1] == TEXT {
            self.garbage = self
                .garbage
                .saturating_add(Span::from_bytes(head(value)).len);
        }
        if let Some(index) = Self::heavy_index(value)
            && index < self.heavy.len()
        {
            self.heavy.remove(index);
            // Later lists and maps moved down by one.
            let cells = self.len() * KEY..self.len() * (KEY + CELL);
            if let Some(cells) = self.table.get_mut(cells) {
                for cell in cells.as_chunks_mut::<CELL>().0 {
                    if let Some(other) = Self::heavy_index(cell)
                        && other > index
                    {
                        // Exact: smaller than an index that fit.
                        let [a, b, c, d] = (other as u32 - 1).to_le_bytes();
                        *cell = self::cell([a, b, c, d, 0, 0, 0, 0], HEAVY);
                    }
                }
            }
        }
        if self.garbage > 64 && self.garbage as usize * 2 > self.text.len() {
            self.compact();
        }
    }

    pub(super) fn compact(&mut self) {
        let old = std::mem::take(&mut self.text);
        let copy = |text: &mut String, span: Span| {
            let start = span.start as usize;
            let piece = old
                .get(start..start + span.len as usize)
                .unwrap_or_default();
            // Exact: no longer than before.
            let moved = Span {
                start: text.len() as u32,
                len: span.len,
            };
            text.push_str(piece);
            moved
        };
        let mut text = String::with_capacity(old.len().saturating_sub(self.garbage as usize));
        self.key = copy(&mut text, self.key);
        let len = self.len();
        let (_, rest) = self.table.split_at_mut(len * KEY);
        let (cells, names) = rest.split_at_mut(len * CELL);
        for (cell, name) in cells
            .as_chunks_mut::<CELL>()
            .0
            .iter_mut()
            .zip(names.as_chunks_mut::<NAME>().0)
        {
            *name = copy(&mut text, Span::from_bytes(*name)).to_bytes();
            if cell[CELL - 1] == TEXT {
                *cell = self::cell(
                    copy(&mut text, Span::from_bytes(head(cell))).to_bytes(),
                    TEXT,
                );
            }
        }
        self.text = text;
        self.garbage = 0;
    }

    /// Puts a new entry at `index`.
    pub(super) fn insert_entry(&mut self, index: usize, key: u64, value: Cell, name: Span) {
        let len = self.len();
        // From the back, so that the earlier positions stay put.
        let names = len * (KEY + CELL) + index * NAME;
        let cells = len * KEY + index * CELL;
        let keys = index * KEY;
        self.table.splice(names..names, name.to_bytes());
        self.table.splice(cells..cells, value);
        self.table.splice(keys..keys, key.to_le_bytes());
    }

    /// Takes the entry at `index` out, returning its value cell and name.
    pub(super) fn remove_entry(&mut self, index: usize) -> Option<(Cell, Span)> {
        let value = *self.cell(index)?;
        let name = self.name_span(index);
        let len = self.len();
        let names = len * (KEY + CELL) + index * NAME;
        let cells = len * KEY + index * CELL;
        let keys = index * KEY;
        self.table.drain(names..names + NAME);
        self.table.drain(cells..cells + CELL);
        self.table.drain(keys..keys + KEY);
        Some((value, name))
    }

    /// Replaces the value at `index`, discarding the old one.
    pub(super) fn replace(&mut self, index: usize, value: AttributeValue) {
        let Some(&old) = self.cell(index) else {
            return;
        };
        self.discard(&old);
        let stored = self.store(value);
        let start = self.len() * KEY + index * CELL;
        if let Some(cell) = self.table.get_mut(start..start + CELL) {
            cell.copy_from_slice(&stored);
        }
    }

    /// The attribute `name` at this level (no dot splitting).
    pub fn get(&self, name: &str) -> Option<AttributeRef<'_>> {
        let index = self.search(name_key(name.as_bytes()), name).ok()?;
        self.cell(index).map(|cell| self.view(cell))
    }

    /// The attribute at a dotted `path` (`address.country`).
    pub fn get_path(&self, path: &str) -> Option<AttributeRef<'_>> {
        let mut parts = path.split('.');
        let mut value = self.get(parts.next()?)?;
        for part in parts {
            let AttributeRef::Map(map) = value else {
                return None;
            };
            value = map.get(part)?;
        }
        Some(value)
    }

    /// Sets the attribute at a dotted `path`, creating nested maps (and
    /// replacing values that are in the way).
    pub fn set(&mut self, path: &str, value: AttributeValue) {
        match path.split_once('.') {
            None => self.insert(path, value),
            Some((first, rest)) => {
                let key = name_key(first.as_bytes());
                let index = match self.search(key, first) {
                    Ok(index) => index,
                    Err(index) => {
                        let name = self.push(first);
                        let map = self.store_heavy(Heavy::Map(Attributes::default()));
                        self.insert_entry(index, key, map, name);
                        index
                    }
                };
                let heavy = self.cell(index).and_then(Self::heavy_index);
                if let Some(Heavy::Map(map)) = heavy.and_then(|heavy| self.heavy.get_mut(heavy)) {
                    map.set(rest, value);
                } else {
                    let mut map = Attributes::default();
                    map.set(rest, value);
                    self.replace(index, AttributeValue::Map(map));
                }
            }
        }
    }

    /// Removes the attribute `name` at this level and returns it.
    pub fn remove(&mut self, name: &str) -> Option<AttributeValue> {
        let index = self.search(name_key(name.as_bytes()), name).ok()?;
        let (cell, span) = self.remove_entry(index)?;
        let value = self.view(&cell).to_value();
        self.garbage = self.garbage.saturating_add(span.len);
        self.discard(&cell);
        Some(value)
    }

    /// The attributes at this level, in unspecified order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, AttributeRef<'_>)> {
        (0..self.len()).filter_map(|index| {
            let cell = self.cell(index)?;
            Some((self.name(index), self.view(cell)))
        })
    }

    /// The map as a JSON object, names sorted.
    pub fn to_json(&self) -> Value {
        let mut entries: Vec<_> = self.iter().collect();
        entries.sort_by(|a, b| a.0.cmp(b.0));
        Value::Object(
            entries
                .into_iter()
                .map(|(name, value)| (name.to_owned(), value.to_json()))
                .collect(),
        )
    }

    pub(super) fn insert(&mut self, name: &str, value: AttributeValue) {
        let key = name_key(name.as_bytes());
        match self.search(key, name) {
            Ok(index) => self.replace(index, value),
            Err(index) => {
                let name = self.push(name);
                let value = self.store(value);
                self.insert_entry(index, key, value, name);
            }
        }
    }

    /// Where `name` (with `key`) is, or would go: keys in order, names in
    /// order among equal keys.
    pub(super) fn search(&self, key: u64, name: &str) -> Result<usize, usize> {
        let mut index = self
            .keys()
            .partition_point(|k| u64::from_le_bytes(*k) < key);
        while self.key_at(index) == Some(key) {
            match self.name(index).cmp(name) {
                std::cmp::Ordering::Equal => return Ok(index),
                std::cmp::Ordering::Greater => return Err(index),
                std::cmp::Ordering::Less => index += 1,
            }
        }
        Err(index)
    }

    /// The hot-path lookup: `key` is `name_key(name)`, computed when the
    /// snapshot was compiled.
    #[inline(always)]
    pub(crate) fn find(&self, key: u64, name: &[u8]) -> Option<Actual<'_>> {
        self.actual(self.find_cell(key, name)?)
    }

    /// The value cell of the attribute whose key is `key` (and whose name
    /// is `name`), as [`Attributes::find`] finds it.
    #[inline(always)]
    pub(crate) fn find_cell(&self, key: u64, name: &[u8]) -> Option<&Cell> {
        let keys = self.keys();
        let index = if keys.len() <= LINEAR_SCAN {
            keys.iter().position(|k| u64::from_le_bytes(*k) == key)?
        } else {
            let index = keys.partition_point(|k| u64::from_le_bytes(*k) < key);
            (self.key_at(index) == Some(key)).then_some(index)?
        };
        // A short name is its key; a hashed one must be the name.
        if is_hashed(key) && !same_bytes(self.name(index).as_bytes(), name) {
            return self.find_colliding(key, name, index);
        }
        self.cell(index)
    }

    /// `find_cell` when two long names hash alike.
    #[cold]
    pub(super) fn find_colliding(&self, key: u64, name: &[u8], mut index: usize) -> Option<&Cell> {
        while self.key_at(index) == Some(key) {
            if same_bytes(self.name(index).as_bytes(), name) {
                return self.cell(index);
            }
            index += 1;
        }
        None
    }
}
