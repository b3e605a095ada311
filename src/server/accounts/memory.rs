//! [`MemoryRegistry`]: the registry kept in memory only, for tests of the
//! code above the store. It follows the same rules as the durable one
//! (folded names, empty records removed), and forgets everything when
//! dropped.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use super::{fold, AccountRecord, Registry, RegistryError, RoomRecord};

/// A [`Registry`] in memory.
#[derive(Debug, Default)]
pub struct MemoryRegistry {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// By folded name.
    accounts: BTreeMap<String, AccountRecord>,
    /// By room name; ordered, as `rooms` must list them.
    rooms: BTreeMap<String, RoomRecord>,
}

impl MemoryRegistry {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Registry for MemoryRegistry {
    fn account(&self, name: &str) -> Result<Option<AccountRecord>, RegistryError> {
        Ok(self.state().accounts.get(&fold(name)).cloned())
    }

    fn create_account(&self, account: &AccountRecord) -> Result<bool, RegistryError> {
        let mut state = self.state();
        let key = fold(&account.name);
        if state.accounts.contains_key(&key) {
            return Ok(false);
        }
        state.accounts.insert(key, account.clone());
        Ok(true)
    }

    fn update_account(&self, account: &AccountRecord) -> Result<bool, RegistryError> {
        let mut state = self.state();
        match state.accounts.get_mut(&fold(&account.name)) {
            Some(stored) => {
                *stored = account.clone();
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn drop_account(&self, name: &str) -> Result<bool, RegistryError> {
        let mut state = self.state();
        let key = fold(name);
        if state.accounts.remove(&key).is_none() {
            return Ok(false);
        }
        state.rooms.retain(|_, record| {
            record.roles.remove(&key);
            !record.is_empty()
        });
        Ok(true)
    }

    fn room(&self, room: &str) -> Result<Option<RoomRecord>, RegistryError> {
        Ok(self.state().rooms.get(room).cloned())
    }

    fn put_room(&self, record: &RoomRecord) -> Result<(), RegistryError> {
        let mut state = self.state();
        if record.is_empty() {
            state.rooms.remove(&record.room);
        } else {
            state.rooms.insert(record.room.clone(), record.clone());
        }
        Ok(())
    }

    fn rooms(&self) -> Result<Vec<RoomRecord>, RegistryError> {
        Ok(self.state().rooms.values().cloned().collect())
    }
}
