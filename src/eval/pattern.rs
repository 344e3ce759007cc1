//! The `matches` operator: regular expressions with linear-time matching that
//! neither allocates nor locks at evaluation time (for every pattern
//! validation accepts without a `regex-fallback` warning).
//!
//! A pattern is checked as validation checks it
//! ([`crate::model::check_regex`]: the `regex` crate's syntax and size
//! limit) and then compiled once into a fully built DFA from
//! `regex-automata`, the `regex` crate's own engine. Searching a dense
//! DFA reads a transition table, one lookup per byte, with no mutable cache:
//! `regex::Regex::is_match` instead borrows a cache from a pool, which takes a
//! mutex and can allocate on every thread but the first that used it. A
//! pattern whose DFA would not fit [`DFA_SIZE_LIMIT`] (large Unicode classes
//! repeated many times) or that has a Unicode word boundary keeps the `regex`
//! crate's matcher, which is correct but uses that pool: the one exception
//! to "evaluation never locks or allocates", which validation reports as a
//! `regex-fallback` warning ([`crate::model::regex_fallback`]).

use regex_automata::Input;
use regex_automata::dfa::{Automaton, dense};

pub use crate::model::{DFA_SIZE_LIMIT, REGEX_SIZE_LIMIT};

/// A compiled `matches` pattern.
#[derive(Clone, Debug)]
pub(crate) enum Pattern {
    /// A dense DFA: no cache, no allocation, no lock.
    Dfa(Box<dense::DFA<Vec<u32>>>),
    /// The `regex` crate, for patterns a DFA cannot express
    /// ([`crate::model::RegexFallback`]; validation warns about them).
    Regex(regex::Regex),
}

impl Pattern {
    /// Compiles `pattern`; errors are the `regex` crate's.
    pub(crate) fn new(pattern: &str) -> Result<Pattern, regex::Error> {
        crate::model::check_regex(pattern)?;
        Ok(match crate::model::regex_dfa(pattern) {
            Ok(dfa) => Pattern::Dfa(Box::new(dfa)),
            // Built only when needed: it costs as much as the DFA again.
            Err(_) => Pattern::Regex(
                regex::RegexBuilder::new(pattern)
                    .size_limit(REGEX_SIZE_LIMIT)
                    .dfa_size_limit(REGEX_SIZE_LIMIT)
                    .build()?,
            ),
        })
    }

    /// Whether the pattern matches anywhere in `haystack`.
    #[inline]
    pub(crate) fn is_match(&self, haystack: &str) -> bool {
        match self {
            Pattern::Dfa(dfa) => matches!(
                dfa.try_search_fwd(&Input::new(haystack).earliest(true)),
                Ok(Some(_))
            ),
            Pattern::Regex(regex) => regex.is_match(haystack),
        }
    }

    /// Whether the pattern runs on a DFA (no cache pool).
    #[cfg(test)]
    pub(crate) fn is_dfa(&self) -> bool {
        matches!(self, Pattern::Dfa(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dfa_agrees_with_regex() {
        let haystacks = [
            "",
            "a",
            "alice@example.com",
            "bob@EXAMPLE.com",
            "ünïcödé",
            "x@example.org",
            "beta-tester-7",
            "42",
            "\u{1F600} smile",
            "line\nbreak",
        ];
        for pattern in [
            r"@example\.com$",
            r"(?i)@example\.com$",
            r"^[a-z]+@",
            r"^\d+$",
            r"\w+",
            r"^.$",
            r"beta|alpha",
            r"tester-\d{1,3}",
            r"",
            r"^$",
            r"(?m)^break",
            r"\p{Greek}",
            r"[^a-z]",
        ] {
            let compiled = Pattern::new(pattern).expect("valid");
            assert!(compiled.is_dfa(), "{pattern} should fit a DFA");
            let regex = regex::Regex::new(pattern).expect("valid");
            for haystack in haystacks {
                assert_eq!(
                    compiled.is_match(haystack),
                    regex.is_match(haystack),
                    "{pattern} on {haystack:?}"
                );
            }
        }
    }

    #[test]
    fn word_boundaries_fall_back_to_regex() {
        let pattern = Pattern::new(r"\bstaff\b").expect("valid");
        assert!(!pattern.is_dfa());
        assert!(pattern.is_match("the staff room"));
        assert!(!pattern.is_match("the staffroom"));
        let ascii = Pattern::new(r"(?-u:\b)staff(?-u:\b)").expect("valid");
        assert!(ascii.is_dfa());
        assert!(ascii.is_match("the staff room"));
    }

    #[test]
    fn invalid_patterns_are_errors() {
        assert!(Pattern::new("a(").is_err());
        assert!(Pattern::new(r"(?<=a)b").is_err());
        assert!(Pattern::new(r"\w{1000}{1000}").is_err());
    }

    proptest::proptest! {
        #[test]
        fn dfa_agrees_with_regex_on_any_text(
            pattern in proptest::sample::select(vec![
                r"^[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}$", r"(?i)beta", r"\d{3}-\d{4}", r"^(DE|FR|NL)$",
                r"[^\x00-\x7F]", r"a*b+c?", r"\w+\s\w+", r".", r"^$",
            ]),
            haystack in "\\PC{0,30}|[a-z0-9@.\\- ]{0,30}",
        ) {
            let compiled = Pattern::new(pattern).expect("valid");
            let regex = regex::Regex::new(pattern).expect("valid");
            proptest::prop_assert_eq!(compiled.is_match(&haystack), regex.is_match(&haystack));
        }
    }
}
