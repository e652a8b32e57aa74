//! `POST /webhooks/in/{name}`: a source added at runtime. Its row (spec and sealed secrets) is
//! read from D1 and kept, opened, in isolate memory for at most [`SOURCE_TTL_MS`] (5 s, as the
//! routing is; at most [`MAX_CACHED`] names), so a steady stream costs no D1 read for its source and an admin change
//! reaches every isolate within seconds (the isolate that served it forgets its copy at once).
//! An unknown or disabled source is `404 source_not_found` (the sender retries, so nothing is
//! lost while a source is off, and a caller learns nothing about which names exist). Then: a
//! request without the scheme's signature header refused before its body is read, the
//! body within the source's limit, the core's verification by the source's scheme (a
//! handshake answered without storing anything; a forged request only counted in memory; a
//! verified body that is not UTF-8 kept as a rejected row), and the built-in providers' phases
//! ([`super::commit`]) with provider `in`.

use std::cell::RefCell;
use std::rc::Rc;

use edgehooks_handlers::by_name::ByName;
use edgehooks_handlers::inbound::providers::IngestError;
use edgehooks_handlers::inbound::registry::arrival::{accept, Arrival};
use edgehooks_handlers::inbound::registry::{has_signature_header, signature_headers, SourceSpec};
use edgehooks_handlers::inbound::sources::validate_source_name;
use edgehooks_handlers::inbound::stored_headers;
use edgehooks_handlers::inbound::webhook::{InboundRequest, Provider, VerifyError};
use edgehooks_handlers::ingest::MAX_BODY_BYTES_LIMIT;
use edgehooks_handlers::sealed;
use edgehooks_handlers::steps::routes::RouteTable;
use worker::worker_sys::web_sys;
use worker::{Context, D1Database, Env, Headers, Response};

use super::{commit, declared_length, finish, read_body, Committed, Summary};
use crate::clock::now_ms;
use crate::config::config;
use crate::db;
use crate::error::AppError;
use crate::log;
use crate::tally::rejections;

/// How long an isolate verifies with the source row it read, at most.
pub const SOURCE_TTL_MS: i64 = 5_000;
/// Most names an isolate remembers (unknown ones too, so a stream to a wrong name costs one D1
/// read per TTL); past it the expired entries go, then all of them: requests for random names
/// cannot grow the isolate's memory.
const MAX_CACHED: usize = 512;

/// A source as ingest uses it: its spec and its secrets, opened.
pub struct LoadedSource {
    pub spec: SourceSpec,
    pub secrets: Vec<String>,
}

type Cached = (i64, Option<Rc<LoadedSource>>);

thread_local! {
    static CACHED: RefCell<ByName<Cached>> = RefCell::new(ByName::new());
}

/// Forget this isolate's copy of every source (after an admin change).
pub fn invalidate() {
    CACHED.with(|cached| cached.borrow_mut().clear());
}

pub async fn handle(
    req: web_sys::Request,
    url: &str,
    env: &Env,
    ctx: &Context,
    name: Option<String>,
) -> Result<Response, AppError> {
    let started = now_ms();
    let mut summary = Summary {
        source: name.clone(),
        ..Summary::default()
    };
    let result = match name {
        Some(name) => ingest(req, url, env, ctx, &name, started, &mut summary).await,
        None => Err(AppError::SourceNotFound),
    };
    finish(Provider::Registry, &summary, &result, started);
    result
}

