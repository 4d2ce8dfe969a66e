//! Validation: every check an envelope must pass before anything stores or shows it,
//! in the order of `spec/05-validation.md`. Each failure is a distinct typed error whose
//! message says what to change.

use crate::codec::{self, DecodeError};
use crate::content::Content;
use crate::envelope::{Envelope, KIND_TAG_OFFSET, SIGNATURE_CONTEXT, SIGNATURE_LEN};
use crate::id::{PostId, SpaceId};
use crate::keys::{PublicKey, SignatureError};
use crate::limits::{
    MAX_BODY_BYTES, MAX_CLOCK_SKEW_MS, MAX_DESCRIPTION_BYTES, MAX_DISPLAY_NAME_BYTES,
    MAX_ENVELOPE_BYTES, MAX_MENTIONS, MAX_REACTION_BYTES, MAX_SPACE_NAME_BYTES, MAX_TITLE_BYTES,
    PROTOCOL_VERSION,
};
use crate::time::Timestamp;

/// Number of kinds this version knows; tags at or above it are unknown.
const KNOWN_KINDS: u32 = crate::content::KIND_NAMES.len() as u32;

/// Why an envelope is not a valid post.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidPost {
    /// The bytes are longer than any valid envelope.
    #[error("envelope is {size} bytes; no envelope may exceed {limit} bytes")]
    TooLarge {
        /// Size of the bytes.
        size: usize,
        /// [`MAX_ENVELOPE_BYTES`].
        limit: usize,
    },
    /// The envelope is of a protocol version this implementation does not speak.
    #[error(
        "envelope has protocol version {version}; this implementation speaks version {PROTOCOL_VERSION} (upgrade to read newer posts)"
    )]
    UnknownVersion {
        /// The version byte found.
        version: u8,
    },
    /// The envelope is of a kind this version does not know.
    #[error("envelope is of unknown kind {tag}; this implementation knows kinds 0 to {max}", max = KNOWN_KINDS - 1)]
    UnknownKind {
        /// The kind tag found.
        tag: u32,
    },
    /// More users mentioned than allowed.
    #[error("a post may mention at most {MAX_MENTIONS} users")]
    TooManyMentions,
    /// The bytes are not a well-formed canonical envelope.
    #[error("envelope is malformed: {0}")]
    Malformed(DecodeError),
    /// A text field is longer than its limit.
    #[error("{field} is {size} bytes; the limit is {limit} bytes")]
    FieldTooLong {
        /// The field.
        field: &'static str,
        /// Its size in bytes of UTF-8.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A text field that must say something is empty or blank.
    #[error("{field} must not be empty")]
    FieldEmpty {
        /// The field.
        field: &'static str,
    },
    /// A one-line text field holds a line break or another control character.
    #[error("{field} must be a single line without control characters")]
    FieldNotSingleLine {
        /// The field.
        field: &'static str,
    },
    /// A reaction holds whitespace.
    #[error("a reaction must be one emoji or word, without spaces")]
    ReactionHasWhitespace,
    /// A genesis envelope names another space than the one its content derives.
    #[error("genesis envelope names space {found}, but its content derives space {expected}")]
    GenesisSpaceMismatch {
        /// The id derived from the genesis.
        expected: SpaceId,
        /// The id the envelope names.
        found: SpaceId,
    },
    /// The envelope is dated too far ahead of the validator's clock. Refused for now:
    /// it becomes acceptable once the clock catches up.
    #[error(
        "envelope is dated {ahead_ms} ms ahead of this clock; at most {MAX_CLOCK_SKEW_MS} ms is accepted (check the author's clock, or retry later)"
    )]
    FromTheFuture {
        /// How far ahead, in milliseconds.
        ahead_ms: u64,
    },
    /// The author's key or the signature breaks Parley's signature rule.
    #[error("signature is invalid: {0}")]
    Signature(SignatureError),
    /// The bytes hash to another id than the one they were announced under.
    #[error("bytes hash to {computed}, not the expected {expected}")]
    IdMismatch {
        /// The id asked for.
        expected: PostId,
        /// The id of the bytes.
        computed: PostId,
    },
}

impl InvalidPost {
    /// A stable snake_case name for this failure, for JSON output and test vectors.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } => "too_large",
            Self::UnknownVersion { .. } => "unknown_version",
            Self::UnknownKind { .. } => "unknown_kind",
            Self::TooManyMentions => "too_many_mentions",
            Self::Malformed(_) => "malformed",
            Self::FieldTooLong { .. } => "field_too_long",
            Self::FieldEmpty { .. } => "field_empty",
            Self::FieldNotSingleLine { .. } => "field_not_single_line",
            Self::ReactionHasWhitespace => "reaction_has_whitespace",
            Self::GenesisSpaceMismatch { .. } => "genesis_space_mismatch",
            Self::FromTheFuture { .. } => "from_the_future",
            Self::Signature(_) => "bad_signature",
            Self::IdMismatch { .. } => "id_mismatch",
        }
    }

    /// Whether the same bytes may become valid later (only a too-early date). Every
    /// other failure is permanent.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::FromTheFuture { .. })
    }
}

