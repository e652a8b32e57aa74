//! `POST /webhooks/{provider}`: refuse a request without the provider's signature header before
//! reading its body, read the raw body once within the size limit, verify and parse it with the
//! pure core, skip events KV already knows (one bulk lookup per 100 events), store new events
//! and their planned steps in D1 (one transaction per chunk of events, with each malformed
//! element of a batch as its own rejected row), send the new step ids to the STEPS queue, then
//! answer; the steps' `enqueued` marks (gathered with the isolate's other deliveries', one
//! statement per window) and the KV hints are written in `waitUntil`, which the answer does not
//! await.
//! Nothing is acknowledged before D1 has it. Nothing after the commit can lose an event or fail
//! the request: D1 is the transactional outbox (a step whose send failed stays `pending` and the
//! sweeper enqueues it) and D1's unique constraint is the dedupe authority. A verification
//! failure is only counted in the isolate's memory (`rejections`), never written to D1 on the
//! request's path. Every request, whatever its outcome, writes exactly one `request` log line.
//! Submodules: `hints` (the KV dedupe hints), `routing` (connections and route switches as
//! ingest plans with them, shared with replay, backfill and delivery) and `registry` (the
//! sources added at runtime, `/webhooks/in/{name}`: their own read and verification, then
//! [`commit`], the same phases as here).

pub mod hints;
pub mod registry;
pub mod routing;

use std::cell::RefCell;
use std::rc::Rc;

use edgehooks_handlers::connections::plan::EventFacts;
use edgehooks_handlers::inbound::dedupe_hints::{self, DeliveryHints};
use edgehooks_handlers::inbound::ids;
use edgehooks_handlers::inbound::providers::{
    parse_verified, require_signature_header, sendgrid, signature_headers, verify_or_plan,
    Accepted, IngestError, ProviderKeys, Verification,
};
use edgehooks_handlers::inbound::sources::{scope_delivery, validate_source_name};
use edgehooks_handlers::inbound::stored_headers;
use edgehooks_handlers::inbound::webhook::{Clock, InboundRequest, ParsedEvent, Provider};
use edgehooks_handlers::ingest::parsed_paths::ParsedPaths;
use edgehooks_handlers::ingest::{rejected, ProviderConfig};
use edgehooks_handlers::metrics::analytics::RequestPoint;
use edgehooks_handlers::metrics::{source_label, RequestKey};
use edgehooks_handlers::settings::ConfigError;
use edgehooks_handlers::steps::routes::RouteTable;
use futures_util::StreamExt;
use serde_json::json;
use worker::worker_sys::web_sys;
use worker::{Context, D1Database, Env, Headers, Request, Response};

use crate::clock::now_ms;
use crate::config::config;
use crate::db;
use crate::db::ingest::PlannedEvent;
use crate::error::{json_response, AppError};
use crate::js_binding::whole_body;
use crate::steps::dispatch::send_new_steps;
use crate::tally::{metrics, rejections};
use crate::{analytics, log};

