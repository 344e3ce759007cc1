//! Rollout impact: the share of users whose served variant changes between
//! two versions of a flag, counted exactly from the bucket ranges.
//!
//! Under bucketing contract v1 a user's hash `h` is a 32-bit number and
//! variant *i* of a rollout is served when `(h * 100000) >> 32 <
//! cumulative_i`. The hashes whose bucket is below `c` are exactly the
//! `ceil(c * 2^32 / 100000)` smallest ones, so a range of buckets `[a, b)`
//! holds a known number of the 2^32 hash values. With the salt and `by`
//! unchanged every user keeps their hash, and comparing the two partitions of
//! the hash space gives exactly who moves where (a [`Share`] is a count of hash
//! values out of 2^32: the share of a large population of users, whose hashes
//! are uniform). A changed salt or `by` gives every user a new hash: that is a
//! reshuffle, reported as such with the expected share that changes.

use std::fmt;

use indexmap::IndexMap;
use serde::{Serialize, Serializer};

use super::sentences::{and_list, exact_summary};
pub use super::share::{HASH_SPACE, Share};
use crate::diff::fields::compact;
use crate::model::{Flag, Rule, Serve, WEIGHT_TOTAL};

/// Users moving from one variant to another.
///
/// A variant of `None` is no variant at all: a disabled flag without an
/// `off_variant` serves nothing, and callers fall back to their own default.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Move {
    /// The variant they had.
    pub from: Option<String>,
    /// The variant they get.
    pub to: Option<String>,
    /// How many of the serve's users.
    pub share: Share,
}

/// Which users a [`ServeImpact`] is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServeScope {
    /// Everyone (the flag stays disabled and its `off_variant` changed).
    Everyone,
    /// Users no target or rule matched.
    Default,
    /// Users matching the rule at this index (0-based, as in `rules[1]`).
    Rule {
        /// The rule's index.
        index: usize,
        /// The rule's name, when it has one.
        name: Option<String>,
    },
}

impl fmt::Display for ServeScope {
    /// `everyone`, `default`, `rules[1] (staff)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServeScope::Everyone => f.write_str("everyone"),
            ServeScope::Default => f.write_str("default"),
            ServeScope::Rule { index, name: None } => write!(f, "rules[{index}]"),
            ServeScope::Rule {
                index,
                name: Some(name),
            } => write!(f, "rules[{index}] ({name})"),
        }
    }
}

impl Serialize for ServeScope {
    /// `"everyone"`, `"default"`, `"rules[1]"`.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            ServeScope::Rule { index, .. } => {
                serializer.collect_str(&format_args!("rules[{index}]"))
            }
            other => serializer.collect_str(other),
        }
    }
}

/// How a serve's users are redistributed.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Effect {
    /// The same hashes, new ranges: exactly who moves where.
    Exact {
        /// Everyone who changes variant.
        moved: Share,
        /// Everyone who keeps their variant (`moved + stayed` is everyone).
        stayed: Share,
        /// Who moves from which variant to which, largest first.
        moves: Vec<Move>,
    },
    /// A new salt or `by`: every user gets a new hash, and which variant
    /// each one gets is drawn again.
    Reshuffled {
        /// What changed (`the salt (a → b)`).
        reason: String,
        /// The share expected to change variant, if hashes are independent.
        expected_moved_percent: f64,
    },
}

/// The impact of a change on the users of one serve (the default, a rule,
/// or everyone).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ServeImpact {
    /// Whose variant is concerned.
    pub serve: ServeScope,
    /// The rule's name, for a rule that has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What was served (`on 10% / off 90%`, `off (disabled)`).
    pub before: String,
    /// What is served.
    pub after: String,
    /// Who moves.
    #[serde(flatten)]
    pub effect: Effect,
    /// One sentence: `raising on 10% → 25% moves 15.000% of users from off
    /// to on; nobody leaves on`.
    pub summary: String,
}

