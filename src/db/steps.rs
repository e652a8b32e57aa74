//! The step ledger's SQL: mark sent steps `enqueued`, load a step with its event, claim it for
//! an attempt (for a step that overwrites an entity, only when it is its turn, decided in the
//! same transaction), record the attempt with the step's new state, end it, and the sweeper's
//! queries.

use edgehooks_handlers::downstream::EntityStanding;
use edgehooks_handlers::recovery::{Recovery, ATTEMPT_LOST};
use serde::Deserialize;
use worker::wasm_bindgen::JsValue;
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

/// The ordering a step's claim must respect: the entity it overwrites (`steps.entity`, with the
/// step name) and its event's time and id.
pub struct EntityClaim<'a> {
    pub entity: &'a str,
    pub name: &'a str,
    pub occurred_at_ms: i64,
    pub event_id: &'a str,
}

/// What a claim got.
pub enum Claim {
    /// The step is this message's, for attempt number `n`.
    Claimed(i64),
    /// Not `pending` or `enqueued`: finished, or running under another message.
    NotClaimable,
    /// Claimable, but not its turn: what D1 holds about the entity says why (see
    /// `edgehooks_handlers::downstream::turn`).
    NotItsTurn(EntityStanding),
}

// The ordering rules of `edgehooks_handlers::downstream::turn`, over ?1 step id, ?2 entity,
// ?3 step name, ?4 the event's occurred_at, ?5 its event id, ?6 the running-lease horizon.
const APPLIED_NEWER: &str = "EXISTS (SELECT 1 FROM entity_versions v \
     WHERE v.entity = ?2 AND v.step = ?3 AND v.occurred_at > ?4)";
const NEWER_STEP: &str = "EXISTS (SELECT 1 FROM steps o JOIN events e ON e.id = o.event_id \
     WHERE o.entity = ?2 AND o.name = ?3 AND o.id != ?1 \
     AND o.status IN ('pending', 'enqueued', 'running', 'succeeded', 'skipped') \
     AND (e.occurred_at > ?4 OR (e.occurred_at = ?4 AND e.id > ?5)))";
const RUNNING_SINCE: &str = "(SELECT MAX(o.updated_at) FROM steps o \
     WHERE o.entity = ?2 AND o.name = ?3 AND o.id != ?1 AND o.status = 'running' AND o.updated_at > ?6)";

fn entity_args(step_id: &str, claim: &EntityClaim<'_>, now_ms: i64) -> Vec<JsValue> {
    vec![
        step_id.into(),
        claim.entity.into(),
        claim.name.into(),
        num(claim.occurred_at_ms),
        claim.event_id.into(),
        num(now_ms - RUNNING_LEASE_MS),
    ]
}

#[derive(Deserialize)]
struct StandingRow {
    status: String,
    applied: Option<i64>,
    newer: i64,
    running_since: Option<i64>,
}

impl StandingRow {
    fn claimable(&self) -> bool {
        matches!(self.status.as_str(), "pending" | "enqueued")
    }

    fn standing(&self) -> EntityStanding {
        EntityStanding {
            applied_ms: self.applied,
            newer_step: self.newer != 0,
            running_since_ms: self.running_since,
        }
    }
}

fn standing_statement(
    db: &D1Database,
    step_id: &str,
    claim: &EntityClaim<'_>,
    now_ms: i64,
) -> Result<D1PreparedStatement> {
    statement(
        db,
        &format!(
            "SELECT s.status AS status, \
             (SELECT v.occurred_at FROM entity_versions v WHERE v.entity = ?2 AND v.step = ?3) AS applied, \
             {NEWER_STEP} AS newer, {RUNNING_SINCE} AS running_since FROM steps s WHERE s.id = ?1"
        ),
        &entity_args(step_id, claim, now_ms),
    )
}

/// What D1 holds now about the other steps of the step's entity, or `None` when the step is not
/// claimable. Advisory (things may change before the claim, which decides): it spares a stale
/// step the budget and circuit checks.
pub async fn entity_standing(
    db: &D1Database,
    step_id: &str,
    claim: &EntityClaim<'_>,
    now_ms: i64,
) -> Result<Option<EntityStanding>> {
    let row = standing_statement(db, step_id, claim, now_ms)?
        .first::<StandingRow>(None)
        .await?;
    Ok(row.filter(StandingRow::claimable).map(|r| r.standing()))
}

#[derive(Deserialize)]
struct Claimed {
    attempts: i64,
}

