//! Room on the disk: a store never writes posts into the last bytes of its filesystem.
//! Running out of space mid-write leaves sled failing every later read and write until
//! it is reopened, so the store refuses posts ([`StorageError::DiskFull`]) while less
//! than a reserve is free, keeps serving reads, and takes posts again by itself once
//! space is freed.

use std::sync::atomic::Ordering;

use super::{Storage, StorageError};

/// Bytes kept free on the store's filesystem unless configured otherwise.
pub const DEFAULT_MIN_FREE_BYTES: u64 = 64 * 1024 * 1024;

impl Storage {
    /// Bytes free for this process on the filesystem holding the store.
    pub fn free_bytes(&self) -> Result<u64, StorageError> {
        let stats = rustix::fs::statvfs(self.path()).map_err(|error| StorageError::Io {
            path: self.path().to_path_buf(),
            source: std::sync::Arc::new(error.into()),
        })?;
        Ok(stats.f_bavail.saturating_mul(stats.f_frsize))
    }

    /// Sets the bytes kept free: posts are refused while less would remain.
    pub fn set_min_free_bytes(&self, bytes: u64) {
        self.min_free.store(bytes, Ordering::Relaxed);
    }

    /// The bytes kept free.
    pub fn min_free_bytes(&self) -> u64 {
        self.min_free.load(Ordering::Relaxed)
    }

    /// Refuses a write of about `bytes` that would leave less than the reserve free.
    pub(super) fn check_room(&self, bytes: u64) -> Result<(), StorageError> {
        let free = self.free_bytes()?;
        let min_free = self.min_free_bytes();
        if free.saturating_sub(bytes) < min_free {
            return Err(StorageError::DiskFull { free, min_free });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::testing::thread_space;

    #[test]
    fn posts_are_refused_while_the_disk_is_short_and_taken_again_after() {
        let tmp = tempfile::tempdir().unwrap();
        let storage = Storage::open(tmp.path()).unwrap();
        let posts = thread_space(3);
        storage.insert(&posts[..2]).unwrap();
        assert!(storage.free_bytes().unwrap() > 0);
        // A reserve larger than the disk: as if it were full.
        storage.set_min_free_bytes(u64::MAX);
        let refused = storage.insert(&posts[2..]).unwrap_err();
        assert!(
            matches!(refused, StorageError::DiskFull { .. }),
            "{refused}"
        );
        assert!(refused.to_string().contains("reads go on"), "{refused}");
        // Reads go on, and nothing was half-written.
        assert_eq!(storage.space_posts(&posts[0].space()).unwrap().len(), 2);
        assert!(!storage.contains(&posts[2].id()).unwrap());
        // Space is freed: posts are taken again, with no restart.
        storage.set_min_free_bytes(0);
        storage.insert(&posts[2..]).unwrap();
        assert_eq!(
            storage.space_posts(&posts[0].space()).unwrap().len(),
            posts.len()
        );
    }
}
