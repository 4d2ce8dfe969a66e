//! Codec tests of every wire message: round trips, bounds, refusals, exact bytes.

use crate::codec::DecodeError;
use crate::encoding::{BoundedVec, ByteString};
use crate::id::{NodeId, PostId, SpaceId};
use crate::limits::{
    MAX_ENVELOPE_BYTES, MAX_ERROR_TEXT_BYTES, MAX_IDS_PER_MESSAGE, MAX_MESSAGE_BYTES,
    MAX_POSTS_PER_BATCH, MAX_RECONCILE_FRAME_BYTES, MAX_SPACES_PER_HELLO, MAX_VERSIONS_PER_HELLO,
};

use super::*;

fn space() -> SpaceId {
    SpaceId::from_bytes([0x11; 32])
}

fn ids(n: usize) -> Vec<PostId> {
    (0..n)
        .map(|i| PostId::from_bytes([(i % 256) as u8; 32]))
        .collect()
}

fn every_message() -> Vec<Message> {
    vec![
        Message::Hello {
            versions: BoundedVec::try_from_vec(vec![1, 2]).unwrap(),
            node: NodeId::from_bytes([0x22; 32]),
            spaces: BoundedVec::try_from_vec(vec![space(), SpaceId::from_bytes([0x33; 32])])
                .unwrap(),
        },
        Message::ReconcileOpen {
            space: space(),
            frame: ByteString(vec![0x61, 0, 0, 2, 0]),
        },
        Message::ReconcileFrame {
            space: space(),
            frame: ByteString(vec![0x61]),
        },
        Message::Posts {
            space: space(),
            envelopes: BoundedVec::try_from_vec(vec![
                ByteString(vec![1, 2, 3]),
                ByteString(vec![]),
            ])
            .unwrap(),
        },
        Message::Have {
            space: space(),
            ids: BoundedVec::try_from_vec(ids(3)).unwrap(),
        },
        Message::Want {
            space: space(),
            ids: BoundedVec::new(),
        },
        Message::Error {
            code: ErrorCode::SpaceNotShared,
            space: Some(space()),
            text: "not here".into(),
        },
        Message::Error {
            code: ErrorCode::Unrecognized(999),
            space: None,
            text: String::new(),
        },
    ]
}

/// Bytes of a message whose list field holds `count` items of `item_len` bytes each,
/// written by hand so the count may exceed what a `BoundedVec` can hold.
fn list_message(tag: u32, prefix: &[u8], count: u64, item: &[u8]) -> Vec<u8> {
    let mut bytes = tag.to_le_bytes().to_vec();
    bytes.extend_from_slice(prefix);
    bytes.extend_from_slice(&count.to_le_bytes());
    for _ in 0..count {
        bytes.extend_from_slice(item);
    }
    bytes
}

#[test]
fn every_message_round_trips() {
    for message in every_message() {
        let bytes = message.encode();
        assert_eq!(bytes.len(), message.encoded_len(), "{message:?}");
        assert_eq!(Message::decode(&bytes), Ok(message.clone()));
        assert_eq!(message.check(), Ok(()));
    }
}

#[test]
fn kinds_and_spaces_are_reported() {
    let kinds: Vec<MessageKind> = every_message().iter().map(Message::kind).collect();
    assert_eq!(
        kinds,
        [
            MessageKind::Hello,
            MessageKind::ReconcileOpen,
            MessageKind::ReconcileFrame,
            MessageKind::Posts,
            MessageKind::Have,
            MessageKind::Want,
            MessageKind::Error,
            MessageKind::Error,
        ]
    );
    let spaces: Vec<Option<SpaceId>> = every_message().iter().map(Message::space).collect();
    assert_eq!(spaces[0], None);
    assert!(spaces[1..7].iter().all(|s| *s == Some(space())));
    assert_eq!(spaces[7], None);
    assert_eq!(MessageKind::ReconcileOpen.to_string(), "reconcile-open");
}

