//! The backfill's calls to Stripe share the Stripe destination's budget and circuit with the
//! steps that call Stripe (`destination_health`, decided by `edgehooks_handlers::steps::limits`): a page
//! is fetched only when the gate lets it through (as the half-open probe when it must take the
//! lease), and each answer counts like a step's (a retryable failure towards opening the
//! circuit, a success closes it). While the circuit is open the run waits, without counting a
//! failure. The Shopify reconciliation gates its pages the same way, on a health row of its own
//! per shop (`shopify-admin:<shop>`): [`pass_as`] and [`record_as`].

use edgehooks_handlers::consumer::ConsumerSettings;
use edgehooks_handlers::step_kind::Destination;
use edgehooks_handlers::steps::limits::{
    after_call, gate, limits_for, probe_taken, Gate, Limits, Wait,
};
use edgehooks_handlers::steps::retry::classify_status;
use worker::D1Database;

use crate::{db, log};

/// Who holds the probe lease when a backfill page is the probe.
const PROBE_HOLDER: &str = "backfill:stripe";

/// The Stripe destination's limits, with the configured budget and cool-down (defaults
/// without consumer settings).
pub fn stripe_limits(consumer: Option<&ConsumerSettings>, timeout_ms: u64) -> Limits {
    let budget = consumer.map_or_else(
        || limits_for(Destination::Stripe),
        |c| c.budgets.limits(Destination::Stripe),
    );
    budget
        .with_call_timeout(timeout_ms)
        .with_cool_down(consumer.and_then(|c| c.cool_down_ms))
}

/// May a page be fetched now? `Ok(probing)`, or how long to wait.
pub async fn pass(db: &D1Database, limits: Limits, now_ms: i64) -> Result<bool, Wait> {
    pass_as(db, Destination::Stripe.name(), PROBE_HOLDER, limits, now_ms).await
}

/// [`pass`] for the health row `name`, the probe lease held as `holder`.
pub async fn pass_as(
    db: &D1Database,
    name: &str,
    holder: &str,
    limits: Limits,
    now_ms: i64,
) -> Result<bool, Wait> {
    let health = match db::health::count_call(db, name, limits, now_ms).await {
        Ok(health) => health,
        Err(e) => {
            // Unknown health: go ahead, like a closed circuit (the answer is still recorded).
            log::error("d1_read_failed", &e.to_string());
            return Ok(false);
        }
    };
    match gate(limits, health, now_ms) {
        Gate::Proceed => Ok(false),
        Gate::Wait(wait) => Err(wait),
        Gate::Probe { lease_until_ms } => {
            match db::health::take_probe(db, name, holder, health, lease_until_ms).await {
                Ok(true) => Ok(true),
                _ => Err(probe_taken()),
            }
        }
    }
}

/// Count a page's answer (`status`: `None` when Stripe could not be reached) in the circuit.
pub async fn record(
    db: &D1Database,
    limits: Limits,
    status: Option<u16>,
    probing: bool,
    now_ms: i64,
) {
    let name = Destination::Stripe.name();
    record_as(db, name, PROBE_HOLDER, limits, status, probing, now_ms).await;
}

/// [`record`] for the health row `name`, the probe lease held as `holder`.
pub async fn record_as(
    db: &D1Database,
    name: &str,
    holder: &str,
    limits: Limits,
    status: Option<u16>,
    probing: bool,
    now_ms: i64,
) {
    let class = status.map_or(
        edgehooks_handlers::steps::retry::ResponseClass::Retryable,
        classify_status,
    );
    let change = after_call(class, status, probing);
    let statement = match db::health::record_health(db, name, holder, change, limits, now_ms) {
        Ok(Some(statement)) => statement,
        Ok(None) => return,
        Err(e) => return log::error("d1_write_failed", &e.to_string()),
    };
    if let Err(e) = statement.run().await {
        log::error("d1_write_failed", &e.to_string());
    }
}
