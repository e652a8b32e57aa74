//! The step ledger's SQL: mark sent steps `enqueued`, load a step with its event, claim it for
//! an attempt, record the attempt with the step's new state, end it, and the sweeper's queries.

use serde::Deserialize;
use worker::{D1Database, D1PreparedStatement, Result};

use super::{changes, num, opt_num, opt_text, statement};

/// Mark freshly sent steps `enqueued` (only those still `pending`).
pub async fn mark_enqueued(db: &D1Database, step_ids: &[String], now_ms: i64) -> Result<()> {
    let statements = step_ids
        .iter()
        .map(|id| {
            statement(
                db,
                "UPDATE steps SET status = 'enqueued', updated_at = ?2 WHERE id = ?1 AND status = 'pending'",
                &[id.as_str().into(), num(now_ms)],
            )
        })
        .collect::<Result<Vec<_>>>()?;
    if !statements.is_empty() {
        db.batch(statements).await?;
    }
    Ok(())
}

/// A step with what its execution needs from the event.
#[derive(Debug, Deserialize)]
pub struct StepRow {
    pub event_id: String,
    pub name: String,
    pub status: String,
    pub provider: String,
    pub event_type: String,
    pub account: Option<String>,
    pub occurred_at: Option<i64>,
    pub payload: Option<String>,
}

pub async fn load_step(db: &D1Database, step_id: &str) -> Result<Option<StepRow>> {
    statement(
        db,
        "SELECT s.event_id, s.name, s.status, e.provider, e.type AS event_type, e.account, \
         e.occurred_at, e.payload FROM steps s JOIN events e ON e.id = s.event_id WHERE s.id = ?1",
        &[step_id.into()],
    )?
    .first::<StepRow>(None)
    .await
}

/// Claim a step for one attempt: only a `pending` or `enqueued` step can be claimed, so two
/// deliveries of the same message never call downstream twice at once. Returns the attempt
/// number, or `None` when the step is not claimable (running elsewhere, or finished).
pub async fn claim_step(db: &D1Database, step_id: &str, now_ms: i64) -> Result<Option<i64>> {
    #[derive(Deserialize)]
    struct Claimed {
        attempts: i64,
    }
    let claimed = statement(
        db,
        "UPDATE steps SET status = 'running', attempts = attempts + 1, updated_at = ?2 \
         WHERE id = ?1 AND status IN ('pending', 'enqueued') RETURNING attempts",
        &[step_id.into(), num(now_ms)],
    )?
    .first::<Claimed>(None)
    .await?;
    Ok(claimed.map(|c| c.attempts))
}

/// Finish a step that needed no downstream call: `succeeded` (a deliberate skip, with its reason
/// in `last_error`), `skipped_stale` or `dead`. Only a step that is not finished changes.
pub async fn finish_without_call(
    db: &D1Database,
    step_id: &str,
    status: &str,
    note: &str,
    now_ms: i64,
) -> Result<bool> {
    let result = statement(
        db,
        "UPDATE steps SET status = ?2, last_error = ?3, updated_at = ?4 \
         WHERE id = ?1 AND status NOT IN ('succeeded', 'skipped_stale', 'dead')",
        &[step_id.into(), status.into(), note.into(), num(now_ms)],
    )?
    .run()
    .await?;
    Ok(changes(&result) > 0)
}

/// How long a `running` claim is honoured before the step counts as abandoned (its consumer
/// died mid-attempt): the sweeper re-enqueues it, the dead-letter consumer may end it.
pub const RUNNING_LEASE_MS: i64 = 15 * 60_000;

/// End a step Queues gave up on (`dead`, `queue_gave_up`), unless it is finished or an attempt
/// is still running under a live lease: that attempt's own outcome must not be overwritten.
pub async fn give_up(db: &D1Database, step_id: &str, now_ms: i64) -> Result<bool> {
    let result = statement(
        db,
        "UPDATE steps SET status = 'dead', last_error = 'queue_gave_up', updated_at = ?2 \
         WHERE id = ?1 AND (status IN ('pending', 'enqueued') OR (status = 'running' AND updated_at < ?3))",
        &[step_id.into(), num(now_ms), num(now_ms - RUNNING_LEASE_MS)],
    )?
    .run()
    .await?;
    Ok(changes(&result) > 0)
}