/// Claim a step for one attempt: only a `pending` or `enqueued` step can be claimed, so two
/// deliveries of the same message never call downstream twice at once. A step with an entity
/// is claimed, in the same conditional statement, only when it is its turn: no newer event was
/// applied to the entity, no pending, enqueued, running or succeeded step of the entity belongs
/// to a newer event, and no other step of the entity is running (under a live lease). The claim, the reasons it was
/// refused and the step's `entity` (filled in for steps stored before ingest recorded it) are
/// one D1 batch, i.e. one transaction.
pub async fn claim_step(
    db: &D1Database,
    step_id: &str,
    entity: Option<&EntityClaim<'_>>,
    now_ms: i64,
) -> Result<Claim> {
    let Some(claim) = entity else {
        let claimed = statement(
            db,
            "UPDATE steps SET status = 'running', attempts = attempts + 1, updated_at = ?2 \
             WHERE id = ?1 AND status IN ('pending', 'enqueued') RETURNING attempts",
            &[step_id.into(), num(now_ms)],
        )?
        .first::<Claimed>(None)
        .await?;
        return Ok(claimed.map_or(Claim::NotClaimable, |c| Claim::Claimed(c.attempts)));
    };
    let backfill = statement(
        db,
        "UPDATE steps SET entity = ?2 WHERE id = ?1 AND entity IS NULL",
        &[step_id.into(), claim.entity.into()],
    )?;
    let mut args = entity_args(step_id, claim, now_ms);
    args.push(num(now_ms));
    let update = statement(
        db,
        &format!(
            "UPDATE steps SET status = 'running', attempts = attempts + 1, updated_at = ?7 \
             WHERE id = ?1 AND status IN ('pending', 'enqueued') \
             AND NOT {APPLIED_NEWER} AND NOT {NEWER_STEP} AND {RUNNING_SINCE} IS NULL \
             RETURNING attempts"
        ),
        &args,
    )?;
    let standing = standing_statement(db, step_id, claim, now_ms)?;
    let results = db.batch(vec![backfill, update, standing]).await?;
    let claimed = match results.get(1) {
        Some(r) => r.results::<Claimed>()?,
        None => Vec::new(),
    };
    if let Some(c) = claimed.first() {
        return Ok(Claim::Claimed(c.attempts));
    }
    let row = match results.get(2) {
        Some(r) => r.results::<StandingRow>()?.into_iter().next(),
        None => None,
    };
    Ok(match row {
        Some(row) if row.claimable() => Claim::NotItsTurn(row.standing()),
        _ => Claim::NotClaimable,
    })
}

/// Finish a step that needed no downstream call: `skipped` (the event does not call for it, the
/// reason in `last_error`), `skipped_stale` or `dead`. Only a step that is not finished changes.
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
         WHERE id = ?1 AND status NOT IN ('succeeded', 'skipped', 'skipped_stale', 'dead')",
        &[step_id.into(), status.into(), note.into(), num(now_ms)],
    )?
    .run()
    .await?;
    Ok(changes(&result) > 0)
}

/// How long a `running` claim is honoured before its attempt counts as lost (its consumer died
/// mid-attempt, or the call never came back): the sweeper sends the step again, or ends it
/// `dead` (`attempt_lost`) when that was its last attempt; the dead-letter consumer may end it.
pub const RUNNING_LEASE_MS: i64 = 15 * 60_000;

/// End a step Queues gave up on (`dead`, `queue_gave_up`) by the core's rule
/// `edgehooks_handlers::recovery::dead_letter_ends`: only while the step still has the dispatch
/// number the message carried (a sweeper re-send or an admin redrive since bumped it), is
/// unfinished, and is not running under a live lease (that attempt records its own outcome).
pub async fn give_up(
    db: &D1Database,
    step_id: &str,
    message_dispatch: i64,
    now_ms: i64,
) -> Result<bool> {
    let result = statement(
        db,
        "UPDATE steps SET status = 'dead', last_error = 'queue_gave_up', updated_at = ?2 \
         WHERE id = ?1 AND dispatch = ?4 \
         AND (status IN ('pending', 'enqueued') OR (status = 'running' AND updated_at < ?3))",
        &[
            step_id.into(),
            num(now_ms),
            num(now_ms - RUNNING_LEASE_MS),
            num(message_dispatch),
        ],
    )?
    .run()
    .await?;
    Ok(changes(&result) > 0)
}

/// Put a step off without charging an attempt (open circuit, spent budget, another call for its
/// entity in flight): it stays `enqueued` with its due time, so the sweeper does not mistake it
/// for lost. A step running under another delivery is left alone (its runner records its
/// outcome); false when nothing changed.
pub async fn defer(
    db: &D1Database,
    step_id: &str,
    reason: &str,
    due_ms: i64,
    now_ms: i64,
) -> Result<bool> {
    let result = statement(
        db,
        "UPDATE steps SET status = 'enqueued', next_attempt_at = ?2, last_error = ?3, updated_at = ?4 \
         WHERE id = ?1 AND status IN ('pending', 'enqueued')",
        &[step_id.into(), num(due_ms), reason.into(), num(now_ms)],
    )?
    .run()
    .await?;
    Ok(changes(&result) > 0)
}

