//! Changes to what an environment serves: the kill switch, two-variant
//! rollouts, weighted splits, individual targets. Each is expressed as the
//! value the environment must resolve to, written with [`super::fit`].

use serde_json::{Map, Value};

use super::{
    ChangeError, Check, Planned, State, fit_edit, in_environment, inherited, one_file, resolved,
    target, value_of,
};
use crate::change::Action;
use crate::format::edit::{Edit, Path};
use crate::model::{Flag, FlagKey, Serve, WEIGHT_TOTAL, Weight};

pub(super) fn plan_switch(
    state: &State<'_>,
    key: &FlagKey,
    environment: Option<&str>,
    enabled: bool,
) -> Result<Planned, ChangeError> {
    let file = target(state, key, environment)?;
    let (flag, _) = resolved(state, key, environment)?;
    let word = if enabled { "enabled" } else { "disabled" };
    if flag.enabled == enabled {
        return Ok(Planned::Unchanged(format!(
            "`{key}` is already {word}{}",
            in_environment_quoted(environment)
        )));
    }
    let action = if enabled {
        Action::Enable
    } else {
        Action::Disable
    };
    let edits = fit_edit(
        state,
        &file,
        key,
        environment,
        "enabled",
        Value::Bool(enabled),
    )
    .into_iter()
    .collect();
    Ok(one_file(
        action,
        key,
        environment,
        format!("{action} {key}{}", in_environment(environment)),
        file,
        edits,
        vec![Check::Enabled(enabled)],
    ))
}

/// The share of `variant` in what `serve` gives, in thousandths.
fn share(serve: &Serve, variant: &str) -> u32 {
    match serve {
        Serve::Variant(v) if v == variant => WEIGHT_TOTAL,
        Serve::Variant(_) => 0,
        Serve::Rollout(rollout) => rollout.weights.get(variant).map_or(0, |w| w.thousandths()),
    }
}

fn weight_value(thousandths: u32) -> Value {
    serde_json::to_value(Weight::from_thousandths(thousandths)).unwrap_or(Value::Null)
}

fn percent(thousandths: u32) -> String {
    format!("{}%", Weight::from_thousandths(thousandths))
}

fn variants_of(flag: &Flag) -> Vec<String> {
    flag.variants.keys().cloned().collect()
}

fn require_variant(key: &FlagKey, flag: &Flag, variant: &str) -> Result<(), ChangeError> {
    if flag.variants.contains_key(variant) {
        Ok(())
    } else {
        Err(ChangeError::UnknownVariant {
            flag: key.to_string(),
            variant: variant.to_owned(),
            variants: variants_of(flag),
        })
    }
}

/// The resolved `default` with its rollout replaced (other keys, such as
/// `experiment`, kept) and `by` set when given. When the environment serves
/// a plain variant, the base's rollout settings (`by`, `experiment`) carry
/// over, so that the overlay need not repeat or remove them.
fn default_with_rollout(
    doc: &Value,
    inherited: Option<&Value>,
    weights: &[(String, u32)],
    by: Option<&str>,
) -> Value {
    let mut map = match (doc.get("default"), inherited) {
        (Some(Value::Object(map)), _) | (_, Some(Value::Object(map))) => map.clone(),
        _ => Map::new(),
    };
    let rollout: Map<String, Value> = weights
        .iter()
        .map(|(variant, weight)| (variant.clone(), weight_value(*weight)))
        .collect();
    map.insert("rollout".into(), Value::Object(rollout));
    if let Some(by) = by {
        map.insert("by".into(), Value::String(by.to_owned()));
    }
    Value::Object(map)
}

fn same_weights(serve: &Serve, weights: &[(String, u32)], by: Option<&str>) -> bool {
    match serve {
        Serve::Rollout(rollout) => {
            rollout.weights.len() == weights.len()
                && weights.iter().all(|(variant, weight)| {
                    rollout.weights.get(variant).map(|w| w.thousandths()) == Some(*weight)
                })
                && rollout.by.as_deref() == by
        }
        Serve::Variant(_) => false,
    }
}

