//! Semantic checks beyond the schema: names, variant types, references to
//! variants and segments, rollout weights, operators and their operands,
//! expiry. Every problem points at the node it is about.
//!
//! Two passes: [`precheck`] runs on the raw JSON value (shapes the typed model
//! cannot express: one kind per condition, operator arity, weight
//! precision, dates), so typed deserialization afterwards cannot fail; then
//! [`check_flag`] and [`check_segment`] run on the typed model.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Mutex, PoisonError};

use serde_json::Value;

use crate::diagnostic::{Code, Diagnostic, Location, Span};
use crate::format::schema::closest;
use crate::format::yaml::{SpanTree, escape_pointer_token};
use crate::model::{
    Arity, Condition, Flag, FlagType, OperandKind, RegexFallback, Rollout, Segment, SegmentName,
    Serve, WEIGHT_TOTAL, Weight, check_name, parse_semver, parse_time,
};

/// A document being checked: its value, where its nodes are, and the table of
/// file paths that [`SpanTree::file`] indexes.
#[derive(Clone, Copy)]
pub(crate) struct Doc<'a> {
    pub files: &'a [String],
    pub value: &'a Value,
    pub spans: &'a SpanTree,
    pub environment: Option<&'a str>,
}

impl Doc<'_> {
    fn node(&self, pointer: &str) -> &SpanTree {
        self.spans.lookup(self.value, pointer)
    }

    fn location(&self, node: &SpanTree, span: Span) -> Location {
        let file = self
            .files
            .get(node.file as usize)
            .cloned()
            .unwrap_or_default();
        Location::at(file, span)
    }

    /// Where the value at `pointer` is.
    pub fn at(&self, pointer: &str) -> Location {
        let node = self.node(pointer);
        self.location(node, node.best_span())
    }

    /// Where the key of the entry at `pointer` is (the value's place when it
    /// has no key).
    pub fn at_key(&self, pointer: &str) -> Location {
        let node = self.node(pointer);
        self.location(node, node.key_span.unwrap_or_else(|| node.best_span()))
    }

    pub fn diagnostic(&self, diagnostic: Diagnostic) -> Diagnostic {
        match self.environment {
            Some(environment) => diagnostic.in_environment(environment),
            None => diagnostic,
        }
    }
}

fn pointer_join(base: &str, token: &str) -> String {
    format!("{base}/{}", escape_pointer_token(token))
}

