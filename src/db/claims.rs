//! Claiming a step for an attempt (the SQL and its rule are the core's
//! `edgehooks_handlers::steps::lifecycle::claim`): a step that overwrites an entity is claimed only when
//! it is its turn, in the same transaction as the claim, and a refused claim says why; a claim
//! for a call counts the call's check in its destination's budget in that same transaction, only
//! if the claim applied, and returns the destination's counters.

use edgehooks_handlers::downstream::EntityStanding;
use edgehooks_handlers::steps::lifecycle::{claim as sql, StepStatus};
use edgehooks_handlers::steps::limits::{Health, Limits};
use worker::wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement, Result};

use super::batch_window::BatchWindow;
use super::health::{count_claimed_call, counted_health, peek_claimed_call};
use super::rows::{query, Answer, FromRow, Row};
use super::{num, statement};
use edgehooks_handlers::steps::timing::RUNNING_LEASE_MS;

/// The ordering a step's claim must respect: the entity it overwrites (`steps.entity`, with the
/// step name) and its event's time and id.
pub struct EntityClaim<'a> {
    pub entity: &'a str,
    pub name: &'a str,
    pub occurred_at_ms: i64,
    pub event_id: &'a str,
    /// The step's row already holds `entity` (ingest stored it): the claim need not fill it in.
    pub stored: bool,
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

struct StandingRow {
    status: String,
    applied: Option<i64>,
    newer: i64,
    running_since: Option<i64>,
}

impl FromRow for StandingRow {
    fn from_row(row: &Row) -> Self {
        StandingRow {
            status: row.text("status"),
            applied: row.opt_int("applied"),
            newer: row.int("newer"),
            running_since: row.opt_int("running_since"),
        }
    }
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
/// claimable. Advisory (things may change meanwhile): it tells a step that makes no call and so
/// takes no claim (a deliberate skip) that its entity already made it stale.
pub async fn entity_standing(
    db: &D1Database,
    step_id: &str,
    claim: &EntityClaim<'_>,
    now_ms: i64,
) -> Result<Option<EntityStanding>> {
    let row = query(&standing_statement(db, step_id, claim, now_ms)?)
        .await?
        .read_first::<StandingRow>()?;
    Ok(row.filter(StandingRow::claimable).map(|r| r.standing()))
}

struct Claimed {
    attempts: i64,
}

impl FromRow for Claimed {
    fn from_row(row: &Row) -> Self {
        Claimed {
            attempts: row.int("attempts"),
        }
    }
}

/// The destination budget a claim for a call counts its check against.
pub struct Budget<'a> {
    pub destination: &'a str,
    pub limits: Limits,
    /// The step's call is an input of a call counted once when it goes out (a HubSpot batch
    /// upsert): the claim reads the counters without counting (`peek_claimed_call`).
    pub joins_call: bool,
}

/// Claim a step for one attempt: only a `pending` or `enqueued` step can be claimed, so two
/// deliveries of the same message never call downstream twice at once. A step with an entity
/// is claimed, in the same conditional statement, only when it is its turn: no newer event was
/// applied to the entity, no pending, enqueued, running or succeeded step of the entity belongs
/// to a newer event, and no other step of the entity is running (under a live lease). The
/// claim, the reasons it was refused and the step's `entity` (filled in for steps stored before
/// ingest recorded it) are one D1 batch, i.e. one transaction.
pub async fn claim_step(
    db: &BatchWindow<'_>,
    step_id: &str,
    entity: Option<&EntityClaim<'_>>,
    now_ms: i64,
) -> Result<Claim> {
    let ((claim, _), _) = claim_counting(db, step_id, entity, None, now_ms, None).await?;
    Ok(claim)
}

/// [`claim_step`] for a call, with the call's check counted in `budget` in the same batch when
/// (and only when) the claim applied: one D1 round trip. With [`Claim::Claimed`] come the
/// destination's counters, for the core's `steps::limits::gate` to decide whether the call may go out
/// now (if not, the shell gives the claim back: [`unclaim`]).
pub async fn claim_for_call(
    db: &BatchWindow<'_>,
    step_id: &str,
    entity: Option<&EntityClaim<'_>>,
    budget: &Budget<'_>,
    now_ms: i64,
) -> Result<(Claim, Health)> {
    let ((claim, health), _) =
        claim_counting(db, step_id, entity, Some(budget), now_ms, None).await?;
    Ok((claim, health.unwrap_or_default()))
}

/// [`claim_for_call`] with `then` run last in the same transaction, whatever the claim got (a
/// drained step's claim asks there for its destination's next page); with `then`'s answer.
pub async fn claim_for_call_then(
    db: &BatchWindow<'_>,
    step_id: &str,
    budget: &Budget<'_>,
    now_ms: i64,
    then: D1PreparedStatement,
) -> Result<((Claim, Health), Option<Answer>)> {
    let ((claim, health), then) =
        claim_counting(db, step_id, None, Some(budget), now_ms, Some(then)).await?;
    Ok(((claim, health.unwrap_or_default()), then))
}

