//! Two versions of a flag root compared environment by environment: which
//! flags changed as each environment resolves them (base plus overlay), with
//! the field changes and the rollout impact; which segments changed; and
//! which files changed, with their contents on both sides.
//!
//! Only the flags whose files differ are parsed and resolved, so comparing
//! two versions of a root of 10,000 flags costs little more than comparing
//! their bytes. Nothing is validated: a change that leaves a flag invalid is
//! still shown (without an impact, which needs a flag that deserializes).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::diff::{FieldChange, Impact, diff_documents, diff_flag, rollout_impact};
use crate::format::{CONFIG_FILE, RootFiles, yaml};
use crate::model::{Flag, RootConfig, Serve, WEIGHT_TOTAL};
use crate::overlay::merge_values;

/// Whether a flag or document exists on each side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Only after.
    Added,
    /// Only before.
    Removed,
    /// On both sides, different.
    Changed,
}

/// How one flag differs in one environment.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FlagDiff {
    /// The flag's key.
    pub key: String,
    /// Whether the flag was added, removed or changed.
    pub status: Status,
    /// The field changes of the resolved flag (see [`diff_flag`]).
    pub changes: Vec<FieldChange>,
    /// Who gets another variant, when both sides are flags that deserialize
    /// and someone is concerned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub impact: Option<Impact>,
    /// Files of the flag that did not parse (the flag is compared without them).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

/// The flags that differ in one environment.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EnvironmentDiff {
    /// The environment.
    pub environment: String,
    /// The flags that differ, by key.
    pub flags: Vec<FlagDiff>,
}

/// How a document that is not a flag (a segment, `flagctl.yaml`) differs.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DocumentDiff {
    /// The segment's name, or `flagctl.yaml`.
    pub name: String,
    /// Whether it was added, removed or changed.
    pub status: Status,
    /// The field changes (see [`diff_documents`]).
    pub changes: Vec<FieldChange>,
}

/// One file whose bytes differ.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileChange {
    /// The root-relative path.
    pub path: String,
    /// The contents before (`None`: the file did not exist).
    pub before: Option<Vec<u8>>,
    /// The contents after (`None`: the file was deleted).
    pub after: Option<Vec<u8>>,
}

impl FileChange {
    /// Whether the file was added, removed or changed.
    pub fn status(&self) -> Status {
        match (&self.before, &self.after) {
            (None, _) => Status::Added,
            (_, None) => Status::Removed,
            _ => Status::Changed,
        }
    }
}

/// Two versions of a root compared: see [`compare_roots`].
#[derive(Clone, Debug, PartialEq)]
pub struct RootDiff {
    /// Each compared environment, in the order `flagctl.yaml` lists them
    /// (those with no change included, with no flags).
    pub environments: Vec<EnvironmentDiff>,
    /// Segments that differ, by name.
    pub segments: Vec<DocumentDiff>,
    /// `flagctl.yaml`, when it differs.
    pub config: Option<DocumentDiff>,
    /// Every file whose bytes differ, in path order.
    pub files: Vec<FileChange>,
}

impl RootDiff {
    /// Whether no file differs.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

/// A parsed document, or why it did not parse.
type Parsed = Result<Value, String>;

fn parse(path: &str, bytes: &[u8]) -> Parsed {
    let text = std::str::from_utf8(bytes).map_err(|_| format!("`{path}` is not valid UTF-8"))?;
    yaml::parse(text, Path::new(path))
        .map(|document| document.value)
        .map_err(|errors| match errors.first() {
            Some(error) => format!("`{path}` does not parse: {}", error.message),
            None => format!("`{path}` does not parse"),
        })
}

/// The files of one flag on one side of a comparison: its base and its
/// overlays, by environment.
#[derive(Clone, Debug, Default)]
pub struct FlagSources {
    base: Option<Parsed>,
    overlays: BTreeMap<String, Parsed>,
}

impl FlagSources {
    /// A flag's files from a root's files.
    pub fn from_root(files: &RootFiles, key: &str, environments: &[String]) -> FlagSources {
        let base_path = format!("base/{key}.yaml");
        let mut sources = FlagSources {
            base: files.get(&base_path).map(|b| parse(&base_path, b)),
            overlays: BTreeMap::new(),
        };
        for environment in environments {
            let path = format!("overlays/{environment}/{key}.yaml");
            if let Some(bytes) = files.get(&path) {
                sources
                    .overlays
                    .insert(environment.clone(), parse(&path, bytes));
            }
        }
        sources
    }