fn list(names: impl IntoIterator<Item = impl AsRef<str>>) -> String {
    names
        .into_iter()
        .map(|n| format!("`{}`", n.as_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}

const CONDITION_KINDS: [&str; 5] = ["all", "any", "not", "segment", "attr"];

/// Checks on the raw value of a flag (or resolved flag) document. Returns
/// whether the value is fit for typed deserialization.
pub(crate) fn precheck_flag(doc: &Doc<'_>, out: &mut Vec<Diagnostic>) -> bool {
    let before = out.len();
    let value = doc.value;
    if let Some(expires) = value.get("expires").and_then(Value::as_str)
        && expires.parse::<jiff::civil::Date>().is_err()
    {
        out.push(
            doc.diagnostic(
                Diagnostic::error(
                    Code::InvalidValue,
                    format!("`{expires}` is not a valid date"),
                )
                .at(doc.at("/expires"))
                .with_help("write a calendar date such as `2027-03-31`"),
            ),
        );
    }
    precheck_serve(doc, value.get("default"), "/default", out);
    if let Some(rules) = value.get("rules").and_then(Value::as_array) {
        for (index, rule) in rules.iter().enumerate() {
            let pointer = format!("/rules/{index}");
            precheck_serve(doc, rule.get("serve"), &format!("{pointer}/serve"), out);
            if let Some(when) = rule.get("when") {
                precheck_condition(doc, when, &format!("{pointer}/when"), out);
            }
        }
    }
    out[before..].iter().all(|d| !d.is_error())
}

/// Checks on the raw value of a segment document.
pub(crate) fn precheck_segment(doc: &Doc<'_>, out: &mut Vec<Diagnostic>) -> bool {
    let before = out.len();
    if let Some(when) = doc.value.get("when") {
        precheck_condition(doc, when, "/when", out);
    }
    out[before..].iter().all(|d| !d.is_error())
}

fn precheck_serve(doc: &Doc<'_>, serve: Option<&Value>, pointer: &str, out: &mut Vec<Diagnostic>) {
    let Some(weights) = serve
        .and_then(|s| s.get("rollout"))
        .and_then(Value::as_object)
    else {
        return;
    };
    for (variant, weight) in weights {
        let Some(percent) = weight.as_f64() else {
            continue;
        };
        if Weight::from_percent(percent).is_err() {
            out.push(
                doc.diagnostic(
                    Diagnostic::error(
                        Code::WeightPrecision,
                        format!(
                            "weight `{weight}` of variant `{variant}` has more than 3 decimals"
                        ),
                    )
                    .at(doc.at(&pointer_join(&format!("{pointer}/rollout"), variant)))
                    .with_help("weights go down to 0.001%; round it"),
                ),
            );
        }
    }
}

fn precheck_condition(doc: &Doc<'_>, condition: &Value, pointer: &str, out: &mut Vec<Diagnostic>) {
    let Some(map) = condition.as_object() else {
        return;
    };
    let kinds: Vec<&str> = CONDITION_KINDS
        .iter()
        .copied()
        .filter(|k| map.contains_key(*k))
        .collect();
    let error = |code: Code, message: String, at: Location, help: &str| {
        doc.diagnostic(Diagnostic::error(code, message).at(at).with_help(help))
    };
    match kinds.as_slice() {
        [] => {
            out.push(error(
                Code::MissingField,
                "a condition needs `attr`, `segment`, `all`, `any` or `not`".to_owned(),
                doc.at(pointer),
                "compare an attribute with `{ attr: country, op: eq, value: DE }`",
            ));
            return;
        }
        [_] => {}
        [first, second, ..] => {
            out.push(error(
                Code::InvalidValue,
                format!("a condition has exactly one of `all`, `any`, `not`, `segment` or `attr`, this one has `{first}` and `{second}`"),
                doc.at_key(&pointer_join(pointer, second)),
                "combine conditions with `all: [...]` or `any: [...]`",
            ));
            return;
        }
    }
    let kind = kinds[0];
    if kind != "attr" {
        for field in ["op", "value", "values"] {
            if map.contains_key(field) {
                out.push(error(
                    Code::UnknownField,
                    format!("`{field}` only goes with `attr`, not with `{kind}`"),
                    doc.at_key(&pointer_join(pointer, field)),
                    "remove it, or write an attribute comparison",
                ));
            }
        }
    }
    match kind {
        "all" | "any" => {
            if let Some(items) = map.get(kind).and_then(Value::as_array) {
                for (index, item) in items.iter().enumerate() {
                    precheck_condition(doc, item, &format!("{pointer}/{kind}/{index}"), out);
                }
            }
        }
        "not" => {
            if let Some(inner) = map.get("not") {
                precheck_condition(doc, inner, &format!("{pointer}/not"), out);
            }
        }
        "attr" => precheck_arity(doc, map, pointer, out),
        _ => {}
    }
}

fn precheck_arity(
    doc: &Doc<'_>,
    map: &serde_json::Map<String, Value>,
    pointer: &str,
    out: &mut Vec<Diagnostic>,
) {
    let Some(op_name) = map.get("op").and_then(Value::as_str) else {
        out.push(
            doc.diagnostic(
                Diagnostic::error(
                    Code::MissingField,
                    "missing field `op` in a condition on an attribute",
                )
                .at(doc.at(pointer))
                .with_help("add an operator such as `op: eq`"),
            ),
        );
        return;
    };
    let Ok(op) =
        serde_json::from_value::<crate::model::Operator>(Value::String(op_name.to_owned()))
    else {
        return; // the schema reported the unknown operator
    };
    let has_value = map.contains_key("value");
    let has_values = map.contains_key("values");
    let problem = match op.arity() {
        Arity::None if has_value || has_values => Some((
            if has_value { "value" } else { "values" },
            format!("`{op}` takes no operand"),
            format!("remove `{}`", if has_value { "value" } else { "values" }),
        )),
        Arity::List if has_value => Some((
            "value",
            format!("`{op}` takes a list in `values`, not `value`"),
            "write `values: [a, b]`".to_owned(),
        )),
        Arity::List if !has_values => Some((
            "op",
            format!("`{op}` needs a list in `values`"),
            "add `values: [a, b]`".to_owned(),
        )),
        Arity::One if has_values => Some((
            "values",
            format!("`{op}` takes one operand in `value`, not a list in `values`"),
            if matches!(op, crate::model::Operator::Eq | crate::model::Operator::Neq) {
                format!(
                    "use `{}` to compare with a list",
                    if op == crate::model::Operator::Eq {
                        "in"
                    } else {
                        "not_in"
                    }
                )
            } else {
                "write `value: …`".to_owned()
            },
        )),
        Arity::One if !has_value => Some((
            "op",
            format!("`{op}` needs an operand in `value`"),
            "add `value: …`".to_owned(),
        )),
        _ => None,
    };
    if let Some((field, message, help)) = problem {
        out.push(
            doc.diagnostic(
                Diagnostic::error(Code::OperatorArity, message)
                    .at(doc.at_key(&pointer_join(pointer, field)))
                    .with_help(help),
            ),
        );
    }
}

/// What a check needs to know about the rest of the root.
pub(crate) struct Context<'a> {
    /// Every segment name that exists.
    pub segments: &'a BTreeSet<SegmentName>,
    /// Today, for expiry warnings.
    pub today: Option<jiff::civil::Date>,
    /// What the DFA check found for each `matches` pattern seen so far.
    pub regexes: RegexMemo,
}

/// What [`crate::model::regex_fallback`] found for each distinct pattern of
/// one load: building a pattern's DFA costs as much as serving it does, so
/// a pattern that many flags or environments use is built once.
#[derive(Debug, Default)]
pub(crate) struct RegexMemo(Mutex<HashMap<String, Option<RegexFallback>>>);

impl RegexMemo {
    fn fallback(&self, pattern: &str) -> Option<RegexFallback> {
        let known = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(pattern)
            .copied();
        known.unwrap_or_else(|| {
            let found = crate::model::regex_fallback(pattern);
            self.0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(pattern.to_owned(), found);
            found
        })
    }
}

/// Semantic checks of one typed flag.
pub(crate) fn check_flag(
    flag: &Flag,
    doc: &Doc<'_>,
    context: &Context<'_>,
    out: &mut Vec<Diagnostic>,
) {
    let key = flag.key.as_str();
    let push = |out: &mut Vec<Diagnostic>, d: Diagnostic| out.push(doc.diagnostic(d));
    let variant_names: Vec<&str> = flag.variants.keys().map(String::as_str).collect();
    let implicit = doc.value.get("variants").is_none();

    if flag.kind != FlagType::Boolean && flag.variants.is_empty() {
        push(
            out,
            Diagnostic::error(
                Code::NoVariants,
                format!("flag `{key}` of type `{}` declares no variants", flag.kind),
            )
            .at(doc.at("/type"))
            .with_help("add `variants:` with a name and value for each thing the flag can serve"),
        );
    }
    if !implicit {
        for (name, value) in &flag.variants {
            let pointer = pointer_join("/variants", name);
            if let Err(error) = check_name(name) {
                push(
                    out,
                    Diagnostic::error(Code::InvalidName, format!("variant name {error}"))
                        .at(doc.at_key(&pointer)),
                );
            }
            if !flag.kind.accepts(value) {
                push(
                    out,
                    Diagnostic::error(
                        Code::VariantType,
                        format!(
                            "variant `{name}` of flag `{key}` is {}, but the flag's type is `{}`",
                            describe_value(value),
                            flag.kind
                        ),
                    )
                    .at(doc.at(&pointer))
                    .with_help(format!(
                        "give every variant a {} value, or change `type`",
                        flag.kind
                    )),
                );
            }
        }
    }
    let unknown_variant = |name: &str, at: Location| {
        let help = match closest(name, variant_names.iter().copied()) {
            Some(suggestion) => format!("did you mean `{suggestion}`?"),
            None if variant_names.is_empty() => "declare it under `variants:`".to_owned(),
            None => format!("the variants are {}", list(&variant_names)),
        };
        doc.diagnostic(
            Diagnostic::error(
                Code::UnknownVariant,
                format!("flag `{key}` has no variant `{name}`"),
            )
            .at(at)
            .with_help(help),
        )
    };
    if let Some(off) = &flag.off_variant
        && !flag.variants.contains_key(off)
        && !(implicit && flag.variants.is_empty())
    {
        out.push(unknown_variant(off, doc.at("/off_variant")));
    }
    let mut seen_targets: BTreeMap<&str, &str> = BTreeMap::new();
    for (variant, keys) in &flag.targets {
        let pointer = pointer_join("/targets", variant);
        if !flag.variants.contains_key(variant) {
            out.push(unknown_variant(variant, doc.at_key(&pointer)));
        }
        for (index, target) in keys.iter().enumerate() {
            if let Some(first) = seen_targets.insert(target.as_str(), variant.as_str()) {
                push(
                    out,
                    Diagnostic::warning(
                        Code::DuplicateTarget,
                        format!("`{target}` is targeted twice (`{first}` and `{variant}`); the first wins"),
                    )
                    .at(doc.at(&format!("{pointer}/{index}")))
                    .with_help("list each targeting key under one variant"),
                );
            }
        }
    }
    for (index, rule) in flag.rules.iter().enumerate() {
        let pointer = format!("/rules/{index}");
        check_serve(
            flag,
            &rule.serve,
            &format!("{pointer}/serve"),
            doc,
            &unknown_variant,
            out,
        );
        check_condition(&rule.when, &format!("{pointer}/when"), doc, context, out);
    }
    check_serve(flag, &flag.default, "/default", doc, &unknown_variant, out);

    if let (Some(expires), Some(today)) = (flag.expires, context.today)
        && expires < today
    {
        let days = (today - expires).get_days();
        push(
            out,
            Diagnostic::warning(
                Code::Expired,
                format!(
                    "flag `{key}` expired on {expires} ({days} day{} ago)",
                    if days == 1 { "" } else { "s" }
                ),
            )
            .at(doc.at("/expires"))
            .with_help("remove the flag from the code and archive it, or move `expires` later"),
        );
    }
}

fn describe_value(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => format!("the boolean `{b}`"),
        Value::Number(n) => format!("the number `{n}`"),
        Value::String(s) => format!("the string `{s}`"),
        Value::Array(_) => "a list".to_owned(),
        Value::Object(_) => "a mapping".to_owned(),
    }
}

