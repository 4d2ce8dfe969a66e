//! Group commit: one task stores posts for everyone, so that one flush (fsync) covers
//! every request that queued while the previous flush ran.
//!
//! ```text
//! request ─┐                       ┌─ apply one batch (all posts of the group)
//! request ─┼─ bounded queue ─ task ┼─ flush, then
//! request ─┘                       └─ acknowledge every request of the group
//! ```
//!
//! A request is acknowledged only after the flush that covers its posts succeeded;
//! when storing or flushing fails, every request of the group gets the error. Under
//! load groups grow (up to [`MAX_GROUP_POSTS`] posts or [`MAX_GROUP_BYTES`] bytes), so
//! the cost of a flush is shared; alone, a request is stored and flushed at once.

use parley_protocol::Post;
use tokio::sync::{mpsc, oneshot};

use super::posts::Inserted;
use super::{Storage, StorageError};

/// The most posts one group stores.
pub const MAX_GROUP_POSTS: usize = 4096;
/// The most envelope bytes one group stores (a request larger than this alone still
/// makes a group of its own).
pub const MAX_GROUP_BYTES: usize = 16 * 1024 * 1024;
/// Requests waiting for the commit task; submitters wait when it is full.
const QUEUE: usize = 1024;

/// What one request gets back.
type Ack = Result<Vec<Inserted>, StorageError>;

/// One submitter's posts and where to acknowledge them.
#[derive(Debug)]
struct Request {
    posts: Vec<Post>,
    bytes: usize,
    ack: oneshot::Sender<Ack>,
}

/// Starts the commit task.
#[derive(Debug)]
pub struct Committer;

impl Committer {
    /// Spawns the commit task for `storage` on the current tokio runtime. It runs until
    /// every [`CommitHandle`] is dropped, then stops after its last group.
    pub fn spawn(storage: Storage) -> CommitHandle {
        let (sender, receiver) = mpsc::channel(QUEUE);
        tokio::spawn(run(storage, receiver));
        CommitHandle { sender }
    }
}

/// Submits posts to the commit task. Cloning is cheap.
#[derive(Clone, Debug)]
pub struct CommitHandle {
    sender: mpsc::Sender<Request>,
}

impl CommitHandle {
    /// Stores `posts` (atomically, with their index entries) and returns, once they are
    /// flushed to disk, what happened to each, in order.
    pub async fn commit(&self, posts: Vec<Post>) -> Result<Vec<Inserted>, StorageError> {
        let (ack, acked) = oneshot::channel();
        let bytes = posts.iter().map(|post| post.bytes().len()).sum();
        self.sender
            .send(Request { posts, bytes, ack })
            .await
            .map_err(|_| StorageError::CommitterStopped)?;
        acked.await.unwrap_or(Err(StorageError::CommitterStopped))
    }
}

/// The commit task: take a group, store it, flush, acknowledge; repeat.
async fn run(storage: Storage, mut requests: mpsc::Receiver<Request>) {
    let mut carried: Option<Request> = None;
    loop {
        let first = match carried.take() {
            Some(request) => request,
            None => match requests.recv().await {
                Some(request) => request,
                None => return,
            },
        };
        let (mut posts, mut bytes) = (first.posts.len(), first.bytes);
        let mut group = vec![first];
        while posts < MAX_GROUP_POSTS && bytes < MAX_GROUP_BYTES {
            let Ok(request) = requests.try_recv() else {
                break;
            };
            if posts + request.posts.len() > MAX_GROUP_POSTS
                || bytes + request.bytes > MAX_GROUP_BYTES
            {
                carried = Some(request);
                break;
            }
            posts += request.posts.len();
            bytes += request.bytes;
            group.push(request);
        }
        commit_group(&storage, group).await;
    }
}

/// Stores and flushes one group, then acknowledges each of its requests.
async fn commit_group(storage: &Storage, group: Vec<Request>) {
    let mut posts = Vec::with_capacity(group.iter().map(|r| r.posts.len()).sum());
    let mut acks = Vec::with_capacity(group.len());
    for request in group {
        acks.push((request.posts.len(), request.ack));
        posts.extend(request.posts);
    }
    let result = store(storage, posts).await;
    match result {
        Ok(outcomes) => {
            let mut outcomes = outcomes.into_iter();
            for (count, ack) in acks {
                // A submitter that went away no longer needs its answer.
                let _ = ack.send(Ok(outcomes.by_ref().take(count).collect()));
            }
        }
        Err(error) => {
            tracing::error!(%error, posts = acks.iter().map(|(n, _)| n).sum::<usize>(), "storing a group of posts failed");
            for (_, ack) in acks {
                let _ = ack.send(Err(error.clone()));
            }
        }
    }
}

/// Applies the batch and flushes, both off the async threads. The flush is sled's
/// blocking one: its `flush_async` runs on sled's own thread pool while holding a read
/// guard of a lock that every store of the process shares, and with several stores in
/// one process (tests, benchmarks) it can deadlock against a batch being applied
/// (spacejam/sled#1241).
async fn store(storage: &Storage, posts: Vec<Post>) -> Result<Vec<Inserted>, StorageError> {
    let writer = storage.clone();
    tokio::task::spawn_blocking(move || {
        let outcomes = writer.insert(&posts)?;
        writer.flush()?;
        Ok(outcomes)
    })
    .await
    .map_err(|_| StorageError::CommitterStopped)?
}

#[cfg(test)]
mod tests {
    use parley_protocol::content::Thread;
    use parley_protocol::encoding::BoundedVec;
    use parley_protocol::{Content, SecretKey, SpaceId, Timestamp};

    use super::*;

    fn posts(n: u32) -> Vec<Post> {
        let now = Timestamp::from_millis(1_800_000_000_000);
        let key = SecretKey::from_seed(&[1; 32]);
        (0..n)
            .map(|i| {
                let content = Content::Thread(Thread {
                    title: format!("t{i}"),
                    body: String::new(),
                    mentions: BoundedVec::new(),
                });
                Post::sign(&key, SpaceId::from_bytes([1; 32]), now, content, now).unwrap()
            })
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_requests_are_each_acknowledged_with_their_own_outcomes() {
        let tmp = tempfile::tempdir().unwrap();
        let storage = crate::storage::testing::reopen(tmp.path());
        let handle = Committer::spawn(storage.clone());
        let all = posts(40);
        let tasks: Vec<_> = all
            .chunks(4)
            .map(|chunk| {
                let handle = handle.clone();
                let mut request = chunk.to_vec();
                request.push(chunk[0].clone());
                tokio::spawn(async move { handle.commit(request).await })
            })
            .collect();
        for task in tasks {
            let outcomes = task.await.unwrap().unwrap();
            assert_eq!(
                outcomes,
                [
                    Inserted::New,
                    Inserted::New,
                    Inserted::New,
                    Inserted::New,
                    Inserted::Duplicate
                ]
            );
        }
        assert_eq!(
            handle.commit(all[..2].to_vec()).await.unwrap(),
            [Inserted::Duplicate; 2]
        );
        assert_eq!(storage.count(&SpaceId::from_bytes([1; 32])).unwrap(), 40);
        assert_eq!(handle.commit(Vec::new()).await.unwrap(), []);
    }
}
