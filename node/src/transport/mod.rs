//! The QUIC transport: raw-public-key TLS identities, peer authentication, framing.