impl ServeImpact {
    /// The share of this serve's users who change variant (expected, for a
    /// reshuffle).
    pub fn moved_percent(&self) -> f64 {
        match &self.effect {
            Effect::Exact { moved, .. } => moved.percent(),
            Effect::Reshuffled {
                expected_moved_percent,
                ..
            } => *expected_moved_percent,
        }
    }
}

/// A kill-switch toggle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Toggle {
    /// `enabled: true → false`: everyone gets the `off_variant`.
    Disabled,
    /// `enabled: false → true`: targets, rules and the default serve again.
    Enabled,
}

/// An individually targeted user whose variant changes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TargetMove {
    /// The targeting key.
    pub key: String,
    /// What they had: a variant, `not targeted` when the rules and the
    /// default decided, `no variant` for a disabled flag without
    /// `off_variant`.
    pub before: String,
    /// What they get, in the same terms.
    pub after: String,
}

/// What a change of one flag does to its users: see [`rollout_impact`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Impact {
    /// The flag's key.
    pub flag: String,
    /// Whether the kill switch was flipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kill_switch: Option<Toggle>,
    /// Each serve whose users move, in evaluation order (rules, then the
    /// default), or `everyone`.
    pub serves: Vec<ServeImpact>,
    /// Individually targeted users whose variant changes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<TargetMove>,
    /// Changes that affect who gets what but cannot be counted from the
    /// files (a rule's condition, an added rule, a variant's value).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// The impact in plain sentences, one per line.
    pub summary: Vec<String>,
}

impl Impact {
    /// Whether the change affects nobody.
    pub fn is_empty(&self) -> bool {
        self.summary.is_empty()
    }

    /// Whether some user certainly or probably gets another variant.
    pub fn moves_anyone(&self) -> bool {
        !self.targets.is_empty() || self.serves.iter().any(|s| s.moved_percent() > 0.0)
    }
}

impl fmt::Display for Impact {
    /// The summary, one sentence per line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, line) in self.summary.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            f.write_str(line)?;
        }
        Ok(())
    }
}

