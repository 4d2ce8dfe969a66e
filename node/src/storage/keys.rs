//! Keys of the store's one tree: a tag byte, then fixed-width fields (see the layout
//! table in the module documentation).

use parley_protocol::sync::Item;
use parley_protocol::{NodeId, PostId, SpaceId, Timestamp, UserId};

use super::error::{Corruption, StorageError};

/// The format record.
pub(super) const META: &[u8] = b"m";
/// Posts held in full: `p id`.
pub(super) const POST: u8 = b'p';
/// Reconciliation items: `i space created_at id`.
pub(super) const ITEM: u8 = b'i';
/// Thread index: `t space anchor created_at id`.
pub(super) const THREAD: u8 = b't';
/// Genesis index: `g space id`.
pub(super) const GENESIS: u8 = b'g';
/// Governance index: `k space created_at id`.
pub(super) const GOVERNANCE: u8 = b'k';
/// Tombstones: `x id`.
pub(super) const TOMBSTONE: u8 = b'x';
/// Log records still to be erased: `e pointer`.
pub(super) const ERASE: u8 = b'e';
/// Space state: `s space`.
pub(super) const SPACE_STATE: u8 = b's';
/// Registered users: `u user`.
pub(super) const USER: u8 = b'u';
/// Invites: `v blake3(token)`.
pub(super) const INVITE: u8 = b'v';
/// Read cursors: `r user space id`.
pub(super) const READ: u8 = b'r';
/// Peer nodes: `n node`.
pub(super) const PEER: u8 = b'n';
/// Posts whose record was found damaged and are treated as not held: `q id`.
pub(super) const QUARANTINE: u8 = b'q';

/// The read model's format record.
pub(super) const READ_MODEL_META: &[u8] = b"M";
/// What each post is filed under: `a id`.
pub(super) const UP: u8 = b'a';
/// Threads to fold again: `d space root`.
pub(super) const DIRTY: u8 = b'd';
/// Spaces whose threads from a point on must be folded again: `z space`.
pub(super) const STALE: u8 = b'z';
/// Thread-list lines: `h space root`.
pub(super) const LINE: u8 = b'h';
/// The thread list's order: `l space !last_activity root`.
pub(super) const LIST: u8 = b'l';
/// The decision log's order: `j space !decided_at !resolve`.
pub(super) const DECISION: u8 = b'j';
/// Threads shown per space: `c space`.
pub(super) const LINE_COUNT: u8 = b'c';
/// Threads in the order they were last folded: `o space seq root`.
pub(super) const CHANGE: u8 = b'o';
/// The last fold each user's unread count has seen: `y user space`.
pub(super) const SEEN: u8 = b'y';
/// Threads with posts a user has not read, at their last count: `f user space root`.
pub(super) const UNREAD: u8 = b'f';
/// Where in the log a user's reading of a space is: `w user space`.
pub(super) const READ_MARK: u8 = b'w';

/// Threads whose search documents are not yet committed to the search index:
/// `E space root`.
pub(super) const SEARCH: u8 = b'E';
/// The search index's rebuild position: `B`.
pub(super) const SEARCH_BUILD: &[u8] = b"B";

/// Sums of runs of a space's items: `I space level created_at id`.
pub(super) const SUM: u8 = b'I';
/// The sums' format record.
pub(super) const SUMS_META: &[u8] = b"S";

/// The value of an item whose post is a tombstone; a post held in full has an empty one.
pub(super) const TOMBSTONE_MARK: &[u8] = b"x";

const ID: usize = 32;
const TIME: usize = 8;
/// Length of an item key.
const ITEM_LEN: usize = 1 + ID + TIME + ID;

/// `p id`.
pub(super) fn post(id: &PostId) -> Vec<u8> {
    build(POST, &[id.as_bytes()])
}

/// `x id`.
pub(super) fn tombstone(id: &PostId) -> Vec<u8> {
    build(TOMBSTONE, &[id.as_bytes()])
}

/// `q id`.
pub(super) fn quarantine(id: &PostId) -> Vec<u8> {
    build(QUARANTINE, &[id.as_bytes()])
}

/// `e pointer`.
pub(super) fn erase(pointer: &[u8]) -> Vec<u8> {
    build(ERASE, &[pointer])
}

/// `i space created_at id`.
pub(super) fn item(space: &SpaceId, item: &Item) -> Vec<u8> {
    build(
        ITEM,
        &[
            space.as_bytes(),
            &item.created_at.as_millis().to_be_bytes(),
            item.id.as_bytes(),
        ],
    )
}

