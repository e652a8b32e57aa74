//! The SQL of registry sources (migration 0019): the admin API's reads and writes and the one
//! row ingest reads per source (cached, `crate::ingest::registry`). A row holds the spec JSON,
//! the sealed secrets and their fingerprints; nothing here opens or checks them. The rows whose
//! secrets are still plaintext are the sweeper's to seal (`edgehooks_handlers::sealed::reseal`),
//! and those whose fingerprints are not keyed its to re-key (`sealed::fingerprint`).

use edgehooks_handlers::sealed::{fingerprint, reseal};
use worker::{D1Database, Result};

use super::rows::{query, run, FromRow, Row};
use super::{num, statement};

/// A stored source.
#[derive(Debug, Clone)]
pub struct SourceRow {
    pub name: String,
    pub spec: String,
    /// The sealed secrets (`v1:…`).
    pub secrets: String,
    pub fingerprints: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl FromRow for SourceRow {
    fn from_row(row: &Row) -> Self {
        SourceRow {
            name: row.text("name"),
            spec: row.text("spec"),
            secrets: row.text("secrets"),
            fingerprints: row.text("fingerprints"),
            created_at: row.int("created_at"),
            updated_at: row.int("updated_at"),
        }
    }
}

const COLUMNS: &str = "name, spec, secrets, fingerprints, created_at, updated_at";

pub async fn list(db: &D1Database) -> Result<Vec<SourceRow>> {
    let sql = format!("SELECT {COLUMNS} FROM registry_sources ORDER BY name");
    query(&statement(db, &sql, &[])?).await?.read()
}

pub async fn get(db: &D1Database, name: &str) -> Result<Option<SourceRow>> {
    let sql = format!("SELECT {COLUMNS} FROM registry_sources WHERE name = ?1");
    query(&statement(db, &sql, &[name.into()])?)
        .await?
        .read_first()
}

/// What a write stores.
pub struct SourceColumns<'a> {
    pub scheme: &'a str,
    pub spec: &'a str,
    pub secrets: &'a str,
    pub fingerprints: &'a str,
    pub enabled: bool,
}

/// Insert (`create`: false when the name is taken) or replace a source.
pub async fn save(
    db: &D1Database,
    name: &str,
    columns: &SourceColumns<'_>,
    create: bool,
    now_ms: i64,
) -> Result<bool> {
    let sql = if create {
        "INSERT INTO registry_sources (name, scheme, spec, secrets, fingerprints, enabled, \
         created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7) ON CONFLICT DO NOTHING"
    } else {
        "UPDATE registry_sources SET scheme = ?2, spec = ?3, secrets = ?4, fingerprints = ?5, \
         enabled = ?6, updated_at = ?7 WHERE name = ?1"
    };
    let args = [
        name.into(),
        columns.scheme.into(),
        columns.spec.into(),
        columns.secrets.into(),
        columns.fingerprints.into(),
        num(i64::from(columns.enabled)),
        num(now_ms),
    ];
    let result = run(&statement(db, sql, &args)?).await?;
    Ok(result.changes() > 0)
}

/// Delete a source: false when there was none. Its stored events stay (with their source name).
pub async fn delete(db: &D1Database, name: &str) -> Result<bool> {
    let sql = "DELETE FROM registry_sources WHERE name = ?1";
    let result = run(&statement(db, sql, &[name.into()])?).await?;
    Ok(result.changes() > 0)
}

/// A source whose secrets are still plaintext: its name and the stored list.
#[derive(Debug, Clone)]
pub struct UnsealedSource {
    pub name: String,
    pub secrets: String,
}

impl FromRow for UnsealedSource {
    fn from_row(row: &Row) -> Self {
        UnsealedSource {
            name: row.text("name"),
            secrets: row.text("secrets"),
        }
    }
}

/// Up to `limit` sources whose secrets are plaintext, by name.
pub async fn unsealed(db: &D1Database, limit: i64) -> Result<Vec<UnsealedSource>> {
    query(&statement(db, reseal::UNSEALED_SOURCES_SQL, &[num(limit)])?)
        .await?
        .read()
}

/// Replace source `name`'s secrets `read` with their sealed form; false when the row no longer
/// holds `read`.
pub async fn reseal_secrets(db: &D1Database, name: &str, sealed: &str, read: &str) -> Result<bool> {
    let args = [name.into(), sealed.into(), read.into()];
    let result = run(&statement(db, reseal::RESEAL_SOURCE_SQL, &args)?).await?;
    Ok(result.changes() > 0)
}

/// A source whose fingerprints are not in the keyed form: its name, secrets and fingerprints as
/// stored.
#[derive(Debug, Clone)]
pub struct UnkeyedSource {
    pub name: String,
    pub secrets: String,
    pub fingerprints: String,
}

impl FromRow for UnkeyedSource {
    fn from_row(row: &Row) -> Self {
        UnkeyedSource {
            name: row.text("name"),
            secrets: row.text("secrets"),
            fingerprints: row.text("fingerprints"),
        }
    }
}

/// Up to `limit` sources whose fingerprints are not keyed, by name, after `start` (`""`: from
/// the first).
pub async fn unkeyed(db: &D1Database, limit: i64, start: &str) -> Result<Vec<UnkeyedSource>> {
    let sql = fingerprint::unkeyed_sources_sql();
    query(&statement(db, &sql, &[num(limit), start.into()])?)
        .await?
        .read()
}

/// Replace `row`'s fingerprints with `keyed`; false when the row no longer holds the secrets
/// and fingerprints it was read with.
pub async fn rekey(db: &D1Database, row: &UnkeyedSource, keyed: &str) -> Result<bool> {
    let args = [
        row.name.as_str().into(),
        keyed.into(),
        row.secrets.as_str().into(),
        row.fingerprints.as_str().into(),
    ];
    let result = run(&statement(db, fingerprint::REKEY_SOURCE_SQL, &args)?).await?;
    Ok(result.changes() > 0)
}