/// The share of users whose served variant changes from `before` to `after`,
/// serve by serve, computed exactly from the bucket ranges.
///
/// Every serve whose users move is reported: the default and each rule (by
/// index), with who moves from which variant to which as an exact share of
/// that serve's users. Flipping the kill switch moves everyone to or from the
/// `off_variant`; a changed salt or `by` reshuffles everyone (reported as
/// [`Effect::Reshuffled`], with the expected share that changes); reordered
/// variants and lowered percentages move users out of variants they had, and
/// the summary says so. Targeted users who change are listed by key. What
/// the files cannot tell (who matches a changed rule condition) is a note.
///
/// Boolean flags get their implicit `on`/`off` variants and `off_variant`
/// here, so raw deserialized flags are fine.
///
/// ```
/// use flagctl::diff::rollout_impact;
/// use flagctl::model::Flag;
///
/// let flag = |on: u32| -> Flag {
///     serde_json::from_value(serde_json::json!({"key": "new-checkout", "type": "boolean",
///         "default": {"rollout": {"on": on, "off": 100 - on}}})).unwrap()
/// };
/// let impact = rollout_impact(&flag(10), &flag(25));
/// assert_eq!(impact.summary, [
///     "default: raising on 10% → 25% moves 15.000% of users from off to on; nobody leaves on"
/// ]);
/// ```
pub fn rollout_impact(before: &Flag, after: &Flag) -> Impact {
    let before = before.clone().with_implicit_variants();
    let after = after.clone().with_implicit_variants();
    let off = after
        .off_variant
        .as_deref()
        .or(before.off_variant.as_deref());
    let kill_switch = match (before.enabled, after.enabled) {
        (true, false) => Some(Toggle::Disabled),
        (false, true) => Some(Toggle::Enabled),
        _ => None,
    };
    let mut serves = Vec::new();
    let mut notes = Vec::new();
    let mut targets = Vec::new();

    if !before.enabled && !after.enabled {
        let (b, a) = (Outcome::off(&before), Outcome::off(&after));
        if let Some(impact) = compare(ServeScope::Everyone, None, &b, &a, kill_switch, off) {
            serves.push(impact);
        } else if before != after {
            notes
                .push("the flag stays disabled: nobody moves until it is enabled again".to_owned());
        }
    } else {
        targets = target_moves(&before, &after);
        let rule_count = before.rules.len().max(after.rules.len());
        for index in 0..rule_count {
            match (before.rules.get(index), after.rules.get(index)) {
                (Some(b), Some(a)) => {
                    if b.when != a.when {
                        notes.push(format!(
                            "{} condition changed ({} → {}): who matches it changes, which the files cannot count",
                            rule_scope(index, a),
                            b.when,
                            a.when
                        ));
                    }
                    let scope = rule_scope(index, a);
                    let (ob, oa) = (
                        Outcome::of(&before, &b.serve),
                        Outcome::of(&after, &a.serve),
                    );
                    if let Some(impact) = compare(scope, a.name.clone(), &ob, &oa, kill_switch, off)
                    {
                        serves.push(impact);
                    }
                }
                (None, Some(a)) => notes.push(format!(
                    "{} added: users matching it get {} instead of what later rules and the default serve (not counted)",
                    rule_scope(index, a),
                    Outcome::of(&after, &a.serve).describe()
                )),
                (Some(b), None) => notes.push(format!(
                    "{} removed: users who matched it ({}) fall through to later rules and the default (not counted)",
                    rule_scope(index, b),
                    Outcome::of(&before, &b.serve).describe()
                )),
                (None, None) => {}
            }
        }
        let (ob, oa) = (
            Outcome::of(&before, &before.default),
            Outcome::of(&after, &after.default),
        );
        if let Some(impact) = compare(ServeScope::Default, None, &ob, &oa, kill_switch, off) {
            serves.push(impact);
        }
        for (variant, value) in &after.variants {
            if let Some(old) = before.variants.get(variant)
                && old != value
            {
                notes.push(format!(
                    "variant {variant} now serves {} instead of {}: everyone who gets {variant} sees the new value",
                    compact(value),
                    compact(old)
                ));
            }
        }
        if before.enabled && after.enabled && before.off_variant != after.off_variant {
            notes.push(format!(
                "off_variant {} → {}: no effect while the flag is enabled",
                variant_name(before.off_variant.as_deref()),
                variant_name(after.off_variant.as_deref())
            ));
        }
    }

    let mut summary = Vec::new();
    match kill_switch {
        Some(Toggle::Disabled) => summary.push(format!(
            "disabling the flag serves {} to everyone",
            variant_name(after.off_variant.as_deref())
        )),
        Some(Toggle::Enabled) => summary.push(format!(
            "enabling the flag: users leave {} for what targets, rules and the default serve",
            variant_name(before.off_variant.as_deref())
        )),
        None => {}
    }
    for serve in &serves {
        summary.push(format!("{}: {}", serve.serve, serve.summary));
    }
    if !targets.is_empty() {
        let moves: Vec<String> = targets
            .iter()
            .map(|t| format!("{} ({} → {})", t.key, t.before, t.after))
            .collect();
        summary.push(format!("targets: {}", moves.join(", ")));
    }
    summary.extend(notes.iter().cloned());
    Impact {
        flag: after.key.to_string(),
        kill_switch,
        serves,
        targets,
        notes,
        summary,
    }
}

fn rule_scope(index: usize, rule: &Rule) -> ServeScope {
    ServeScope::Rule {
        index,
        name: rule.name.clone(),
    }
}

pub(super) fn variant_name(variant: Option<&str>) -> String {
    variant.map_or_else(|| "no variant".to_owned(), str::to_owned)
}

/// What a serve hands out over the hash space.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Outcome {
    /// `(end bucket, variant)`, ends increasing, the last at 100000.
    pub(super) ranges: Vec<(u32, Option<String>)>,
    /// The bucketing input (salt, `by`) when more than one variant is served.
    pub(super) hashing: Option<(String, Option<String>)>,
    /// The rollout's weights, for descriptions.
    pub(super) weights: Option<Vec<(String, u32)>>,
    /// Served because the flag is disabled.
    pub(super) disabled: bool,
}

