//! Fetch and push through the system `git`, so that the user's credentials,
//! ssh configuration and hooks apply; failures come back classified
//! ([`RemoteErrorKind`]) with git's standard error kept.

use std::path::Path;
use std::process::{Command, Stdio};

use git2::{ErrorCode, Repository};

use super::error::{GitContext, RemoteErrorKind};
use super::{RevisionId, Store, StoreError, branch_reference};

/// What [`Store::push`] did to the remote branch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PushOutcome {
    /// The remote branch moved forward.
    Updated,
    /// The remote branch did not exist and was created.
    Created,
    /// The remote branch already had this commit.
    UpToDate,
}

/// What [`fetch_into_cache`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheFetch {
    /// The branch's tip now.
    pub tip: RevisionId,
    /// The tip before this fetch (`None` on first use).
    pub previous: Option<RevisionId>,
}

impl CacheFetch {
    /// Whether the branch moved.
    pub fn changed(&self) -> bool {
        self.previous != Some(self.tip)
    }
}

impl Store {
    /// Pushes local `branch` to the branch of the same name on `remote` (a
    /// remote's name or a URL), running `git push`.
    ///
    /// A non-fast-forward is reported as [`RemoteErrorKind::RemoteMoved`]:
    /// fetch, rebase (or re-apply the change) and push again.
    pub fn push(&self, remote: &str, branch: &str) -> Result<PushOutcome, StoreError> {
        check_argument("remote", remote)?;
        check_branch(branch)?;
        let reference = format!("refs/heads/{branch}:refs/heads/{branch}");
        let args = ["push", "--porcelain", remote, reference.as_str()];
        let output = run_git(self.repo.path(), &args, false)?;
        let status = output.status.code().unwrap_or(-1);
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        // Porcelain lines: `<flag>\t<from>:<to>\t<summary> (<reason>)`.
        let line = stdout
            .lines()
            .find(|line| line.contains(&format!("refs/heads/{branch}")));
        if output.status.success() {
            return Ok(match line.and_then(|l| l.chars().next()) {
                Some('=') => PushOutcome::UpToDate,
                Some('*') => PushOutcome::Created,
                _ => PushOutcome::Updated,
            });
        }
        let kind = match line {
            Some(line) if line.starts_with('!') => classify_rejection(line),
            _ => classify(&stderr, status),
        };
        Err(StoreError::Remote {
            command: args.join(" "),
            kind,
            stderr,
        })
    }

    /// Fetches `branch` of `remote` into its remote-tracking reference
    /// (`refs/remotes/<remote>/<branch>`, moved even when not a
    /// fast-forward) and returns the commit it now points at.
    ///
    /// # Errors
    ///
    /// As [`Store::fetch`], and [`StoreError::RevisionNotFound`] when the
    /// tracking reference cannot be read afterwards.
    pub fn fetch_branch(&self, remote: &str, branch: &str) -> Result<RevisionId, StoreError> {
        let tracking = format!("refs/remotes/{remote}/{branch}");
        self.fetch(remote, &format!("+{}:{tracking}", branch_reference(branch)))?;
        Ok(self.resolve(&tracking)?.id)
    }

    /// Runs `git fetch <remote> <refspec>` (for example
    /// `+refs/heads/main:refs/remotes/origin/main`).
    pub fn fetch(&self, remote: &str, refspec: &str) -> Result<(), StoreError> {
        check_argument("remote", remote)?;
        check_argument("refspec", refspec)?;
        let args = ["fetch", "--no-write-fetch-head", remote, refspec];
        let output = run_git(self.repo.path(), &args, false)?;
        if output.status.success() {
            return Ok(());
        }
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        let kind = match stderr.lines().find(|l| l.trim_start().starts_with('!')) {
            Some(line) => classify_rejection(line),
            None => classify(&stderr, output.status.code().unwrap_or(-1)),
        };
        Err(StoreError::Remote {
            command: args.join(" "),
            kind,
            stderr,
        })
    }
}

/// Follows `branch` of the remote repository `url` in a bare cache
/// repository at `cache_dir`: creates it on first use, fetches the branch
/// (forced, so a rewritten remote is followed) and returns the new tip.
///
/// Git never prompts for credentials here (`GIT_TERMINAL_PROMPT=0`): a
/// runtime client has no terminal. Read the fetched state with
/// [`Store::open`]`(cache_dir, root)` and [`Store::read_root_at`] on
/// `refs/heads/<branch>`.
pub fn fetch_into_cache(
    url: &str,
    cache_dir: &Path,
    branch: &str,
) -> Result<CacheFetch, StoreError> {
    check_argument("URL", url)?;
    check_branch(branch)?;
    let reference = format!("refs/heads/{branch}");
    let repo = match Repository::open_bare(cache_dir) {
        Ok(repo) => repo,
        Err(_) => Repository::init_bare(cache_dir).context("create the cache repository")?,
    };
    let previous = match repo.refname_to_id(&reference) {
        Ok(id) => Some(id),
        Err(e) if e.code() == ErrorCode::NotFound => None,
        Err(e) => return Err(StoreError::git("read the cached branch", e)),
    };
    let refspec = format!("+{reference}:{reference}");
    let args = [
        "fetch",
        "--no-tags",
        "--no-write-fetch-head",
        url,
        refspec.as_str(),
    ];
    let output = run_git(repo.path(), &args, true)?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        return Err(StoreError::Remote {
            command: args.join(" "),
            kind: classify(&stderr, output.status.code().unwrap_or(-1)),
            stderr,
        });
    }
    let tip = repo
        .refname_to_id(&reference)
        .context("read the fetched branch")?;
    Ok(CacheFetch {
        tip: RevisionId::from_oid(tip),
        previous: previous.map(RevisionId::from_oid),
    })
}

