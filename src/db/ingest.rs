//! Ingest's SQL: insert events with their planned steps (and the entity each step overwrites), as
//! multi-row INSERTs within D1's 100-parameter limit, each chunk of events in one transaction
//! with its steps (the step insert is shared with replay, which plans steps added to the routes
//! later); keep verified but unparsable deliveries, and each malformed element of a batch, as
//! `rejected`; add the isolate's tallied verification failures to their hourly rows. An event colliding with a stored one on
//! either dedupe key (`dedupe_key`, or the `content_key` of what the signature covers) is a
//! duplicate, and steps are stored only for the events this call stored itself: each call has
//! a random token, written to its event rows (`stored_by`) and required by its step INSERT in
//! the same transaction (the core's `steps::lifecycle::planned`), so a duplicate delivery or a
//! backfill's overlap never plans the steps of connections created since.
//! The same transaction remembers the Stripe customers the events describe (for later events
//! that name them only by id). The entities and the customer are read from one parse of each
//! event's payload, made only when a step has an entity or the event type describes a customer
//! (the core's `LazyPayload`).
//!
//! Every event row records its `origin` (`webhook`, or `backfill` for events listed from
//! Stripe's API, which reuse [`insert_planned`]).
//!
//! Writes: `events` (stored and rejected deliveries), `steps` (insert, shared with replay),
//! `rejections` (hourly tallies); `stripe_customers` through [`super::customers::save_customer`].

use edgehooks_handlers::by_name::ByName;
use edgehooks_handlers::connections::plan::PlannedStep;
use edgehooks_handlers::downstream::customers::learned_from_event;
use edgehooks_handlers::downstream::{planned_entity, KnownCustomer, LazyPayload};
use edgehooks_handlers::inbound::ids;
use edgehooks_handlers::inbound::providers::shopify_version::other_origin_absent;
use edgehooks_handlers::inbound::rejections::Bucket;
use edgehooks_handlers::inbound::sources::scoped_key;
use edgehooks_handlers::inbound::webhook::{ParsedEvent, Provider, RejectedElement};
use edgehooks_handlers::ingest::rejected;
use edgehooks_handlers::retention::tombstones;
use edgehooks_handlers::steps::lifecycle::planned::delivery_token;
use edgehooks_handlers::steps::lifecycle::{EventStatus, PlannedBy};

use worker::wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement, Result};

use super::{num, opt_num, opt_text, statement};

/// An accepted event with the steps its route plans.
pub struct PlannedEvent<'a> {
    pub id: String,
    pub event: &'a ParsedEvent,
    pub steps: Vec<PlannedStep>,
}

impl PlannedEvent<'_> {
    pub fn step_ids(&self) -> impl Iterator<Item = String> + '_ {
        self.steps.iter().map(|s| ids::step_id(&self.id, &s.name()))
    }
}

/// What every event row of one insert shares: `?1` provider, `?2` received at, `?3` key index
/// (NULL for a backfill: nothing was signed), `?4` origin, `?5` source (NULL on the default path),
/// `?6` the delivery's token (`stored_by`, see [`PlannedBy`]), `?7` the delivery's request
/// headers as stored (the core's `stored_headers`; NULL for a backfill).
#[derive(Clone, Copy)]
struct StoredAs<'a> {
    provider: Provider,
    origin: Origin,
    key_index: Option<usize>,
    source: Option<&'a str>,
    now_ms: i64,
    token: &'a str,
    headers: Option<&'a str>,
}

impl StoredAs<'_> {
    fn shared_args(&self) -> Vec<worker::wasm_bindgen::JsValue> {
        vec![
            self.provider.slug().into(),
            num(self.now_ms),
            opt_num(self.key_index.map(|k| k as i64)),
            self.origin.as_str().into(),
            opt_text(self.source),
            self.token.into(),
            opt_text(self.headers),
        ]
    }
}