/// Read the body, refusing (413) as soon as it passes `limit` instead of buffering it all. A
/// body whose `Content-Length` is within the limit is read in one piece (HTTP framing stops it
/// at that length, and one `arrayBuffer()` costs far less than a stream read chunk by chunk
/// across the JS/wasm boundary); a body of unknown length (chunked) is streamed and counted.
/// A body that breaks off is `400 unreadable_body`, never a shorter or empty one. The admin API
/// reads its bodies here too.
pub(crate) async fn read_body(
    req: web_sys::Request,
    declared: Option<u64>,
    limit: u64,
) -> Result<Vec<u8>, AppError> {
    match declared {
        Some(len) if len > limit => return Err(AppError::PayloadTooLarge { limit }),
        Some(_) => {
            return whole_body(req.array_buffer())
                .await
                .ok_or_else(unreadable_body)
        }
        None => {}
    }
    let mut body = Vec::new();
    let Ok(mut stream) = Request::from(req).stream() else {
        return Ok(body);
    };
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| unreadable_body())?;
        if (body.len() + chunk.len()) as u64 > limit {
            return Err(AppError::PayloadTooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn unreadable_body() -> AppError {
    AppError::BadRequest {
        code: "unreadable_body",
        detail: "the request body could not be read".into(),
    }
}

/// The request's `Content-Length`, when it declares one.
pub(crate) fn declared_length(headers: &[(String, String)]) -> Option<u64> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
}

/// At most this many dedupe keys are logged per request (a batch may hold thousands);
/// `events` always carries the full count.
const MAX_LOGGED_KEYS: usize = 20;

/// What the request's log line reports beyond provider, outcome and latency. Filled in as the
/// request proceeds, so a failure logs whatever was known by then.
#[derive(Default)]
pub(crate) struct Summary {
    /// Set for successful outcomes (`accepted`, `duplicate`); errors derive theirs.
    outcome: Option<&'static str>,
    event_types: Vec<String>,
    dedupe_keys: Vec<String>,
    events: usize,
    new_events: usize,
    duplicates: usize,
    /// Malformed elements of a batch, each kept as its own rejected row.
    rejected: usize,
    key_index: Option<usize>,
    /// The source of `/webhooks/{provider}/{source}`; `None` on the default path.
    pub(crate) source: Option<String>,
    /// Set once `source` named a configured source (or registry row): only then is it a label
    /// value (callers could mint any other name, also while D1 cannot be read).
    pub(crate) source_found: bool,
}

impl Summary {
    fn describe(&mut self, key_index: usize, events: &[ParsedEvent]) {
        self.key_index = Some(key_index);
        self.events = events.len();
        for event in events {
            if !self.event_types.contains(&event.event_type) {
                self.event_types.push(event.event_type.clone());
            }
        }
        self.dedupe_keys = events
            .iter()
            .take(MAX_LOGGED_KEYS)
            .map(|e| e.dedupe_key.clone())
            .collect();
    }
}

pub async fn handle(
    req: web_sys::Request,
    url: &str,
    env: &Env,
    ctx: &Context,
    provider: Provider,
    source: Option<String>,
) -> Result<Response, AppError> {
    let started = now_ms();
    let mut summary = Summary {
        source: source.clone(),
        ..Summary::default()
    };
    let result = ingest(req, url, env, ctx, provider, started, &mut summary).await;
    finish(provider, &summary, &result, started);
    result
}

/// A request's end, whatever its answer: its log line, the dashboard's event counts, `/metrics`'
/// request totals and, where configured, its Analytics Engine data point (all without I/O).
pub(crate) fn finish(
    provider: Provider,
    summary: &Summary,
    result: &Result<Response, AppError>,
    started: i64,
) {
    log_request(provider, summary, result, started);
    let counts = [summary.new_events, summary.duplicates, summary.rejected].map(|n| n as u64);
    // A name that named no source is not a label value (callers could mint them).
    let source = source_label(summary.source.as_deref(), summary.source_found);
    metrics::count_request(provider, &source, counts, result.as_ref().err());
    let (status, outcome) = answered(summary, result);
    let latency_ms = now_ms() - started;
    let [stored, duplicates, _] = counts;
    analytics::write(
        &RequestPoint {
            provider: provider.slug(),
            source: &source,
            outcome,
            status,
            latency_ms,
            stored,
            duplicates,
        }
        .point(),
    );
    let key = RequestKey {
        provider: provider.slug(),
        source,
        outcome,
        status,
    };
    metrics::count_answer(key, [stored, duplicates], latency_ms);
}

/// The status answered and the request's outcome (`accepted`, `duplicate`, or the error's).
fn answered(summary: &Summary, result: &Result<Response, AppError>) -> (u16, &'static str) {
    match result {
        Ok(response) => (
            response.status_code(),
            summary.outcome.unwrap_or("accepted"),
        ),
        Err(e) => (e.status(), outcome_of(e)),
    }
}

/// The request's phases: read and verify, dedupe by hint, store, send the new steps, answer (the
/// hints after it).
async fn ingest(
    req: web_sys::Request,
    url: &str,
    env: &Env,
    ctx: &Context,
    provider: Provider,
    started: i64,
    summary: &mut Summary,
) -> Result<Response, AppError> {
    let source = summary.source.clone();
    let config = source_config(env, provider, source.as_deref())?;
    summary.source_found = true;
    let path = FoundPath {
        env,
        provider,
        source: source.as_deref(),
        config,
    };
    let Delivery {
        mut accepted,
        config,
        db,
        headers,
    } = read_and_verify(req, url, path, started).await?;
    // A named source's events carry it, and dedupe within it.
    scope_delivery(source.as_deref(), &mut accepted);
    let committed = Committed {
        provider,
        routes: &config.routes,
        hint_ttl_secs: config.settings.hint_ttl_secs,
        started,
        headers: &headers,
    };
    commit(env, ctx, &db, &committed, &accepted, summary).await
}

/// What the phases after verification need besides the delivery.
pub(crate) struct Committed<'a> {
    pub provider: Provider,
    pub routes: &'a RouteTable,
    pub hint_ttl_secs: u64,
    pub started: i64,
    /// The delivery's request headers as stored (the core's `inbound::stored_headers`).
    pub headers: &'a str,
}