/// Refuses values git would take for options.
fn check_argument(what: &'static str, value: &str) -> Result<(), StoreError> {
    if value.is_empty() || value.starts_with('-') {
        return Err(StoreError::InvalidArgument {
            what,
            value: value.to_owned(),
            reason: "it must not be empty or start with `-`",
        });
    }
    Ok(())
}

fn check_branch(branch: &str) -> Result<(), StoreError> {
    check_argument("branch", branch)?;
    if !git2::Reference::is_valid_name(&format!("refs/heads/{branch}")) {
        return Err(StoreError::InvalidArgument {
            what: "branch",
            value: branch.to_owned(),
            reason: "it is not a valid branch name",
        });
    }
    Ok(())
}

/// Runs `git` with `args` for the repository whose git directory is `git_dir`,
/// with messages in English (they are classified), keeping the environment
/// otherwise (credentials, ssh agent, configuration).
fn run_git(
    git_dir: &Path,
    args: &[&str],
    no_prompt: bool,
) -> Result<std::process::Output, StoreError> {
    let mut command = Command::new("git");
    command
        .arg("--git-dir")
        .arg(git_dir)
        .args(args)
        .env("LC_ALL", "C")
        .env("LANGUAGE", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if no_prompt {
        command.env("GIT_TERMINAL_PROMPT", "0");
    }
    command
        .output()
        .map_err(|source| StoreError::GitUnavailable { source })
}

/// Classifies a porcelain or progress line starting with `!`.
///
/// A remote that lost a race between two pushes to the same branch rejects
/// with `failed to update ref` / `failed to lock`: that is the remote moving too.
fn classify_rejection(line: &str) -> RemoteErrorKind {
    let lost_race = [
        "failed to update ref",
        "failed to lock",
        "cannot lock ref",
        "incorrect old value",
    ]
    .iter()
    .any(|reason| line.contains(reason));
    if line.contains("[remote rejected]") && !lost_race {
        let reason = line
            .rsplit_once('(')
            .map(|(_, r)| r.trim_end_matches(')').trim().to_owned())
            .unwrap_or_default();
        return RemoteErrorKind::RejectedByRemote { reason };
    }
    RemoteErrorKind::RemoteMoved
}

/// Classifies a failure from git's standard error.
fn classify(stderr: &str, status: i32) -> RemoteErrorKind {
    let text = stderr.to_lowercase();
    let any = |needles: &[&str]| needles.iter().any(|n| text.contains(n));
    if any(&[
        "[rejected]",
        "non-fast-forward",
        "fetch first",
        "stale info",
        "updates were rejected",
    ]) {
        RemoteErrorKind::RemoteMoved
    } else if any(&[
        "authentication failed",
        "permission denied",
        "could not read username",
        "could not read password",
        "terminal prompts disabled",
        "invalid username or password",
        "access denied",
        "http 401",
        "http 403",
        "returned error: 401",
        "returned error: 403",
        "host key verification failed",
    ]) {
        RemoteErrorKind::Auth
    } else if any(&[
        "couldn't find remote ref",
        "does not appear to be a git repository",
        "repository not found",
        "not found",
        "no such remote",
        "no such file or directory",
    ]) {
        RemoteErrorKind::NotFound
    } else if any(&[
        "could not resolve host",
        "connection refused",
        "connection timed out",
        "operation timed out",
        "network is unreachable",
        "could not connect",
        "failed to connect",
        "connection reset",
        "unable to access",
        "could not read from remote repository",
        "early eof",
        "the remote end hung up",
    ]) {
        RemoteErrorKind::Network
    } else {
        RemoteErrorKind::Other { status }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_git_messages() {
        assert_eq!(
            classify_rejection("!\trefs/heads/main:refs/heads/main\t[rejected] (fetch first)"),
            RemoteErrorKind::RemoteMoved
        );
        assert_eq!(
            classify_rejection(
                "!\trefs/heads/main:refs/heads/main\t[remote rejected] (pre-receive hook declined)"
            ),
            RemoteErrorKind::RejectedByRemote {
                reason: "pre-receive hook declined".into()
            }
        );
        assert_eq!(
            classify_rejection(
                "!\trefs/heads/main:refs/heads/main\t[remote rejected] (failed to update ref)"
            ),
            RemoteErrorKind::RemoteMoved
        );
        assert_eq!(
            classify(
                "fatal: Authentication failed for 'https://example.invalid/x.git/'",
                128
            ),
            RemoteErrorKind::Auth
        );
        assert_eq!(
            classify(
                "git@host: Permission denied (publickey).\nfatal: Could not read from remote repository.",
                128
            ),
            RemoteErrorKind::Auth
        );
        assert_eq!(
            classify(
                "fatal: unable to access 'https://x.invalid/': Could not resolve host: x.invalid",
                128
            ),
            RemoteErrorKind::Network
        );
        assert_eq!(
            classify("fatal: '/nope' does not appear to be a git repository", 128),
            RemoteErrorKind::NotFound
        );
        assert_eq!(
            classify("fatal: something else", 128),
            RemoteErrorKind::Other { status: 128 }
        );
    }
}
