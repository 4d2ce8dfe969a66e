//! The signed envelope: one shape for everything a user or admin says, its canonical
//! bytes, its id and its signature (`spec/02-encoding.md`, `spec/03-ids-and-signatures.md`).
//!
//! [`Envelope`] is what the bytes say; [`Post`] is an envelope that passed every check
//! of [`validate`] against a clock, and the only form the views and a
//! node's storage accept.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::codec;
use crate::content::{Content, Genesis};
use crate::id::{PostId, SpaceId, UserId};
use crate::keys::{PublicKey, SecretKey, Signature, SignatureError};
use crate::time::Timestamp;
use crate::validate::{self, InvalidPost};

/// Prepended to the unsigned envelope bytes to form the ed25519 message, so a Parley
/// signature can never be mistaken for a signature in another protocol.
pub const SIGNATURE_CONTEXT: &[u8] = b"parley/1 signed envelope\x00";
/// BLAKE3 `derive_key` context string for space ids.
pub const SPACE_ID_CONTEXT: &str = "parley/1 space id";
/// Byte offset of the kind tag in an encoded envelope: after version (1), space (32),
/// author (32) and created_at (8).
pub const KIND_TAG_OFFSET: usize = 73;

/// The envelope's `created_at` and kind tag, read at their fixed offsets (spec 4.1)
/// without decoding or validating anything: for bytes a node stored after validating
/// them, where only these two fields are wanted. `None` when the bytes are too short.
pub fn peek_header(bytes: &[u8]) -> Option<(Timestamp, u32)> {
    let created_at = bytes
        .get(KIND_TAG_OFFSET - 8..KIND_TAG_OFFSET)?
        .try_into()
        .ok()?;
    let tag = bytes
        .get(KIND_TAG_OFFSET..KIND_TAG_OFFSET + 4)?
        .try_into()
        .ok()?;
    Some((
        Timestamp::from_millis(u64::from_le_bytes(created_at)),
        u32::from_le_bytes(tag),
    ))
}

/// The envelope's space, read at its fixed offset (after the version byte, spec 4.1)
/// without decoding or validating anything, like [`peek_header`].
pub fn peek_space(bytes: &[u8]) -> Option<SpaceId> {
    let space: [u8; 32] = bytes.get(1..33)?.try_into().ok()?;
    Some(SpaceId::from_bytes(space))
}
/// Length of the signature at the end of every encoded envelope.
pub const SIGNATURE_LEN: usize = 64;

/// An envelope as its bytes say, not yet checked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// Protocol version; 1.
    pub version: u8,
    /// The space this post belongs to.
    pub space: SpaceId,
    /// Who wrote and signed it.
    pub author: UserId,
    /// When, by the author's clock.
    pub created_at: Timestamp,
    /// What it says.
    pub content: Content,
    /// Ed25519 signature by `author` over [`SIGNATURE_CONTEXT`] and the bytes before it.
    pub signature: Signature,
}

/// The signed part of an envelope, encoded exactly like the envelope's prefix.
#[derive(Serialize)]
struct Unsigned<'a> {
    version: u8,
    space: &'a SpaceId,
    author: &'a UserId,
    created_at: Timestamp,
    content: &'a Content,
}

/// The input to the space id derivation.
#[derive(Serialize)]
struct SpaceSeed<'a> {
    founder: &'a UserId,
    created_at: Timestamp,
    genesis: &'a Genesis,
}

impl SpaceId {
    /// The id of the space that `founder` creates at `created_at` with `genesis`.
    pub fn derive(founder: &UserId, created_at: Timestamp, genesis: &Genesis) -> Self {
        let seed = codec::encode(&SpaceSeed {
            founder,
            created_at,
            genesis,
        });
        let mut hasher = blake3::Hasher::new_derive_key(SPACE_ID_CONTEXT);
        hasher.update(&seed);
        Self(*hasher.finalize().as_bytes())
    }
}

impl PostId {
    /// The id of the post with these canonical envelope bytes.
    pub fn of_bytes(bytes: &[u8]) -> Self {
        Self(*blake3::hash(bytes).as_bytes())
    }
}

impl Envelope {
    /// The canonical bytes of this envelope.
    pub fn encode(&self) -> Vec<u8> {
        codec::encode(self)
    }

    /// The ed25519 message this envelope's signature covers.
    pub fn signing_message(&self) -> Vec<u8> {
        let unsigned = codec::encode(&Unsigned {
            version: self.version,
            space: &self.space,
            author: &self.author,
            created_at: self.created_at,
            content: &self.content,
        });
        let mut message = Vec::with_capacity(SIGNATURE_CONTEXT.len() + unsigned.len());
        message.extend_from_slice(SIGNATURE_CONTEXT);
        message.extend_from_slice(&unsigned);
        message
    }
}

/// A verified post: a valid envelope with its id and canonical bytes.
///
/// The constructors are [`Post::decode`] (bytes from anywhere, fully validated),
/// [`Post::sign`] (a new post, validated the same way) and [`Post::decode_verified`]
/// (bytes validated so before and kept under their id).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Post {
    id: PostId,
    envelope: Arc<Envelope>,
    bytes: Arc<[u8]>,
}

impl Post {
    /// Decodes and validates an envelope: bounds, version, kind, canonical form, field
    /// rules, clock skew against `now`, then the signature.
    pub fn decode(bytes: &[u8], now: Timestamp) -> Result<Self, InvalidPost> {
        let envelope = validate::decode(bytes)?;
        validate::check_fields(&envelope, now)?;
        validate::check_signature(&envelope, bytes)?;
        Ok(Self {
            id: PostId::of_bytes(bytes),
            envelope: Arc::new(envelope),
            bytes: Arc::from(bytes),
        })
    }

