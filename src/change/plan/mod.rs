//! Working an [`Intent`] out against the branch tip: which files change and
//! how, what the commit says, and what must hold afterwards.
//!
//! Overlays deep-merge onto the base (maps key by key, lists and scalars
//! replace, `null` removes), so a change to what an environment serves is
//! expressed as the smallest overlay edit that resolves to the wanted value
//! ([`fit`]): values the base already provides are not repeated, and base
//! keys that must disappear are set to `null`.

use serde_json::{Map, Value};

mod documents;
mod serving;

use super::{Action, ChangeError, Check, Expectation, FileChange, FileOperation, Intent, Plan};
use crate::diagnostic::Diagnostic;
use crate::format::edit::{Edit, Path};
use crate::format::{Loaded, RootFiles};
use crate::model::{Flag, FlagKey, RootConfig, Serve};

pub(crate) use documents::plan_revert;

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

/// Plans every intent but [`Intent::Revert`] (see [`documents::plan_revert`]).
pub(crate) fn plan(intent: &Intent, state: &State<'_>) -> Result<Planned, ChangeError> {
    match intent {
        Intent::New(new) => documents::plan_new(new, state),
        Intent::Set {
            key,
            environment,
            assignments,
        } => documents::plan_set(state, key, environment.as_deref(), assignments),
        Intent::Switch {
            key,
            environment,
            enabled,
        } => serving::plan_switch(state, key, environment.as_deref(), *enabled),
        Intent::Rollout {
            key,
            environment,
            percent,
            variant,
            by,
        } => serving::plan_rollout(
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
        } => serving::plan_split(state, key, environment.as_deref(), weights, by.as_deref()),
        Intent::Target {
            key,
            environment,
            variant,
            add,
            remove,
        } => serving::plan_target(state, key, environment.as_deref(), variant, add, remove),
        Intent::Promote { key, from, to } => documents::plan_promote(state, key, from, to),
        Intent::Archive { key } => documents::plan_archive(state, key),
        Intent::Revert { .. } => Err(ChangeError::Unexpected {
            environment: "base".into(),
            flag: "revert".into(),
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
                    flag_of_path(&l.file.to_string_lossy().replace('\\', "/")) == Some(key.as_str())
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
fn inherited(
    state: &State<'_>,
    key: &FlagKey,
    environment: Option<&str>,
    field: &str,
) -> Option<Value> {
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
pub(crate) fn fit(
    existing: Option<&Value>,
    parent: Option<&Value>,
    desired: &Value,
) -> Option<Value> {
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

/// Serialized with key order, so that equal means equal buckets too.
fn exact(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).unwrap_or_default()
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
    use crate::overlay;
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
        assert_eq!(
            fit(None, Some(&json!("off")), &json!(true)),
            Some(json!(true))
        );
        assert_eq!(fit(None, Some(&json!(false)), &json!(false)), None);
        // A map over a scalar default: written whole.
        assert_eq!(
            fit(
                None,
                Some(&json!("off")),
                &json!({"rollout": {"on": 5, "off": 95}})
            ),
            Some(json!({"rollout": {"on": 5, "off": 95}}))
        );
    }

    #[test]
    fn merged_fit_resolves_to_the_desired_value() {
        let cases = [
            (
                json!({"rollout": {"on": 10, "off": 90}, "by": "x"}),
                None,
                json!({"rollout": {"on": 30, "off": 70}, "by": "x"}),
            ),
            (
                json!({"rollout": {"a": 50, "b": 30, "c": 20}}),
                Some(json!({"experiment": "e"})),
                json!({"rollout": {"a": 40, "c": 60}, "experiment": "e"}),
            ),
            (
                json!("off"),
                Some(json!({"rollout": {"on": 1, "off": 99}})),
                json!({"rollout": {"on": 2, "off": 98}}),
            ),
        ];
        for (base, overlay, desired) in cases {
            let written = fit(overlay.as_ref(), Some(&base), &desired);
            let overlay_after = written.unwrap_or(overlay.unwrap_or(Value::Null));
            let merged = overlay::merge_values(&base, &overlay_after);
            assert_eq!(merged, desired, "{base} + {overlay_after}");
        }
    }

    #[test]
    fn paths_and_modelines() {
        assert_eq!(flag_of_path("overlays/prod/x.yaml"), Some("x"));
        assert_eq!(flag_of_path("segments/x.yaml"), None);
        assert_eq!(
            modeline(Some("../schemas"), 2, "overlay.schema.json").as_deref(),
            Some("yaml-language-server: $schema=../../../schemas/overlay.schema.json")
        );
    }
}