/// The result of one attempt, recorded with the step's new state in one transaction.
pub struct AttemptRecord<'a> {
    pub step_id: &'a str,
    pub n: i64,
    pub started_at_ms: i64,
    pub duration_ms: i64,
    pub http_status: Option<u16>,
    pub error: Option<&'a str>,
    /// `succeeded`, `enqueued` (retry scheduled, or a customer lookup done) or `dead`.
    pub step_status: &'a str,
    pub next_attempt_at_ms: Option<i64>,
    /// The attempt's outcome when it is not the step status's (`resolved`: a customer lookup
    /// succeeded and the step goes on); `None`: `retry` for `enqueued`, else the step status.
    pub outcome: Option<&'a str>,
}

/// The statements that record `record` (attempt row + step state), to run in one batch with
/// whatever state the step's success writes.
pub fn attempt_statements(
    db: &D1Database,
    record: &AttemptRecord<'_>,
    now_ms: i64,
) -> Result<Vec<D1PreparedStatement>> {
    let outcome = match (record.outcome, record.step_status) {
        (Some(outcome), _) => outcome,
        (None, "enqueued") => "retry",
        (None, other) => other,
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

/// A failed half-open probe (attempt `n`, just recorded by `attempt_statements` in the same
/// batch) is not charged to the step (`edgehooks_handlers::limits::charges_attempt`): its
/// `attempts` goes back to `n - 1` and its attempt row says `probe` instead of `retry`, so the
/// timeline still shows the call.
pub fn uncharge_probe(db: &D1Database, step_id: &str, n: i64) -> Result<Vec<D1PreparedStatement>> {
    Ok(vec![
        statement(
            db,
            "UPDATE steps SET attempts = ?2 - 1 WHERE id = ?1 AND attempts = ?2",
            &[step_id.into(), num(n)],
        )?,
        statement(
            db,
            "UPDATE attempts SET outcome = 'probe' WHERE step_id = ?1 AND n = ?2 AND outcome = 'retry'",
            &[step_id.into(), num(n)],
        )?,
    ])
}

/// An overdue step as the sweeper read it: the recovery statement only applies while the step
/// is still exactly in this state.
#[derive(Debug, Deserialize)]
pub struct OverdueStep {
    pub id: String,
    pub status: String,
    pub attempts: i64,
    pub updated_at: i64,
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
    statement(
        db,
        "SELECT id, status, attempts, updated_at FROM steps WHERE \
         (status = 'pending' AND updated_at < ?1) OR \
         (status IN ('enqueued', 'running') AND MAX(updated_at, COALESCE(next_attempt_at, 0)) < ?2) \
         ORDER BY updated_at LIMIT ?3",
        &[num(pending_before_ms), num(lost_before_ms), num(limit)],
    )?
    .all()
    .await?
    .results::<OverdueStep>()
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
    let (update, outcome) = match recovery {
        // The status stays: a `pending` step becomes `enqueued` once its send succeeds.
        Recovery::Resend => (
            "UPDATE steps SET dispatch = dispatch + 1, updated_at = ?4 \
             WHERE id = ?1 AND status = ?2 AND updated_at = ?3 RETURNING dispatch",
            None,
        ),
        Recovery::RetryLost => (
            "UPDATE steps SET status = 'enqueued', dispatch = dispatch + 1, next_attempt_at = NULL, \
             last_status = NULL, last_error = 'attempt_lost', updated_at = ?4 \
             WHERE id = ?1 AND status = ?2 AND updated_at = ?3 RETURNING dispatch",
            Some("retry"),
        ),
        Recovery::DeadLost => (
            "UPDATE steps SET status = 'dead', next_attempt_at = NULL, last_status = NULL, \
             last_error = 'attempt_lost', updated_at = ?4 \
             WHERE id = ?1 AND status = ?2 AND updated_at = ?3 RETURNING NULL AS dispatch",
            Some("dead"),
        ),
    };
    let mut statements = vec![statement(db, update, &read_state)?];
    if let Some(outcome) = outcome {
        // The lost attempt (the claim's number, started when it was claimed), recorded only
        // when the update above applied.
        statements.push(statement(
            db,
            "INSERT INTO attempts (step_id, n, started_at, duration_ms, status, outcome, error) \
             SELECT ?1, ?2, ?3, ?4 - ?3, NULL, ?5, ?6 WHERE changes() > 0",
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
