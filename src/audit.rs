//! The audit log: git history read as who changed which flag, where, how
//! and why.
//!
//! Each commit that touched a flag's files (its base, its overlays, and the
//! segments a caller asks to follow) becomes an [`AuditEntry`]: the flag is
//! resolved per environment (base + overlay, [`crate::overlay::merge_values`])
//! at the commit's first parent and at the commit, from the blobs, and the two
//! are compared semantically ([`crate::diff`]). Commits made by hand with plain
//! `git` read like those made by `flagctl`: the action is the `Flagctl-Action`
//! trailer, or inferred from the paths (`new`, `delete`, `edit`); the flag and
//! environments are those whose resolved flag changed (`overlays/prod/x.yaml`
//! is flag `x` in `prod`), which is what the `Flagctl-Flag` and `Flagctl-Env`
//! trailers of `flagctl`'s own commits say too. When a trailer disagrees with
//! the paths (a commit edited by hand after the fact), the paths win; the
//! trailers stay available as written ([`AuditEntry::trailers`]).
//!
//! Git is read only through [`crate::store`]; this module never prints.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::diff::{
    FieldChange, FlagDiff, FlagSources, Impact, Status, compare_flag, config_environments,
    diff_documents,
};
use crate::format::{CONFIG_FILE, yaml};
use crate::model::Flag;
use crate::store::{
    CommitMessage, HistoryEntry, HistoryQuery, PathChange, RevisionId, Store, StoreError,
    TRAILER_ACTION, TRAILER_ENV, TRAILER_FLAG,
};

/// Which entries [`log`] returns.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogQuery {
    /// Only commits that touched this flag's files (its base and overlays).
    /// `None`: every commit that touched a document of the root.
    pub flag: Option<String>,
    /// Segments to follow along with [`LogQuery::flag`] (usually those its
    /// rules use: [`segments_used`]).
    pub segments: Vec<String>,
    /// Only changes that reach these environments (segment and
    /// `flagctl.yaml` changes reach all). Empty: every environment.
    pub environments: Vec<String>,
    /// Only commits committed at or after this time.
    pub since: Option<jiff::Timestamp>,
    /// Only commits committed at or before this time.
    pub until: Option<jiff::Timestamp>,
    /// Only commits whose author name or email contains this (ignoring case).
    pub author: Option<String>,
    /// Where to walk from: a revision or a range `A..B` (default `HEAD`).
    pub revision: Option<String>,
    /// At most this many entries.
    pub limit: Option<usize>,
    /// Follow only the first parent of merges.
    pub first_parent: bool,
}

impl LogQuery {
    /// The history query that finds the candidate commits.
    pub fn history_query(&self) -> HistoryQuery {
        let mut paths = Vec::new();
        if let Some(key) = &self.flag {
            paths.push(format!("base/{key}.yaml"));
            if self.environments.is_empty() {
                paths.push(format!("overlays/*/{key}.yaml"));
            } else {
                for environment in &self.environments {
                    paths.push(format!("overlays/{environment}/{key}.yaml"));
                }
            }
            for segment in &self.segments {
                paths.push(format!("segments/{segment}.yaml"));
            }
        }
        HistoryQuery {
            paths,
            since: self.since,
            until: self.until,
            author: self.author.clone(),
            revision: self.revision.clone(),
            // Entries that do not reach the wanted environments are dropped
            // afterwards, so the limit is applied here only without a filter.
            limit: if self.environments.is_empty() {
                self.limit
            } else {
                None
            },
            first_parent: self.first_parent,
        }
    }
}

/// The segments the rules of `flags` name (a flag as resolved in each
/// environment, say), sorted.
pub fn segments_used<'a>(flags: impl IntoIterator<Item = &'a Flag>) -> Vec<String> {
    let mut names = BTreeSet::new();
    for flag in flags {
        for rule in &flag.rules {
            rule.when.for_each_segment(&mut |segment| {
                names.insert(segment.to_string());
            });
        }
    }
    names.into_iter().collect()
}

/// A person and when they acted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Actor {
    /// The name.
    pub name: String,
    /// The email address.
    pub email: String,
    /// When, in UTC.
    pub time: jiff::Timestamp,
}

