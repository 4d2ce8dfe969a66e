//! The client's state on disk, under `--home DIR`, `PARLEY_HOME` or the platform's
//! config directory:
//!
//! - `user.key`: the user's 32-byte secret seed as 64 hex digits, mode 0600, created
//!   atomically and never overwritten. It is never printed or logged.
//! - `node`: the address of the user's node, `NODE_ID@HOST:PORT`.
//! - `drafts/`: bodies being written in `$EDITOR`, kept until the post is acknowledged.

use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use parley_protocol::SecretKey;
use parley_protocol::api::NodeAddress;

/// File name of the user's key.
pub(crate) const KEY_FILE: &str = "user.key";
/// File name of the node address.
pub(crate) const NODE_FILE: &str = "node";
/// Folder of drafts.
pub(crate) const DRAFTS_DIR: &str = "drafts";

/// Why the home directory could not give what was asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum HomeError {
    /// No home directory was given and the platform has none.
    #[error("no home directory for parley: pass --home DIR or set PARLEY_HOME")]
    NoPlatformDir,
    /// There is no user key yet.
    #[error("no user key at {}: run `parley join INVITE` first", .0.display())]
    NoKey(PathBuf),
    /// The key file is not a key.
    #[error("the user key at {} is corrupt ({reason}); restore it from a backup, or move it away and join again with a new invite", path.display())]
    CorruptKey {
        /// The file.
        path: PathBuf,
        /// What is wrong with it (never its content).
        reason: &'static str,
    },
    /// The key file can be read by other users.
    #[error("the user key at {} can be read by other users (mode {mode:04o}); run `chmod 600 {}`", path.display(), path.display())]
    KeyExposed {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// There is no node address yet.
    #[error("no node address at {}: run `parley join INVITE` first", .0.display())]
    NotJoined(PathBuf),
    /// The node file is not an address.
    #[error("the node address at {} is corrupt ({reason}); run `parley join INVITE` again", path.display())]
    CorruptNode {
        /// The file.
        path: PathBuf,
        /// Why it does not parse.
        reason: String,
    },
    /// Reading or writing failed.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
}

impl HomeError {
    /// A stable name for `--json` errors.
    pub(crate) fn code(&self) -> &'static str {
        match self {
            Self::NoPlatformDir => "no_home",
            Self::NoKey(_) => "no_key",
            Self::CorruptKey { .. } => "corrupt_key",
            Self::KeyExposed { .. } => "key_exposed",
            Self::NotJoined(_) => "not_joined",
            Self::CorruptNode { .. } => "corrupt_node_address",
            Self::Io { .. } => "io",
        }
    }
}

/// The client's home directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Home {
    dir: PathBuf,
}

impl Home {
    /// The home at `dir` (from `--home` or `PARLEY_HOME`), else the platform's config
    /// directory for parley. Nothing is created yet.
    pub(crate) fn locate(dir: Option<PathBuf>) -> Result<Self, HomeError> {
        let dir = match dir {
            Some(dir) => dir,
            None => directories::ProjectDirs::from("", "", "parley")
                .map(|dirs| dirs.config_dir().to_path_buf())
                .ok_or(HomeError::NoPlatformDir)?,
        };
        Ok(Self { dir })
    }

