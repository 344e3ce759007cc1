//! Pushing a committed change, re-applying it on the remote's tip when the
//! remote moved.

use crate::store::{HistoryQuery, RemoteErrorKind, RevisionId, StoreError};

use super::super::error::short;
use super::super::{ChangeError, Intent, plan};
use super::{Committed, Pipeline, Preparation};

impl Pipeline<'_> {
    /// Pushes a committed change to `remote` with the system `git`. When the
    /// remote moved, fetches it, prepares `intent` again on the remote's tip
    /// (validating again), replaces the local commit with one on top of it,
    /// and pushes again, up to [`Options::max_push_attempts`](super::Options::max_push_attempts) times.
    ///
    /// # Errors
    ///
    /// Every error leaves the change committed locally
    /// ([`ChangeError::committed_locally`]).
    pub fn push(
        &self,
        intent: &Intent,
        mut committed: Committed,
        remote: &str,
    ) -> Result<Committed, ChangeError> {
        let branch = committed.branch.clone();
        let max = self.options.max_push_attempts.max(1);
        for attempt in 1..=max {
            let failed = |source: ChangeError, id: RevisionId| ChangeError::PushFailed {
                committed: short(id),
                source: Box::new(source),
            };
            match self.store.push(remote, &branch) {
                Ok(_) => {
                    committed.pushed = Some(super::Pushed {
                        remote: remote.to_owned(),
                        attempts: attempt,
                    });
                    return Ok(committed);
                }
                Err(StoreError::Remote {
                    kind: RemoteErrorKind::RemoteMoved,
                    ..
                }) if attempt < max => {}
                Err(StoreError::Remote {
                    kind: RemoteErrorKind::RemoteMoved,
                    ..
                }) => break,
                Err(error) => return Err(failed(error.into(), committed.id)),
            }
            let id = committed.id;
            let rebased = (|| -> Result<Option<Committed>, ChangeError> {
                let remote_tip = self.store.fetch_branch(remote, &branch)?;
                if !self.store.is_ancestor(committed.parent, remote_tip)? {
                    return Err(ChangeError::Diverged {
                        remote: remote.to_owned(),
                        branch: branch.clone(),
                        committed: short(id),
                    });
                }
                let fixed = match intent {
                    Intent::Revert { .. } => {
                        self.check_revert_on(&committed, remote_tip)?;
                        Some(committed.prepared.plan.clone())
                    }
                    _ => None,
                };
                match self.prepare_at(intent, remote_tip, &branch, false, fixed)? {
                    Preparation::Change(prepared) => Ok(Some(self.commit_prepared(
                        *prepared,
                        committed.attempts,
                        Some((id, remote_tip)),
                    )?)),
                    Preparation::Unchanged(_) => Ok(None),
                }
            })();
            match rebased {
                Ok(Some(next)) => committed = next,
                Ok(None) => {
                    return Err(ChangeError::RemoteHasChange {
                        remote: remote.to_owned(),
                        committed: short(id),
                    });
                }
                Err(error @ ChangeError::Diverged { .. }) => return Err(error),
                Err(error) => return Err(failed(error, id)),
            }
        }
        Err(ChangeError::PushRetriesExhausted {
            attempts: max,
            committed: short(committed.id),
        })
    }

    /// A revert re-applied on a remote's tip: refused when the remote's new
    /// commits changed the same files.
    fn check_revert_on(
        &self,
        committed: &Committed,
        remote_tip: RevisionId,
    ) -> Result<(), ChangeError> {
        let paths: Vec<String> = committed
            .prepared
            .files
            .iter()
            .map(|f| f.path.clone())
            .collect();
        let later = self.store.history(&HistoryQuery {
            paths,
            revision: Some(format!("{}..{remote_tip}", committed.parent)),
            ..HistoryQuery::default()
        })?;
        if later.is_empty() {
            return Ok(());
        }
        let reverted = committed
            .prepared
            .plan
            .trailers
            .iter()
            .find(|t| t.key == plan::TRAILER_REVERTS)
            .map(|t| t.value.chars().take(12).collect())
            .unwrap_or_default();
        Err(ChangeError::Superseded {
            id: reverted,
            later: later
                .iter()
                .map(|e| (short(e.commit.id), e.commit.summary.clone()))
                .collect(),
        })
    }
}
