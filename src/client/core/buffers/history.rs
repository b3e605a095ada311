//! Pages of a room's messages from the server: asking for the page before the
//! oldest line held, and putting an answer in its place by seq, never
//! splicing two numberings (epochs).

use super::*;

impl Buffers {
    /// The request for the messages before a room buffer's oldest, when the
    /// server holds more and none is on its way already. The buffer is being
    /// read back from now on: it keeps every page until
    /// [`Buffers::back_to_newest`].
    pub fn older_request(&mut self, index: usize) -> Option<Request> {
        let buffer = self.buffers.get_mut(index)?;
        let BufferKey::Room(room) = &buffer.key else {
            return None;
        };
        if !buffer.more_before || buffer.fetching {
            return None;
        }
        buffer.reading_back = true;
        let page = match buffer.oldest_seq() {
            Some(seq) => HistoryPage::Before(seq),
            None => HistoryPage::Newest,
        };
        let request = Request::History {
            room: room.clone(),
            page,
            limit: None,
            epoch: buffer.epoch.clone(),
        };
        buffer.fetching = true;
        Some(request)
    }

    pub(super) fn history(&mut self, page: HistoryPage, answer: HistoryAnswer) {
        // A late answer for a room left meanwhile has nowhere to go.
        let Some(index) = self.room_index(&answer.room) else {
            return;
        };
        let fetching = std::mem::take(&mut self.buffers[index].fetching);
        self.adopt_epoch(index, answer.epoch);
        // `older_request` asks for the newest page when it holds no seq yet.
        let older =
            matches!(page, HistoryPage::Before(_)) || (fetching && page == HistoryPage::Newest);
        if older {
            self.prepend(index, answer.messages, answer.more);
            return;
        }
        if page == HistoryPage::Newest && answer.messages.is_empty() {
            let text = render::no_messages(&answer.room);
            self.notice(index, text);
        }
        self.merge(index, answer.messages, answer.more);
    }

    /// Older messages in front of the buffer's lines, as many as fit.
    pub(super) fn prepend(&mut self, index: usize, messages: Vec<ServerEvent>, more: bool) {
        let held = self.buffers[index].seqs();
        let mut fresh: Vec<ServerEvent> = messages
            .into_iter()
            .filter(|event| event.seq().is_none_or(|seq| !held.contains(&seq)))
            .collect();
        let room = if self.buffers[index].reading_back {
            usize::MAX
        } else {
            MAX_LINES.saturating_sub(self.buffers[index].lines.len())
        };
        // The page is oldest first: keep its newest, next to what is held.
        let cut = fresh.len().saturating_sub(room);
        let kept = fresh.split_off(cut);
        let lines: Vec<Line> = kept
            .into_iter()
            .map(|event| self.event_line(event))
            .collect();
        let buffer = &mut self.buffers[index];
        for line in lines.into_iter().rev() {
            buffer.lines.push_front(line);
        }
        buffer.more_before = more || cut > 0;
    }

    /// Messages put in seq order among the buffer's lines, those it holds
    /// already skipped; a backlog, so nothing counts as unread.
    pub(super) fn merge(&mut self, index: usize, messages: Vec<ServerEvent>, more: bool) {
        let oldest = self.buffers[index].oldest_seq();
        let mut held = self.buffers[index].seqs();
        // Whether the page says anything about what lies before the buffer.
        let mut reaches_back = oldest.is_none();
        for event in messages {
            let seq = event.seq();
            if let Some(seq) = seq {
                if !held.insert(seq) {
                    continue;
                }
                reaches_back |= oldest.is_some_and(|oldest| seq < oldest);
            }
            let line = self.event_line(event);
            let lines = &mut self.buffers[index].lines;
            let at = seq
                .and_then(|seq| {
                    lines
                        .iter()
                        .position(|line| line.seq.is_some_and(|later| later > seq))
                })
                .unwrap_or(lines.len());
            lines.insert(at, line);
        }
        let buffer = &mut self.buffers[index];
        if reaches_back {
            buffer.more_before = more;
        }
        buffer.trim();
    }

    /// A new epoch in an answer: a different one means the room's numbering
    /// restarted, and seqs of the old one must not be compared with it.
    pub(super) fn adopt_epoch(&mut self, index: usize, epoch: Option<Epoch>) {
        let Some(epoch) = epoch else {
            return;
        };
        let buffer = &mut self.buffers[index];
        if buffer.epoch.as_ref().is_some_and(|held| *held != epoch) {
            buffer.forget_numbering();
        }
        buffer.epoch = Some(epoch);
    }
}
