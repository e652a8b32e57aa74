//! Recording an attempt: its row in `attempts` and the step's new state (decided by the core's
//! `edgehooks_handlers::steps::lifecycle::after_attempt`), run in one batch with whatever else the
//! attempt's outcome writes.

use edgehooks_handlers::steps::lifecycle::{claim, recorded_outcome, StepStatus};
use worker::{D1Database, D1PreparedStatement, Result};

use super::rows::Answer;
use super::{num, opt_num, opt_text, statement};

/// The result of one attempt, recorded with the step's new state in one transaction.
pub struct AttemptRecord<'a> {
    pub step_id: &'a str,
    pub n: i64,
    pub started_at_ms: i64,
    pub duration_ms: i64,
    pub http_status: Option<u16>,
    pub error: Option<&'a str>,
    /// `succeeded`, `enqueued` (retry scheduled, or a customer lookup done) or `dead`.
    pub step_status: StepStatus,
    pub next_attempt_at_ms: Option<i64>,
    /// The attempt's outcome when it is not the step status's (`resolved`: a customer lookup
    /// succeeded and the step goes on); `None`: `retry` for `enqueued`, else the step status.
    pub outcome: Option<&'a str>,
    /// Whether the attempt counts against the step's `MAX_ATTEMPTS`
    /// (`edgehooks_handlers::steps::limits::charges_attempt`): a failed half-open probe does
    /// not, and is recorded with its step's `attempts` given back and the outcome `probe`.
    pub charged: bool,
}

/// The statements that record `record` (the step's state, then its attempt row), to run in one
/// batch with whatever state the step's success writes. Both apply only while the step is still
/// `running` under the claim that made attempt `record.n` (the core's
/// `claim::record_attempt`): read [`recorded`] on the batch's answers before counting the
/// outcome.
pub fn attempt_statements(
    db: &D1Database,
    record: &AttemptRecord<'_>,
    now_ms: i64,
) -> Result<Vec<D1PreparedStatement>> {
    let outcome = record
        .outcome
        .unwrap_or_else(|| recorded_outcome(record.step_status, record.charged));
    let status = record.http_status.map(i64::from);
    let update = statement(
        db,
        &claim::record_attempt(),
        &[
            record.step_id.into(),
            record.step_status.as_str().into(),
            opt_num(record.next_attempt_at_ms),
            opt_num(status),
            opt_text(record.error),
            num(now_ms),
            num(record.n),
            num(i64::from(!record.charged)),
        ],
    )?;
    let insert = statement(
        db,
        claim::RECORD_ATTEMPT_ROW,
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
    Ok(vec![update, insert])
}

/// Whether the attempt whose [`attempt_statements`] start at `at` in a batch's `answers` changed
/// its step (false: the sweeper had already counted the attempt lost, and the step is another
/// claim's or `dead`; its outcome is not counted again).
pub fn recorded(answers: &[Answer], at: usize) -> bool {
    answers.get(at).is_some_and(|a| a.changes() > 0)
}
