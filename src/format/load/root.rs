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

/// Reports each cycle of segments once: one error per strongly connected
/// group of segments (or segment naming itself), naming every member, at
/// the `when` of its first member by name.
pub(super) fn check_segment_cycles(loaded: &Loaded, files: &[String], out: &mut Vec<Diagnostic>) {
    let edges: BTreeMap<&SegmentName, BTreeSet<&SegmentName>> = loaded
        .segments
        .iter()
        .map(|(name, segment)| {
            let mut targets = BTreeSet::new();
            if let Some(when) = &segment.when {
                check::referenced_segments(when, &mut targets);
            }
            // References to missing segments are reported elsewhere.
            targets.retain(|target| loaded.segments.contains_key(*target));
            (name, targets)
        })
        .collect();
    for group in strongly_connected(&edges) {
        let first = group[0];
        let cyclic = group.len() > 1 || edges.get(first).is_some_and(|t| t.contains(first));
        if !cyclic {
            continue;
        }
        let cycle: Vec<String> = closed_walk(&edges, &group)
            .iter()
            .map(|s| format!("`{s}`"))
            .collect();
        let location = segment_pointer_of(loaded, first)
            .and_then(|i| loaded.document(i))
            .map(|d| {
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
}

/// The strongly connected components of `edges` (Kosaraju, without
/// recursion), each sorted by name, in the order of their first member.
fn strongly_connected<'a>(
    edges: &BTreeMap<&'a SegmentName, BTreeSet<&'a SegmentName>>,
) -> Vec<Vec<&'a SegmentName>> {
    // Finishing order of a depth-first search over the edges.
    let mut finished: Vec<&SegmentName> = Vec::with_capacity(edges.len());
    let mut seen: BTreeSet<&SegmentName> = BTreeSet::new();
    for &root in edges.keys() {
        if !seen.insert(root) {
            continue;
        }
        let mut stack = vec![(root, edges[root].iter())];
        while let Some((node, next)) = stack.last_mut() {
            let node = *node;
            match next.find(|target| !seen.contains(*target)) {
                Some(&target) => {
                    seen.insert(target);
                    stack.push((target, edges[target].iter()));
                }
                None => {
                    finished.push(node);
                    stack.pop();
                }
            }
        }
    }
    // Then over the reversed edges, latest finished first: each search
    // collects one component.
    let mut reversed: BTreeMap<&SegmentName, Vec<&SegmentName>> = BTreeMap::new();
    for (&from, targets) in edges {
        for &to in targets {
            reversed.entry(to).or_default().push(from);
        }
    }
    let mut assigned: BTreeSet<&SegmentName> = BTreeSet::new();
    let mut groups = Vec::new();
    for &root in finished.iter().rev() {
        if !assigned.insert(root) {
            continue;
        }
        let mut group = vec![root];
        let mut stack = vec![root];
        while let Some(node) = stack.pop() {
            for &from in reversed.get(node).into_iter().flatten() {
                if assigned.insert(from) {
                    group.push(from);
                    stack.push(from);
                }
            }
        }
        group.sort_unstable();
        groups.push(group);
    }
    groups.sort_unstable();
    groups
}

/// A walk from the group's first member through every other member (by
/// name) and back, each step a shortest path inside the group: for a plain
/// cycle, the cycle itself (`a → b → a`).
fn closed_walk<'a>(
    edges: &BTreeMap<&'a SegmentName, BTreeSet<&'a SegmentName>>,
    group: &[&'a SegmentName],
) -> Vec<&'a SegmentName> {
    let members: BTreeSet<&SegmentName> = group.iter().copied().collect();
    let shortest = |from: &'a SegmentName, to: &'a SegmentName| -> Vec<&'a SegmentName> {
        // Breadth-first, so the first arrival is the shortest path.
        let mut parent: BTreeMap<&SegmentName, &SegmentName> = BTreeMap::new();
        let mut queue = std::collections::VecDeque::from([from]);
        while let Some(node) = queue.pop_front() {
            for &next in &edges[node] {
                if !members.contains(next) || parent.contains_key(next) {
                    continue;
                }
                parent.insert(next, node);
                if next == to {
                    let mut path = vec![to];
                    let mut at = to;
                    while let Some(&previous) = parent.get(at)
                        && previous != from
                    {
                        path.push(previous);
                        at = previous;
                    }
                    path.reverse();
                    return path;
                }
                queue.push_back(next);
            }
        }
        vec![to]
    };
    let mut walk = vec![group[0]];
    for (&from, &to) in group.iter().zip(group.iter().skip(1).chain([&group[0]])) {
        walk.extend(shortest(from, to));
    }
    walk
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
