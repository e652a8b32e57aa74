//! The ordering versions steps apply (`entity_versions`): which event was last applied to an
//! entity by a step, so that an older event's step for it is stale (the rule is
//! `edgehooks_handlers::downstream::turn`; the claim that reads these rows is in `claims`).

use worker::{D1Database, D1PreparedStatement, Result};

use super::{num, statement};

/// Remember that `event_id` (from `occurred_at`) was applied to `entity`; never moves back.
pub fn record_version(
    db: &D1Database,
    entity: &str,
    step: &str,
    occurred_at: i64,
    event_id: &str,
) -> Result<D1PreparedStatement> {
    statement(
        db,
        "INSERT INTO entity_versions (entity, step, occurred_at, event_id) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (entity, step) DO UPDATE SET occurred_at = excluded.occurred_at, \
         event_id = excluded.event_id WHERE excluded.occurred_at >= entity_versions.occurred_at",
        &[entity.into(), step.into(), num(occurred_at), event_id.into()],
    )
}
