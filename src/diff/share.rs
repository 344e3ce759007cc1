//! A share of users: a count of the 2^32 hash values of bucketing contract v1.

use std::fmt;

use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};

use crate::model::WEIGHT_TOTAL;

/// The number of hash values: a [`Share`] counts them.
pub const HASH_SPACE: u64 = 1 << 32;

/// A share of users: a number of the 2^32 hash values.
///
/// Serialized as `{"numerator": …, "denominator": …, "percent": …}`: the exact
/// fraction in lowest terms, and the percentage rounded to 3 decimals.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Share(u64);

impl Share {
    /// Nobody.
    pub const NONE: Share = Share(0);
    /// Everyone.
    pub const ALL: Share = Share(HASH_SPACE);

    /// The share of `hashes` hash values (at most 2^32).
    pub fn from_hashes(hashes: u64) -> Share {
        Share(hashes.min(HASH_SPACE))
    }

    /// The hash values whose bucket lies in `[start, end)` (buckets are
    /// `0..100000`).
    pub fn of_buckets(start: u32, end: u32) -> Share {
        Share(hashes_below(end).saturating_sub(hashes_below(start)))
    }

    /// How many hash values.
    pub fn hashes(self) -> u64 {
        self.0
    }

    /// Whether nobody.
    pub fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// The exact fraction in lowest terms, `(numerator, denominator)`.
    pub fn fraction(self) -> (u64, u64) {
        if self.0 == 0 {
            return (0, 1);
        }
        let shift = self.0.trailing_zeros().min(32);
        (self.0 >> shift, HASH_SPACE >> shift)
    }

    /// The percentage in thousandths of a percent, rounded half up.
    pub fn thousandths_of_percent(self) -> u64 {
        let scaled = u128::from(self.0) * 100_000 * 2 + u128::from(HASH_SPACE);
        let rounded = scaled / (2 * u128::from(HASH_SPACE));
        u64::try_from(rounded).unwrap_or(u64::MAX)
    }

    /// The percentage, rounded to 3 decimals.
    #[expect(
        clippy::cast_precision_loss,
        reason = "at most 100000: exact in an f64"
    )]
    pub fn percent(self) -> f64 {
        self.thousandths_of_percent() as f64 / 1000.0
    }

    pub(super) fn add(self, other: Share) -> Share {
        Share(self.0 + other.0)
    }

    pub(super) fn as_f64(self) -> f64 {
        #[expect(clippy::cast_precision_loss, reason = "a ratio; rounding is fine")]
        let ratio = self.0 as f64 / HASH_SPACE as f64;
        ratio
    }
}

impl fmt::Display for Share {
    /// `15.000%`; `<0.001%` and `>99.999%` when rounding would hide that
    /// someone (or not everyone) is concerned.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.thousandths_of_percent();
        if t == 0 && self.0 > 0 {
            f.write_str("<0.001%")
        } else if t == 100_000 && self.0 < HASH_SPACE {
            f.write_str(">99.999%")
        } else {
            write!(f, "{}.{:03}%", t / 1000, t % 1000)
        }
    }
}

impl Serialize for Share {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let (numerator, denominator) = self.fraction();
        let mut s = serializer.serialize_struct("Share", 3)?;
        s.serialize_field("numerator", &numerator)?;
        s.serialize_field("denominator", &denominator)?;
        s.serialize_field("percent", &self.percent())?;
        s.end()
    }
}

/// The number of hash values whose bucket is below `bucket`:
/// `ceil(bucket * 2^32 / 100000)`.
pub(super) fn hashes_below(bucket: u32) -> u64 {
    let total = u64::from(WEIGHT_TOTAL);
    (u64::from(bucket.min(WEIGHT_TOTAL)) * HASH_SPACE).div_ceil(total)
}
