//! The cron sweeper (every minute): the outbox half of ingest and the recovery of lost work.
//! Re-sends steps whose queue send failed (`pending` for over a minute) or whose message was
//! lost (`enqueued` long past due, e.g. a deferral whose fresh message could not be sent);
//! for a step whose attempt was lost (`running` past its lease: the isolate died or the call
//! never came back) records that attempt as `attempt_lost` and sends it again, or ends it
//! `dead` when that was its last attempt (the core's `steps::recovery::recover`; an `http`
//! destination's step counts against that destination's own `max_attempts`, read once per sweep). Every change is
//! conditional on the state it read, so a step claimed in the meantime is never flipped. Also
//! writes the isolate's tallies (rejected requests, dashboard metrics) to D1, applies
//! `RETENTION_DAYS` (`crate::cron::retention`: bounded deletion batches leaving dedupe tombstones,
//! each cleanup on its own), runs the Stripe backfill and each shop's reconciliation when due
//! (`crate::cron::backfill`), within the operations the tick's other passes leave them (the core's
//! `cron_budget`), applies `METRICS_RETENTION_DAYS`, seals destination and source
//! secrets still plaintext at rest once `SECRETS_KEY` is set and re-keys sources' fingerprints
//! stored unkeyed (`crate::sealing::reseal`), then
//! runs the alerting pass ([`alerts::run`]), which sees a backfill run that just ended.

use edgehooks_handlers::by_name::ByName;
use edgehooks_handlers::connections::recovery::{destinations_to_read, step_max_attempts};
use edgehooks_handlers::cron_budget;
use edgehooks_handlers::log_level::LogLevel;
use edgehooks_handlers::metrics::minute_of;
use edgehooks_handlers::steps::lifecycle::StepStatus;
use edgehooks_handlers::steps::recovery::{recover, Recovery, ATTEMPT_LOST, SWEEP_LIMIT};
use edgehooks_handlers::steps::retry::RetryPolicy;
use edgehooks_handlers::steps::timing::{PENDING_GRACE_MS, RUNNING_LEASE_MS};
use worker::{D1Database, D1PreparedStatement, Env};

use crate::config::config;
use crate::cron::alerts;
use crate::db::rows::{self, FromRow, Row};
use crate::db::sweep::OverdueStep;
use crate::steps::dispatch::send_dispatched;
use crate::tally;
use crate::{db, log};

pub async fn sweep(env: &Env, scheduled_ms: i64) {
    tally::flush::<tally::Rejections>(env).await;
    tally::flush::<tally::Metrics>(env).await;
    let now = crate::clock::now_ms();
    let db = match crate::js_binding::d1(env) {
        Ok(db) => db,
        Err(e) => return log::error("d1_unavailable", &e.to_string()),
    };
    recover_overdue(env, &db, now).await;
    crate::cron::retention::run(env, &db, now).await;
    let mut budget = cron_budget::for_tick();
    crate::cron::backfill::scheduled(env, &db, &mut budget, scheduled_ms).await;
    metrics_retention(env, &db, now).await;
    crate::sealing::reseal(env, &db).await;
    // The alerts judge time by the trigger's scheduled time (what the platform says "now" is).
    alerts::run(env, &db, scheduled_ms).await;
}

/// Past `METRICS_RETENTION_DAYS`: drop old minute buckets.
async fn metrics_retention(env: &Env, db: &D1Database, now: i64) {
    let days = match config(env).metrics_retention_days() {
        Ok(days) => days,
        Err(e) => return log::error("misconfigured", &e.to_string()),
    };
    let oldest = minute_of(now - (days as i64).saturating_mul(86_400_000));
    let result = match db::metrics::delete_old_metrics(db, oldest) {
        Ok(statements) => db.batch(statements).await.map(|_| ()),
        Err(e) => Err(e),
    };
    if let Err(e) = result {
        log::error("d1_write_failed", &e.to_string());
    }
}

/// Each overdue step with its recovery and the index of that recovery's first statement (whose
/// result says whether it applied), and all the statements, to run as one batch.
type Plan<'a> = (
    Vec<(&'a OverdueStep, Recovery, usize)>,
    Vec<D1PreparedStatement>,
);

