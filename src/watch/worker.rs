//! The background thread: waits for OS file-system events, a debounce
//! deadline or the poll interval, then looks at the source. It owns the OS
//! watcher, keeps its watches in line with what the source names, and on
//! shutdown waits for the watcher's own thread to let go.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};

use super::apply::{Shared, lock};
use super::source::WatchPath;

/// How the background thread paces its looks at the source.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Pacing {
    /// Look at the source at least this often.
    pub(crate) poll: Duration,
    /// After a file-system event, wait until events stay quiet this long.
    pub(crate) debounce: Duration,
    /// But never longer than this after the first event.
    pub(crate) max_delay: Duration,
    /// Whether to use the OS watcher at all.
    pub(crate) os_watcher: bool,
}

pub(crate) enum Message {
    /// Something changed on disk.
    Changed,
    /// The client is dropped.
    Stop,
}

/// The running background thread.
pub(crate) struct Worker {
    sender: Sender<Message>,
    handle: Option<JoinHandle<()>>,
}

impl Worker {
    pub(crate) fn spawn(
        shared: Arc<Shared>,
        pacing: Pacing,
        generation: Arc<AtomicU64>,
    ) -> std::io::Result<Worker> {
        let (sender, receiver) = mpsc::channel();
        let events = sender.clone();
        let handle = std::thread::Builder::new()
            .name("flagctl-watch".to_owned())
            .spawn(move || run(&shared, pacing, generation, &events, &receiver))?;
        Ok(Worker {
            sender,
            handle: Some(handle),
        })
    }

    /// Stops the thread and waits for it (and for the OS watcher's thread
    /// to release it).
    pub(crate) fn stop(&mut self) {
        let _ = self.sender.send(Message::Stop);
        if let Some(handle) = self.handle.take() {
            // A panic in the thread was already reported by the panic hook;
            // dropping the client must not panic again.
            let _ = handle.join();
        }
    }
}

fn run(
    shared: &Shared,
    pacing: Pacing,
    generation: Arc<AtomicU64>,
    events: &Sender<Message>,
    receiver: &Receiver<Message>,
) {
    let mut watch = OsWatch::new(pacing.os_watcher, events.clone(), generation);
    lock(&shared.control).source.follow(events);
    watch.reconcile(shared);
    // A change made between the client's first read and the watches
    // being in place would otherwise wait for the poll.
    let _ = shared.check(true);
    let mut next_poll = later(Instant::now(), pacing.poll);
    // (first event, last event) of a burst not yet acted on.
    let mut pending: Option<(Instant, Instant)> = None;
    loop {
        let mut deadline = next_poll;
        if let Some((first, last)) = pending {
            deadline = deadline
                .min(later(last, pacing.debounce))
                .min(later(first, pacing.max_delay));
        }
        let wait = deadline.saturating_duration_since(Instant::now());
        match receiver.recv_timeout(wait) {
            Ok(Message::Stop) | Err(RecvTimeoutError::Disconnected) => break,
            Ok(Message::Changed) => {
                // Take every event already queued as one burst.
                let mut stop = false;
                while let Ok(message) = receiver.try_recv() {
                    stop |= matches!(message, Message::Stop);
                }
                if stop {
                    break;
                }
                let now = Instant::now();
                pending = Some(match pending {
                    Some((first, _)) => (first, now),
                    None => (now, now),
                });
            }
            Err(RecvTimeoutError::Timeout) => {}
        }
        let now = Instant::now();
        let burst_done = pending.is_some_and(|(first, last)| {
            now >= later(last, pacing.debounce) || now >= later(first, pacing.max_delay)
        });
        if burst_done || now >= next_poll {
            pending = None;
            let _ = shared.check(true);
            // Polling stays under 5% of a core: a directory of 40,000 files
            // that takes 100 ms to read is polled every 2 s, not every second.
            let cost = lock(&shared.control).source.last_look();
            next_poll = later(Instant::now(), pacing.poll.max(cost.saturating_mul(20)));
            watch.reconcile(shared);
        }
    }
    watch.shut_down();
}

/// `instant + by`, saturating instead of overflowing: a library user may
/// pass `Duration::MAX` as a poll interval or a debounce ("never"), and
/// `Instant + Duration` panics past what the platform's clock can hold.
pub(crate) fn later(instant: Instant, by: Duration) -> Instant {
    /// About a century: later than any process runs, and representable on
    /// every platform's monotonic clock.
    const FAR: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);
    instant
        .checked_add(by)
        .or_else(|| instant.checked_add(FAR.min(by)))
        .unwrap_or(instant)
}

/// The OS watcher and what it watches.
struct OsWatch {
    enabled: bool,
    watcher: Option<RecommendedWatcher>,
    /// Closed when the watcher's own thread has dropped its event handler.
    released: Option<Receiver<()>>,
    events: Sender<Message>,
    generation: Arc<AtomicU64>,
    /// What is watched, with the identity of the directory when it was
    /// watched (a directory replaced under the same path needs a new watch).
    watched: Vec<(WatchPath, Option<(u64, u64)>)>,
    /// Whether creating the watcher failed (reported once; polling goes on).
    failed: bool,
}

