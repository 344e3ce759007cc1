//! Where a client's states come from: a git reference, a git remote through
//! a cache repository, a working-tree directory, or a snapshot file. Each
//! source says whether it moved, produces the new state's files, and names
//! the paths an OS watcher should watch for it.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::format::RootFiles;
use crate::store::{Store, StoreError, branch_reference, fetch_into_cache};

use super::error::SourceError;

/// Where a client's states come from.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Source {
    /// A git reference in a local repository: only committed states are
    /// served, so every served state is an entry of the audit log.
    GitRef {
        /// The flag root's directory in a work tree (the repository is
        /// found from it, and the root's place in it).
        root: PathBuf,
        /// The reference to follow (`main`, `refs/heads/main`, `origin/main`,
        /// `HEAD`); `None` follows the branch HEAD points at when the
        /// client starts (or HEAD itself when detached).
        reference: Option<String>,
    },
    /// A branch of a git remote, fetched periodically into a local bare
    /// cache repository with the system `git`.
    Remote {
        /// The remote's URL (anything `git fetch` takes).
        url: String,
        /// The branch to follow.
        branch: String,
        /// The cache repository (created on first use; kept across restarts,
        /// so a client whose remote is unreachable at startup can start from
        /// what it fetched before).
        cache_dir: PathBuf,
        /// Where the flag root is in the remote's tree (`""` for the top,
        /// `"flags"`); `None` finds it: the top if it holds `flagctl.yaml`,
        /// else `flags/`.
        root: Option<String>,
    },
    /// A flag root directory, served as it is on disk (uncommitted edits
    /// included): for local development and mounted configuration.
    Directory(PathBuf),
    /// A snapshot file written by `flagctl build`, checked against its
    /// sha256 digest; reloaded when the file is replaced.
    SnapshotFile(PathBuf),
    /// A relay (`flagctl serve`): the snapshot of the token's environment
    /// from `GET /v1/snapshot`, checked against its digest, fetched again
    /// on every change the relay's change stream announces (feature
    /// `relay-client`). See [`ClientBuilder::relay`](super::ClientBuilder::relay).
    #[cfg(feature = "relay-client")]
    Relay {
        /// The relay's base URL (`https://flags.example.com`).
        url: String,
        /// The token that grants the environment, when the relay needs one.
        token: Option<super::RelayToken>,
    },
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::GitRef {
                root,
                reference: Some(reference),
            } => write!(f, "git reference `{reference}` of `{}`", root.display()),
            Source::GitRef {
                root,
                reference: None,
            } => write!(f, "the current branch of `{}`", root.display()),
            Source::Remote { url, branch, .. } => {
                write!(f, "branch `{branch}` of remote `{url}`")
            }
            Source::Directory(path) => write!(f, "directory `{}`", path.display()),
            Source::SnapshotFile(path) => write!(f, "snapshot file `{}`", path.display()),
            #[cfg(feature = "relay-client")]
            Source::Relay { url, .. } => write!(f, "relay `{url}`"),
        }
    }
}

impl Source {
    /// How often the source is looked at without an OS event: 50 ms for a
    /// git reference (reading one costs microseconds), 30 s for a remote (a
    /// fetch), 1 s for a directory or a snapshot file (a full read), 30 s
    /// for a relay (a conditional fetch, besides the change stream).
    pub fn default_poll_interval(&self) -> Duration {
        match self {
            Source::GitRef { .. } => Duration::from_millis(50),
            Source::Remote { .. } => Duration::from_secs(30),
            #[cfg(feature = "relay-client")]
            Source::Relay { .. } => Duration::from_secs(30),
            Source::Directory(_) | Source::SnapshotFile(_) => Duration::from_secs(1),
        }
    }

