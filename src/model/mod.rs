//! The validated types of a flag configuration: flags, variants, rules,
//! conditions, segments, rollouts, the root's `flagctl.yaml`, and one resolved
//! environment.
//!
//! These types mirror the on-disk YAML documents field for field (the JSON
//! Schemas under `schemas/` describe the same shapes), so that a validated
//! document deserializes into them directly and a resolved environment
//! serializes back into the snapshot that `flagctl build` writes. This module
//! does no I/O; loading, positions and diagnostics live in [`crate::format`].

mod condition;
mod flag;
mod names;
mod operand;
mod root;
#[cfg(test)]
mod tests;

pub use condition::*;
pub use flag::*;
pub use names::*;
pub use operand::*;
pub use root::*;