/// `I space level created_at id`: the sum of a run of items starting at `first`.
pub(super) fn sum(space: &SpaceId, level: u8, first: &Item) -> Vec<u8> {
    build(
        SUM,
        &[
            space.as_bytes(),
            &[level],
            &first.created_at.as_millis().to_be_bytes(),
            first.id.as_bytes(),
        ],
    )
}

/// `I space level`: the runs of one level of a space.
pub(super) fn sums_of(space: &SpaceId, level: u8) -> Vec<u8> {
    build(SUM, &[space.as_bytes(), &[level]])
}

/// The first item of a sum key.
pub(super) fn parse_sum(key: &[u8]) -> Result<Item, StorageError> {
    const LEN: usize = 1 + ID + 1 + TIME + ID;
    if key.len() != LEN {
        return Err(corrupt(
            key,
            Corruption::Length {
                expected: LEN,
                found: key.len(),
            },
        ));
    }
    let at = 1 + ID + 1;
    let created_at = u64::from_be_bytes(array(&key[at..at + TIME]));
    let id = PostId::from_bytes(array(&key[at + TIME..]));
    Ok(Item::new(Timestamp::from_millis(created_at), id))
}

/// `k space created_at id`: a post deciding membership or replicas.
pub(super) fn governance(space: &SpaceId, item: &Item) -> Vec<u8> {
    build(
        GOVERNANCE,
        &[
            space.as_bytes(),
            &item.created_at.as_millis().to_be_bytes(),
            item.id.as_bytes(),
        ],
    )
}

/// `k space`: the governance posts of a space.
pub(super) fn governance_of(space: &SpaceId) -> Vec<u8> {
    build(GOVERNANCE, &[space.as_bytes()])
}

/// `i space`: every item of a space.
pub(super) fn items_of(space: &SpaceId) -> Vec<u8> {
    build(ITEM, &[space.as_bytes()])
}

/// The space and item of an item key.
pub(super) fn parse_item(key: &[u8]) -> Result<(SpaceId, Item), StorageError> {
    if key.len() != ITEM_LEN {
        return Err(corrupt(
            key,
            Corruption::Length {
                expected: ITEM_LEN,
                found: key.len(),
            },
        ));
    }
    let space = SpaceId::from_bytes(array(&key[1..1 + ID]));
    let created_at = u64::from_be_bytes(array(&key[1 + ID..1 + ID + TIME]));
    let id = PostId::from_bytes(array(&key[1 + ID + TIME..]));
    Ok((space, Item::new(Timestamp::from_millis(created_at), id)))
}

/// `t space anchor created_at id`.
pub(super) fn thread(space: &SpaceId, anchor: &PostId, item: &Item) -> Vec<u8> {
    build(
        THREAD,
        &[
            space.as_bytes(),
            anchor.as_bytes(),
            &item.created_at.as_millis().to_be_bytes(),
            item.id.as_bytes(),
        ],
    )
}

/// `t space anchor`: every post filed under `anchor`.
pub(super) fn filed_under(space: &SpaceId, anchor: &PostId) -> Vec<u8> {
    build(THREAD, &[space.as_bytes(), anchor.as_bytes()])
}

/// `g space id`.
pub(super) fn genesis(space: &SpaceId, id: &PostId) -> Vec<u8> {
    build(GENESIS, &[space.as_bytes(), id.as_bytes()])
}

/// `g space`.
pub(super) fn genesis_of(space: &SpaceId) -> Vec<u8> {
    build(GENESIS, &[space.as_bytes()])
}

/// `s space`.
pub(super) fn space_state(space: &SpaceId) -> Vec<u8> {
    build(SPACE_STATE, &[space.as_bytes()])
}

/// `u user`.
pub(super) fn user(user: &UserId) -> Vec<u8> {
    build(USER, &[user.as_bytes()])
}

/// `v hash`.
pub(super) fn invite(hash: &[u8; 32]) -> Vec<u8> {
    build(INVITE, &[hash])
}

/// `r user space id`.
pub(super) fn read(user: &UserId, space: &SpaceId, id: &PostId) -> Vec<u8> {
    build(READ, &[user.as_bytes(), space.as_bytes(), id.as_bytes()])
}

/// `r user space`.
pub(super) fn read_in(user: &UserId, space: &SpaceId) -> Vec<u8> {
    build(READ, &[user.as_bytes(), space.as_bytes()])
}

