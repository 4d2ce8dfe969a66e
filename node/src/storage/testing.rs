//! Helpers for the store's tests.

use std::path::Path;
use std::time::{Duration, Instant};

use super::{Storage, StorageError};

/// Runs `open` until it stops failing with a lock still held by sled's background
/// thread of an earlier opening (it lets go within moments of the drop), for up to
/// 10 s; any other error fails the test.
pub(crate) fn retry_locked<T, E: std::fmt::Display>(
    mut open: impl FnMut() -> Result<T, E>,
    locked: impl Fn(&E) -> bool,
) -> T {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match open() {
            Ok(value) => return value,
            Err(error) if locked(&error) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(error) => panic!("{error}"),
        }
    }
}

/// Opens the store in `dir` again once an earlier opening has let go of it.
pub(crate) fn reopen(dir: &Path) -> Storage {
    retry_locked(
        || Storage::open(dir),
        |error| matches!(error, StorageError::Locked { .. }),
    )
}

/// Whether a sled error is its lock held by another opening.
pub(crate) fn sled_locked(error: &sled::Error) -> bool {
    matches!(error, sled::Error::Io(source) if source.to_string().starts_with("could not acquire lock"))
}
