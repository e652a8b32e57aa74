//! How much one cron tick of retention may do. Events past `RETENTION_DAYS` are deleted in
//! batches (each one D1 transaction: tombstones, attempts, steps, events) of at most
//! [`EVENTS_PER_BATCH`] events, at most [`MAX_BATCHES`] per tick, and no more than [`ROW_BUDGET`]
//! rows in all. Every stored event counts, so a SendGrid delivery of 3,000 events is 3,000
//! events here, not one; and the rows an event brings (its steps, their attempts, its tombstone)
//! are measured batch by batch, so a backlog of events with many retried steps takes smaller
//! batches instead of larger transactions. A tick stops early once a batch finds fewer events
//! than it asked for: retention has caught up.
//!
//! At full budget a tick deletes 4,000 events, 5.76 million a day: almost three times the
//! 2,000,000 events a day a busy install stores (BENCHMARKS.md, "Issue 23").

/// Events one deletion batch takes at most.
pub const EVENTS_PER_BATCH: u64 = 500;
/// Deletion batches (D1 transactions) per cron tick at most.
pub const MAX_BATCHES: u32 = 8;
/// Rows (events, steps, attempts, tombstones written) one tick deletes or writes at most.
pub const ROW_BUDGET: u64 = 40_000;
/// Rows per event assumed before a batch has measured them: a Stripe checkout is the event, two
/// steps and their attempts.
const FIRST_GUESS_ROWS_PER_EVENT: u64 = 5;
/// Payloads the purge drops per tick at most.
pub const PURGE_BATCH: u64 = 1_000;
/// Expired tombstones deleted per tick at most: more than one tick can write
/// (`MAX_BATCHES * EVENTS_PER_BATCH`), so expiry keeps up with creation.
pub const TOMBSTONE_EXPIRY_BATCH: u64 = 10_000;

/// What one deletion batch (or a whole tick) removed and wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Deleted {
    pub events: u64,
    pub steps: u64,
    pub attempts: u64,
    /// Tombstones written for the deleted events (see `retention::tombstones`).
    pub tombstones: u64,
}

impl Deleted {
    /// Every row the batch touched.
    pub fn rows(&self) -> u64 {
        self.events + self.steps + self.attempts + self.tombstones
    }

    fn add(&mut self, other: Deleted) {
        self.events += other.events;
        self.steps += other.steps;
        self.attempts += other.attempts;
        self.tombstones += other.tombstones;
    }
}

/// The deletion budget of one tick: ask [`Budget::next_batch`] how many events the next batch
/// may take, run it, [`Budget::record`] what it did, until `next_batch` says `None`.
#[derive(Debug, Clone, Default)]
pub struct Budget {
    spent: Deleted,
    batches: u32,
    caught_up: bool,
}

impl Budget {
    /// The events the next batch may delete, or `None`: caught up, out of batches, or too few
    /// rows left for even one event.
    pub fn next_batch(&self) -> Option<u64> {
        if self.caught_up || self.batches >= MAX_BATCHES {
            return None;
        }
        let rows_left = ROW_BUDGET.saturating_sub(self.spent.rows());
        let events = (rows_left / self.rows_per_event()).min(EVENTS_PER_BATCH);
        (events > 0).then_some(events)
    }

    /// A batch that asked for `asked` events did `deleted`. Fewer events than asked: nothing
    /// more is past retention now.
    pub fn record(&mut self, asked: u64, deleted: Deleted) {
        self.batches += 1;
        self.spent.add(deleted);
        if deleted.events < asked {
            self.caught_up = true;
        }
    }

    /// Everything this tick's batches did.
    pub fn spent(&self) -> Deleted {
        self.spent
    }

    /// The rows an event has brought so far (rounded up), or the first guess.
    fn rows_per_event(&self) -> u64 {
        match self.spent.events {
            0 => FIRST_GUESS_ROWS_PER_EVENT,
            events => self.spent.rows().div_ceil(events).max(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVENTS_PER_DAY_GOAL: u64 = 2_000_000;

    fn batch(events: u64, rows_per_event: u64) -> Deleted {
        Deleted {
            events,
            steps: events * (rows_per_event - 1),
            ..Deleted::default()
        }
    }

    #[test]
    fn a_full_tick_keeps_up_with_two_million_events_a_day() {
        let per_day = EVENTS_PER_BATCH * u64::from(MAX_BATCHES) * 24 * 60;
        assert!(per_day >= 2 * EVENTS_PER_DAY_GOAL, "{per_day} a day");
        // Typical events (up to ten rows each) fit the row budget at full speed.
        let mut budget = Budget::default();
        let mut batches = 0;
        while let Some(events) = budget.next_batch() {
            assert_eq!(events, EVENTS_PER_BATCH);
            budget.record(events, batch(events, 10));
            batches += 1;
        }
        assert_eq!(batches, MAX_BATCHES);
        assert_eq!(
            budget.spent().events,
            EVENTS_PER_BATCH * u64::from(MAX_BATCHES)
        );
    }

    #[test]
    fn a_short_batch_means_caught_up() {
        let mut budget = Budget::default();
        assert_eq!(budget.next_batch(), Some(EVENTS_PER_BATCH));
        budget.record(EVENTS_PER_BATCH, batch(120, 3));
        assert_eq!(budget.next_batch(), None);
        assert_eq!(budget.spent().events, 120);
        assert_eq!(budget.spent().rows(), 360);
    }

    #[test]
    fn heavy_events_shrink_the_batches_to_the_row_budget() {
        // Events with many retried steps: 60 rows each.
        let mut budget = Budget::default();
        let mut asked = Vec::new();
        while let Some(events) = budget.next_batch() {
            asked.push(events);
            budget.record(events, batch(events, 60));
        }
        // The first batch guessed 5 rows an event (30,000 rows); the measured 60 rows an event
        // then bound the second to what is left of the budget.
        assert_eq!(asked, [EVENTS_PER_BATCH, 166]);
        assert_eq!(budget.spent().rows(), 39_960);
    }

    #[test]
    fn tombstones_count_as_rows() {
        let deleted = Deleted {
            events: 2,
            steps: 3,
            attempts: 4,
            tombstones: 2,
        };
        assert_eq!(deleted.rows(), 11);
        assert!(TOMBSTONE_EXPIRY_BATCH >= EVENTS_PER_BATCH * u64::from(MAX_BATCHES));
    }
}
