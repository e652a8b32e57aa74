//! What one backfill invocation may spend of the platform's per-invocation limits (1,000 KV
//! operations, 1,000 subrequests and D1 queries on the paid plan): the largest
//! `BACKFILL_MAX_PAGES` ([`MAX_PAGES`]) and the KV dedupe hints one invocation writes
//! ([`HINT_PUTS_PER_INVOCATION`], shared by all its pages). [`worst_case_operations`] adds up an
//! invocation at that bound; the tests hold it under [`INVOCATION_OPERATIONS`].

/// The per-invocation operations counted against (paid plan; KV's limit is 1,000 on both).
pub const INVOCATION_OPERATIONS: u32 = 1_000;

/// Operations of a run besides its pages: the state read and save, the routing read
/// (connections and switches), the run's record.
pub const OPERATIONS_PER_RUN: u32 = 6;

/// Operations of one page besides hint puts: the gate (count, and a probe lease when the
/// circuit is half open), the fetch, the health record, the stored-rows lookup (Shopify's
/// version rule, a dry run's count), the D1 insert batch, and per 100 new steps one queue send
/// and one marking `enqueued` (counted for up to 300 steps a page).
pub const OPERATIONS_PER_PAGE: u32 = 2 + 1 + 1 + 1 + 1 + 3 * 2;

/// KV hint puts one invocation writes, whatever its number of pages: past them an event D1
/// already had gets no hint (a retry of its webhook costs a D1 round trip, never a duplicate).
pub const HINT_PUTS_PER_INVOCATION: usize = 100;

/// The largest `BACKFILL_MAX_PAGES`.
pub const MAX_PAGES: u32 = 50;

/// The operations of an invocation of one run that fetches `pages` pages, at worst.
pub fn worst_case_operations(pages: u32) -> u32 {
    let hints = u32::try_from(HINT_PUTS_PER_INVOCATION).unwrap_or(u32::MAX);
    OPERATIONS_PER_RUN
        .saturating_add(pages.saturating_mul(OPERATIONS_PER_PAGE))
        .saturating_add(hints)
}
