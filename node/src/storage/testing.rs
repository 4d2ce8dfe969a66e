//! Helpers for the store's tests.

use std::path::Path;
use std::time::{Duration, Instant};

use parley_protocol::content::{Genesis, Thread};
use parley_protocol::encoding::BoundedVec;
use parley_protocol::{Content, NodeId, Post, SecretKey, Timestamp};

use super::{Storage, StorageError};

/// The clock of the store's fixtures.
pub(crate) const NOW: Timestamp = Timestamp::from_millis(1_800_000_000_000);

/// A space of a genesis and `threads` threads by one author, each with a body of some
/// size, dated one millisecond apart after [`NOW`].
pub(crate) fn thread_space(threads: usize) -> Vec<Post> {
    let ada = SecretKey::from_seed(&[1; 32]);
    let genesis = Genesis {
        name: "ops".into(),
        description: String::new(),
        home_node: NodeId([9; 32]),
        nonce: [0; 16],
    };
    let genesis = Post::sign_genesis(&ada, NOW, genesis, NOW).unwrap();
    let space = genesis.space();
    let mut posts = vec![genesis];
    for i in 0..threads {
        let thread = Content::Thread(Thread {
            title: format!("thread {i}"),
            body: format!("{i} ").repeat(100),
            mentions: BoundedVec::new(),
        });
        let at = NOW.saturating_add_millis(1 + i as u64);
        posts.push(Post::sign(&ada, space, at, thread, NOW).unwrap());
    }
    posts
}

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