/// D1 binds at most this many parameters per statement ("Maximum bound parameters per query",
/// D1 platform limits).
const MAX_PARAMS: usize = 100;

/// One place of a multi-row INSERT's `VALUES` tuple: the row's own next parameter, a parameter
/// every row shares (`?n`), or SQL text.
#[derive(Clone, Copy)]
enum Slot {
    Row,
    Shared(usize),
    Sql(&'static str),
}
use Slot::{Row, Shared, Sql};

/// How many parameters each row of `slots` binds.
const fn row_params(slots: &[Slot]) -> usize {
    let (mut i, mut n) = (0, 0);
    while i < slots.len() {
        if let Row = slots[i] {
            n += 1;
        }
        i += 1;
    }
    n
}

/// Rows of `slots` one statement can hold after `shared` parameters, within [`MAX_PARAMS`].
const fn rows_per_statement(slots: &[Slot], shared: usize) -> usize {
    (MAX_PARAMS - shared) / row_params(slots)
}

/// Append the `(…)` of row `index` (comma-separated from the previous one): its `Row` slots are
/// numbered after the `shared` parameters and the rows before it.
fn push_values_row(sql: &mut String, slots: &[Slot], shared: usize, index: usize) {
    let mut next = shared + 1 + index * row_params(slots);
    sql.push_str(if index == 0 { "(" } else { ",(" });
    for (i, slot) in slots.iter().enumerate() {
        if i > 0 {
            sql.push_str(", ");
        }
        match slot {
            Row => {
                sql.push_str(&format!("?{next}"));
                next += 1;
            }
            Shared(n) => sql.push_str(&format!("?{n}")),
            Sql(text) => sql.push_str(text),
        }
    }
    sql.push(')');
}

/// An event row: id, ?1 provider, dedupe key, type, account, occurred at, ?2 received at,
/// status, ?3 key index, payload, payload bytes, content key, ?4 origin, ?5 source, version key,
/// ?6 the delivery's token, ?7 the delivery's headers.
const EVENT_ROW: &[Slot] = &[
    Row,
    Shared(1),
    Row,
    Row,
    Row,
    Row,
    Shared(2),
    Sql(EventStatus::Accepted.sql_lit()),
    Shared(3),
    Row,
    Row,
    Row,
    Shared(4),
    Shared(5),
    Row,
    Shared(6),
    Shared(7),
];
const SHARED_EVENT_ARGS: usize = 7;
/// Event rows per multi-row INSERT.
const EVENTS_PER_STATEMENT: usize = rows_per_statement(EVENT_ROW, SHARED_EVENT_ARGS);

/// A step row: id, event id, name, destination, entity (the statement adds the rest).
const STEP_ROW: &[Slot] = &[Row, Row, Row, Row, Row];
/// `?1` the time, `?2` the delivery's token (replay binds no token).
const SHARED_STEP_ARGS: usize = 2;
/// Step rows per multi-row INSERT.
const STEPS_PER_STATEMENT: usize = rows_per_statement(STEP_ROW, SHARED_STEP_ARGS);

/// A rejected batch element: id, ?1 provider, dedupe key, type, ?2 received at, status, ?3 key
/// index, payload, payload bytes, error, batch index, ?4 source, ?5 headers.
const REJECTED_ROW: &[Slot] = &[
    Row,
    Shared(1),
    Row,
    Sql(rejected::UNPARSABLE_TYPE_SQL),
    Shared(2),
    Sql(EventStatus::Rejected.sql_lit()),
    Shared(3),
    Row,
    Row,
    Row,
    Row,
    Shared(4),
    Shared(5),
];
const SHARED_REJECTED_ARGS: usize = 5;
/// Rejected batch elements per multi-row INSERT.
const REJECTED_PER_STATEMENT: usize = rows_per_statement(REJECTED_ROW, SHARED_REJECTED_ARGS);
/// Events (or rejected elements) per D1 `batch` call. A batch is one transaction and one
/// subrequest: each call stays small (a few dozen statements, well inside D1's 30 s query
/// limit), and a delivery of `MAX_BODY_BYTES` (~3,000 small SendGrid events) takes about a
/// dozen calls, far inside the 1,000 D1 queries / subrequests a paid invocation may make (50
/// on the free plan). Each chunk commits its events together with their steps, so a failure
/// between chunks leaves whole events (their steps `pending`, which the sweeper enqueues) and
/// answers 503: the provider's retry finds them as duplicates.
pub const EVENTS_PER_D1_BATCH: usize = 250;

/// One planned step row: its id, its event's id, what it does, and the entity it overwrites
/// (stored from the start so that a step's claim knows every accepted step of its entity,
/// whether or not it has run; `None` when the step has no ordering entity or is planned later
/// by replay, in which case its first claim fills it in).
struct StepRow<'a> {
    id: String,
    event_id: &'a str,
    name: String,
    destination: String,
    entity: Option<String>,
}

