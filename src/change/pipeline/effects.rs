//! What a change does to each touched flag, per environment, and which
//! protected environments it reaches.

use crate::format::Loaded;
use crate::model::{FlagKey, RootConfig};

use super::super::{Action, Effect, Plan};

/// How each touched flag resolves before and after, where that differs.
pub(super) fn effects(
    environments: &[String],
    protected: &[String],
    before: &Loaded,
    after: &Loaded,
    keys: &[FlagKey],
) -> Vec<Effect> {
    let exact =
        |flag: Option<&crate::model::Flag>| flag.and_then(|f| serde_json::to_string(f).ok());
    let mut effects = Vec::new();
    for environment in environments {
        for key in keys {
            let was = before
                .environments
                .get(environment)
                .and_then(|e| e.flags.get(key));
            let now = after
                .environments
                .get(environment)
                .and_then(|e| e.flags.get(key));
            if exact(was) != exact(now) {
                effects.push(Effect {
                    environment: environment.clone(),
                    flag: key.clone(),
                    before: was.cloned(),
                    after: now.cloned(),
                    protected: protected.contains(environment),
                    serving: match (was, now) {
                        (Some(was), Some(now)) => !was.evaluates_like(now),
                        (was, now) => was.is_some() || now.is_some(),
                    },
                });
            }
        }
    }
    effects
}

/// The protected environments a change needs confirmation for, in declared
/// order: those where what a touched flag serves changes, and the plan's
/// own environment when protected.
pub(super) fn protected_environments(
    plan: &Plan,
    config: &RootConfig,
    effects: &[Effect],
) -> Vec<String> {
    let mut protected: Vec<String> = effects
        .iter()
        // A new flag serves nothing to anyone until code asks for it.
        .filter(|e| e.protected && e.serving && !(e.before.is_none() && plan.action == Action::New))
        .map(|e| e.environment.clone())
        .collect();
    if let Some(environment) = &plan.environment
        && config.is_protected(environment)
    {
        protected.push(environment.clone());
    }
    protected.sort_by_key(|e| config.environments.iter().position(|x| x == e));
    protected.dedup();
    protected
}