fn check_serve(
    flag: &Flag,
    serve: &Serve,
    pointer: &str,
    doc: &Doc<'_>,
    unknown_variant: &dyn Fn(&str, Location) -> Diagnostic,
    out: &mut Vec<Diagnostic>,
) {
    match serve {
        Serve::Variant(name) => {
            if !flag.variants.contains_key(name) && !flag.variants.is_empty() {
                out.push(unknown_variant(name, doc.at(pointer)));
            }
        }
        Serve::Rollout(rollout) => check_rollout(flag, rollout, pointer, doc, unknown_variant, out),
    }
}

fn check_rollout(
    flag: &Flag,
    rollout: &Rollout,
    pointer: &str,
    doc: &Doc<'_>,
    unknown_variant: &dyn Fn(&str, Location) -> Diagnostic,
    out: &mut Vec<Diagnostic>,
) {
    let weights_pointer = format!("{pointer}/rollout");
    for name in rollout.weights.keys() {
        if !flag.variants.contains_key(name) {
            out.push(unknown_variant(
                name,
                doc.at_key(&pointer_join(&weights_pointer, name)),
            ));
        }
    }
    let total = rollout.total();
    if total != u64::from(WEIGHT_TOTAL) {
        let shown = Weight::from_thousandths(u32::try_from(total).unwrap_or(u32::MAX));
        let shown = if total > u64::from(WEIGHT_TOTAL) {
            format!("{}", total as f64 / 1000.0)
        } else {
            shown.to_string()
        };
        let difference = total.abs_diff(u64::from(WEIGHT_TOTAL));
        let help = format!(
            "make the weights add up to 100 ({} {})",
            if total > u64::from(WEIGHT_TOTAL) {
                "remove"
            } else {
                "add"
            },
            Weight::from_thousandths(u32::try_from(difference).unwrap_or(u32::MAX))
        );
        out.push(
            doc.diagnostic(
                Diagnostic::error(
                    Code::WeightsSum,
                    format!(
                        "rollout weights of flag `{}` sum to {shown}, expected 100",
                        flag.key
                    ),
                )
                .at(doc.at(&weights_pointer))
                .with_help(help),
            ),
        );
    }
}

