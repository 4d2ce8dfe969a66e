//! Splitting long lists of ids and envelopes into messages that keep every bound, so a
//! sender never builds a message its peer must refuse.

use crate::encoding::{BoundedVec, ByteString};
use crate::id::{PostId, SpaceId};
use crate::limits::{
    MAX_ENVELOPE_BYTES, MAX_IDS_PER_MESSAGE, MAX_MESSAGE_BYTES, MAX_POSTS_PER_BATCH,
};

use super::{Message, WireError};

/// `Want` messages asking for `ids`, at most `MAX_IDS_PER_MESSAGE` each, in order.
pub fn want_batches(space: SpaceId, ids: &[PostId]) -> Vec<Message> {
    id_chunks(ids)
        .map(|ids| Message::Want { space, ids })
        .collect()
}

/// `Have` messages announcing `ids`, at most `MAX_IDS_PER_MESSAGE` each, in order.
pub fn have_batches(space: SpaceId, ids: &[PostId]) -> Vec<Message> {
    id_chunks(ids)
        .map(|ids| Message::Have { space, ids })
        .collect()
}

/// `Posts` messages carrying `envelopes` in order, each within `MAX_POSTS_PER_BATCH`
/// envelopes and `MAX_MESSAGE_BYTES` bytes. Refuses an envelope over
/// `MAX_ENVELOPE_BYTES` (no valid envelope is).
pub fn post_batches(
    space: SpaceId,
    envelopes: impl IntoIterator<Item = Vec<u8>>,
) -> Result<Vec<Message>, WireError> {
    // Tag, space, list length.
    const HEADER: usize = 4 + 32 + 8;
    let mut batches = Vec::new();
    let mut current: Vec<ByteString> = Vec::new();
    let mut size = HEADER;
    for (index, envelope) in envelopes.into_iter().enumerate() {
        if envelope.len() > MAX_ENVELOPE_BYTES {
            return Err(WireError::EnvelopeTooLarge {
                index,
                size: envelope.len(),
                limit: MAX_ENVELOPE_BYTES,
            });
        }
        let added = 8 + envelope.len();
        if current.len() == MAX_POSTS_PER_BATCH || size + added > MAX_MESSAGE_BYTES {
            batches.push(posts(space, std::mem::take(&mut current)));
            size = HEADER;
        }
        size += added;
        current.push(ByteString(envelope));
    }
    if !current.is_empty() {
        batches.push(posts(space, current));
    }
    Ok(batches)
}

fn id_chunks(ids: &[PostId]) -> impl Iterator<Item = BoundedVec<PostId, MAX_IDS_PER_MESSAGE>> {
    // Every chunk has at most MAX_IDS_PER_MESSAGE items, so the conversion cannot fail.
    ids.chunks(MAX_IDS_PER_MESSAGE)
        .map(|chunk| BoundedVec::try_from_vec(chunk.to_vec()).unwrap_or_default())
}

fn posts(space: SpaceId, envelopes: Vec<ByteString>) -> Message {
    // The caller keeps at most MAX_POSTS_PER_BATCH envelopes per batch.
    Message::Posts {
        space,
        envelopes: BoundedVec::try_from_vec(envelopes).unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_split_at_the_bound_and_keep_their_order() {
        let ids: Vec<PostId> = (0..MAX_IDS_PER_MESSAGE + 3)
            .map(|i| PostId::from_bytes([(i % 251) as u8; 32]))
            .collect();
        let batches = want_batches(SpaceId::from_bytes([1; 32]), &ids);
        assert_eq!(batches.len(), 2);
        let mut joined = Vec::new();
        for batch in &batches {
            assert_eq!(batch.check(), Ok(()));
            match batch {
                Message::Want { ids, .. } => joined.extend_from_slice(ids),
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(joined, ids);
        assert!(have_batches(SpaceId::from_bytes([1; 32]), &[]).is_empty());
    }

    #[test]
    fn posts_are_split_by_count_and_by_bytes() {
        let space = SpaceId::from_bytes([2; 32]);
        let small = vec![vec![7u8; 10]; MAX_POSTS_PER_BATCH + 1];
        let batches = post_batches(space, small).unwrap();
        assert_eq!(batches.len(), 2);

        let big = vec![vec![7u8; MAX_ENVELOPE_BYTES]; 40];
        let batches = post_batches(space, big).unwrap();
        let mut total = 0;
        for batch in &batches {
            assert_eq!(batch.check(), Ok(()));
            assert!(batch.encode().len() <= MAX_MESSAGE_BYTES);
            if let Message::Posts { envelopes, .. } = batch {
                total += envelopes.len();
            }
        }
        assert_eq!(total, 40);
        assert!(batches.len() > 1);
    }

    #[test]
    fn an_envelope_over_the_bound_is_refused() {
        let envelopes = vec![vec![0u8; 3], vec![0u8; MAX_ENVELOPE_BYTES + 1]];
        assert_eq!(
            post_batches(SpaceId::from_bytes([2; 32]), envelopes),
            Err(WireError::EnvelopeTooLarge {
                index: 1,
                size: MAX_ENVELOPE_BYTES + 1,
                limit: MAX_ENVELOPE_BYTES
            })
        );
    }
}