/// `w user space`.
pub(super) fn read_mark(user: &UserId, space: &SpaceId) -> Vec<u8> {
    build(READ_MARK, &[user.as_bytes(), space.as_bytes()])
}

/// `n node`.
pub(super) fn peer(node: &NodeId) -> Vec<u8> {
    build(PEER, &[node.as_bytes()])
}

/// The id that ends `key` (item, thread, genesis and read keys all end with one), after
/// checking the key has the length its layout gives it.
pub(super) fn trailing_id(key: &[u8], expected_len: usize) -> Result<PostId, StorageError> {
    if key.len() != expected_len {
        return Err(corrupt(
            key,
            Corruption::Length {
                expected: expected_len,
                found: key.len(),
            },
        ));
    }
    Ok(PostId::from_bytes(array(&key[key.len() - ID..])))
}

/// The 32 bytes after the tag of a `u`, `s` or `n` key.
pub(super) fn single_id(key: &[u8]) -> Result<[u8; 32], StorageError> {
    if key.len() != 1 + ID {
        return Err(corrupt(
            key,
            Corruption::Length {
                expected: 1 + ID,
                found: key.len(),
            },
        ));
    }
    Ok(array(&key[1..]))
}

/// `a id`.
pub(super) fn up(id: &PostId) -> Vec<u8> {
    build(UP, &[id.as_bytes()])
}

/// `d space root`.
pub(super) fn dirty(space: &SpaceId, root: &PostId) -> Vec<u8> {
    build(DIRTY, &[space.as_bytes(), root.as_bytes()])
}

/// `d space`.
pub(super) fn dirty_in(space: &SpaceId) -> Vec<u8> {
    build(DIRTY, &[space.as_bytes()])
}

/// `E space root`.
pub(super) fn search(space: &SpaceId, root: &PostId) -> Vec<u8> {
    build(SEARCH, &[space.as_bytes(), root.as_bytes()])
}

/// `z space`.
pub(super) fn stale(space: &SpaceId) -> Vec<u8> {
    build(STALE, &[space.as_bytes()])
}

/// `h space root`.
pub(super) fn line(space: &SpaceId, root: &PostId) -> Vec<u8> {
    build(LINE, &[space.as_bytes(), root.as_bytes()])
}

/// `l space !last_activity root`: newest activity first, then by id.
pub(super) fn list(space: &SpaceId, last_activity: Timestamp, root: &PostId) -> Vec<u8> {
    build(
        LIST,
        &[
            space.as_bytes(),
            &(!last_activity.as_millis()).to_be_bytes(),
            root.as_bytes(),
        ],
    )
}

/// `l space`.
pub(super) fn list_of(space: &SpaceId) -> Vec<u8> {
    build(LIST, &[space.as_bytes()])
}

/// `j space !decided_at !resolve`: newest decision (by the resolve's sort key) first.
pub(super) fn decision(space: &SpaceId, decided_at: Timestamp, resolve: &PostId) -> Vec<u8> {
    let mut flipped = *resolve.as_bytes();
    for byte in &mut flipped {
        *byte = !*byte;
    }
    build(
        DECISION,
        &[
            space.as_bytes(),
            &(!decided_at.as_millis()).to_be_bytes(),
            &flipped,
        ],
    )
}

/// `j space`.
pub(super) fn decisions_of(space: &SpaceId) -> Vec<u8> {
    build(DECISION, &[space.as_bytes()])
}

/// `o space seq root`.
pub(super) fn change(space: &SpaceId, seq: u64, root: &PostId) -> Vec<u8> {
    build(
        CHANGE,
        &[space.as_bytes(), &seq.to_be_bytes(), root.as_bytes()],
    )
}

/// `o space`.
pub(super) fn changes_of(space: &SpaceId) -> Vec<u8> {
    build(CHANGE, &[space.as_bytes()])
}

/// `y user space`.
pub(super) fn seen(user: &UserId, space: &SpaceId) -> Vec<u8> {
    build(SEEN, &[user.as_bytes(), space.as_bytes()])
}

/// `f user space root`.
pub(super) fn unread(user: &UserId, space: &SpaceId, root: &PostId) -> Vec<u8> {
    build(
        UNREAD,
        &[user.as_bytes(), space.as_bytes(), root.as_bytes()],
    )
}

