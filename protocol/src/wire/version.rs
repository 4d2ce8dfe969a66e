//! The ALPN nodes agree on in the QUIC handshake, and the version negotiation of `Hello`.

/// The ALPN protocol id of Parley's node-to-node QUIC connections.
pub const ALPN: &[u8] = b"parley/1";

/// The wire protocol version this implementation speaks, as listed in `Hello`.
pub const WIRE_VERSION: u16 = 1;

/// The highest version both lists contain, or `None` when they share none (the
/// connection is then closed with [`ErrorCode::UnsupportedVersion`](super::ErrorCode)).
pub fn negotiate_version(ours: &[u16], theirs: &[u16]) -> Option<u16> {
    ours.iter().filter(|v| theirs.contains(v)).max().copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn highest_common_version_wins() {
        assert_eq!(negotiate_version(&[1, 2, 3], &[3, 2]), Some(3));
        assert_eq!(negotiate_version(&[1], &[1, 7]), Some(1));
        assert_eq!(negotiate_version(&[1], &[2]), None);
        assert_eq!(negotiate_version(&[], &[1]), None);
    }

    #[test]
    fn alpn_is_parley_1() {
        assert_eq!(ALPN, b"parley/1");
    }
}
