//! Working an [`Intent`] out against the branch tip: which files change and
//! how, what the commit says, and what must hold afterwards.
//!
//! Overlays deep-merge onto the base (maps key by key, lists and scalars
//! replace, `null` removes), so a change to what an environment serves is
//! expressed as the smallest overlay edit that resolves to the wanted value
//! ([`fit`]): values the base already provides are not repeated, and base
//! keys that must disappear are set to `null`.

use serde_json::{Map, Value};

use super::{
    Action, ChangeError, Check, Expectation, FileChange, FileOperation, Intent, NewFlag, Plan,
};
use crate::diagnostic::Diagnostic;
use crate::format::edit::{self, Edit, Path};
use crate::format::{Loaded, RootFiles};
use crate::model::{Flag, FlagKey, FlagType, RootConfig, Serve, WEIGHT_TOTAL, Weight};
use crate::overlay;
use crate::store::{RevertPlan, TRAILER_ACTION, TRAILER_ENV, TRAILER_FLAG, Trailer};

/// The branch tip as planning sees it.
pub(crate) struct State<'a> {
    /// The documents read at the tip (all, or those the intent's flags
    /// depend on).
    pub files: &'a RootFiles,
    /// Those documents loaded.
    pub loaded: &'a Loaded,
    /// `flagctl.yaml`.
    pub config: &'a RootConfig,
    /// The schemas directory relative to the root (`schemas`,
    /// `../schemas`), for modelines in new files.
    pub schemas: Option<&'a str>,
}

/// What planning decided.
pub(crate) enum Planned {
    /// A change to make.
    Change(Plan),
    /// Nothing to do, and why.
    Unchanged(String),
}

/// The trailer naming the environment a promotion copied from.
pub(crate) const TRAILER_FROM: &str = "Flagctl-From";
/// The trailer naming the commit a revert undoes.
pub(crate) const TRAILER_REVERTS: &str = "Flagctl-Reverts";

/// Plans every intent but [`Intent::Revert`] (see [`plan_revert`]).
pub(crate) fn plan(intent: &Intent, state: &State<'_>) -> Result<Planned, ChangeError> {
    match intent {
        Intent::New(new) => plan_new(new, state),
        Intent::Set {
            key,
            environment,
            assignments,
        } => {
            let file = target(state, key, environment.as_deref())?;
            let edits = assignments
                .iter()
                .map(|a| match &a.value {
                    Some(value) => Edit::set(a.path.clone(), value.clone()),
                    None => Edit::remove(a.path.clone()),
                })
                .collect();
            Ok(Planned::Change(Plan {
                action: Action::Set,
                flag: Some(key.clone()),
                environment: environment.clone(),
                summary: set_summary(key, assignments, environment.as_deref()),
                body: None,
                trailers: Vec::new(),
                files: vec![FileChange {
                    path: file,
                    operation: FileOperation::Edit(edits),
                }],
                expect: Vec::new(),
            }))
        }
        Intent::Switch {
            key,
            environment,
            enabled,
        } => plan_switch(state, key, environment.as_deref(), *enabled),
        Intent::Rollout {
            key,
            environment,
            percent,
            variant,
            by,
        } => plan_rollout(
            state,
            key,
            environment.as_deref(),
            *percent,
            variant.as_deref(),
            by.as_deref(),
        ),
        Intent::Split {
            key,
            environment,
            weights,
            by,
        } => plan_split(state, key, environment.as_deref(), weights, by.as_deref()),
        Intent::Target {
            key,
            environment,
            variant,
            add,
            remove,
        } => plan_target(state, key, environment.as_deref(), variant, add, remove),
        Intent::Promote { key, from, to } => plan_promote(state, key, from, to),
        Intent::Archive { key } => plan_archive(state, key),
        Intent::Revert { .. } => Err(ChangeError::Unexpected {
            environment: "base".into(),
            pointer: "revert".into(),
        }),
    }
}

fn base_path(key: &FlagKey) -> String {
    format!("base/{key}.yaml")
}

fn overlay_path(environment: &str, key: &FlagKey) -> String {
    format!("overlays/{environment}/{key}.yaml")
}

