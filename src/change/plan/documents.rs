//! Changes to documents as such: fields by path (`set`), a new flag, an
//! overlay copied from another environment (`promote`), a flag removed
//! (`archive`), a commit undone (`revert`).

use serde_json::{Map, Value};

use super::{
    ChangeError, Planned, State, TRAILER_FROM, TRAILER_REVERTS, base_path, exact, flag_of_path,
    in_environment, modeline, one_file, overlay_path, require_environment, require_flag, resolved,
    target, text_of,
};
use crate::change::{
    Action, Assignment, Check, Expectation, FileChange, FileOperation, NewFlag, Plan,
};
use crate::format::edit::{self, Edit, Path};
use crate::model::{FlagKey, FlagType};
use crate::overlay;
use crate::store::{RevertPlan, TRAILER_ACTION, TRAILER_ENV, TRAILER_FLAG, Trailer};

/// `flagctl set`: each assignment an edit of the file, in order.
pub(super) fn plan_set(
    state: &State<'_>,
    key: &FlagKey,
    environment: Option<&str>,
    assignments: &[Assignment],
) -> Result<Planned, ChangeError> {
    let file = target(state, key, environment)?;
    let edits = assignments
        .iter()
        .map(|a| match &a.value {
            Some(value) => Edit::set(a.path.clone(), value.clone()),
            None => Edit::remove(a.path.clone()),
        })
        .collect();
    Ok(one_file(
        Action::Set,
        key,
        environment,
        set_summary(key, assignments, environment),
        file,
        edits,
        Vec::new(),
    ))
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

fn set_summary(key: &FlagKey, assignments: &[Assignment], environment: Option<&str>) -> String {
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

pub(super) fn plan_promote(
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
            .map_or_else(
                || FileOperation::Write(from_text.clone()),
                FileOperation::Edit,
            ),
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
fn promote_edits(
    state: &State<'_>,
    key: &FlagKey,
    from_text: &str,
    to_text: &str,
) -> Option<Vec<Edit>> {
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

pub(super) fn plan_archive(state: &State<'_>, key: &FlagKey) -> Result<Planned, ChangeError> {
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

pub(super) fn plan_new(new: &NewFlag, state: &State<'_>) -> Result<Planned, ChangeError> {
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
            help: format!(
                "name its values, such as `flagctl new {key} --type {} {example}`",
                new.kind
            ),
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
    let default = if new.variants.is_empty() || new.variants.iter().any(|(name, _)| name == "off") {
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
    let short = crate::change::error::short(commit.id);
    if commit.trailer(TRAILER_ACTION).is_none() {
        return Err(ChangeError::NotAFlagctlChange { id: short });
    }
    if revert.is_superseded() {
        return Err(ChangeError::Superseded {
            id: short,
            later: revert
                .later
                .iter()
                .map(|entry| {
                    (
                        crate::change::error::short(entry.commit.id),
                        entry.commit.summary.clone(),
                    )
                })
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn summaries_stay_short() {
        let key = FlagKey::parse("f").expect("key");
        let assignment = |path: &str, value: Option<Value>| Assignment {
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
    }
}