    /// How long file-system events must stay quiet before a reload: none for
    /// a git reference (git updates a reference atomically, after the objects
    /// it needs), 50 ms for a directory or a snapshot file (editors' atomic
    /// saves and Kubernetes' symlink swaps are several events).
    pub fn default_debounce(&self) -> Duration {
        match self {
            Source::GitRef { .. } | Source::Remote { .. } => Duration::ZERO,
            #[cfg(feature = "relay-client")]
            Source::Relay { .. } => Duration::ZERO,
            Source::Directory(_) | Source::SnapshotFile(_) => Duration::from_millis(50),
        }
    }
}

/// What looking at the source found.
pub(crate) enum Checked {
    /// Nothing new.
    Unchanged,
    /// Files changed while they were read; a watcher event will follow.
    Unsettled,
    /// A state not seen before.
    Candidate(Candidate),
}

/// A state read from the source, not yet validated.
pub(crate) struct Candidate {
    /// The revision evaluations will carry.
    pub(crate) revision: String,
    /// What identifies the content, to notice that it is already seen.
    pub(crate) fingerprint: String,
    pub(crate) content: Content,
    /// How long reading took.
    pub(crate) read: Duration,
}

pub(crate) enum Content {
    /// A flag root's files, to load and validate.
    Files(RootFiles),
    /// A snapshot file's bytes, to parse and check.
    Snapshot(Vec<u8>),
}

/// A path for the OS watcher.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct WatchPath {
    pub(crate) path: PathBuf,
    pub(crate) recursive: bool,
}

/// A source being followed: what was read last, and how to read it.
pub(crate) struct SourceState {
    kind: Kind,
    /// The fingerprint of the last candidate produced (served or refused).
    seen: Option<String>,
    /// The fingerprint of the state served.
    served: Option<String>,
    /// Bumped by the OS watcher on every event.
    generation: Arc<AtomicU64>,
    /// Consecutive unsettled reads; after a few, the next read is taken
    /// as it is (files that never stop changing must not starve reloads).
    unsettled: u32,
    /// How long the last look took.
    last_look: Duration,
}

enum Kind {
    Git(GitSource),
    Remote(RemoteSource),
    Directory(PathBuf),
    Snapshot(PathBuf),
    #[cfg(feature = "relay-client")]
    Relay(super::relay::RelaySource),
}

const MAX_UNSETTLED: u32 = 3;

impl SourceState {
    pub(crate) fn new(source: &Source, generation: Arc<AtomicU64>) -> SourceState {
        let kind = match source {
            Source::GitRef { root, reference } => Kind::Git(GitSource {
                root: root.clone(),
                reference: reference.clone(),
                open: None,
            }),
            Source::Remote {
                url,
                branch,
                cache_dir,
                root,
            } => Kind::Remote(RemoteSource {
                url: url.clone(),
                branch: branch.clone(),
                cache: cache_dir.clone(),
                root: root.clone(),
                probe: None,
                reader: None,
            }),
            Source::Directory(path) => Kind::Directory(path.clone()),
            Source::SnapshotFile(path) => Kind::Snapshot(path.clone()),
            #[cfg(feature = "relay-client")]
            Source::Relay { url, token } => {
                Kind::Relay(super::relay::RelaySource::new(url, token.as_ref()))
            }
        };
        SourceState {
            kind,
            seen: None,
            served: None,
            generation,
            unsettled: 0,
            last_look: Duration::ZERO,
        }
    }

    /// How long the last look at the source took (a directory's full read,
    /// a fetch), so that polling can stay a small share of a core.
    pub(crate) fn last_look(&self) -> Duration {
        self.last_look
    }