/// The flag key a root-relative path belongs to (`base/K.yaml`,
/// `overlays/E/K.yaml`), if any.
pub(crate) fn flag_of_path(path: &str) -> Option<&str> {
    match path.split('/').collect::<Vec<_>>().as_slice() {
        ["base", name] | ["overlays", _, name] => name.strip_suffix(".yaml"),
        _ => None,
    }
}

fn require_flag(state: &State<'_>, key: &FlagKey) -> Result<(), ChangeError> {
    if state.files.get(&base_path(key)).is_some() {
        Ok(())
    } else {
        Err(ChangeError::UnknownFlag {
            key: key.to_string(),
            suggestion: None,
        })
    }
}

fn require_environment(state: &State<'_>, environment: &str) -> Result<(), ChangeError> {
    if state.config.has_environment(environment) {
        Ok(())
    } else {
        Err(ChangeError::UnknownEnvironment {
            environment: environment.to_owned(),
            environments: state.config.environments.clone(),
        })
    }
}

/// Checks the flag and environment and returns the file to change.
fn target(
    state: &State<'_>,
    key: &FlagKey,
    environment: Option<&str>,
) -> Result<String, ChangeError> {
    require_flag(state, key)?;
    match environment {
        Some(environment) => {
            require_environment(state, environment)?;
            Ok(overlay_path(environment, key))
        }
        None => Ok(base_path(key)),
    }
}

/// The parsed contents of a file at the tip (`None`: absent or unparsable).
fn value_of(state: &State<'_>, path: &str) -> Option<Value> {
    let text = std::str::from_utf8(state.files.get(path)?).ok()?;
    crate::format::yaml::parse(text, std::path::Path::new(path))
        .ok()
        .map(|document| document.value)
}

fn text_of(state: &State<'_>, path: &str) -> Option<String> {
    state
        .files
        .get(path)
        .map(|bytes| String::from_utf8_lossy(bytes).into_owned())
}

/// The flag as resolved where the change lands, typed and as a document.
fn resolved(
    state: &State<'_>,
    key: &FlagKey,
    environment: Option<&str>,
) -> Result<(Flag, Value), ChangeError> {
    let found = match environment {
        None => state.loaded.base_flags.get(key).cloned().zip(
            state
                .loaded
                .base_document(key.as_str())
                .map(|d| d.value.into_owned()),
        ),
        Some(environment) => state
            .loaded
            .environments
            .get(environment)
            .and_then(|e| e.flags.get(key))
            .cloned()
            .zip(
                state
                    .loaded
                    .resolved_document(environment, key.as_str())
                    .map(|d| d.value.into_owned()),
            ),
    };
    found.ok_or_else(|| {
        let diagnostics: Vec<Diagnostic> = state
            .loaded
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .filter(|d| {
                d.location.as_ref().is_some_and(|l| {
                    flag_of_path(&l.file.to_string_lossy().replace('\\', "/"))
                        == Some(key.as_str())
                })
            })
            .filter(|d| match (&d.environment, environment) {
                (Some(found), Some(wanted)) => found == wanted,
                _ => true,
            })
            .cloned()
            .collect();
        ChangeError::FlagHasErrors {
            flag: key.to_string(),
            environment: environment.unwrap_or("base").to_owned(),
            diagnostics,
            files: state.files.clone(),
        }
    })
}

/// The base document's value of `field`, which an overlay inherits.
fn inherited(state: &State<'_>, key: &FlagKey, environment: Option<&str>, field: &str) -> Option<Value> {
    environment?;
    state
        .loaded
        .base_document(key.as_str())
        .and_then(|d| d.value.get(field).cloned())
}

