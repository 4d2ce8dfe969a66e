//! Ids: users, nodes, posts and spaces, and their one text form each.
//!
//! Every id is 32 bytes. Its text form is Bech32m (BIP-350) with a human-readable
//! prefix naming the type (`user1…`, `node1…`, `post1…`, `space1…`), so a post id
//! pasted where a user id belongs is a clear error, and a mistyped character is caught
//! by the checksum. Parsing is strict: lower case only, the right prefix, Bech32m (not
//! Bech32), exactly 32 bytes.

use std::fmt;
use std::str::FromStr;

use bech32::{Bech32m, Hrp, primitives::decode::CheckedHrpstring};
use serde::{Deserialize, Serialize};

/// Why a text id could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdParseError {
    /// The text is an id, but of another type.
    #[error("expected a {expected} id ({expected}1…), but this is a {found} id")]
    WrongType {
        /// The type asked for.
        expected: &'static str,
        /// The type the text names.
        found: &'static str,
    },
    /// The text has a prefix Parley does not use.
    #[error(
        "expected a {expected} id ({expected}1…), but the text starts with an unknown prefix `{prefix}`"
    )]
    UnknownPrefix {
        /// The type asked for.
        expected: &'static str,
        /// The prefix found.
        prefix: String,
    },
    /// The text is not well-formed Bech32m (bad character, bad checksum, mixed case).
    #[error("not a valid {expected} id: {reason}")]
    Malformed {
        /// The type asked for.
        expected: &'static str,
        /// What is wrong, from the Bech32m decoder.
        reason: String,
    },
    /// The text decodes to the wrong number of bytes.
    #[error("not a valid {expected} id: it holds {len} bytes instead of 32")]
    WrongLength {
        /// The type asked for.
        expected: &'static str,
        /// The number of bytes found.
        len: usize,
    },
}

/// The prefixes of every id type, for naming what a mistaken paste was.
const KNOWN_PREFIXES: [&str; 4] = ["user", "node", "post", "space"];

fn encode_text(prefix: &'static str, bytes: &[u8; 32]) -> String {
    // Infallible: the prefixes are valid HRPs and 32 bytes is far below Bech32m's limit.
    let hrp = Hrp::parse_unchecked(prefix);
    bech32::encode::<Bech32m>(hrp, bytes).unwrap_or_default()
}

fn decode_text(expected: &'static str, text: &str) -> Result<[u8; 32], IdParseError> {
    if text.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(IdParseError::Malformed {
            expected,
            reason: "ids are written in lower case".to_owned(),
        });
    }
    let prefix = text.rsplit_once('1').map_or(text, |(hrp, _)| hrp);
    if prefix != expected {
        return Err(match KNOWN_PREFIXES.iter().find(|p| **p == prefix) {
            Some(found) => IdParseError::WrongType { expected, found },
            None => IdParseError::UnknownPrefix {
                expected,
                prefix: prefix.chars().take(16).collect(),
            },
        });
    }
    let checked = CheckedHrpstring::new::<Bech32m>(text).map_err(|e| IdParseError::Malformed {
        expected,
        reason: e.to_string(),
    })?;
    let data: Vec<u8> = checked.byte_iter().collect();
    let bytes: [u8; 32] = data
        .as_slice()
        .try_into()
        .map_err(|_| IdParseError::WrongLength {
            expected,
            len: data.len(),
        })?;
    // One text per id: refuse non-zero padding bits, which the decoder ignores.
    if encode_text(expected, &bytes) != text {
        return Err(IdParseError::Malformed {
            expected,
            reason: "non-zero padding bits".to_owned(),
        });
    }
    Ok(bytes)
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub [u8; 32]);

        impl $name {
            /// The prefix of this type's text form.
            pub const PREFIX: &'static str = $prefix;

            /// The id with these bytes.
            pub const fn from_bytes(bytes: [u8; 32]) -> Self {
                Self(bytes)
            }

            /// The id's bytes.
            pub const fn as_bytes(&self) -> &[u8; 32] {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&encode_text($prefix, &self.0))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self)
            }
        }

        impl FromStr for $name {
            type Err = IdParseError;
            fn from_str(text: &str) -> Result<Self, IdParseError> {
                decode_text($prefix, text).map(Self)
            }
        }
    };
}