#[test]
fn want_has_these_exact_bytes() {
    let message = Message::Want {
        space: SpaceId::from_bytes([0xab; 32]),
        ids: BoundedVec::try_from_vec(vec![PostId::from_bytes([0x01; 32])]).unwrap(),
    };
    let expected = concat!(
        "05000000",
        "abababababababababababababababababababababababababababababababab",
        "0100000000000000",
        "0101010101010101010101010101010101010101010101010101010101010101",
    );
    assert_eq!(hex::encode(message.encode()), expected);
}

#[test]
fn error_and_reconcile_have_these_exact_bytes() {
    let error = Message::Error {
        code: ErrorCode::TooLarge,
        space: None,
        text: "big".into(),
    };
    assert_eq!(
        hex::encode(error.encode()),
        concat!("06000000", "0300", "00", "0300000000000000", "626967")
    );
    let frame = Message::ReconcileFrame {
        space: SpaceId::from_bytes([0; 32]),
        frame: ByteString(vec![0x61]),
    };
    assert_eq!(
        hex::encode(frame.encode()),
        concat!(
            "02000000",
            "0000000000000000000000000000000000000000000000000000000000000000",
            "0100000000000000",
            "61",
        )
    );
    let hello = Message::Hello {
        versions: BoundedVec::try_from_vec(vec![1]).unwrap(),
        node: NodeId::from_bytes([0xcd; 32]),
        spaces: BoundedVec::new(),
    };
    assert_eq!(
        hex::encode(hello.encode()),
        concat!(
            "00000000",
            "0100000000000000",
            "0100",
            "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd",
            "0000000000000000",
        )
    );
}

#[test]
fn trailing_bytes_are_refused() {
    for message in every_message() {
        let mut bytes = message.encode();
        bytes.push(0);
        assert_eq!(
            Message::decode(&bytes),
            Err(WireError::Decode(DecodeError::TrailingBytes { count: 1 }))
        );
    }
}

#[test]
fn truncated_messages_are_refused() {
    for message in every_message() {
        let bytes = message.encode();
        for cut in 0..bytes.len() {
            assert!(
                Message::decode(&bytes[..cut]).is_err(),
                "{message:?} cut at {cut}"
            );
        }
    }
}

#[test]
fn unknown_tags_are_refused() {
    let mut bytes = 7u32.to_le_bytes().to_vec();
    bytes.extend_from_slice(&[0; 40]);
    assert_eq!(
        Message::decode(&bytes),
        Err(WireError::Decode(DecodeError::UnknownVariant { tag: 7 }))
    );
    let bytes = u32::MAX.to_le_bytes();
    assert!(matches!(
        Message::decode(&bytes),
        Err(WireError::Decode(DecodeError::UnknownVariant { .. }))
    ));
}

#[test]
fn too_many_versions_are_refused() {
    let mut bytes = list_message(
        0,
        &[],
        MAX_VERSIONS_PER_HELLO as u64 + 1,
        &1u16.to_le_bytes(),
    );
    bytes.extend_from_slice(&[0x22; 32]);
    bytes.extend_from_slice(&0u64.to_le_bytes());
    assert_eq!(
        Message::decode(&bytes),
        Err(WireError::Decode(DecodeError::TooManyItems))
    );
}

#[test]
fn a_hello_without_versions_is_refused() {
    let hello = Message::Hello {
        versions: BoundedVec::new(),
        node: NodeId::from_bytes([1; 32]),
        spaces: BoundedVec::new(),
    };
    assert_eq!(Message::decode(&hello.encode()), Err(WireError::NoVersions));
}

