//! Counts held in isolate memory between writes to D1: a [`Tally`] adds values up by key,
//! bounded (a new key past the batch's [`Batch::MAX_KEYS`] is dropped and its weight counted as
//! dropped until the next flush), and says when a flush is due: something is pending and neither
//! the oldest pending count nor the last flush is younger than [`FLUSH_INTERVAL_MS`]. A flush
//! takes everything as the [`Batch`] D1 is written from (the tally is empty afterwards, so a
//! concurrent flush finds nothing to write twice) and a failed write is put back. The dashboard
//! metrics (`crate::metrics`) and the verification failures (`crate::inbound::rejections`) are both
//! tallies; the shell has one binding that flushes either.

/// Minimum time between two flushes triggered by requests.
pub const FLUSH_INTERVAL_MS: i64 = 60_000;

/// A value a tally adds up under one key.
pub trait Count {
    /// Add `other` into this one (saturating).
    fn add(&mut self, other: Self);
    /// How many things it counts: what is counted as dropped when the tally is full.
    fn weight(&self) -> u64;
}

impl Count for u64 {
    fn add(&mut self, other: u64) {
        *self = self.saturating_add(other);
    }

    fn weight(&self) -> u64 {
        *self
    }
}

/// What one flush writes: built from the tally's counts, and turned back into them when the
/// write failed.
pub trait Batch: Sized {
    type Key: Ord;
    type Value: Count;
    /// Most keys the tally holds between flushes.
    const MAX_KEYS: usize;

    /// `counts` is sorted by key, each key once.
    fn from_counts(counts: Vec<(Self::Key, Self::Value)>) -> Self;
    fn into_counts(self) -> impl IntoIterator<Item = (Self::Key, Self::Value)>;
}

/// Counts not yet written to D1, in the shape of batch `B`.
#[derive(Debug)]
pub struct Tally<B: Batch> {
    /// Sorted by key, each key once: a sorted `Vec` of at most `MAX_KEYS` rather than a map
    /// (each map type is ~2 KiB of the gzip bundle; lookups are a binary search either way).
    counts: Vec<(B::Key, B::Value)>,
    /// When the oldest unflushed count arrived; `None` when the tally is empty.
    pending_since_ms: Option<i64>,
    last_flush_ms: Option<i64>,
    dropped: u64,
}

impl<B: Batch> Default for Tally<B> {
    fn default() -> Self {
        Tally::new()
    }
}

impl<B: Batch> Tally<B> {
    pub const fn new() -> Tally<B> {
        Tally {
            counts: Vec::new(),
            pending_since_ms: None,
            last_flush_ms: None,
            dropped: 0,
        }
    }

    /// Add `value` under `key` at `now_ms`; a new key in a full tally is dropped.
    pub fn add(&mut self, key: B::Key, value: B::Value, now_ms: i64) {
        match self.counts.binary_search_by(|(held, _)| held.cmp(&key)) {
            Ok(at) => self.counts[at].1.add(value),
            Err(_) if self.counts.len() >= B::MAX_KEYS => {
                self.dropped = self.dropped.saturating_add(value.weight());
                return;
            }
            Err(at) => self.counts.insert(at, (key, value)),
        }
        self.pending_since_ms.get_or_insert(now_ms);
    }

    /// True when a request may flush now: something is pending and neither the oldest pending
    /// count nor the last flush is younger than [`FLUSH_INTERVAL_MS`].
    pub fn flush_due(&self, now_ms: i64) -> bool {
        let Some(since) = self.pending_since_ms else {
            return false;
        };
        let waited = |t: i64| now_ms.saturating_sub(t) >= FLUSH_INTERVAL_MS;
        waited(since) && self.last_flush_ms.is_none_or(waited)
    }

    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// Take every pending count for writing; the tally is empty afterwards.
    pub fn take(&mut self, now_ms: i64) -> B {
        self.last_flush_ms = Some(now_ms);
        self.pending_since_ms = None;
        B::from_counts(std::mem::take(&mut self.counts))
    }

    /// Put back a batch whose write failed, so a later flush writes it.
    pub fn restore(&mut self, batch: B, now_ms: i64) {
        for (key, value) in batch.into_counts() {
            self.add(key, value, now_ms);
        }
    }

    /// What was not counted because the tally was full.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts by name, at most two names.
    #[derive(Debug, PartialEq)]
    struct Names(Vec<(&'static str, u64)>);

    impl Batch for Names {
        type Key = &'static str;
        type Value = u64;
        const MAX_KEYS: usize = 2;

        fn from_counts(counts: Vec<(&'static str, u64)>) -> Names {
            Names(counts)
        }

        fn into_counts(self) -> impl IntoIterator<Item = (&'static str, u64)> {
            self.0
        }
    }

    const T0: i64 = 1_700_000_000_000;

    #[test]
    fn adds_by_key_and_drops_new_keys_when_full() {
        let mut tally = Tally::<Names>::new();
        tally.add("a", 2, T0);
        tally.add("b", 1, T0);
        tally.add("a", 3, T0);
        tally.add("c", 4, T0);
        assert_eq!(tally.dropped(), 4, "the dropped weight");
        assert_eq!(tally.take(T0), Names(vec![("a", 5), ("b", 1)]));
        assert!(tally.is_empty());
    }

    #[test]
    fn a_flush_is_due_a_minute_after_the_first_count_and_the_last_flush() {
        let mut tally = Tally::<Names>::new();
        assert!(!tally.flush_due(T0), "nothing pending");
        tally.add("a", 1, T0);
        assert!(!tally.flush_due(T0 + FLUSH_INTERVAL_MS - 1));
        assert!(tally.flush_due(T0 + FLUSH_INTERVAL_MS));
        let taken = tally.take(T0 + FLUSH_INTERVAL_MS);
        tally.restore(taken, T0 + FLUSH_INTERVAL_MS + 1);
        assert!(
            !tally.flush_due(T0 + 2 * FLUSH_INTERVAL_MS - 1),
            "a minute since the last flush"
        );
        assert!(tally.flush_due(T0 + 2 * FLUSH_INTERVAL_MS + 1));
        assert_eq!(tally.take(T0), Names(vec![("a", 1)]), "restored whole");
    }
}
