//! Pages bounded in bytes (protocol 1.1, "every response fits the
//! connection"): a `join`, `history` or `rooms` answer is at most
//! `max_page_bytes` as one line, so it can never be what cuts the client that
//! asked for it. The answer without its list (the envelope: room, topic,
//! members, epoch, id) is measured first; what is left is the [`Budget`] for
//! the list, filled from the end the page keeps until the next item would
//! cross it. At least one item is always taken, so a page is never empty while
//! items exist, and `more` says the page stopped early.
//!
//! Which end a page keeps is what makes paging on with `more` skip nothing: a
//! page going back in time (`before`, the newest page, `join` without `since`)
//! keeps its newest items and drops from its old end; a page going forward
//! (`after`, `join` with `since`) keeps its oldest and drops from its new end.

use std::collections::VecDeque;
use std::ops::Range;

use crate::protocol::epoch::Epoch;
use crate::protocol::frames::Frame;
use crate::protocol::names::RoomName;
use crate::protocol::request::HistoryPage;

use super::store::Store;

/// Which end of a run of items a page keeps when they do not all fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    Oldest,
    Newest,
}

impl Keep {
    /// The end a `history` page keeps: forward pages their oldest items,
    /// backward and newest pages their newest.
    pub fn for_page(page: &HistoryPage) -> Keep {
        match page {
            HistoryPage::After(_) => Keep::Oldest,
            HistoryPage::Newest | HistoryPage::Before(_) => Keep::Newest,
        }
    }
}

/// The bytes a page's list may take, and from which end it is filled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub bytes: usize,
    pub keep: Keep,
    /// Take one item even when it alone is over `bytes` (the page has none
    /// yet).
    pub at_least_one: bool,
}

/// Items that fit a budget, oldest first.
#[derive(Debug, Default)]
pub struct Fitted {
    pub frames: Vec<Frame>,
    /// What they take in the answer (each item counted with a separator).
    pub bytes: usize,
    /// Items were left out at the end the page does not keep.
    pub cut: bool,
}

/// What one item adds to a list: its bytes and a comma (one too many for the
/// first, which keeps the count on the safe side).
pub fn cost(item_bytes: usize) -> usize {
    item_bytes + 1
}

/// Takes items offered oldest first and keeps what fits a [`Budget`]: with
/// [`Keep::Oldest`] it stops at the first that does not fit; with
/// [`Keep::Newest`] it drops the oldest it holds to make room, so what it
/// holds is never much more than the budget.
#[derive(Debug)]
pub struct Collector {
    budget: Budget,
    frames: VecDeque<Frame>,
    bytes: usize,
    cut: bool,
}

impl Collector {
    pub fn new(budget: Budget) -> Collector {
        Collector {
            budget,
            frames: VecDeque::new(),
            bytes: 0,
            cut: false,
        }
    }

    /// Offers the next item. False once the page is full and every later item
    /// would be cut, so the caller may stop reading.
    pub fn offer(&mut self, frame: Frame) -> bool {
        let cost = cost(frame.get().len());
        match self.budget.keep {
            Keep::Oldest => {
                let first = self.frames.is_empty() && self.budget.at_least_one;
                if self.bytes + cost > self.budget.bytes && !first {
                    self.cut = true;
                    return false;
                }
                self.bytes += cost;
                self.frames.push_back(frame);
                true
            }
            Keep::Newest => {
                self.bytes += cost;
                self.frames.push_back(frame);
                while self.bytes > self.budget.bytes
                    && (self.frames.len() > 1 || !self.budget.at_least_one)
                {
                    let Some(oldest) = self.frames.pop_front() else {
                        break;
                    };
                    self.bytes -= self::cost(oldest.get().len());
                    self.cut = true;
                }
                true
            }
        }
    }

    pub fn finish(self) -> Fitted {
        Fitted {
            frames: self.frames.into(),
            bytes: self.bytes,
            cut: self.cut,
        }
    }
}

/// Fits `frames` (oldest first) into `budget`.
pub fn fit(frames: Vec<Frame>, budget: Budget) -> Fitted {
    let mut collector = Collector::new(budget);
    for frame in frames {
        if !collector.offer(frame) {
            break;
        }
    }
    collector.finish()
}

