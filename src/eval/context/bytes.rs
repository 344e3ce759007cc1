//! Byte helpers shared by contexts and compiled conditions: the lookup
//! key of an attribute name, and inline comparison of short byte strings.

use std::hash::Hasher;

use rustc_hash::FxHasher;

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
