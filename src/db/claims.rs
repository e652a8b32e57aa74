//! Claiming a step for an attempt (the SQL and its rule are the core's
//! `edgehooks_handlers::lifecycle::claim`): a step that overwrites an entity is claimed only when
//! it is its turn, in the same transaction as the claim, and a refused claim says why.

use edgehooks_handlers::downstream::EntityStanding;
use edgehooks_handlers::lifecycle::{claim as sql, StepStatus};
use serde::Deserialize;
use worker::wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement, Result};

use super::{num, statement, RUNNING_LEASE_MS};

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
        StepStatus::parse(&self.status).is_some_and(StepStatus::is_claimable)
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
        &sql::entity_standing(),
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
        let claimed = statement(db, &sql::claim(), &[step_id.into(), num(now_ms)])?
            .first::<Claimed>(None)
            .await?;
        return Ok(claimed.map_or(Claim::NotClaimable, |c| Claim::Claimed(c.attempts)));
    };
    let backfill = statement(
        db,
        sql::BACKFILL_ENTITY,
        &[step_id.into(), claim.entity.into()],
    )?;
    let mut args = entity_args(step_id, claim, now_ms);
    args.push(num(now_ms));
    let update = statement(db, &sql::claim_in_turn(), &args)?;
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
