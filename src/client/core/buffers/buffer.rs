//! One buffer on its own: its lines (bounded, unless the user is reading
//! back), where "new" goes, the pending own messages, its members.

use std::collections::HashSet;

use crate::protocol::names::Nick;

use super::*;

impl Buffer {
    pub(super) fn new(key: BufferKey, title: String) -> Buffer {
        Buffer {
            key,
            title,
            lines: VecDeque::new(),
            unread: 0,
            mentions: 0,
            marker: None,
            topic: String::new(),
            members: Vec::new(),
            more_before: false,
            epoch: None,
            parted: false,
            fetching: false,
            reading_back: false,
        }
    }

    /// Where "new" goes: the index of the first line that came after the
    /// user left the buffer. `None` when nothing came since. Older messages
    /// fetched meanwhile were put in front, so the place is after the last
    /// line that was there, not before the first new id.
    pub fn marker_at(&self) -> Option<usize> {
        let marker = self.marker?;
        let at = self
            .lines
            .iter()
            .rposition(|line| line.id < marker)
            .map_or(0, |last_seen| last_seen + 1);
        (at < self.lines.len()).then_some(at)
    }

    /// Whether the marker is drawn: lines came after it.
    pub fn marker_visible(&self) -> bool {
        self.marker_at().is_some()
    }

    /// A page of older messages was asked for and not answered yet.
    pub fn is_fetching(&self) -> bool {
        self.fetching
    }

    pub(super) fn oldest_seq(&self) -> Option<u64> {
        self.lines.iter().filter_map(|line| line.seq).min()
    }

    pub(super) fn seqs(&self) -> HashSet<u64> {
        self.lines.iter().filter_map(|line| line.seq).collect()
    }

    pub(super) fn push(&mut self, line: Line) {
        self.lines.push_back(line);
        self.trim();
    }

    pub(super) fn trim(&mut self) {
        if self.reading_back {
            return;
        }
        while self.lines.len() > MAX_LINES {
            self.lines.pop_front();
            // Only a room's lines can be fetched again.
            if matches!(self.key, BufferKey::Room(_)) {
                self.more_before = true;
            }
        }
    }

    /// The first of the user's lines to this buffer still waiting for the
    /// server, with this text.
    pub(super) fn pending_mut(&mut self, text: &str, action: bool) -> Option<&mut Line> {
        self.lines.iter_mut().find(|line| {
            matches!(&line.kind, LineKind::Message {
                text: pending,
                action: was_action,
                delivery: Delivery::Pending,
                ..
            } if pending == text && *was_action == action)
        })
    }

    /// The room's numbering changed: the seqs held so far compare with
    /// nothing the server holds now, and nothing before them can be fetched.
    pub(super) fn forget_numbering(&mut self) {
        for line in &mut self.lines {
            line.seq = None;
        }
        self.epoch = None;
        self.more_before = false;
    }

    pub(super) fn set_members(&mut self, mut members: Vec<Nick>) {
        members.sort_by_key(Nick::key);
        self.members = members;
    }

    pub(super) fn add_member(&mut self, nick: &Nick) {
        let key = nick.key();
        if let Err(at) = self.members.binary_search_by_key(&key, Nick::key) {
            self.members.insert(at, nick.clone());
        }
    }

    /// Whether the nick was a member.
    pub(super) fn remove_member(&mut self, nick: &Nick) -> bool {
        let key = nick.key();
        let before = self.members.len();
        self.members.retain(|member| member.key() != key);
        self.members.len() != before
    }

    /// Whether `old` was a member.
    pub(super) fn rename_member(&mut self, old: &Nick, new: &Nick) -> bool {
        let had = self.remove_member(old);
        if had {
            self.add_member(new);
        }
        had
    }
}