/// Insert events with their planned steps, and a batch's malformed elements as rejected rows,
/// in D1 batches of at most [`EVENTS_PER_D1_BATCH`] events, each one transaction of multi-row
/// INSERTs (a 50-event chunk is 5 event statements and 3 step statements, not 100 statements).
/// Returns, per event, whether this call inserted it (false: it was already stored, a
/// duplicate on either key).
pub async fn insert_events(
    db: &D1Database,
    delivery: &Delivery<'_>,
    now_ms: i64,
    planned: &[PlannedEvent<'_>],
    rejected: &[RejectedElement],
) -> Result<Vec<bool>> {
    let Delivery {
        provider,
        key_index,
        source,
        headers,
    } = *delivery;
    let token = delivery_token(&crate::webcrypto::random_bytes());
    let stored = StoredAs {
        provider,
        origin: Origin::Webhook,
        key_index: Some(key_index),
        source,
        now_ms,
        token: &token,
        headers: Some(headers),
    };
    let inserted = insert_planned(db, stored, planned).await?;
    for chunk in rejected.chunks(EVENTS_PER_D1_BATCH) {
        let statements = chunk
            .chunks(REJECTED_PER_STATEMENT)
            .map(|rows| rejected_elements_statement(db, &stored, rows))
            .collect::<Result<Vec<_>>>()?;
        db.batch(statements).await?;
    }
    Ok(inserted)
}

/// What every row a verified delivery stores shares: its provider, the key that verified it,
/// its source (`None`: the default path) and its request headers as stored (the core's
/// `inbound::stored_headers`).
#[derive(Clone, Copy)]
pub struct Delivery<'a> {
    pub provider: Provider,
    pub key_index: usize,
    pub source: Option<&'a str>,
    pub headers: &'a str,
}

/// How an event reached edgehooks (`events.origin`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A verified webhook delivery.
    Webhook,
    /// Listed from the provider's API by a backfill run (no signature: `key_index` is NULL).
    Backfill,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Webhook => "webhook",
            Origin::Backfill => "backfill",
        }
    }
}