impl Outcome {
    fn constant(variant: Option<String>) -> Outcome {
        Outcome {
            ranges: vec![(WEIGHT_TOTAL, variant)],
            hashing: None,
            weights: None,
            disabled: false,
        }
    }

    fn off(flag: &Flag) -> Outcome {
        Outcome {
            disabled: true,
            ..Outcome::constant(flag.off_variant.clone())
        }
    }

    /// What `serve` hands out in `flag` (the `off_variant` when disabled).
    fn of(flag: &Flag, serve: &Serve) -> Outcome {
        if !flag.enabled {
            return Outcome::off(flag);
        }
        match serve {
            Serve::Variant(variant) => Outcome::constant(Some(variant.clone())),
            Serve::Rollout(rollout) => {
                let mut ranges: Vec<(u32, Option<String>)> = Vec::new();
                let mut cumulative = 0u32;
                for (variant, weight) in &rollout.weights {
                    let start = cumulative;
                    cumulative = cumulative
                        .saturating_add(weight.thousandths())
                        .min(WEIGHT_TOTAL);
                    if cumulative > start {
                        ranges.push((cumulative, Some(variant.clone())));
                    }
                }
                if cumulative < WEIGHT_TOTAL {
                    // Weights short of 100% (an invalid flag): nothing is served.
                    ranges.push((WEIGHT_TOTAL, None));
                }
                let hashing = (ranges.len() > 1)
                    .then(|| (flag.bucketing_salt().to_owned(), rollout.by.clone()));
                Outcome {
                    ranges,
                    hashing,
                    weights: Some(
                        rollout
                            .weights
                            .iter()
                            .map(|(v, w)| (v.clone(), w.thousandths()))
                            .collect(),
                    ),
                    disabled: false,
                }
            }
        }
    }

    /// `on`, `off (disabled)`, `on 10% / off 90%`.
    pub(super) fn describe(&self) -> String {
        if let Some(weights) = &self.weights {
            return weights
                .iter()
                .map(|(v, w)| format!("{v} {}", percent(*w)))
                .collect::<Vec<_>>()
                .join(" / ");
        }
        let variant = variant_name(self.ranges.first().and_then(|(_, v)| v.as_deref()));
        if self.disabled {
            format!("{variant} (disabled)")
        } else {
            variant
        }
    }

    /// Each variant's share, in range order.
    pub(super) fn shares(&self) -> Vec<(Option<String>, Share)> {
        let mut start = 0;
        let mut out: Vec<(Option<String>, Share)> = Vec::new();
        for (end, variant) in &self.ranges {
            let share = Share::of_buckets(start, *end);
            start = *end;
            match out.iter_mut().find(|(v, _)| v == variant) {
                Some((_, total)) => *total = total.add(share),
                None => out.push((variant.clone(), share)),
            }
        }
        out
    }
}

/// `10%`, `12.5%`.
pub(super) fn percent(thousandths: u32) -> String {
    crate::model::Weight::from_thousandths(thousandths).to_string() + "%"
}

/// Compares two outcomes of the same users; `None` when nobody moves.
fn compare(
    scope: ServeScope,
    name: Option<String>,
    before: &Outcome,
    after: &Outcome,
    toggle: Option<Toggle>,
    off: Option<&str>,
) -> Option<ServeImpact> {
    if let (Some(b), Some(a)) = (&before.hashing, &after.hashing)
        && b != a
    {
        return Some(reshuffle(scope, name, before, after, b, a));
    }
    let moves = exact_moves(before, after);
    if moves.is_empty() {
        return None;
    }
    let moved = moves.iter().fold(Share::NONE, |sum, m| sum.add(m.share));
    let summary = exact_summary(before, after, &moves, toggle, off);
    Some(ServeImpact {
        serve: scope,
        name,
        before: before.describe(),
        after: after.describe(),
        effect: Effect::Exact {
            moved,
            stayed: Share::from_hashes(HASH_SPACE - moved.hashes()),
            moves,
        },
        summary,
    })
}

