//! The audit trail's shell: [`record`] writes the row of one mutating call after it was
//! answered (or refused with `403`), and `GET audit` lists rows newest first with the core's
//! filters (`who`, `action`, `since`, `until`, `limit`, `cursor`). The row is written after the
//! call, not in the call's own transaction: should that write fail (D1 failing just then), the
//! answer still stands and an `audit_write_failed` error line says what was not recorded.

use edgehooks_handlers::access::audit::{AuditEntry, AuditQuery};
use edgehooks_handlers::access::routes::ApiRoute;
use edgehooks_handlers::access::settings::DEFAULT_AUDIT_DAYS;
use edgehooks_handlers::access::Identity;
use serde_json::{json, Value};
use worker::{D1Database, Env, Request};

use super::http::{ok, read_body, Answer};
use crate::clock::now_ms;
use crate::config::config;
use crate::db;
use crate::error::AppError;
use crate::log;

/// The request's body for its digest, read from a copy of the request (the handler reads the
/// request itself); `None` when it cannot be read (too large, broken), which the row shows as
/// no digest.
pub async fn body_of(req: &Request) -> Option<Vec<u8>> {
    let copy = req.clone().ok()?;
    read_body(&copy).await.ok()
}

/// Write the audit row of `caller`'s call of `route` at `path`, answered `status`.
pub async fn record(
    env: &Env,
    db: &D1Database,
    caller: &Identity,
    route: &ApiRoute,
    path: &[&str],
    body: Option<&[u8]>,
    status: u16,
) {
    let keep_days = config(env)
        .audit_retention_days()
        .unwrap_or(DEFAULT_AUDIT_DAYS);
    let entry = AuditEntry::new(caller, route, path, body, status, now_ms(), keep_days);
    if let Err(e) = db::access::write_audit(db, &entry).await {
        log::record_error(
            "audit_write_failed",
            json!({ "who": entry.who, "action": entry.action, "status": status, "error": e.to_string() }),
        );
    }
}

/// `GET audit`.
pub async fn list(db: &D1Database, pairs: &[(String, String)]) -> Result<Answer, AppError> {
    let filter = AuditQuery::from_pairs(pairs)?;
    let mut rows = db::access::audit_page(db, &filter).await?;
    let more = rows.len() as i64 > filter.limit;
    rows.truncate(filter.limit as usize);
    let next_cursor = more
        .then(|| rows.last().map(|r| r.id.to_string()))
        .flatten();
    let entries: Vec<Value> = rows
        .into_iter()
        .map(|r| {
            json!({
                "id": r.id, "at": r.at, "who": r.who, "via": r.via, "role": r.role,
                "action": r.action, "target": r.target, "body_sha256": r.body_sha256,
                "status": r.status,
            })
        })
        .collect();
    Ok(ok(
        json!({ "entries": entries, "next_cursor": next_cursor }),
    ))
}
