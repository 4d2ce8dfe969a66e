//! The data directory's lock: who may open the store. A running (or starting) node holds
//! it for its whole life; an admin command on a stopped node holds it for the moment it
//! works on the store. The holder writes who it is into the file, so the others can tell
//! a running node (talk to it over its admin API) from a brief admin command (wait for
//! it), and a node never refuses to start because `parleyd status` happened to run.
//!
//! The lock is an advisory whole-file lock (`flock` on Unix), released by the operating
//! system when its holder exits, however it exits. A holder's note that outlives it (a
//! `kill -9`) is recognised by its process no longer existing.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The lock file's name in the data directory.
pub const LOCK_FILE: &str = "parleyd.lock";

/// How often a waiter looks again.
const POLL: Duration = Duration::from_millis(25);

/// Who holds (or last held) the lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Holder {
    /// A node, running or starting, in process `pid`.
    Node {
        /// Its process id.
        pid: u32,
    },
    /// An admin command on the stopped node's store, in process `pid`.
    Admin {
        /// Its process id.
        pid: u32,
    },
}

impl Holder {
    fn note(self) -> String {
        match self {
            Self::Node { pid } => format!("node {pid}\n"),
            Self::Admin { pid } => format!("admin {pid}\n"),
        }
    }

    fn parse(text: &str) -> Option<Self> {
        let (role, pid) = text.trim().split_once(' ')?;
        let pid = pid.parse().ok()?;
        match role {
            "node" => Some(Self::Node { pid }),
            "admin" => Some(Self::Admin { pid }),
            _ => None,
        }
    }

    fn pid(self) -> u32 {
        match self {
            Self::Node { pid } | Self::Admin { pid } => pid,
        }
    }
}

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LockError {
    /// Another node runs (or starts) on this data directory.
    #[error("a node is already running on {} (process {pid})", dir.display())]
    NodeRunning {
        /// The data directory.
        dir: PathBuf,
        /// The node's process id.
        pid: u32,
    },
    /// The lock stayed held by something other than a node for longer than allowed.
    #[error("{} is locked by {holder} and stayed locked for {waited:?}", dir.display())]
    Busy {
        /// The data directory.
        dir: PathBuf,
        /// Who holds it, as far as its note says.
        holder: String,
        /// How long this process waited.
        waited: Duration,
    },
    /// The lock file could not be opened or locked.
    #[error("locking {}: {source}", path.display())]
    Io {
        /// The lock file.
        path: PathBuf,
        /// What failed.
        #[source]
        source: std::io::Error,
    },
}

/// The lock, held until dropped.
#[derive(Debug)]
pub struct DirLock {
    file: File,
}

/// What a try at the lock found.
enum Attempt {
    Taken(DirLock),
    /// Held; by whom, if its holder's note is current.
    Held(Option<Holder>),
}

impl DirLock {
    /// Takes the lock for a node about to serve `dir`: waits while an admin command
    /// holds it (up to `patience`), and refuses when another node holds it.
    pub fn for_node(dir: &Path, patience: Duration) -> Result<Self, LockError> {
        let start = Instant::now();
        let mut told = false;
        loop {
            match attempt(
                dir,
                Holder::Node {
                    pid: std::process::id(),
                },
            )? {
                Attempt::Taken(lock) => return Ok(lock),
                Attempt::Held(Some(Holder::Node { pid })) => {
                    return Err(LockError::NodeRunning {
                        dir: dir.to_owned(),
                        pid,
                    });
                }
                Attempt::Held(holder) => {
                    if !told {
                        if let Some(Holder::Admin { pid }) = holder {
                            tracing::info!(
                                pid,
                                "waiting for an admin command to finish with the store"
                            );
                        }
                        told = true;
                    }
                    if start.elapsed() >= patience {
                        return Err(busy(dir, holder, start.elapsed()));
                    }
                }
            }
            std::thread::sleep(POLL);
        }
    }

    /// Takes the lock for an admin command working on the store of a stopped node;
    /// `Ok(None)` when a node runs or starts on `dir` (then ask it instead). Waits while
    /// another admin command holds it (up to `patience`).
    pub fn for_admin(dir: &Path, patience: Duration) -> Result<Option<Self>, LockError> {
        let start = Instant::now();
        loop {
            match attempt(
                dir,
                Holder::Admin {
                    pid: std::process::id(),
                },
            )? {
                Attempt::Taken(lock) => return Ok(Some(lock)),
                Attempt::Held(Some(Holder::Node { .. })) => return Ok(None),
                Attempt::Held(holder) => {
                    if start.elapsed() >= patience {
                        return Err(busy(dir, holder, start.elapsed()));
                    }
                }
            }
            std::thread::sleep(POLL);
        }
    }

