//! Serde helpers for the views: ids are written in their text form (`post1…`, `user1…`,
//! `node1…`, `space1…`, `spec/03-ids-and-signatures.md`), so a view serialized to JSON
//! reads like the rest of the spec's vectors and maps keyed by ids stay valid JSON.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Display;

use serde::{Serialize, Serializer};

/// Serializes a value through its `Display` form.
struct AsText<'a, T>(&'a T);

impl<T: Display> Serialize for AsText<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self.0)
    }
}

/// One id.
pub(super) fn id<T: Display, S: Serializer>(value: &T, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

/// An optional id (`null` when absent).
pub(super) fn option<T: Display, S: Serializer>(
    value: &Option<T>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    value.as_ref().map(AsText).serialize(serializer)
}

/// A list of ids.
#[allow(
    clippy::ptr_arg,
    reason = "serde's `serialize_with` passes the field, a `&Vec`"
)]
pub(super) fn list<T: Display, S: Serializer>(
    values: &Vec<T>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(values.iter().map(AsText))
}

/// A set of ids, in the set's order.
pub(super) fn set<T: Display, S: Serializer>(
    values: &BTreeSet<T>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(values.iter().map(AsText))
}

/// A map keyed by ids.
pub(super) fn keyed<K: Display, V: Serialize, S: Serializer>(
    map: &BTreeMap<K, V>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_map(map.iter().map(|(key, value)| (AsText(key), value)))
}

/// A map from text to sets of ids (reactions: reaction -> users).
pub(super) fn text_to_sets<T: Display, S: Serializer>(
    map: &BTreeMap<String, BTreeSet<T>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_map(map.iter().map(|(key, users)| (key, SetAsText(users))))
}

/// A set of ids as a list of text forms.
struct SetAsText<'a, T>(&'a BTreeSet<T>);

impl<T: Display> Serialize for SetAsText<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        set(self.0, serializer)
    }
}