pub(super) fn plan_rollout(
    state: &State<'_>,
    key: &FlagKey,
    environment: Option<&str>,
    percent_given: Weight,
    variant: Option<&str>,
    by: Option<&str>,
) -> Result<Planned, ChangeError> {
    let file = target(state, key, environment)?;
    let (flag, doc) = resolved(state, key, environment)?;
    let variants = variants_of(&flag);
    let chosen = match variant {
        Some(variant) => {
            require_variant(key, &flag, variant)?;
            variant.to_owned()
        }
        None if flag.variants.contains_key("on") => "on".to_owned(),
        None => variants.first().cloned().unwrap_or_default(),
    };
    if variants.len() > 2 {
        return Err(ChangeError::NeedsSplit {
            flag: key.to_string(),
            variants,
        });
    }
    let Some(other) = variants.iter().find(|v| **v != chosen).cloned() else {
        return Err(ChangeError::InvalidArgument {
            what: "flag",
            input: key.to_string(),
            problem: "it has a single variant, nothing to roll out against".into(),
            help: format!("add a variant with `flagctl set {key} variants.NAME=VALUE`"),
        });
    };
    let p = percent_given.thousandths();
    let order: Vec<String> = match &flag.default {
        Serve::Rollout(rollout)
            if rollout.weights.len() == 2
                && rollout.weights.contains_key(&chosen)
                && rollout.weights.contains_key(&other) =>
        {
            rollout.weights.keys().cloned().collect()
        }
        _ => vec![chosen.clone(), other.clone()],
    };
    let weights: Vec<(String, u32)> = order
        .into_iter()
        .map(|v| {
            let w = if v == chosen { p } else { WEIGHT_TOTAL - p };
            (v, w)
        })
        .collect();
    let (new_by, by_text) = bucketing(&flag, by);
    let shown = if chosen == "on" {
        String::new()
    } else {
        format!("{chosen} ")
    };
    if same_weights(&flag.default, &weights, new_by.as_deref()) {
        return Ok(Planned::Unchanged(format!(
            "`{key}` already rolls out {shown}{}{}",
            percent(p),
            in_environment_quoted(environment)
        )));
    }
    let before = share(&flag.default, &chosen);
    let summary = format!(
        "rollout {key} {shown}{} → {}{by_text}{}",
        percent(before),
        percent(p),
        in_environment(environment)
    );
    Ok(default_rollout(
        state,
        Rollout {
            action: Action::Rollout,
            key,
            environment,
            summary,
            file,
            doc: &doc,
            weights,
            by,
            new_by,
        },
    ))
}

/// ` in `ENV`` for messages, empty for the base.
fn in_environment_quoted(environment: Option<&str>) -> String {
    environment
        .map(|e| format!(" in `{e}`"))
        .unwrap_or_default()
}

/// The attribute a changed default rollout will bucket by (`by` when given,
/// else what it buckets by now), and ` by ATTR` for the summary when that
/// changes.
fn bucketing(flag: &Flag, by: Option<&str>) -> (Option<String>, String) {
    let current = match &flag.default {
        Serve::Rollout(rollout) => rollout.by.as_deref(),
        Serve::Variant(_) => None,
    };
    let text = match by {
        Some(by) if current != Some(by) => format!(" by {by}"),
        _ => String::new(),
    };
    (by.or(current).map(str::to_owned), text)
}

/// A change of an environment's default to a weighted rollout.
struct Rollout<'a> {
    action: Action,
    key: &'a FlagKey,
    environment: Option<&'a str>,
    summary: String,
    file: String,
    /// The flag's document as the environment resolves it.
    doc: &'a Value,
    weights: Vec<(String, u32)>,
    /// `by` as given, and as it will be.
    by: Option<&'a str>,
    new_by: Option<String>,
}

/// The plan of `rollout`: one edit of `default`, checked after the commit.
fn default_rollout(state: &State<'_>, change: Rollout<'_>) -> Planned {
    let (key, environment) = (change.key, change.environment);
    let base_default = inherited(state, key, environment, "default");
    let desired = default_with_rollout(
        change.doc,
        base_default.as_ref(),
        &change.weights,
        change.by,
    );
    let edits = fit_edit(state, &change.file, key, environment, "default", desired)
        .into_iter()
        .collect();
    let check = Check::DefaultWeights {
        weights: change.weights,
        by: change.new_by,
    };
    one_file(
        change.action,
        key,
        environment,
        change.summary,
        change.file,
        edits,
        vec![check],
    )
}

fn weights_text(weights: &[(String, u32)]) -> String {
    weights
        .iter()
        .map(|(variant, weight)| format!("{variant} {}", percent(*weight)))
        .collect::<Vec<_>>()
        .join(" / ")
}

