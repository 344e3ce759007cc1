//! Bucketing contract `v1`: the hash and the bucket that decide a rollout.
//!
//! `h = murmur3_x86_32(seed 0)` over the UTF-8 bytes of `salt ++ value` (no
//! separator), and `bucket = (h as u64 * 100000) >> 32`, a number in
//! `0..100000`. A rollout's variants own cumulative ranges of buckets in
//! declared order. This is what flagd's `fractional` does, so flags migrated
//! from flagd keep their users; `docs/bucketing.md` states the contract and its
//! test vectors. Changing anything here is a breaking change.
//!
//! The hash streams over the salt and the value without concatenating them,
//! and [`BucketingSalt`] hashes the salt's whole 4-byte blocks once, when a
//! snapshot is compiled.

use crate::model::WEIGHT_TOTAL;

const C1: u32 = 0xcc9e_2d51;
const C2: u32 = 0x1b87_3593;

/// The number of buckets: weights are thousandths of a percent, 100% is 100000.
pub const BUCKETS: u32 = WEIGHT_TOTAL;

#[inline(always)]
fn scramble(k: u32) -> u32 {
    k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2)
}

#[inline(always)]
fn mix(h: u32, k: u32) -> u32 {
    (h ^ scramble(k))
        .rotate_left(13)
        .wrapping_mul(5)
        .wrapping_add(0xe654_6b64)
}

#[inline(always)]
fn finalize(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

/// A murmur3 x86_32 computation in progress: the running hash after every
/// whole block, plus up to three bytes waiting for the next block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct State {
    hash: u32,
    pending: u32,
    pending_len: u32,
    // murmur3 mixes the length modulo 2^32 (the reference takes an `int`).
    len: u32,
}

impl State {
    #[inline(always)]
    fn new(seed: u32) -> State {
        State {
            hash: seed,
            pending: 0,
            pending_len: 0,
            len: 0,
        }
    }

    #[inline(always)]
    fn update(mut self, mut data: &[u8]) -> State {
        // Exact: murmur3 mixes the length modulo 2^32.
        let added = data.len() as u32;
        self.len = self.len.wrapping_add(added);
        if self.pending_len > 0 {
            while self.pending_len < 4 {
                let Some((&byte, rest)) = data.split_first() else {
                    return self;
                };
                self.pending |= u32::from(byte) << (8 * self.pending_len);
                self.pending_len += 1;
                data = rest;
            }
            self.hash = mix(self.hash, self.pending);
            self.pending = 0;
            self.pending_len = 0;
        }
        let (blocks, tail) = data.as_chunks::<4>();
        for block in blocks {
            self.hash = mix(self.hash, u32::from_le_bytes(*block));
        }
        for (shift, &byte) in (0..).step_by(8).zip(tail) {
            self.pending |= u32::from(byte) << shift;
            self.pending_len += 1;
        }
        self
    }

    #[inline(always)]
    fn finish(self) -> u32 {
        let mut hash = self.hash;
        if self.pending_len > 0 {
            hash ^= scramble(self.pending);
        }
        finalize(hash ^ self.len)
    }
}

/// murmur3 x86_32 of `data` with `seed`, as in Austin Appleby's reference
/// `MurmurHash3_x86_32`.
///
/// ```
/// use flagctl::eval::bucketing::murmur3_x86_32;
///
/// assert_eq!(murmur3_x86_32(b"fractional-flagjack", 0), 0x9fe8_43e0);
/// ```
pub fn murmur3_x86_32(data: &[u8], seed: u32) -> u32 {
    State::new(seed).update(data).finish()
}

/// murmur3 x86_32 of `first ++ second` with `seed`, without concatenating.
///
/// ```
/// use flagctl::eval::bucketing::{murmur3_x86_32, murmur3_x86_32_concat};
///
/// assert_eq!(
///     murmur3_x86_32_concat(b"fractional-flag", b"jack", 0),
///     murmur3_x86_32(b"fractional-flagjack", 0),
/// );
/// ```
pub fn murmur3_x86_32_concat(first: &[u8], second: &[u8], seed: u32) -> u32 {
    State::new(seed).update(first).update(second).finish()
}

/// The bucket of a hash: `(hash as u64 * 100000) >> 32`, in `0..100000`.
///
/// ```
/// use flagctl::eval::bucketing::bucket;
///
/// assert_eq!(bucket(0), 0);
/// assert_eq!(bucket(0x8000_0000), 50_000);
/// assert_eq!(bucket(u32::MAX), 99_999);
/// ```
#[inline]
pub fn bucket(hash: u32) -> u32 {
    // Exact: below BUCKETS since hash < 2^32.
    ((u64::from(hash) * u64::from(BUCKETS)) >> 32) as u32
}

