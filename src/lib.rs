//! edgehooks: the Cloudflare Worker shell. Three entry points bind the pure core in
//! `edgehooks_handlers` to the platform: `fetch` (webhooks, health), `queue` (the STEPS consumer
//! and its dead-letter queue) and `scheduled` (the cron). Folders: `ingest` (the webhook
//! endpoint, its KV hints, the routing it plans with), `steps` (sending steps to the queue, the
//! consumer, one step's run), `cron` (the sweeper and what it drives: retention, backfills,
//! alerts), `admin` (the admin page's paths and the JSON API, one file per resource), `tally`
//! (the isolate's metrics and rejection tallies and their flush), `db` (all SQL). Files: `router`
//! (the one path table), `error` (the one response mapping), `metrics_endpoint` (`GET /metrics`),
//! and the platform bindings `config`, `clock`, `log`, `isolate` (its age and memory),
//! `downstream` (fetch), `webcrypto` (SendGrid's ECDSA through `crypto.subtle`), `analytics`
//! (Workers Analytics Engine data points) and `js_binding` (binding methods called directly).

mod admin;
mod analytics;
mod clock;
mod config;
mod cron;
mod db;
mod downstream;
mod error;
mod health;
mod ingest;
mod isolate;
mod js_binding;
mod log;
mod metrics_endpoint;
mod router;
mod sealing;
mod steps;
mod tally;
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
    analytics::use_dataset_of(&env);
    let response = router::route(req, &env, &ctx).await;
    tally::flush_if_due::<tally::Rejections>(&env, &ctx);
    tally::flush_if_due::<tally::Metrics>(&env, &ctx);
    Ok(response)
}

#[event(queue)]
async fn queue(batch: MessageBatch<JsValue>, env: Env, _ctx: Context) -> Result<()> {
    log::use_level_of(&env);
    analytics::use_dataset_of(&env);
    steps::consumer::consume(batch, &env).await;
    tally::flush_if_due_now::<tally::Metrics>(&env).await;
    Ok(())
}

#[event(scheduled)]
async fn scheduled(event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    log::use_level_of(&env);
    analytics::use_dataset_of(&env);
    cron::sweeper::sweep(&env, event.schedule() as i64).await;
}