/// Where each answer sits in a claim's batch.
struct Places {
    claim: usize,
    standing: Option<usize>,
    count: Option<usize>,
}

/// The claim's statements: with an entity, the entity's backfill (only for a row stored
/// without it), the claim in turn and the standing; then the budget's count, if any.
fn claim_statements(
    db: &D1Database,
    step_id: &str,
    entity: Option<&EntityClaim<'_>>,
    budget: Option<&Budget<'_>>,
    now_ms: i64,
) -> Result<(Vec<D1PreparedStatement>, Places)> {
    let mut statements = match entity {
        None => vec![statement(
            db,
            &sql::claim(),
            &[step_id.into(), num(now_ms)],
        )?],
        Some(claim) => {
            let mut statements = Vec::with_capacity(3);
            if !claim.stored {
                statements.push(statement(
                    db,
                    sql::BACKFILL_ENTITY,
                    &[step_id.into(), claim.entity.into()],
                )?);
            }
            let mut args = entity_args(step_id, claim, now_ms);
            args.push(num(now_ms));
            statements.push(statement(db, &sql::claim_in_turn(), &args)?);
            statements.push(standing_statement(db, step_id, claim, now_ms)?);
            statements
        }
    };
    let claim_at = entity.map_or(0, |claim| usize::from(!claim.stored));
    let mut places = Places {
        claim: claim_at,
        standing: entity.map(|_| claim_at + 1),
        count: None,
    };
    if let Some(budget) = budget {
        places.count = Some(statements.len());
        let check = if budget.joins_call {
            peek_claimed_call
        } else {
            count_claimed_call
        };
        statements.push(check(
            db,
            budget.destination,
            step_id,
            budget.limits,
            now_ms,
        )?);
    }
    Ok((statements, places))
}

async fn claim_counting(
    db: &BatchWindow<'_>,
    step_id: &str,
    entity: Option<&EntityClaim<'_>>,
    budget: Option<&Budget<'_>>,
    now_ms: i64,
    then: Option<D1PreparedStatement>,
) -> Result<((Claim, Option<Health>), Option<Answer>)> {
    let (mut statements, places) = claim_statements(db, step_id, entity, budget, now_ms)?;
    let then_at = then.map(|t| {
        statements.push(t);
        statements.len() - 1
    });
    let mut results = db.shared_batch(statements).await?;
    let claim = read_claim(&results, &places)?;
    let then = then_at.and_then(|i| (i < results.len()).then(|| results.swap_remove(i)));
    Ok((claim, then))
}

/// What a claim's batch answered: the claim (with the budget's counters when it applied).
fn read_claim(results: &[Answer], places: &Places) -> Result<(Claim, Option<Health>)> {
    let claimed = match results.get(places.claim) {
        Some(r) => r.rows()?.read_first::<Claimed>()?,
        None => None,
    };
    if let Some(c) = claimed {
        let health = match places.count.and_then(|i| results.get(i)) {
            Some(r) => Some(counted_health(r)?),
            None => None,
        };
        return Ok((Claim::Claimed(c.attempts), health));
    }
    let row = match places.standing.and_then(|i| results.get(i)) {
        Some(r) => r.rows()?.read_first::<StandingRow>()?,
        None => None,
    };
    let claim = match row {
        Some(row) if row.claimable() => Claim::NotItsTurn(row.standing()),
        _ => Claim::NotClaimable,
    };
    Ok((claim, None))
}

/// A claim the destination's gate then refused: the attempt number it took and when.
#[derive(Clone, Copy)]
pub struct HeldClaim {
    pub attempt: i64,
    pub claimed_at_ms: i64,
}

/// The statement giving back `held` (the core's `steps::lifecycle::claim::unclaim`): the step is left
/// exactly as [`super::steps::defer`] leaves it (`enqueued`, due at `due_ms`, `reason`), with the claim's
/// attempt given back, and behind step `ahead` when it was handed back behind one; only while
/// it is still `running` under that claim.
pub fn unclaim(
    db: &D1Database,
    step_id: &str,
    held: HeldClaim,
    reason: &str,
    due_ms: i64,
    now_ms: i64,
    ahead: Option<&str>,
) -> Result<D1PreparedStatement> {
    statement(
        db,
        &sql::unclaim(),
        &[
            step_id.into(),
            num(held.attempt),
            num(held.claimed_at_ms),
            num(due_ms),
            reason.into(),
            num(now_ms),
            ahead.map_or(JsValue::NULL, JsValue::from),
        ],
    )
}
