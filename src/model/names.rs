//! Names: flag keys, segment names, environment names, and the rule they
//! all follow ([`check_name`]).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

/// The longest flag key, segment or environment name accepted.
pub const MAX_NAME_LEN: usize = 128;

/// Why a string is not a valid flag key, segment name or environment name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// The name is empty.
    #[error("a name cannot be empty")]
    Empty,
    /// The name is longer than [`MAX_NAME_LEN`].
    #[error("`{0}` is longer than {MAX_NAME_LEN} characters")]
    TooLong(String),
    /// The name holds a character outside `A-Z a-z 0-9 . _ -`.
    #[error("`{name}` contains `{character}`; use letters, digits, `.`, `_` and `-`")]
    BadCharacter {
        /// The rejected name.
        name: String,
        /// The first character that is not allowed.
        character: char,
    },
    /// The name does not start with a letter or digit.
    #[error("`{0}` must start with a letter or a digit")]
    BadStart(String),
    /// The name contains `..`, which could escape a directory.
    #[error("`{0}` contains `..`")]
    DotDot(String),
}

/// Checks that `name` is safe as a file stem and as an identifier.
///
/// Names start with an ASCII letter or digit, continue with letters, digits,
/// `.`, `_` or `-`, hold no `..`, and are at most [`MAX_NAME_LEN`] long, so a
/// name can never be a path separator or climb out of its directory.
pub fn check_name(name: &str) -> Result<(), NameError> {
    let Some(first) = name.chars().next() else {
        return Err(NameError::Empty);
    };
    if name.len() > MAX_NAME_LEN {
        return Err(NameError::TooLong(name.to_owned()));
    }
    if let Some(character) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(NameError::BadCharacter {
            name: name.to_owned(),
            character,
        });
    }
    if !first.is_ascii_alphanumeric() {
        return Err(NameError::BadStart(name.to_owned()));
    }
    if name.contains("..") {
        return Err(NameError::DotDot(name.to_owned()));
    }
    Ok(())
}

macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Parses and checks a name (see [`check_name`]).
            pub fn parse(name: &str) -> Result<Self, NameError> {
                check_name(name)?;
                Ok(Self(name.to_owned()))
            }

            /// The name as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = NameError;
            fn from_str(name: &str) -> Result<Self, NameError> {
                Self::parse(name)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let name = String::deserialize(deserializer)?;
                Self::parse(&name).map_err(serde::de::Error::custom)
            }
        }
    };
}

name_type!(
    /// The key of a flag, equal to the stem of its file (`base/<key>.yaml`).
    FlagKey
);
name_type!(
    /// The name of a segment, equal to the stem of its file (`segments/<name>.yaml`).
    SegmentName
);