/// The phases after verification, shared by the built-in providers and the registry's sources:
/// a delivery that is all rejected elements is kept and answered 400; otherwise dedupe by
/// hint, plan, store, send the new steps, answer (the hints after it).
pub(crate) async fn commit(
    env: &Env,
    ctx: &Context,
    db: &D1Database,
    committed: &Committed<'_>,
    accepted: &Accepted,
    summary: &mut Summary,
) -> Result<Response, AppError> {
    let Committed {
        provider,
        started,
        headers,
        ..
    } = *committed;
    let source = summary.source.clone();
    let delivery = db::ingest::Delivery {
        provider,
        key_index: accepted.key_index,
        source: source.as_deref(),
        headers,
    };
    summary.describe(accepted.key_index, &accepted.events);
    summary.rejected = accepted.rejected.len();
    if let Some(error) = accepted.all_rejected() {
        // Nothing usable: each element kept as its own rejected row, answered 400 as before.
        db::ingest::insert_events(db, &delivery, started, &[], &accepted.rejected).await?;
        return Err(AppError::Unparsable(error.clone()));
    }
    let (fresh, unknown_hints) = dedupe_by_hint(env, provider, &accepted.events).await;
    let duplicates_from_kv = accepted.events.len() - fresh.len();
    // Connections and switched-off routes, as operators left them (at most ROUTING_TTL_MS old).
    let routing = crate::ingest::routing::current(db).await?;
    let planned: Vec<PlannedEvent> = fresh
        .iter()
        .map(|event| PlannedEvent {
            id: ids::event_id(provider, &event.dedupe_key),
            event,
            steps: routing.plan(committed.routes, &facts(provider, event)),
        })
        .collect();
    let inserted = store(db, &delivery, accepted, started, &planned).await?;

    // Committed: the outbox is sent before the answer; the `enqueued` marks and the hints after it.
    let new_step_ids: Vec<String> = planned
        .iter()
        .zip(&inserted)
        .filter(|(_, is_new)| **is_new)
        .flat_map(|(plan, _)| plan.step_ids())
        .collect();
    send_new_steps(env, ctx, &new_step_ids).await;
    let hint_keys = dedupe_hints::to_write(unknown_hints, &inserted);
    remember_after_answer(env, ctx, hint_keys, committed.hint_ttl_secs);

    let new_events = inserted.iter().filter(|n| **n).count();
    summary.new_events = new_events;
    summary.duplicates = duplicates_from_kv + (inserted.len() - new_events);
    Ok(answer(summary))
}

/// What planning reads of an event.
/// What planning needs of an event (also used by the Stripe backfill, which plans as ingest).
pub(crate) fn facts(provider: Provider, event: &ParsedEvent) -> EventFacts<'_> {
    EventFacts {
        provider,
        source: event.source.as_deref(),
        account: event.account.as_deref(),
        event_type: &event.event_type,
        payload: &event.payload,
    }
}

/// A verified, parsed delivery with what the rest of the request needs.
struct Delivery {
    accepted: Accepted,
    config: Rc<ProviderConfig>,
    db: D1Database,
    /// The request headers as stored with its events (credentials masked).
    headers: String,
}

thread_local! {
    /// The configuration of the ingest paths this isolate has served, parsed once: settings
    /// are fixed for an isolate's life (see `crate::config`), and parsing keys and routes on
    /// every request was a measurable share of its CPU. The core decides what is kept
    /// (declared paths only, a bounded number).
    static PARSED: RefCell<ParsedPaths<Rc<ProviderConfig>, ConfigError>> =
        RefCell::new(ParsedPaths::new());
}

/// The configuration of `provider`'s default path or of its `source`: a name that is not valid,
/// or not declared for the provider, is `404 source_not_found`.
fn source_config(
    env: &Env,
    provider: Provider,
    source: Option<&str>,
) -> Result<Rc<ProviderConfig>, AppError> {
    if source.is_some_and(|name| validate_source_name(name).is_err()) {
        return Err(AppError::SourceNotFound);
    }
    let cached = PARSED.with(|parsed| parsed.borrow().get(provider, source));
    let parsed = cached.unwrap_or_else(|| {
        let parsed = config(env).source(provider, source).map(|c| c.map(Rc::new));
        PARSED.with(|paths| paths.borrow_mut().remember(provider, source, &parsed));
        parsed
    });
    parsed?.ok_or(AppError::SourceNotFound)
}

