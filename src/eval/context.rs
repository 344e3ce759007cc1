//! The evaluation context: who is asking, as a targeting key plus typed
//! attributes.
//!
//! Attributes are kept in small vectors sorted by a key derived from their
//! name, so a condition (whose attribute name was turned into a key when the
//! snapshot was compiled) finds its attribute by comparing integers; short
//! string values sit in the entry itself. Nested maps are addressed with dots
//! (`address.country`).

use std::fmt;
use std::hash::Hasher;

use rustc_hash::FxHasher;
use serde_json::Value;

/// The lookup key of an attribute name, computed the same way for context
/// entries and for compiled conditions.
///
/// A name of up to 7 bytes is its own key (its bytes and its length), so a
/// lookup that finds the key has found the name; a longer name is hashed,
/// with the top byte set to `0xff` so the two kinds never meet, and a match
/// is confirmed by comparing the names.
pub(crate) fn name_key(name: &[u8]) -> u64 {
    if let Ok(len @ 0..=7) = u8::try_from(name.len()) {
        let mut word = [0u8; 8];
        for (slot, byte) in word.iter_mut().zip(name) {
            *slot = *byte;
        }
        word[7] = len;
        u64::from_le_bytes(word)
    } else {
        let mut hasher = FxHasher::default();
        hasher.write(name);
        hasher.finish() | (0xff << 56)
    }
}

/// Whether a key was hashed (and a match must be confirmed).
#[inline(always)]
pub(crate) fn is_hashed(key: u64) -> bool {
    key >> 56 == 0xff
}

/// Whether two byte strings are equal, compared inline: what evaluation
/// compares is short (attribute names, country codes, plans), and calling
/// `memcmp` for each costs more than comparing them.
#[inline(always)]
pub(crate) fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let (a_words, a_rest) = a.as_chunks::<8>();
    let (b_words, b_rest) = b.as_chunks::<8>();
    if let (Some(a_last), Some(b_last)) = (a.last_chunk::<8>(), b.last_chunk::<8>()) {
        // At least a word long: whole words, then the last 8 bytes (which
        // may overlap the last word) instead of the bytes left one by one.
        return a_words.iter().zip(b_words).all(|(x, y)| x == y) && a_last == b_last;
    }
    a_rest.iter().zip(b_rest).all(|(x, y)| x == y)
}

/// One typed attribute value.
///
/// ```
/// use flagctl::eval::AttributeValue;
///
/// assert_eq!(AttributeValue::from("DE"), AttributeValue::String("DE".into()));
/// assert_eq!(AttributeValue::from(3), AttributeValue::Number(3.0));
/// assert_eq!(
///     AttributeValue::from(["beta", "staff"]),
///     AttributeValue::List(vec!["beta".into(), "staff".into()]),
/// );
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum AttributeValue {
    /// A string.
    String(Box<str>),
    /// A number (JSON numbers are read as `f64`).
    Number(f64),
    /// A boolean.
    Bool(bool),
    /// A list, usually of strings (`contains` tests membership).
    List(Vec<AttributeValue>),
    /// A nested map, addressed with dots (`address.country`).
    Map(Attributes),
}