#[test]
fn too_many_spaces_are_refused() {
    let mut prefix = 1u64.to_le_bytes().to_vec();
    prefix.extend_from_slice(&1u16.to_le_bytes());
    prefix.extend_from_slice(&[0x22; 32]);
    let bytes = list_message(0, &prefix, MAX_SPACES_PER_HELLO as u64 + 1, &[0x33; 32]);
    assert_eq!(
        Message::decode(&bytes),
        Err(WireError::Decode(DecodeError::TooManyItems))
    );
    // The bound itself is accepted.
    let bytes = list_message(0, &prefix, MAX_SPACES_PER_HELLO as u64, &[0x33; 32]);
    assert!(Message::decode(&bytes).is_ok());
}

#[test]
fn frames_over_the_bound_are_refused() {
    for make in [
        |frame| Message::ReconcileOpen {
            space: space(),
            frame,
        },
        |frame| Message::ReconcileFrame {
            space: space(),
            frame,
        },
    ] {
        let at_bound = make(ByteString(vec![0; MAX_RECONCILE_FRAME_BYTES]));
        assert!(Message::decode(&at_bound.encode()).is_ok());
        let over = make(ByteString(vec![0; MAX_RECONCILE_FRAME_BYTES + 1]));
        assert_eq!(
            Message::decode(&over.encode()),
            Err(WireError::FrameTooLarge {
                size: MAX_RECONCILE_FRAME_BYTES + 1,
                limit: MAX_RECONCILE_FRAME_BYTES
            })
        );
        assert_eq!(over.check().map_err(|e| e.code()), Err(ErrorCode::TooLarge));
    }
}

#[test]
fn too_many_envelopes_are_refused() {
    let mut envelope = 1u64.to_le_bytes().to_vec();
    envelope.push(9);
    let bytes = list_message(3, &[0x11; 32], MAX_POSTS_PER_BATCH as u64 + 1, &envelope);
    assert_eq!(
        Message::decode(&bytes),
        Err(WireError::Decode(DecodeError::TooManyItems))
    );
}

#[test]
fn an_envelope_over_the_bound_is_refused() {
    let message = Message::Posts {
        space: space(),
        envelopes: BoundedVec::try_from_vec(vec![
            ByteString(vec![1]),
            ByteString(vec![0; MAX_ENVELOPE_BYTES + 1]),
        ])
        .unwrap(),
    };
    assert_eq!(
        Message::decode(&message.encode()),
        Err(WireError::EnvelopeTooLarge {
            index: 1,
            size: MAX_ENVELOPE_BYTES + 1,
            limit: MAX_ENVELOPE_BYTES
        })
    );
}

#[test]
fn a_batch_over_the_message_bound_is_refused() {
    let envelopes =
        vec![ByteString(vec![0; MAX_ENVELOPE_BYTES]); MAX_MESSAGE_BYTES / MAX_ENVELOPE_BYTES + 1];
    let message = Message::Posts {
        space: space(),
        envelopes: BoundedVec::try_from_vec(envelopes).unwrap(),
    };
    let size = message.encoded_len();
    assert!(size > MAX_MESSAGE_BYTES);
    assert_eq!(
        message.check(),
        Err(WireError::MessageTooLarge {
            size,
            limit: MAX_MESSAGE_BYTES
        })
    );
    assert_eq!(
        Message::decode(&message.encode()),
        Err(WireError::MessageTooLarge {
            size,
            limit: MAX_MESSAGE_BYTES
        })
    );
}

#[test]
fn too_many_ids_are_refused() {
    for tag in [4, 5] {
        let bytes = list_message(tag, &[0x11; 32], MAX_IDS_PER_MESSAGE as u64 + 1, &[7; 32]);
        assert_eq!(
            Message::decode(&bytes),
            Err(WireError::Decode(DecodeError::TooManyItems))
        );
        let bytes = list_message(tag, &[0x11; 32], MAX_IDS_PER_MESSAGE as u64, &[7; 32]);
        assert!(Message::decode(&bytes).is_ok());
    }
}

