//! Registered users and the invites that register them. An invite is stored under the
//! BLAKE3 hash of its token, so the store never holds a usable token.

use parley_protocol::api::InviteToken;
use parley_protocol::{Timestamp, UserId};
use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionError};

use super::error::{InviteError, StorageError};
use super::{Storage, keys, record};

/// A user registered with this node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegisteredUser {
    /// The user.
    pub user: UserId,
    /// When they joined.
    pub joined_at: Timestamp,
}

/// The stored record of a user.
#[derive(Serialize, Deserialize)]
struct UserRecord {
    joined_at: u64,
}

/// The stored record of an invite.
#[derive(Serialize, Deserialize)]
struct InviteRecord {
    uses_left: u32,
    expires_at: Option<u64>,
}

impl Storage {
    /// Registers `user` as joined at `at`; an already registered user keeps their
    /// first date. Durable on return.
    pub fn register_user(&self, user: &UserId, at: Timestamp) -> Result<(), StorageError> {
        let value = record::encode(&UserRecord {
            joined_at: at.as_millis(),
        });
        // Only if absent: a user's join date does not move.
        let _ = self
            .db
            .compare_and_swap(keys::user(user), None::<&[u8]>, Some(value))?;
        self.flush()
    }

    /// Whether `user` is registered.
    pub fn is_registered(&self, user: &UserId) -> Result<bool, StorageError> {
        Ok(self.db.contains_key(keys::user(user))?)
    }

    /// When `user` joined, if registered.
    pub fn user_joined_at(&self, user: &UserId) -> Result<Option<Timestamp>, StorageError> {
        let key = keys::user(user);
        match self.db.get(&key)? {
            Some(bytes) => {
                let record: UserRecord = record::decode(&key, &bytes)?;
                Ok(Some(Timestamp::from_millis(record.joined_at)))
            }
            None => Ok(None),
        }
    }

    /// Every registered user, by id.
    pub fn users(&self) -> Result<Vec<RegisteredUser>, StorageError> {
        let mut users = Vec::new();
        for entry in self.db.scan_prefix([keys::USER]) {
            let (key, bytes) = entry?;
            let user = UserId::from_bytes(keys::single_id(&key)?);
            let record: UserRecord = record::decode(&key, &bytes)?;
            users.push(RegisteredUser {
                user,
                joined_at: Timestamp::from_millis(record.joined_at),
            });
        }
        Ok(users)
    }

    /// Stores an invite good for `uses` joins until `expires_at` (forever if `None`).
    /// Durable on return.
    pub fn create_invite(
        &self,
        token: &InviteToken,
        uses: u32,
        expires_at: Option<Timestamp>,
    ) -> Result<(), StorageError> {
        let record = InviteRecord {
            uses_left: uses,
            expires_at: expires_at.map(Timestamp::as_millis),
        };
        self.db.insert(invite_key(token), record::encode(&record))?;
        self.flush()
    }

    /// Takes one use of the invite `token` and registers `user` with it, atomically: two
    /// keys racing for the last use cannot both win. A user already registered takes
    /// no use. Durable on return.
    pub fn redeem_invite(
        &self,
        token: &InviteToken,
        user: &UserId,
        now: Timestamp,
    ) -> Result<(), InviteError> {
        let invite_key = invite_key(token);
        let user_key = keys::user(user);
        let joined = record::encode(&UserRecord {
            joined_at: now.as_millis(),
        });
        let result = self.db.transaction(|tx| {
            if tx.get(&user_key)?.is_some() {
                return Ok(());
            }
            let Some(bytes) = tx.get(&invite_key)? else {
                return Err(ConflictableTransactionError::Abort(InviteError::Unknown));
            };
            let mut invite: InviteRecord = record::decode(&invite_key, &bytes)
                .map_err(|error| ConflictableTransactionError::Abort(error.into()))?;
            if invite.uses_left == 0 {
                return Err(ConflictableTransactionError::Abort(InviteError::Used));
            }
            if invite.expires_at.is_some_and(|at| now.as_millis() >= at) {
                return Err(ConflictableTransactionError::Abort(InviteError::Expired));
            }
            invite.uses_left -= 1;
            tx.insert(invite_key.as_slice(), record::encode(&invite))?;
            tx.insert(user_key.as_slice(), joined.as_slice())?;
            Ok(())
        });
        match result {
            Ok(()) => Ok(self.flush()?),
            Err(TransactionError::Abort(error)) => Err(error),
            Err(TransactionError::Storage(error)) => Err(StorageError::from(error).into()),
        }
    }
}

