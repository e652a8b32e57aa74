//! The `enqueued` marks ingest owes, gathered across an isolate's requests. Ingest sends a
//! delivery's new steps to the STEPS queue before it answers (the back-pressure that keeps the
//! tail short), but the mark that records the send is a D1 round trip per delivery that nothing
//! waits on: the consumer claims `pending` and `enqueued` steps alike, and the sweeper sends a
//! `pending` step again only after [`PENDING_GRACE_MS`]. So the ids of sent steps wait here, and
//! the request that adds to an empty set owes the flush: in `waitUntil`, which its answer does
//! not await, it waits [`MARK_WINDOW_MS`] from its send for the requests that follow and then
//! marks everything gathered, in statements of at most [`IDS_PER_MARK`] ids. A mark that is
//! never written (the isolate ends, D1 refuses) leaves its step `pending`, and the sweeper's
//! second message is harmless, exactly as for a mark that failed when it was written at once. A
//! flush that was owed but never came (its request's `waitUntil` cut short) is owed again by the
//! next request, and the set is bounded ([`MAX_PENDING_IDS`]): the oldest ids beyond it are left
//! to the sweeper.

use super::timing::PENDING_GRACE_MS;

/// How long a flush waits for more marks after the answer of the request that owes it.
pub const MARK_WINDOW_MS: u64 = 20;

/// Ids per `UPDATE` (one JSON array bound as a single parameter).
pub const IDS_PER_MARK: usize = 500;

/// Ids held at most; beyond it the oldest are dropped (their steps stay `pending`).
pub const MAX_PENDING_IDS: usize = 10_000;

/// A flush owed longer than this is taken as lost: the next request owes it again. Far longer
/// than the window, far shorter than the pending grace.
const FLUSH_LOST_AFTER_MS: i64 = 5_000;

const _: () = assert!(FLUSH_LOST_AFTER_MS < PENDING_GRACE_MS);

/// What the caller of [`OutboxMarks::add`] must do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    /// Schedule a flush after its answer: no other request owes one.
    OwesFlush,
    /// Nothing: a flush already owed will take these ids too.
    Joined,
}

/// Sent steps whose `enqueued` mark is not written yet.
#[derive(Debug, Default)]
pub struct OutboxMarks {
    pending: Vec<String>,
    /// When the flush now owed was handed out (Unix ms), if one is owed.
    flush_owed_since: Option<i64>,
}

impl OutboxMarks {
    pub const fn new() -> Self {
        OutboxMarks {
            pending: Vec::new(),
            flush_owed_since: None,
        }
    }

    /// Add the ids of steps just sent; say whether this caller owes the flush.
    pub fn add(&mut self, ids: impl IntoIterator<Item = String>, now_ms: i64) -> Added {
        self.pending.extend(ids);
        if let Some(excess) = self.pending.len().checked_sub(MAX_PENDING_IDS) {
            self.pending.drain(..excess);
        }
        if self.pending.is_empty() {
            return Added::Joined;
        }
        match self.flush_owed_since {
            Some(since) if now_ms.saturating_sub(since) < FLUSH_LOST_AFTER_MS => Added::Joined,
            _ => {
                self.flush_owed_since = Some(now_ms);
                Added::OwesFlush
            }
        }
    }

    /// Take every id gathered, in statements' worth; the flush is no longer owed.
    pub fn take(&mut self) -> Vec<Vec<String>> {
        self.flush_owed_since = None;
        let ids = std::mem::take(&mut self.pending);
        let mut chunks = Vec::with_capacity(ids.len().div_ceil(IDS_PER_MARK));
        let mut ids = ids.into_iter().peekable();
        while ids.peek().is_some() {
            chunks.push(ids.by_ref().take(IDS_PER_MARK).collect());
        }
        chunks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(prefix: &str, n: usize) -> Vec<String> {
        (0..n).map(|i| format!("{prefix}{i}")).collect()
    }

    #[test]
    fn the_first_request_owes_the_flush_and_later_ones_join_it() {
        let mut marks = OutboxMarks::new();
        assert_eq!(marks.add(ids("a", 2), 1_000), Added::OwesFlush);
        assert_eq!(marks.add(ids("b", 1), 1_003), Added::Joined);
        assert_eq!(marks.add(ids("c", 3), 1_019), Added::Joined);
        assert_eq!(marks.take(), vec![vec!["a0", "a1", "b0", "c0", "c1", "c2"]]);
    }

    #[test]
    fn after_a_flush_the_next_request_owes_the_next_one() {
        let mut marks = OutboxMarks::new();
        marks.add(ids("a", 1), 0);
        marks.take();
        assert_eq!(marks.add(ids("b", 1), 25), Added::OwesFlush);
        assert_eq!(marks.take(), vec![vec!["b0"]]);
        assert!(marks.take().is_empty(), "nothing is marked twice");
    }

    #[test]
    fn nothing_sent_owes_nothing() {
        let mut marks = OutboxMarks::new();
        assert_eq!(marks.add(Vec::new(), 0), Added::Joined);
        assert!(marks.take().is_empty());
        assert_eq!(marks.add(ids("a", 1), 1), Added::OwesFlush);
    }

    #[test]
    fn a_flush_that_never_came_is_owed_again() {
        let mut marks = OutboxMarks::new();
        assert_eq!(marks.add(ids("a", 1), 0), Added::OwesFlush);
        assert_eq!(
            marks.add(ids("b", 1), FLUSH_LOST_AFTER_MS - 1),
            Added::Joined
        );
        assert_eq!(
            marks.add(ids("c", 1), FLUSH_LOST_AFTER_MS),
            Added::OwesFlush
        );
        assert_eq!(marks.take(), vec![vec!["a0", "b0", "c0"]]);
    }

    #[test]
    fn a_large_set_is_marked_in_statements_of_at_most_five_hundred() {
        let mut marks = OutboxMarks::new();
        marks.add(ids("a", IDS_PER_MARK * 2 + 1), 0);
        let sizes: Vec<usize> = marks.take().iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![IDS_PER_MARK, IDS_PER_MARK, 1]);
    }

    #[test]
    fn the_set_is_bounded_and_keeps_the_newest() {
        let mut marks = OutboxMarks::new();
        marks.add(ids("old", 10), 0);
        marks.add(ids("new", MAX_PENDING_IDS), 1);
        let kept: Vec<String> = marks.take().into_iter().flatten().collect();
        assert_eq!(kept.len(), MAX_PENDING_IDS);
        assert_eq!(kept.first().map(String::as_str), Some("new0"));
    }
}