impl AttributeValue {
    /// The name of the value's type, for messages (`string`, `number`, …).
    pub fn type_name(&self) -> &'static str {
        match self {
            AttributeValue::String(_) => "string",
            AttributeValue::Number(_) => "number",
            AttributeValue::Bool(_) => "boolean",
            AttributeValue::List(_) => "list",
            AttributeValue::Map(_) => "map",
        }
    }

    /// Converts a JSON value; `None` for `null`.
    ///
    /// Object keys with dots nest like [`Context::with`]; `null` members of
    /// objects and lists are left out.
    pub fn from_json(value: &Value) -> Option<AttributeValue> {
        Some(match value {
            Value::Null => return None,
            Value::Bool(b) => AttributeValue::Bool(*b),
            Value::Number(n) => AttributeValue::Number(n.as_f64().unwrap_or(f64::NAN)),
            Value::String(s) => AttributeValue::String(s.as_str().into()),
            Value::Array(items) => {
                AttributeValue::List(items.iter().filter_map(AttributeValue::from_json).collect())
            }
            Value::Object(members) => {
                let mut map = Attributes::default();
                for (name, member) in members {
                    if let Some(member) = AttributeValue::from_json(member) {
                        map.set(name, member);
                    }
                }
                AttributeValue::Map(map)
            }
        })
    }

    /// The value as JSON (numbers that are not finite become `null`).
    pub fn to_json(&self) -> Value {
        match self {
            AttributeValue::String(s) => Value::String(s.to_string()),
            AttributeValue::Number(n) => {
                serde_json::Number::from_f64(*n).map_or(Value::Null, Value::Number)
            }
            AttributeValue::Bool(b) => Value::Bool(*b),
            AttributeValue::List(items) => {
                Value::Array(items.iter().map(AttributeValue::to_json).collect())
            }
            AttributeValue::Map(map) => map.to_json(),
        }
    }
}

impl From<&str> for AttributeValue {
    fn from(value: &str) -> Self {
        AttributeValue::String(value.into())
    }
}

impl From<String> for AttributeValue {
    fn from(value: String) -> Self {
        AttributeValue::String(value.into_boxed_str())
    }
}

impl From<Box<str>> for AttributeValue {
    fn from(value: Box<str>) -> Self {
        AttributeValue::String(value)
    }
}

impl From<bool> for AttributeValue {
    fn from(value: bool) -> Self {
        AttributeValue::Bool(value)
    }
}

impl From<f64> for AttributeValue {
    fn from(value: f64) -> Self {
        AttributeValue::Number(value)
    }
}

impl From<f32> for AttributeValue {
    fn from(value: f32) -> Self {
        AttributeValue::Number(f64::from(value))
    }
}

impl From<i32> for AttributeValue {
    fn from(value: i32) -> Self {
        AttributeValue::Number(f64::from(value))
    }
}

impl From<u32> for AttributeValue {
    fn from(value: u32) -> Self {
        AttributeValue::Number(f64::from(value))
    }
}

impl From<i64> for AttributeValue {
    /// Integers beyond ±2^53 lose precision, as in JSON.
    fn from(value: i64) -> Self {
        // Exact: numbers are f64, as in JSON.
        let number = value as f64;
        AttributeValue::Number(number)
    }
}

impl From<u64> for AttributeValue {
    /// Integers beyond 2^53 lose precision, as in JSON.
    fn from(value: u64) -> Self {
        // Exact: numbers are f64, as in JSON.
        let number = value as f64;
        AttributeValue::Number(number)
    }
}

impl From<usize> for AttributeValue {
    /// Integers beyond 2^53 lose precision, as in JSON.
    fn from(value: usize) -> Self {
        // Exact: numbers are f64, as in JSON.
        let number = value as f64;
        AttributeValue::Number(number)
    }
}

impl From<isize> for AttributeValue {
    /// Integers beyond ±2^53 lose precision, as in JSON.
    fn from(value: isize) -> Self {
        // Exact: numbers are f64, as in JSON.
        let number = value as f64;
        AttributeValue::Number(number)
    }
}

impl<T: Into<AttributeValue>> From<Vec<T>> for AttributeValue {
    fn from(values: Vec<T>) -> Self {
        AttributeValue::List(values.into_iter().map(Into::into).collect())
    }
}

impl<T: Into<AttributeValue>, const N: usize> From<[T; N]> for AttributeValue {
    fn from(values: [T; N]) -> Self {
        AttributeValue::List(values.into_iter().map(Into::into).collect())
    }
}

impl From<Attributes> for AttributeValue {
    fn from(map: Attributes) -> Self {
        AttributeValue::Map(map)
    }
}

