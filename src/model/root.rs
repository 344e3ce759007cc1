//! Segments, the root's `flagctl.yaml`, and one resolved environment.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::*;

/// A reusable set of users: explicit includes and excludes, and a condition.
///
/// A context is in the segment when its targeting key is in `include`; else
/// not when it is in `exclude`; else when `when` matches (no `when`: not in).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Segment {
    /// The segment's name, equal to its file stem.
    pub name: SegmentName,
    /// What the segment is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Targeting keys always in the segment.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include: Vec<String>,
    /// Targeting keys never in the segment (unless included).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
    /// The condition for everyone else.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<Condition>,
}

/// The bucketing contract a root uses (`bucketing:` in `flagctl.yaml`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum BucketingVersion {
    /// murmur3 x86_32 of `salt ++ value`, as flagd's `fractional` (see `docs/bucketing.md`).
    #[default]
    #[serde(rename = "v1")]
    V1,
}

impl fmt::Display for BucketingVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BucketingVersion::V1 => f.write_str("v1"),
        }
    }
}

/// The root's `flagctl.yaml`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RootConfig {
    /// The environments, in display order.
    pub environments: Vec<String>,
    /// Environments whose changes need confirmation.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub protected: Vec<String>,
    /// The bucketing contract.
    #[serde(default)]
    pub bucketing: BucketingVersion,
}

impl RootConfig {
    /// Whether `environment` is one of the root's environments.
    pub fn has_environment(&self, environment: &str) -> bool {
        self.environments.iter().any(|e| e == environment)
    }

    /// Whether `environment` is protected.
    pub fn is_protected(&self, environment: &str) -> bool {
        self.protected.iter().any(|e| e == environment)
    }
}

/// Every flag and segment of one environment, overlays applied and checked.
///
/// This is what evaluation compiles and what `flagctl build` writes (inside a
/// [`crate::format::snapshot::SnapshotFile`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResolvedEnvironment {
    /// The environment's name.
    pub environment: String,
    /// The bucketing contract.
    pub bucketing: BucketingVersion,
    /// Flags by key.
    pub flags: BTreeMap<FlagKey, Flag>,
    /// Segments by name.
    pub segments: BTreeMap<SegmentName, Segment>,
}
