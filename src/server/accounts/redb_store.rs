//! [`RedbRegistry`]: the accounts and room records in one embedded redb file
//! (`<state_dir>/accounts.redb`). Two tables, `accounts` (by folded name) and
//! `rooms` (by room name), hold each record as JSON: readable with any redb
//! tool, and a field added later needs no migration.
//!
//! Every call is one transaction, and a write commits with
//! `Durability::Immediate` (fsync before `commit` returns), so a change the
//! client was told of survives a crash; a write that changes nothing is
//! aborted instead, sparing the fsync. redb serializes write transactions
//! itself, and its calls block only for a disk write of a few kilobytes, as
//! rare as registrations and moderation requests.

use std::fs::OpenOptions;
use std::io;
use std::path::{Path, PathBuf};

use redb::{
    CommitError, Database, DatabaseError, Durability, ReadableTable, StorageError, TableDefinition,
    TableError, TransactionError, WriteTransaction,
};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{fold, AccountRecord, Registry, RegistryError, RoomRecord};

/// Accounts by folded name.
const ACCOUNTS: TableDefinition<&str, &[u8]> = TableDefinition::new("accounts");
/// Room records by room name.
const ROOMS: TableDefinition<&str, &[u8]> = TableDefinition::new("rooms");

/// A [`Registry`] in a redb file.
#[derive(Debug)]
pub struct RedbRegistry {
    db: Database,
    path: PathBuf,
}

impl RedbRegistry {
    /// Opens the store at `path`, creating it (mode 0600 on Unix: it holds
    /// password hashes) if it does not exist. Its directory must exist.
    /// Fails if another process has it open.
    pub fn open(path: &Path) -> Result<RedbRegistry, RegistryError> {
        create_private(path)?;
        let db = Database::create(path).map_err(|source| RegistryError::Open {
            path: path.to_owned(),
            source: Box::new(source),
        })?;
        let registry = RedbRegistry {
            db,
            path: path.to_owned(),
        };
        // Both tables exist from the start, so a read never meets a missing one.
        registry.write(|txn| {
            txn.open_table(ACCOUNTS)?;
            txn.open_table(ROOMS)?;
            Ok(((), true))
        })?;
        Ok(registry)
    }

    /// The file it was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `change` in one write transaction, committed durably when it
    /// returns `(_, true)` and aborted when it returns `(_, false)` or fails.
    fn write<T>(
        &self,
        change: impl FnOnce(&WriteTransaction) -> Result<(T, bool), RegistryError>,
    ) -> Result<T, RegistryError> {
        let mut txn = self.db.begin_write()?;
        // The default, said aloud: the caller answers `ok` after this returns.
        txn.set_durability(Durability::Immediate);
        match change(&txn) {
            Ok((value, true)) => {
                txn.commit()?;
                Ok(value)
            }
            Ok((value, false)) => {
                txn.abort()?;
                Ok(value)
            }
            Err(error) => {
                // The failure that matters is `error`, not the abort's.
                let _ = txn.abort();
                Err(error)
            }
        }
    }
}

/// Creates an empty file at `path` readable by its owner only, unless one
/// exists (its mode is then the operator's choice). redb fills an empty file.
fn create_private(path: &Path) -> Result<(), RegistryError> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(error) => Err(RegistryError::Open {
            path: path.to_owned(),
            source: Box::new(error),
        }),
    }
}

fn encode(record: &impl Serialize) -> Vec<u8> {
    // Records are strings, bools, numbers and string-keyed maps: serializing
    // them cannot fail.
    serde_json::to_vec(record).expect("a record serializes")
}

fn decode<T: DeserializeOwned>(
    bytes: &[u8],
    what: impl FnOnce() -> String,
) -> Result<T, RegistryError> {
    serde_json::from_slice(bytes).map_err(|source| RegistryError::Corrupt {
        what: what(),
        source,
    })
}

impl Registry for RedbRegistry {
    fn account(&self, name: &str) -> Result<Option<AccountRecord>, RegistryError> {
        let key = fold(name);
        let table = self.db.begin_read()?.open_table(ACCOUNTS)?;
        let Some(stored) = table.get(key.as_str())? else {
            return Ok(None);
        };
        decode(stored.value(), || format!("account {key:?}")).map(Some)
    }

    fn create_account(&self, account: &AccountRecord) -> Result<bool, RegistryError> {
        let key = fold(&account.name);
        self.write(|txn| {
            let mut table = txn.open_table(ACCOUNTS)?;
            if table.get(key.as_str())?.is_some() {
                return Ok((false, false));
            }
            table.insert(key.as_str(), encode(account).as_slice())?;
            Ok((true, true))
        })
    }

