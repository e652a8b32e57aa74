//! Stripe backfill: recovering events the webhooks lost from Stripe's own event log
//! (`GET /v1/events`). This module owns the decisions: whether a scheduled run is due ([`tick`]),
//! which `created` window a run lists ([`since_for_run`], [`clamp_since`]: never before Stripe's 30
//! days nor before the retention cutoff), and where the checkpoint moves when a run completes
//! ([`advance_checkpoint`]), and the state after each invocation ([`after_run`]: continue, back
//! off, wait or move the checkpoint); [`plan`] builds the list requests (type filter chunks,
//! cursors, URLs) and [`page`] reads Stripe's list answers. The shell (`src/cron/backfill/`) only
//! fetches pages, stores events through ingest's own insert and records the run.

pub mod budget;
pub mod page;
pub mod plan;
pub mod request;
pub mod settings;
pub mod shopify;

use crate::steps::retry::{RetryPolicy, QUEUE_MAX_DELAY_SECS};

/// How far before the checkpoint a run starts listing (seconds). Stripe's `created` has
/// one-second resolution and an event may become visible in the list a little after its
/// `created` (it is written and indexed asynchronously), so an event created in the checkpoint's
/// last seconds can be missing from the run that set it. Five minutes costs only duplicates
/// (found by the dedupe key) and covers that lag and clock skew between Stripe and us.
pub const OVERLAP_SECS: i64 = 300;

/// Stripe keeps events for 30 days; `created[gte]` is never earlier than this before now.
pub const RETENTION_SECS: i64 = 30 * 24 * 3600;

/// The scheduled reconciliation's stored state (`backfill_state`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct State {
    /// Newest `created` (Unix s) fully processed; `None` before the first completed run.
    pub checkpoint: Option<i64>,
    /// An unfinished run: its window start and where it stopped.
    pub resume: Option<Resume>,
    pub last_started_ms: Option<i64>,
    /// Backoff after a failure: no run before this (Unix ms).
    pub not_before_ms: i64,
    /// Consecutive failed runs.
    pub failures: u32,
}

/// Where an unfinished run continues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resume {
    pub since: i64,
    pub cursor: plan::Cursor,
    /// Newest `created` listed so far by this run.
    pub newest: Option<i64>,
}

/// What the every-minute cron does about the reconciliation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tick {
    /// Not due: inside a backoff, or less than an interval since the last run began.
    Wait,
    /// Never run: start the checkpoint at now (history before the backfill was enabled is an
    /// admin's call, with an explicit `since`); the first run comes one interval later.
    Initialize,
    /// Run now (or continue a run that stopped at its bound).
    Run,
}

/// The cron's decision: never inside a backoff; the first time, [`Tick::Initialize`]; at once
/// when a run stopped at its bound (it continues); otherwise when `interval_secs` have passed
/// since the last run began.
pub fn tick(state: &State, now_ms: i64, interval_secs: u64) -> Tick {
    if now_ms < state.not_before_ms {
        return Tick::Wait;
    }
    if state.resume.is_some() {
        return Tick::Run;
    }
    let interval_ms = i64::try_from(interval_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
    match (state.last_started_ms, state.checkpoint) {
        (None, None) => Tick::Initialize,
        (None, Some(_)) => Tick::Run,
        (Some(last), _) if now_ms.saturating_sub(last) >= interval_ms => Tick::Run,
        (Some(_), _) => Tick::Wait,
    }
}

/// The state [`Tick::Initialize`] stores: checkpoint now, as if a run had just begun.
pub fn initial_state(now_ms: i64) -> State {
    State {
        checkpoint: Some(now_ms.div_euclid(1000)),
        last_started_ms: Some(now_ms),
        ..State::default()
    }
}

/// The earliest `since` retention allows: its cutoff (Unix ms) in Unix seconds, rounded up. A
/// run listing from before it would store again what retention has deleted (whose tombstone
/// may have expired), running its steps a second time.
pub fn kept_since(retention_cutoff_ms: i64) -> i64 {
    retention_cutoff_ms.saturating_add(999).div_euclid(1000)
}

/// `since` clamped to what Stripe still keeps (30 days), to what retention keeps (`kept_since`,
/// see [`kept_since`]) and to not after now.
pub fn clamp_since(since: i64, now_s: i64, kept_since: i64) -> i64 {
    let earliest = now_s
        .saturating_sub(RETENTION_SECS)
        .max(kept_since)
        .min(now_s);
    since.clamp(earliest, now_s)
}

/// A new scheduled run's `created[gte]`: the checkpoint minus [`OVERLAP_SECS`]; before any
/// checkpoint, one interval plus the overlap back (a first run does not replay a month of
/// history, which would send mails for old events: an admin run with an explicit `since` does
/// that on purpose). Clamped by [`clamp_since`].
pub fn since_for_run(
    checkpoint: Option<i64>,
    now_s: i64,
    interval_secs: u64,
    kept_since: i64,
) -> i64 {
    let interval = i64::try_from(interval_secs).unwrap_or(RETENTION_SECS);
    let since = match checkpoint {
        Some(checkpoint) => checkpoint.saturating_sub(OVERLAP_SECS),
        None => now_s.saturating_sub(interval).saturating_sub(OVERLAP_SECS),
    };
    clamp_since(since, now_s, kept_since)
}

/// The checkpoint after a run that listed `[since, now]` completely and began listing at
/// `run_started_s` (its first invocation): the newest time it saw (Stripe's `created`, an
/// order's `updated_at`), but never after the run began, and never behind the run's own `since`
/// (everything from there was listed) nor behind the previous checkpoint. The cap matters when a
/// run spans several invocations (page bound, backoff) or lists in several passes (Stripe's type
/// chunks, Shopify's orders by id): something that changed after the run began may fall on a
/// page already behind the cursor while a later page shows a newer time, so only the run's
/// start is known to be fully listed; the next run lists again from there (minus
/// [`OVERLAP_SECS`]).
pub fn advance_checkpoint(
    previous: Option<i64>,
    since: i64,
    newest_listed: Option<i64>,
    run_started_s: i64,
) -> i64 {
    let newest = newest_listed.map(|newest| newest.min(run_started_s));
    [previous, Some(since), newest]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(since)
}

/// When the next run may start after a failed page: exponential backoff with full jitter by
/// the run's consecutive failures (the retry policy downstream calls use), a longer
/// `Retry-After` winning. Never sooner than one second: a failure cannot cause a hot loop.
pub fn next_attempt_after_failure(
    policy: &RetryPolicy,
    failures: u32,
    retry_after_secs: Option<u64>,
    jitter: f64,
    now_ms: i64,
) -> i64 {
    let secs = policy
        .backoff_secs(failures.max(1), jitter)
        .max(retry_after_secs.unwrap_or(0))
        .clamp(1, QUEUE_MAX_DELAY_SECS);
    now_ms.saturating_add(i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX))
}