/// A borrowed view of an attribute value, as stored in a [`Context`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum AttributeRef<'a> {
    /// A string.
    String(&'a str),
    /// A number.
    Number(f64),
    /// A boolean.
    Bool(bool),
    /// A list.
    List(&'a [AttributeValue]),
    /// A nested map.
    Map(&'a Attributes),
}

impl AttributeRef<'_> {
    /// The name of the value's type, for messages (`string`, `number`, …).
    pub fn type_name(&self) -> &'static str {
        match self {
            AttributeRef::String(_) => "string",
            AttributeRef::Number(_) => "number",
            AttributeRef::Bool(_) => "boolean",
            AttributeRef::List(_) => "list",
            AttributeRef::Map(_) => "map",
        }
    }

    /// An owned copy.
    pub fn to_value(&self) -> AttributeValue {
        match *self {
            AttributeRef::String(s) => AttributeValue::String(s.into()),
            AttributeRef::Number(n) => AttributeValue::Number(n),
            AttributeRef::Bool(b) => AttributeValue::Bool(b),
            AttributeRef::List(items) => AttributeValue::List(items.to_vec()),
            AttributeRef::Map(map) => AttributeValue::Map(map.clone()),
        }
    }

    /// The value as JSON (numbers that are not finite become `null`).
    pub fn to_json(&self) -> Value {
        match *self {
            AttributeRef::String(s) => Value::String(s.to_owned()),
            AttributeRef::Number(n) => {
                serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number)
            }
            AttributeRef::Bool(b) => Value::Bool(b),
            AttributeRef::List(items) => {
                Value::Array(items.iter().map(AttributeValue::to_json).collect())
            }
            AttributeRef::Map(map) => map.to_json(),
        }
    }
}

impl PartialEq<AttributeValue> for AttributeRef<'_> {
    fn eq(&self, other: &AttributeValue) -> bool {
        match (*self, other) {
            (AttributeRef::String(a), AttributeValue::String(b)) => a == &**b,
            (AttributeRef::Number(a), AttributeValue::Number(b)) => a == *b,
            (AttributeRef::Bool(a), AttributeValue::Bool(b)) => a == *b,
            (AttributeRef::List(a), AttributeValue::List(b)) => a == b.as_slice(),
            (AttributeRef::Map(a), AttributeValue::Map(b)) => a == b,
            _ => false,
        }
    }
}

/// A range of an [`Attributes`]' text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Span {
    start: u32,
    len: u32,
}

impl Span {
    fn to_bytes(self) -> [u8; 8] {
        let mut bytes = [0; 8];
        let (start, len) = bytes.split_at_mut(4);
        start.copy_from_slice(&self.start.to_le_bytes());
        len.copy_from_slice(&self.len.to_le_bytes());
        bytes
    }

    #[inline]
    fn from_bytes(bytes: [u8; 8]) -> Span {
        let [a, b, c, d, e, f, g, h] = bytes;
        Span {
            start: u32::from_le_bytes([a, b, c, d]),
            len: u32::from_le_bytes([e, f, g, h]),
        }
    }
}

/// The bytes of an attribute's lookup key in the table.
const KEY: usize = 8;
/// The bytes of an attribute's value in the table.
const CELL: usize = 16;
/// The bytes of an attribute's name (a [`Span`]) in the table.
const NAME: usize = 8;
/// The bytes of one attribute in the table.
const ENTRY: usize = KEY + CELL + NAME;

/// The longest string a value cell holds inline.
const SHORT: usize = CELL - 1;

/// The last byte of a value cell: up to [`SHORT`], the length of a string
/// held inline; else one of these.
const NUMBER: u8 = 16;
const BOOL: u8 = 17;
/// A longer string, in the text: a [`Span`].
const TEXT: u8 = 18;
/// A list or a map, in `Attributes::heavy`: an index.
const HEAVY: u8 = 19;

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
/// ([`super::fast`]).
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

fn cell(head: [u8; 8], tag: u8) -> Cell {
    let mut cell = [0; CELL];
    let (first, _) = cell.split_at_mut(8);
    first.copy_from_slice(&head);
    cell[CELL - 1] = tag;
    cell
}

