//! Semantic diffs of flags and what they do to users.
//!
//! [`diff_flag`] compares two resolved flag documents field by field (dotted
//! paths, lists of keys as sets, rules by index); [`rollout_impact`] counts,
//! exactly from the bucket ranges of contract v1, the share of users whose
//! served variant changes. Both serve `flagctl diff`, `flagctl log` and the
//! `--dry-run` of the mutating commands. This module never touches git or
//! the terminal.

mod fields;
mod impact;
mod roots;
mod sentences;
mod share;

pub use fields::{ChangeKind, FieldChange, compact, diff_documents, diff_flag};
pub use impact::{
    Effect, HASH_SPACE, Impact, Move, ServeImpact, ServeScope, Share, TargetMove, Toggle,
    rollout_impact,
};
pub use roots::{
    DocumentDiff, EnvironmentComparison, EnvironmentDiff, FileChange, FlagDiff, FlagSources,
    RootDiff, Status, compare_environments, compare_flag, compare_roots, config_environments,
    typed_flag,
};