/// The stable code of a page that did not answer 2xx (`stripe_http_<status>`) or did not
/// answer at all (`stripe_unreachable`).
pub fn failure_code(status: Option<u16>) -> String {
    match status {
        Some(status) => format!("stripe_http_{status}"),
        None => "stripe_unreachable".into(),
    }
}

/// How an invocation of a scheduled run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunEnd {
    /// The run's window start.
    pub since: i64,
    /// Where it stopped; `None` when everything was listed.
    pub cursor: Option<plan::Cursor>,
    /// Newest `created` the run has listed, this invocation and the ones it continued.
    pub newest: Option<i64>,
    pub stop: Option<StopReason>,
}

/// Why an invocation stopped before listing everything (other than its page bound).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// A failed page (429, 5xx, unreachable, malformed, D1): back off; `retry_after_secs` is
    /// Stripe's `Retry-After` when it sent one.
    Failed { retry_after_secs: Option<u64> },
    /// The Stripe destination's circuit or budget said wait this long: not a failure.
    Wait { secs: u64 },
}

/// The scheduled state after an invocation that began at `started_ms` and ended at `now_ms`:
/// a complete run moves the checkpoint (at most to when its first invocation began, see
/// [`advance_checkpoint`]) and clears the backoff; a run stopped at its bound keeps
/// its cursor (the next tick continues it); a failure keeps the cursor and backs off
/// ([`next_attempt_after_failure`], `jitter` in `[0, 1)`); a wait keeps the cursor and waits as
/// asked without counting a failure. A continued run keeps the start time of its first
/// invocation, so the interval counts from when the run began.
pub fn after_run(
    state: &State,
    end: &RunEnd,
    started_ms: i64,
    now_ms: i64,
    policy: &RetryPolicy,
    jitter: f64,
) -> State {
    let mut next = State {
        checkpoint: state.checkpoint,
        resume: end.cursor.clone().map(|cursor| Resume {
            since: end.since,
            cursor,
            newest: end.newest,
        }),
        last_started_ms: match state.resume {
            Some(_) => state.last_started_ms,
            None => Some(started_ms),
        },
        not_before_ms: 0,
        failures: 0,
    };
    match end.stop {
        Some(StopReason::Wait { secs }) => {
            next.failures = state.failures;
            let ms = i64::try_from(secs.max(1).saturating_mul(1000)).unwrap_or(i64::MAX);
            next.not_before_ms = now_ms.saturating_add(ms);
        }
        Some(StopReason::Failed { retry_after_secs }) => {
            next.failures = state.failures.saturating_add(1);
            next.not_before_ms =
                next_attempt_after_failure(policy, next.failures, retry_after_secs, jitter, now_ms);
        }
        None if next.resume.is_none() => {
            let run_started_ms = next.last_started_ms.unwrap_or(started_ms);
            next.checkpoint = Some(advance_checkpoint(
                state.checkpoint,
                end.since,
                end.newest,
                run_started_ms.div_euclid(1000),
            ));
        }
        None => {}
    }
    next
}

#[cfg(test)]
mod tests;