    /// Decodes and validates many envelopes, each exactly as [`Post::decode`] would;
    /// the result at index `i` is the verdict on `envelopes[i]`. An author who signed
    /// several is decoded and checked once (a key decompression each, about a tenth of
    /// a verification): what a node receiving a peer's batch wants.
    pub fn decode_many<B: AsRef<[u8]>>(
        envelopes: &[B],
        now: Timestamp,
    ) -> Vec<Result<Self, InvalidPost>> {
        let mut keys: BTreeMap<UserId, Result<PublicKey, SignatureError>> = BTreeMap::new();
        envelopes
            .iter()
            .map(|bytes| {
                let bytes = bytes.as_ref();
                let envelope = validate::decode(bytes)?;
                validate::check_fields(&envelope, now)?;
                let key = *keys
                    .entry(envelope.author)
                    .or_insert_with(|| PublicKey::from_bytes(envelope.author.as_bytes()));
                validate::check_signature_by(
                    key.map_err(InvalidPost::Signature)?,
                    &envelope,
                    bytes,
                )?;
                Ok(Self {
                    id: PostId::of_bytes(bytes),
                    envelope: Arc::new(envelope),
                    bytes: Arc::from(bytes),
                })
            })
            .collect()
    }

    /// Like [`Post::decode`], and also refuses bytes whose id is not `expected` (a peer
    /// that announced one post and sent another).
    pub fn decode_expecting(
        bytes: &[u8],
        expected: &PostId,
        now: Timestamp,
    ) -> Result<Self, InvalidPost> {
        let computed = PostId::of_bytes(bytes);
        if computed != *expected {
            return Err(InvalidPost::IdMismatch {
                expected: *expected,
                computed,
            });
        }
        Self::decode(bytes, now)
    }

    /// Decodes bytes that were verified in full ([`Post::decode`]) when first received and
    /// kept since under their id, as a node's store keeps them: checks that the bytes
    /// still hash to `id` and decode canonically with valid fields, and does not check
    /// the signature again. It need not: bytes that hash to the id are the very bytes
    /// whose signature was verified (finding others would break blake3). Never for
    /// bytes from a peer or a client; about fifty times cheaper than a verification.
    pub fn decode_verified(bytes: &[u8], id: &PostId) -> Result<Self, InvalidPost> {
        let computed = PostId::of_bytes(bytes);
        if computed != *id {
            return Err(InvalidPost::IdMismatch {
                expected: *id,
                computed,
            });
        }
        let envelope = validate::decode(bytes)?;
        // The clock does not matter: the post was accepted once.
        validate::check_fields(&envelope, envelope.created_at)?;
        Ok(Self {
            id: computed,
            envelope: Arc::new(envelope),
            bytes: Arc::from(bytes),
        })
    }

    /// Signs a new post by `key` and validates it as a receiver would, so nothing
    /// invalid is ever sent. `now` is the signer's clock; `created_at` is usually `now`.
    pub fn sign(
        key: &SecretKey,
        space: SpaceId,
        created_at: Timestamp,
        content: Content,
        now: Timestamp,
    ) -> Result<Self, InvalidPost> {
        let mut envelope = Envelope {
            version: crate::limits::PROTOCOL_VERSION,
            space,
            author: key.user_id(),
            created_at,
            content,
            signature: Signature([0; 64]),
        };
        envelope.signature = key.sign(&envelope.signing_message());
        Self::decode(&envelope.encode(), now)
    }

    /// Signs the genesis of a new space; the space id is derived from it.
    pub fn sign_genesis(
        key: &SecretKey,
        created_at: Timestamp,
        genesis: Genesis,
        now: Timestamp,
    ) -> Result<Self, InvalidPost> {
        let space = SpaceId::derive(&key.user_id(), created_at, &genesis);
        Self::sign(key, space, created_at, Content::Genesis(genesis), now)
    }

    /// The post's id.
    pub fn id(&self) -> PostId {
        self.id
    }

    /// The envelope.
    pub fn envelope(&self) -> &Envelope {
        &self.envelope
    }

    /// The canonical bytes (what is stored, hashed and sent).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The space.
    pub fn space(&self) -> SpaceId {
        self.envelope.space
    }

    /// The author.
    pub fn author(&self) -> UserId {
        self.envelope.author
    }

    /// When the author says it was written.
    pub fn created_at(&self) -> Timestamp {
        self.envelope.created_at
    }

    /// What it says.
    pub fn content(&self) -> &Content {
        &self.envelope.content
    }

    /// The reconciliation key: `(created_at, id)`, the order posts sort in everywhere.
    pub fn sort_key(&self) -> (Timestamp, PostId) {
        (self.envelope.created_at, self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::Thread;
    use crate::encoding::BoundedVec;

    #[test]
    fn peeking_reads_what_decoding_reads() {
        let now = Timestamp(1_800_000_000_000);
        let key = SecretKey::from_seed(&[5; 32]);
        let content = Content::Thread(Thread {
            title: "peek".into(),
            body: String::new(),
            mentions: BoundedVec::new(),
        });
        let space = SpaceId::from_bytes([8; 32]);
        let post = Post::sign(&key, space, Timestamp(now.0 - 7), content, now).unwrap();
        assert_eq!(peek_space(post.bytes()), Some(space));
        assert_eq!(peek_header(post.bytes()), Some((post.created_at(), 1)));
        assert_eq!(peek_space(&post.bytes()[..32]), None);
        assert_eq!(peek_header(&post.bytes()[..KIND_TAG_OFFSET]), None);
    }
}