/// What a subject of a change is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SubjectKind {
    /// A flag.
    Flag,
    /// A segment.
    Segment,
    /// `flagctl.yaml`.
    Config,
}

/// What one commit did to one flag (in some environments), one segment, or
/// `flagctl.yaml`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SubjectChange {
    /// What changed.
    pub kind: SubjectKind,
    /// The flag's key, the segment's name, or `flagctl.yaml`.
    pub name: String,
    /// For a flag, the environments where it resolves to exactly these
    /// changes (a base change often reads the same in several). Empty for
    /// segments, `flagctl.yaml`, and a flag whose files changed without
    /// changing it anywhere (comments, formatting).
    pub environments: Vec<String>,
    /// Added, removed or changed.
    pub status: Status,
    /// The semantic changes; empty when only comments or formatting changed.
    pub changes: Vec<FieldChange>,
    /// For a flag, who gets another variant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub impact: Option<Impact>,
    /// Files that did not parse at the commit or its parent.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

/// The `Flagctl-*` trailers of a commit, as written.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Trailers {
    /// `Flagctl-Action`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// `Flagctl-Flag`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flag: Option<String>,
    /// `Flagctl-Env`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
}

/// One commit of the audit log.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AuditEntry {
    /// The commit id.
    pub commit: String,
    /// Who made the change, and when (the author).
    pub author: Actor,
    /// Who committed it, and when: the time `since`/`until` filter on.
    pub committer: Actor,
    /// What was done: the `Flagctl-Action` trailer, else inferred from the
    /// paths (`new` when a flag's base appeared, `delete` when it went,
    /// `edit` otherwise).
    pub action: String,
    /// Whether `action` was inferred (no `Flagctl-Action` trailer: a commit
    /// made with plain `git`).
    pub inferred: bool,
    /// The `Flagctl-*` trailers as written.
    pub trailers: Trailers,
    /// The flags whose files changed (the `Flagctl-Flag` trailer when the
    /// change changed nothing). Paths win over a trailer that disagrees.
    pub flags: Vec<String>,
    /// The environments where a flag changed, every environment for segment
    /// and `flagctl.yaml` changes (the `Flagctl-Env` trailer when the change
    /// changed nothing).
    pub environments: Vec<String>,
    /// Whether `environments` is every environment of the root.
    pub every_environment: bool,
    /// The first line of the message.
    pub summary: String,
    /// Why: the message's body, trailers left out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Whether the commit is a merge (reported when it changed something itself).
    pub merge: bool,
    /// What changed, flag by flag, then segments and `flagctl.yaml`.
    pub changes: Vec<SubjectChange>,
}

/// The audit log, newest first.
///
/// Runs [`Store::history`] for the query's paths, then turns each commit into
/// an [`AuditEntry`] with [`entry`].
///
/// # Errors
///
/// What [`Store::history`] and reading blobs report: an unknown revision,
/// an invalid path.
pub fn log(store: &Store, query: &LogQuery) -> Result<Vec<AuditEntry>, StoreError> {
    let history = store.history(&query.history_query())?;
    let mut entries = Vec::new();
    for commit in &history {
        if query.limit.is_some_and(|limit| entries.len() >= limit) {
            break;
        }
        if let Some(entry) = entry(store, commit, query)? {
            entries.push(entry);
        }
    }
    Ok(entries)
}

/// The flag, segment and configuration files a commit changed, by kind.
#[derive(Default)]
struct Touched<'a> {
    flags: BTreeSet<&'a str>,
    segments: Vec<&'a PathChange>,
    config: bool,
}

fn touched(changes: &[PathChange]) -> Touched<'_> {
    let mut touched = Touched::default();
    for change in changes {
        let parts: Vec<&str> = change.path.split('/').collect();
        match parts.as_slice() {
            [name] if *name == CONFIG_FILE => touched.config = true,
            ["base", name] | ["overlays", _, name] => {
                if let Some(key) = name.strip_suffix(".yaml") {
                    touched.flags.insert(key);
                }
            }
            ["segments", name] if name.ends_with(".yaml") => touched.segments.push(change),
            _ => {}
        }
    }
    touched
}

