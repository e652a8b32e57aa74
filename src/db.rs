//! Every SQL statement edgehooks runs against D1, in one place. Numbers are bound as f64 (D1
//! rejects BigInt); multi-row writes that must be all-or-nothing go through `batch`, which D1
//! runs as one transaction.

use edgehooks_handlers::ids;
use edgehooks_handlers::routes::StepKind;
use edgehooks_handlers::webhook::{ParsedEvent, Provider};
use serde::Deserialize;
use worker::wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement, Result};

fn num(n: i64) -> JsValue {
    JsValue::from_f64(n as f64)
}

fn opt_num(n: Option<i64>) -> JsValue {
    n.map(num).unwrap_or(JsValue::NULL)
}

fn opt_text(s: Option<&str>) -> JsValue {
    s.map(JsValue::from_str).unwrap_or(JsValue::NULL)
}

fn statement(db: &D1Database, sql: &str, args: &[JsValue]) -> Result<D1PreparedStatement> {
    db.prepare(sql).bind(args)
}

/// An accepted event with the steps its route plans.
pub struct PlannedEvent<'a> {
    pub id: String,
    pub event: &'a ParsedEvent,
    pub steps: Vec<StepKind>,
}

impl PlannedEvent<'_> {
    pub fn step_ids(&self) -> impl Iterator<Item = String> + '_ {
        self.steps.iter().map(|k| ids::step_id(&self.id, k.name()))
    }
}

/// Insert events and their planned steps in one transaction. Returns, per event, whether this
/// call inserted it (false: it was already stored, a duplicate).
pub async fn insert_events(
    db: &D1Database,
    provider: Provider,
    key_index: usize,
    now_ms: i64,
    planned: &[PlannedEvent<'_>],
) -> Result<Vec<bool>> {
    let mut statements = Vec::new();
    let mut event_statement_index = Vec::with_capacity(planned.len());
    for plan in planned {
        let e = plan.event;
        event_statement_index.push(statements.len());
        statements.push(statement(
            db,
            "INSERT INTO events (id, provider, dedupe_key, type, account, occurred_at, received_at, \
             status, key_index, payload, payload_bytes) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'accepted', ?8, ?9, ?10) \
             ON CONFLICT (provider, dedupe_key) DO NOTHING",
            &[
                plan.id.as_str().into(),
                provider.slug().into(),
                e.dedupe_key.as_str().into(),
                e.event_type.as_str().into(),
                opt_text(e.account.as_deref()),
                opt_num(e.occurred_at_ms),
                num(now_ms),
                num(key_index as i64),
                e.payload.as_str().into(),
                num(e.payload.len() as i64),
            ],
        )?);
        for kind in &plan.steps {
            let step_id = ids::step_id(&plan.id, kind.name());
            statements.push(statement(
                db,
                "INSERT INTO steps (id, event_id, name, destination, status, idempotency_key, \
                 created_at, updated_at) VALUES (?1, ?2, ?3, ?4, 'pending', ?1, ?5, ?5) \
                 ON CONFLICT DO NOTHING",
                &[
                    step_id.as_str().into(),
                    plan.id.as_str().into(),
                    kind.name().into(),
                    kind.destination().name().into(),
                    num(now_ms),
                ],
            )?);
        }
    }
    let results = db.batch(statements).await?;
    Ok(event_statement_index
        .into_iter()
        .map(|i| {
            results
                .get(i)
                .and_then(|r| r.meta().ok().flatten())
                .and_then(|m| m.changes)
                .is_some_and(|changes| changes > 0)
        })
        .collect())
}

/// Keep a delivery that verified but could not be parsed, for admins (status `rejected`).
pub async fn insert_rejected(
    db: &D1Database,
    provider: Provider,
    key_index: usize,
    body: &[u8],
    error: &str,
    now_ms: i64,
) -> Result<()> {
    let dedupe_key = ids::rejected_delivery_key(body);
    let id = ids::event_id(provider, &dedupe_key);
    let payload = String::from_utf8_lossy(body);
    statement(
        db,
        "INSERT INTO events (id, provider, dedupe_key, type, received_at, status, key_index, \
         payload, payload_bytes, error) VALUES (?1, ?2, ?3, 'unparsable', ?4, 'rejected', ?5, ?6, ?7, ?8) \
         ON CONFLICT (provider, dedupe_key) DO NOTHING",
        &[
            id.as_str().into(),
            provider.slug().into(),
            dedupe_key.as_str().into(),
            num(now_ms),
            num(key_index as i64),
            payload.as_ref().into(),
            num(body.len() as i64),
            error.into(),
        ],
    )?
    .run()
    .await?;
    Ok(())
}

/// Count a verification failure in its provider/reason/hour bucket.
pub async fn count_rejection(
    db: &D1Database,
    provider: Provider,
    reason: &str,
    now_ms: i64,
) -> Result<()> {
    let hour = now_ms / 1000 / 3600 * 3600;
    statement(
        db,
        "INSERT INTO rejections (provider, reason, hour, count) VALUES (?1, ?2, ?3, 1) \
         ON CONFLICT (provider, reason, hour) DO UPDATE SET count = count + 1",
        &[provider.slug().into(), reason.into(), num(hour)],
    )?
    .run()
    .await?;
    Ok(())
}

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
    pub name: String,
    pub status: String,
    pub provider: String,
    pub event_type: String,
    pub payload: Option<String>,
}

pub async fn load_step(db: &D1Database, step_id: &str) -> Result<Option<StepRow>> {
    statement(
        db,
        "SELECT s.name, s.status, e.provider, e.type AS event_type, e.payload \
         FROM steps s JOIN events e ON e.id = s.event_id WHERE s.id = ?1",
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

pub async fn record_attempt(
    db: &D1Database,
    record: &AttemptRecord<'_>,
    now_ms: i64,
) -> Result<()> {
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
    db.batch(vec![insert, update]).await?;
    Ok(())
}

/// End a step without a downstream call (unknown step, disabled destination, unbuildable
/// request, or Queues gave up). Finished steps are left as they are.
pub async fn mark_dead(db: &D1Database, step_id: &str, error: &str, now_ms: i64) -> Result<bool> {
    let result = statement(
        db,
        "UPDATE steps SET status = 'dead', last_error = ?2, updated_at = ?3 \
         WHERE id = ?1 AND status NOT IN ('succeeded', 'skipped_stale', 'dead')",
        &[step_id.into(), error.into(), num(now_ms)],
    )?
    .run()
    .await?;
    Ok(result
        .meta()?
        .and_then(|m| m.changes)
        .is_some_and(|c| c > 0))
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

/// Put swept steps back to `enqueued` (a `running` step whose lease expired becomes claimable).
pub async fn requeue(db: &D1Database, step_ids: &[String], now_ms: i64) -> Result<()> {
    let statements = step_ids
        .iter()
        .map(|id| {
            statement(
                db,
                "UPDATE steps SET status = 'enqueued', updated_at = ?2 \
                 WHERE id = ?1 AND status IN ('pending', 'enqueued', 'running')",
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
    Ok(result.meta()?.and_then(|m| m.changes).unwrap_or(0))
}