/// The path a delivery arrived on, with its configuration (found: its name is a label value).
struct FoundPath<'a> {
    env: &'a Env,
    provider: Provider,
    source: Option<&'a str>,
    config: Rc<ProviderConfig>,
}

/// Phase 1: the signature header before the body, the body
/// within its limit, then verify and parse. A forged request is only counted in memory; a
/// verified but unparsable one is kept as a rejected row.
async fn read_and_verify(
    req: web_sys::Request,
    url: &str,
    path: FoundPath<'_>,
    started: i64,
) -> Result<Delivery, AppError> {
    let FoundPath {
        env,
        provider,
        source,
        config,
    } = path;
    let (keys, settings) = (&config.keys, config.settings);
    if keys.is_empty() {
        return Err(AppError::ProviderDisabled);
    }
    let headers: Vec<(String, String)> = Headers(req.headers()).entries().collect();
    // `Content-Length: 0`: nothing to read, so the body's own check (`empty_body`) answers.
    let declared = declared_length(&headers);
    let has_body = req.body().is_some() && declared != Some(0);
    if has_body {
        // Refused before a byte of the body is read (it may be huge or never end).
        if let Err(reason) = require_signature_header(keys, &headers) {
            rejections::count(provider, reason.code());
            return Err(AppError::Verification(reason));
        }
    }
    let body = read_body(req, declared, settings.max_body_bytes).await?;
    let stored_headers = stored_headers::to_store(&headers, signature_headers(keys));
    let inbound = InboundRequest {
        method: "POST",
        url,
        headers: &headers,
        body: &body,
    };
    let clock = Clock {
        now_unix: started / 1000,
        tolerance_secs: settings.tolerance_secs,
    };
    let db = crate::js_binding::d1(env)?;
    match verify_and_parse(keys, &inbound, clock).await {
        Ok(accepted) => Ok(Delivery {
            accepted,
            config,
            db,
            headers: stored_headers,
        }),
        Err(IngestError::Verify(reason)) => {
            // Counted in memory: a forged request costs no D1 write.
            rejections::count(provider, reason.code());
            Err(AppError::Verification(reason))
        }
        Err(IngestError::Parse {
            key_index,
            error: reason,
        }) => {
            // Verified but unusable: keep it for admins so nothing the provider sent is lost.
            let rejected = db::ingest::RejectedDelivery {
                provider,
                source,
                key_index,
                body: &body,
                error: reason.code(),
                headers: &stored_headers,
                account: rejected::account(provider, &inbound),
            };
            db::ingest::insert_rejected(&db, rejected, started).await?;
            Err(AppError::Unparsable(reason))
        }
    }
}

/// The core's verification, with SendGrid's ECDSA run through WebCrypto, then the parse.
async fn verify_and_parse(
    keys: &ProviderKeys,
    inbound: &InboundRequest<'_>,
    clock: Clock,
) -> Result<Accepted, IngestError> {
    let verified = match (verify_or_plan(keys, inbound, clock)?, keys) {
        (Verification::Done(verified), _) => verified,
        (Verification::Ecdsa(plan), ProviderKeys::SendGrid(public_keys)) => {
            let key_index = crate::webcrypto::first_verifying_key(&plan, public_keys).await;
            sendgrid::finish(&plan, key_index, clock).map_err(IngestError::Verify)?
        }
        (Verification::Ecdsa(plan), _) => {
            sendgrid::finish(&plan, None, clock).map_err(IngestError::Verify)?
        }
    };
    parse_verified(keys, inbound, verified.key_index)
}