#[inline]
fn head(cell: &Cell) -> [u8; 8] {
    let (head, _) = cell.split_first_chunk::<8>().unwrap_or((&[0; 8], &[]));
    *head
}

/// A list or a map, out of the table.
#[derive(Clone, Debug, PartialEq)]
enum Heavy {
    List(Box<[AttributeValue]>),
    Map(Attributes),
}

/// A context value as operators see it.
///
/// Strings of up to 7 bytes come packed as a [`Actual::Word`], longer ones
/// as bytes (valid UTF-8, turned into `str` only by operators that need
/// one); the length tells which, so equal strings always arrive alike.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Actual<'c> {
    Word(u64),
    Str(&'c [u8]),
    Number(f64),
    Bool(bool),
    List(&'c [AttributeValue]),
    Map(&'c Attributes),
}

impl<'c> Actual<'c> {
    /// A string value, packed when short.
    #[inline]
    pub(crate) fn string(bytes: &'c [u8]) -> Actual<'c> {
        if bytes.len() <= 7 {
            Actual::Word(name_key(bytes))
        } else {
            Actual::Str(bytes)
        }
    }

    /// The bytes of a string value (unpacking a word into `buffer`).
    #[inline]
    pub(crate) fn bytes<'a>(self, buffer: &'a mut [u8; 8]) -> Option<&'a [u8]>
    where
        'c: 'a,
    {
        match self {
            Actual::Word(word) => {
                *buffer = word.to_le_bytes();
                let len = usize::from(buffer[7]);
                buffer.get(..len)
            }
            Actual::Str(bytes) => Some(bytes),
            _ => None,
        }
    }
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
    table: Vec<u8>,
    text: String,
    heavy: Vec<Heavy>,
    /// Bytes of `text` no longer referred to (replaced values).
    garbage: u32,
    /// The targeting key, for a context's top level.
    key: Span,
}

/// Up to this many entries a lookup scans; beyond, it bisects.
const LINEAR_SCAN: usize = 8;

/// The longest text an [`Attributes`] holds (spans are 32-bit).
const MAX_TEXT: usize = u32::MAX as usize;

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
    fn text(&self, span: Span) -> &str {
        let start = span.start as usize;
        self.text
            .get(start..start + span.len as usize)
            .unwrap_or_default()
    }

    /// The keys, in order.
    #[inline]
    fn keys(&self) -> &[[u8; KEY]] {
        let len = self.len();
        self.table
            .get(..len * KEY)
            .unwrap_or_default()
            .as_chunks()
            .0
    }

    #[inline]
    fn key_at(&self, index: usize) -> Option<u64> {
        self.keys().get(index).map(|key| u64::from_le_bytes(*key))
    }

    #[inline]
    fn cell(&self, index: usize) -> Option<&Cell> {
        let start = self.len() * KEY;
        self.table.get(start..)?.as_chunks::<CELL>().0.get(index)
    }

    fn name_span(&self, index: usize) -> Span {
        let start = self.len() * (KEY + CELL);
        self.table
            .get(start..)
            .and_then(|names| names.as_chunks::<NAME>().0.get(index))
            .map_or_else(Span::default, |name| Span::from_bytes(*name))
    }

    fn name(&self, index: usize) -> &str {
        self.text(self.name_span(index))
    }

    /// Appends `text`, returning where it is (empty when the text is full).
    fn push(&mut self, text: &str) -> Span {
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

    fn view<'a>(&'a self, cell: &'a Cell) -> AttributeRef<'a> {
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

    fn heavy_index(cell: &Cell) -> Option<usize> {
        if cell[CELL - 1] != HEAVY {
            return None;
        }
        let [a, b, c, d, ..] = head(cell);
        usize::try_from(u32::from_le_bytes([a, b, c, d])).ok()
    }

    fn heavy_at(&self, cell: &Cell) -> Option<&Heavy> {
        self.heavy.get(Self::heavy_index(cell)?)
    }

    #[inline]
    fn actual<'a>(&'a self, cell: &'a Cell) -> Option<Actual<'a>> {
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

    fn store(&mut self, value: AttributeValue) -> Cell {
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

    fn store_heavy(&mut self, heavy: Heavy) -> Cell {
        let Ok(index) = u32::try_from(self.heavy.len()) else {
            return cell([0; 8], TEXT);
        };
        self.heavy.push(heavy);
        let [a, b, c, d] = index.to_le_bytes();
        cell([a, b, c, d, 0, 0, 0, 0], HEAVY)
    }

    /// Forgets a value no longer in the table: its text becomes garbage
    /// (compacted when half is garbage), its list or map is dropped.
    fn discard(&mut self, value: &Cell) {
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

    fn compact(&mut self) {
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
    fn insert_entry(&mut self, index: usize, key: u64, value: Cell, name: Span) {
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
    fn remove_entry(&mut self, index: usize) -> Option<(Cell, Span)> {
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
    fn replace(&mut self, index: usize, value: AttributeValue) {
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

    fn insert(&mut self, name: &str, value: AttributeValue) {
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
    fn search(&self, key: u64, name: &str) -> Result<usize, usize> {
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
    fn find_colliding(&self, key: u64, name: &[u8], mut index: usize) -> Option<&Cell> {
        while self.key_at(index) == Some(key) {
            if same_bytes(self.name(index).as_bytes(), name) {
                return self.cell(index);
            }
            index += 1;
        }
        None
    }
}

/// Who a flag is evaluated for: a targeting key plus typed attributes.
///
/// The targeting key identifies the user (or device, or tenant) and is what
/// rollouts hash unless they name another attribute; conditions read it as
/// `attr: key`. An empty targeting key counts as missing. Attribute names
/// with dots address nested maps.
///
/// ```
/// use flagctl::eval::{AttributeRef, Context};
///
/// let context = Context::new("user-42")
///     .with("country", "DE")
///     .with("plan", "enterprise")
///     .with("seats", 120)
///     .with("beta", true)
///     .with("groups", ["staff", "testers"])
///     .with("address.city", "Berlin");
/// assert_eq!(context.targeting_key(), "user-42");
/// assert_eq!(context.get("address.city"), Some(AttributeRef::String("Berlin")));
///
/// let same = Context::from_json(&serde_json::json!({
///     "targetingKey": "user-42",
///     "country": "DE",
///     "plan": "enterprise",
///     "seats": 120,
///     "beta": true,
///     "groups": ["staff", "testers"],
///     "address": {"city": "Berlin"},
/// }))?;
/// assert_eq!(same, context);
/// # Ok::<(), flagctl::eval::ContextError>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct Context {
    /// The attributes; their text starts with the targeting key.
    attributes: Attributes,
}

impl PartialEq for Context {
    fn eq(&self, other: &Self) -> bool {
        self.targeting_key() == other.targeting_key() && self.attributes == other.attributes
    }
}

/// Why a JSON value is not an evaluation context.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ContextError {
    /// The context is not a JSON object.
    #[error("an evaluation context must be a JSON object, found {found}")]
    NotAnObject {
        /// What was found instead (`an array`, `a string`, …).
        found: &'static str,
    },
    /// `targetingKey` is not a string.
    #[error("`targetingKey` must be a string, found {found}")]
    TargetingKeyNotString {
        /// What was found instead.
        found: &'static str,
    },
}

fn describe_json(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl Context {
    /// A context for `targeting_key` without attributes.
    pub fn new(targeting_key: impl Into<String>) -> Context {
        let mut context = Context::default();
        context.set_targeting_key(targeting_key);
        context
    }

    /// Reads an OpenFeature-style JSON context: `targetingKey` plus attributes.
    ///
    /// Other members become attributes (objects nest, `null` is left out). A
    /// missing `targetingKey` leaves the key empty.
    pub fn from_json(value: &Value) -> Result<Context, ContextError> {
        let Value::Object(members) = value else {
            return Err(ContextError::NotAnObject {
                found: describe_json(value),
            });
        };
        let mut context = Context::default();
        for (name, member) in members {
            if name == "targetingKey" {
                match member {
                    Value::String(key) => context.set_targeting_key(key.as_str()),
                    Value::Null => {}
                    other => {
                        return Err(ContextError::TargetingKeyNotString {
                            found: describe_json(other),
                        });
                    }
                }
            } else if let Some(value) = AttributeValue::from_json(member) {
                context.attributes.set(name, value);
            }
        }
        Ok(context)
    }

    /// The context as OpenFeature-style JSON (`targetingKey` plus attributes).
    pub fn to_json(&self) -> Value {
        let mut json = self.attributes.to_json();
        if let Value::Object(members) = &mut json {
            members.insert(
                "targetingKey".to_owned(),
                Value::String(self.targeting_key().to_owned()),
            );
        }
        json
    }

    /// Adds or replaces the attribute at a dotted `path`, builder style.
    pub fn with(mut self, path: &str, value: impl Into<AttributeValue>) -> Context {
        self.set(path, value);
        self
    }

    /// Adds or replaces the attribute at a dotted `path`.
    pub fn set(&mut self, path: &str, value: impl Into<AttributeValue>) {
        self.attributes.set(path, value.into());
    }

    /// Replaces the targeting key.
    pub fn set_targeting_key(&mut self, targeting_key: impl Into<String>) {
        let targeting_key = targeting_key.into();
        let attributes = &mut self.attributes;
        if attributes.text.is_empty() {
            // The usual case, a new context: the key's string becomes the text.
            attributes.text = targeting_key;
            attributes.text.reserve(64);
            // Exact: longer keys are left empty below.
            let len = attributes.text.len() as u32;
            attributes.key = Span { start: 0, len };
            if attributes.text.len() > MAX_TEXT {
                attributes.text.clear();
                attributes.key = Span::default();
            }
        } else {
            attributes.garbage = attributes.garbage.saturating_add(attributes.key.len);
            attributes.key = attributes.push(&targeting_key);
        }
    }

    /// The targeting key (empty when none was given).
    #[inline]
    pub fn targeting_key(&self) -> &str {
        self.attributes.text(self.attributes.key)
    }

    /// The attribute at a dotted `path`; conditions read `key` as the
    /// targeting key instead (see [`Context::targeting_key`]).
    pub fn get(&self, path: &str) -> Option<AttributeRef<'_>> {
        self.attributes.get_path(path)
    }

    /// The attributes.
    pub fn attributes(&self) -> &Attributes {
        &self.attributes
    }

    /// The attributes, to change them.
    pub fn attributes_mut(&mut self) -> &mut Attributes {
        &mut self.attributes
    }
}

impl fmt::Display for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_json())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    proptest::proptest! {
        /// Comparing by words (the last one overlapping) is comparing bytes.
        #[test]
        fn same_bytes_is_equality(
            a in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40),
            flip in proptest::option::of(0usize..40),
            cut in proptest::option::of(0usize..40),
        ) {
            let mut b = a.clone();
            if let Some(at) = flip.filter(|at| *at < b.len()) {
                b[at] ^= 1;
            }
            if let Some(len) = cut.filter(|len| *len < b.len()) {
                b.truncate(len);
            }
            proptest::prop_assert_eq!(same_bytes(&a, &b), a == b);
            proptest::prop_assert!(same_bytes(&a, &a));
        }
    }

    fn get(context: &Context, path: &str) -> Option<AttributeValue> {
        context.get(path).map(|value| value.to_value())
    }

    #[test]
    fn builder_sets_and_replaces() {
        let context = Context::new("u")
            .with("a", 1)
            .with("a", "x")
            .with("n.m", true)
            .with("n.k", 2.5)
            .with("n.m.deep", "replaced a bool");
        assert_eq!(get(&context, "a"), Some(AttributeValue::from("x")));
        assert_eq!(get(&context, "n.k"), Some(AttributeValue::Number(2.5)));
        assert_eq!(
            get(&context, "n.m.deep"),
            Some(AttributeValue::from("replaced a bool"))
        );
        assert_eq!(get(&context, "n.x"), None);
        assert_eq!(get(&context, "a.b"), None);
        assert_eq!(context.attributes().len(), 2);
    }

    #[test]
    fn lookup_scans_and_bisects() {
        let mut context = Context::new("u");
        for i in 0..40 {
            context.set(&format!("attribute{i}"), i);
        }
        for i in 0..40 {
            let name = format!("attribute{i}");
            assert_eq!(
                get(&context, &name),
                Some(AttributeValue::from(i)),
                "{name}"
            );
            let found = context
                .attributes()
                .find(name_key(name.as_bytes()), name.as_bytes());
            assert!(
                matches!(found, Some(Actual::Number(n)) if n == f64::from(i)),
                "{name}"
            );
        }
        assert_eq!(get(&context, "attribute40"), None);
        let mut small = Attributes::new();
        for i in 0..LINEAR_SCAN {
            small.set(&format!("s{i}"), AttributeValue::from("v"));
        }
        for i in 0..LINEAR_SCAN {
            let name = format!("s{i}");
            assert!(
                small
                    .find(name_key(name.as_bytes()), name.as_bytes())
                    .is_some()
            );
        }
        assert!(small.find(name_key(b"nope"), b"nope").is_none());
        assert_eq!(small.remove("s0"), Some(AttributeValue::from("v")));
        assert!(small.get("s0").is_none());
    }

    #[test]
    fn table_moves_entries() {
        // Inserts and removes at the front, middle and back, checked
        // against a model.
        let mut attributes = Attributes::new();
        let mut model = std::collections::BTreeMap::new();
        let names: Vec<String> = (0..23)
            .map(|i| match i % 3 {
                0 => format!("n{i}"),
                1 => format!("a_longer_name_{i}"),
                _ => format!("z{i}"),
            })
            .collect();
        let check = |attributes: &Attributes, model: &std::collections::BTreeMap<String, i32>| {
            assert_eq!(attributes.len(), model.len());
            for (name, value) in model {
                assert_eq!(
                    attributes.get(name),
                    Some(AttributeRef::Number(f64::from(*value))),
                    "{name}"
                );
                let found = attributes.find(name_key(name.as_bytes()), name.as_bytes());
                assert!(matches!(found, Some(Actual::Number(n)) if n == f64::from(*value)));
            }
        };
        for (i, name) in names.iter().enumerate().rev() {
            let value = i32::try_from(i).expect("small");
            attributes.set(name, AttributeValue::from(value));
            model.insert(name.clone(), value);
            check(&attributes, &model);
        }
        for name in names
            .iter()
            .step_by(2)
            .chain(names.iter().skip(1).step_by(2))
        {
            assert!(attributes.remove(name).is_some());
            model.remove(name);
            check(&attributes, &model);
        }
        assert!(attributes.table.is_empty());
    }

    #[test]
    fn lists_and_maps_stay_in_place_when_others_go() {
        let mut context = Context::new("k")
            .with("l1", ["a", "b"])
            .with("m.x", 1)
            .with("l2", ["c"]);
        context.set("l1", "now a string");
        assert_eq!(get(&context, "m.x"), Some(AttributeValue::from(1)));
        assert_eq!(get(&context, "l2"), Some(AttributeValue::from(["c"])));
        assert_eq!(
            context.attributes_mut().remove("m"),
            Some(AttributeValue::Map({
                let mut map = Attributes::new();
                map.set("x", AttributeValue::from(1));
                map
            }))
        );
        assert_eq!(get(&context, "l2"), Some(AttributeValue::from(["c"])));
        assert_eq!(context.attributes().heavy.len(), 1);
    }

    #[test]
    fn json_round_trip() {
        let json = json!({
            "targetingKey": "user-1",
            "country": "DE",
            "seats": 3,
            "beta": false,
            "groups": ["a", "b", null],
            "address": {"country": "FR", "zip": "75001"},
            "gone": null,
        });
        let context = Context::from_json(&json).expect("an object");
        assert_eq!(context.targeting_key(), "user-1");
        assert_eq!(
            get(&context, "address.country"),
            Some(AttributeValue::from("FR"))
        );
        assert_eq!(
            get(&context, "groups"),
            Some(AttributeValue::from(["a", "b"]))
        );
        assert_eq!(get(&context, "gone"), None);
        let back = context.to_json();
        assert_eq!(back["address"]["zip"], json!("75001"));
        assert_eq!(back["targetingKey"], json!("user-1"));
        assert_eq!(Context::from_json(&back), Ok(context));
    }

    #[test]
    fn replaced_text_is_compacted() {
        let mut context = Context::new("first-key")
            .with("keep", "kept")
            .with("nested.x", "y");
        for i in 0..1000 {
            context.set("churn", format!("value number {i}"));
            context.set_targeting_key(format!("key-{i}"));
        }
        assert_eq!(context.targeting_key(), "key-999");
        assert_eq!(
            get(&context, "churn"),
            Some(AttributeValue::from("value number 999"))
        );
        assert_eq!(get(&context, "keep"), Some(AttributeValue::from("kept")));
        assert_eq!(get(&context, "nested.x"), Some(AttributeValue::from("y")));
        assert!(
            context.attributes().text.len() < 300,
            "{}",
            context.attributes().text.len()
        );
        context.set("keep", 1);
        assert_eq!(
            context.attributes_mut().remove("churn"),
            Some(AttributeValue::from("value number 999"))
        );
        assert_eq!(get(&context, "churn"), None);
        assert_eq!(
            context,
            Context::new("key-999")
                .with("keep", 1)
                .with("nested.x", "y")
        );
    }

    #[test]
    fn layout() {
        assert_eq!(ENTRY, 32);
        assert_eq!(name_key(b"plan"), name_key(b"plan"));
        assert_ne!(name_key(b"plan"), name_key(b"plan\0"));
        assert_ne!(name_key(b""), name_key(b"\0"));
        assert!(!is_hashed(name_key(b"country")));
        assert!(is_hashed(name_key(b"app_version")));
        // Short and long names and values, side by side.
        let long = "a value longer than fourteen bytes";
        let context = Context::new("k")
            .with("country", "DE")
            .with("a_long_attribute_name", long)
            .with("fourteen_bytes", "exactly 14 b!!")
            .with("s", "");
        assert_eq!(get(&context, "country"), Some(AttributeValue::from("DE")));
        assert_eq!(
            get(&context, "a_long_attribute_name"),
            Some(AttributeValue::from(long))
        );
        assert_eq!(
            get(&context, "fourteen_bytes"),
            Some(AttributeValue::from("exactly 14 b!!"))
        );
        assert_eq!(get(&context, "s"), Some(AttributeValue::from("")));
        let name = "a_long_attribute_name";
        let found = context
            .attributes()
            .find(name_key(name.as_bytes()), name.as_bytes());
        assert!(matches!(found, Some(Actual::Str(bytes)) if bytes == long.as_bytes()));
        let found = context.attributes().find(name_key(b"country"), b"country");
        assert!(matches!(found, Some(Actual::Word(word)) if word == name_key(b"DE")));
    }

    #[test]
    fn json_errors() {
        assert_eq!(
            Context::from_json(&json!([1])),
            Err(ContextError::NotAnObject { found: "an array" })
        );
        assert_eq!(
            Context::from_json(&json!({"targetingKey": 7})),
            Err(ContextError::TargetingKeyNotString { found: "a number" })
        );
        let anonymous = Context::from_json(&json!({"targetingKey": null, "a": 1})).expect("valid");
        assert_eq!(anonymous.targeting_key(), "");
        assert_eq!(
            ContextError::NotAnObject { found: "a string" }.to_string(),
            "an evaluation context must be a JSON object, found a string"
        );
    }
}