/// A file's contents at the parent and at the commit (`None`: absent).
type BothSides = (Option<Vec<u8>>, Option<Vec<u8>>);

/// Reads files of one commit and its first parent, using the blobs the
/// history already has for the paths it changed.
struct Sides<'a> {
    store: &'a Store,
    commit: String,
    parent: Option<String>,
    changed: BTreeMap<&'a str, &'a PathChange>,
}

impl Sides<'_> {
    fn blob(&self, id: Option<RevisionId>) -> Result<Option<Vec<u8>>, StoreError> {
        id.map(|id| self.store.blob(id)).transpose()
    }

    /// A path at the parent and at the commit. A path the history did not
    /// report as changed is the same on both sides when `unchanged_if_absent`
    /// (it matched the history's paths), else it is read at the parent too.
    fn read(&self, path: &str, unchanged_if_absent: bool) -> Result<BothSides, StoreError> {
        if let Some(change) = self.changed.get(path) {
            return Ok((self.blob(change.before)?, self.blob(change.after)?));
        }
        let after = self.store.read_file_at(&self.commit, path)?;
        if unchanged_if_absent {
            return Ok((after.clone(), after));
        }
        let before = match &self.parent {
            Some(parent) => self.store.read_file_at(parent, path)?,
            None => None,
        };
        Ok((before, after))
    }
}

