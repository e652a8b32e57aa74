//! The sweeper's reads and writes (the rules and their SQL are the core's
//! `edgehooks_handlers::steps::recovery`): the overdue steps, and each recovery conditional on the
//! state that was read.

use edgehooks_handlers::steps::recovery::{
    lost_attempt_outcome, recovery_sql, sweepable_sql, Recovery, ATTEMPT_LOST, LOST_ATTEMPT_SQL,
};
use worker::{D1Database, D1PreparedStatement, Result};

use super::rows::{query, FromRow, Row};
use super::{num, statement};

/// An overdue step as the sweeper read it: the recovery statement only applies while the step
/// is still exactly in this state.
#[derive(Debug)]
pub struct OverdueStep {
    pub id: String,
    /// Its name: an `http` destination's step recovers by that destination's max attempts.
    pub name: String,
    pub status: String,
    pub attempts: i64,
    pub updated_at: i64,
}

impl FromRow for OverdueStep {
    fn from_row(row: &Row) -> Self {
        OverdueStep {
            id: row.text("id"),
            name: row.text("name"),
            status: row.text("status"),
            attempts: row.int("attempts"),
            updated_at: row.int("updated_at"),
        }
    }
}

/// Steps the sweeper should recover: `pending` ones older than `pending_before_ms` (their
/// queue send failed), `enqueued` ones whose due time passed long ago (the message was lost),
/// and `running` ones whose lease expired (the attempt was lost).
pub async fn sweepable_steps(
    db: &D1Database,
    pending_before_ms: i64,
    lost_before_ms: i64,
    limit: i64,
) -> Result<Vec<OverdueStep>> {
    let sql = sweepable_sql();
    let args = [num(pending_before_ms), num(lost_before_ms), num(limit)];
    query(&statement(db, &sql, &args)?).await?.read()
}

/// The statements that carry out `recovery` for `step`, each conditional on the status and
/// `updated_at` the sweeper read, so a step claimed (or finished) in the meantime is never
/// flipped: the first returns the step's new dispatch number when it applied (then the step is
/// to be sent under it), nothing when it did not. ?1 id, ?2 status read, ?3 updated_at read,
/// ?4 now.
pub fn recovery_statements(
    db: &D1Database,
    step: &OverdueStep,
    recovery: Recovery,
    now_ms: i64,
) -> Result<Vec<D1PreparedStatement>> {
    let read_state = [
        step.id.as_str().into(),
        step.status.as_str().into(),
        num(step.updated_at),
        num(now_ms),
    ];
    let mut statements = vec![statement(db, &recovery_sql(recovery), &read_state)?];
    if let Some(outcome) = lost_attempt_outcome(recovery) {
        statements.push(statement(
            db,
            LOST_ATTEMPT_SQL,
            &[
                step.id.as_str().into(),
                num(step.attempts),
                num(step.updated_at),
                num(now_ms),
                outcome.into(),
                ATTEMPT_LOST.into(),
            ],
        )?);
    }
    Ok(statements)
}