/// `f user space`.
pub(super) fn unread_in(user: &UserId, space: &SpaceId) -> Vec<u8> {
    build(UNREAD, &[user.as_bytes(), space.as_bytes()])
}

/// `c space`.
pub(super) fn line_count(space: &SpaceId) -> Vec<u8> {
    build(LINE_COUNT, &[space.as_bytes()])
}

/// Lengths of the keys that end with an id.
/// `d space root` and `h space root`.
pub(super) const DIRTY_LEN: usize = 1 + ID + ID;
/// `o space seq root`.
pub(super) const CHANGE_LEN: usize = 1 + ID + TIME + ID;
/// `f user space root`.
pub(super) const UNREAD_LEN: usize = 1 + ID + ID + ID;
/// `l space !last_activity root`.
pub(super) const LIST_LEN: usize = 1 + ID + TIME + ID;

/// `k space created_at id`.
pub(super) const GOVERNANCE_LEN: usize = 1 + ID + TIME + ID;
pub(super) const THREAD_LEN: usize = 1 + ID + ID + TIME + ID;
/// `g space id`.
pub(super) const GENESIS_LEN: usize = 1 + ID + ID;
/// `r user space id`.
pub(super) const READ_LEN: usize = 1 + ID + ID + ID;

/// The smallest key after every key that starts with `prefix`, or `None` when no key
/// can follow (the prefix is all `0xff`).
pub(super) fn after_prefix(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut next = prefix.to_vec();
    while let Some(last) = next.pop() {
        if last < u8::MAX {
            next.push(last + 1);
            return Some(next);
        }
    }
    None
}

/// A key as a person reads it in an error: its tag, `/`, the rest in hex.
pub(super) fn name(key: &[u8]) -> String {
    match key.split_first() {
        Some((tag, rest)) if tag.is_ascii_graphic() => {
            format!("{}/{}", char::from(*tag), hex::encode(rest))
        }
        _ => hex::encode(key),
    }
}

/// A corrupt-record error for `key`.
pub(super) fn corrupt(key: &[u8], problem: Corruption) -> StorageError {
    StorageError::Corrupt {
        key: name(key),
        problem,
    }
}

/// The space and root of a `space root` key of any tag (`d`, `h`, `E`).
pub(super) fn space_and_root(key: &[u8]) -> Result<(SpaceId, PostId), StorageError> {
    let root = trailing_id(key, DIRTY_LEN)?;
    Ok((SpaceId::from_bytes(array(&key[1..1 + ID])), root))
}

/// A `u64` BE value of `key`.
pub(super) fn be_u64(key: &[u8], value: &[u8]) -> Result<u64, StorageError> {
    let bytes: [u8; 8] = value.try_into().map_err(|_| {
        corrupt(
            key,
            Corruption::Length {
                expected: 8,
                found: value.len(),
            },
        )
    })?;
    Ok(u64::from_be_bytes(bytes))
}

/// Copies a slice whose length the caller checked.
fn array<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0; N];
    out.copy_from_slice(bytes);
    out
}

fn build(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
    let len = 1 + parts.iter().map(|p| p.len()).sum::<usize>();
    let mut key = Vec::with_capacity(len);
    key.push(tag);
    for part in parts {
        key.extend_from_slice(part);
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_keys_sort_by_time_then_id_and_round_trip() {
        let space = SpaceId::from_bytes([7; 32]);
        let a = Item::new(Timestamp::from_millis(1), PostId::from_bytes([9; 32]));
        let b = Item::new(Timestamp::from_millis(256), PostId::from_bytes([0; 32]));
        let c = Item::new(Timestamp::from_millis(256), PostId::from_bytes([1; 32]));
        assert!(item(&space, &a) < item(&space, &b) && item(&space, &b) < item(&space, &c));
        assert_eq!(parse_item(&item(&space, &c)).unwrap(), (space, c));
        assert!(item(&space, &a).starts_with(&items_of(&space)));
    }

    #[test]
    fn short_keys_are_corrupt_not_panics() {
        let error = parse_item(b"i\x01\x02").unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("stored record i/0102 is corrupt")
        );
        assert!(trailing_id(b"t", THREAD_LEN).is_err());
        assert!(single_id(b"u\x00").is_err());
    }

    #[test]
    fn the_key_after_a_prefix() {
        assert_eq!(after_prefix(b"i\x01\xff"), Some(b"i\x02".to_vec()));
        assert_eq!(after_prefix(b"\xff\xff"), None);
    }
}
