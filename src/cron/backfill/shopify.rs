//! The Shopify reconciliation's shell: for each shop with an Admin API token, fetch pages of
//! `GET /admin/api/<version>/orders.json` as the core plans them
//! (`edgehooks_handlers::backfill::shopify`), drop the listed versions already covered by a
//! stored order event of that shop and order (the version rule, one query per page), store the
//! rest through ingest's own insert (`orders/updated`, origin `backfill`, the shop's source,
//! planned by the Shopify routes and connections) and record the run. The schedule, checkpoint,
//! backoff, cursor and operation budget are the Stripe backfill's (`backfill_state` /
//! `backfill_runs` keyed `shopify` or `shopify:<source>`; the tick's runs share one budget);
//! pages pass the shop's own request budget and circuit first.

use edgehooks_handlers::backfill::budget::OperationBudget;
use edgehooks_handlers::backfill::plan::Cursor;
use edgehooks_handlers::backfill::shopify::page::{parse_orders_page, OrdersPage};
use edgehooks_handlers::backfill::shopify::settings::ShopifyBackfillSettings;
use edgehooks_handlers::backfill::shopify::{
    admin_api_limits, after_page_too_large, failure_code, health_name, ShopAccess, PAGE_TOO_LARGE,
};
use edgehooks_handlers::downstream::HttpRequestSpec;
use edgehooks_handlers::inbound::providers::shopify_version::{at_or_after, STORED_AT_OR_AFTER};
use edgehooks_handlers::inbound::webhook::{ParsedEvent, Provider};
use worker::{D1Database, Env};

use super::{circuit, now_ms, store_backfilled, Progress, Stop, PAGE_BODY_LIMIT};
use crate::db;
use crate::db::rows::{query, FromRow, Row};
use crate::downstream::call_reading;
use crate::log;

/// How long one page may take.
const PAGE_TIMEOUT_MS: u64 = 20_000;

/// Fetch and read one page, through the shop's gate.
async fn fetch_page(db: &D1Database, access: &ShopAccess, url: String) -> Result<OrdersPage, Stop> {
    let limits = admin_api_limits(PAGE_TIMEOUT_MS);
    let (name, holder) = (
        health_name(&access.shop),
        format!("backfill:{}", access.state_key()),
    );
    let probing = circuit::pass_as(db, &name, &holder, limits, now_ms())
        .await
        .map_err(|wait| Stop::waiting(wait.reason.into(), wait.secs))?;
    let spec = HttpRequestSpec {
        method: "GET",
        url,
        headers: vec![
            ("X-Shopify-Access-Token".into(), access.token.clone()),
            ("Accept".into(), "application/json".into()),
        ],
        body: String::new(),
    };
    let outcome = call_reading(&spec, PAGE_TIMEOUT_MS, PAGE_BODY_LIMIT).await;
    circuit::record_as(
        db,
        &name,
        &holder,
        limits,
        outcome.status,
        probing,
        now_ms(),
    )
    .await;
    match (outcome.status, outcome.body) {
        (Some(200..=299), Some(body)) => parse_orders_page(access, &body, outcome.link.as_deref())
            .map_err(|code| Stop::failed(code.into())),
        // A 2xx without a body: it was larger than `PAGE_BODY_LIMIT` (see `call_reading`).
        (Some(200..=299), None) => Err(Stop::failed(PAGE_TOO_LARGE.into())),
        (status, _) => Err(Stop::call_failed(
            failure_code(status),
            outcome.retry_after.as_deref(),
        )),
    }
}

struct Covered {
    idx: i64,
}

impl FromRow for Covered {
    fn from_row(row: &Row) -> Self {
        Covered {
            idx: row.int("idx"),
        }
    }
}

/// The listed versions not covered by a stored order event (same shop and order, `updated_at`
/// at or after).
async fn missing<'a>(
    db: &D1Database,
    access: &ShopAccess,
    events: &'a [ParsedEvent],
) -> worker::Result<Vec<&'a ParsedEvent>> {
    let ranges: Vec<Option<(String, String)>> = events
        .iter()
        .map(|e| {
            let id = order_id_of(e)?;
            at_or_after(
                access.source.as_deref(),
                &access.shop,
                &id,
                e.occurred_at_ms?,
            )
        })
        .collect();
    let listed: Vec<&(String, String)> = ranges.iter().flatten().collect();
    let json = serde_json::to_string(&listed).unwrap_or_else(|_| "[]".into());
    let covered: Vec<Covered> = query(&db::statement(db, STORED_AT_OR_AFTER, &[json.into()])?)
        .await?
        .read()?;
    let covered_ranges: Vec<&(String, String)> = covered
        .iter()
        .filter_map(|c| listed.get(usize::try_from(c.idx).ok()?).copied())
        .collect();
    Ok(events
        .iter()
        .zip(&ranges)
        .filter(|(_, range)| range.as_ref().is_some_and(|r| !covered_ranges.contains(&r)))
        .map(|(e, _)| e)
        .collect())
}

/// The order id inside a reconciled event's version key (`…order:<shop>:<id>:<ms>:<topic>`).
fn order_id_of(event: &ParsedEvent) -> Option<String> {
    let key = event.version_key.as_deref()?;
    let mut parts = key.rsplitn(4, ':');
    let (_topic, _ms, id) = (parts.next()?, parts.next()?, parts.next()?);
    Some(id.to_string())
}

/// Store the missing versions as ingest does and send their steps (within `budget`); how many
/// were new.
async fn ingest(
    env: &Env,
    db: &D1Database,
    (settings, access): (&ShopifyBackfillSettings, &ShopAccess),
    events: &[&ParsedEvent],
    budget: &mut OperationBudget,
) -> worker::Result<i64> {
    let stored_as = (Provider::Shopify, access.source.as_deref());
    let inserted = store_backfilled(env, db, stored_as, &settings.routes, events, budget).await?;
    Ok(inserted.iter().filter(|n| **n).count() as i64)
}

/// Fetch up to `max_pages` pages from `cursor` on, while `budget` lets a page through, and store
/// (or, dry, count) what is missing.
pub(crate) async fn run_shop_pages(
    env: &Env,
    db: &D1Database,
    (settings, access): (&ShopifyBackfillSettings, &ShopAccess),
    (since, cursor): (i64, Cursor),
    dry_run: bool,
    budget: &mut OperationBudget,
) -> Progress {
    let mut progress = Progress {
        cursor: Some(cursor),
        ..Progress::default()
    };
    for _ in 0..settings.max_pages {
        let Some(cursor) = progress.cursor.clone() else {
            break;
        };
        if !budget.next_page() {
            break;
        }
        let page = match fetch_page(db, access, access.page_url(since, &cursor)).await {
            Ok(page) => page,
            Err(stop) => {
                if stop.error == PAGE_TOO_LARGE {
                    progress.cursor = Some(after_page_too_large(&cursor));
                }
                progress.stopped(stop);
                break;
            }
        };
        let stored = match missing(db, access, &page.events).await {
            Ok(new) if dry_run => Ok(new.len() as i64),
            Ok(new) => ingest(env, db, (settings, access), &new, budget).await,
            Err(e) => Err(e),
        };
        let Ok(new) = stored.inspect_err(|e| log::error("d1_write_failed", &e.to_string())) else {
            progress.stopped(Stop::failed("d1_unavailable".into()));
            break;
        };
        progress.add_page(page.events.len() as i64, new, page.newest_updated());
        progress.cursor = page.next_page_info.map(|info| Cursor {
            chunk: 0,
            starting_after: Some(info),
            page_limit: cursor.page_limit,
        });
    }
    progress
}
