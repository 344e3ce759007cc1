//! Evaluating flags in memory: compiled [`Snapshot`]s, evaluation
//! [`Context`]s, and bucketing contract `v1`.
//!
//! A [`Snapshot`] is one environment's flags and segments at one revision,
//! compiled once ([`Snapshot::compile`]) so that evaluating a flag for a
//! [`Context`] ([`Snapshot::evaluate`]) takes a hash-map lookup, a few
//! comparisons and at most one murmur3 hash: tens of nanoseconds, no
//! allocation, no lock, no panic (one exception: a `matches` pattern no DFA
//! can run, which validation warns about as `regex-fallback`). Every [`Evaluation`] carries the value, the
//! variant, a [`Reason`] in OpenFeature's vocabulary, the rule or rollout that
//! decided, any [`ErrorCode`] met on the way, and the snapshot's revision.
//! [`Snapshot::explain`] walks the same steps and records why.
//!
//! This module owns evaluation semantics and bucketing ([`bucketing`],
//! `docs/bucketing.md`). It never does I/O, never reloads, never prints:
//! loading and validating belong to `crate::format`, following a source to
//! the runtime.
//!
//! ```
//! use flagctl::eval::{Context, Reason, Snapshot};
//! use flagctl::model::ResolvedEnvironment;
//!
//! let env: ResolvedEnvironment = serde_json::from_value(serde_json::json!({
//!     "environment": "prod",
//!     "bucketing": "v1",
//!     "segments": {
//!         "staff": {"name": "staff", "when": {"attr": "email", "op": "ends_with", "value": "@example.com"}}
//!     },
//!     "flags": {
//!         "new-checkout": {
//!             "key": "new-checkout",
//!             "type": "boolean",
//!             "rules": [
//!                 {"name": "staff", "when": {"segment": "staff"}, "serve": "on"},
//!                 {"when": {"all": [
//!                     {"attr": "country", "op": "in", "values": ["DE", "FR", "NL"]},
//!                     {"attr": "plan", "op": "eq", "value": "enterprise"}
//!                 ]}, "serve": {"rollout": {"on": 50, "off": 50}}}
//!             ],
//!             "default": {"rollout": {"on": 10, "off": 90}}
//!         }
//!     }
//! }))?;
//! let snapshot = Snapshot::compile(&env, "3f2a9c1")?;
//!
//! let ada = Context::new("ada").with("email", "ada@example.com");
//! let evaluation = snapshot.evaluate("new-checkout", &ada);
//! assert_eq!(evaluation.reason(), Reason::RuleMatch);
//! assert_eq!(evaluation.rule_name(), Some("staff"));
//! assert_eq!(evaluation.value(), Some(&serde_json::json!(true)));
//!
//! let customer = Context::new("user-42").with("country", "DE").with("plan", "enterprise");
//! let evaluation = snapshot.evaluate("new-checkout", &customer);
//! assert_eq!(evaluation.reason(), Reason::Split);
//! assert_eq!(evaluation.rule_index(), Some(1));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod bucketing;
mod compile;
mod compiled;
mod context;
mod engine;
mod evaluation;
mod explain;
mod fast;
mod pattern;
mod snapshot;
mod table;
#[cfg(test)]
mod tests;
mod time;
mod version;

pub use compile::{CompileError, CompileErrorKind, MAX_DEPTH, Subject};
pub(crate) use context::describe_json;
pub use context::{AttributeRef, AttributeValue, Attributes, Context, ContextError};
pub use evaluation::{ErrorCode, Evaluation, Reason, Resolution, Split};
pub use explain::{
    ConditionTrace, ExplainedResult, Explanation, Outcome, RangeTrace, RolloutTrace, ServeTrace,
    Step,
};
pub use pattern::{DFA_SIZE_LIMIT, REGEX_SIZE_LIMIT};
pub use snapshot::Snapshot;