    /// The directory.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// The user's key. Refuses a missing, corrupt or group/world-readable key file.
    pub(crate) fn key(&self) -> Result<SecretKey, HomeError> {
        let path = self.dir.join(KEY_FILE);
        let text = match fs::read(&path) {
            Ok(text) => text,
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                return Err(HomeError::NoKey(path));
            }
            Err(source) => {
                return Err(HomeError::Io {
                    what: "reading",
                    path,
                    source,
                });
            }
        };
        check_private(&path)?;
        let seed = parse_seed(&text).map_err(|reason| HomeError::CorruptKey {
            path: path.clone(),
            reason,
        })?;
        Ok(SecretKey::from_seed(&seed))
    }

    /// The user's key, made from fresh OS randomness and stored if there is none yet.
    /// Returns whether it was created.
    pub(crate) fn key_or_create(&self) -> Result<(SecretKey, bool), HomeError> {
        match self.key() {
            Ok(key) => return Ok((key, false)),
            Err(HomeError::NoKey(_)) => {}
            Err(error) => return Err(error),
        }
        let mut seed = [0u8; 32];
        crate::entropy::fill("user key", &mut seed).map_err(|error| HomeError::Io {
            what: "reading randomness for a new key for",
            path: self.dir.join(KEY_FILE),
            source: io::Error::other(error.to_string()),
        })?;
        let key = SecretKey::from_seed(&seed);
        match self.store_key(&key) {
            Ok(()) => Ok((key, true)),
            // Another `parley` made one first: use that one.
            Err(HomeError::Io { source, .. }) if source.kind() == io::ErrorKind::AlreadyExists => {
                self.key().map(|key| (key, false))
            }
            Err(error) => Err(error),
        }
    }

    /// Stores `key` as the user's key, unless there is one already (`AlreadyExists`).
    /// The file appears whole or not at all, with mode 0600 from the start.
    pub(crate) fn store_key(&self, key: &SecretKey) -> Result<(), HomeError> {
        self.create_dir()?;
        let path = self.dir.join(KEY_FILE);
        let mut text = hex::encode(key.to_seed());
        text.push('\n');
        let temp = self.write_temp(KEY_FILE, text.as_bytes())?;
        // A hard link never replaces an existing file, unlike a rename.
        let linked = fs::hard_link(&temp, &path);
        let _ = fs::remove_file(&temp);
        linked.map_err(|source| HomeError::Io {
            what: "creating",
            path,
            source,
        })?;
        self.sync_dir();
        Ok(())
    }

    /// The node address stored by `parley join`.
    pub(crate) fn node(&self) -> Result<NodeAddress, HomeError> {
        let path = self.dir.join(NODE_FILE);
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                return Err(HomeError::NotJoined(path));
            }
            Err(error) if error.kind() == io::ErrorKind::InvalidData => {
                return Err(HomeError::CorruptNode {
                    path,
                    reason: "not UTF-8 text".to_owned(),
                });
            }
            Err(source) => {
                return Err(HomeError::Io {
                    what: "reading",
                    path,
                    source,
                });
            }
        };
        text.trim()
            .parse()
            .map_err(
                |error: parley_protocol::api::AddressParseError| HomeError::CorruptNode {
                    path,
                    reason: error.to_string(),
                },
            )
    }

    /// Stores the node address, replacing any earlier one atomically.
    pub(crate) fn set_node(&self, address: &NodeAddress) -> Result<(), HomeError> {
        self.create_dir()?;
        let path = self.dir.join(NODE_FILE);
        let temp = self.write_temp(NODE_FILE, format!("{address}\n").as_bytes())?;
        fs::rename(&temp, &path).map_err(|source| {
            let _ = fs::remove_file(&temp);
            HomeError::Io {
                what: "writing",
                path,
                source,
            }
        })?;
        self.sync_dir();
        Ok(())
    }

    /// The drafts folder, created if needed.
    pub(crate) fn drafts(&self) -> Result<PathBuf, HomeError> {
        self.create_dir()?;
        let drafts = self.dir.join(DRAFTS_DIR);
        create_private_dir(&drafts)?;
        Ok(drafts)
    }

    fn create_dir(&self) -> Result<(), HomeError> {
        create_private_dir(&self.dir)
    }

    /// Writes `bytes` to a new private file beside `name` and syncs it.
    fn write_temp(&self, name: &str, bytes: &[u8]) -> Result<PathBuf, HomeError> {
        let mut nonce = [0u8; 8];
        // A fixed suffix is still safe (create_new refuses to reuse a name), only retried less.
        let _ = getrandom::fill(&mut nonce);
        let temp = self.dir.join(format!(
            ".{name}.{}.{}.tmp",
            std::process::id(),
            hex::encode(nonce)
        ));
        let io_error = |source| HomeError::Io {
            what: "writing",
            path: temp.clone(),
            source,
        };
        let mut file = private_options().open(&temp).map_err(io_error)?;
        let written = file.write_all(bytes).and_then(|()| file.sync_all());
        if let Err(source) = written {
            let _ = fs::remove_file(&temp);
            return Err(io_error(source));
        }
        Ok(temp)
    }

    /// Makes a rename or link durable; best effort (not every platform can open a folder).
    fn sync_dir(&self) {
        if let Ok(dir) = fs::File::open(&self.dir) {
            let _ = dir.sync_all();
        }
    }
}

/// Parses the key file: 64 hex digits and optional surrounding whitespace.
fn parse_seed(text: &[u8]) -> Result<[u8; 32], &'static str> {
    let text = std::str::from_utf8(text).map_err(|_| "not text")?.trim();
    if text.is_empty() {
        return Err("empty");
    }
    if text.len() != 64 {
        return Err("not 64 hex digits");
    }
    let mut seed = [0u8; 32];
    hex::decode_to_slice(text, &mut seed).map_err(|_| "not hexadecimal")?;
    Ok(seed)
}

/// Options for a new file only its owner can read.
fn private_options() -> fs::OpenOptions {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options
}

/// Creates `dir` (and its parents) if needed; a new folder is private (0700).
fn create_private_dir(dir: &Path) -> Result<(), HomeError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|source| HomeError::Io {
        what: "creating",
        path: dir.to_path_buf(),
        source,
    })
}