    /// Looks at the source: for a remote, fetches first. With `settle`,
    /// a directory or file read during file-system events is reported
    /// unsettled rather than produced.
    pub(crate) fn check(&mut self, settle: bool) -> Result<Checked, SourceError> {
        let settle = settle && self.unsettled < MAX_UNSETTLED;
        let before = self.generation.load(Ordering::SeqCst);
        let started = Instant::now();
        let candidate = match &mut self.kind {
            Kind::Git(git) => git.read(self.seen.as_deref(), self.served.as_deref()),
            Kind::Remote(remote) => remote.read(true, self.seen.as_deref(), self.served.as_deref()),
            Kind::Directory(path) => read_directory(path).map(Some),
            Kind::Snapshot(path) => read_snapshot(path).map(Some),
            #[cfg(feature = "relay-client")]
            Kind::Relay(relay) => relay.look(settle),
        };
        self.last_look = started.elapsed();
        let candidate = candidate?;
        if settle
            && matches!(self.kind, Kind::Directory(_) | Kind::Snapshot(_))
            && self.generation.load(Ordering::SeqCst) != before
        {
            self.unsettled += 1;
            return Ok(Checked::Unsettled);
        }
        self.unsettled = 0;
        Ok(self.produce(candidate))
    }

    /// The first look at the source, at startup.
    pub(crate) fn initial(&mut self) -> Result<Candidate, SourceError> {
        match self.check(false)? {
            Checked::Candidate(candidate) => Ok(candidate),
            Checked::Unchanged | Checked::Unsettled => unreachable!(
                "nothing is seen before the first look, and the first look does not settle"
            ),
        }
    }

    /// For a remote source whose fetch failed at startup: the state its
    /// cache repository holds from an earlier run, if any.
    pub(crate) fn cached(&mut self) -> Result<Option<Candidate>, SourceError> {
        let candidate = match &mut self.kind {
            Kind::Remote(remote) => remote.read(false, None, None)?,
            _ => None,
        };
        match self.produce(candidate) {
            Checked::Candidate(candidate) => Ok(Some(candidate)),
            Checked::Unchanged | Checked::Unsettled => Ok(None),
        }
    }

    fn produce(&mut self, candidate: Option<Candidate>) -> Checked {
        match candidate {
            Some(candidate)
                if self.seen.as_deref() != Some(&candidate.fingerprint)
                    && self.served.as_deref() != Some(&candidate.fingerprint) =>
            {
                self.seen = Some(candidate.fingerprint.clone());
                Checked::Candidate(candidate)
            }
            Some(candidate) => {
                // Back to a state already seen (an edit undone): nothing to do.
                self.seen = Some(candidate.fingerprint);
                Checked::Unchanged
            }
            None => Checked::Unchanged,
        }
    }

    /// Starts what follows the source besides looking at it (a relay's
    /// change stream); it asks for a look by sending to `wake`.
    pub(crate) fn follow(&mut self, wake: &std::sync::mpsc::Sender<super::worker::Message>) {
        #[cfg(feature = "relay-client")]
        if let Kind::Relay(relay) = &mut self.kind {
            relay.follow(wake.clone());
        }
        #[cfg(not(feature = "relay-client"))]
        let _ = wake;
    }

    /// Records that the state with `fingerprint` is served.
    pub(crate) fn mark_served(&mut self, fingerprint: String) {
        self.served = Some(fingerprint);
    }

    /// What the OS watcher should watch now.
    pub(crate) fn watch_paths(&self) -> Vec<WatchPath> {
        match &self.kind {
            Kind::Git(git) => git
                .open
                .as_ref()
                .map(|open| open.watch.clone())
                .unwrap_or_default(),
            Kind::Remote(_) => Vec::new(),
            #[cfg(feature = "relay-client")]
            Kind::Relay(_) => Vec::new(),
            Kind::Directory(path) => {
                let mut paths = Vec::new();
                let real = path.canonicalize().unwrap_or_else(|_| path.clone());
                paths.push(WatchPath {
                    path: real,
                    recursive: true,
                });
                // A root that is itself a link (a mounted ConfigMap's
                // `..data`) is replaced by re-pointing the link: watch the
                // directory holding it.
                if is_symlink(path)
                    && let Some(parent) = path.parent()
                {
                    paths.push(WatchPath {
                        path: parent.to_path_buf(),
                        recursive: false,
                    });
                }
                paths
            }
            Kind::Snapshot(path) => {
                // `flagctl build -o` and deployments replace the file by a
                // rename in its directory.
                let parent = match path.parent() {
                    Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
                    _ => PathBuf::from("."),
                };
                vec![WatchPath {
                    path: parent,
                    recursive: false,
                }]
            }
        }
    }
}