    fn update_account(&self, account: &AccountRecord) -> Result<bool, RegistryError> {
        let key = fold(&account.name);
        self.write(|txn| {
            let mut table = txn.open_table(ACCOUNTS)?;
            if table.get(key.as_str())?.is_none() {
                return Ok((false, false));
            }
            table.insert(key.as_str(), encode(account).as_slice())?;
            Ok((true, true))
        })
    }

    fn drop_account(&self, name: &str) -> Result<bool, RegistryError> {
        let key = fold(name);
        self.write(|txn| {
            if txn.open_table(ACCOUNTS)?.remove(key.as_str())?.is_none() {
                return Ok((false, false));
            }
            let mut rooms = txn.open_table(ROOMS)?;
            let mut changed = Vec::new();
            for entry in rooms.iter()? {
                let (room, stored) = entry?;
                let mut record: RoomRecord =
                    decode(stored.value(), || format!("room {:?}", room.value()))?;
                if record.roles.remove(&key).is_some() {
                    changed.push(record);
                }
            }
            for record in changed {
                if record.is_empty() {
                    rooms.remove(record.room.as_str())?;
                } else {
                    rooms.insert(record.room.as_str(), encode(&record).as_slice())?;
                }
            }
            Ok((true, true))
        })
    }

    fn room(&self, room: &str) -> Result<Option<RoomRecord>, RegistryError> {
        let table = self.db.begin_read()?.open_table(ROOMS)?;
        let Some(stored) = table.get(room)? else {
            return Ok(None);
        };
        decode(stored.value(), || format!("room {room:?}")).map(Some)
    }

    fn put_room(&self, record: &RoomRecord) -> Result<(), RegistryError> {
        self.write(|txn| {
            let mut table = txn.open_table(ROOMS)?;
            let changed = if record.is_empty() {
                table.remove(record.room.as_str())?.is_some()
            } else {
                table.insert(record.room.as_str(), encode(record).as_slice())?;
                true
            };
            Ok(((), changed))
        })
    }

    fn rooms(&self) -> Result<Vec<RoomRecord>, RegistryError> {
        let table = self.db.begin_read()?.open_table(ROOMS)?;
        // redb iterates in key order: sorted by room name.
        table
            .iter()?
            .map(|entry| {
                let (room, stored) = entry?;
                decode(stored.value(), || format!("room {:?}", room.value()))
            })
            .collect()
    }
}

/// Every redb error is the backend's failure, kept whole as the source.
macro_rules! from_redb {
    ($($error:ty),*) => {$(
        impl From<$error> for RegistryError {
            fn from(error: $error) -> RegistryError {
                RegistryError::Database(Box::new(error))
            }
        }
    )*};
}
from_redb!(
    DatabaseError,
    TransactionError,
    TableError,
    StorageError,
    CommitError
);

#[cfg(test)]
mod tests {
    use super::super::tests::exercise;
    use super::super::{Role, RoomFlags};
    use super::*;

    #[test]
    fn the_redb_registry_behaves_like_a_registry() {
        let dir = tempfile::tempdir().unwrap();
        exercise(&RedbRegistry::open(&dir.path().join("accounts.redb")).unwrap());
    }

    #[test]
    fn everything_is_there_after_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("accounts.redb");
        let account =
            AccountRecord::new("Zoe", "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into());
        let mut record = RoomRecord::new("rust");
        record.roles.insert("zoe".into(), Role::Owner);
        record.flags = RoomFlags {
            invite_only: true,
            accounts_only: true,
            ..RoomFlags::default()
        };
        {
            let registry = RedbRegistry::open(&path).unwrap();
            assert!(registry.create_account(&account).unwrap());
            registry.put_room(&record).unwrap();
        }
        let registry = RedbRegistry::open(&path).unwrap();
        assert_eq!(registry.path(), path);
        assert_eq!(registry.account("zoe").unwrap(), Some(account));
        assert_eq!(registry.rooms().unwrap(), [record]);
    }

    #[cfg(unix)]
    #[test]
    fn a_new_file_is_private_to_its_owner() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("accounts.redb");
        RedbRegistry::open(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_second_opener_is_refused_with_the_path_in_the_message() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("accounts.redb");
        let _first = RedbRegistry::open(&path).unwrap();
        let error = RedbRegistry::open(&path).unwrap_err().to_string();
        assert!(error.contains("accounts.redb"), "{error}");
    }

    #[test]
    fn a_missing_directory_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing").join("accounts.redb");
        let error = RedbRegistry::open(&path).unwrap_err().to_string();
        assert!(error.contains("missing/accounts.redb"), "{error}");
    }
}