#[test]
fn a_huge_list_length_is_refused_before_allocation() {
    let mut bytes = 4u32.to_le_bytes().to_vec();
    bytes.extend_from_slice(&[0x11; 32]);
    bytes.extend_from_slice(&u64::MAX.to_le_bytes());
    assert!(Message::decode(&bytes).is_err());
}

#[test]
fn error_text_over_the_bound_is_refused() {
    let message = Message::Error {
        code: ErrorCode::Internal,
        space: None,
        text: "x".repeat(MAX_ERROR_TEXT_BYTES + 1),
    };
    assert_eq!(
        Message::decode(&message.encode()),
        Err(WireError::ErrorTextTooLong {
            size: MAX_ERROR_TEXT_BYTES + 1,
            limit: MAX_ERROR_TEXT_BYTES
        })
    );
    let at_bound = Message::Error {
        code: ErrorCode::Internal,
        space: None,
        text: "x".repeat(MAX_ERROR_TEXT_BYTES),
    };
    assert!(Message::decode(&at_bound.encode()).is_ok());
}

#[test]
fn error_constructor_cuts_text_at_a_character_boundary() {
    let long = "é".repeat(MAX_ERROR_TEXT_BYTES);
    let message = Message::error(ErrorCode::Malformed, None, &long);
    assert_eq!(message.check(), Ok(()));
    if let Message::Error { text, .. } = &message {
        assert_eq!(text.len(), MAX_ERROR_TEXT_BYTES);
    }
}

#[test]
fn invalid_utf8_and_flags_are_refused() {
    let mut bytes = 6u32.to_le_bytes().to_vec();
    bytes.extend_from_slice(&5u16.to_le_bytes());
    bytes.push(0);
    bytes.extend_from_slice(&1u64.to_le_bytes());
    bytes.push(0xff);
    assert_eq!(
        Message::decode(&bytes),
        Err(WireError::Decode(DecodeError::InvalidUtf8))
    );

    let mut bytes = 6u32.to_le_bytes().to_vec();
    bytes.extend_from_slice(&5u16.to_le_bytes());
    bytes.push(2);
    bytes.extend_from_slice(&0u64.to_le_bytes());
    assert_eq!(
        Message::decode(&bytes),
        Err(WireError::Decode(DecodeError::InvalidTag))
    );
}

#[test]
fn oversized_input_is_refused_before_decoding() {
    let bytes = vec![0u8; MAX_MESSAGE_BYTES + 1];
    assert_eq!(
        Message::decode(&bytes),
        Err(WireError::MessageTooLarge {
            size: MAX_MESSAGE_BYTES + 1,
            limit: MAX_MESSAGE_BYTES
        })
    );
}