fn is_symlink(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
}

struct GitSource {
    root: PathBuf,
    reference: Option<String>,
    open: Option<OpenGit>,
}

struct OpenGit {
    store: Store,
    /// The reference's full name.
    reference: String,
    watch: Vec<WatchPath>,
}

impl GitSource {
    fn open(&mut self) -> Result<&mut OpenGit, SourceError> {
        if self.open.is_none() {
            self.open = Some(self.open_repository()?);
        }
        Ok(self.open.as_mut().expect("opened just above"))
    }

    /// Opens the repository and works out the reference and the paths to
    /// watch.
    fn open_repository(&self) -> Result<OpenGit, SourceError> {
        let store = Store::discover(&self.root).map_err(|source| SourceError::OpenRepository {
            root: self.root.clone(),
            source,
        })?;
        let reference = match &self.reference {
            Some(name) => store
                .reference_name(name)
                .map_err(|source| SourceError::Reference {
                    reference: name.clone(),
                    source,
                })?,
            None => match store.head() {
                Ok(head) => head.reference(),
                Err(source) => {
                    return Err(SourceError::Reference {
                        reference: "HEAD".to_owned(),
                        source,
                    });
                }
            },
        };
        let watch = store
            .reference_paths()
            .into_iter()
            .map(|path| WatchPath {
                path: path.path,
                recursive: path.recursive,
            })
            .collect();
        Ok(OpenGit {
            store,
            reference,
            watch,
        })
    }

    fn read(
        &mut self,
        seen: Option<&str>,
        served: Option<&str>,
    ) -> Result<Option<Candidate>, SourceError> {
        let open = self.open()?;
        let started = Instant::now();
        let id = open
            .store
            .reference_commit(&open.reference)
            .map_err(|source| SourceError::Reference {
                reference: open.reference.clone(),
                source,
            })?
            .ok_or_else(|| SourceError::MissingReference {
                reference: open.reference.clone(),
            })?;
        let revision = id.to_string();
        if seen == Some(revision.as_str()) || served == Some(revision.as_str()) {
            return Ok(None);
        }
        let files = read_root(&open.store, &revision)?;
        Ok(Some(Candidate {
            fingerprint: revision.clone(),
            revision,
            content: Content::Files(files),
            read: started.elapsed(),
        }))
    }
}

/// The root at `revision`; a revision without the root directory reads as
/// an empty root (refused for its missing `flagctl.yaml`, like any other
/// invalid state).
fn read_root(store: &Store, revision: &str) -> Result<RootFiles, SourceError> {
    match store.read_root_at(revision) {
        Ok(files) => Ok(files),
        Err(StoreError::RootNotFound { .. }) => Ok(RootFiles::new()),
        Err(source) => Err(SourceError::ReadRevision {
            revision: revision.to_owned(),
            source,
        }),
    }
}

struct RemoteSource {
    url: String,
    branch: String,
    cache: PathBuf,
    root: Option<String>,
    /// The cache opened at its top, to find the root.
    probe: Option<Store>,
    /// The cache opened at the root, once found.
    reader: Option<Store>,
}

fn cache_error(cache: &Path) -> impl FnOnce(StoreError) -> SourceError + '_ {
    move |source| SourceError::Cache {
        cache: cache.to_path_buf(),
        source,
    }
}

