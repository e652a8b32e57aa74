//! Per-destination health (`destination_health`) in D1: the request budget's window, the
//! circuit's counters and the half-open probe lease. The decisions and their SQL are the core's
//! (`edgehooks_handlers::steps::limits` and `steps::limits::sql`); this file binds and runs them. The probe
//! lease is taken with a compare-and-set on the counters the decision was made from, so that of
//! the steps that saw the same half-open circuit exactly one becomes its probe.

use edgehooks_handlers::steps::limits::{sql, Health, HealthChange, Limits};
use worker::wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement, Result};

use super::rows::{query, run, Answer, FromRow, Row};
use super::{num, statement};

struct HealthRow {
    open_until: i64,
    probe_until: i64,
    window_start: i64,
    window_count: i64,
}

impl FromRow for HealthRow {
    fn from_row(row: &Row) -> Self {
        HealthRow {
            open_until: row.int("open_until"),
            probe_until: row.int("probe_until"),
            window_start: row.int("window_start"),
            window_count: row.int("window_count"),
        }
    }
}

impl HealthRow {
    fn health(self) -> Health {
        Health {
            open_until_ms: self.open_until,
            probe_until_ms: self.probe_until,
            window_start_ms: self.window_start,
            window_count: u32::try_from(self.window_count).unwrap_or(u32::MAX),
        }
    }
}

fn count_args(destination: &str, limits: Limits, now_ms: i64) -> Vec<JsValue> {
    vec![
        destination.into(),
        num(now_ms),
        num(limits.window_ms),
        num(i64::from(limits.limit)),
    ]
}

/// Count this check in `destination`'s budget window (by the core's rule
/// `edgehooks_handlers::steps::limits::count_check`: nothing while the circuit makes everyone wait,
/// nothing once the window is marked full) and return its counters. ?1 destination, ?2 now,
/// ?3 window length, ?4 the budget's limit.
pub async fn count_call(
    db: &D1Database,
    destination: &str,
    limits: Limits,
    now_ms: i64,
) -> Result<Health> {
    let args = count_args(destination, limits, now_ms);
    let row = query(&statement(db, &sql::count_call(), &args)?)
        .await?
        .read_first::<HealthRow>()?;
    Ok(row.map(HealthRow::health).unwrap_or_default())
}

/// The statement that counts the call of `step_id`, claimed at `now_ms` earlier in the same
/// batch, in `destination`'s budget window: only if that claim applied (the core's
/// `steps::limits::sql::count_claimed_call`); read its answer with [`counted_health`].
pub fn count_claimed_call(
    db: &D1Database,
    destination: &str,
    step_id: &str,
    limits: Limits,
    now_ms: i64,
) -> Result<D1PreparedStatement> {
    claimed_call(
        db,
        &sql::count_claimed_call(),
        destination,
        step_id,
        limits,
        now_ms,
    )
}

/// [`count_claimed_call`] for an input of a call counted when it goes out: the counters as the
/// core's `steps::limits::peek_check` reads them, nothing counted, only if the claim applied
/// (`steps::limits::sql::peek_claimed_call`); read its answer with [`counted_health`].
pub fn peek_claimed_call(
    db: &D1Database,
    destination: &str,
    step_id: &str,
    limits: Limits,
    now_ms: i64,
) -> Result<D1PreparedStatement> {
    claimed_call(
        db,
        &sql::peek_claimed_call(),
        destination,
        step_id,
        limits,
        now_ms,
    )
}

/// `sql` (counting or peeking) bound to `destination`'s budget and the claim of `step_id`.
fn claimed_call(
    db: &D1Database,
    sql: &str,
    destination: &str,
    step_id: &str,
    limits: Limits,
    now_ms: i64,
) -> Result<D1PreparedStatement> {
    let mut args = count_args(destination, limits, now_ms);
    args.push(step_id.into());
    statement(db, sql, &args)
}

/// The statement of [`count_call`], for a shared batch; read its answer with
/// [`counted_health`].
pub fn count_call_statement(
    db: &D1Database,
    destination: &str,
    limits: Limits,
    now_ms: i64,
) -> Result<D1PreparedStatement> {
    statement(
        db,
        &sql::count_call(),
        &count_args(destination, limits, now_ms),
    )
}

/// The counters a [`count_claimed_call`] returned (fresh ones if D1 returned none).
pub fn counted_health(answer: &Answer) -> Result<Health> {
    let row = answer.rows()?.read_first::<HealthRow>()?;
    Ok(row.map(HealthRow::health).unwrap_or_default())
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
    let result = run(&statement(
        db,
        sql::TAKE_PROBE,
        &[
            destination.into(),
            step_id.into(),
            num(lease_until_ms),
            num(seen.open_until_ms),
            num(seen.probe_until_ms),
        ],
    )?)
    .await?;
    Ok(result.changes() > 0)
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
    let Some(sql) = sql::record_change(change) else {
        return Ok(None);
    };
    let args = match change {
        HealthChange::Fail => vec![
            destination.into(),
            num(i64::from(limits.open_after)),
            num(now_ms.saturating_add(limits.cool_down_ms)),
            step_id.into(),
        ],
        HealthChange::ReleaseProbe => vec![destination.into(), step_id.into()],
        HealthChange::Close | HealthChange::Nothing => vec![destination.into()],
    };
    statement(db, sql, &args).map(Some)
}