/// One commit of the history as an audit entry; `None` when, with
/// [`LogQuery::environments`], none of its changes reach those environments.
///
/// # Errors
///
/// Reading blobs or files at the commit failed.
pub fn entry(
    store: &Store,
    commit: &HistoryEntry,
    query: &LogQuery,
) -> Result<Option<AuditEntry>, StoreError> {
    let info = &commit.commit;
    let sides = Sides {
        store,
        commit: info.id.to_string(),
        parent: info.parents.first().map(ToString::to_string),
        changed: commit
            .changes
            .iter()
            .map(|c| (c.path.as_str(), c))
            .collect(),
    };
    let touched = touched(&commit.changes);
    let (config_before, config_after) = sides.read(CONFIG_FILE, touched.config)?;
    let mut all_environments: Vec<String> = Vec::new();
    for config in [&config_after, &config_before] {
        for name in config_environments(config.as_deref()).unwrap_or_default() {
            if !all_environments.contains(&name) {
                all_environments.push(name);
            }
        }
    }
    let wanted: Vec<String> = if query.environments.is_empty() {
        all_environments.clone()
    } else {
        query.environments.clone()
    };

    let mut changes = Vec::new();
    for key in &touched.flags {
        let base_path = format!("base/{key}.yaml");
        let (base_before, base_after) = sides.read(&base_path, true)?;
        let mut overlays_before = Vec::new();
        let mut overlays_after = Vec::new();
        for environment in &wanted {
            let path = format!("overlays/{environment}/{key}.yaml");
            let (before, after) = sides.read(&path, true)?;
            if let Some(before) = before {
                overlays_before.push((environment.as_str(), before));
            }
            if let Some(after) = after {
                overlays_after.push((environment.as_str(), after));
            }
        }
        let sources = |base: &Option<Vec<u8>>, overlays: &[(&str, Vec<u8>)]| {
            FlagSources::from_contents(
                key,
                base.as_deref(),
                overlays.iter().map(|(e, b)| (*e, b.as_slice())),
            )
        };
        let before = sources(&base_before, &overlays_before);
        let after = sources(&base_after, &overlays_after);
        let mut groups: Vec<(FlagDiff, Vec<String>)> = Vec::new();
        for environment in &wanted {
            let Some(diff) = compare_flag(key, environment, &before, &after) else {
                continue;
            };
            match groups.iter_mut().find(|(d, _)| *d == diff) {
                Some((_, environments)) => environments.push(environment.clone()),
                None => groups.push((diff, vec![environment.clone()])),
            }
        }
        if groups.is_empty() {
            if query.environments.is_empty() {
                changes.push(SubjectChange {
                    kind: SubjectKind::Flag,
                    name: (*key).to_owned(),
                    environments: Vec::new(),
                    status: Status::Changed,
                    changes: Vec::new(),
                    impact: None,
                    problems: Vec::new(),
                });
            }
            continue;
        }
        for (diff, environments) in groups {
            changes.push(SubjectChange {
                kind: SubjectKind::Flag,
                name: diff.key,
                environments,
                status: diff.status,
                changes: diff.changes,
                impact: diff.impact,
                problems: diff.problems,
            });
        }
    }
    for change in &touched.segments {
        let name = change
            .path
            .trim_start_matches("segments/")
            .trim_end_matches(".yaml");
        let (before, after) = (sides.blob(change.before)?, sides.blob(change.after)?);
        changes.push(document_change(
            SubjectKind::Segment,
            name,
            &change.path,
            before.as_deref(),
            after.as_deref(),
        ));
    }
    if touched.config {
        changes.push(document_change(
            SubjectKind::Config,
            CONFIG_FILE,
            CONFIG_FILE,
            config_before.as_deref(),
            config_after.as_deref(),
        ));
    }
    if changes.is_empty() {
        return Ok(None);
    }

    let message = CommitMessage::parse(&info.message);
    let trailer_action = info.trailer(TRAILER_ACTION);
    let trailer_flag = info.trailer(TRAILER_FLAG);
    let trailer_env = info.trailer(TRAILER_ENV);
    let flag_changes = || changes.iter().filter(|c| c.kind == SubjectKind::Flag);
    let action = match trailer_action {
        Some(action) => action.to_owned(),
        None if flag_changes().any(|c| c.status == Status::Added) => "new".to_owned(),
        None if flag_changes().any(|c| c.status == Status::Removed) => "delete".to_owned(),
        None => "edit".to_owned(),
    };
    // What changed decides the flags and environments; the trailers fill in
    // when nothing did (a no-op change) and are kept as written.
    let mut flags: Vec<String> = Vec::new();
    for change in flag_changes() {
        if !flags.contains(&change.name) {
            flags.push(change.name.clone());
        }
    }
    if flags.is_empty()
        && let Some(flag) = trailer_flag
    {
        flags.push(flag.to_owned());
    }
    let mut environments: Vec<String> = if changes.iter().any(|c| c.kind != SubjectKind::Flag) {
        wanted.clone()
    } else {
        wanted
            .iter()
            .filter(|e| flag_changes().any(|c| c.environments.contains(e)))
            .cloned()
            .collect()
    };
    if environments.is_empty()
        && let Some(environment) = trailer_env
    {
        environments.push(environment.to_owned());
    }
    let every_environment =
        !all_environments.is_empty() && all_environments.iter().all(|e| environments.contains(e));
    let person = |p: &crate::store::Person| Actor {
        name: p.name.clone(),
        email: p.email.clone(),
        time: p.time,
    };
    Ok(Some(AuditEntry {
        commit: info.id.to_string(),
        author: person(&info.author),
        committer: person(&info.committer),
        action,
        inferred: trailer_action.is_none(),
        trailers: Trailers {
            action: trailer_action.map(str::to_owned),
            flag: trailer_flag.map(str::to_owned),
            environment: trailer_env.map(str::to_owned),
        },
        flags,
        environments,
        every_environment,
        summary: info.summary.clone(),
        reason: message.body,
        merge: commit.merge,
        changes,
    }))
}

fn document_change(
    kind: SubjectKind,
    name: &str,
    path: &str,
    before: Option<&[u8]>,
    after: Option<&[u8]>,
) -> SubjectChange {
    let mut problems = Vec::new();
    let mut parse = |bytes: Option<&[u8]>| {
        let text = std::str::from_utf8(bytes?).ok()?;
        match yaml::parse(text, std::path::Path::new(path)) {
            Ok(document) => Some(document.value),
            Err(_) => {
                problems.push(format!("`{path}` does not parse"));
                None
            }
        }
    };
    let (b, a) = (parse(before), parse(after));
    let status = match (before, after) {
        (None, _) => Status::Added,
        (_, None) => Status::Removed,
        _ => Status::Changed,
    };
    SubjectChange {
        kind,
        name: name.to_owned(),
        environments: Vec::new(),
        status,
        changes: diff_documents(b.as_ref(), a.as_ref()),
        impact: None,
        problems,
    }
}
