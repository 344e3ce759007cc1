//! The loading pipeline: a root's files to resolved environments plus every
//! diagnostic.
//!
//! 1. Classify files by the root layout (`flagctl.yaml`, `base/`, `segments/`,
//!    `overlays/<env>/`), warning about files that do not fit.
//! 2. Parse each YAML document with positions, check it against its schema,
//!    run the raw-value prechecks, and deserialize it into the typed model
//!    (in parallel: files are independent).
//! 3. Check each base flag and segment semantically.
//! 4. For every environment, merge each flag's overlay onto its base and check
//!    the result as a whole; problems point into the overlay where it set the
//!    offending value.
//! 5. Whole-root checks: segment cycles, unused segments, overlays for unknown
//!    environments or missing flags.

mod parse;
mod root;
#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashSet};

use serde::Deserialize;
use serde_json::Value;

use crate::diagnostic::{Code, Diagnostic, Location, Summary, sort_and_dedup};
use crate::format::check::{self, Doc};
use crate::format::files::{CONFIG_FILE, RootFiles};
use crate::format::schema::{self, DocumentKind};
use crate::format::yaml::SpanTree;
use crate::model::{Flag, FlagKey, ResolvedEnvironment, RootConfig, Segment, SegmentName};
use crate::overlay;
use parse::{Entry, FileKind, Parsed, Typed, classify, parse_entry};
use root::{check_config, check_segment_cycles, check_unused_segments};

/// How to load a root.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// Today's date, for `expires` warnings; `None` skips them.
    ///
    /// The library never reads the clock: a caller that wants the warnings
    /// passes the date (the CLI passes today's date in UTC, or
    /// `FLAGCTL_TODAY`).
    pub today: Option<jiff::civil::Date>,
    /// How many threads parse files; `0` picks the machine's parallelism.
    pub threads: usize,
}

impl Default for LoadOptions {
    /// No date (so no `expires` warnings), all cores.
    fn default() -> Self {
        LoadOptions {
            today: None,
            threads: 0,
        }
    }
}

/// A parsed document of the root.
#[derive(Clone, Debug, PartialEq)]
pub struct SourceDocument {
    /// The document as JSON.
    pub value: Value,
    /// Where its nodes are (file indices into [`Loaded::files`]).
    pub spans: SpanTree,
}

/// A flag as resolved for one environment, with where each value came from.
#[derive(Clone, Debug)]
pub struct ResolvedDocument<'a> {
    /// The resolved flag document.
    pub value: Cow<'a, Value>,
    /// Where each node came from.
    pub spans: Cow<'a, SpanTree>,
    /// The file table that [`SpanTree::file`] indexes.
    pub files: &'a [String],
    /// The index of the flag's base file.
    pub base_file: u32,
}

impl ResolvedDocument<'_> {
    /// The file and position the value at a JSON pointer came from.
    pub fn origin(&self, pointer: &str) -> Location {
        let node = self.spans.lookup(&self.value, pointer);
        let file = self
            .files
            .get(node.file as usize)
            .cloned()
            .unwrap_or_default();
        Location::at(file, node.span)
    }

    /// Whether the value at a JSON pointer was set by an overlay.
    /// A pointer that leads nowhere in the document is not overridden.
    pub fn is_overridden(&self, pointer: &str) -> bool {
        self.value.pointer(pointer).is_some()
            && self.spans.lookup(&self.value, pointer).file != self.base_file
    }
}

/// The result of loading a root: what resolved, and every problem found.
#[derive(Clone, Debug, Default)]
pub struct Loaded {
    /// `flagctl.yaml`, when it was present and valid.
    pub config: Option<RootConfig>,
    /// Every problem, sorted by file and position.
    pub diagnostics: Vec<Diagnostic>,
    /// Each environment's resolved flags and segments. A flag with errors in
    /// an environment is left out of it.
    pub environments: BTreeMap<String, ResolvedEnvironment>,
    /// The valid base flags, before overlays.
    pub base_flags: BTreeMap<FlagKey, Flag>,
    /// The valid segments.
    pub segments: BTreeMap<SegmentName, Segment>,
    /// The root-relative path of every document, indexed by [`SpanTree::file`].
    pub files: Vec<String>,
    documents: Vec<Option<SourceDocument>>,
    base_index: BTreeMap<FlagKey, u32>,
    overlay_index: BTreeMap<(String, FlagKey), u32>,
}

