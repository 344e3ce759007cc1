//! Operands that are parsed: semantic versions, times, and `matches`
//! patterns (checked, built as a DFA, or the reason they cannot be).

/// Parses a semantic version as the `semver_*` operators read it.
///
/// A leading `v` is dropped and partial versions are padded with zeros, so
/// `v1.2` is `1.2.0` and `2` is `2.0.0`; pre-release and build parts follow
/// semver's rules (`1.2-beta.1` is `1.2.0-beta.1`).
pub fn parse_semver(text: &str) -> Result<semver::Version, semver::Error> {
    let text = text.trim();
    let text = text.strip_prefix(['v', 'V']).unwrap_or(text);
    let split = text.find(['-', '+']).unwrap_or(text.len());
    let (core, rest) = text.split_at(split);
    let padded = match core.matches('.').count() {
        0 => format!("{core}.0.0{rest}"),
        1 => format!("{core}.0{rest}"),
        _ => return semver::Version::parse(text),
    };
    semver::Version::parse(&padded)
}

/// Parses an RFC 3339 time (`2026-12-01T00:00:00Z`) as `before`/`after` read it.
pub fn parse_time(text: &str) -> Result<jiff::Timestamp, jiff::Error> {
    text.trim().parse::<jiff::Timestamp>()
}

/// The most memory a compiled `matches` pattern may use.
pub const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Checks a `matches` pattern: the `regex` crate's syntax (no look-around,
/// no backreferences) and its program within [`REGEX_SIZE_LIMIT`] bytes,
/// with the `regex` crate's own errors.
///
/// It builds what every matcher starts from (the syntax tree and the
/// Thompson NFA, where the `regex` crate applies that limit) and no
/// matcher: a tenth of the time of `regex::Regex::new`, which also builds
/// DFAs. Validation checks every pattern of a root this way; the evaluation
/// engine compiles matchers only for what it serves.
pub fn check_regex(pattern: &str) -> Result<(), regex::Error> {
    use regex_automata::nfa::thompson;
    let hir = regex_automata::util::syntax::parse(pattern)
        .map_err(|error| regex::Error::Syntax(error.to_string()))?;
    thompson::Compiler::new()
        .configure(thompson::Config::new().nfa_size_limit(Some(REGEX_SIZE_LIMIT)))
        .build_from_hir(&hir)
        .map_err(|error| match error.size_limit() {
            Some(limit) => regex::Error::CompiledTooBig(limit),
            None => regex::Error::Syntax(error.to_string()),
        })?;
    Ok(())
}

/// The most memory the DFA of one `matches` pattern may use.
pub const DFA_SIZE_LIMIT: usize = 1 << 20;

/// Why a valid `matches` pattern has no DFA. Evaluation then uses the
/// `regex` crate's matcher, whose cache pool takes a mutex and allocates a
/// cache on each new thread: the one exception to "evaluation never locks
/// or allocates", which validation reports as a `regex-fallback` warning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegexFallback {
    /// A Unicode word boundary (`\b`, `\B`, `\<`, …), which a DFA cannot
    /// express; the ASCII form (`(?-u:\b)`) it can.
    UnicodeWordBoundary,
    /// The DFA would use more than [`DFA_SIZE_LIMIT`] bytes.
    TooLarge,
}

/// Whether evaluating a `matches` pattern that passed [`check_regex`]
/// falls back to the `regex` crate's matcher, and why (`None`: it runs on
/// a DFA, without lock or allocation).
pub fn regex_fallback(pattern: &str) -> Option<RegexFallback> {
    regex_dfa(pattern).err()
}

/// The dense DFA evaluation searches for a `matches` pattern that passed
/// [`check_regex`]: built once, it is searched without a cache, so without
/// lock or allocation.
pub(crate) fn regex_dfa(
    pattern: &str,
) -> Result<regex_automata::dfa::dense::DFA<Vec<u32>>, RegexFallback> {
    use regex_automata::dfa::{StartKind, dense};
    use regex_automata::util::syntax;
    dense::Builder::new()
        .configure(
            dense::Config::new()
                .start_kind(StartKind::Unanchored)
                .dfa_size_limit(Some(DFA_SIZE_LIMIT))
                .determinize_size_limit(Some(2 * DFA_SIZE_LIMIT)),
        )
        .syntax(syntax::Config::new().unicode(true).utf8(true))
        .build(pattern)
        .map_err(|_| {
            let unicode_boundary = syntax::parse(pattern)
                .is_ok_and(|hir| hir.properties().look_set().contains_word_unicode());
            if unicode_boundary {
                RegexFallback::UnicodeWordBoundary
            } else {
                RegexFallback::TooLarge
            }
        })
}

/// `pattern` with every Unicode word-boundary escape (`\b`, `\B`, `\b{start}`,
/// `\<`, …) written in its ASCII form (`(?-u:\b)`), for a help text.
pub fn ascii_word_boundaries(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut rest = pattern;
    while let Some(at) = rest.find('\\') {
        out.push_str(&rest[..at]);
        let escape = &rest[at..];
        let length = if escape.starts_with("\\b{") || escape.starts_with("\\B{") {
            escape.find('}').map_or(2, |end| end + 1)
        } else {
            escape[1..].chars().next().map_or(1, |c| 1 + c.len_utf8())
        };
        let (escape, after) = rest[at..].split_at(length);
        let ascii_already = out.ends_with("(?-u:") && after.starts_with(')');
        if matches!(escape.as_bytes().get(1), Some(b'b' | b'B' | b'<' | b'>')) && !ascii_already {
            out.push_str("(?-u:");
            out.push_str(escape);
            out.push(')');
        } else {
            out.push_str(escape);
        }
        rest = after;
    }
    out.push_str(rest);
    out
}