/// Checks a condition's references and operands.
pub(crate) fn check_condition(
    condition: &Condition,
    pointer: &str,
    doc: &Doc<'_>,
    context: &Context<'_>,
    out: &mut Vec<Diagnostic>,
) {
    match condition {
        Condition::All { all: items } | Condition::Any { any: items } => {
            let kind = if matches!(condition, Condition::All { .. }) {
                "all"
            } else {
                "any"
            };
            for (index, item) in items.iter().enumerate() {
                check_condition(
                    item,
                    &format!("{pointer}/{kind}/{index}"),
                    doc,
                    context,
                    out,
                );
            }
        }
        Condition::Not { not } => {
            check_condition(not, &format!("{pointer}/not"), doc, context, out)
        }
        Condition::Segment { segment } => {
            if !context.segments.contains(segment) {
                let help = match closest(
                    segment.as_str(),
                    context.segments.iter().map(SegmentName::as_str),
                ) {
                    Some(suggestion) => format!("did you mean `{suggestion}`?"),
                    None => format!("create `segments/{segment}.yaml`"),
                };
                out.push(
                    doc.diagnostic(
                        Diagnostic::error(
                            Code::UnknownSegment,
                            format!("segment `{segment}` does not exist"),
                        )
                        .at(doc.at(&format!("{pointer}/segment")))
                        .with_help(help),
                    ),
                );
            }
        }
        Condition::Attribute(attribute) => {
            let op = attribute.op;
            let kind = op.operand_kind();
            let operands: Vec<(String, &Value)> = match (&attribute.value, &attribute.values) {
                (Some(value), _) => vec![(format!("{pointer}/value"), value)],
                (None, Some(values)) => values
                    .iter()
                    .enumerate()
                    .map(|(i, v)| (format!("{pointer}/values/{i}"), v))
                    .collect(),
                (None, None) => Vec::new(),
            };
            for (operand_pointer, operand) in operands {
                if let Some((code, message, help)) = operand_problem(op, kind, operand) {
                    out.push(
                        doc.diagnostic(
                            Diagnostic::error(code, message)
                                .at(doc.at(&operand_pointer))
                                .with_help(help),
                        ),
                    );
                } else if let (OperandKind::Regex, Value::String(pattern)) = (kind, operand)
                    && let Some((message, help)) = regex_fallback(pattern, &context.regexes)
                {
                    out.push(
                        doc.diagnostic(
                            Diagnostic::warning(Code::RegexFallback, message)
                                .at(doc.at(&operand_pointer))
                                .with_help(help),
                        ),
                    );
                }
            }
        }
    }
}