impl OsWatch {
    fn new(enabled: bool, events: Sender<Message>, generation: Arc<AtomicU64>) -> OsWatch {
        OsWatch {
            enabled,
            watcher: None,
            released: None,
            events,
            generation,
            watched: Vec::new(),
            failed: false,
        }
    }

    fn watcher(&mut self) -> Option<&mut RecommendedWatcher> {
        if !self.enabled || self.failed {
            return None;
        }
        if self.watcher.is_none() {
            let (alive, released) = mpsc::channel::<()>();
            let events = self.events.clone();
            let generation = self.generation.clone();
            let handler = move |event: notify::Result<notify::Event>| {
                let _alive = &alive;
                if let Ok(event) = &event
                    && is_read_only(event.kind)
                {
                    return;
                }
                // Errors (a dropped event queue) count as changes: look again.
                generation.fetch_add(1, Ordering::SeqCst);
                let _ = events.send(Message::Changed);
            };
            match notify::recommended_watcher(handler) {
                Ok(watcher) => {
                    self.watcher = Some(watcher);
                    self.released = Some(released);
                }
                Err(error) => {
                    tracing::warn!(
                        target: "flagctl::watch",
                        error = %error,
                        "cannot start the OS file watcher; polling only"
                    );
                    self.failed = true;
                    return None;
                }
            }
        }
        self.watcher.as_mut()
    }

    /// Watches what the source names now, and stops watching the rest.
    fn reconcile(&mut self, shared: &Shared) {
        let wanted = lock(&shared.control).source.watch_paths();
        if wanted.is_empty() && self.watched.is_empty() {
            return;
        }
        let mut watched = std::mem::take(&mut self.watched);
        let Some(watcher) = self.watcher() else {
            return;
        };
        watched.retain(|(path, identity)| {
            let keep = wanted.contains(path) && *identity == identity_of(&path.path);
            if !keep {
                let _ = watcher.unwatch(&path.path);
            }
            keep
        });
        for path in wanted {
            if watched.iter().any(|(known, _)| *known == path) {
                continue;
            }
            let mode = if path.recursive {
                RecursiveMode::Recursive
            } else {
                RecursiveMode::NonRecursive
            };
            // A path that does not exist yet is tried again after the next look.
            if watcher.watch(&path.path, mode).is_ok() {
                let identity = identity_of(&path.path);
                watched.push((path, identity));
            }
        }
        self.watched = watched;
    }

    /// Drops the watcher and waits (briefly) for its thread to finish with
    /// our handler, so that a dropped client leaves no thread behind.
    fn shut_down(mut self) {
        self.watcher = None;
        if let Some(released) = self.released.take() {
            let _ = released.recv_timeout(Duration::from_secs(5));
        }
    }
}

/// Events that report reading, not changing (notify reports opens; our
/// own reads would otherwise wake us up again).
fn is_read_only(kind: EventKind) -> bool {
    use notify::event::{AccessKind, AccessMode};
    matches!(
        kind,
        EventKind::Access(
            AccessKind::Open(_)
                | AccessKind::Read
                | AccessKind::Close(AccessMode::Read | AccessMode::Execute | AccessMode::Any)
        )
    )
}

/// The device and inode of a directory, to notice it was replaced.
fn identity_of(path: &PathBuf) -> Option<(u64, u64)> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
    }
    #[cfg(not(unix))]
    {
        std::fs::metadata(path).ok().map(|_| (0, 0))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

    use super::*;
    use crate::watch::{Client, Event};

    #[test]
    fn later_saturates_instead_of_overflowing() {
        let now = Instant::now();
        assert_eq!(
            later(now, Duration::from_secs(1)),
            now + Duration::from_secs(1)
        );
        assert!(later(now, Duration::MAX) > now + Duration::from_secs(365 * 24 * 60 * 60));
    }

    /// `Duration::MAX` means "never": the thread lives on, and a burst of
    /// events is still read after the longest delay.
    #[test]
    fn duration_max_does_not_panic_the_watch_thread() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let flag = |on: u32| {
            format!(
                "key: a\ntype: boolean\ndefault:\n  rollout: {{ on: {on}, off: {} }}\n",
                100 - on
            )
        };
        std::fs::create_dir_all(root.join("base")).unwrap();
        std::fs::write(root.join("flagctl.yaml"), "environments: [prod]\n").unwrap();
        std::fs::write(root.join("base/a.yaml"), flag(0)).unwrap();
        let client = Client::builder()
            .environment("prod")
            .directory(root)
            .poll_interval(Duration::MAX)
            .debounce(Duration::MAX)
            .build()
            .unwrap();
        let events = client.subscribe();
        std::fs::write(root.join("base/a.yaml"), flag(100)).unwrap();
        let applied = events.wait_for(Duration::from_secs(60), |event| {
            matches!(event, Event::Applied(_))
        });
        assert!(applied.is_some(), "the watch thread reads the change");
    }
}