/// Who moves where: the two partitions of the bucket space side by side.
fn exact_moves(before: &Outcome, after: &Outcome) -> Vec<Move> {
    let mut totals: IndexMap<(Option<String>, Option<String>), Share> = IndexMap::new();
    let (mut i, mut j, mut start) = (0, 0, 0u32);
    while i < before.ranges.len() && j < after.ranges.len() {
        let (end_b, variant_b) = &before.ranges[i];
        let (end_a, variant_a) = &after.ranges[j];
        let end = (*end_b).min(*end_a);
        if variant_b != variant_a && end > start {
            let share = totals
                .entry((variant_b.clone(), variant_a.clone()))
                .or_default();
            *share = share.add(Share::of_buckets(start, end));
        }
        start = end;
        if *end_b == end {
            i += 1;
        }
        if *end_a == end {
            j += 1;
        }
    }
    let mut moves: Vec<Move> = totals
        .into_iter()
        .filter(|(_, share)| !share.is_zero())
        .map(|((from, to), share)| Move { from, to, share })
        .collect();
    // Largest first; the order of appearance breaks ties (a stable sort).
    moves.sort_by_key(|m| std::cmp::Reverse(m.share));
    moves
}

fn reshuffle(
    scope: ServeScope,
    name: Option<String>,
    before: &Outcome,
    after: &Outcome,
    hashing_before: &(String, Option<String>),
    hashing_after: &(String, Option<String>),
) -> ServeImpact {
    let mut reasons = Vec::new();
    if hashing_before.0 != hashing_after.0 {
        reasons.push(format!(
            "the salt ({} → {})",
            hashing_before.0, hashing_after.0
        ));
    }
    if hashing_before.1 != hashing_after.1 {
        let by = |b: &Option<String>| b.clone().unwrap_or_else(|| "the targeting key".to_owned());
        reasons.push(format!(
            "by ({} → {})",
            by(&hashing_before.1),
            by(&hashing_after.1)
        ));
    }
    let reason = and_list(&reasons);
    // With independent hashes, a user keeps their variant with probability
    // sum over variants of p_before(v) * p_after(v).
    let after_shares = after.shares();
    let kept: f64 = before
        .shares()
        .iter()
        .map(|(v, share)| {
            let other = after_shares
                .iter()
                .find(|(w, _)| w == v)
                .map_or(0.0, |(_, s)| s.as_f64());
            share.as_f64() * other
        })
        .sum();
    let expected = ((1.0 - kept) * 100_000.0).round() / 1000.0;
    let summary = format!(
        "changing {reason} reshuffles everyone: each user's bucket is drawn again ({} → {}), and about {expected:.3}% of users are expected to change variant",
        before.describe(),
        after.describe()
    );
    ServeImpact {
        serve: scope,
        name,
        before: before.describe(),
        after: after.describe(),
        effect: Effect::Reshuffled {
            reason,
            expected_moved_percent: expected,
        },
        summary,
    }
}

/// What an individually targeted user gets, in [`TargetMove`]'s terms.
fn target_of(flag: &Flag, key: &str) -> String {
    if !flag.enabled {
        return match &flag.off_variant {
            Some(variant) => variant.clone(),
            None => "no variant".to_owned(),
        };
    }
    flag.targets
        .iter()
        .find(|(_, keys)| keys.iter().any(|k| k == key))
        .map_or_else(|| "not targeted".to_owned(), |(variant, _)| variant.clone())
}

/// The targeted users (on either side) whose variant changes.
fn target_moves(before: &Flag, after: &Flag) -> Vec<TargetMove> {
    let mut keys: Vec<&str> = Vec::new();
    for flag in [after, before] {
        for key in flag.targets.values().flatten() {
            if !keys.contains(&key.as_str()) {
                keys.push(key);
            }
        }
    }
    keys.into_iter()
        .filter_map(|key| {
            let (b, a) = (target_of(before, key), target_of(after, key));
            (b != a).then(|| TargetMove {
                key: key.to_owned(),
                before: b,
                after: a,
            })
        })
        .collect()
}

#[cfg(test)]
#[path = "impact_tests.rs"]
mod tests;