    /// A flag's files from their contents: the base (`None`: the flag does
    /// not exist) and the overlays that exist, by environment.
    pub fn from_contents<'a>(
        key: &str,
        base: Option<&[u8]>,
        overlays: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    ) -> FlagSources {
        let base_path = format!("base/{key}.yaml");
        FlagSources {
            base: base.map(|b| parse(&base_path, b)),
            overlays: overlays
                .into_iter()
                .map(|(environment, bytes)| {
                    let path = format!("overlays/{environment}/{key}.yaml");
                    (environment.to_owned(), parse(&path, bytes))
                })
                .collect(),
        }
    }

    /// The flag as `environment` resolves it (base + overlay, not
    /// validated), `None` when it has no base; and the problems met.
    pub fn resolve(&self, environment: &str) -> (Option<Value>, Vec<String>) {
        let mut problems = Vec::new();
        let base = match &self.base {
            None => return (None, problems),
            Some(Ok(base)) => base,
            Some(Err(problem)) => {
                problems.push(problem.clone());
                return (None, problems);
            }
        };
        let value = match self.overlays.get(environment) {
            Some(Ok(overlay)) => merge_values(base, overlay),
            Some(Err(problem)) => {
                problems.push(problem.clone());
                base.clone()
            }
            None => base.clone(),
        };
        (Some(value), problems)
    }
}

/// A resolved flag document as a typed flag fit for impact counting: it
/// deserializes and every rollout's weights add up to 100%.
pub fn typed_flag(value: &Value) -> Option<Flag> {
    let flag = Flag::deserialize(value).ok()?;
    let complete = |serve: &Serve| match serve {
        Serve::Variant(_) => true,
        Serve::Rollout(rollout) => rollout.total() == u64::from(WEIGHT_TOTAL),
    };
    (complete(&flag.default) && flag.rules.iter().all(|r| complete(&r.serve))).then_some(flag)
}

/// How a flag differs between two sides in one environment; `None` when
/// it resolves to the same document (or to nothing on both sides).
pub fn compare_flag(
    key: &str,
    environment: &str,
    before: &FlagSources,
    after: &FlagSources,
) -> Option<FlagDiff> {
    let (value_before, mut problems) = before.resolve(environment);
    let (value_after, problems_after) = after.resolve(environment);
    problems.extend(problems_after);
    let status = match (&value_before, &value_after) {
        (None, None) if problems.is_empty() => return None,
        (None, Some(_)) => Status::Added,
        (Some(_), None) => Status::Removed,
        _ => Status::Changed,
    };
    let changes = diff_flag(value_before.as_ref(), value_after.as_ref());
    if changes.is_empty() && problems.is_empty() {
        return None;
    }
    let impact = match (&value_before, &value_after) {
        (Some(b), Some(a)) => match (typed_flag(b), typed_flag(a)) {
            (Some(b), Some(a)) => Some(rollout_impact(&b, &a)).filter(|i| !i.is_empty()),
            _ => None,
        },
        _ => None,
    };
    Some(FlagDiff {
        key: key.to_owned(),
        status,
        changes,
        impact,
        problems,
    })
}