fn operand_problem(
    op: crate::model::Operator,
    kind: OperandKind,
    operand: &Value,
) -> Option<(Code, String, String)> {
    let wrong = |expected: &str, help: &str| {
        Some((
            Code::OperandType,
            format!(
                "`{op}` compares with {expected}, found {}",
                describe_value(operand)
            ),
            help.to_owned(),
        ))
    };
    match kind {
        OperandKind::Any => match operand {
            Value::String(_) | Value::Number(_) | Value::Bool(_) => None,
            _ => wrong("a string, number or boolean", "compare with a scalar; use `exists` to test presence"),
        },
        OperandKind::String => match operand {
            Value::String(_) => None,
            _ => wrong("a string", "quote the operand"),
        },
        OperandKind::Number => match operand {
            Value::Number(_) => None,
            _ => wrong("a number", "write a number without quotes"),
        },
        OperandKind::Regex => match operand {
            Value::String(pattern) => match crate::model::check_regex(pattern) {
                Ok(_) => None,
                Err(error) => Some((
                    Code::InvalidRegex,
                    format!("`{pattern}` is not a valid regular expression: {}", first_line(&error.to_string())),
                    "the syntax is that of the Rust `regex` crate (no look-around or backreferences)".to_owned(),
                )),
            },
            _ => wrong("a regular expression string", "quote the pattern"),
        },
        OperandKind::Semver => match operand {
            Value::String(version) => match parse_semver(version) {
                Ok(_) => None,
                Err(error) => Some((
                    Code::InvalidSemver,
                    format!("`{version}` is not a semantic version: {error}"),
                    "write a version such as `1.2.3`, `1.2` or `v2`".to_owned(),
                )),
            },
            _ => wrong("a version string", "quote the version (`\"1.10\"`) so it is not read as a number"),
        },
        OperandKind::Time => match operand {
            Value::String(time) => match parse_time(time) {
                Ok(_) => None,
                Err(_) => Some((
                    Code::InvalidTime,
                    format!("`{time}` is not an RFC 3339 time"),
                    "write a time with a zone, such as `2026-12-01T00:00:00Z`".to_owned(),
                )),
            },
            _ => wrong("an RFC 3339 time string", "quote the time"),
        },
        OperandKind::Nothing => None,
    }
}

