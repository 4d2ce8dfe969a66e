//! Every protocol limit as a named constant. The names match `spec/05-validation.md`.

/// The only envelope version this implementation speaks.
pub const PROTOCOL_VERSION: u8 = 1;

/// Maximum size of a thread, reply or edit body, and of a decision, in bytes of UTF-8.
pub const MAX_BODY_BYTES: usize = 256 * 1024;
/// Maximum size of a thread title, in bytes of UTF-8.
pub const MAX_TITLE_BYTES: usize = 300;
/// Maximum size of a space name, in bytes of UTF-8.
pub const MAX_SPACE_NAME_BYTES: usize = 100;
/// Maximum size of a space description, in bytes of UTF-8.
pub const MAX_DESCRIPTION_BYTES: usize = 4096;
/// Maximum size of a display name, in bytes of UTF-8.
pub const MAX_DISPLAY_NAME_BYTES: usize = 64;
/// Maximum size of a reaction, in bytes of UTF-8 (an emoji sequence or a short word).
pub const MAX_REACTION_BYTES: usize = 32;
/// Maximum number of users mentioned by one thread or reply.
pub const MAX_MENTIONS: usize = 50;
/// Maximum size of one encoded envelope. Any byte string longer than this is refused
/// before it is decoded. No valid envelope can exceed it.
pub const MAX_ENVELOPE_BYTES: usize = 264 * 1024;
/// How far ahead of the validator's clock an envelope may be dated, in milliseconds.
/// Envelopes dated later are refused for now, not forever.
pub const MAX_CLOCK_SKEW_MS: u64 = 10 * 60 * 1000;

/// Maximum size of one encoded gossip message.
pub const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;
/// Maximum number of envelopes in one `Posts` message.
pub const MAX_POSTS_PER_BATCH: usize = 512;
/// Maximum number of ids in one `Have` or `Want` message.
pub const MAX_IDS_PER_MESSAGE: usize = 4096;
/// Maximum number of spaces offered in one `Hello`.
pub const MAX_SPACES_PER_HELLO: usize = 1024;
/// Maximum number of protocol versions listed in one `Hello`.
pub const MAX_VERSIONS_PER_HELLO: usize = 8;
/// Maximum size of one reconciliation frame, in bytes.
pub const MAX_RECONCILE_FRAME_BYTES: usize = 512 * 1024;
/// Frame size budget a reconciliation party aims for (negentropy's frame size limit).
pub const RECONCILE_FRAME_TARGET_BYTES: usize = 256 * 1024;
/// Maximum size of the human-readable text of an `Error` message, in bytes.
pub const MAX_ERROR_TEXT_BYTES: usize = 1024;
/// Smallest frame size budget a reconciliation party may use (negentropy's minimum).
pub const MIN_RECONCILE_FRAME_BYTES: usize = 4096;
/// Maximum number of round trips of one reconciliation; a party refuses to go on after
/// this many responder frames.
pub const MAX_RECONCILE_ROUNDS: u32 = 1024;