/// Refuses a key file others can read or write.
fn check_private(path: &Path) -> Result<(), HomeError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let metadata = fs::metadata(path).map_err(|source| HomeError::Io {
            what: "reading",
            path: path.to_path_buf(),
            source,
        })?;
        let mode = metadata.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(HomeError::KeyExposed {
                path: path.to_path_buf(),
                mode,
            });
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use parley_protocol::NodeId;

    use super::*;

    fn home() -> (tempfile::TempDir, Home) {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::locate(Some(dir.path().join("home"))).unwrap();
        (dir, home)
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_new_key_is_private_and_stays_the_same() {
        let (_dir, home) = home();
        assert!(matches!(home.key(), Err(HomeError::NoKey(_))));
        let (key, created) = home.key_or_create().unwrap();
        assert!(created);
        let path = home.dir().join(KEY_FILE);
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(home.dir()), 0o700);
        let (again, created) = home.key_or_create().unwrap();
        assert!(!created);
        assert_eq!(again.user_id(), key.user_id());
        assert_eq!(home.key().unwrap().user_id(), key.user_id());
        // Only the key file is left: no temporary files.
        let names: Vec<_> = fs::read_dir(home.dir())
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![KEY_FILE]);
    }

    #[test]
    fn an_existing_key_is_never_overwritten() {
        let (_dir, home) = home();
        home.store_key(&SecretKey::from_seed(&[1; 32])).unwrap();
        let error = home.store_key(&SecretKey::from_seed(&[2; 32])).unwrap_err();
        assert!(
            matches!(&error, HomeError::Io { source, .. } if source.kind() == io::ErrorKind::AlreadyExists)
        );
        assert_eq!(
            home.key().unwrap().user_id(),
            SecretKey::from_seed(&[1; 32]).user_id()
        );
    }

    #[test]
    fn corrupt_keys_are_explained_without_their_content() {
        let (_dir, home) = home();
        home.store_key(&SecretKey::from_seed(&[1; 32])).unwrap();
        let path = home.dir().join(KEY_FILE);
        for (content, reason) in [
            (&b""[..], "empty"),
            (b"  \n", "empty"),
            (b"abcd\n", "not 64 hex digits"),
            (&[0xff, 0xfe][..], "not text"),
        ] {
            fs::write(&path, content).unwrap();
            let error = home.key().unwrap_err();
            assert!(
                matches!(&error, HomeError::CorruptKey { reason: r, .. } if *r == reason),
                "{error}"
            );
            assert_eq!(error.code(), "corrupt_key");
        }
        let secret = "zz".repeat(32);
        fs::write(&path, &secret).unwrap();
        let message = home.key().unwrap_err().to_string();
        assert!(message.contains("not hexadecimal"), "{message}");
        assert!(!message.contains(&secret), "{message}");
        assert!(message.contains("corrupt"));
    }

    #[test]
    fn a_readable_key_is_refused_with_the_fix() {
        let (_dir, home) = home();
        home.store_key(&SecretKey::from_seed(&[1; 32])).unwrap();
        let path = home.dir().join(KEY_FILE);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let message = home.key().unwrap_err().to_string();
        assert!(message.contains("chmod 600"), "{message}");
        assert!(message.contains("0644"), "{message}");
    }

    #[test]
    fn the_node_address_round_trips_and_corruption_is_clear() {
        let (_dir, home) = home();
        assert!(matches!(home.node(), Err(HomeError::NotJoined(_))));
        assert!(home.node().unwrap_err().to_string().contains("parley join"));
        let address = NodeAddress {
            node: NodeId([7; 32]),
            host_port: "127.0.0.1:7447".to_owned(),
        };
        home.set_node(&address).unwrap();
        assert_eq!(home.node().unwrap(), address);
        let other = NodeAddress {
            host_port: "example.org:9".to_owned(),
            ..address
        };
        home.set_node(&other).unwrap();
        assert_eq!(home.node().unwrap(), other);
        fs::write(home.dir().join(NODE_FILE), "nonsense").unwrap();
        let error = home.node().unwrap_err();
        assert_eq!(error.code(), "corrupt_node_address");
        assert!(error.to_string().contains("no `@`"), "{error}");
        fs::write(home.dir().join(NODE_FILE), [0xff, 0xfe]).unwrap();
        assert_eq!(home.node().unwrap_err().code(), "corrupt_node_address");
    }

    #[test]
    fn drafts_live_in_a_private_folder() {
        let (_dir, home) = home();
        let drafts = home.drafts().unwrap();
        assert!(drafts.ends_with(DRAFTS_DIR) && drafts.is_dir());
        assert_eq!(mode(&drafts), 0o700);
    }

    #[test]
    fn the_default_home_is_the_platform_config_dir() {
        let home = Home::locate(None);
        // Some CI machines have no HOME; then the error says what to do.
        match home {
            Ok(home) => assert!(home.dir().ends_with("parley")),
            Err(error) => assert!(error.to_string().contains("--home")),
        }
    }
}