/// Insert events with their planned steps (see [`insert_events`]), stored with their origin and
/// source. The same statements whatever the origin: a webhook and a backfill of one event
/// collide on `(provider, dedupe_key)` and D1 keeps exactly one. Returns, per event, whether it
/// is new.
async fn insert_planned(
    db: &D1Database,
    stored: StoredAs<'_>,
    planned: &[PlannedEvent<'_>],
) -> Result<Vec<bool>> {
    let mut inserted = ByName::new();
    for chunk in planned.chunks(EVENTS_PER_D1_BATCH) {
        for id in insert_event_chunk(db, stored, chunk).await? {
            inserted.insert(id, ());
        }
    }
    Ok(planned
        .iter()
        .map(|plan| inserted.contains(&plan.id))
        .collect())
}

/// Store events a backfill listed from the provider's API (origin `backfill`, no key index,
/// stored for `source`: `None` is the default one), with their planned steps. Returns, per
/// event, whether it is new.
pub async fn insert_backfilled(
    db: &D1Database,
    provider: Provider,
    source: Option<&str>,
    now_ms: i64,
    planned: &[PlannedEvent<'_>],
) -> Result<Vec<bool>> {
    let token = delivery_token(&crate::webcrypto::random_bytes());
    let stored = StoredAs {
        provider,
        origin: Origin::Backfill,
        key_index: None,
        source,
        now_ms,
        token: &token,
        headers: None,
    };
    insert_planned(db, stored, planned).await
}

/// One multi-row INSERT of events (at most `EVENTS_PER_STATEMENT`). `ON CONFLICT DO NOTHING`
/// without a target skips a row that collides on any unique key: the id, `(provider,
/// dedupe_key)` or `(provider, content_key)`; a Shopify order version the other origin
/// (webhook or reconciliation) already stored is not inserted either (the core's
/// `other_origin_absent`, see `backfill::shopify::version`), nor an event retention deleted
/// whose tombstone is still live (`retention::tombstones::absent`). `RETURNING id` names the
/// rows inserted.
fn events_statement(
    db: &D1Database,
    stored: StoredAs<'_>,
    chunk: &[PlannedEvent<'_>],
) -> Result<D1PreparedStatement> {
    let mut sql = String::from(
        "INSERT INTO events (id, provider, dedupe_key, type, account, occurred_at, received_at, \
         status, key_index, payload, payload_bytes, content_key, origin, source, version_key, \
         stored_by, headers) \
         SELECT * FROM (VALUES ",
    );
    let mut args = stored.shared_args();
    for (row, plan) in chunk.iter().enumerate() {
        let e = plan.event;
        push_values_row(&mut sql, EVENT_ROW, SHARED_EVENT_ARGS, row);
        args.extend([
            plan.id.as_str().into(),
            e.dedupe_key.as_str().into(),
            e.event_type.as_str().into(),
            opt_text(e.account.as_deref()),
            opt_num(e.occurred_at_ms),
            e.payload.as_str().into(),
            num(e.payload.len() as i64),
            opt_text(e.content_key.as_deref()),
            opt_text(e.version_key.as_deref()),
        ]);
    }
    // ?1 is the provider and ?4 the origin every row shares; column15 is the row's version key.
    sql.push_str(") WHERE ");
    sql.push_str(&other_origin_absent("?1", "column15", "?4"));
    // A live tombstone of either key (the event was stored, then deleted by retention) makes
    // the row a duplicate: column3 is the dedupe key, column12 the content key, ?2 now.
    sql.push_str(" AND ");
    sql.push_str(&tombstones::absent("?1", "column3", "column12", "?2"));
    sql.push_str(" ON CONFLICT DO NOTHING RETURNING id");
    statement(db, &sql, &args)
}

/// One D1 batch (one transaction): a chunk of events and all their planned steps. Returns the
/// ids of the events it inserted.
async fn insert_event_chunk(
    db: &D1Database,
    stored: StoredAs<'_>,
    planned: &[PlannedEvent<'_>],
) -> Result<Vec<String>> {
    let (provider, now_ms) = (stored.provider, stored.now_ms);
    let mut statements = planned
        .chunks(EVENTS_PER_STATEMENT)
        .map(|chunk| events_statement(db, stored, chunk))
        .collect::<Result<Vec<_>>>()?;
    let event_statements = statements.len();

    let Planned { steps, customers } = planned_rows(planned, provider);
    let by = PlannedBy::Delivery(stored.token);
    for chunk in steps.chunks(STEPS_PER_STATEMENT) {
        statements.push(steps_statement(db, chunk, now_ms, by)?);
    }
    for (customer, e) in &customers {
        let as_of = e.occurred_at_ms.unwrap_or(now_ms);
        statements.push(super::customers::save_customer(
            db,
            customer,
            &e.event_type,
            as_of,
            now_ms,
        )?);
    }

    let answers = super::rows::batch(db, statements).await?;
    let mut inserted = Vec::new();
    for answer in answers.iter().take(event_statements) {
        inserted.extend(answer.rows()?.texts("id")?);
    }
    Ok(inserted)
}

/// What a chunk's events store beside them: their step rows and the Stripe customers they
/// describe, each with the event it came from.
struct Planned<'a> {
    steps: Vec<StepRow<'a>>,
    customers: Vec<(KnownCustomer, &'a ParsedEvent)>,
}

/// The step rows (with their entities) and customers of `planned`, read from one parse of each
/// event's payload, made only if a step's entity or the customer needs it.
fn planned_rows<'a>(planned: &'a [PlannedEvent<'_>], provider: Provider) -> Planned<'a> {
    let mut rows = Planned {
        steps: Vec::new(),
        customers: Vec::new(),
    };
    for plan in planned {
        let payload = LazyPayload::new(&plan.event.payload);
        push_step_rows(&mut rows.steps, plan, provider, &payload);
        let e = plan.event;
        if let Some(customer) = learned_from_event(provider, &e.event_type, &payload) {
            rows.customers.push((customer, e));
        }
    }
    rows
}

/// Add the step rows of one planned event to `rows`, each with the entity it overwrites (read
/// from `payload`, the event's, parsed only if some step has an entity).
fn push_step_rows<'a>(
    rows: &mut Vec<StepRow<'a>>,
    plan: &'a PlannedEvent<'_>,
    provider: Provider,
    payload: &LazyPayload<'_>,
) {
    rows.extend(plan.steps.iter().map(|step| StepRow {
        id: ids::step_id(&plan.id, &step.name()),
        event_id: plan.id.as_str(),
        name: step.name(),
        destination: step.destination().to_string(),
        entity: match step {
            PlannedStep::Builtin(kind) => planned_entity(*kind, provider, plan.event, payload),
            PlannedStep::Http(_) => None,
        },
    }));
}

/// One multi-row INSERT of rejected batch elements (at most `REJECTED_PER_STATEMENT`): status
/// `rejected`, type `unparsable`, the error code and the element's index in the batch. The
/// element's dedupe key is stable across the provider's retries, so a retry adds no row.
fn rejected_elements_statement(
    db: &D1Database,
    stored: &StoredAs<'_>,
    rows: &[RejectedElement],
) -> Result<D1PreparedStatement> {
    let provider = stored.provider;
    let mut sql = String::from(
        "INSERT INTO events (id, provider, dedupe_key, type, received_at, status, key_index, \
         payload, payload_bytes, error, batch_index, source, headers) VALUES ",
    );
    // ?1 provider, ?2 received at, ?3 key index, ?4 source, ?5 headers.
    let mut args = vec![
        provider.slug().into(),
        num(stored.now_ms),
        opt_num(stored.key_index.map(|k| k as i64)),
        opt_text(stored.source),
        opt_text(stored.headers),
    ];
    for (row, element) in rows.iter().enumerate() {
        push_values_row(&mut sql, REJECTED_ROW, SHARED_REJECTED_ARGS, row);
        args.extend([
            ids::event_id(provider, &element.dedupe_key).into(),
            element.dedupe_key.as_str().into(),
            element.payload.as_str().into(),
            num(element.payload.len() as i64),
            element.error.code().into(),
            num(element.index as i64),
        ]);
    }
    sql.push_str(" ON CONFLICT DO NOTHING");
    statement(db, &sql, &args)
}

/// One INSERT of planned steps, at most `STEPS_PER_STATEMENT` rows (status `pending`,
/// idempotency key = step id), for the events `by` may add steps to: a delivery only to those
/// it stored itself, a replay to any stored event (the core's `steps::lifecycle::planned`). A step the
/// event already has is left as it is (`ON CONFLICT DO NOTHING`): a step id is
/// `event_id:name`, so the same step is never stored twice, whoever plans it.
fn steps_statement(
    db: &D1Database,
    rows: &[StepRow],
    now_ms: i64,
    by: PlannedBy,
) -> Result<D1PreparedStatement> {
    let mut sql = format!(
        "INSERT INTO steps (id, event_id, name, destination, status, idempotency_key, \
         created_at, updated_at, entity) SELECT column1, column2, column3, column4, {}, \
         column1, ?1, ?1, column5 FROM (VALUES ",
        edgehooks_handlers::steps::lifecycle::sql_lit(
            edgehooks_handlers::steps::lifecycle::StepStatus::Pending
        )
    );
    let mut args = vec![num(now_ms)];
    args.extend(by.token().map(JsValue::from));
    let shared = args.len();
    for (index, row) in rows.iter().enumerate() {
        push_values_row(&mut sql, STEP_ROW, shared, index);
        args.extend([
            row.id.as_str().into(),
            row.event_id.into(),
            row.name.as_str().into(),
            row.destination.as_str().into(),
            opt_text(row.entity.as_deref()),
        ]);
    }
    sql.push_str(") WHERE ");
    sql.push_str(&by.condition("column2", "?2"));
    sql.push_str(" ON CONFLICT DO NOTHING");
    statement(db, &sql, &args)
}

/// Plan step `kind` of event `event_id` on its own (replay adds steps the routes gained later;
/// its result's `changes` tells whether the step was new).
pub(crate) fn insert_step(
    db: &D1Database,
    event_id: &str,
    step: &PlannedStep,
    now_ms: i64,
) -> Result<D1PreparedStatement> {
    let name = step.name();
    let row = StepRow {
        id: ids::step_id(event_id, &name),
        event_id,
        name,
        destination: step.destination().to_string(),
        entity: None,
    };
    steps_statement(db, &[row], now_ms, PlannedBy::Replay)
}

/// A delivery that verified but could not be parsed.
pub struct RejectedDelivery<'a> {
    pub provider: Provider,
    pub source: Option<&'a str>,
    pub key_index: usize,
    pub body: &'a [u8],
    pub error: &'a str,
    /// The request headers as stored (the core's `inbound::stored_headers`).
    pub headers: &'a str,
    /// The account it is filed under (the core's `ingest::rejected::account`).
    pub account: Option<&'a str>,
}

/// Keep a delivery that verified but could not be parsed, for admins (status `rejected`),
/// deduplicated within its source; its body as the core's `ingest::rejected` stores it.
pub async fn insert_rejected(
    db: &D1Database,
    rejected: RejectedDelivery<'_>,
    now_ms: i64,
) -> Result<()> {
    let RejectedDelivery {
        provider,
        source,
        key_index,
        body,
        error,
        headers,
        account,
    } = rejected;
    let dedupe_key = scoped_key(source, &ids::rejected_delivery_key(body));
    let id = ids::event_id(provider, &dedupe_key);
    let payload = rejected::stored_body(body);
    statement(
        db,
        &rejected::insert_sql(),
        &[
            id.as_str().into(),
            provider.slug().into(),
            dedupe_key.as_str().into(),
            num(now_ms),
            num(key_index as i64),
            payload.text.as_ref().into(),
            num(body.len() as i64),
            error.into(),
            opt_text(source),
            headers.into(),
            opt_text(account),
        ],
    )?
    .run()
    .await?;
    Ok(())
}

/// Add tallied verification failures to their provider/source/reason/hour rows, all buckets in one
/// statement (one bound JSON array, whatever the number of buckets).
pub async fn add_rejections(db: &D1Database, buckets: &[Bucket]) -> Result<()> {
    let json =
        serde_json::to_string(buckets).map_err(|e| worker::Error::RustError(e.to_string()))?;
    statement(
        db,
        edgehooks_handlers::inbound::rejections::ADD_BUCKETS,
        &[json.as_str().into()],
    )?
    .run()
    .await?;
    Ok(())
}