/// The smallest value to write at a place of a file so that, merged onto
/// `parent` (what the base provides there; `None` for the base file
/// itself), it resolves to `desired`; `None` when nothing needs writing.
///
/// Mappings keep the file's key order; keys the base provides with the
/// right value are left out; base keys `desired` lacks become `null`.
pub(crate) fn fit(existing: Option<&Value>, parent: Option<&Value>, desired: &Value) -> Option<Value> {
    if existing.is_none() && parent == Some(desired) {
        return None;
    }
    let Value::Object(want) = desired else {
        return Some(desired.clone());
    };
    let existing_map = existing.and_then(Value::as_object);
    let parent_map = parent.and_then(Value::as_object);
    let mut keys: Vec<&String> = existing_map
        .map(|m| m.keys().filter(|k| want.contains_key(*k)).collect())
        .unwrap_or_default();
    for key in want.keys() {
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    let mut out = Map::new();
    for key in keys {
        if let Some(value) = fit(
            existing_map.and_then(|m| m.get(key)),
            parent_map.and_then(|m| m.get(key)),
            &want[key],
        ) {
            out.insert(key.clone(), value);
        }
    }
    if let Some(parent_map) = parent_map {
        for key in parent_map.keys() {
            if !want.contains_key(key) {
                out.insert(key.clone(), Value::Null);
            }
        }
    }
    Some(Value::Object(out))
}

/// The edit of top-level `field` of `file` that resolves it to `desired`.
fn fit_edit(
    state: &State<'_>,
    file: &str,
    key: &FlagKey,
    environment: Option<&str>,
    field: &str,
    desired: Value,
) -> Option<Edit> {
    let current = value_of(state, file);
    let existing = current.as_ref().and_then(|v| v.get(field));
    let parent = inherited(state, key, environment, field);
    fit(existing, parent.as_ref(), &desired).map(|value| Edit::set(Path::new().key(field), value))
}

fn in_environment(environment: Option<&str>) -> String {
    environment.map(|e| format!(" in {e}")).unwrap_or_default()
}

fn one_file(
    action: Action,
    key: &FlagKey,
    environment: Option<&str>,
    summary: String,
    file: String,
    edits: Vec<Edit>,
    expect: Vec<Check>,
) -> Planned {
    Planned::Change(Plan {
        action,
        flag: Some(key.clone()),
        environment: environment.map(str::to_owned),
        summary,
        body: None,
        trailers: Vec::new(),
        files: vec![FileChange {
            path: file,
            operation: FileOperation::Edit(edits),
        }],
        expect: expect
            .into_iter()
            .map(|check| Expectation {
                flag: key.clone(),
                environment: environment.map(str::to_owned),
                check,
            })
            .collect(),
    })
}

/// `description="Rebuilt checkout"` for a summary: short, one line.
fn show_value(value: &Value) -> String {
    let text = match value {
        Value::String(s)
            if !s.is_empty()
                && !s.contains([',', '"', '\n'])
                && !s.starts_with(' ')
                && !s.ends_with(' ') =>
        {
            if s.contains(' ') {
                format!("\"{s}\"")
            } else {
                s.clone()
            }
        }
        other => other.to_string(),
    };
    if text.chars().count() > 40 {
        let cut: String = text.chars().take(39).collect();
        format!("{cut}…")
    } else {
        text
    }
}

fn set_summary(
    key: &FlagKey,
    assignments: &[super::Assignment],
    environment: Option<&str>,
) -> String {
    let items: Vec<String> = assignments
        .iter()
        .map(|a| match &a.value {
            Some(value) => format!("{}={}", a.path, show_value(value)),
            None => format!("unset {}", a.path),
        })
        .collect();
    let env = in_environment(environment);
    let full = format!("set {key} {}{env}", items.join(", "));
    if full.chars().count() <= 100 {
        return full;
    }
    let paths: Vec<String> = assignments.iter().map(|a| a.path.to_string()).collect();
    let short = format!("set {key} {}{env}", paths.join(", "));
    if short.chars().count() <= 100 {
        short
    } else {
        format!("set {key} ({} fields){env}", assignments.len())
    }
}

fn plan_switch(
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
            environment.map(|e| format!(" in `{e}`")).unwrap_or_default()
        )));
    }
    let action = if enabled {
        Action::Enable
    } else {
        Action::Disable
    };
    let edits = fit_edit(state, &file, key, environment, "enabled", Value::Bool(enabled))
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
        Serve::Rollout(rollout) => rollout
            .weights
            .get(variant)
            .map_or(0, |w| w.thousandths()),
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

