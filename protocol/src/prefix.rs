//! Id prefixes: the start of an id's text, as people type it (`post1tsmpe33x`), the way
//! git and `rad` take unique prefixes of hashes. A prefix names the id type and at
//! least [`MIN_PREFIX_CHARS`] characters of the id's Bech32m data; it carries no
//! checksum, so it is a question ("which ids start so?") that a holder of ids answers.

use std::fmt;

use crate::id::IdParseError;

/// The fewest data characters a prefix may have (20 bits).
pub const MIN_PREFIX_CHARS: usize = 4;

/// The most data characters a prefix may have: every character of an id's data but the
/// last, which holds padding bits (a longer text is a whole id, with its checksum).
pub const MAX_PREFIX_CHARS: usize = 51;

/// Bech32's alphabet: a character's place is the five bits it stands for.
const ALPHABET: &[u8; 32] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";

/// The start of an id of one type.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct IdPrefix {
    kind: &'static str,
    /// Five bits per data character.
    groups: Vec<u8>,
}

impl IdPrefix {
    /// Reads `text` as the start of an id of type `kind` (`"post"`, `"user"`, …):
    /// `kind`, `1`, then between [`MIN_PREFIX_CHARS`] and [`MAX_PREFIX_CHARS`] Bech32
    /// characters in lower case.
    pub fn parse(kind: &'static str, text: &str) -> Result<Self, IdParseError> {
        let malformed = |reason: String| IdParseError::Malformed {
            expected: kind,
            reason,
        };
        let Some((prefix, data)) = text.split_once('1') else {
            return Err(malformed(format!(
                "an id starts with {kind}1, then its characters"
            )));
        };
        if prefix != kind {
            return Err(
                match ["user", "node", "post", "space"]
                    .into_iter()
                    .find(|known| *known == prefix.to_ascii_lowercase())
                {
                    Some(found) if found != kind => IdParseError::WrongType {
                        expected: kind,
                        found,
                    },
                    _ => IdParseError::UnknownPrefix {
                        expected: kind,
                        prefix: prefix.chars().take(16).collect(),
                    },
                },
            );
        }
        let mut groups = Vec::with_capacity(data.len());
        for c in data.chars() {
            let place = u8::try_from(c)
                .ok()
                .and_then(|b| ALPHABET.iter().position(|a| *a == b));
            match place {
                Some(place) => groups.push(place as u8),
                None if c.is_ascii_uppercase() => {
                    return Err(malformed("ids are written in lower case".to_owned()));
                }
                None => {
                    return Err(malformed(format!(
                        "`{}` is not a character of ids",
                        c.escape_default()
                    )));
                }
            }
        }
        if groups.len() < MIN_PREFIX_CHARS {
            return Err(malformed(format!(
                "give at least {MIN_PREFIX_CHARS} characters after {kind}1"
            )));
        }
        if groups.len() > MAX_PREFIX_CHARS {
            return Err(malformed(
                "too long for the start of an id, and not a whole id".to_owned(),
            ));
        }
        Ok(Self { kind, groups })
    }

    /// The id type's name.
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    /// Whether the id with these bytes starts with this prefix.
    pub fn matches(&self, bytes: &[u8; 32]) -> bool {
        let (low, high) = self.bounds();
        low.as_slice() <= bytes.as_slice() && bytes.as_slice() <= high.as_slice()
    }

    /// The lowest and the highest id bytes that start with this prefix: the ids that
    /// do are exactly those between the two, so a sorted index answers with one range.
    pub fn bounds(&self) -> ([u8; 32], [u8; 32]) {
        let (mut low, mut high) = ([0u8; 32], [0xffu8; 32]);
        for (i, group) in self.groups.iter().enumerate() {
            for bit in 0..5 {
                let at = i * 5 + bit;
                let (byte, mask) = (at / 8, 0x80u8 >> (at % 8));
                if group & (0x10 >> bit) != 0 {
                    low[byte] |= mask;
                } else {
                    high[byte] &= !mask;
                }
            }
        }
        (low, high)
    }
}

impl fmt::Display for IdPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind)?;
        f.write_str("1")?;
        for group in &self.groups {
            write!(f, "{}", ALPHABET[usize::from(*group)] as char)?;
        }
        Ok(())
    }
}

impl fmt::Debug for IdPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdPrefix({self})")
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::{PostId, UserId};

    proptest! {
        /// Every start of an id's text (long enough) matches that id, and its bounds
        /// hold exactly the ids whose text starts so.
        #[test]
        fn a_prefix_matches_the_ids_whose_text_starts_with_it(
            a in any::<[u8; 32]>(),
            b in any::<[u8; 32]>(),
            len in MIN_PREFIX_CHARS..=MAX_PREFIX_CHARS,
        ) {
            let text = PostId(a).to_string();
            let start = &text[..PostId::PREFIX.len() + 1 + len];
            let prefix = IdPrefix::parse(PostId::PREFIX, start).unwrap();
            prop_assert_eq!(prefix.to_string(), start);
            prop_assert!(prefix.matches(&a));
            let other = PostId(b).to_string();
            prop_assert_eq!(prefix.matches(&b), other.starts_with(start));
            let (low, high) = prefix.bounds();
            prop_assert!(PostId(low).to_string().starts_with(start));
            prop_assert!(PostId(high).to_string().starts_with(start));
        }
    }

    #[test]
    fn what_is_not_a_prefix_says_why() {
        let user = UserId([1; 32]).to_string();
        let cases = [
            ("post1qq", "at least 4 characters"),
            ("post1qqbq", "`b` is not a character"),
            ("post1QQQQ", "lower case"),
            ("tsmpe33x", "starts with post1"),
            (&user[..12], "this is a user id"),
            ("blob1qqqq", "unknown prefix `blob`"),
        ];
        for (text, reason) in cases {
            let error = IdParseError::to_string(&IdPrefix::parse("post", text).unwrap_err());
            assert!(error.contains(reason), "{text}: {error}");
        }
        let long = "post1".to_owned() + &"q".repeat(52);
        assert!(IdPrefix::parse("post", &long).is_err());
    }
}
