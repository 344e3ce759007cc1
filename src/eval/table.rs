//! A snapshot's flags by key: the first step of every evaluation.
//!
//! A hash table (hashbrown's [`HashTable`], the table behind std's
//! `HashMap`) whose entries hold the compiled flag itself and, in front of
//! it, the key's bytes when the key is short. Finding a flag therefore reads
//! the table's control bytes and the entry, and compares the key inline:
//! with `HashMap<Box<str>, _>` the comparison follows the key's pointer to
//! another allocation and calls `memcmp`, which in the evaluation bench was
//! a fifth of the time of a flag with rules (`docs/benchmarks.md`).

use std::hash::Hasher;

use hashbrown::HashTable;
use rustc_hash::FxHasher;

use super::compiled::CompiledFlag;
use super::context::same_bytes;

/// How many bytes of a key an entry holds inline; longer keys are compared
/// with the flag's own copy.
const INLINE: usize = 39;

/// A key's bytes, inline when at most [`INLINE`] bytes long.
#[derive(Debug)]
struct InlineKey {
    /// The key's length, or `u8::MAX` when it is not inline.
    len: u8,
    bytes: [u8; INLINE],
}

impl InlineKey {
    fn new(key: &str) -> InlineKey {
        let mut bytes = [0; INLINE];
        match (u8::try_from(key.len()), bytes.get_mut(..key.len())) {
            (Ok(len), Some(prefix)) => {
                prefix.copy_from_slice(key.as_bytes());
                InlineKey { len, bytes }
            }
            _ => InlineKey {
                len: u8::MAX,
                bytes,
            },
        }
    }
}

/// One flag in the table: the key first, so that it shares a cache line
/// with the flag's first fields.
#[derive(Debug)]
#[repr(C)]
struct Entry {
    key: InlineKey,
    flag: CompiledFlag,
}

impl Entry {
    #[inline(always)]
    fn is(&self, key: &[u8]) -> bool {
        match self.key.bytes.get(..usize::from(self.key.len)) {
            Some(inline) => same_bytes(inline, key),
            None => same_bytes(self.flag.key.as_bytes(), key),
        }
    }
}

/// The hash of a key: FxHash of its bytes, as `FxHashMap<&[u8], _>` would.
#[inline(always)]
fn hash(key: &[u8]) -> u64 {
    let mut hasher = FxHasher::default();
    hasher.write(key);
    hasher.finish()
}

/// Compiled flags by key.
#[derive(Debug, Default)]
pub(crate) struct FlagTable {
    table: HashTable<Entry>,
}

impl FlagTable {
    /// A table of `flags`; a key that is already in the table is replaced.
    pub(crate) fn new(flags: impl ExactSizeIterator<Item = CompiledFlag>) -> FlagTable {
        let mut table = HashTable::with_capacity(flags.len());
        for flag in flags {
            let key = hash(flag.key.as_bytes());
            let entry = Entry {
                key: InlineKey::new(&flag.key),
                flag,
            };
            match table.find_mut(key, |other: &Entry| other.is(entry.flag.key.as_bytes())) {
                Some(other) => *other = entry,
                None => {
                    table
                        .insert_unique(key, entry, |entry: &Entry| hash(entry.flag.key.as_bytes()));
                }
            }
        }
        FlagTable { table }
    }

    /// The flag `key`.
    #[inline]
    pub(crate) fn get(&self, key: &str) -> Option<&CompiledFlag> {
        let key = key.as_bytes();
        self.table
            .find(hash(key), |entry| entry.is(key))
            .map(|entry| &entry.flag)
    }

    /// The number of flags.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.table.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::Snapshot;
    use crate::model::ResolvedEnvironment;

    fn flags(keys: &[String]) -> Vec<CompiledFlag> {
        let flags: serde_json::Map<String, serde_json::Value> = keys
            .iter()
            .map(|key| {
                (
                    key.clone(),
                    serde_json::json!({"key": key, "type": "boolean", "default": "on"}),
                )
            })
            .collect();
        let environment: ResolvedEnvironment = serde_json::from_value(serde_json::json!({
            "environment": "prod", "bucketing": "v1", "segments": {}, "flags": flags,
        }))
        .expect("an environment");
        super::super::compile::compile(&environment)
            .expect("compiles")
            .flags
    }

    #[test]
    fn finds_short_long_and_boundary_keys_and_nothing_else() {
        let keys: Vec<String> = [1, 7, 8, 38, 39, 40, 64, 128]
            .iter()
            .map(|len| "k".repeat(*len))
            .chain((0..500).map(|i| format!("feature-{i}")))
            .collect();
        let table = FlagTable::new(flags(&keys).into_iter());
        assert_eq!(table.len(), keys.len());
        for key in &keys {
            assert_eq!(table.get(key).map(|flag| &*flag.key), Some(key.as_str()));
            // An extension, a prefix and a key differing in its last byte
            // are other keys.
            assert!(table.get(&format!("{key}x")).is_none());
            let prefix = &key[..key.len() - 1];
            if !keys.iter().any(|other| other == prefix) {
                assert!(table.get(prefix).is_none());
            }
            assert!(table.get(&format!("{prefix}~")).is_none());
        }
        assert!(table.get("").is_none());
        assert!(table.get("feature-500").is_none());
    }

    #[test]
    fn a_key_given_twice_keeps_the_later_flag() {
        let first = flags(&["a".to_owned(), "b".to_owned()]);
        let later = flags(&["b".to_owned()]);
        // `b` is flag 1 of the first list and flag 0 of the later one.
        let table = FlagTable::new(
            first
                .into_iter()
                .chain(later)
                .collect::<Vec<_>>()
                .into_iter(),
        );
        assert_eq!(table.len(), 2);
        assert_eq!(table.get("b").map(|flag| flag.index), Some(0));
        assert_eq!(table.get("a").map(|flag| flag.index), Some(0));
    }

    #[test]
    fn a_snapshot_finds_every_flag() {
        let keys: Vec<String> = (0..100).map(|i| format!("flag-{i:03}")).collect();
        let snapshot = Snapshot::compile(
            &serde_json::from_value(serde_json::json!({
                "environment": "prod", "bucketing": "v1", "segments": {},
                "flags": keys.iter().map(|key| (key.clone(), serde_json::json!(
                    {"key": key, "type": "boolean", "default": "on"}))).collect::<serde_json::Map<_, _>>(),
            }))
            .expect("an environment"),
            "r1",
        )
        .expect("compiles");
        for key in &keys {
            assert!(snapshot.contains(key));
            assert_eq!(
                snapshot
                    .evaluate(key, &crate::eval::Context::new("u"))
                    .flag_key(),
                Some(key.as_str())
            );
        }
    }
}