impl RemoteSource {
    fn read(
        &mut self,
        fetch: bool,
        seen: Option<&str>,
        served: Option<&str>,
    ) -> Result<Option<Candidate>, SourceError> {
        let started = Instant::now();
        let reference = branch_reference(&self.branch);
        let tip = if fetch {
            fetch_into_cache(&self.url, &self.cache, &self.branch)
                .map_err(|source| SourceError::Fetch {
                    url: self.url.clone(),
                    branch: self.branch.clone(),
                    source: Box::new(source),
                })?
                .tip
        } else {
            if !self.cache.exists() {
                return Ok(None);
            }
            let cache = self.cache.clone();
            let probe = self.probe()?;
            match probe
                .reference_commit(&reference)
                .map_err(cache_error(&cache))?
            {
                Some(tip) => tip,
                None => return Ok(None),
            }
        };
        let revision = tip.to_string();
        if seen == Some(revision.as_str()) || served == Some(revision.as_str()) {
            return Ok(None);
        }
        let files = match self.reader(&revision)? {
            Some(reader) => read_root(reader, &revision)?,
            None => RootFiles::new(),
        };
        Ok(Some(Candidate {
            fingerprint: revision.clone(),
            revision,
            content: Content::Files(files),
            read: started.elapsed(),
        }))
    }

    fn probe(&mut self) -> Result<&Store, SourceError> {
        if self.probe.is_none() {
            let store = Store::open(&self.cache, "").map_err(cache_error(&self.cache))?;
            self.probe = Some(store);
        }
        Ok(self.probe.as_ref().expect("just opened"))
    }

    /// The cache opened at the flag root, found at `revision` when not given.
    fn reader(&mut self, revision: &str) -> Result<Option<&Store>, SourceError> {
        if self.reader.is_none() {
            let root = match &self.root {
                Some(root) => root.clone(),
                None => {
                    let probe = self.probe()?;
                    let at_top = probe
                        .read_file_at(revision, crate::format::CONFIG_FILE)
                        .map_err(|source| SourceError::ReadRevision {
                            revision: revision.to_owned(),
                            source,
                        })?;
                    let in_flags =
                        probe
                            .read_file_at(revision, "flags/flagctl.yaml")
                            .map_err(|source| SourceError::ReadRevision {
                                revision: revision.to_owned(),
                                source,
                            })?;
                    match (at_top, in_flags) {
                        (Some(_), _) => String::new(),
                        (None, Some(_)) => "flags".to_owned(),
                        // Not found yet: read nothing (refused), look again
                        // at the next revision.
                        (None, None) => return Ok(None),
                    }
                }
            };
            let store = Store::open(&self.cache, &root).map_err(cache_error(&self.cache))?;
            self.reader = Some(store);
        }
        Ok(self.reader.as_ref())
    }
}

fn read_directory(path: &Path) -> Result<Candidate, SourceError> {
    let started = Instant::now();
    if !path.is_dir() {
        return Err(SourceError::NotADirectory {
            path: path.to_path_buf(),
        });
    }
    let files = RootFiles::from_dir(path).map_err(|source| SourceError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut hasher = Sha256::new();
    for (name, bytes) in files.iter() {
        hasher.update((name.len() as u64).to_le_bytes());
        hasher.update(name.as_bytes());
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(bytes);
    }
    let revision = format!("worktree:{}", short_hex(&hasher.finalize()));
    Ok(Candidate {
        fingerprint: revision.clone(),
        revision,
        content: Content::Files(files),
        read: started.elapsed(),
    })
}

fn read_snapshot(path: &Path) -> Result<Candidate, SourceError> {
    let started = Instant::now();
    let bytes = std::fs::read(path).map_err(|source| SourceError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let fingerprint = format!("file:{}", short_hex(&Sha256::digest(&bytes)));
    // The revision is the snapshot's own (its source commit or digest),
    // known once it parses; until then the file's digest names it.
    Ok(Candidate {
        revision: fingerprint.clone(),
        fingerprint,
        content: Content::Snapshot(bytes),
        read: started.elapsed(),
    })
}

/// The first 12 hex digits of a digest.
fn short_hex(digest: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(12);
    for byte in digest.iter().take(6) {
        let _ = write!(out, "{byte:02x}");
    }
    out
}
