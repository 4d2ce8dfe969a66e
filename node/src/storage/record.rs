//! JSON records (space state, users, invites, peers): encoded with `serde_json`, ids in
//! their text form, a record that does not parse is [`StorageError::Corrupt`].

use std::fmt::Display;
use std::str::FromStr;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::error::{Corruption, StorageError};
use super::keys;

/// The bytes of `record`.
pub(super) fn encode<T: Serialize>(record: &T) -> Vec<u8> {
    // Serializing these plain structs (strings, numbers, lists) cannot fail.
    serde_json::to_vec(record).unwrap_or_default()
}

/// The record stored under `key`.
pub(super) fn decode<T: DeserializeOwned>(key: &[u8], bytes: &[u8]) -> Result<T, StorageError> {
    serde_json::from_slice(bytes)
        .map_err(|error| keys::corrupt(key, Corruption::Record(Arc::new(error))))
}

/// Serde helpers for an id (or any value with a text form) as its text.
pub(super) mod text {
    use super::*;

    /// Serializes `value` as its `Display` text.
    pub(in crate::storage) fn serialize<T: Display, S: Serializer>(
        value: &T,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_str(value)
    }

    /// Parses a value from its text.
    pub(in crate::storage) fn deserialize<'de, T, D>(deserializer: D) -> Result<T, D::Error>
    where
        T: FromStr,
        T::Err: Display,
        D: Deserializer<'de>,
    {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Serde helpers for a set of ids as a list of their texts.
pub(super) mod text_set {
    use std::collections::BTreeSet;

    use super::*;

    /// Serializes each element as its `Display` text.
    pub(in crate::storage) fn serialize<T: Display, S: Serializer>(
        values: &BTreeSet<T>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(values.iter().map(ToString::to_string))
    }

    /// Parses each element from its text.
    pub(in crate::storage) fn deserialize<'de, T, D>(
        deserializer: D,
    ) -> Result<BTreeSet<T>, D::Error>
    where
        T: FromStr + Ord,
        T::Err: Display,
        D: Deserializer<'de>,
    {
        Vec::<String>::deserialize(deserializer)?
            .iter()
            .map(|text| text.parse().map_err(serde::de::Error::custom))
            .collect()
    }
}
