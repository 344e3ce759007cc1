//! Semantic versions as the `semver_*` operators read them, parsed without
//! allocating.
//!
//! A leading `v` or `V` is dropped and partial versions are padded with zeros
//! (`v1.2` is `1.2.0`, `2` is `2.0.0`); pre-release and build parts follow
//! semver 2.0.0, and versions compare by precedence (build metadata ignored),
//! like `semver::Version::cmp_precedence`. The operands in flag files are
//! read by the same function, so both sides agree by construction.

use std::cmp::Ordering;

/// A version borrowed from the text it was parsed from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Version<'a> {
    major: u64,
    minor: u64,
    patch: u64,
    /// The pre-release part without its `-`, empty when there is none.
    pre: &'a str,
}

/// A version that owns its pre-release part, for compiled operands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct OwnedVersion {
    major: u64,
    minor: u64,
    patch: u64,
    pre: Box<str>,
}

impl OwnedVersion {
    pub(crate) fn parse(text: &str) -> Option<OwnedVersion> {
        let version = parse(text)?;
        Some(OwnedVersion {
            major: version.major,
            minor: version.minor,
            patch: version.patch,
            pre: version.pre.into(),
        })
    }

    pub(crate) fn as_version(&self) -> Version<'_> {
        Version {
            major: self.major,
            minor: self.minor,
            patch: self.patch,
            pre: &self.pre,
        }
    }
}

fn number(text: &str) -> Option<u64> {
    let bytes = text.as_bytes();
    if bytes.is_empty() || (bytes.len() > 1 && bytes.first() == Some(&b'0')) {
        return None;
    }
    let mut value: u64 = 0;
    for &byte in bytes {
        if !byte.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(u64::from(byte - b'0'))?;
    }
    Some(value)
}

fn identifiers_valid(text: &str, numeric_leading_zero_allowed: bool) -> bool {
    text.split('.').all(|identifier| {
        let bytes = identifier.as_bytes();
        !bytes.is_empty()
            && bytes
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
            && (numeric_leading_zero_allowed
                || bytes.len() == 1
                || bytes.first() != Some(&b'0')
                || !bytes.iter().all(u8::is_ascii_digit))
    })
}

/// Parses a version, `None` when `text` is not one.
pub(crate) fn parse(text: &str) -> Option<Version<'_>> {
    let text = text.trim();
    let text = text.strip_prefix(['v', 'V']).unwrap_or(text);
    let (text, build) = match text.split_once('+') {
        Some((text, build)) => (text, Some(build)),
        None => (text, None),
    };
    if let Some(build) = build
        && !identifiers_valid(build, true)
    {
        return None;
    }
    let (core, pre) = match text.split_once('-') {
        Some((core, pre)) => {
            if !identifiers_valid(pre, false) {
                return None;
            }
            (core, pre)
        }
        None => (text, ""),
    };
    let mut parts = core.split('.');
    let major = number(parts.next()?)?;
    let minor = parts.next().map_or(Some(0), number)?;
    let patch = parts.next().map_or(Some(0), number)?;
    if parts.next().is_some() {
        return None;
    }
    Some(Version {
        major,
        minor,
        patch,
        pre,
    })
}

fn compare_identifier(a: &str, b: &str) -> Ordering {
    let a_numeric = a.bytes().all(|c| c.is_ascii_digit());
    let b_numeric = b.bytes().all(|c| c.is_ascii_digit());
    match (a_numeric, b_numeric) {
        // Without leading zeros, a longer number is a larger one.
        (true, true) => a.len().cmp(&b.len()).then_with(|| a.cmp(b)),
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => a.cmp(b),
    }
}

