//! What an admin redrive (or a replay) does to the steps it sends again, with its SQL: a `dead`
//! step becomes `enqueued` with its attempt counter back at 0 (a fresh retry budget; its attempt
//! rows stay as history); a `pending` or `enqueued` one (unless only dead letters are asked
//! for) keeps its counter; every other status is left alone. Each requeued step gets a new
//! dispatch number, so a dead letter of an earlier send can no longer end it.

use super::status::{sql_in, sql_lit, StepStatus, DEAD_LETTERS, REDRIVABLE};

/// The statuses a redrive may requeue: only `dead` ones when `only_dead`.
pub fn requeueable(only_dead: bool) -> &'static [StepStatus] {
    if only_dead {
        &DEAD_LETTERS
    } else {
        &REDRIVABLE
    }
}

/// Whether a requeue restarts the step's attempt counter.
pub fn restarts_attempts(status: StepStatus) -> bool {
    status == StepStatus::Dead
}

/// Requeue the steps whose ids are in the JSON array ?1, at ?2, re-checking each one's status
/// (a wait behind another step, `after_step`, belonged to the run before: cleared).
/// Returns the `id` and new `dispatch` of each step that changed: its message must carry that
/// number, or a dead letter of it could not end the step.
pub fn requeue_sql(only_dead: bool) -> String {
    format!(
        "UPDATE steps SET status = {}, dispatch = dispatch + 1, \
         attempts = CASE WHEN status = {} THEN 0 ELSE attempts END, \
         next_attempt_at = NULL, updated_at = ?2, after_step = NULL \
         WHERE id IN (SELECT value FROM json_each(?1)) AND status IN {} RETURNING id, dispatch",
        sql_lit(StepStatus::Enqueued),
        sql_lit(StepStatus::Dead),
        sql_in(requeueable(only_dead))
    )
}
