//! What the backfill may spend of an invocation's platform limits (1,000 subrequests, 1,000 KV
//! operations and 1,000 D1 queries on the paid plan; every fetch and every binding call counts
//! as one operation here, so one figure bounds all three): an [`OperationBudget`] that every run
//! of an invocation draws from, at worst-case prices. The cron tick's is shared by the Stripe
//! backfill and each shop's reconciliation (`crate::cron_budget` reserves the sweeper's other
//! passes first); an admin run has its own ([`OperationBudget::admin_run`]). A run opens its frame
//! (state read and save, routing read, record) only when a page can follow it
//! ([`OperationBudget::open_run`]), gives back what a run that was not due did not use
//! ([`OperationBudget::close_run`]), takes each page's operations before fetching it
//! ([`OperationBudget::next_page`]), sends its new steps in whole queue sends while the budget
//! lasts (the rest stay `pending` and the sweeper sends them: [`OperationBudget::steps_to_send`])
//! and writes KV hints only from what is left beyond one more page, at most
//! [`HINT_PUTS_PER_INVOCATION`] an invocation. A run that finds the budget spent stops with its
//! cursor, exactly as at its page bound, and the next tick continues it from there.
//! [`OperationBudget::share`] gives each run of a tick an equal part of what is left, and
//! [`turn_order`] rotates which run goes first from tick to tick, so no shop waits for ever
//! behind the others.

use super::Tick;

/// The per-invocation operations counted against (paid plan; KV's limit is 1,000 on both).
pub const INVOCATION_OPERATIONS: u32 = 1_000;

/// KV hint puts one invocation writes, whatever its runs and pages: past them an event D1
/// already had gets no hint (a retry of its webhook costs a D1 round trip, never a duplicate).
pub const HINT_PUTS_PER_INVOCATION: usize = 100;

/// The largest `BACKFILL_MAX_PAGES`.
pub const MAX_PAGES: u32 = 50;

/// A run's frame, whatever its pages: the state read and save, the routing read (connections
/// and route switches, two reads), the run's record.
pub const RUN_OPERATIONS: u32 = 1 + 1 + 2 + 1;

/// One page besides its queue sends and hint puts: the gate (the health count, and a probe
/// lease when the circuit is half open), the fetch, the health record, the stored-rows lookup
/// (Shopify's version rule, a dry run's count), the routing read (the isolate's copy lasts 5 s),
/// the D1 insert batch (a page is at most 250 events: one batch).
pub const PAGE_OPERATIONS: u32 = 2 + 1 + 1 + 1 + 2 + 1;

/// One queue send of up to [`STEPS_PER_SEND`] new steps, and their marking `enqueued`.
pub const SEND_OPERATIONS: u32 = 2;

/// New steps one queue send carries (Queues take 100 messages per `sendBatch`).
pub const STEPS_PER_SEND: usize = 100;

/// What must be left before a page is fetched: the page and one queue send.
pub const PAGE_AT_LEAST: u32 = PAGE_OPERATIONS + SEND_OPERATIONS;

/// What must be left before a run opens: its frame and one page.
pub const RUN_AT_LEAST: u32 = RUN_OPERATIONS + PAGE_AT_LEAST;

/// An admin request's own operations beside its run (signing in, its audit row).
pub const ADMIN_REQUEST_OPERATIONS: u32 = 20;

/// Operations one invocation's runs may still take; see the module's doc.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OperationBudget {
    limit: u32,
    spent: u32,
    hint_puts_left: usize,
}

impl OperationBudget {
    /// A budget of `limit` operations and the invocation's hint puts.
    pub fn new(limit: u32) -> Self {
        OperationBudget {
            limit,
            spent: 0,
            hint_puts_left: HINT_PUTS_PER_INVOCATION,
        }
    }

    /// An admin run's: the invocation's operations less the request's own, its frame taken.
    pub fn admin_run() -> Self {
        let mut budget = Self::new(INVOCATION_OPERATIONS - ADMIN_REQUEST_OPERATIONS);
        budget.spent = RUN_OPERATIONS;
        budget
    }

