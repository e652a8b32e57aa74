//! Ingest's SQL: insert events with their planned steps (and the entity each step overwrites) in
//! one transaction, as multi-row INSERTs within D1's 100-parameter limit (the step insert is
//! shared with replay, which plans steps added to the routes later); keep verified but unparsable
//! deliveries as `rejected`; add the isolate's tallied verification failures to their hourly rows.

use edgehooks_handlers::downstream::planned_entity;
use edgehooks_handlers::ids;
use edgehooks_handlers::rejections::Bucket;
use edgehooks_handlers::routes::StepKind;
use edgehooks_handlers::webhook::{ParsedEvent, Provider};
use std::collections::HashSet;

use serde::Deserialize;
use worker::{D1Database, D1PreparedStatement, Result};

use super::{num, opt_num, opt_text, statement};

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

/// D1 binds at most this many parameters per statement.
const MAX_PARAMS: usize = 100;
/// Event rows per multi-row INSERT: 3 parameters shared by the statement, 7 per row.
const EVENTS_PER_STATEMENT: usize = (MAX_PARAMS - 3) / 7;
/// Step rows per multi-row INSERT: 1 shared parameter, 5 per row.
const STEPS_PER_STATEMENT: usize = (MAX_PARAMS - 1) / 5;

/// One planned step row: its id, its event's id, what it does, and the entity it overwrites
/// (stored from the start so that a step's claim knows every accepted step of its entity,
/// whether or not it has run; `None` when the step has no ordering entity or is planned later
/// by replay, in which case its first claim fills it in).
struct StepRow<'a> {
    id: String,
    event_id: &'a str,
    kind: StepKind,
    entity: Option<String>,
}

/// A stored event's id, from `RETURNING id`.
#[derive(Deserialize)]
struct InsertedId {
    id: String,
}

/// Insert events and their planned steps in one transaction (one D1 batch of multi-row INSERTs:
/// a 50-event batch is 4 event statements and 3 step statements, not 100 statements). Returns,
/// per event, whether this call inserted it (false: it was already stored, a duplicate).
pub async fn insert_events(
    db: &D1Database,
    provider: Provider,
    key_index: usize,
    now_ms: i64,
    planned: &[PlannedEvent<'_>],
) -> Result<Vec<bool>> {
    let mut statements = Vec::new();
    for chunk in planned.chunks(EVENTS_PER_STATEMENT) {
        let mut sql = String::from(
            "INSERT INTO events (id, provider, dedupe_key, type, account, occurred_at, received_at, \
             status, key_index, payload, payload_bytes) VALUES ",
        );
        let mut args = vec![provider.slug().into(), num(now_ms), num(key_index as i64)];
        for (row, plan) in chunk.iter().enumerate() {
            let e = plan.event;
            let p = 4 + row * 7;
            if row > 0 {
                sql.push(',');
            }
            sql.push_str(&format!(
                "(?{p}, ?1, ?{}, ?{}, ?{}, ?{}, ?2, 'accepted', ?3, ?{}, ?{})",
                p + 1,
                p + 2,
                p + 3,
                p + 4,
                p + 5,
                p + 6
            ));
            args.extend([
                plan.id.as_str().into(),
                e.dedupe_key.as_str().into(),
                e.event_type.as_str().into(),
                opt_text(e.account.as_deref()),
                opt_num(e.occurred_at_ms),
                e.payload.as_str().into(),
                num(e.payload.len() as i64),
            ]);
        }
        sql.push_str(" ON CONFLICT (provider, dedupe_key) DO NOTHING RETURNING id");
        statements.push(statement(db, &sql, &args)?);
    }
    let event_statements = statements.len();

    let steps: Vec<StepRow> = planned
        .iter()
        .flat_map(|plan| {
            plan.steps.iter().map(|kind| StepRow {
                id: ids::step_id(&plan.id, kind.name()),
                event_id: plan.id.as_str(),
                kind: *kind,
                entity: planned_entity(*kind, provider, plan.event),
            })
        })
        .collect();
    for chunk in steps.chunks(STEPS_PER_STATEMENT) {
        statements.push(steps_statement(db, chunk, now_ms)?);
    }

    let results = db.batch(statements).await?;
    let mut inserted = HashSet::new();
    for result in results.iter().take(event_statements) {
        inserted.extend(
            result
                .results::<InsertedId>()?
                .into_iter()
                .map(|row| row.id),
        );
    }
    Ok(planned
        .iter()
        .map(|plan| inserted.contains(&plan.id))
        .collect())
}

/// One INSERT of planned steps, at most `STEPS_PER_STATEMENT` rows (status `pending`,
/// idempotency key = step id). A step the event already has is left as it is (`ON CONFLICT DO
/// NOTHING`): a step id is `event_id:name`, so the same step is never stored twice, whoever
/// plans it.
fn steps_statement(db: &D1Database, rows: &[StepRow], now_ms: i64) -> Result<D1PreparedStatement> {
    let mut sql = String::from(
        "INSERT INTO steps (id, event_id, name, destination, status, idempotency_key, \
         created_at, updated_at, entity) VALUES ",
    );
    let mut args = vec![num(now_ms)];
    for (index, row) in rows.iter().enumerate() {
        let p = 2 + index * 5;
        if index > 0 {
            sql.push(',');
        }
        sql.push_str(&format!(
            "(?{p}, ?{}, ?{}, ?{}, 'pending', ?{p}, ?1, ?1, ?{})",
            p + 1,
            p + 2,
            p + 3,
            p + 4
        ));
        args.extend([
            row.id.as_str().into(),
            row.event_id.into(),
            row.kind.name().into(),
            row.kind.destination().name().into(),
            opt_text(row.entity.as_deref()),
        ]);
    }
    sql.push_str(" ON CONFLICT DO NOTHING");
    statement(db, &sql, &args)
}

/// Plan step `kind` of event `event_id` on its own (replay adds steps the routes gained later;
/// its result's `changes` tells whether the step was new).
pub(crate) fn insert_step(
    db: &D1Database,
    event_id: &str,
    kind: StepKind,
    now_ms: i64,
) -> Result<D1PreparedStatement> {
    let row = StepRow {
        id: ids::step_id(event_id, kind.name()),
        event_id,
        kind,
        entity: None,
    };
    steps_statement(db, &[row], now_ms)
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

/// Add tallied verification failures to their provider/reason/hour rows, all buckets in one
/// statement (one bound JSON array, whatever the number of buckets).
pub async fn add_rejections(db: &D1Database, buckets: &[Bucket]) -> Result<()> {
    let json =
        serde_json::to_string(buckets).map_err(|e| worker::Error::RustError(e.to_string()))?;
    statement(
        db,
        "INSERT INTO rejections (provider, reason, hour, count) \
         SELECT json_extract(value, '$.provider'), json_extract(value, '$.reason'), \
         json_extract(value, '$.hour'), json_extract(value, '$.count') FROM json_each(?1) WHERE true \
         ON CONFLICT (provider, reason, hour) DO UPDATE SET count = count + excluded.count",
        &[json.as_str().into()],
    )?
    .run()
    .await?;
    Ok(())
}