pub(super) fn plan_split(
    state: &State<'_>,
    key: &FlagKey,
    environment: Option<&str>,
    given: &[(String, Weight)],
    by: Option<&str>,
) -> Result<Planned, ChangeError> {
    let file = target(state, key, environment)?;
    let (flag, doc) = resolved(state, key, environment)?;
    for (variant, _) in given {
        require_variant(key, &flag, variant)?;
    }
    let total: u64 = given.iter().map(|(_, w)| u64::from(w.thousandths())).sum();
    if total != u64::from(WEIGHT_TOTAL) {
        return Err(ChangeError::WeightsSum {
            total: Weight::from_thousandths(u32::try_from(total).unwrap_or(u32::MAX)).to_string(),
            missing: String::new(),
        });
    }
    let mut weights: Vec<(String, u32)> = given
        .iter()
        .map(|(v, w)| (v.clone(), w.thousandths()))
        .collect();
    // The same variants as now: keep their order (and so the buckets).
    if let Serve::Rollout(rollout) = &flag.default
        && rollout.weights.len() == weights.len()
        && weights.iter().all(|(v, _)| rollout.weights.contains_key(v))
    {
        weights.sort_by_key(|(v, _)| rollout.weights.get_index_of(v));
    }
    let (new_by, by_text) = bucketing(&flag, by);
    if same_weights(&flag.default, &weights, new_by.as_deref()) {
        return Ok(Planned::Unchanged(format!(
            "`{key}` already splits {}{}",
            weights_text(&weights),
            in_environment_quoted(environment)
        )));
    }
    let after = weights_text(&weights);
    let mut summary = match &flag.default {
        Serve::Rollout(rollout) => {
            let before: Vec<(String, u32)> = rollout
                .weights
                .iter()
                .map(|(v, w)| (v.clone(), w.thousandths()))
                .collect();
            format!("split {key} {} → {after}", weights_text(&before))
        }
        Serve::Variant(variant) => format!("split {key} {variant} → {after}"),
    };
    if summary.chars().count() > 90 {
        summary = format!("split {key} {after}");
    }
    summary.push_str(&by_text);
    summary.push_str(&in_environment(environment));
    Ok(default_rollout(
        state,
        Rollout {
            action: Action::Split,
            key,
            environment,
            summary,
            file,
            doc: &doc,
            weights,
            by,
            new_by,
        },
    ))
}

fn show_ids(sign: char, ids: &[String]) -> String {
    if ids.is_empty() {
        return String::new();
    }
    let shown: Vec<&str> = ids.iter().take(5).map(String::as_str).collect();
    let mut text = format!("{sign}{}", shown.join(","));
    if ids.len() > 5 {
        text.push_str(&format!(",… ({} in all)", ids.len()));
    }
    text
}

pub(super) fn plan_target(
    state: &State<'_>,
    key: &FlagKey,
    environment: Option<&str>,
    variant: &str,
    add: &[String],
    remove: &[String],
) -> Result<Planned, ChangeError> {
    let file = target(state, key, environment)?;
    let (flag, doc) = resolved(state, key, environment)?;
    require_variant(key, &flag, variant)?;
    let current: Vec<String> = flag.targets.get(variant).cloned().unwrap_or_default();
    let added: Vec<String> = add
        .iter()
        .filter(|id| !current.contains(id) && !remove.contains(id))
        .cloned()
        .collect();
    let removed: Vec<String> = remove
        .iter()
        .filter(|id| current.contains(id))
        .cloned()
        .collect();
    if added.is_empty() && removed.is_empty() {
        return Ok(Planned::Unchanged(format!(
            "the targets of `{key}` `{variant}`{} already are as asked",
            in_environment_quoted(environment)
        )));
    }
    let mut keys: Vec<String> = current
        .iter()
        .filter(|id| !removed.contains(id))
        .cloned()
        .collect();
    keys.extend(added.iter().cloned());
    let list_path = Path::new().key("targets").key(variant);
    let in_file =
        value_of(state, &file).and_then(|v| v.get("targets").and_then(|t| t.get(variant)).cloned());
    let edits = if matches!(in_file, Some(Value::Array(_))) {
        let mut edits = Vec::new();
        if !added.is_empty() {
            edits.push(Edit::append(
                list_path.clone(),
                added.iter().cloned().map(Value::String),
            ));
        }
        if !removed.is_empty() {
            edits.push(Edit::remove_items(
                list_path,
                removed.iter().cloned().map(Value::String),
            ));
        }
        edits
    } else {
        let mut targets = match doc.get("targets") {
            Some(Value::Object(map)) => map.clone(),
            _ => Map::new(),
        };
        targets.insert(
            variant.to_owned(),
            Value::Array(keys.iter().cloned().map(Value::String).collect()),
        );
        fit_edit(
            state,
            &file,
            key,
            environment,
            "targets",
            Value::Object(targets),
        )
        .into_iter()
        .collect()
    };
    let changes: Vec<String> = [show_ids('+', &added), show_ids('-', &removed)]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect();
    let summary = format!(
        "target {key} {variant} {}{}",
        changes.join(" "),
        in_environment(environment)
    );
    Ok(one_file(
        Action::Target,
        key,
        environment,
        summary,
        file,
        edits,
        vec![Check::Targets {
            variant: variant.to_owned(),
            keys,
        }],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_lists_stay_short() {
        assert_eq!(show_ids('+', &["a".into(), "b".into()]), "+a,b");
        let many: Vec<String> = (0..7).map(|i| format!("u{i}")).collect();
        assert_eq!(show_ids('-', &many), "-u0,u1,u2,u3,u4,… (7 in all)");
        assert_eq!(percent(12_500), "12.5%");
        assert_eq!(
            weights_text(&[("a".into(), 50_000), ("b".into(), 50_000)]),
            "a 50% / b 50%"
        );
    }
}
