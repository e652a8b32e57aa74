//! Bulk replay's SQL over the events a [`BulkReplay`] selects (what remains of its pass): the
//! grouped counts a dry run plans from, a sample of event ids, and one page of events, oldest
//! first in `(received_at, id)` order (the pass cursor's keyset). The replay of each event is the
//! single-event replay's own SQL.

use edgehooks_handlers::admin::{BulkReplay, EventGroup, SqlArg, StepGroup, SAMPLE_SIZE};
use serde::Deserialize;
use worker::{D1Database, Result};

use super::admin::bind;
use super::statement;

/// One event of a page.
#[derive(Debug, Deserialize)]
pub struct PageEvent {
    pub id: String,
    pub received_at: i64,
}

#[derive(Deserialize)]
struct Id {
    id: String,
}

/// What a dry run counts: events per provider/type/status, their steps per name/status, and
/// the first [`SAMPLE_SIZE`] event ids of the pass. One D1 batch.
pub async fn plan_counts(
    db: &D1Database,
    request: &BulkReplay,
) -> Result<(Vec<EventGroup>, Vec<StepGroup>, Vec<String>)> {
    let (conditions, args) = request.where_clause();
    let events = statement(
        db,
        &format!(
            "SELECT e.provider, e.type AS event_type, e.status, COUNT(*) AS events FROM events e \
             WHERE {conditions} GROUP BY e.provider, e.type, e.status"
        ),
        &bind(&args),
    )?;
    let steps = statement(
        db,
        &format!(
            "SELECT e.provider, e.type AS event_type, s.name, s.status, COUNT(*) AS count \
             FROM events e JOIN steps s ON s.event_id = e.id WHERE {conditions} \
             GROUP BY e.provider, e.type, s.name, s.status"
        ),
        &bind(&args),
    )?;
    let mut sample_args = args.clone();
    sample_args.push(SqlArg::Int(SAMPLE_SIZE));
    let sample = statement(
        db,
        &format!(
            "SELECT e.id FROM events e WHERE {conditions} \
             ORDER BY e.received_at, e.id LIMIT ?"
        ),
        &bind(&sample_args),
    )?;
    let mut results = db.batch(vec![events, steps, sample]).await?.into_iter();
    let (Some(events), Some(steps), Some(sample)) =
        (results.next(), results.next(), results.next())
    else {
        return Err(worker::Error::RustError(
            "D1 batch returned too few results".into(),
        ));
    };
    Ok((
        events.results::<EventGroup>()?,
        steps.results::<StepGroup>()?,
        sample.results::<Id>()?.into_iter().map(|r| r.id).collect(),
    ))
}

/// Up to `request.limit + 1` events of the pass, oldest first (the extra row says there is
/// more).
pub async fn page(db: &D1Database, request: &BulkReplay) -> Result<Vec<PageEvent>> {
    let (conditions, mut args) = request.where_clause();
    args.push(SqlArg::Int(request.limit + 1));
    statement(
        db,
        &format!(
            "SELECT e.id, e.received_at FROM events e WHERE {conditions} \
             ORDER BY e.received_at, e.id LIMIT ?"
        ),
        &bind(&args),
    )?
    .all()
    .await?
    .results::<PageEvent>()
}