/// The history of a page within `bytes`: the older part read from the store
/// (the seqs in `stored`) and the newer part memory holds (`memory`), filled
/// from the end `keep` says. The store is not read at all when memory alone
/// fills a page that keeps its newest items, and it never reads more than
/// about the budget. Returns the items, oldest first, and whether any were
/// left out.
pub async fn history(
    store: &dyn Store,
    room: &RoomName,
    epoch: &Epoch,
    stored: Range<u64>,
    memory: Vec<Frame>,
    keep: Keep,
    bytes: usize,
) -> (Vec<Frame>, bool) {
    let budget = |bytes, at_least_one| Budget {
        bytes,
        keep,
        at_least_one,
    };
    match keep {
        Keep::Oldest => {
            let mut older = if stored.is_empty() {
                Fitted::default()
            } else {
                store.read(room, epoch, stored, budget(bytes, true)).await
            };
            if older.cut {
                return (older.frames, true);
            }
            let rest = bytes.saturating_sub(older.bytes);
            let newer = fit(memory, budget(rest, older.frames.is_empty()));
            older.frames.extend(newer.frames);
            (older.frames, newer.cut)
        }
        Keep::Newest => {
            let mut newer = fit(memory, budget(bytes, true));
            if newer.cut || stored.is_empty() {
                return (newer.frames, newer.cut);
            }
            let rest = bytes.saturating_sub(newer.bytes);
            let mut older = store
                .read(room, epoch, stored, budget(rest, newer.frames.is_empty()))
                .await;
            older.frames.append(&mut newer.frames);
            (older.frames, older.cut)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::frames::encode;

    fn item(n: usize) -> Frame {
        // `"xx…"`: n bytes in all, so each costs n + 1.
        encode(&"x".repeat(n - 2))
    }

    fn sizes(fitted: &Fitted) -> Vec<usize> {
        fitted.frames.iter().map(|f| f.get().len()).collect()
    }

    fn budget(bytes: usize, keep: Keep) -> Budget {
        Budget {
            bytes,
            keep,
            at_least_one: true,
        }
    }

    #[test]
    fn oldest_pages_stop_before_the_item_that_would_cross() {
        let items = vec![item(10), item(20), item(30), item(40)];
        let fitted = fit(items.clone(), budget(32, Keep::Oldest));
        assert_eq!(
            (sizes(&fitted), fitted.bytes, fitted.cut),
            (vec![10, 20], 32, true)
        );
        let fitted = fit(items, budget(1000, Keep::Oldest));
        assert_eq!((fitted.frames.len(), fitted.cut), (4, false));
    }

    #[test]
    fn newest_pages_drop_from_their_old_end() {
        let items = vec![item(10), item(20), item(30), item(40)];
        let fitted = fit(items, budget(72, Keep::Newest));
        assert_eq!(
            (sizes(&fitted), fitted.bytes, fitted.cut),
            (vec![30, 40], 72, true)
        );
    }

    #[test]
    fn one_item_is_always_taken_unless_the_page_has_one_already() {
        for keep in [Keep::Oldest, Keep::Newest] {
            let fitted = fit(vec![item(10), item(50)], budget(5, keep));
            let expected = if keep == Keep::Oldest { 10 } else { 50 };
            assert_eq!(
                (sizes(&fitted), fitted.cut),
                (vec![expected], true),
                "{keep:?}"
            );
            let none = fit(
                vec![item(10)],
                Budget {
                    at_least_one: false,
                    ..budget(5, keep)
                },
            );
            assert_eq!((none.frames.len(), none.cut), (0, true), "{keep:?}");
        }
        assert!(fit(Vec::new(), budget(0, Keep::Oldest)).frames.is_empty());
    }

    #[test]
    fn pages_in_either_direction_join_up_without_a_gap() {
        // Paging forward from the oldest and backward from the newest with
        // the same budget both see every item exactly once.
        let items: Vec<Frame> = (0..40).map(|n| item(10 + n * 7 % 23)).collect();
        let mut forward = Vec::new();
        let mut rest = items.clone();
        while !rest.is_empty() {
            let page = fit(rest.clone(), budget(60, Keep::Oldest));
            assert!(!page.frames.is_empty());
            forward.extend(page.frames.iter().cloned());
            rest.drain(..page.frames.len());
        }
        let text = |frames: &[Frame]| {
            frames
                .iter()
                .map(|f| f.get().to_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(text(&forward), text(&items));
        let mut backward = Vec::new();
        let mut rest = items.clone();
        while !rest.is_empty() {
            let page = fit(rest.clone(), budget(60, Keep::Newest));
            rest.truncate(rest.len() - page.frames.len());
            backward.splice(0..0, page.frames);
        }
        assert_eq!(text(&backward), text(&items));
    }
}
