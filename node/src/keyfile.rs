//! Secret key files: the 32-byte seed as 64 hex digits and a newline, mode 0600, written
//! atomically. Never logged; errors name the file, never its content.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use parley_protocol::SecretKey;

/// Why a key file could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyFileError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The file does not hold a key.
    #[error("{path} does not hold a key (expected 64 hex digits)")]
    Corrupt {
        /// The file.
        path: PathBuf,
    },
    /// Others may read the file.
    #[error("{path} is readable by other users (mode {mode:o}); run `chmod 600 {path}`")]
    TooOpen {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
}

/// Reads the key in `path`, refusing a file that others may read.
pub fn read(path: &Path) -> Result<SecretKey, KeyFileError> {
    let io = |source| KeyFileError::Io {
        path: path.to_owned(),
        source,
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = fs::metadata(path).map_err(io)?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(KeyFileError::TooOpen {
                path: path.to_owned(),
                mode,
            });
        }
    }
    let text = fs::read_to_string(path).map_err(io)?;
    let corrupt = || KeyFileError::Corrupt {
        path: path.to_owned(),
    };
    let bytes = hex::decode(text.trim()).map_err(|_| corrupt())?;
    let seed: [u8; 32] = bytes.as_slice().try_into().map_err(|_| corrupt())?;
    Ok(SecretKey::from_seed(&seed))
}

/// Writes `key` to `path` with mode 0600, refusing to replace an existing file.
pub fn create(path: &Path, key: &SecretKey) -> Result<(), KeyFileError> {
    let io = |source| KeyFileError::Io {
        path: path.to_owned(),
        source,
    };
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(io)?;
    let text = format!("{}\n", hex::encode(key.to_seed()));
    file.write_all(text.as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)
}

/// A new key from the operating system's randomness.
pub fn generate() -> Result<SecretKey, getrandom::Error> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed)?;
    Ok(SecretKey::from_seed(&seed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.key");
        let key = SecretKey::from_seed(&[7; 32]);
        create(&path, &key).unwrap();
        assert_eq!(read(&path).unwrap().to_seed(), key.to_seed());
        assert!(
            create(&path, &key).is_err(),
            "an existing key is never replaced"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
            fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
            assert!(matches!(read(&path), Err(KeyFileError::TooOpen { .. })));
        }
    }

    #[test]
    fn corrupt_keys_are_named_not_shown() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.key");
        create(&path, &SecretKey::from_seed(&[7; 32])).unwrap();
        let mut options = fs::OpenOptions::new();
        options.write(true).truncate(true);
        options
            .open(&path)
            .unwrap()
            .write_all(b"secretish-garbage")
            .unwrap();
        let error = read(&path).err().unwrap().to_string();
        assert!(error.contains("does not hold a key") && !error.contains("garbage"));
    }
}