    pub fn left(&self) -> u32 {
        self.limit.saturating_sub(self.spent)
    }

    pub fn spent(&self) -> u32 {
        self.spent
    }

    /// Take `n` if that much is left.
    fn take(&mut self, n: u32) -> bool {
        let fits = n <= self.left();
        if fits {
            self.spent += n;
        }
        fits
    }

    /// Open a run's frame ([`RUN_OPERATIONS`]) if a page can follow it. `false`: the run is
    /// left for a later tick before anything is read (it stays due).
    pub fn open_run(&mut self) -> bool {
        self.left() >= RUN_AT_LEAST && self.take(RUN_OPERATIONS)
    }

    /// Close an open frame as the run's `tick` used it, giving back the rest: not due, only the
    /// state was read; the first tick also saved it; a run used the whole frame.
    pub fn close_run(&mut self, tick: Tick) {
        let used = match tick {
            Tick::Wait => 1,
            Tick::Initialize => 2,
            Tick::Run => RUN_OPERATIONS,
        };
        self.spent = self.spent.saturating_sub(RUN_OPERATIONS - used);
    }

    /// May the next page be fetched? Takes [`PAGE_OPERATIONS`] when a page and one send fit.
    pub fn next_page(&mut self) -> bool {
        self.left() >= PAGE_AT_LEAST && self.take(PAGE_OPERATIONS)
    }

    /// How many of a page's `steps` new steps to send now: whole sends of [`STEPS_PER_SEND`]
    /// while the budget lasts (all of them when it covers them). The rest stay `pending`.
    pub fn steps_to_send(&mut self, steps: usize) -> usize {
        let sends = u32::try_from(steps.div_ceil(STEPS_PER_SEND)).unwrap_or(u32::MAX);
        let affordable = sends.min(self.left() / SEND_OPERATIONS);
        self.spent += affordable * SEND_OPERATIONS;
        let covered = usize::try_from(affordable).unwrap_or(usize::MAX);
        steps.min(covered.saturating_mul(STEPS_PER_SEND))
    }

    /// How many of `keys` hints to write: within the invocation's hint puts and what is left
    /// beyond one more page (a hint is advisory; a page is not).
    pub fn hint_puts(&mut self, keys: usize) -> usize {
        let room = usize::try_from(self.left().saturating_sub(PAGE_AT_LEAST)).unwrap_or(0);
        let puts = keys.min(self.hint_puts_left).min(room);
        self.hint_puts_left -= puts;
        self.spent += u32::try_from(puts).unwrap_or(u32::MAX);
        puts
    }

    /// One run's part when `runs_left` runs (this one among them) still have their turn: an
    /// equal part of what is left, but a run and a page ([`RUN_AT_LEAST`]) when that much is
    /// left. What a run does not use is left for those after it.
    pub fn share(&self, runs_left: usize) -> Self {
        let runs = u32::try_from(runs_left.max(1)).unwrap_or(u32::MAX);
        let left = self.left();
        OperationBudget {
            limit: (left / runs).max(RUN_AT_LEAST).min(left),
            spent: 0,
            hint_puts_left: self.hint_puts_left,
        }
    }

    /// Count what a [`share`](Self::share) of this budget spent.
    pub fn absorb(&mut self, share: Self) {
        self.spent = self.spent.saturating_add(share.spent);
        self.hint_puts_left = self.hint_puts_left.min(share.hint_puts_left);
    }
}

/// The order in which `runs` runs take their turn in the tick scheduled at `scheduled_ms`: one
/// place further each minute, so each is first in turn.
pub fn turn_order(runs: usize, scheduled_ms: i64) -> impl Iterator<Item = usize> {
    let minute = u64::try_from(scheduled_ms.div_euclid(60_000)).unwrap_or(0);
    let first = u64::try_from(runs)
        .ok()
        .filter(|n| *n > 0)
        .and_then(|n| usize::try_from(minute % n).ok())
        .unwrap_or(0);
    (0..runs).map(move |i| (first + i) % runs)
}

#[cfg(test)]
mod tests;