    /// Whether a node holds the lock of `dir` now (running or starting).
    pub fn node_holds(dir: &Path) -> Result<bool, LockError> {
        match attempt(
            dir,
            Holder::Admin {
                pid: std::process::id(),
            },
        )? {
            Attempt::Taken(_) => Ok(false),
            Attempt::Held(holder) => Ok(matches!(holder, Some(Holder::Node { .. }))),
        }
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        // Clear the note, then let go; the system releases the lock at exit anyway.
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

fn busy(dir: &Path, holder: Option<Holder>, waited: Duration) -> LockError {
    let holder = match holder {
        Some(Holder::Admin { pid }) => format!("a parleyd admin command (process {pid})"),
        Some(Holder::Node { pid }) => format!("a node (process {pid})"),
        None => "another process".to_owned(),
    };
    LockError::Busy {
        dir: dir.to_owned(),
        holder,
        waited,
    }
}

/// One try at the lock of `dir` for `me`.
fn attempt(dir: &Path, me: Holder) -> Result<Attempt, LockError> {
    let path = dir.join(LOCK_FILE);
    let io = |source| LockError::Io {
        path: path.clone(),
        source,
    };
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io)?;
    match file.try_lock() {
        Ok(()) => {
            file.set_len(0).map_err(io)?;
            file.seek(SeekFrom::Start(0)).map_err(io)?;
            file.write_all(me.note().as_bytes()).map_err(io)?;
            file.flush().map_err(io)?;
            Ok(Attempt::Taken(DirLock { file }))
        }
        Err(TryLockError::WouldBlock) => {
            let mut text = String::new();
            // A note being written may be read half-way; it then parses as nothing.
            let _ = file.read_to_string(&mut text);
            let holder = Holder::parse(&text).filter(|h| alive(h.pid()));
            Ok(Attempt::Held(holder))
        }
        Err(TryLockError::Error(source)) => Err(io(source)),
    }
}

/// Whether process `pid` exists (a note left by a killed holder names a dead one, or,
/// rarely, a reused pid: then the waiter waits out its patience and says so).
fn alive(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        Path::new("/proc").join(pid.to_string()).exists()
    } else {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_admin_command_gets_the_lock_of_a_stopped_node_and_a_node_waits_for_it() {
        let dir = tempfile::tempdir().unwrap();
        let admin = DirLock::for_admin(dir.path(), Duration::from_secs(5))
            .unwrap()
            .expect("no node runs");
        let waiter = {
            let dir = dir.path().to_owned();
            std::thread::spawn(move || DirLock::for_node(&dir, Duration::from_secs(10)))
        };
        std::thread::sleep(Duration::from_millis(200));
        assert!(
            !waiter.is_finished(),
            "the node waits while the admin command works"
        );
        drop(admin);
        let node = waiter.join().unwrap().expect("the node gets the lock");
        // While the node holds it, admin commands are told to ask the node.
        assert!(
            DirLock::for_admin(dir.path(), Duration::from_secs(1))
                .unwrap()
                .is_none()
        );
        assert!(DirLock::node_holds(dir.path()).unwrap());
        // And a second node is refused at once.
        match DirLock::for_node(dir.path(), Duration::from_secs(5)) {
            Err(LockError::NodeRunning { pid, .. }) => assert_eq!(pid, std::process::id()),
            other => panic!("{other:?}"),
        }
        drop(node);
        assert!(!DirLock::node_holds(dir.path()).unwrap());
    }

    #[test]
    fn a_node_waits_only_so_long_for_a_lock_that_stays_held() {
        let dir = tempfile::tempdir().unwrap();
        let _admin = DirLock::for_admin(dir.path(), Duration::from_secs(1))
            .unwrap()
            .unwrap();
        let dir_path = dir.path().to_owned();
        let error = std::thread::spawn(move || {
            DirLock::for_node(&dir_path, Duration::from_millis(200)).unwrap_err()
        })
        .join()
        .unwrap();
        assert!(matches!(error, LockError::Busy { .. }), "{error}");
        assert!(error.to_string().contains("admin command"), "{error}");
    }

    #[test]
    fn a_note_left_by_a_dead_process_is_not_taken_for_a_holder() {
        assert_eq!(Holder::parse("node 12\n"), Some(Holder::Node { pid: 12 }));
        assert_eq!(Holder::parse("admin 7"), Some(Holder::Admin { pid: 7 }));
        assert_eq!(Holder::parse("nod"), None);
        assert_eq!(Holder::parse(""), None);
        // A stale note in an unlocked file does not stop anyone.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(LOCK_FILE), "node 4000000000\n").unwrap();
        drop(DirLock::for_node(dir.path(), Duration::from_secs(1)).unwrap());
    }
}
