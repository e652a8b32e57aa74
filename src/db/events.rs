//! Ingest's SQL: insert events with their planned steps (and the entity each step overwrites) in
//! one transaction, keep verified but unparsable deliveries as `rejected`, and count
//! verification failures per hour.

use edgehooks_handlers::downstream::planned_entity;
use edgehooks_handlers::ids;
use edgehooks_handlers::routes::StepKind;
use edgehooks_handlers::webhook::{ParsedEvent, Provider};
use worker::{D1Database, Result};

use super::{changes, num, opt_num, opt_text, statement};

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
            // The entity is stored from the start so that a step's claim knows every step of
            // its entity that is already accepted, whether or not it has run.
            let entity = planned_entity(*kind, provider, e);
            statements.push(statement(
                db,
                "INSERT INTO steps (id, event_id, name, destination, status, idempotency_key, \
                 created_at, updated_at, entity) VALUES (?1, ?2, ?3, ?4, 'pending', ?1, ?5, ?5, ?6) \
                 ON CONFLICT DO NOTHING",
                &[
                    step_id.as_str().into(),
                    plan.id.as_str().into(),
                    kind.name().into(),
                    kind.destination().name().into(),
                    num(now_ms),
                    opt_text(entity.as_deref()),
                ],
            )?);
        }
    }
    let results = db.batch(statements).await?;
    Ok(event_statement_index
        .into_iter()
        .map(|i| results.get(i).is_some_and(|r| changes(r) > 0))
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
