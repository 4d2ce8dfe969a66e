//! A cache of posts read back from the log, bounded in bytes (`[storage]
//! post_cache_mb`): folding a thread again, showing it and counting unread read the
//! same recent posts many times, and each read from the log costs a system call and a
//! decode. Posts are immutable, so an entry is only ever dropped: when the post's bytes
//! are dropped for a retraction, or to make room.

use std::sync::{Arc, PoisonError, RwLock};

use parley_protocol::{Post, PostId};

/// Bytes the cache holds by default.
pub const DEFAULT_POST_CACHE_BYTES: u64 = 16 * 1024 * 1024;

/// Bytes a cached post is counted for beyond twice its envelope (the envelope and its
/// decoded form, whose body is about as long).
const OVERHEAD: u64 = 256;

type Cache = quick_cache::sync::Cache<PostId, Post, Weight>;

/// The cache; its size can be set once the configuration is read.
#[derive(Debug)]
pub(super) struct PostCache {
    cache: RwLock<Arc<Cache>>,
}

/// What a post weighs in the cache: about the memory it holds.
#[derive(Clone, Copy, Debug)]
struct Weight;

impl quick_cache::Weighter<PostId, Post> for Weight {
    fn weight(&self, _: &PostId, post: &Post) -> u64 {
        2 * post.bytes().len() as u64 + OVERHEAD
    }
}

impl PostCache {
    /// A cache of at most `bytes` (none at all for 0).
    pub(super) fn new(bytes: u64) -> Self {
        Self {
            cache: RwLock::new(Arc::new(build(bytes))),
        }
    }

    /// Starts over with room for `bytes`.
    pub(super) fn resize(&self, bytes: u64) {
        *self.cache.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(build(bytes));
    }

    fn current(&self) -> Arc<Cache> {
        self.cache
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The post `id`, if cached.
    pub(super) fn get(&self, id: &PostId) -> Option<Post> {
        self.current().get(id)
    }

    /// Keeps `post` (clones share its bytes).
    pub(super) fn insert(&self, post: &Post) {
        self.current().insert(post.id(), post.clone());
    }

    /// Forgets the post `id`.
    pub(super) fn remove(&self, id: &PostId) {
        self.current().remove(id);
    }
}

fn build(bytes: u64) -> Cache {
    let items = usize::try_from(bytes / (2048 + OVERHEAD))
        .unwrap_or(usize::MAX)
        .max(1);
    Cache::with_weighter(items, bytes.max(1), Weight)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::testing::thread_space;

    #[test]
    fn the_cache_keeps_what_fits_and_forgets_on_request() {
        let posts = thread_space(64);
        let cache = PostCache::new(16 * (4096 + OVERHEAD));
        for post in &posts {
            cache.insert(post);
        }
        let kept = posts
            .iter()
            .filter(|p| cache.get(&p.id()).is_some())
            .count();
        assert!(
            kept > 0 && kept < posts.len(),
            "{kept} of {} kept",
            posts.len()
        );
        let last = posts.last().unwrap();
        cache.insert(last);
        assert_eq!(cache.get(&last.id()).as_ref(), Some(last));
        cache.remove(&last.id());
        assert!(cache.get(&last.id()).is_none());
        cache.resize(0);
        cache.insert(last);
        assert!(
            cache.get(&last.id()).is_none(),
            "a cache of no bytes keeps nothing"
        );
    }
}
