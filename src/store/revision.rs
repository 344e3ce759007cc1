//! [`RevisionId`]: the library's own name for a git object id, so that the
//! git library behind [`super::Store`] is not part of the public API and can
//! be upgraded without a breaking release. It converts to and from
//! `git2::Oid` only inside `store`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The id of a git object (a commit, a tree, a blob): 20 bytes, shown as 40
/// lowercase hexadecimal digits.
///
/// ```
/// use flagctl::store::RevisionId;
///
/// let id: RevisionId = "0123456789abcdef0123456789abcdef01234567".parse()?;
/// assert_eq!(id.to_string(), "0123456789abcdef0123456789abcdef01234567");
/// assert!("0123".parse::<RevisionId>().is_err());
/// # Ok::<(), flagctl::store::ParseRevisionIdError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RevisionId([u8; 20]);

impl RevisionId {
    /// The id with these bytes.
    pub const fn from_bytes(bytes: [u8; 20]) -> RevisionId {
        RevisionId(bytes)
    }

    /// The id's bytes.
    pub const fn as_bytes(&self) -> &[u8; 20] {
        &self.0
    }

    /// Whether every byte is zero (git's name for "no object").
    pub fn is_zero(&self) -> bool {
        self.0 == [0; 20]
    }

    pub(crate) fn from_oid(oid: git2::Oid) -> RevisionId {
        let mut bytes = [0; 20];
        // A SHA-1 id is 20 bytes; `Oid` has no other size in this libgit2.
        bytes.copy_from_slice(&oid.as_bytes()[..20]);
        RevisionId(bytes)
    }

    pub(crate) fn to_oid(self) -> git2::Oid {
        git2::Oid::from_bytes(&self.0).expect("20 bytes make an object id")
    }
}

impl fmt::Display for RevisionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for RevisionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A text that is not 40 hexadecimal digits, given as a [`RevisionId`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not a revision id (40 hexadecimal digits)")]
pub struct ParseRevisionIdError {
    /// The text that was given.
    pub text: String,
}

impl FromStr for RevisionId {
    type Err = ParseRevisionIdError;

    /// Parses 40 hexadecimal digits, in either case.
    fn from_str(text: &str) -> Result<RevisionId, ParseRevisionIdError> {
        let error = || ParseRevisionIdError {
            text: text.to_owned(),
        };
        let digits = text.as_bytes();
        if digits.len() != 40 {
            return Err(error());
        }
        let mut bytes = [0; 20];
        for (byte, pair) in bytes.iter_mut().zip(digits.chunks_exact(2)) {
            let high = (pair[0] as char).to_digit(16).ok_or_else(error)?;
            let low = (pair[1] as char).to_digit(16).ok_or_else(error)?;
            *byte = u8::try_from(high * 16 + low).expect("two hex digits make a byte");
        }
        Ok(RevisionId(bytes))
    }
}

impl Serialize for RevisionId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for RevisionId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<RevisionId, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "0123456789abcdef0123456789abcdef01234567";

    #[test]
    fn text_round_trips_and_matches_git2() -> Result<(), Box<dyn std::error::Error>> {
        let id: RevisionId = HEX.parse()?;
        assert_eq!(id.to_string(), HEX);
        assert_eq!(format!("{id:?}"), HEX);
        assert_eq!(HEX.to_uppercase().parse::<RevisionId>()?, id);
        let oid = git2::Oid::from_str(HEX)?;
        assert_eq!(RevisionId::from_oid(oid), id);
        assert_eq!(id.to_oid(), oid);
        assert_eq!(oid.to_string(), id.to_string());
        Ok(())
    }

    #[test]
    fn only_forty_hex_digits_parse() {
        for text in [
            "",
            "0123",
            &HEX[1..],
            &format!("{HEX}0"),
            &HEX.replace('a', "g"),
        ] {
            assert!(text.parse::<RevisionId>().is_err(), "{text}");
        }
        assert!(RevisionId::from_bytes([0; 20]).is_zero());
    }

    #[test]
    fn serde_is_the_hex_string() -> Result<(), Box<dyn std::error::Error>> {
        let id: RevisionId = HEX.parse()?;
        let json = serde_json::to_string(&id)?;
        assert_eq!(json, format!("\"{HEX}\""));
        assert_eq!(serde_json::from_str::<RevisionId>(&json)?, id);
        assert!(serde_json::from_str::<RevisionId>("\"xyz\"").is_err());
        Ok(())
    }

    #[test]
    fn order_is_the_bytes_order() -> Result<(), Box<dyn std::error::Error>> {
        let low: RevisionId = "00".repeat(20).parse()?;
        let high: RevisionId = HEX.parse()?;
        assert!(low < high);
        Ok(())
    }
}