/// The warning for a valid pattern that evaluation cannot run on a DFA
/// (message, help).
fn regex_fallback(pattern: &str, memo: &RegexMemo) -> Option<(String, String)> {
    use crate::model::ascii_word_boundaries;
    let consequence = "so evaluating it takes a lock and allocates on each new thread";
    Some(match memo.fallback(pattern)? {
        RegexFallback::UnicodeWordBoundary => {
            let ascii = ascii_word_boundaries(pattern);
            let help = if memo.fallback(&ascii).is_none() {
                format!("match ASCII word boundaries instead: `{ascii}`")
            } else {
                "match ASCII word boundaries instead (`(?-u:\\b)`)".to_owned()
            };
            (
                format!("`{pattern}` has a Unicode word boundary, {consequence}"),
                help,
            )
        }
        RegexFallback::TooLarge => (
            format!(
                "`{pattern}` needs a DFA larger than {} MiB, {consequence}",
                crate::model::DFA_SIZE_LIMIT >> 20
            ),
            "simplify the pattern: fewer or shorter counted repetitions, narrower classes"
                .to_owned(),
        ),
    })
}

fn first_line(text: &str) -> &str {
    text.lines()
        .rev()
        .find(|l| l.trim_start().starts_with("error:"))
        .map_or_else(
            || text.lines().next().unwrap_or(text),
            |l| l.trim_start().trim_start_matches("error:").trim(),
        )
}

/// Semantic checks of one typed segment.
pub(crate) fn check_segment(
    segment: &Segment,
    doc: &Doc<'_>,
    context: &Context<'_>,
    out: &mut Vec<Diagnostic>,
) {
    if let Some(when) = &segment.when {
        check_condition(when, "/when", doc, context, out);
    }
    let included: BTreeSet<&str> = segment.include.iter().map(String::as_str).collect();
    for (index, key) in segment.exclude.iter().enumerate() {
        if included.contains(key.as_str()) {
            out.push(
                doc.diagnostic(
                    Diagnostic::warning(
                        Code::DuplicateTarget,
                        format!("`{key}` is both included and excluded; include wins"),
                    )
                    .at(doc.at(&format!("/exclude/{index}")))
                    .with_help("remove it from one of the lists"),
                ),
            );
        }
    }
}

/// The segments a condition names, recursively through `all`/`any`/`not`.
pub(crate) fn referenced_segments<'a>(
    condition: &'a Condition,
    into: &mut BTreeSet<&'a SegmentName>,
) {
    condition.for_each_segment(&mut |name| {
        into.insert(name);
    });
}

/// Every segment a flag names.
pub(crate) fn flag_segments(flag: &Flag) -> BTreeSet<&SegmentName> {
    let mut names = BTreeSet::new();
    for rule in &flag.rules {
        referenced_segments(&rule.when, &mut names);
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regex_error_first_line() {
        assert_eq!(
            first_line("regex parse error:\n    a(\n     ^\nerror: unclosed group"),
            "unclosed group"
        );
        assert_eq!(first_line("plain"), "plain");
    }
}
