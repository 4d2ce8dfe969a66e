//! A reconciliation session fed arbitrary frames: `handle` never panics, and every
//! message the session sends decodes.
//!
//! Input: one byte choosing the role (high bit: initiator) and the number of items
//! (low bits), then frames, each a u16 little-endian length and that many bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use parley_protocol::encoding::ByteString;
use parley_protocol::sync::{Input, Item, Output, SyncConfig, SyncSession};
use parley_protocol::wire::Message;
use parley_protocol::{PostId, SpaceId, Timestamp};

const SPACE: SpaceId = SpaceId::from_bytes([9; 32]);

fuzz_target!(|data: &[u8]| {
    let Some((&head, mut rest)) = data.split_first() else {
        return;
    };
    let initiate = head & 0x80 != 0;
    let items = (0..u16::from(head & 0x7f) * 8).map(|i| {
        let mut id = [7; 32];
        id[..2].copy_from_slice(&i.to_le_bytes());
        Item::new(
            Timestamp::from_millis(u64::from(i) * 1_000),
            PostId::from_bytes(id),
        )
    });
    let config = SyncConfig::default();
    let session = if initiate {
        SyncSession::initiate(SPACE, items, config)
    } else {
        SyncSession::respond(SPACE, items, config)
    };
    let Ok(mut session) = session else {
        return;
    };
    drain(&mut session);
    let mut first = true;
    while let [a, b, tail @ ..] = rest {
        let len = usize::from(u16::from_le_bytes([*a, *b])).min(tail.len());
        let (frame, tail) = tail.split_at(len);
        rest = tail;
        let frame = ByteString(frame.to_vec());
        let message = if first && !initiate {
            Message::ReconcileOpen {
                space: SPACE,
                frame,
            }
        } else {
            Message::ReconcileFrame {
                space: SPACE,
                frame,
            }
        };
        first = false;
        let outcome = session.handle(Input::Received(message));
        drain(&mut session);
        if outcome.is_err() || session.is_closed() {
            break;
        }
    }
});

fn drain(session: &mut SyncSession) {
    while let Some(output) = session.poll_output() {
        if let Output::Send(message) = output {
            assert!(
                Message::decode(&message.encode()).is_ok(),
                "sent an invalid message"
            );
        }
    }
}