/// Phase 2: drop what KV already knows (a hint, not the authority: D1's unique keys are), by the
/// core's hints for the delivery: one per event, or one for a whole batch. Returns the events
/// left with the hints KV did not know (the core's `to_write` picks which to write after the
/// commit).
async fn dedupe_by_hint<'a>(
    env: &Env,
    provider: Provider,
    events: &'a [ParsedEvent],
) -> (Vec<&'a ParsedEvent>, DeliveryHints) {
    let dedupe_keys: Vec<&str> = events.iter().map(|e| e.dedupe_key.as_str()).collect();
    match dedupe_hints::for_delivery(provider, &dedupe_keys) {
        DeliveryHints::PerEvent(hint_keys) => {
            let known = hints::known(env, &hint_keys).await;
            let (fresh, unknown) = events
                .iter()
                .zip(hint_keys)
                .zip(&known)
                .filter(|(_, seen)| !**seen)
                .map(|(pair, _)| pair)
                .unzip();
            (fresh, DeliveryHints::PerEvent(unknown))
        }
        DeliveryHints::Delivery(key) => {
            match hints::known(env, std::slice::from_ref(&key)).await.first() {
                Some(true) => (Vec::new(), DeliveryHints::PerEvent(Vec::new())),
                _ => (events.iter().collect(), DeliveryHints::Delivery(key)),
            }
        }
    }
}

/// Phase 3: store the new events with their planned steps, and the batch's malformed elements,
/// in D1. Returns, per planned event, whether it was new (`false`: a duplicate D1 caught).
async fn store(
    db: &D1Database,
    delivery: &db::ingest::Delivery<'_>,
    accepted: &Accepted,
    started: i64,
    planned: &[PlannedEvent<'_>],
) -> Result<Vec<bool>, AppError> {
    if planned.is_empty() && accepted.rejected.is_empty() {
        return Ok(Vec::new());
    }
    let inserted =
        db::ingest::insert_events(db, delivery, started, planned, &accepted.rejected).await?;
    Ok(inserted)
}

/// Phase 4: the KV hints, written after the answer (`waitUntil`): advisory, so their write
/// (the slowest binding call of a request locally) never delays a provider.
fn remember_after_answer(env: &Env, ctx: &Context, hint_keys: Vec<String>, ttl_secs: u64) {
    if hint_keys.is_empty() {
        return;
    }
    let env = env.clone();
    ctx.wait_until(async move { hints::remember(&env, &hint_keys, ttl_secs).await });
}

/// Phase 5, the 200 answer: `accepted` with counts, or `duplicate` when nothing was new; `rejected`
/// (the batch's malformed elements, each kept as a rejected row) appears only when non-zero.
fn answer(summary: &mut Summary) -> Response {
    let mut body = if summary.new_events == 0 {
        summary.outcome = Some("duplicate");
        json!({ "status": "duplicate" })
    } else {
        summary.outcome = Some("accepted");
        json!({ "status": "accepted", "events": summary.new_events, "duplicates": summary.duplicates })
    };
    if let (true, Some(fields)) = (summary.rejected > 0, body.as_object_mut()) {
        fields.insert("rejected".into(), json!(summary.rejected));
    }
    json_response(&body, 200)
}

/// The outcome name of a failed request.
pub(crate) fn outcome_of(error: &AppError) -> &'static str {
    match error {
        AppError::Misconfigured { .. } => "misconfigured",
        AppError::ProviderDisabled => "disabled",
        AppError::Verification(_) => "rejected",
        AppError::Unparsable(_) => "unparsable",
        AppError::PayloadTooLarge { .. } => "too_large",
        AppError::Unavailable => "unavailable",
        _ => "refused",
    }
}

/// The request's one log line: ids, counts and codes, never a payload or a secret. Server-side
/// failures (503: misconfigured, unavailable) are logged at error level, a misconfiguration with
/// its detail (the setting's name and what is wrong, never its value).
pub(crate) fn log_request(
    provider: Provider,
    summary: &Summary,
    result: &Result<Response, AppError>,
    started: i64,
) {
    let (status, outcome) = answered(summary, result);
    let error = result.as_ref().err();
    let fields = || {
        json!({
            "provider": provider.slug(),
            // The caller's path segment: cut (a name that names no source can be anything).
            "source": summary.source.as_deref().map(log::caller_text),
            "outcome": outcome,
            "status": status,
            "error": error.map(AppError::code),
            "detail": match error {
                Some(AppError::Misconfigured { detail }) => Some(detail.as_str()),
                _ => None,
            },
            "event_type": summary.event_types.first(),
            "event_types": (summary.event_types.len() > 1).then_some(&summary.event_types),
            "events": summary.events,
            "new_events": summary.new_events,
            "duplicates": summary.duplicates,
            "rejected": summary.rejected,
            "dedupe_keys": summary.dedupe_keys,
            "key_index": summary.key_index,
            "latency_ms": now_ms() - started,
        })
    };
    log::request(status, fields);
}