/// `v blake3(token)`.
fn invite_key(token: &InviteToken) -> Vec<u8> {
    keys::invite(blake3::hash(&token.0).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_register_once() {
        let tmp = tempfile::tempdir().unwrap();
        let storage = crate::storage::testing::reopen(tmp.path());
        let ada = UserId([1; 32]);
        assert!(!storage.is_registered(&ada).unwrap());
        storage.register_user(&ada, Timestamp(10)).unwrap();
        storage.register_user(&ada, Timestamp(20)).unwrap();
        assert!(storage.is_registered(&ada).unwrap());
        assert_eq!(storage.user_joined_at(&ada).unwrap(), Some(Timestamp(10)));
        assert_eq!(
            storage.users().unwrap(),
            [RegisteredUser {
                user: ada,
                joined_at: Timestamp(10)
            }]
        );
    }

    #[test]
    fn invites_are_unknown_used_or_expired() {
        let tmp = tempfile::tempdir().unwrap();
        let storage = crate::storage::testing::reopen(tmp.path());
        let (one, two, never) = (
            InviteToken([1; 16]),
            InviteToken([2; 16]),
            InviteToken([3; 16]),
        );
        storage.create_invite(&one, 1, None).unwrap();
        storage
            .create_invite(&two, 2, Some(Timestamp(100)))
            .unwrap();
        let user = |n: u8| UserId([n; 32]);

        assert!(matches!(
            storage.redeem_invite(&never, &user(1), Timestamp(0)),
            Err(InviteError::Unknown)
        ));
        storage.redeem_invite(&one, &user(1), Timestamp(5)).unwrap();
        assert!(matches!(
            storage.redeem_invite(&one, &user(2), Timestamp(5)),
            Err(InviteError::Used)
        ));
        // A registered user redeeming again takes no use.
        storage.redeem_invite(&one, &user(1), Timestamp(6)).unwrap();
        assert_eq!(
            storage.user_joined_at(&user(1)).unwrap(),
            Some(Timestamp(5))
        );

        storage
            .redeem_invite(&two, &user(3), Timestamp(99))
            .unwrap();
        assert!(matches!(
            storage.redeem_invite(&two, &user(4), Timestamp(100)),
            Err(InviteError::Expired)
        ));
        assert!(!storage.is_registered(&user(4)).unwrap());
        // The token itself is not stored.
        assert!(storage.db.iter().all(|entry| {
            let (key, value) = entry.unwrap();
            !key.windows(16).any(|w| w == [2; 16]) && !value.windows(16).any(|w| w == [2; 16])
        }));
    }

    #[test]
    fn racing_keys_take_each_use_once() {
        let tmp = tempfile::tempdir().unwrap();
        let storage = crate::storage::testing::reopen(tmp.path());
        let token = InviteToken([7; 16]);
        storage.create_invite(&token, 3, None).unwrap();
        let winners: usize = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8u8)
                .map(|n| {
                    let storage = &storage;
                    scope.spawn(move || {
                        storage
                            .redeem_invite(&token, &UserId([n; 32]), Timestamp(1))
                            .is_ok()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| usize::from(h.join().unwrap()))
                .sum()
        });
        assert_eq!(winners, 3);
        assert_eq!(storage.users().unwrap().len(), 3);
    }
}