/// The environments `flagctl.yaml` declares, when it parses.
pub fn config_environments(bytes: Option<&[u8]>) -> Option<Vec<String>> {
    let value = parse(CONFIG_FILE, bytes?).ok()?;
    RootConfig::deserialize(&value)
        .ok()
        .map(|config| config.environments)
}

/// The environments of either side, the newer side's order first.
fn environments_of(before: &RootFiles, after: &RootFiles) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for files in [after, before] {
        let declared = config_environments(files.get(CONFIG_FILE)).unwrap_or_default();
        for name in declared {
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    names
}

/// What a root-relative path holds.
enum PathKind<'a> {
    Config,
    Base(&'a str),
    Overlay(&'a str),
    Segment(&'a str),
    Other,
}

fn path_kind(path: &str) -> PathKind<'_> {
    let parts: Vec<&str> = path.split('/').collect();
    match parts.as_slice() {
        [name] if *name == CONFIG_FILE => PathKind::Config,
        ["base", name] => name
            .strip_suffix(".yaml")
            .map_or(PathKind::Other, PathKind::Base),
        ["overlays", _, name] => name
            .strip_suffix(".yaml")
            .map_or(PathKind::Other, PathKind::Overlay),
        ["segments", name] => name
            .strip_suffix(".yaml")
            .map_or(PathKind::Other, PathKind::Segment),
        _ => PathKind::Other,
    }
}

fn compare_document(
    name: &str,
    path: &str,
    before: Option<&[u8]>,
    after: Option<&[u8]>,
) -> Option<DocumentDiff> {
    let side = |bytes: Option<&[u8]>| bytes.and_then(|b| parse(path, b).ok());
    let (b, a) = (side(before), side(after));
    let status = match (before, after) {
        (None, None) => return None,
        (None, Some(_)) => Status::Added,
        (Some(_), None) => Status::Removed,
        _ => Status::Changed,
    };
    let changes = diff_documents(b.as_ref(), a.as_ref());
    (!changes.is_empty()).then(|| DocumentDiff {
        name: name.to_owned(),
        status,
        changes,
    })
}

/// Compares two versions of a root, environment by environment.
///
/// `environments` limits the comparison to those environments (all the
/// environments either side declares when empty). Flags are compared only
/// when one of their files differs; each environment lists the flags whose
/// resolved document differs there.
///
/// ```
/// use flagctl::diff::compare_roots;
/// use flagctl::format::RootFiles;
///
/// let before = RootFiles::from_pairs([
///     ("flagctl.yaml", "environments: [dev, prod]\n"),
///     ("base/x.yaml", "key: x\ntype: boolean\ndefault:\n  rollout: { on: 10, off: 90 }\n"),
/// ]);
/// let mut after = before.clone();
/// after.insert("overlays/prod/x.yaml", "default:\n  rollout: { on: 25, off: 75 }\n");
/// let diff = compare_roots(&before, &after, &[]);
/// assert!(diff.environments[0].flags.is_empty()); // dev
/// let prod = &diff.environments[1].flags[0];
/// assert_eq!(prod.changes[0].to_string(), "default.rollout.on: 10 → 25");
/// assert_eq!(diff.files[0].path, "overlays/prod/x.yaml");
/// ```
pub fn compare_roots(before: &RootFiles, after: &RootFiles, environments: &[String]) -> RootDiff {
    let paths: BTreeSet<&str> = before.iter().chain(after.iter()).map(|(p, _)| p).collect();
    let mut files = Vec::new();
    let mut keys: BTreeSet<&str> = BTreeSet::new();
    let mut segments = Vec::new();
    let mut config = None;
    for path in paths {
        let (b, a) = (before.get(path), after.get(path));
        if b == a {
            continue;
        }
        files.push(FileChange {
            path: path.to_owned(),
            before: b.map(<[u8]>::to_vec),
            after: a.map(<[u8]>::to_vec),
        });
        match path_kind(path) {
            PathKind::Base(key) | PathKind::Overlay(key) => {
                keys.insert(key);
            }
            PathKind::Segment(name) => segments.extend(compare_document(name, path, b, a)),
            PathKind::Config => config = compare_document(CONFIG_FILE, path, b, a),
            PathKind::Other => {}
        }
    }
    let all = environments_of(before, after);
    let wanted: Vec<String> = if environments.is_empty() {
        all.clone()
    } else {
        environments.to_vec()
    };
    let sources: Vec<(&str, FlagSources, FlagSources)> = keys
        .iter()
        .map(|key| {
            (
                *key,
                FlagSources::from_root(before, key, &all),
                FlagSources::from_root(after, key, &all),
            )
        })
        .collect();
    let environments = wanted
        .into_iter()
        .map(|environment| EnvironmentDiff {
            flags: sources
                .iter()
                .filter_map(|(key, b, a)| compare_flag(key, &environment, b, a))
                .collect(),
            environment,
        })
        .collect();
    RootDiff {
        environments,
        segments,
        config,
        files,
    }
}

/// Two environments of one root compared: see [`compare_environments`].
#[derive(Clone, Debug, PartialEq)]
pub struct EnvironmentComparison {
    /// The environment compared from.
    pub from: String,
    /// The environment compared to.
    pub to: String,
    /// The flags that resolve differently, by key (both environments share
    /// the base files, so every status is [`Status::Changed`]).
    pub flags: Vec<FlagDiff>,
    /// The overlays that differ: `before` is `from`'s, `after` is `to`'s,
    /// under the path of `to`'s overlay.
    pub files: Vec<(String, String, FileChange)>,
}

/// How `to` resolves each flag compared with `from`, in one root: the field
/// changes, the overlays that differ, and the impact, which says what the
/// users would see if `from`'s settings were replaced by `to`'s.
pub fn compare_environments(files: &RootFiles, from: &str, to: &str) -> EnvironmentComparison {
    let keys: BTreeSet<&str> = files
        .iter()
        .filter_map(|(path, _)| match path_kind(path) {
            PathKind::Base(key) => Some(key),
            _ => None,
        })
        .collect();
    let environments = [from.to_owned(), to.to_owned()];
    let mut flags = Vec::new();
    let mut changed_files = Vec::new();
    for key in keys {
        let sources = FlagSources::from_root(files, key, &environments);
        let (value_from, mut problems) = sources.resolve(from);
        let (value_to, problems_to) = sources.resolve(to);
        problems.extend(problems_to);
        let changes = diff_flag(value_from.as_ref(), value_to.as_ref());
        let from_path = format!("overlays/{from}/{key}.yaml");
        let to_path = format!("overlays/{to}/{key}.yaml");
        let (overlay_from, overlay_to) = (files.get(&from_path), files.get(&to_path));
        if overlay_from != overlay_to {
            changed_files.push((
                from_path,
                to_path.clone(),
                FileChange {
                    path: to_path,
                    before: overlay_from.map(<[u8]>::to_vec),
                    after: overlay_to.map(<[u8]>::to_vec),
                },
            ));
        }
        if changes.is_empty() && problems.is_empty() {
            continue;
        }
        let impact = match (
            value_from.as_ref().and_then(typed_flag),
            value_to.as_ref().and_then(typed_flag),
        ) {
            (Some(b), Some(a)) => Some(rollout_impact(&b, &a)).filter(|i| !i.is_empty()),
            _ => None,
        };
        flags.push(FlagDiff {
            key: key.to_owned(),
            status: Status::Changed,
            changes,
            impact,
            problems,
        });
    }
    EnvironmentComparison {
        from: from.to_owned(),
        to: to.to_owned(),
        flags,
        files: changed_files,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(extra: &[(&str, &str)]) -> RootFiles {
        let mut files = RootFiles::from_pairs([
            ("flagctl.yaml", "environments: [dev, staging, prod]\n"),
            (
                "base/checkout.yaml",
                "key: checkout\ntype: boolean\ndefault:\n  rollout: { on: 10, off: 90 }\n",
            ),
            (
                "base/other.yaml",
                "key: other\ntype: boolean\ndefault: off\n",
            ),
        ]);
        for (path, text) in extra {
            files.insert(*path, *text);
        }
        files
    }

    #[test]
    fn a_base_change_shows_in_every_environment_it_reaches() {
        let before = root(&[("overlays/prod/checkout.yaml", "default: off\n")]);
        let after = root(&[
            ("overlays/prod/checkout.yaml", "default: off\n"),
            (
                "base/checkout.yaml",
                "key: checkout\ntype: boolean\ndefault:\n  rollout: { on: 25, off: 75 }\n",
            ),
        ]);
        let diff = compare_roots(&before, &after, &[]);
        let names: Vec<(&str, usize)> = diff
            .environments
            .iter()
            .map(|e| (e.environment.as_str(), e.flags.len()))
            .collect();
        // prod overrides the default: it does not change there.
        assert_eq!(names, [("dev", 1), ("staging", 1), ("prod", 0)]);
        let dev = &diff.environments[0].flags[0];
        assert_eq!(dev.status, Status::Changed);
        assert!(
            dev.impact
                .as_ref()
                .is_some_and(|i| i.summary[0].contains("15.000%"))
        );
        assert_eq!(diff.files.len(), 1);
    }

    #[test]
    fn comment_only_changes_are_files_but_no_flag_change() {
        let before = root(&[]);
        let after = root(&[(
            "base/other.yaml",
            "# why\nkey: other\ntype: boolean\ndefault: off\n",
        )]);
        let diff = compare_roots(&before, &after, &["prod".to_owned()]);
        assert_eq!(diff.environments.len(), 1);
        assert!(diff.environments[0].flags.is_empty());
        assert_eq!(diff.files.len(), 1);
        assert!(!diff.is_empty());
    }

    #[test]
    fn added_removed_segments_and_broken_files() {
        let before = root(&[("segments/staff.yaml", "name: staff\ninclude: [a]\n")]);
        let mut after = root(&[
            ("segments/staff.yaml", "name: staff\ninclude: [a, b]\n"),
            ("base/new.yaml", "key: new\ntype: boolean\ndefault: on\n"),
            ("overlays/dev/other.yaml", "default: [unclosed\n"),
        ]);
        after.remove("base/checkout.yaml");
        let diff = compare_roots(&before, &after, &["dev".to_owned()]);
        let dev = &diff.environments[0].flags;
        let summary: Vec<(&str, Status, usize)> = dev
            .iter()
            .map(|f| (f.key.as_str(), f.status, f.problems.len()))
            .collect();
        assert_eq!(
            summary,
            [
                ("checkout", Status::Removed, 0),
                ("new", Status::Added, 0),
                ("other", Status::Changed, 1)
            ]
        );
        assert!(dev[2].problems[0].starts_with("`overlays/dev/other.yaml` does not parse"));
        assert_eq!(diff.segments.len(), 1);
        assert_eq!(diff.segments[0].changes[0].to_string(), "include: +b");
    }

    #[test]
    fn environments_compare_side_by_side() {
        let files = root(&[
            (
                "overlays/staging/checkout.yaml",
                "default:\n  rollout: { on: 50, off: 50 }\n",
            ),
            (
                "overlays/prod/checkout.yaml",
                "default:\n  rollout: { on: 10, off: 90 }\n",
            ),
        ]);
        let comparison = compare_environments(&files, "staging", "prod");
        assert_eq!(comparison.flags.len(), 1);
        assert_eq!(
            comparison.flags[0].changes[0].to_string(),
            "default.rollout.on: 50 → 10"
        );
        assert_eq!(comparison.files.len(), 1);
        assert_eq!(comparison.files[0].2.path, "overlays/prod/checkout.yaml");
    }
}