id_type!(
    /// A person: the ed25519 public key they sign posts with.
    UserId, "user"
);
id_type!(
    /// A node: the ed25519 public key that is its QUIC/TLS identity.
    NodeId, "node"
);
id_type!(
    /// A post: BLAKE3 of its envelope's canonical bytes (`spec/03-ids-and-signatures.md`).
    PostId, "post"
);
id_type!(
    /// A space: derived from its genesis envelope (`spec/03-ids-and-signatures.md`).
    SpaceId, "space"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_form_round_trips() {
        let id = PostId([7; 32]);
        let text = id.to_string();
        assert!(text.starts_with("post1"));
        assert_eq!(text.parse::<PostId>(), Ok(id));
    }

    #[test]
    fn wrong_type_is_named() {
        let text = PostId([7; 32]).to_string();
        assert_eq!(
            text.parse::<UserId>(),
            Err(IdParseError::WrongType {
                expected: "user",
                found: "post"
            })
        );
        let message = text
            .parse::<UserId>()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(message.contains("expected a user id"), "{message}");
    }

    #[test]
    fn typos_and_case_are_refused() {
        let text = UserId([1; 32]).to_string();
        let mut typo = text.clone().into_bytes();
        let last = typo.len() - 1;
        typo[last] = if typo[last] == b'q' { b'p' } else { b'q' };
        let typo = String::from_utf8(typo).unwrap_or_default();
        assert!(matches!(
            typo.parse::<UserId>(),
            Err(IdParseError::Malformed { .. })
        ));
        assert!(text.to_uppercase().parse::<UserId>().is_err());
        assert!("".parse::<UserId>().is_err());
        assert!("hello".parse::<UserId>().is_err());
        assert!(format!("{text} ").parse::<UserId>().is_err());
    }

    #[test]
    fn bech32_without_m_is_refused() {
        let hrp = Hrp::parse_unchecked("user");
        let text = bech32::encode::<bech32::Bech32>(hrp, &[1; 32]).unwrap_or_default();
        assert!(matches!(
            text.parse::<UserId>(),
            Err(IdParseError::Malformed { .. })
        ));
    }

    #[test]
    fn short_payload_is_refused() {
        let hrp = Hrp::parse_unchecked("user");
        let text = bech32::encode::<Bech32m>(hrp, &[1; 20]).unwrap_or_default();
        assert_eq!(
            text.parse::<UserId>(),
            Err(IdParseError::WrongLength {
                expected: "user",
                len: 20
            })
        );
    }
}

#[cfg(test)]
mod padding_tests {
    use super::*;
    use bech32::Fe32IterExt as _;

    #[test]
    fn non_zero_padding_bits_are_refused() {
        // 32 bytes = 256 bits = 51 full 5-bit groups + 1 bit; the 52nd group carries 4
        // padding bits, which must be zero.
        let text = UserId([0xff; 32]).to_string();
        let checked = CheckedHrpstring::new::<Bech32m>(&text).unwrap();
        let mut groups: Vec<bech32::Fe32> = checked.fe32_iter::<std::vec::IntoIter<u8>>().collect();
        let last = groups.len() - 1;
        groups[last] = bech32::Fe32::try_from(groups[last].to_u8() | 0x01).unwrap();
        let hrp = Hrp::parse_unchecked("user");
        let tampered: String = groups
            .iter()
            .copied()
            .with_checksum::<Bech32m>(&hrp)
            .chars()
            .collect();
        assert!(tampered.parse::<UserId>().is_err(), "{tampered}");
    }
}
