//! Membership and replica state per space, as the caller derived it from the space's
//! view, so a node knows who may read and which nodes hold a space without folding it.

use std::collections::BTreeSet;

use parley_protocol::view::SpaceView;
use parley_protocol::{NodeId, SpaceId, UserId};
use serde::{Deserialize, Serialize};

use super::error::StorageError;
use super::record::{self, text_set};
use super::{Storage, keys};

/// A space's current name, members, moderators and replica set.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpaceState {
    /// The space's name (from its genesis).
    pub name: String,
    /// Current members.
    #[serde(with = "text_set")]
    pub members: BTreeSet<UserId>,
    /// Current moderators.
    #[serde(with = "text_set")]
    pub moderators: BTreeSet<UserId>,
    /// The nodes that may hold the space.
    #[serde(with = "text_set")]
    pub replicas: BTreeSet<NodeId>,
}

impl SpaceState {
    /// The state a view shows (a view without a genesis has an empty name).
    pub fn of_view(view: &SpaceView) -> Self {
        Self {
            name: view.genesis().map(|g| g.name.clone()).unwrap_or_default(),
            members: view.members().clone(),
            moderators: view.moderators().clone(),
            replicas: view.replicas().clone(),
        }
    }
}

impl Storage {
    /// Records the state of `space`, durably.
    pub fn set_space_state(&self, space: &SpaceId, state: &SpaceState) -> Result<(), StorageError> {
        self.db
            .insert(keys::space_state(space), record::encode(state))?;
        self.flush()
    }

    /// The recorded state of `space`, if any.
    pub fn space_state(&self, space: &SpaceId) -> Result<Option<SpaceState>, StorageError> {
        let key = keys::space_state(space);
        self.db
            .get(&key)?
            .map(|bytes| record::decode(&key, &bytes))
            .transpose()
    }

    /// Every recorded space state, by space.
    pub fn space_states(&self) -> Result<Vec<(SpaceId, SpaceState)>, StorageError> {
        let mut states = Vec::new();
        for entry in self.db.scan_prefix([keys::SPACE_STATE]) {
            let (key, bytes) = entry?;
            let space = SpaceId::from_bytes(keys::single_id(&key)?);
            states.push((space, record::decode(&key, &bytes)?));
        }
        Ok(states)
    }
}

#[cfg(test)]
mod tests {
    use parley_protocol::content::Genesis;
    use parley_protocol::{Post, SecretKey, Timestamp};

    use super::*;

    #[test]
    fn state_round_trips_and_names_the_space() {
        let tmp = tempfile::tempdir().unwrap();
        let storage = crate::storage::testing::reopen(tmp.path());
        let now = Timestamp::from_millis(1_800_000_000_000);
        let ada = SecretKey::from_seed(&[1; 32]);
        let genesis = Genesis {
            name: "design".into(),
            description: String::new(),
            home_node: NodeId([9; 32]),
            nonce: [0; 16],
        };
        let genesis = Post::sign_genesis(&ada, now, genesis, now).unwrap();
        let space = genesis.space();
        assert_eq!(storage.space_name(&space).unwrap(), None);
        storage.insert(std::slice::from_ref(&genesis)).unwrap();
        assert_eq!(
            storage.space_name(&space).unwrap().as_deref(),
            Some("design")
        );
        assert_eq!(storage.genesis(&space).unwrap(), Some(genesis.clone()));

        let state = SpaceState::of_view(&SpaceView::fold(space, [&genesis]));
        assert_eq!(state.members, BTreeSet::from([ada.user_id()]));
        assert_eq!(state.replicas, BTreeSet::from([NodeId([9; 32])]));
        storage
            .set_space_state(
                &space,
                &SpaceState {
                    name: "renamed".into(),
                    ..state.clone()
                },
            )
            .unwrap();
        assert_eq!(
            storage.space_name(&space).unwrap().as_deref(),
            Some("renamed")
        );
        storage.set_space_state(&space, &state).unwrap();
        assert_eq!(storage.space_state(&space).unwrap(), Some(state.clone()));
        assert_eq!(storage.space_states().unwrap(), [(space, state)]);
        let json = String::from_utf8(
            storage
                .db
                .get(keys::space_state(&space))
                .unwrap()
                .unwrap()
                .to_vec(),
        )
        .unwrap();
        assert!(json.contains(&ada.user_id().to_string()), "{json}");

        storage
            .db
            .insert(keys::space_state(&space), b"{\"name\":1}".as_slice())
            .unwrap();
        let error = storage.space_state(&space).unwrap_err();
        assert!(error.to_string().starts_with("stored record s/"), "{error}");
    }
}
