//! `Post::decode` on arbitrary bytes: never panics, and whatever it accepts is its own
//! canonical encoding.
#![no_main]

use libfuzzer_sys::fuzz_target;
use parley_protocol::{Post, Timestamp};

/// A fixed validator clock (the spec vectors' `now`), so runs are reproducible.
const NOW: Timestamp = Timestamp::from_millis(1_795_564_800_000);

fuzz_target!(|data: &[u8]| {
    if let Ok(post) = Post::decode(data, NOW) {
        assert_eq!(post.bytes(), data);
        assert_eq!(post.envelope().encode(), data);
    }
});