fn plan_rollout(
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
    let current_by = match &flag.default {
        Serve::Rollout(rollout) => rollout.by.clone(),
        Serve::Variant(_) => None,
    };
    let new_by = by.map(str::to_owned).or(current_by.clone());
    let shown = if chosen == "on" {
        String::new()
    } else {
        format!("{chosen} ")
    };
    if same_weights(&flag.default, &weights, new_by.as_deref()) {
        return Ok(Planned::Unchanged(format!(
            "`{key}` already rolls out {shown}{}{}",
            percent(p),
            environment.map(|e| format!(" in `{e}`")).unwrap_or_default()
        )));
    }
    let before = share(&flag.default, &chosen);
    let by_text = match by {
        Some(by) if current_by.as_deref() != Some(by) => format!(" by {by}"),
        _ => String::new(),
    };
    let summary = format!(
        "rollout {key} {shown}{} → {}{by_text}{}",
        percent(before),
        percent(p),
        in_environment(environment)
    );
    let base_default = inherited(state, key, environment, "default");
    let desired = default_with_rollout(&doc, base_default.as_ref(), &weights, by);
    let edits = fit_edit(state, &file, key, environment, "default", desired)
        .into_iter()
        .collect();
    Ok(one_file(
        Action::Rollout,
        key,
        environment,
        summary,
        file,
        edits,
        vec![Check::DefaultWeights {
            weights,
            by: new_by,
        }],
    ))
}

fn weights_text(weights: &[(String, u32)]) -> String {
    weights
        .iter()
        .map(|(variant, weight)| format!("{variant} {}", percent(*weight)))
        .collect::<Vec<_>>()
        .join(" / ")
}

fn plan_split(
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
    let current_by = match &flag.default {
        Serve::Rollout(rollout) => rollout.by.clone(),
        Serve::Variant(_) => None,
    };
    let new_by = by.map(str::to_owned).or(current_by.clone());
    if same_weights(&flag.default, &weights, new_by.as_deref()) {
        return Ok(Planned::Unchanged(format!(
            "`{key}` already splits {}{}",
            weights_text(&weights),
            environment.map(|e| format!(" in `{e}`")).unwrap_or_default()
        )));
    }
    let by_text = match by {
        Some(by) if current_by.as_deref() != Some(by) => format!(" by {by}"),
        _ => String::new(),
    };
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
    let base_default = inherited(state, key, environment, "default");
    let desired = default_with_rollout(&doc, base_default.as_ref(), &weights, by);
    let edits = fit_edit(state, &file, key, environment, "default", desired)
        .into_iter()
        .collect();
    Ok(one_file(
        Action::Split,
        key,
        environment,
        summary,
        file,
        edits,
        vec![Check::DefaultWeights {
            weights,
            by: new_by,
        }],
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

fn plan_target(
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
            environment.map(|e| format!(" in `{e}`")).unwrap_or_default()
        )));
    }
    let mut keys: Vec<String> = current
        .iter()
        .filter(|id| !removed.contains(id))
        .cloned()
        .collect();
    keys.extend(added.iter().cloned());
    let list_path = Path::new().key("targets").key(variant);
    let in_file = value_of(state, &file)
        .and_then(|v| v.get("targets").and_then(|t| t.get(variant)).cloned());
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
        fit_edit(state, &file, key, environment, "targets", Value::Object(targets))
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