impl Loaded {
    /// Whether no error was found (warnings allowed).
    pub fn is_valid(&self) -> bool {
        !self.diagnostics.iter().any(Diagnostic::is_error)
    }

    /// Counts of errors and warnings.
    pub fn summary(&self) -> Summary {
        Summary::of(&self.diagnostics)
    }

    /// The environments, in the order `flagctl.yaml` declares them.
    pub fn environment_names(&self) -> Vec<&str> {
        self.config
            .as_ref()
            .map(|c| c.environments.iter().map(String::as_str).collect())
            .unwrap_or_default()
    }

    /// The parsed document of a file, by its index in [`Loaded::files`].
    pub fn document(&self, file: u32) -> Option<&SourceDocument> {
        self.documents.get(file as usize).and_then(Option::as_ref)
    }

    /// The root-relative path of a flag's base file, when it exists.
    pub fn base_path(&self, key: &str) -> Option<&str> {
        self.base_index
            .get(key)
            .and_then(|i| self.files.get(*i as usize))
            .map(String::as_str)
    }

    /// The root-relative path of a flag's overlay in an environment, when it exists.
    pub fn overlay_path(&self, environment: &str, key: &str) -> Option<&str> {
        let key = FlagKey::parse(key).ok()?;
        self.overlay_index
            .get(&(environment.to_owned(), key))
            .and_then(|i| self.files.get(*i as usize))
            .map(String::as_str)
    }

    /// Every flag key that has a base file, valid or not.
    pub fn flag_keys(&self) -> impl Iterator<Item = &FlagKey> {
        self.base_index.keys()
    }

    /// A flag's base document.
    pub fn base_document(&self, key: &str) -> Option<ResolvedDocument<'_>> {
        let index = *self.base_index.get(key)?;
        let document = self.document(index)?;
        Some(ResolvedDocument {
            value: Cow::Borrowed(&document.value),
            spans: Cow::Borrowed(&document.spans),
            files: &self.files,
            base_file: index,
        })
    }

    /// A flag's document as resolved in an environment (the base when the
    /// environment has no overlay for it), with provenance. The merge is
    /// redone here: loading keeps only the typed result.
    pub fn resolved_document(&self, environment: &str, key: &str) -> Option<ResolvedDocument<'_>> {
        let base = self.base_document(key)?;
        let flag_key = FlagKey::parse(key).ok()?;
        let Some(overlay) = self
            .overlay_index
            .get(&(environment.to_owned(), flag_key))
            .and_then(|i| self.document(*i))
        else {
            return Some(base);
        };
        let (value, spans) =
            overlay::merge((&base.value, &base.spans), (&overlay.value, &overlay.spans));
        Some(ResolvedDocument {
            value: Cow::Owned(value),
            spans: Cow::Owned(spans),
            ..base
        })
    }
}

