//! The codes of the `Error` message (`spec/07-sync-and-gossip.md`, "Error codes").

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a node refuses or ends an exchange, encoded as a `u16`.
///
/// Codes this version does not know decode as [`ErrorCode::Unrecognized`] so that a
/// newer peer's errors are still reported, never refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// No protocol version in common (code 1).
    UnsupportedVersion,
    /// The space is not shared with the receiver, or not known (code 2).
    SpaceNotShared,
    /// A message, frame or batch is over its bound (code 3).
    TooLarge,
    /// The sender is sending faster than the receiver accepts (code 4).
    RateLimited,
    /// A message or frame could not be decoded, or breaks a rule (code 5).
    Malformed,
    /// A message arrived that the exchange does not expect now (code 6).
    UnexpectedMessage,
    /// A reconciliation needed more rounds than the receiver allows (code 7).
    TooManyRounds,
    /// The receiver failed for a reason of its own (code 8).
    Internal,
    /// The receiver is shutting down (code 9).
    ShuttingDown,
    /// A code this version does not know.
    Unrecognized(u16),
}

impl ErrorCode {
    /// The code's number on the wire.
    pub const fn as_u16(self) -> u16 {
        match self {
            Self::UnsupportedVersion => 1,
            Self::SpaceNotShared => 2,
            Self::TooLarge => 3,
            Self::RateLimited => 4,
            Self::Malformed => 5,
            Self::UnexpectedMessage => 6,
            Self::TooManyRounds => 7,
            Self::Internal => 8,
            Self::ShuttingDown => 9,
            Self::Unrecognized(code) => code,
        }
    }

    /// The code's name in `spec/07-sync-and-gossip.md` (7.7), for logs, JSON output and
    /// test vectors; `unrecognized` for a code this version does not know.
    pub const fn name(self) -> &'static str {
        match self {
            Self::UnsupportedVersion => "unsupported_version",
            Self::SpaceNotShared => "space_not_shared",
            Self::TooLarge => "too_large",
            Self::RateLimited => "rate_limited",
            Self::Malformed => "malformed",
            Self::UnexpectedMessage => "unexpected_message",
            Self::TooManyRounds => "too_many_rounds",
            Self::Internal => "internal",
            Self::ShuttingDown => "shutting_down",
            Self::Unrecognized(_) => "unrecognized",
        }
    }

    /// The code with this number; unknown numbers give [`ErrorCode::Unrecognized`].
    pub const fn from_u16(code: u16) -> Self {
        match code {
            1 => Self::UnsupportedVersion,
            2 => Self::SpaceNotShared,
            3 => Self::TooLarge,
            4 => Self::RateLimited,
            5 => Self::Malformed,
            6 => Self::UnexpectedMessage,
            7 => Self::TooManyRounds,
            8 => Self::Internal,
            9 => Self::ShuttingDown,
            other => Self::Unrecognized(other),
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            Self::UnsupportedVersion => "unsupported version",
            Self::SpaceNotShared => "space not shared",
            Self::TooLarge => "too large",
            Self::RateLimited => "rate limited",
            Self::Malformed => "malformed",
            Self::UnexpectedMessage => "unexpected message",
            Self::TooManyRounds => "too many rounds",
            Self::Internal => "internal error",
            Self::ShuttingDown => "shutting down",
            Self::Unrecognized(_) => "unrecognized error",
        };
        write!(f, "{name} (code {})", self.as_u16())
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u16(self.as_u16())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        u16::deserialize(deserializer).map(Self::from_u16)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_through_its_number() {
        for code in 0..=u16::MAX {
            assert_eq!(ErrorCode::from_u16(code).as_u16(), code);
        }
        assert_eq!(ErrorCode::from_u16(0), ErrorCode::Unrecognized(0));
        assert_eq!(ErrorCode::from_u16(9), ErrorCode::ShuttingDown);
        assert_eq!(ErrorCode::from_u16(10), ErrorCode::Unrecognized(10));
    }

    #[test]
    fn names_are_the_spec_names() {
        let names: Vec<&str> = (1..=10).map(|n| ErrorCode::from_u16(n).name()).collect();
        assert_eq!(
            names,
            [
                "unsupported_version",
                "space_not_shared",
                "too_large",
                "rate_limited",
                "malformed",
                "unexpected_message",
                "too_many_rounds",
                "internal",
                "shutting_down",
                "unrecognized"
            ]
        );
    }

    #[test]
    fn display_names_the_code() {
        assert_eq!(ErrorCode::RateLimited.to_string(), "rate limited (code 4)");
    }
}