/// Decodes envelope bytes, checking bounds, version and kind before the body.
pub(crate) fn decode(bytes: &[u8]) -> Result<Envelope, InvalidPost> {
    if bytes.len() > MAX_ENVELOPE_BYTES {
        return Err(InvalidPost::TooLarge {
            size: bytes.len(),
            limit: MAX_ENVELOPE_BYTES,
        });
    }
    match bytes.first() {
        None => return Err(InvalidPost::Malformed(DecodeError::Truncated)),
        Some(&version) if version != PROTOCOL_VERSION => {
            return Err(InvalidPost::UnknownVersion { version });
        }
        Some(_) => {}
    }
    if let Some(tag) = bytes.get(KIND_TAG_OFFSET..KIND_TAG_OFFSET + 4) {
        let tag = u32::from_le_bytes([tag[0], tag[1], tag[2], tag[3]]);
        if tag >= KNOWN_KINDS {
            return Err(InvalidPost::UnknownKind { tag });
        }
    }
    codec::decode_envelope(bytes).map_err(|error| match error {
        DecodeError::TooManyItems => InvalidPost::TooManyMentions,
        other => InvalidPost::Malformed(other),
    })
}

/// Checks the kind's field rules and the date against `now`.
pub(crate) fn check_fields(envelope: &Envelope, now: Timestamp) -> Result<(), InvalidPost> {
    match &envelope.content {
        Content::Genesis(genesis) => {
            line("space name", &genesis.name, MAX_SPACE_NAME_BYTES)?;
            text(
                "description",
                &genesis.description,
                MAX_DESCRIPTION_BYTES,
                false,
            )?;
            let expected = SpaceId::derive(&envelope.author, envelope.created_at, genesis);
            if expected != envelope.space {
                return Err(InvalidPost::GenesisSpaceMismatch {
                    expected,
                    found: envelope.space,
                });
            }
        }
        Content::Thread(thread) => {
            line("title", &thread.title, MAX_TITLE_BYTES)?;
            text("body", &thread.body, MAX_BODY_BYTES, false)?;
        }
        Content::Reply(reply) => text("body", &reply.body, MAX_BODY_BYTES, true)?,
        Content::Edit(edit) => {
            if let Some(title) = &edit.title {
                line("title", title, MAX_TITLE_BYTES)?;
            }
            text("body", &edit.body, MAX_BODY_BYTES, false)?;
        }
        Content::Reaction(reaction) => {
            line("reaction", &reaction.reaction, MAX_REACTION_BYTES)?;
            if reaction.reaction.chars().any(char::is_whitespace) {
                return Err(InvalidPost::ReactionHasWhitespace);
            }
        }
        Content::Resolve(resolve) => text("decision", &resolve.decision, MAX_BODY_BYTES, true)?,
        Content::Profile(profile) => line(
            "display name",
            &profile.display_name,
            MAX_DISPLAY_NAME_BYTES,
        )?,
        Content::Retraction(_)
        | Content::Reopen(_)
        | Content::AddMember(_)
        | Content::RemoveMember(_)
        | Content::GrantModerator(_)
        | Content::RevokeModerator(_)
        | Content::ShareReplica(_)
        | Content::UnshareReplica(_) => {}
    }
    let latest = now.saturating_add_millis(MAX_CLOCK_SKEW_MS);
    if envelope.created_at > latest {
        return Err(InvalidPost::FromTheFuture {
            ahead_ms: envelope.created_at.as_millis() - now.as_millis(),
        });
    }
    Ok(())
}

/// Checks the author's key and the signature over the bytes before it.
pub(crate) fn check_signature(envelope: &Envelope, bytes: &[u8]) -> Result<(), InvalidPost> {
    let key = PublicKey::from_bytes(envelope.author.as_bytes()).map_err(InvalidPost::Signature)?;
    check_signature_by(key, envelope, bytes)
}

/// Checks the signature over the bytes before it, by the author's key decoded already.
pub(crate) fn check_signature_by(
    key: PublicKey,
    envelope: &Envelope,
    bytes: &[u8],
) -> Result<(), InvalidPost> {
    let signed = &bytes[..bytes.len().saturating_sub(SIGNATURE_LEN)];
    let mut message = Vec::with_capacity(SIGNATURE_CONTEXT.len() + signed.len());
    message.extend_from_slice(SIGNATURE_CONTEXT);
    message.extend_from_slice(signed);
    key.verify(&message, &envelope.signature)
        .map_err(InvalidPost::Signature)
}

/// A text field: at most `limit` bytes, and not blank when `required`.
fn text(field: &'static str, value: &str, limit: usize, required: bool) -> Result<(), InvalidPost> {
    if value.len() > limit {
        return Err(InvalidPost::FieldTooLong {
            field,
            size: value.len(),
            limit,
        });
    }
    if required && value.trim().is_empty() {
        return Err(InvalidPost::FieldEmpty { field });
    }
    Ok(())
}

/// A one-line, non-blank text field of at most `limit` bytes.
fn line(field: &'static str, value: &str, limit: usize) -> Result<(), InvalidPost> {
    text(field, value, limit, true)?;
    if value.chars().any(char::is_control) {
        return Err(InvalidPost::FieldNotSingleLine { field });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::Thread;
    use crate::encoding::BoundedVec;
    use crate::id::UserId;
    use crate::keys::Signature;

    #[test]
    fn the_largest_valid_envelope_fits_the_envelope_limit() {
        let mentions: Vec<UserId> = (0..MAX_MENTIONS).map(|n| UserId([n as u8; 32])).collect();
        let envelope = Envelope {
            version: PROTOCOL_VERSION,
            space: SpaceId([0; 32]),
            author: UserId([0; 32]),
            created_at: Timestamp(0),
            content: Content::Thread(Thread {
                title: "t".repeat(MAX_TITLE_BYTES),
                body: "b".repeat(MAX_BODY_BYTES),
                mentions: BoundedVec::try_from_vec(mentions).unwrap(),
            }),
            signature: Signature([0; 64]),
        };
        let size = envelope.encode().len();
        assert_eq!(size, 264_209, "spec/05-validation.md states this size");
        assert!(size <= MAX_ENVELOPE_BYTES);
    }
}
