//! Drives an initiator and a responder session to the end through encoded messages;
//! shared by the sync bench and the `sync_bench` example.

use parley_protocol::sync::{Input, Output, SyncSession};
use parley_protocol::wire::Message;

/// Runs the exchange until neither side has output; returns how many ids the initiator
/// reported (needed plus held).
pub(crate) fn drive(initiator: &mut SyncSession, responder: &mut SyncSession) -> usize {
    let mut found = 0;
    loop {
        let mut progressed = false;
        while let Some(output) = initiator.poll_output() {
            progressed = true;
            match output {
                Output::Send(message) => {
                    let message = Message::decode(&message.encode()).expect("decode");
                    responder
                        .handle(Input::Received(message))
                        .expect("responder");
                }
                Output::Need(ids) | Output::Have(ids) => found += ids.len(),
                _ => {}
            }
        }
        while let Some(output) = responder.poll_output() {
            progressed = true;
            if let Output::Send(message) = output {
                let message = Message::decode(&message.encode()).expect("decode");
                initiator
                    .handle(Input::Received(message))
                    .expect("initiator");
            }
        }
        if !progressed {
            return found;
        }
    }
}
