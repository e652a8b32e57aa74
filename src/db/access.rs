//! The SQL of team access (migrations 0021, 0022): named API tokens (create, list, find by
//! public id, mark used, delete) and the audit trail (write a row, list a page, the statements
//! are the core's `edgehooks_handlers::access::audit`).

use edgehooks_handlers::access::audit::{AuditEntry, AuditQuery, INSERT_SQL};
use worker::wasm_bindgen::JsValue;
use worker::{D1Database, Result};

use super::admin::bind;
use super::rows::{query, run, FromRow, Row};
use super::{num, opt_text, statement};

/// A stored token's row (never the token; its hash only where a sign-in compares it).
#[derive(Debug)]
pub struct TokenRow {
    pub name: String,
    pub token_hash: String,
    pub role: String,
    pub created_at: i64,
    pub created_by: String,
    pub last_used_at: Option<i64>,
}

impl FromRow for TokenRow {
    fn from_row(row: &Row) -> Self {
        TokenRow {
            name: row.text("name"),
            token_hash: row.text("token_hash"),
            role: row.text("role"),
            created_at: row.int("created_at"),
            created_by: row.text("created_by"),
            last_used_at: row.opt_int("last_used_at"),
        }
    }
}

const TOKEN_COLUMNS: &str = "name, token_hash, role, created_at, created_by, last_used_at";

/// A token used this long after its last recorded use is marked used again (one write a
/// minute at most per token, not one per request).
const LAST_USED_STEP_MS: i64 = 60_000;

/// Store a new token; `false` when the name is taken.
pub async fn create_token(
    db: &D1Database,
    name: &str,
    id: &str,
    hash: &str,
    role: &str,
    created_by: &str,
    now: i64,
) -> Result<bool> {
    let sql = "INSERT INTO api_tokens (name, token_id, token_hash, role, created_at, created_by) \
               VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (name) DO NOTHING";
    let args = [name, id, hash, role].map(JsValue::from_str);
    let args = [&args[..], &[num(now), JsValue::from_str(created_by)]].concat();
    Ok(run(&statement(db, sql, &args)?).await?.changes() == 1)
}

/// Every token, by name.
pub async fn list_tokens(db: &D1Database) -> Result<Vec<TokenRow>> {
    let sql = format!("SELECT {TOKEN_COLUMNS} FROM api_tokens ORDER BY name");
    query(&statement(db, &sql, &[])?).await?.read()
}

/// The token with public id `id`, if there is one (a revoked token has no row).
pub async fn token_by_id(db: &D1Database, id: &str) -> Result<Option<TokenRow>> {
    let sql = format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE token_id = ?1");
    query(&statement(db, &sql, &[JsValue::from_str(id)])?)
        .await?
        .read_first()
}

/// Record a use of the token `name` at `now`, unless one was recorded in the last minute.
pub async fn mark_used(db: &D1Database, name: &str, now: i64) -> Result<()> {
    let sql = "UPDATE api_tokens SET last_used_at = ?2 WHERE name = ?1 \
               AND (last_used_at IS NULL OR last_used_at <= ?2 - ?3)";
    let args = [JsValue::from_str(name), num(now), num(LAST_USED_STEP_MS)];
    run(&statement(db, sql, &args)?).await.map(|_| ())
}

/// Delete the token `name`; `false` when there was none.
pub async fn delete_token(db: &D1Database, name: &str) -> Result<bool> {
    let sql = "DELETE FROM api_tokens WHERE name = ?1";
    Ok(run(&statement(db, sql, &[JsValue::from_str(name)])?)
        .await?
        .changes()
        == 1)
}

/// Write one audit row.
pub async fn write_audit(db: &D1Database, e: &AuditEntry) -> Result<()> {
    let args = [
        num(e.at),
        JsValue::from_str(&e.who),
        JsValue::from_str(e.via),
        JsValue::from_str(e.role),
        JsValue::from_str(&e.action),
        opt_text(e.target.as_deref()),
        opt_text(e.body_sha256.as_deref()),
        num(i64::from(e.status)),
        num(e.expires_at),
    ];
    run(&statement(db, INSERT_SQL, &args)?).await.map(|_| ())
}

/// One audit row as listed.
#[derive(Debug)]
pub struct AuditRow {
    pub id: i64,
    pub at: i64,
    pub who: String,
    pub via: String,
    pub role: String,
    pub action: String,
    pub target: Option<String>,
    pub body_sha256: Option<String>,
    pub status: i64,
}

impl FromRow for AuditRow {
    fn from_row(row: &Row) -> Self {
        AuditRow {
            id: row.int("id"),
            at: row.int("at"),
            who: row.text("who"),
            via: row.text("via"),
            role: row.text("role"),
            action: row.text("action"),
            target: row.opt_text("target"),
            body_sha256: row.opt_text("body_sha256"),
            status: row.int("status"),
        }
    }
}

/// A page of audit rows (one more than the limit, when there are more).
pub async fn audit_page(db: &D1Database, filter: &AuditQuery) -> Result<Vec<AuditRow>> {
    let (sql, args) = filter.sql();
    query(&statement(db, &sql, &bind(&args))?).await?.read()
}