/// The maximum attempts the sweep's lost attempts count against: the global one, and each
/// `http` destination's own (`connections::recovery`).
struct MaxAttempts {
    global: u32,
    destinations: ByName<Option<i64>>,
}

fn plan<'a>(db: &D1Database, due: &'a [OverdueStep], max: &MaxAttempts, now: i64) -> Plan<'a> {
    let mut planned = Vec::new();
    let mut statements = Vec::new();
    for step in due {
        let status = StepStatus::parse(&step.status);
        let max_attempts = step_max_attempts(&step.name, max.global, &max.destinations);
        let Some(recovery) = status.and_then(|s| recover(s, step.attempts, max_attempts)) else {
            continue;
        };
        match db::sweep::recovery_statements(db, step, recovery, now) {
            Ok(list) => {
                planned.push((step, recovery, statements.len()));
                statements.extend(list);
            }
            Err(e) => log::error("d1_write_failed", &e.to_string()),
        }
    }
    (planned, statements)
}

struct Dispatched {
    dispatch: Option<i64>,
}

impl FromRow for Dispatched {
    fn from_row(row: &Row) -> Self {
        Dispatched {
            dispatch: row.opt_int("dispatch"),
        }
    }
}

/// The global maximum attempts and, in one read, the own maximum of each `http` destination
/// with a lost attempt among `due` (none: no read).
async fn max_attempts(
    env: &Env,
    db: &D1Database,
    due: &[OverdueStep],
) -> worker::Result<MaxAttempts> {
    // A broken MAX_ATTEMPTS is reported by the consumer; recovery still ends at the default.
    let global = config(env)
        .consumer()
        .map(|s| s.policy.max_attempts)
        .unwrap_or(RetryPolicy::default().max_attempts);
    let names = destinations_to_read(
        due.iter()
            .map(|s| (s.name.as_str(), StepStatus::parse(&s.status))),
    );
    let destinations = if names.is_empty() {
        ByName::new()
    } else {
        db::connections::destination_max_attempts(db, &names).await?
    };
    Ok(MaxAttempts {
        global,
        destinations,
    })
}

/// Recover every overdue step, then send those to run again under their new dispatch number.
async fn recover_overdue(env: &Env, db: &D1Database, now: i64) {
    let due = match db::sweep::sweepable_steps(
        db,
        now - PENDING_GRACE_MS,
        now - RUNNING_LEASE_MS,
        i64::from(SWEEP_LIMIT),
    )
    .await
    {
        Ok(steps) => steps,
        Err(e) => return log::error("d1_read_failed", &e.to_string()),
    };
    if due.is_empty() {
        return;
    }
    let max = match max_attempts(env, db, &due).await {
        Ok(max) => max,
        Err(e) => return log::error("d1_read_failed", &e.to_string()),
    };
    let (planned, statements) = plan(db, &due, &max, now);
    if statements.is_empty() {
        return;
    }
    let results = match rows::batch(db, statements).await {
        Ok(results) => results,
        Err(e) => return log::error("d1_write_failed", &e.to_string()),
    };
    let mut to_send = Vec::new();
    let mut dead = 0;
    for (step, recovery, index) in planned {
        let applied = results
            .get(index)
            .and_then(|r| r.rows().ok()?.read_first::<Dispatched>().ok())
            .flatten();
        match (applied, recovery) {
            // Claimed or finished since it was read: left to whoever holds it.
            (None, _) => {}
            (Some(_), Recovery::DeadLost) => {
                dead += 1;
                let fields = log::StepFields::id(&step.id);
                log::step(
                    &fields,
                    StepStatus::Dead.as_str(),
                    None,
                    ATTEMPT_LOST,
                    0,
                    true,
                );
            }
            (Some(row), _) => to_send.push((step.id.clone(), row.dispatch.unwrap_or(0))),
        }
    }
    let sent = send_dispatched(env, db, &to_send).await;
    // Work the sweeper had to send again or end is worth a look; an empty pass is routine.
    let level = if to_send.is_empty() && dead == 0 {
        LogLevel::Info
    } else {
        LogLevel::Warn
    };
    log::record_at(
        level,
        "sweep",
        serde_json::json!({ "due": due.len(), "resent": to_send.len(), "sent": sent, "dead": dead }),
    );
}
