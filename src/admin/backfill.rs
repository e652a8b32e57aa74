//! The backfill's admin API: `POST /admin/api/backfill/stripe` and `POST
//! /admin/api/backfill/shopify` (one bounded run, dry or real, from the request's `since` and
//! `cursor`, for Shopify of one shop's `source`; independent of the scheduled checkpoint; within
//! the operations its invocation may make, `OperationBudget::admin_run`) and
//! `GET /admin/api/backfill` (enabled or not, the scheduled state, the last runs).

use edgehooks_handlers::backfill::budget::OperationBudget;
use edgehooks_handlers::backfill::request::AdminRequest;
use serde_json::{json, Value};
use worker::{D1Database, Env};

use crate::clock::now_ms;
use crate::config::config;
use crate::cron::backfill::shopify::run_shop_pages;
use crate::cron::backfill::{record, record_as, retention_kept_since, run_pages, PROVIDER};
use crate::db;
use crate::error::AppError;

/// The admin request of a run, read as of `started` (Unix ms), its `since` never before the
/// retention cutoff; a bad one is a 400 naming it.
fn admin_request(env: &Env, body: &[u8], started: i64) -> Result<AdminRequest, AppError> {
    let kept = retention_kept_since(env, started);
    AdminRequest::from_json(body, started / 1000, kept).map_err(|e| AppError::BadRequest {
        code: e.code,
        detail: e.detail,
    })
}

/// `POST /admin/api/backfill/stripe`: one bounded run from the request's `since` (and
/// `cursor`), dry or real. Independent of the scheduled checkpoint.
pub async fn admin_run(env: &Env, db: &D1Database, body: &[u8]) -> Result<Value, AppError> {
    let settings = config(env).backfill()?.ok_or(AppError::BackfillDisabled)?;
    let started = now_ms();
    let request = admin_request(env, body, started)?;
    let window = (request.since, request.cursor);
    let budget = &mut OperationBudget::admin_run();
    let progress = run_pages(env, db, &settings, window, request.dry_run, budget).await;
    record(
        db,
        "admin",
        request.dry_run,
        started,
        request.since,
        &progress,
    )
    .await;
    Ok(progress.answer(request.dry_run))
}

/// `POST /admin/api/backfill/shopify` with `{"since", "dry_run"?, "cursor"?, "source"?}`: one
/// bounded run for the shop of `source` (omitted or `default`: `/webhooks/shopify`'s shop).
pub async fn shopify_admin_run(env: &Env, db: &D1Database, body: &[u8]) -> Result<Value, AppError> {
    let settings = config(env)
        .shopify_backfill()?
        .ok_or(AppError::BackfillDisabled)?;
    let started = now_ms();
    let request = admin_request(env, body, started)?;
    let source = std::str::from_utf8(body)
        .ok()
        .and_then(|text| serde_json::from_str::<Value>(text).ok())
        .and_then(|v| v.get("source").cloned());
    let wanted = match &source {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s == "default" => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => Some(String::new()),
    };
    let access = settings
        .shops
        .iter()
        .find(|s| s.source == wanted)
        .ok_or_else(|| AppError::BadRequest {
            code: "invalid_source",
            detail: "source must name a Shopify source with an Admin API token (or `default`)"
                .into(),
        })?;
    let (since, dry_run) = (request.since, request.dry_run);
    let budget = &mut OperationBudget::admin_run();
    let shop = (&settings, access);
    let progress = run_shop_pages(env, db, shop, (since, request.cursor), dry_run, budget).await;
    let key = access.state_key();
    record_as(db, &key, "admin", dry_run, started, since, &progress).await;
    Ok(progress.answer(dry_run))
}

/// `GET /admin/api/backfill`: whether it is enabled, the scheduled state and the last runs.
pub async fn admin_status(env: &Env, db: &D1Database) -> Result<Value, AppError> {
    let enabled = match config(env).backfill() {
        Ok(None) => "disabled",
        Ok(Some(_)) => "enabled",
        Err(_) => "misconfigured",
    };
    let state = db::backfill::backfill_state(db, PROVIDER).await?;
    let runs = db::backfill::recent_backfill_runs(db, PROVIDER, 10).await?;
    let mut shopify = Vec::new();
    if let Ok(Some(settings)) = config(env).shopify_backfill() {
        for shop in &settings.shops {
            let key = shop.state_key();
            let state = db::backfill::backfill_state(db, &key).await?;
            shopify.push(json!({
                "provider": key,
                "shop": shop.shop,
                "checkpoint": state.checkpoint,
                "resume_cursor": state.resume.as_ref().map(|r| r.cursor.encode()),
                "not_before": (state.not_before_ms > 0).then_some(state.not_before_ms),
                "failures": state.failures,
                "runs": db::backfill::recent_backfill_runs(db, &key, 10).await?,
            }));
        }
    }
    Ok(json!({
        "shopify": shopify,
        "backfill": enabled,
        "checkpoint": state.checkpoint,
        "resume_cursor": state.resume.as_ref().map(|r| r.cursor.encode()),
        "not_before": (state.not_before_ms > 0).then_some(state.not_before_ms),
        "failures": state.failures,
        "runs": runs,
    }))
}
