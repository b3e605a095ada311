//! The rooms one connection is in: a short list kept in name order. A
//! connection is in a few rooms (at most `max_rooms`), and most connections in
//! one or two, where a tree map's first node alone would take a few hundred
//! bytes of every idle connection.

use std::sync::Arc;

use crate::protocol::names::RoomName;
use crate::server::room::Room;

/// Rooms by name, in name order.
#[derive(Default)]
pub(super) struct JoinedRooms(Vec<(RoomName, Arc<Room>)>);

impl JoinedRooms {
    fn position(&self, name: &RoomName) -> Result<usize, usize> {
        self.0.binary_search_by(|(joined, _)| joined.cmp(name))
    }

    pub(super) fn len(&self) -> usize {
        self.0.len()
    }

    pub(super) fn contains(&self, name: &RoomName) -> bool {
        self.position(name).is_ok()
    }

    pub(super) fn get(&self, name: &RoomName) -> Option<&Arc<Room>> {
        self.position(name).ok().map(|at| &self.0[at].1)
    }

    /// Adds a room, or replaces the one of that name.
    pub(super) fn insert(&mut self, name: RoomName, room: Arc<Room>) {
        match self.position(&name) {
            Ok(at) => self.0[at].1 = room,
            Err(at) => self.0.insert(at, (name, room)),
        }
    }

    pub(super) fn remove(&mut self, name: &RoomName) -> Option<Arc<Room>> {
        let at = self.position(name).ok()?;
        let (_, room) = self.0.remove(at);
        self.shrink();
        Some(room)
    }

    pub(super) fn retain(&mut self, mut keep: impl FnMut(&Arc<Room>) -> bool) {
        self.0.retain(|(_, room)| keep(room));
        self.shrink();
    }

    pub(super) fn rooms(&self) -> impl Iterator<Item = &Arc<Room>> {
        self.0.iter().map(|(_, room)| room)
    }

    pub(super) fn clear(&mut self) {
        self.0 = Vec::new();
    }

    /// Gives back what a connection that left most of its rooms no longer needs.
    fn shrink(&mut self) {
        if self.0.capacity() > 2 * self.0.len().max(2) {
            self.0.shrink_to_fit();
        }
    }
}