/// Spec 7.6: the code and detail of each bound, and which failure wins when a message
/// breaks several.
#[test]
fn each_bound_has_its_code_and_the_first_failure_wins() {
    let code_and_detail = |bytes: &[u8]| {
        let error = Message::decode(bytes).unwrap_err();
        (error.code(), error.detail())
    };
    let malformed_count = (ErrorCode::Malformed, "too_many_items");

    // List counts: malformed, too_many_items.
    let ids_over = list_message(4, &[0x11; 32], MAX_IDS_PER_MESSAGE as u64 + 1, &[7; 32]);
    assert_eq!(code_and_detail(&ids_over), malformed_count);
    let mut versions_over = list_message(0, &[], MAX_VERSIONS_PER_HELLO as u64 + 1, &[1, 0]);
    versions_over.extend_from_slice(&[0x22; 32]);
    versions_over.extend_from_slice(&0u64.to_le_bytes());
    assert_eq!(code_and_detail(&versions_over), malformed_count);

    // A Hello with no version: malformed, no_versions.
    let hello = Message::Hello {
        versions: BoundedVec::new(),
        node: NodeId::from_bytes([1; 32]),
        spaces: BoundedVec::new(),
    };
    assert_eq!(
        code_and_detail(&hello.encode()),
        (ErrorCode::Malformed, "no_versions")
    );

    // Sizes: too_large.
    assert_eq!(
        code_and_detail(&vec![0; MAX_MESSAGE_BYTES + 1]),
        (ErrorCode::TooLarge, "message_too_large")
    );
    let frame = Message::ReconcileFrame {
        space: space(),
        frame: ByteString(vec![0x61; MAX_RECONCILE_FRAME_BYTES + 1]),
    };
    assert_eq!(
        code_and_detail(&frame.encode()),
        (ErrorCode::TooLarge, "frame_too_large")
    );
    let posts = Message::Posts {
        space: space(),
        envelopes: BoundedVec::try_from_vec(vec![ByteString(vec![0; MAX_ENVELOPE_BYTES + 1])])
            .unwrap(),
    };
    assert_eq!(
        code_and_detail(&posts.encode()),
        (ErrorCode::TooLarge, "envelope_too_large")
    );
    let text = Message::Error {
        code: ErrorCode::Internal,
        space: None,
        text: "x".repeat(MAX_ERROR_TEXT_BYTES + 1),
    };
    assert_eq!(
        code_and_detail(&text.encode()),
        (ErrorCode::TooLarge, "error_text_too_long")
    );

    // A count over its bound wins over the items missing after it (which alone would
    // be truncated), whatever the count.
    for count in [MAX_IDS_PER_MESSAGE as u64 + 1, u64::MAX] {
        let mut bytes = 5u32.to_le_bytes().to_vec();
        bytes.extend_from_slice(&[0x11; 32]);
        bytes.extend_from_slice(&count.to_le_bytes());
        bytes.extend_from_slice(&[7; 32 * 3]);
        assert_eq!(code_and_detail(&bytes), malformed_count);
    }
    // ... and over an envelope over its bound inside the list.
    let mut envelope = (MAX_ENVELOPE_BYTES as u64 + 1).to_le_bytes().to_vec();
    envelope.resize(8 + MAX_ENVELOPE_BYTES + 1, 0);
    let mut bytes = list_message(3, &[0x11; 32], 1, &envelope);
    bytes[36..44].copy_from_slice(&(MAX_POSTS_PER_BATCH as u64 + 1).to_le_bytes());
    assert_eq!(code_and_detail(&bytes), malformed_count);
    // The message size comes first: a count over its bound in a message over
    // MAX_MESSAGE_BYTES is too_large.
    let mut bytes = list_message(3, &[0x11; 32], 0, &[]);
    bytes[36..44].copy_from_slice(&(MAX_POSTS_PER_BATCH as u64 + 1).to_le_bytes());
    bytes.resize(MAX_MESSAGE_BYTES + 1, 0);
    assert_eq!(
        code_and_detail(&bytes),
        (ErrorCode::TooLarge, "message_too_large")
    );
    // A byte string's bound is checked once the message decodes: a frame length that
    // claims more bytes than the message holds is malformed, not too_large.
    let mut bytes = 2u32.to_le_bytes().to_vec();
    bytes.extend_from_slice(&[0x11; 32]);
    bytes.extend_from_slice(&(MAX_RECONCILE_FRAME_BYTES as u64 + 1).to_le_bytes());
    bytes.push(0x61);
    assert_eq!(code_and_detail(&bytes).0, ErrorCode::Malformed);
    // Among the checks after decoding, the first envelope over its bound is reported.
    let posts = Message::Posts {
        space: space(),
        envelopes: BoundedVec::try_from_vec(vec![
            ByteString(vec![0; 4]),
            ByteString(vec![0; MAX_ENVELOPE_BYTES + 2]),
            ByteString(vec![0; MAX_ENVELOPE_BYTES + 1]),
        ])
        .unwrap(),
    };
    assert_eq!(
        Message::decode(&posts.encode()),
        Err(WireError::EnvelopeTooLarge {
            index: 1,
            size: MAX_ENVELOPE_BYTES + 2,
            limit: MAX_ENVELOPE_BYTES
        })
    );
}