/// A flag's bucketing salt with its whole 4-byte blocks already hashed.
///
/// [`BucketingSalt::hash`] then only hashes the value, so bucketing a user
/// costs about as much as hashing the user's key alone.
///
/// ```
/// use flagctl::eval::bucketing::{bucket, BucketingSalt};
///
/// let salt = BucketingSalt::new("fractional-flag");
/// let hash = salt.hash("jack");
/// assert_eq!(hash, 0x9fe8_43e0);
/// assert_eq!(bucket(hash), 62_463);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BucketingSalt {
    salt: Box<str>,
    state: State,
}

impl BucketingSalt {
    /// Hashes the whole blocks of `salt` (seed 0) for later use.
    pub fn new(salt: &str) -> BucketingSalt {
        BucketingSalt {
            salt: salt.into(),
            state: State::new(0).update(salt.as_bytes()),
        }
    }

    /// The salt.
    pub fn as_str(&self) -> &str {
        &self.salt
    }

    /// murmur3 x86_32 (seed 0) of `salt ++ value`.
    #[inline]
    pub fn hash(&self, value: &str) -> u32 {
        self.hash_bytes(value.as_bytes())
    }

    /// murmur3 x86_32 (seed 0) of `salt ++ value`, for bytes.
    #[inline]
    pub fn hash_bytes(&self, value: &[u8]) -> u32 {
        self.state.update(value).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Vectors from Austin Appleby's SMHasher and common murmur3 test suites.
    #[test]
    fn reference_vectors() {
        assert_eq!(murmur3_x86_32(b"", 0), 0);
        assert_eq!(murmur3_x86_32(b"", 1), 0x514e_28b7);
        assert_eq!(murmur3_x86_32(b"", 0xffff_ffff), 0x81f1_6f39);
        assert_eq!(murmur3_x86_32(&[0xff, 0xff, 0xff, 0xff], 0), 0x7629_3b50);
        assert_eq!(murmur3_x86_32(&[0x21, 0x43, 0x65, 0x87], 0), 0xf55b_516b);
        assert_eq!(
            murmur3_x86_32(&[0x21, 0x43, 0x65, 0x87], 0x5082_edee),
            0x2362_f9de
        );
        assert_eq!(murmur3_x86_32(&[0x21, 0x43, 0x65], 0), 0x7e4a_8634);
        assert_eq!(murmur3_x86_32(&[0x21, 0x43], 0), 0xa0f7_b07a);
        assert_eq!(murmur3_x86_32(&[0x21], 0), 0x7266_1cf4);
        assert_eq!(murmur3_x86_32(&[0, 0, 0, 0], 0), 0x2362_f9de);
        assert_eq!(murmur3_x86_32(b"Hello, world!", 1234), 0xfaf6_cdb3);
        assert_eq!(
            murmur3_x86_32(b"The quick brown fox jumps over the lazy dog", 0x9747_b28c),
            0x2fa8_26cd
        );
    }

    #[test]
    fn every_split_of_the_input_hashes_alike() {
        let data = b"a salt and a value, 33 bytes long";
        let whole = murmur3_x86_32(data, 0);
        for split in 0..=data.len() {
            let (first, second) = data.split_at(split);
            assert_eq!(
                murmur3_x86_32_concat(first, second, 0),
                whole,
                "split at {split}"
            );
            let salt = std::str::from_utf8(first).expect("ascii");
            let value = std::str::from_utf8(second).expect("ascii");
            assert_eq!(
                BucketingSalt::new(salt).hash(value),
                whole,
                "salt split at {split}"
            );
        }
    }

    #[test]
    fn buckets_span_the_range() {
        assert_eq!(bucket(0), 0);
        assert_eq!(bucket(1), 0);
        // 2^32 / 100000 = 42949.67: each bucket holds 42949 or 42950 hashes.
        assert_eq!(bucket(42_949), 0);
        assert_eq!(bucket(42_950), 1);
        assert_eq!(bucket(85_899), 1);
        assert_eq!(bucket(85_900), 2);
        assert_eq!(bucket(0x7fff_ffff), 49_999);
        assert_eq!(bucket(0x8000_0000), 50_000);
        assert_eq!(bucket(u32::MAX), 99_999);
    }
}
