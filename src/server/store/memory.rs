//! The store for rooms without a message log: records live only in their
//! room's in-memory history, so storing one always succeeds at once and
//! nothing outlives the process (a restart starts every room's numbering anew,
//! under a new epoch).

use std::ops::Range;
use std::time::Duration;

use crate::protocol::epoch::Epoch;
use crate::protocol::frames::Frame;
use crate::protocol::names::RoomName;

use super::{Batch, Completion, RestoredRoom, Store, StoreFuture};
use crate::server::page::{Budget, Fitted};

/// Keeps nothing beyond what the rooms hold in memory.
#[derive(Debug, Default)]
pub struct MemoryStore;

impl Store for MemoryStore {
    fn is_durable(&self) -> bool {
        false
    }

    fn append(&self, batch: &Batch) -> Completion {
        Completion::Done(batch.records.len())
    }

    fn append_private(&self, _frame: &Frame, _ts: &str) -> Option<StoreFuture<bool>> {
        None
    }

    fn oldest_seq(&self, _room: &RoomName, _epoch: &Epoch) -> Option<u64> {
        None
    }

    fn read(
        &self,
        _room: &RoomName,
        _epoch: &Epoch,
        _range: Range<u64>,
        _budget: Budget,
    ) -> StoreFuture<Fitted> {
        Box::pin(std::future::ready(Fitted::default()))
    }

    /// A room that leaves memory ends: nothing of it outlives its members.
    fn set_aside(&self, _room: RestoredRoom) {}

    fn bring_back(&self, _room: &RoomName) -> Option<RestoredRoom> {
        None
    }

    fn holds_aside(&self, _room: &RoomName) -> bool {
        false
    }

    fn aside_count(&self) -> usize {
        0
    }

    fn aside_rooms(&self, _after: Option<&RoomName>, _limit: usize) -> Vec<(RoomName, String)> {
        Vec::new()
    }

    fn start(&self) {}

    fn reopen(&self) -> bool {
        false
    }

    fn stop(&self, _deadline: Duration) -> StoreFuture<()> {
        Box::pin(std::future::ready(()))
    }
}
