//! edgehooks: the Cloudflare Worker shell. Three entry points bind the pure core in
//! `edgehooks_handlers` to the platform: `fetch` (webhooks, health), `queue` (the STEPS consumer
//! and its dead-letter queue) and `scheduled` (the sweeper). Modules: `router` (paths), `admin`
//! (the admin page and JSON API), `ingest` (the webhook endpoint) and `hints` (its KV dedupe
//! hints), `rejections` (the in-memory tally of forged requests), `metrics` (the in-memory tally of
//! dashboard minute buckets), `alerts` (the cron's alerting pass), `isolate` (its age and memory),
//! `clock`, `consumer` and `step`, `sweeper` and `retention` (its retention pass), `dispatch`
//! (sending step ids to the STEPS queue), `backfill` (recovering missed Stripe events from its
//! API), `routing` (connections and route switches as ingest plans with them), `downstream`
//! (fetch), `webcrypto` (SendGrid's ECDSA through `crypto.subtle`), `js_binding` (binding methods
//! called directly), `db` (all SQL), `config`, `error` (the one response mapping) and `log`.

mod admin;
mod alert_channels;
mod alerts;
mod backfill;
mod clock;
mod config;
mod consumer;
mod db;
mod dispatch;
mod downstream;
mod error;
mod hints;
mod ingest;
mod isolate;
mod js_binding;
mod log;
mod metrics;
mod rejections;
mod retention;
mod router;
mod routing;
mod step;
mod sweeper;
mod webcrypto;

use worker::wasm_bindgen::JsValue;
use worker::worker_sys::web_sys;
use worker::{event, Context, Env, MessageBatch, Result, ScheduleContext, ScheduledEvent};

/// The wasm build's allocator: talc instead of Rust's default dlmalloc. Allocation and freeing
/// were about a quarter of the Rust time of a webhook request in the V8 profile (BENCHMARKS.md,
/// session 5); talc is made for WebAssembly (single-threaded here: no atomics) and grows the
/// linear memory as dlmalloc did.
#[cfg(all(target_family = "wasm", not(target_feature = "atomics")))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

/// The runtime's own Request and Response: workers-rs' wrappers would read `request.cf` and copy
/// the method and path on every request, which only the admin paths need (`router`).
#[event(fetch)]
async fn fetch(req: web_sys::Request, env: Env, ctx: Context) -> Result<web_sys::Response> {
    isolate::fetch_started();
    log::use_level_of(&env);
    let response = router::route(req, &env, &ctx).await;
    rejections::flush_if_due(&env, &ctx);
    metrics::flush_if_due(&env, &ctx);
    Ok(response)
}

#[event(queue)]
async fn queue(batch: MessageBatch<JsValue>, env: Env, _ctx: Context) -> Result<()> {
    log::use_level_of(&env);
    consumer::consume(batch, &env).await;
    metrics::flush_if_due_now(&env).await;
    Ok(())
}

#[event(scheduled)]
async fn scheduled(event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    log::use_level_of(&env);
    sweeper::sweep(&env, event.schedule() as i64).await;
}
