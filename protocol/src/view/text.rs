//! Serde helpers for the views: ids are written in their text form (`post1…`, `user1…`,
//! `node1…`, `space1…`, `spec/03-ids-and-signatures.md`), so a view serialized to JSON
//! reads like the rest of the spec's vectors and maps keyed by ids stay valid JSON.
//! Deserializing parses the text forms strictly, so a view can travel from a node to a
//! client and back without loss.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Display;
use std::str::FromStr;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A value written through its `Display` form and read back through `FromStr`.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Text<T>(T);

impl<T: Display> Serialize for Text<&T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self.0)
    }
}

impl<'de, T: FromStr> Deserialize<'de> for Text<T>
where
    T::Err: Display,
{
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map(Text).map_err(D::Error::custom)
    }
}

/// One id.
pub(super) mod id {
    use super::*;

    pub(in crate::view) fn serialize<T: Display, S: Serializer>(
        value: &T,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_str(value)
    }

    pub(in crate::view) fn deserialize<'de, T: FromStr, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<T, D::Error>
    where
        T::Err: Display,
    {
        Text::<T>::deserialize(deserializer).map(|t| t.0)
    }
}

/// An optional id (`null` when absent).
pub(super) mod option {
    use super::*;

    pub(in crate::view) fn serialize<T: Display, S: Serializer>(
        value: &Option<T>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        value.as_ref().map(Text).serialize(serializer)
    }

    pub(in crate::view) fn deserialize<'de, T: FromStr, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<T>, D::Error>
    where
        T::Err: Display,
    {
        Option::<Text<T>>::deserialize(deserializer).map(|o| o.map(|t| t.0))
    }
}

/// A list of ids.
pub(super) mod list {
    use super::*;

    #[allow(clippy::ptr_arg, reason = "serde's `with` passes the field, a `&Vec`")]
    pub(in crate::view) fn serialize<T: Display, S: Serializer>(
        values: &Vec<T>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(values.iter().map(Text))
    }

    pub(in crate::view) fn deserialize<'de, T: FromStr, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<T>, D::Error>
    where
        T::Err: Display,
    {
        Vec::<Text<T>>::deserialize(deserializer).map(|v| v.into_iter().map(|t| t.0).collect())
    }
}

/// A set of ids, in the set's order.
pub(super) mod set {
    use super::*;

    pub(in crate::view) fn serialize<T: Display, S: Serializer>(
        values: &BTreeSet<T>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(values.iter().map(Text))
    }
}

/// A map keyed by ids.
pub(super) mod keyed {
    use super::*;

    pub(in crate::view) fn serialize<K: Display, V: Serialize, S: Serializer>(
        map: &BTreeMap<K, V>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_map(map.iter().map(|(key, value)| (Text(key), value)))
    }
}

/// A map from text to sets of ids (reactions: reaction -> users).
pub(super) mod text_to_sets {
    use super::*;

    pub(in crate::view) fn serialize<T: Display, S: Serializer>(
        map: &BTreeMap<String, BTreeSet<T>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_map(
            map.iter()
                .map(|(key, users)| (key, users.iter().map(Text).collect::<Vec<_>>())),
        )
    }

    pub(in crate::view) fn deserialize<'de, T, D>(
        deserializer: D,
    ) -> Result<BTreeMap<String, BTreeSet<T>>, D::Error>
    where
        T: FromStr + Ord,
        T::Err: Display,
        D: Deserializer<'de>,
    {
        BTreeMap::<String, Vec<Text<T>>>::deserialize(deserializer).map(|m| {
            m.into_iter()
                .map(|(k, v)| (k, v.into_iter().map(|t| t.0).collect()))
                .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::view::SpaceView;

    #[test]
    fn the_views_a_node_sends_round_trip_through_json() {
        let posts = crate::test_vectors::sample_posts();
        let space = posts[0].space();
        let view = SpaceView::fold(space, posts.iter());
        let threads = view.threads().to_vec();
        let json = serde_json::to_string(&threads).unwrap();
        assert!(json.contains("user1"), "ids are written as text");
        let back: Vec<crate::view::ThreadSummary> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, threads);
        let thread = view.thread(&threads[0].id).unwrap().clone();
        let back: crate::view::ThreadView =
            serde_json::from_str(&serde_json::to_string(&thread).unwrap()).unwrap();
        assert_eq!(back, thread);
        let genesis = view.genesis().unwrap().clone();
        let back: crate::view::GenesisInfo =
            serde_json::from_str(&serde_json::to_string(&genesis).unwrap()).unwrap();
        assert_eq!(back, genesis);
    }
}
