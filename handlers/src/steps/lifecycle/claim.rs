//! The SQL of taking and putting off a step, beside the rules it carries out: a claim takes only
//! a [claimable](super::StepStatus::is_claimable) step that is due (its `next_attempt_at`
//! passed, within [`DUE_SLACK_MS`]: a duplicate message never runs a scheduled retry early),
//! and a step that overwrites an entity
//! only when it is its turn (the conditions of [`crate::downstream::turn`], evaluated in the
//! same statement); a deferral only touches a claimable step that is due; an unclaim gives back a claim
//! whose call the destination's gate then refused, leaving the step as a deferral would have;
//! ending a step without a call only changes a claimable one (never a step running under
//! another delivery's claim). The shell binds the arguments in the order each
//! function documents and runs the text unchanged (the native tests in `sql_tests` run the same
//! text against the migrations).

use super::status::{sql_in, sql_lit, StepStatus, CLAIMABLE, SUPERSEDING};
use crate::steps::timing::DUE_SLACK_MS;

/// The step is due at `now` (a bound parameter): it has no due time, or it is at most
/// [`DUE_SLACK_MS`] away (`crate::steps::timing::secs_until_due` is the same rule).
fn due_at(now: &str) -> String {
    format!("(next_attempt_at IS NULL OR next_attempt_at <= {now} + {DUE_SLACK_MS})")
}

// The ordering rules of `crate::downstream::turn`, over ?1 step id, ?2 entity, ?3 step name,
// ?4 the event's occurred_at, ?5 its event id, ?6 the running-lease horizon.
const APPLIED_NEWER: &str = "EXISTS (SELECT 1 FROM entity_versions v \
     WHERE v.entity = ?2 AND v.step = ?3 AND v.occurred_at > ?4)";

fn newer_step() -> String {
    format!(
        "EXISTS (SELECT 1 FROM steps o JOIN events e ON e.id = o.event_id \
         WHERE o.entity = ?2 AND o.name = ?3 AND o.id != ?1 \
         AND o.status IN {} \
         AND (e.occurred_at > ?4 OR (e.occurred_at = ?4 AND e.id > ?5)))",
        sql_in(&SUPERSEDING)
    )
}

fn running_since() -> String {
    format!(
        "(SELECT MAX(o.updated_at) FROM steps o \
         WHERE o.entity = ?2 AND o.name = ?3 AND o.id != ?1 AND o.status = {} AND o.updated_at > ?6)",
        sql_lit(StepStatus::Running)
    )
}

/// Claim a due step without an entity. ?1 step id, ?2 now. Returns `attempts` when it
/// applied. A claim comes only once any wait behind another step is over, so it clears
/// `after_step`.
pub fn claim() -> String {
    format!(
        "UPDATE steps SET status = {}, attempts = attempts + 1, updated_at = ?2, \
         after_step = NULL \
         WHERE id = ?1 AND status IN {} AND {} RETURNING attempts",
        sql_lit(StepStatus::Running),
        sql_in(&CLAIMABLE),
        due_at("?2")
    )
}

/// Fill in the entity of a step stored before ingest recorded it. ?1 step id, ?2 entity.
pub const BACKFILL_ENTITY: &str = "UPDATE steps SET entity = ?2 WHERE id = ?1 AND entity IS NULL";

/// Claim a due step of an entity when it is its turn: ?1..?6 as the turn conditions, ?7 now.
/// Returns `attempts` when it applied; clears `after_step`, as [`claim`] does.
pub fn claim_in_turn() -> String {
    format!(
        "UPDATE steps SET status = {}, attempts = attempts + 1, updated_at = ?7, \
         after_step = NULL \
         WHERE id = ?1 AND status IN {} AND {} \
         AND NOT {APPLIED_NEWER} AND NOT {} AND {} IS NULL \
         RETURNING attempts",
        sql_lit(StepStatus::Running),
        sql_in(&CLAIMABLE),
        due_at("?7"),
        newer_step(),
        running_since()
    )
}

/// What D1 holds about the step's entity (the inputs of `turn`), with the step's status.
/// ?1..?6 as the turn conditions. Columns: status, applied, newer (0/1), running_since.
pub fn entity_standing() -> String {
    format!(
        "SELECT s.status AS status, \
         (SELECT v.occurred_at FROM entity_versions v WHERE v.entity = ?2 AND v.step = ?3) AS applied, \
         {} AS newer, {} AS running_since FROM steps s WHERE s.id = ?1",
        newer_step(),
        running_since()
    )
}