/// Serialized with key order, so that equal means equal buckets too.
fn exact(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

fn plan_promote(
    state: &State<'_>,
    key: &FlagKey,
    from: &str,
    to: &str,
) -> Result<Planned, ChangeError> {
    require_flag(state, key)?;
    require_environment(state, from)?;
    require_environment(state, to)?;
    if from == to {
        return Err(ChangeError::InvalidArgument {
            what: "environments",
            input: format!("{from} → {to}"),
            problem: "they are the same".into(),
            help: "promote from one environment to another, such as `--from staging --to prod`"
                .into(),
        });
    }
    let (source, _) = resolved(state, key, Some(from))?;
    let current = state
        .loaded
        .environments
        .get(to)
        .and_then(|e| e.flags.get(key));
    if current.is_some_and(|flag| exact(flag) == exact(&source)) {
        return Ok(Planned::Unchanged(format!(
            "`{key}` already resolves in `{to}` as in `{from}`"
        )));
    }
    let from_path = overlay_path(from, key);
    let to_path = overlay_path(to, key);
    let from_text = text_of(state, &from_path);
    let to_text = text_of(state, &to_path);
    let operation = match (&from_text, &to_text) {
        (None, Some(_)) => FileOperation::Delete,
        (Some(from_text), None) => FileOperation::Write(from_text.clone()),
        (Some(from_text), Some(to_text)) => promote_edits(state, key, from_text, to_text)
            .map_or_else(|| FileOperation::Write(from_text.clone()), FileOperation::Edit),
        (None, None) => {
            return Ok(Planned::Unchanged(format!(
                "`{key}` already resolves in `{to}` as in `{from}`"
            )));
        }
    };
    Ok(Planned::Change(Plan {
        action: Action::Promote,
        flag: Some(key.clone()),
        environment: Some(to.to_owned()),
        summary: format!("promote {key} {from} → {to}"),
        body: None,
        trailers: vec![Trailer {
            key: TRAILER_FROM.into(),
            value: from.to_owned(),
        }],
        files: vec![FileChange {
            path: to_path,
            operation,
        }],
        expect: vec![Expectation {
            flag: key.clone(),
            environment: Some(to.to_owned()),
            check: Check::SameAs(from.to_owned()),
        }],
    }))
}

/// Minimal edits turning the `to` overlay into one that resolves like the
/// `from` overlay, or `None` when only a copy does it exactly (key order
/// differs, say).
fn promote_edits(state: &State<'_>, key: &FlagKey, from_text: &str, to_text: &str) -> Option<Vec<Edit>> {
    let parse = |text: &str| {
        crate::format::yaml::parse(text, std::path::Path::new("overlay"))
            .ok()
            .map(|d| d.value)
    };
    let (Value::Object(from), Value::Object(to)) = (parse(from_text)?, parse(to_text)?) else {
        return None;
    };
    let mut edits = Vec::new();
    for (field, value) in &from {
        if to.get(field).map(exact) != Some(exact(value)) {
            edits.push(Edit::set(Path::new().key(field), value.clone()));
        }
    }
    for field in to.keys() {
        if !from.contains_key(field) {
            edits.push(Edit::remove(Path::new().key(field)));
        }
    }
    let edited = parse(&edit::apply(to_text, &edits).ok()?)?;
    let base = state.loaded.base_document(key.as_str())?.value.into_owned();
    let want = overlay::merge_values(&base, &Value::Object(from));
    let got = overlay::merge_values(&base, &edited);
    (exact(&want) == exact(&got)).then_some(edits)
}

fn plan_archive(state: &State<'_>, key: &FlagKey) -> Result<Planned, ChangeError> {
    require_flag(state, key)?;
    let mut files = vec![FileChange {
        path: base_path(key),
        operation: FileOperation::Delete,
    }];
    for (path, _) in state.files.iter() {
        if path.starts_with("overlays/") && flag_of_path(path) == Some(key.as_str()) {
            files.push(FileChange {
                path: path.to_owned(),
                operation: FileOperation::Delete,
            });
        }
    }
    Ok(Planned::Change(Plan {
        action: Action::Archive,
        flag: Some(key.clone()),
        environment: None,
        summary: format!("archive {key}"),
        body: None,
        trailers: Vec::new(),
        files,
        expect: Vec::new(),
    }))
}

/// The modeline comment for a new file `depth` directories below the root.
pub(crate) fn modeline(schemas: Option<&str>, depth: usize, schema: &str) -> Option<String> {
    schemas.map(|dir| {
        format!(
            "yaml-language-server: $schema={}{dir}/{schema}",
            "../".repeat(depth)
        )
    })
}

fn plan_new(new: &NewFlag, state: &State<'_>) -> Result<Planned, ChangeError> {
    let key = &new.key;
    let path = base_path(key);
    if state.files.get(&path).is_some() {
        return Err(ChangeError::FlagExists {
            key: key.to_string(),
        });
    }
    if new.kind != FlagType::Boolean && new.variants.is_empty() {
        let example = match new.kind {
            FlagType::Number => "--variant low=1 --variant high=2.5",
            FlagType::Json => "--variant small='{ limit: 10 }' --variant large='{ limit: 100 }'",
            _ => "--variant blue='#1f6feb' --variant green='#2da44e'",
        };
        return Err(ChangeError::InvalidArgument {
            what: "flag",
            input: key.to_string(),
            problem: format!("a {} flag needs variants", new.kind),
            help: format!("name its values, such as `flagctl new {key} --type {} {example}`", new.kind),
        });
    }
    let mut map = Map::new();
    map.insert("key".into(), Value::String(key.to_string()));
    if let Some(description) = &new.description {
        map.insert("description".into(), Value::String(description.clone()));
    }
    if let Some(owner) = &new.owner {
        map.insert("owner".into(), Value::String(owner.clone()));
    }
    if let Some(expires) = new.expires {
        map.insert("expires".into(), Value::String(expires.to_string()));
    }
    map.insert("type".into(), Value::String(new.kind.as_str().into()));
    if !new.variants.is_empty() {
        let variants: Map<String, Value> = new.variants.iter().cloned().collect();
        map.insert("variants".into(), Value::Object(variants));
    }
    let default = if new.variants.is_empty() {
        "off".to_owned()
    } else if new.variants.iter().any(|(name, _)| name == "off") {
        "off".to_owned()
    } else {
        new.variants[0].0.clone()
    };
    map.insert("default".into(), Value::String(default.clone()));
    let header = modeline(state.schemas, 1, "flag.schema.json");
    let text = edit::render_new(&Value::Object(map), header.as_deref());
    Ok(Planned::Change(Plan {
        action: Action::New,
        flag: Some(key.clone()),
        environment: None,
        summary: format!("new {key} ({}, serves {default})", new.kind),
        body: None,
        trailers: Vec::new(),
        files: vec![FileChange {
            path,
            operation: FileOperation::Write(text),
        }],
        expect: Vec::new(),
    }))
}

/// Plans undoing a commit: every file it changed goes back to its state
/// before the commit.
pub(crate) fn plan_revert(revert: &RevertPlan) -> Result<Plan, ChangeError> {
    let commit = &revert.commit;
    let short = super::error::short(commit.id);
    if commit.trailer(TRAILER_ACTION).is_none() {
        return Err(ChangeError::NotAFlagctlChange { id: short });
    }
    if revert.is_superseded() {
        return Err(ChangeError::Superseded {
            id: short,
            later: revert
                .later
                .iter()
                .map(|entry| (super::error::short(entry.commit.id), entry.commit.summary.clone()))
                .collect(),
        });
    }
    let mut files = Vec::new();
    for change in &revert.changes {
        let operation = match &change.before {
            Some(bytes) => match String::from_utf8(bytes.clone()) {
                Ok(text) => FileOperation::Write(text),
                Err(_) => {
                    return Err(ChangeError::InvalidArgument {
                        what: "commit",
                        input: short,
                        problem: format!("`{}` was not UTF-8 before it", change.path),
                        help: format!("undo it with `git revert {}`", commit.id),
                    });
                }
            },
            None => FileOperation::Delete,
        };
        files.push(FileChange {
            path: change.path.clone(),
            operation,
        });
    }
    Ok(Plan {
        action: Action::Revert,
        flag: commit
            .trailer(TRAILER_FLAG)
            .and_then(|k| FlagKey::parse(k).ok()),
        environment: commit.trailer(TRAILER_ENV).map(str::to_owned),
        summary: format!("revert \"{}\"", commit.summary),
        body: Some(format!("This reverts commit {}.", commit.id)),
        trailers: vec![Trailer {
            key: TRAILER_REVERTS.into(),
            value: commit.id.to_string(),
        }],
        files,
        expect: Vec::new(),
    })
}

/// Checks an expectation against the configuration after the change.
pub(crate) fn check(expectation: &Expectation, after: &Loaded) -> bool {
    let flag_in = |environment: Option<&str>| -> Option<&Flag> {
        match environment {
            None => after.base_flags.get(&expectation.flag),
            Some(environment) => after
                .environments
                .get(environment)
                .and_then(|e| e.flags.get(&expectation.flag)),
        }
    };
    let Some(flag) = flag_in(expectation.environment.as_deref()) else {
        return false;
    };
    match &expectation.check {
        Check::Enabled(enabled) => flag.enabled == *enabled,
        Check::DefaultWeights { weights, by } => match &flag.default {
            Serve::Rollout(rollout) => {
                rollout.weights.len() == weights.len()
                    && weights.iter().all(|(variant, weight)| {
                        rollout.weights.get(variant).map(|w| w.thousandths()) == Some(*weight)
                    })
                    && rollout.by == *by
            }
            Serve::Variant(_) => false,
        },
        Check::Targets { variant, keys } => {
            let mut want = keys.clone();
            let mut got = flag.targets.get(variant).cloned().unwrap_or_default();
            want.sort();
            got.sort();
            want == got
        }
        Check::SameAs(other) => {
            flag_in(Some(other)).is_some_and(|source| exact(source) == exact(flag))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fit_leaves_out_what_the_base_provides() {
        // Base file: the whole desired value, in the file's order.
        let existing = json!({"rollout": {"off": 90, "on": 10}});
        let desired = json!({"rollout": {"on": 25, "off": 75}});
        assert_eq!(
            exact(&fit(Some(&existing), None, &desired).expect("write")),
            r#"{"rollout":{"off":75,"on":25}}"#
        );
        // An overlay without the field: what differs from the base only.
        let base = json!({"rollout": {"on": 10, "off": 90}, "by": "company"});
        let desired = json!({"rollout": {"on": 25, "off": 75}, "by": "company"});
        assert_eq!(
            fit(None, Some(&base), &desired),
            Some(json!({"rollout": {"on": 25, "off": 75}}))
        );
        // Base keys that must go become null.
        let base = json!({"rollout": {"a": 50, "b": 30, "c": 20}});
        let desired = json!({"rollout": {"a": 50, "b": 50}});
        assert_eq!(
            fit(None, Some(&base), &desired),
            Some(json!({"rollout": {"b": 50, "c": null}}))
        );
        // A scalar replaces whatever was there.
        assert_eq!(fit(None, Some(&json!("off")), &json!(true)), Some(json!(true)));
        assert_eq!(fit(None, Some(&json!(false)), &json!(false)), None);
        // A map over a scalar default: written whole.
        assert_eq!(
            fit(None, Some(&json!("off")), &json!({"rollout": {"on": 5, "off": 95}})),
            Some(json!({"rollout": {"on": 5, "off": 95}}))
        );
    }

    #[test]
    fn merged_fit_resolves_to_the_desired_value() {
        let cases = [
            (json!({"rollout": {"on": 10, "off": 90}, "by": "x"}), None, json!({"rollout": {"on": 30, "off": 70}, "by": "x"})),
            (json!({"rollout": {"a": 50, "b": 30, "c": 20}}), Some(json!({"experiment": "e"})), json!({"rollout": {"a": 40, "c": 60}, "experiment": "e"})),
            (json!("off"), Some(json!({"rollout": {"on": 1, "off": 99}})), json!({"rollout": {"on": 2, "off": 98}})),
        ];
        for (base, overlay, desired) in cases {
            let written = fit(overlay.as_ref(), Some(&base), &desired);
            let overlay_after = written.unwrap_or(overlay.unwrap_or(Value::Null));
            let merged = overlay::merge_values(&base, &overlay_after);
            assert_eq!(merged, desired, "{base} + {overlay_after}");
        }
    }

    #[test]
    fn summaries_stay_short() {
        let key = FlagKey::parse("f").expect("key");
        let assignment = |path: &str, value: Option<Value>| super::super::Assignment {
            path: Path::parse(path).expect("path"),
            value,
        };
        assert_eq!(
            set_summary(
                &key,
                &[
                    assignment("description", Some(json!("Rebuilt checkout"))),
                    assignment("enabled", Some(json!(false))),
                    assignment("owner", None)
                ],
                Some("prod")
            ),
            "set f description=\"Rebuilt checkout\", enabled=false, unset owner in prod"
        );
        let long = "x".repeat(200);
        assert_eq!(
            set_summary(&key, &[assignment("description", Some(json!(long)))], None),
            format!("set f description={}…", "x".repeat(39))
        );
        assert_eq!(show_ids('+', &["a".into(), "b".into()]), "+a,b");
        let many: Vec<String> = (0..7).map(|i| format!("u{i}")).collect();
        assert_eq!(show_ids('-', &many), "-u0,u1,u2,u3,u4,… (7 in all)");
        assert_eq!(flag_of_path("overlays/prod/x.yaml"), Some("x"));
        assert_eq!(flag_of_path("segments/x.yaml"), None);
        assert_eq!(
            modeline(Some("../schemas"), 2, "overlay.schema.json").as_deref(),
            Some("yaml-language-server: $schema=../../../schemas/overlay.schema.json")
        );
    }
}
