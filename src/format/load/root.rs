//! Step 5 of loading: checks over the whole root — `flagctl.yaml` itself,
//! segments that contain each other, segments no flag uses.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::Loaded;
use crate::diagnostic::{Code, Diagnostic};
use crate::format::check::{self, Doc};
use crate::format::files::CONFIG_FILE;
use crate::model::{RootConfig, SegmentName, check_name};

pub(super) fn check_config(config: &RootConfig, loaded: &Loaded, out: &mut Vec<Diagnostic>) {
    let Some(index) = loaded.files.iter().position(|f| f == CONFIG_FILE) else {
        return;
    };
    let Some(document) = loaded.document(u32::try_from(index).unwrap_or(u32::MAX)) else {
        return;
    };
    let doc = Doc {
        files: &loaded.files,
        value: &document.value,
        spans: &document.spans,
        environment: None,
    };
    for (i, environment) in config.environments.iter().enumerate() {
        if let Err(error) = check_name(environment) {
            out.push(
                Diagnostic::error(Code::InvalidName, format!("environment name {error}"))
                    .at(doc.at(&format!("/environments/{i}"))),
            );
        }
    }
    for (i, protected) in config.protected.iter().enumerate() {
        if !config.has_environment(protected) {
            out.push(
                Diagnostic::error(
                    Code::UnknownEnvironment,
                    format!("protected environment `{protected}` is not one of the environments"),
                )
                .at(doc.at(&format!("/protected/{i}")))
                .with_help(format!(
                    "add `{protected}` to `environments`, or remove it here"
                )),
            );
        }
    }
}

fn segment_pointer_of(loaded: &Loaded, name: &SegmentName) -> Option<u32> {
    let path = format!("segments/{name}.yaml");
    loaded
        .files
        .iter()
        .position(|f| *f == path)
        .and_then(|i| u32::try_from(i).ok())
}

pub(super) fn check_segment_cycles(loaded: &Loaded, files: &[String], out: &mut Vec<Diagnostic>) {
    let edges: BTreeMap<&SegmentName, BTreeSet<&SegmentName>> = loaded
        .segments
        .iter()
        .map(|(name, segment)| {
            let mut targets = BTreeSet::new();
            if let Some(when) = &segment.when {
                check::referenced_segments(when, &mut targets);
            }
            (name, targets)
        })
        .collect();
    let mut reported: BTreeSet<&SegmentName> = BTreeSet::new();
    for start in edges.keys() {
        // Depth-first search for a path back to `start`.
        let mut stack = vec![(*start, vec![*start])];
        let mut visited: BTreeSet<&SegmentName> = BTreeSet::new();
        while let Some((node, path)) = stack.pop() {
            for next in edges.get(node).into_iter().flatten() {
                if next == start {
                    if reported.insert(start) {
                        let cycle: Vec<String> = path
                            .iter()
                            .chain([start])
                            .map(|s| format!("`{s}`"))
                            .collect();
                        let location = segment_pointer_of(loaded, start)
                            .and_then(|i| loaded.document(i).map(|d| (i, d)))
                            .map(|(_, d)| {
                                Doc {
                                    files,
                                    value: &d.value,
                                    spans: &d.spans,
                                    environment: None,
                                }
                                .at("/when")
                            });
                        let mut diagnostic = Diagnostic::error(
                            Code::SegmentCycle,
                            format!(
                                "segments refer to each other in a cycle: {}",
                                cycle.join(" → ")
                            ),
                        )
                        .with_help("a segment cannot contain itself; break the cycle");
                        if let Some(location) = location {
                            diagnostic = diagnostic.at(location);
                        }
                        out.push(diagnostic);
                    }
                } else if visited.insert(next) {
                    let mut longer = path.clone();
                    longer.push(next);
                    stack.push((next, longer));
                }
            }
        }
    }
}

pub(super) fn check_unused_segments(loaded: &Loaded, files: &[String], out: &mut Vec<Diagnostic>) {
    let mut used: BTreeSet<&SegmentName> = BTreeSet::new();
    for flag in loaded.base_flags.values() {
        used.extend(check::flag_segments(flag));
    }
    for environment in loaded.environments.values() {
        for flag in environment.flags.values() {
            used.extend(check::flag_segments(flag));
        }
    }
    // A flag with errors still uses the segments it names.
    fn named_segments<'v>(value: &'v Value, into: &mut BTreeSet<&'v str>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(name)) = map.get("segment") {
                    into.insert(name);
                }
                map.values().for_each(|v| named_segments(v, into));
            }
            Value::Array(items) => items.iter().for_each(|v| named_segments(v, into)),
            _ => {}
        }
    }
    let mut raw: BTreeSet<&str> = BTreeSet::new();
    for (path, document) in files.iter().zip(&loaded.documents) {
        if let (true, Some(document)) = (
            path.starts_with("base/") || path.starts_with("overlays/"),
            document,
        ) {
            named_segments(&document.value, &mut raw);
        }
    }
    used.extend(
        loaded
            .segments
            .keys()
            .filter(|name| raw.contains(name.as_str())),
    );
    // Segments used by used segments are used.
    let mut queue: Vec<&SegmentName> = used.iter().copied().collect();
    while let Some(name) = queue.pop() {
        if let Some(when) = loaded.segments.get(name).and_then(|s| s.when.as_ref()) {
            let mut inner = BTreeSet::new();
            check::referenced_segments(when, &mut inner);
            for next in inner {
                if used.insert(next) {
                    queue.push(next);
                }
            }
        }
    }
    for name in loaded.segments.keys() {
        if used.contains(name) {
            continue;
        }
        let mut diagnostic = Diagnostic::warning(
            Code::UnusedSegment,
            format!("segment `{name}` is not used by any flag"),
        )
        .with_help("use it in a rule (`when: { segment: ... }`) or remove the file");
        if let Some(index) = segment_pointer_of(loaded, name)
            && let Some(document) = loaded.document(index)
        {
            let doc = Doc {
                files,
                value: &document.value,
                spans: &document.spans,
                environment: None,
            };
            diagnostic = diagnostic.at(doc.at("/name"));
        }
        out.push(diagnostic);
    }
}
