//! The snapshot file that `flagctl build` writes and the runtime loads: one
//! environment's resolved flags and segments as JSON, with the source
//! revision and a sha256 digest of the canonical content.
//!
//! The digest covers `format`, `environment`, `bucketing`, `flags` and
//! `segments` serialized as compact JSON in that order (flags and segments
//! sorted by name, every other mapping in declared order). It does not cover
//! `source`, so two builds of the same content from different commits share
//! a digest. See `docs/format.md`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::diagnostic::{Code, Diagnostic, Location};
use crate::format::check::{self, Doc};
use crate::format::yaml::SpanTree;
use crate::model::{BucketingVersion, Flag, FlagKey, ResolvedEnvironment, Segment, SegmentName};

/// The snapshot format version this build writes and reads.
pub const SNAPSHOT_FORMAT: u32 = 1;

/// Where a snapshot's content came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceRevision {
    /// The commit the flag root was read at.
    pub commit: String,
    /// Whether the working tree differed from that commit (uncommitted edits
    /// in the flag root were built).
    pub dirty: bool,
}

/// A built snapshot of one environment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotFile {
    /// The snapshot format version ([`SNAPSHOT_FORMAT`]).
    pub format: u32,
    /// The environment.
    pub environment: String,
    /// The bucketing contract.
    pub bucketing: BucketingVersion,
    /// The revision the content was read at, when built inside git.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceRevision>,
    /// `sha256:<hex>` of the canonical content.
    pub digest: String,
    /// The resolved flags.
    pub flags: BTreeMap<FlagKey, Flag>,
    /// The segments.
    pub segments: BTreeMap<SegmentName, Segment>,
}

#[derive(Serialize)]
struct Canonical<'a> {
    format: u32,
    environment: &'a str,
    bucketing: BucketingVersion,
    flags: &'a BTreeMap<FlagKey, Flag>,
    segments: &'a BTreeMap<SegmentName, Segment>,
}

/// Why a snapshot file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The file is not a snapshot (bad JSON or wrong shape).
    #[error("not a flagctl snapshot")]
    Parse(#[source] serde_json::Error),
    /// Written by a newer or older flagctl.
    #[error("snapshot format {found} is not supported (this build reads format {SNAPSHOT_FORMAT})")]
    Format {
        /// The format found in the file.
        found: u32,
    },
    /// The content does not match its digest (corrupt or edited by hand).
    #[error("snapshot digest mismatch: the file says `{stated}`, its content is `{actual}`")]
    DigestMismatch {
        /// The digest written in the file.
        stated: String,
        /// The digest of the content.
        actual: String,
    },
    /// The content has errors (only possible when written by hand).
    #[error("the snapshot's flags have {} error(s); first: {}", .0.len(), .0.first().map(ToString::to_string).unwrap_or_default())]
    Invalid(Vec<Diagnostic>),
}

impl SnapshotFile {
    /// A snapshot of a resolved environment, with its digest computed.
    pub fn new(environment: &ResolvedEnvironment, source: Option<SourceRevision>) -> SnapshotFile {
        let mut file = SnapshotFile {
            format: SNAPSHOT_FORMAT,
            environment: environment.environment.clone(),
            bucketing: environment.bucketing,
            source,
            digest: String::new(),
            flags: environment.flags.clone(),
            segments: environment.segments.clone(),
        };
        file.digest = file.compute_digest();
        file
    }

    /// The canonical bytes the digest covers.
    pub fn canonical_content(&self) -> Vec<u8> {
        serde_json::to_vec(&Canonical {
            format: self.format,
            environment: &self.environment,
            bucketing: self.bucketing,
            flags: &self.flags,
            segments: &self.segments,
        })
        .expect("flag types always serialize to JSON")
    }

    /// `sha256:<hex>` of [`SnapshotFile::canonical_content`].
    pub fn compute_digest(&self) -> String {
        let hash = Sha256::digest(self.canonical_content());
        let mut out = String::with_capacity(7 + 64);
        out.push_str("sha256:");
        for byte in hash {
            let _ = write!(out, "{byte:02x}");
        }
        out
    }

    /// The file as pretty JSON with a final newline.
    pub fn to_json_pretty(&self) -> String {
        let mut text =
            serde_json::to_string_pretty(self).expect("flag types always serialize to JSON");
        text.push('\n');
        text
    }

    /// Reads a snapshot, checking its format version, its digest, and that
    /// its flags are valid (references, weights, operands).
    pub fn from_json(bytes: &[u8]) -> Result<SnapshotFile, SnapshotError> {
        #[derive(Deserialize)]
        struct Version {
            format: u32,
        }
        let version: Version = serde_json::from_slice(bytes).map_err(SnapshotError::Parse)?;
        if version.format != SNAPSHOT_FORMAT {
            return Err(SnapshotError::Format {
                found: version.format,
            });
        }
        let file: SnapshotFile = serde_json::from_slice(bytes).map_err(SnapshotError::Parse)?;
        let actual = file.compute_digest();
        if actual != file.digest {
            return Err(SnapshotError::DigestMismatch {
                stated: file.digest.clone(),
                actual,
            });
        }
        let problems: Vec<Diagnostic> = file
            .check()
            .into_iter()
            .filter(Diagnostic::is_error)
            .collect();
        if !problems.is_empty() {
            return Err(SnapshotError::Invalid(problems));
        }
        Ok(file)
    }