/// Maps `f` over `items` on up to `threads` threads (0: the machine's
/// parallelism), keeping the order.
fn parallel_map<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    f: impl Fn(usize, &T) -> R + Sync,
) -> Vec<R> {
    let threads = if threads == 0 {
        std::thread::available_parallelism().map_or(1, usize::from)
    } else {
        threads
    };
    if threads <= 1 || items.len() < 64 {
        return items
            .iter()
            .enumerate()
            .map(|(i, item)| f(i, item))
            .collect();
    }
    let chunk = items.len().div_ceil(threads);
    let f = &f;
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .enumerate()
            .map(|(c, part)| {
                scope.spawn(move || {
                    part.iter()
                        .enumerate()
                        .map(|(i, item)| f(c * chunk + i, item))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}

fn parse_all(entries: &[Entry<'_>], files: &[String], threads: usize) -> Vec<Parsed> {
    parallel_map(entries, threads, |i, entry| {
        parse_entry(entry, u32::try_from(i).unwrap_or(u32::MAX), files)
    })
}

/// Loads a root: parses, validates and resolves every environment.
///
/// Never fails: problems come back as [`Loaded::diagnostics`], and whatever
/// is valid is resolved.
pub fn load(root: &RootFiles, options: &LoadOptions) -> Loaded {
    let mut diagnostics = Vec::new();
    let entries: Vec<Entry<'_>> = root
        .iter()
        .filter_map(|(path, bytes)| classify(path, bytes, &mut diagnostics))
        .collect();
    let files: Vec<String> = entries.iter().map(|e| e.path.to_owned()).collect();
    let parsed = parse_all(&entries, &files, options.threads);

    let mut loaded = Loaded {
        files: files.clone(),
        ..Loaded::default()
    };
    let mut base_ok: BTreeMap<FlagKey, bool> = BTreeMap::new();
    let mut segment_stems: BTreeSet<SegmentName> = BTreeSet::new();
    let mut overlays: Vec<(usize, String, FlagKey)> = Vec::new();
    let mut segment_docs: Vec<(usize, Segment)> = Vec::new();
    let mut flag_docs: Vec<(usize, Flag)> = Vec::new();
    let mut config_seen = false;

    let mut documents = Vec::with_capacity(parsed.len());
    for (index, (entry, parsed)) in entries.iter().zip(parsed).enumerate() {
        diagnostics.extend(parsed.diagnostics);
        let index32 = u32::try_from(index).unwrap_or(u32::MAX);
        let stem = entry.stem.and_then(|s| FlagKey::parse(s).ok());
        match (entry.kind, parsed.typed) {
            (FileKind::Config, typed) => {
                config_seen = true;
                if let Typed::Config(config) = typed {
                    loaded.config = Some(config);
                }
            }
            (FileKind::Flag, typed) => {
                if let Some(key) = stem {
                    loaded.base_index.insert(key.clone(), index32);
                    base_ok.insert(key, parsed.shape_ok);
                }
                if let Typed::Flag(flag) = typed {
                    flag_docs.push((index, *flag));
                }
            }
            (FileKind::Segment, typed) => {
                if let Some(name) = entry.stem.and_then(|s| SegmentName::parse(s).ok()) {
                    segment_stems.insert(name);
                }
                if let Typed::Segment(segment) = typed {
                    segment_docs.push((index, *segment));
                }
            }
            (FileKind::Overlay, _) => {
                if let (Some(environment), Some(key)) = (entry.environment, stem) {
                    if parsed.shape_ok {
                        overlays.push((index, environment.to_owned(), key.clone()));
                    }
                    loaded
                        .overlay_index
                        .insert((environment.to_owned(), key), index32);
                }
            }
        }
        documents.push(parsed.document);
    }
    loaded.documents = documents;

    if !config_seen {
        diagnostics.push(
            Diagnostic::error(
                Code::MissingConfig,
                format!("the flag root has no `{CONFIG_FILE}`"),
            )
            .with_help("create one with `flagctl init`, or point `--root` at a flag root"),
        );
    }
    if let Some(config) = &loaded.config {
        check_config(config, &loaded, &mut diagnostics);
    }

    let context = check::Context {
        segments: &segment_stems,
        today: options.today,
        regexes: check::RegexMemo::default(),
    };

    // Base flags and segments.
    fn doc_of<'a>(loaded: &'a Loaded, files: &'a [String], index: usize) -> Option<Doc<'a>> {
        loaded
            .documents
            .get(index)
            .and_then(Option::as_ref)
            .map(|d| Doc {
                files,
                value: &d.value,
                spans: &d.spans,
                environment: None,
            })
    }
    let mut base_diagnostics: HashSet<(Code, Option<Location>, String)> = HashSet::new();
    for (index, flag) in flag_docs {
        let Some(doc) = doc_of(&loaded, &files, index) else {
            continue;
        };
        let before = diagnostics.len();
        check::check_flag(&flag, &doc, &context, &mut diagnostics);
        let errors = diagnostics[before..].iter().any(Diagnostic::is_error);
        for d in &diagnostics[before..] {
            base_diagnostics.insert((d.code, d.location.clone(), d.message.clone()));
        }
        if errors {
            base_ok.insert(flag.key.clone(), false);
        } else if base_ok.get(&flag.key).copied().unwrap_or(false) {
            loaded.base_flags.insert(flag.key.clone(), flag);
        }
    }
    for (index, segment) in segment_docs {
        let Some(doc) = doc_of(&loaded, &files, index) else {
            continue;
        };
        let before = diagnostics.len();
        check::check_segment(&segment, &doc, &context, &mut diagnostics);
        if !diagnostics[before..].iter().any(Diagnostic::is_error) {
            loaded.segments.insert(segment.name.clone(), segment);
        }
    }
    check_segment_cycles(&loaded, &files, &mut diagnostics);

    // Overlays that name an unknown environment or flag.
    let environments: Vec<String> = loaded
        .config
        .as_ref()
        .map(|c| c.environments.clone())
        .unwrap_or_default();
    let mut overlays_by_env: BTreeMap<&str, Vec<(usize, &FlagKey)>> = BTreeMap::new();
    for (index, environment, key) in &overlays {
        let path = &files[*index];
        if loaded.config.is_some() && !environments.contains(environment) {
            let help = match schema::closest(environment, environments.iter().map(String::as_str)) {
                Some(suggestion) => format!(
                    "did you mean `overlays/{suggestion}/`? or declare `{environment}` in `{CONFIG_FILE}`"
                ),
                None => format!(
                    "declare `{environment}` under `environments` in `{CONFIG_FILE}`, or remove the directory"
                ),
            };
            diagnostics.push(
                Diagnostic::error(
                    Code::UnknownEnvironment,
                    format!("overlay for unknown environment `{environment}`"),
                )
                .at(Location::file(path.clone()))
                .with_help(help),
            );
            continue;
        }
        if !loaded.base_index.contains_key(key) {
            diagnostics.push(
                Diagnostic::error(
                    Code::OrphanOverlay,
                    format!("overlay for flag `{key}`, which has no `base/{key}.yaml`"),
                )
                .at(Location::file(path.clone()))
                .with_help("create the flag's base file, or remove the overlay"),
            );
            continue;
        }
        overlays_by_env
            .entry(environment.as_str())
            .or_default()
            .push((*index, key));
    }

    // Resolve every environment: merge and check each overlay (in parallel,
    // they are independent), then assemble.
    let bucketing = loaded
        .config
        .as_ref()
        .map(|c| c.bucketing)
        .unwrap_or_default();
    let jobs: Vec<(&str, usize, &FlagKey)> = environments
        .iter()
        .flat_map(|environment| {
            overlays_by_env
                .get(environment.as_str())
                .into_iter()
                .flatten()
                .map(move |(index, key)| (environment.as_str(), *index, *key))
        })
        .collect();
    let results = parallel_map(&jobs, options.threads, |_, (environment, index, key)| {
        if !base_ok.get(*key).copied().unwrap_or(false) {
            return (None, Vec::new()); // the base's own errors are reported already
        }
        let (Some(base), Some(overlay)) = (
            loaded
                .base_index
                .get(*key)
                .and_then(|i| loaded.document(*i)),
            loaded.document(u32::try_from(*index).unwrap_or(u32::MAX)),
        ) else {
            return (None, Vec::new());
        };
        if let Some(flag) = loaded
            .base_flags
            .get(*key)
            .and_then(|b| patch_plain_fields(b, &overlay.value))
        {
            return (Some(flag), Vec::new());
        }
        // Check the merged value first without positions; only when it has a
        // problem, merge again with positions to say where.
        let check = |value: &Value, spans: &SpanTree, found: &mut Vec<Diagnostic>| {
            let doc = Doc {
                files: &files,
                value,
                spans,
                environment: Some(environment),
            };
            check_resolved(&doc, &context, found)
        };
        let mut found = Vec::new();
        let value = overlay::merge_values(&base.value, &overlay.value);
        let mut flag = check(&value, &SpanTree::default(), &mut found);
        if !found.is_empty() {
            found.clear();
            let (value, spans) =
                overlay::merge((&base.value, &base.spans), (&overlay.value, &overlay.spans));
            flag = check(&value, &spans, &mut found);
        }
        let flag = flag.filter(|_| !found.iter().any(Diagnostic::is_error));
        found.retain(|d| {
            !base_diagnostics.contains(&(d.code, d.location.clone(), d.message.clone()))
        });
        (flag, found)
    });
    let mut overridden: BTreeMap<&str, BTreeMap<&FlagKey, Option<Flag>>> = BTreeMap::new();
    for ((environment, _, key), (flag, found)) in jobs.iter().zip(results) {
        diagnostics.extend(found);
        overridden.entry(environment).or_default().insert(key, flag);
    }
    for environment in &environments {
        let overrides = overridden.remove(environment.as_str()).unwrap_or_default();
        let mut flags = BTreeMap::new();
        for (key, flag) in &loaded.base_flags {
            if !overrides.contains_key(key) {
                flags.insert(key.clone(), flag.clone());
            }
        }
        for (key, flag) in overrides {
            if let Some(flag) = flag {
                flags.insert(key.clone(), flag);
            }
        }
        let resolved = ResolvedEnvironment {
            environment: environment.clone(),
            bucketing,
            flags,
            segments: loaded.segments.clone(),
        };
        loaded.environments.insert(environment.clone(), resolved);
    }

    check_unused_segments(&loaded, &files, &mut diagnostics);
    sort_and_dedup(&mut diagnostics);
    loaded.diagnostics = diagnostics;
    loaded
}

/// An overlay that only sets fields no check relates to anything else
/// (`enabled`, the kill switch, and the descriptive `description`, `owner`,
/// `tags`) resolves by patching the typed base flag: its own schema check has
/// already vouched for the values. Anything else goes through the full
/// merge and check.
fn patch_plain_fields(base: &Flag, overlay: &Value) -> Option<Flag> {
    let map = match overlay {
        Value::Object(map) => map,
        Value::Null => return Some(base.clone()),
        _ => return None,
    };
    let mut flag = base.clone();
    for (field, value) in map {
        match (field.as_str(), value) {
            ("enabled", Value::Bool(enabled)) => flag.enabled = *enabled,
            ("description", Value::String(text)) => flag.description = Some(text.clone()),
            ("description", Value::Null) => flag.description = None,
            ("owner", Value::String(text)) => flag.owner = Some(text.clone()),
            ("owner", Value::Null) => flag.owner = None,
            ("tags", Value::Null) => flag.tags.clear(),
            ("tags", Value::Array(items)) => {
                flag.tags = items
                    .iter()
                    .map(|t| t.as_str().map(str::to_owned))
                    .collect::<Option<_>>()?;
            }
            _ => return None,
        }
    }
    Some(flag)
}

/// Schema, prechecks, typing and semantic checks of a resolved flag.
fn check_resolved(
    doc: &Doc<'_>,
    context: &check::Context<'_>,
    out: &mut Vec<Diagnostic>,
) -> Option<Flag> {
    for problem in schema::check(DocumentKind::Flag, doc.value) {
        let location = if problem.at_key {
            doc.at_key(&problem.pointer)
        } else {
            doc.at(&problem.pointer)
        };
        let mut diagnostic =
            doc.diagnostic(Diagnostic::error(problem.code, problem.message).at(location));
        if let Some(help) = problem.help {
            diagnostic = diagnostic.with_help(help);
        }
        out.push(diagnostic);
    }
    if out.iter().any(Diagnostic::is_error) || !check::precheck_flag(doc, out) {
        return None;
    }
    let flag = match Flag::deserialize(doc.value) {
        Ok(flag) => flag.with_implicit_variants(),
        Err(error) => {
            out.push(
                doc.diagnostic(
                    Diagnostic::error(
                        Code::InvalidValue,
                        format!("the resolved flag does not fit the format: {error}"),
                    )
                    .at(doc.at("")),
                ),
            );
            return None;
        }
    };
    check::check_flag(&flag, doc, context, out);
    Some(flag)
}
