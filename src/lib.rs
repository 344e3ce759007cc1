//! flagctl: feature flags as code.
//!
//! Flags live as YAML files in a git repository. This library loads and
//! validates a flag root ([`format`](mod@format)), resolves per-environment overlays
//! ([`overlay`]), reads and writes git history ([`store`], feature `git`),
//! commits one validated change at a time ([`change`], features `git` and
//! `edit`), compares flags semantically and counts who a change moves
//! ([`diff`]), reads history as the audit log ([`audit`], feature `git`),
//! evaluates flags in memory ([`eval`]) and follows a source with hot reload
//! ([`watch`], feature `watch`). The `flagctl` binary (feature `cli`) is a thin
//! layer over it.
//!
//! ```
//! use flagctl::format::{load, LoadOptions, RootFiles};
//!
//! let files = RootFiles::from_pairs([
//!     ("flagctl.yaml", "environments: [dev, prod]\n"),
//!     ("base/new-checkout.yaml", "key: new-checkout\ntype: boolean\ndefault: off\n"),
//!     ("overlays/prod/new-checkout.yaml", "default: on\n"),
//! ]);
//! let loaded = load(&files, &LoadOptions::default());
//! assert!(loaded.is_valid());
//! let prod = &loaded.environments["prod"];
//! let flag = &prod.flags["new-checkout"];
//! assert_eq!(flag.default_summary(), "on");
//! ```

#[cfg(feature = "git")]
pub mod audit;
#[cfg(all(feature = "git", feature = "edit"))]
pub mod change;
#[cfg(feature = "cli")]
pub mod cli;
pub mod diagnostic;
pub mod diff;
pub mod eval;
pub mod format;
pub mod model;
pub mod overlay;
#[cfg(feature = "serve")]
pub mod serve;
#[cfg(feature = "git")]
pub mod store;
#[cfg(feature = "watch")]
pub mod watch;

pub use diagnostic::{Code, Diagnostic, Location, Position, Severity, Span};
pub use model::{Flag, FlagKey, FlagType, ResolvedEnvironment, RootConfig, Segment, SegmentName};