/// End a step without a call. ?1 step id, ?2 status, ?3 note, ?4 now. Only a
/// [claimable](super::StepStatus::is_claimable) step: its callers hold no claim, so a `running`
/// step is another delivery's, whose record must still find it running.
pub fn finish_without_call() -> String {
    format!(
        "UPDATE steps SET status = ?2, last_error = ?3, updated_at = ?4 \
         WHERE id = ?1 AND status IN {}",
        sql_in(&CLAIMABLE)
    )
}

/// Put a due step off, still `enqueued`, with its new due time. ?1 step id, ?2 due, ?3 reason,
/// ?4 now. A step not yet due is left as it is: its own message comes at its due time, and an
/// early duplicate must not move that time.
pub fn defer() -> String {
    format!(
        "UPDATE steps SET status = {}, next_attempt_at = ?2, last_error = ?3, updated_at = ?4 \
         WHERE id = ?1 AND status IN {} AND {}",
        sql_lit(StepStatus::Enqueued),
        sql_in(&CLAIMABLE),
        due_at("?4")
    )
}

/// Put back a step this delivery claimed but may not call (its destination's gate said wait, or
/// another step took the half-open probe): exactly what [`defer`] would have done had the gate
/// been asked before the claim — `enqueued`, due at ?4, reason ?5 — and the attempt the claim
/// counted given back, since waiting never spends an attempt. Only while the step is still
/// `running` under this claim: ?2 the attempt number the claim returned, ?3 the claim's time
/// (its `updated_at`); ?1 step id, ?6 now; ?7 the step it was handed back behind
/// (`after_step`, [`crate::steps::behind`]), NULL for any other wait (its load had found no
/// step ahead still running or waiting). The link lasts only for that run: a claim or a
/// requeue clears it.
pub fn unclaim() -> String {
    format!(
        "UPDATE steps SET status = {}, attempts = attempts - 1, next_attempt_at = ?4, \
         last_error = ?5, updated_at = ?6, after_step = ?7 \
         WHERE id = ?1 AND status = {} AND attempts = ?2 AND updated_at = ?3",
        sql_lit(StepStatus::Enqueued),
        sql_lit(StepStatus::Running)
    )
}

/// Mark freshly sent steps `enqueued` (only those still `pending`), all in one statement: ?1 a
/// JSON array of step ids (one bound parameter for a whole `sendBatch` of up to 100), ?2 now.
/// Each step is found by its id (the `+` keeps SQLite from reading every `pending` step through
/// `steps_open` instead: a burst's backlog is all `pending`).
pub fn mark_enqueued() -> String {
    format!(
        "UPDATE steps SET status = {}, updated_at = ?2 \
         WHERE id IN (SELECT value FROM json_each(?1)) AND +status = {}",
        sql_lit(StepStatus::Enqueued),
        sql_lit(StepStatus::Pending)
    )
}

/// Record an attempt's end on its step: the new status, due time, HTTP status, error and
/// `updated_at`. ?1 step id, ?2 status, ?3 next attempt (Unix ms or NULL), ?4 HTTP status,
/// ?5 error, ?6 now, ?7 the attempt number the claim returned, ?8 1 when the attempt is given
/// back (a failed half-open probe: `attempts` goes back to ?7 - 1,
/// [`crate::steps::limits::charges_attempt`]), else 0. Only while the step is still `running`
/// under that claim: once the sweeper has counted the attempt lost (its lease passed) the step
/// is someone else's — re-sent, claimed again under the next number, or `dead` — and a late
/// record must neither overwrite that (nor give back an attempt) nor count as an outcome (the
/// shell counts the dashboard's step outcome only when this applied).
pub fn record_attempt() -> String {
    format!(
        "UPDATE steps SET status = ?2, next_attempt_at = ?3, last_status = ?4, last_error = ?5, \
         attempts = ?7 - ?8, updated_at = ?6 WHERE id = ?1 AND status = {} AND attempts = ?7",
        sql_lit(StepStatus::Running)
    )
}

/// The attempt's row, written only when [`record_attempt`] just before it in the same batch
/// applied (a superseded claim's attempt is already in the timeline as the sweeper's lost one).
/// ?1 step id, ?2 attempt number, ?3 started (Unix ms), ?4 duration, ?5 HTTP status, ?6 outcome,
/// ?7 error.
pub const RECORD_ATTEMPT_ROW: &str =
    "INSERT INTO attempts (step_id, n, started_at, duration_ms, status, outcome, error) \
     SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7 WHERE changes() > 0";
