//! `wire::Message::decode` on arbitrary bytes: never panics, and whatever it accepts
//! is its own canonical encoding.
#![no_main]

use libfuzzer_sys::fuzz_target;
use parley_protocol::wire::Message;

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = Message::decode(data) {
        assert_eq!(message.encode(), data);
    }
});