    /// Semantic checks of the content (what loading a root would have found),
    /// without positions. Expiry is not checked.
    pub fn check(&self) -> Vec<Diagnostic> {
        let files = [format!("snapshot:{}", self.environment)];
        let names = self.segments.keys().cloned().collect();
        let context = check::Context {
            segments: &names,
            today: None,
            regexes: check::RegexMemo::default(),
        };
        let mut out = Vec::new();
        for (key, flag) in &self.flags {
            let value = serde_json::to_value(flag).expect("flags serialize");
            let spans = SpanTree::shaped_like(&value);
            let doc = Doc {
                files: &files,
                value: &value,
                spans: &spans,
                environment: Some(&self.environment),
            };
            if key != &flag.key {
                out.push(
                    Diagnostic::error(
                        Code::KeyMismatch,
                        format!("flag `{}` is stored under `{key}`", flag.key),
                    )
                    .at(Location::file(files[0].clone())),
                );
            }
            check::check_flag(flag, &doc, &context, &mut out);
        }
        for segment in self.segments.values() {
            let value = serde_json::to_value(segment).expect("segments serialize");
            let spans = SpanTree::shaped_like(&value);
            let doc = Doc {
                files: &files,
                value: &value,
                spans: &spans,
                environment: Some(&self.environment),
            };
            check::check_segment(segment, &doc, &context, &mut out);
        }
        out
    }

    /// The environment the snapshot holds.
    pub fn to_environment(&self) -> ResolvedEnvironment {
        ResolvedEnvironment {
            environment: self.environment.clone(),
            bucketing: self.bucketing,
            flags: self.flags.clone(),
            segments: self.segments.clone(),
        }
    }

    /// A revision string for evaluations: the source commit (with `-dirty`
    /// when the working tree was), else the digest.
    pub fn revision(&self) -> String {
        match &self.source {
            Some(SourceRevision {
                commit,
                dirty: false,
            }) => commit.clone(),
            Some(SourceRevision {
                commit,
                dirty: true,
            }) => format!("{commit}-dirty"),
            None => self.digest.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{LoadOptions, RootFiles, load};

    fn environment() -> ResolvedEnvironment {
        let files = RootFiles::from_pairs([
            ("flagctl.yaml", "environments: [prod]\n"),
            (
                "base/a.yaml",
                "key: a\ntype: boolean\ndefault:\n  rollout: { on: 12.5, off: 87.5 }\n",
            ),
            ("segments/s.yaml", "name: s\ninclude: [x]\n"),
            (
                "base/b.yaml",
                "key: b\ntype: string\nvariants: { z: zed, a: ay }\nrules:\n  - when: { segment: s }\n    serve: a\ndefault: z\n",
            ),
        ]);
        let loaded = load(&files, &LoadOptions::default());
        assert!(loaded.is_valid(), "{:?}", loaded.diagnostics);
        loaded.environments["prod"].clone()
    }

    #[test]
    fn round_trip_keeps_digest_and_order() {
        let file = SnapshotFile::new(
            &environment(),
            Some(SourceRevision {
                commit: "abc".into(),
                dirty: false,
            }),
        );
        assert!(file.digest.starts_with("sha256:"));
        let text = file.to_json_pretty();
        let back = SnapshotFile::from_json(text.as_bytes()).expect("valid snapshot");
        assert_eq!(back, file);
        // Declared variant order survives (z before a).
        let variants: Vec<&String> = back.flags["b"].variants.keys().collect();
        assert_eq!(variants, ["z", "a"]);
        assert_eq!(back.revision(), "abc");
    }

    #[test]
    fn digest_ignores_source_but_not_content() {
        let env = environment();
        let a = SnapshotFile::new(&env, None);
        let b = SnapshotFile::new(
            &env,
            Some(SourceRevision {
                commit: "x".into(),
                dirty: true,
            }),
        );
        assert_eq!(a.digest, b.digest);
        let mut changed = env.clone();
        changed.flags.remove("a");
        assert_ne!(SnapshotFile::new(&changed, None).digest, a.digest);
    }

    #[test]
    fn tampering_is_detected() {
        let file = SnapshotFile::new(&environment(), None);
        let text = file.to_json_pretty().replace("12.5", "22.5");
        assert!(matches!(
            SnapshotFile::from_json(text.as_bytes()),
            Err(SnapshotError::DigestMismatch { .. })
        ));
    }

    #[test]
    fn invalid_content_is_refused_even_with_a_matching_digest() {
        let mut file = SnapshotFile::new(&environment(), None);
        if let Some(flag) = file.flags.get_mut("b") {
            flag.default = crate::model::Serve::Variant("nope".into());
        }
        file.digest = file.compute_digest();
        assert!(matches!(
            SnapshotFile::from_json(file.to_json_pretty().as_bytes()),
            Err(SnapshotError::Invalid(_))
        ));
    }

    #[test]
    fn other_formats_are_refused() {
        assert!(matches!(
            SnapshotFile::from_json(br#"{"format": 9}"#),
            Err(SnapshotError::Format { found: 9 })
        ));
        assert!(matches!(
            SnapshotFile::from_json(b"nope"),
            Err(SnapshotError::Parse(_))
        ));
    }
}