async fn ingest(
    req: web_sys::Request,
    url: &str,
    env: &Env,
    ctx: &Context,
    name: &str,
    started: i64,
    summary: &mut Summary,
) -> Result<Response, AppError> {
    if validate_source_name(name).is_err() {
        return Err(AppError::SourceNotFound);
    }
    let settings = config(env).registry_settings()?;
    let db = crate::js_binding::d1(env)?;
    let source = current(env, &db, name)
        .await?
        .filter(|s| s.spec.enabled)
        .ok_or(AppError::SourceNotFound)?;
    summary.source_found = true;
    let headers: Vec<(String, String)> = Headers(req.headers()).entries().collect();
    let declared = declared_length(&headers);
    // Refused before a byte of the body is read (it may be huge or never end), as the
    // built-in providers are; without a body the scheme's own check answers.
    let has_body = req.body().is_some() && declared != Some(0);
    if has_body && !has_signature_header(&source.spec.scheme, &headers) {
        let reason = VerifyError::MissingSignature;
        rejections::count_registry(name, reason.code());
        return Err(AppError::Verification(reason));
    }
    let limit = source
        .spec
        .max_body_bytes
        .map_or(settings.max_body_bytes, |own| own.min(MAX_BODY_BYTES_LIMIT));
    let body = read_body(req, declared, limit).await?;
    let stored_headers =
        stored_headers::to_store(&headers, &signature_headers(&source.spec.scheme));
    let inbound = InboundRequest {
        method: "POST",
        url,
        headers: &headers,
        body: &body,
    };
    let accepted = match accept(&source.spec, &source.secrets, &inbound, started / 1000) {
        Ok(Arrival::Event(accepted)) => accepted,
        Ok(Arrival::Challenge(challenge)) => {
            summary.outcome = Some("challenge");
            return Ok(challenge_response(&challenge.body, challenge.content_type));
        }
        Err(IngestError::Verify(reason)) => {
            // Counted in memory: a forged request costs no D1 write.
            rejections::count_registry(name, reason.code());
            return Err(AppError::Verification(reason));
        }
        Err(IngestError::Parse { key_index, error }) => {
            let rejected = db::ingest::RejectedDelivery {
                provider: Provider::Registry,
                source: Some(name),
                key_index,
                body: &body,
                error: error.code(),
                headers: &stored_headers,
                account: None,
            };
            db::ingest::insert_rejected(&db, rejected, started).await?;
            return Err(AppError::Unparsable(error));
        }
    };
    let routes = RouteTable::defaults();
    let committed = Committed {
        provider: Provider::Registry,
        routes: &routes,
        hint_ttl_secs: settings.hint_ttl_secs,
        started,
        headers: &stored_headers,
    };
    commit(env, ctx, &db, &committed, &accepted, summary).await
}

fn challenge_response(body: &str, content_type: &str) -> Response {
    let headers = Headers::new();
    let _ = headers.set("Content-Type", content_type);
    Response::builder()
        .with_status(200)
        .with_headers(headers)
        .fixed(body.as_bytes().to_vec())
}

/// Source `name` as this isolate last read it (at most [`SOURCE_TTL_MS`] ago), else from D1;
/// `None` when there is no such source.
async fn current(
    env: &Env,
    db: &D1Database,
    name: &str,
) -> Result<Option<Rc<LoadedSource>>, AppError> {
    let now = now_ms();
    let fresh = CACHED.with(|cached| {
        cached
            .borrow()
            .get(name)
            .filter(|(at, _)| now - at < SOURCE_TTL_MS)
            .map(|(_, source)| source.clone())
    });
    if let Some(source) = fresh {
        return Ok(source);
    }
    let loaded = match db::sources::get(db, name).await? {
        Some(row) => Some(Rc::new(load(env, &row).await?)),
        None => None,
    };
    CACHED.with(|cached| {
        let mut cached = cached.borrow_mut();
        if cached.len() >= MAX_CACHED {
            cached.retain(|(at, _)| now - *at < SOURCE_TTL_MS);
        }
        if cached.len() >= MAX_CACHED {
            cached.clear();
        }
        cached.insert(name.to_string(), (now, loaded.clone()));
    });
    Ok(loaded)
}

/// A stored row as ingest uses it: the spec validated again, the secrets opened. A row that no
/// longer validates or whose secrets do not open is `misconfigured` (logged by name).
pub async fn load(env: &Env, row: &db::sources::SourceRow) -> Result<LoadedSource, AppError> {
    let broken = |what: &str| {
        let detail = format!("registry source {} {what}", row.name);
        log::error("stored_source_invalid", &detail);
        AppError::Misconfigured { detail }
    };
    let spec = SourceSpec::from_stored(&row.spec, &row.name, MAX_BODY_BYTES_LIMIT)
        .map_err(|e| broken(&format!("no longer validates ({})", e.field)))?;
    let key = config(env).secrets_key()?;
    let context = sealed::context("source", &row.name);
    let opened = crate::webcrypto::open(key.as_ref(), &context, &row.secrets)
        .await
        .map_err(|e| broken(&format!("has secrets that cannot be read: {e}")))?;
    let secrets = std::str::from_utf8(&opened)
        .ok()
        .and_then(edgehooks_handlers::json_lists::strings)
        .ok_or_else(|| broken("has secrets that are not a list"))?;
    Ok(LoadedSource { spec, secrets })
}