/// Put a step off without charging an attempt (open circuit, spent budget): it stays
/// `enqueued` with its due time, so the sweeper does not mistake it for lost.
pub async fn defer(
    db: &D1Database,
    step_id: &str,
    reason: &str,
    due_ms: i64,
    now_ms: i64,
) -> Result<()> {
    statement(
        db,
        "UPDATE steps SET status = 'enqueued', next_attempt_at = ?2, last_error = ?3, updated_at = ?4 \
         WHERE id = ?1 AND status IN ('pending', 'enqueued', 'running')",
        &[step_id.into(), num(due_ms), reason.into(), num(now_ms)],
    )?
    .run()
    .await?;
    Ok(())
}

/// The result of one attempt, recorded with the step's new state in one transaction.
pub struct AttemptRecord<'a> {
    pub step_id: &'a str,
    pub n: i64,
    pub started_at_ms: i64,
    pub duration_ms: i64,
    pub http_status: Option<u16>,
    pub error: Option<&'a str>,
    /// `succeeded`, `enqueued` (retry scheduled) or `dead`.
    pub step_status: &'a str,
    pub next_attempt_at_ms: Option<i64>,
}

/// The statements that record `record` (attempt row + step state), to run in one batch with
/// whatever state the step's success writes.
pub fn attempt_statements(
    db: &D1Database,
    record: &AttemptRecord<'_>,
    now_ms: i64,
) -> Result<Vec<D1PreparedStatement>> {
    let outcome = match record.step_status {
        "enqueued" => "retry",
        other => other,
    };
    let status = record.http_status.map(i64::from);
    let insert = statement(
        db,
        "INSERT INTO attempts (step_id, n, started_at, duration_ms, status, outcome, error) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        &[
            record.step_id.into(),
            num(record.n),
            num(record.started_at_ms),
            num(record.duration_ms),
            opt_num(status),
            outcome.into(),
            opt_text(record.error),
        ],
    )?;
    let update = statement(
        db,
        "UPDATE steps SET status = ?2, next_attempt_at = ?3, last_status = ?4, last_error = ?5, \
         updated_at = ?6 WHERE id = ?1",
        &[
            record.step_id.into(),
            record.step_status.into(),
            opt_num(record.next_attempt_at_ms),
            opt_num(status),
            opt_text(record.error),
            num(now_ms),
        ],
    )?;
    Ok(vec![insert, update])
}

/// Steps the sweeper should (re-)enqueue: `pending` ones older than `pending_before_ms` (their
/// queue send failed), `enqueued` ones whose due time passed long ago (the message was lost),
/// and `running` ones whose lease expired (the consumer died mid-attempt).
pub async fn sweepable_steps(
    db: &D1Database,
    pending_before_ms: i64,
    lost_before_ms: i64,
    limit: i64,
) -> Result<Vec<String>> {
    #[derive(Deserialize)]
    struct Id {
        id: String,
    }
    let rows = statement(
        db,
        "SELECT id FROM steps WHERE \
         (status = 'pending' AND updated_at < ?1) OR \
         (status IN ('enqueued', 'running') AND MAX(updated_at, COALESCE(next_attempt_at, 0)) < ?2) \
         ORDER BY updated_at LIMIT ?3",
        &[num(pending_before_ms), num(lost_before_ms), num(limit)],
    )?
    .all()
    .await?
    .results::<Id>()?;
    Ok(rows.into_iter().map(|r| r.id).collect())
}

/// Before the sweeper re-sends: a `running` step whose lease expired becomes claimable again
/// (`enqueued`), and a lost `enqueued` one gets a fresh `updated_at`. `pending` steps are left
/// alone: they become `enqueued` only once a send succeeds, so a failed send keeps them in the
/// outbox for the next sweep.
pub async fn requeue(db: &D1Database, step_ids: &[String], now_ms: i64) -> Result<()> {
    let statements = step_ids
        .iter()
        .map(|id| {
            statement(
                db,
                "UPDATE steps SET status = 'enqueued', updated_at = ?2 \
                 WHERE id = ?1 AND status IN ('enqueued', 'running')",
                &[id.as_str().into(), num(now_ms)],
            )
        })
        .collect::<Result<Vec<_>>>()?;
    if !statements.is_empty() {
        db.batch(statements).await?;
    }
    Ok(())
}

/// Drop payloads of events received before `before_ms` (retention), keeping the row.
pub async fn purge_payloads(db: &D1Database, before_ms: i64, now_ms: i64) -> Result<usize> {
    let result = statement(
        db,
        "UPDATE events SET payload = NULL, redacted_at = ?2 WHERE received_at < ?1 AND payload IS NOT NULL",
        &[num(before_ms), num(now_ms)],
    )?
    .run()
    .await?;
    Ok(changes(&result))
}
