//! The on-disk format of a flag root: YAML parsed with positions, JSON Schema
//! validation, semantic checks, and the loading pipeline that turns a root's
//! files into resolved environments plus every diagnostic.
//!
//! This module never touches git: a root arrives as [`RootFiles`], read from a
//! directory here or from a git tree by `crate::store`.

#[cfg(feature = "edit")]
pub mod edit;
pub mod files;
pub mod schema;
pub mod yaml;

pub use files::{CONFIG_FILE, RootFiles, discover_root};
pub(crate) mod check;
pub mod load;
pub mod snapshot;

pub use load::{LoadOptions, Loaded, ResolvedDocument, SourceDocument, load};
