//! SQL for per-destination health (`destination_health`): the request budget's window, the
//! circuit's counters and the half-open probe lease. The decisions are the core's
//! (`edgehooks_handlers::limits`); these statements only store them, and the probe lease is
//! taken with a compare-and-set on the counters the decision was made from, so that of the steps
//! that saw the same half-open circuit exactly one becomes its probe.

use edgehooks_handlers::limits::{Health, HealthChange, Limits};
use serde::Deserialize;
use worker::{D1Database, D1PreparedStatement, Result};

use super::{changes, num, statement};

// `count_check`'s conditions over the stored row: the circuit makes everyone wait (open, or
// half-open with a live probe lease), and the budget window has run out.
const BLOCKED: &str = "(open_until > ?2 OR (open_until != 0 AND probe_until > ?2))";
const EXPIRED: &str = "(window_start <= ?2 - ?3)";

/// Count this check in `destination`'s budget window (by the core's rule
/// `edgehooks_handlers::limits::count_check`: nothing while the circuit makes everyone wait,
/// nothing once the window is marked full) and return its counters. ?1 destination, ?2 now,
/// ?3 window length, ?4 the budget's limit.
pub async fn count_call(
    db: &D1Database,
    destination: &str,
    limits: Limits,
    now_ms: i64,
) -> Result<Health> {
    #[derive(Deserialize)]
    struct Row {
        open_until: i64,
        probe_until: i64,
        window_start: i64,
        window_count: i64,
    }
    let row = statement(
        db,
        &format!(
            "INSERT INTO destination_health (destination, window_start, window_count) VALUES (?1, ?2, 1) \
             ON CONFLICT (destination) DO UPDATE SET \
             window_count = CASE \
               WHEN {BLOCKED} AND {EXPIRED} THEN 0 \
               WHEN {BLOCKED} THEN window_count \
               WHEN {EXPIRED} THEN 1 \
               WHEN window_count <= ?4 THEN window_count + 1 \
               ELSE window_count END, \
             window_start = CASE WHEN {EXPIRED} THEN ?2 ELSE window_start END \
             RETURNING open_until, probe_until, window_start, window_count"
        ),
        &[
            destination.into(),
            num(now_ms),
            num(limits.window_ms),
            num(i64::from(limits.limit)),
        ],
    )?
    .first::<Row>(None)
    .await?;
    Ok(row
        .map(|r| Health {
            open_until_ms: r.open_until,
            probe_until_ms: r.probe_until,
            window_start_ms: r.window_start,
            window_count: u32::try_from(r.window_count).unwrap_or(u32::MAX),
        })
        .unwrap_or_default())
}

/// Make `step_id` the half-open circuit's probe until `lease_until_ms`, if the circuit and its
/// probe lease are still exactly as `seen` (another step taking the lease, or a success closing
/// the circuit, changes them). True when this step is the probe.
pub async fn take_probe(
    db: &D1Database,
    destination: &str,
    step_id: &str,
    seen: Health,
    lease_until_ms: i64,
) -> Result<bool> {
    let result = statement(
        db,
        "UPDATE destination_health SET probe_until = ?3, probe_step = ?2 \
         WHERE destination = ?1 AND open_until = ?4 AND probe_until = ?5",
        &[
            destination.into(),
            step_id.into(),
            num(lease_until_ms),
            num(seen.open_until_ms),
            num(seen.probe_until_ms),
        ],
    )?
    .run()
    .await?;
    Ok(changes(&result) > 0)
}

/// The statement that records `change` (see [`HealthChange`]) for a call `step_id` made, if
/// there is anything to record.
pub fn record_health(
    db: &D1Database,
    destination: &str,
    step_id: &str,
    change: HealthChange,
    limits: Limits,
    now_ms: i64,
) -> Result<Option<D1PreparedStatement>> {
    let statement = match change {
        HealthChange::Close => statement(
            db,
            "UPDATE destination_health SET consecutive_failures = 0, open_until = 0, \
             probe_until = 0, probe_step = NULL WHERE destination = ?1",
            &[destination.into()],
        )?,
        HealthChange::Fail => statement(
            db,
            "UPDATE destination_health SET consecutive_failures = consecutive_failures + 1, \
             open_until = CASE WHEN consecutive_failures + 1 >= ?2 OR open_until != 0 \
             THEN ?3 ELSE open_until END, \
             probe_until = CASE WHEN probe_step = ?4 THEN 0 ELSE probe_until END, \
             probe_step = CASE WHEN probe_step = ?4 THEN NULL ELSE probe_step END \
             WHERE destination = ?1",
            &[
                destination.into(),
                num(i64::from(limits.open_after)),
                num(now_ms.saturating_add(limits.cool_down_ms)),
                step_id.into(),
            ],
        )?,
        HealthChange::ReleaseProbe => statement(
            db,
            "UPDATE destination_health SET probe_until = 0, probe_step = NULL \
             WHERE destination = ?1 AND probe_step = ?2",
            &[destination.into(), step_id.into()],
        )?,
        HealthChange::Nothing => return Ok(None),
    };
    Ok(Some(statement))
}