impl Version<'_> {
    /// Orders by semver precedence: build metadata is ignored, a pre-release
    /// comes before its release.
    pub(crate) fn precedence(&self, other: &Version<'_>) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(other.major, other.minor, other.patch))
            .then_with(|| match (self.pre.is_empty(), other.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => {
                    let mut a = self.pre.split('.');
                    let mut b = other.pre.split('.');
                    loop {
                        match (a.next(), b.next()) {
                            (None, None) => return Ordering::Equal,
                            (None, Some(_)) => return Ordering::Less,
                            (Some(_), None) => return Ordering::Greater,
                            (Some(x), Some(y)) => match compare_identifier(x, y) {
                                Ordering::Equal => {}
                                unequal => return unequal,
                            },
                        }
                    }
                }
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compare(a: &str, b: &str) -> Option<Ordering> {
        Some(parse(a)?.precedence(&parse(b)?))
    }

    #[test]
    fn partial_versions_are_padded() {
        assert_eq!(compare("1.2", "1.2.0"), Some(Ordering::Equal));
        assert_eq!(compare("v2", "2.0.0"), Some(Ordering::Equal));
        assert_eq!(compare("V1.2.3", "1.2.3"), Some(Ordering::Equal));
        assert_eq!(compare(" 1.2.3 ", "1.2.3"), Some(Ordering::Equal));
        assert_eq!(compare("1.2-beta.1", "1.2.0-beta.1"), Some(Ordering::Equal));
        assert_eq!(compare("1.2+build.7", "1.2.0"), Some(Ordering::Equal));
    }

    #[test]
    fn precedence_follows_semver() {
        let ordered = [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
            "1.0.1",
            "1.2.0",
            "1.10.0",
            "2.0.0",
        ];
        for pair in ordered.windows(2) {
            if let [a, b] = pair {
                assert_eq!(compare(a, b), Some(Ordering::Less), "{a} < {b}");
                assert_eq!(compare(b, a), Some(Ordering::Greater), "{b} > {a}");
            }
        }
    }

    #[test]
    fn invalid_versions() {
        for text in [
            "",
            "v",
            "x.y",
            "1.2.3.4",
            "01.2.3",
            "1..2",
            "1.2.",
            "1.2.3-",
            "1.2.3+",
            "1.2.3-a..b",
            "1.2.3-01",
            "1.2.3-a_b",
            "-1.2.3",
            "1.2.3 4",
            "18446744073709551616",
            "1.x",
            "+1",
        ] {
            assert_eq!(parse(text), None, "{text:?}");
        }
        assert!(parse("1.2.3-0a").is_some());
        assert!(parse("1.2.3+001").is_some());
        assert!(parse("18446744073709551615").is_some());
    }

    /// The padding validation applies (`crate::model::parse_semver` on main),
    /// with the `semver` crate as the oracle.
    fn oracle(text: &str) -> Option<semver::Version> {
        let text = text.trim();
        let text = text.strip_prefix(['v', 'V']).unwrap_or(text);
        let split = text.find(['-', '+']).unwrap_or(text.len());
        let (core, rest) = text.split_at(split);
        match core.matches('.').count() {
            0 => semver::Version::parse(&format!("{core}.0.0{rest}")).ok(),
            1 => semver::Version::parse(&format!("{core}.0{rest}")).ok(),
            _ => semver::Version::parse(text).ok(),
        }
    }

    const VERSION: &str = "[vV]?(0|[1-9][0-9]{0,2}|0[0-9])(\\.(0|[1-9][0-9]{0,2}|00)){0,3}(-([0-9A-Za-z-]{1,4}|0[0-9])(\\.[0-9A-Za-z-]{0,3}){0,2})?(\\+[0-9A-Za-z-.]{0,5})?";

    proptest::proptest! {
        #[test]
        fn parses_like_the_semver_crate(text in VERSION) {
            proptest::prop_assert_eq!(parse(&text).is_some(), oracle(&text).is_some(), "{}", text);
        }

        #[test]
        fn orders_like_the_semver_crate(a in VERSION, b in VERSION) {
            if let (Some(mine_a), Some(mine_b), Some(theirs_a), Some(theirs_b)) =
                (parse(&a), parse(&b), oracle(&a), oracle(&b))
            {
                proptest::prop_assert_eq!(mine_a.precedence(&mine_b), theirs_a.cmp_precedence(&theirs_b), "{} vs {}", a, b);
            }
        }
    }
}
