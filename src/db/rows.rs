//! D1 results read as JSON. The `worker` crate turns every D1 row into a Rust value through
//! `serde_wasm_bindgen`, one JS property read per field and a second deserializer instantiated for
//! every row type (~100 KB of wasm). Here a result crosses the boundary once, as the text of
//! `JSON.stringify`, and `serde_json` (already linked for bodies and logs) reads the rows. A row
//! that does not fit its type is an error (`d1_row: ...`), never a panic. `Rows` is one statement's
//! result (rows and `meta.changes`); `JsonStatement` adds `row` and `result` to a prepared
//! statement, and `batch` runs statements in one transaction keeping their results readable.

use js_sys::{Array, Promise, Reflect, JSON};
use serde::de::DeserializeOwned;
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::worker_sys::{D1Database as D1DatabaseSys, D1PreparedStatement as D1StatementSys};
use worker::{D1Database, D1PreparedStatement, Error, Result};

/// A row as D1 returns it: column name to value.
type Row = serde_json::Map<String, serde_json::Value>;

/// One statement's result object (`{results, meta, success}`), read on demand.
pub struct Rows(JsValue);

impl Rows {
    /// The result rows as `T` (none for a statement that returns no rows).
    pub fn results<T: DeserializeOwned>(&self) -> Result<Vec<T>> {
        let rows = Reflect::get(&self.0, &JsValue::from_str("results"))?;
        if rows.is_undefined() || rows.is_null() {
            return Ok(Vec::new());
        }
        let rows: Vec<Row> = from_js(&rows)?;
        rows.into_iter().map(row_as).collect()
    }

    /// Rows changed (`meta.changes`; 0 when D1 reports no meta).
    pub fn changes(&self) -> usize {
        Reflect::get(&self.0, &JsValue::from_str("meta"))
            .and_then(|meta| Reflect::get(&meta, &JsValue::from_str("changes")))
            .ok()
            .and_then(|changes| changes.as_f64())
            .filter(|n| n.is_finite() && *n >= 0.0)
            .map_or(0, |n| n as usize)
    }
}

/// What a prepared statement returns, read as JSON.
#[allow(async_fn_in_trait)]
pub trait JsonStatement {
    /// The first row, if any.
    async fn row<T: DeserializeOwned>(&self) -> Result<Option<T>>;
    /// Run the statement and read its whole result (rows and `meta.changes`).
    async fn result(&self) -> Result<Rows>;
}

impl JsonStatement for D1PreparedStatement {
    async fn row<T: DeserializeOwned>(&self) -> Result<Option<T>> {
        let row = settle(sys(self).first(None)).await?;
        if row.is_undefined() || row.is_null() {
            return Ok(None);
        }
        row_as(from_js(&row)?).map(Some)
    }

    async fn result(&self) -> Result<Rows> {
        settle(sys(self).all()).await.map(Rows)
    }
}

/// Run statements as one D1 batch (one transaction); one `Rows` per statement, in order.
pub async fn batch(db: &D1Database, statements: Vec<D1PreparedStatement>) -> Result<Vec<Rows>> {
    let array: Array = statements
        .iter()
        .map(|s| JsValue::from(sys(s).clone()))
        .collect();
    let database: &D1DatabaseSys = db.as_ref().unchecked_ref();
    let results: Array = settle(database.batch(array)).await?.dyn_into()?;
    Ok(results.iter().map(Rows).collect())
}

fn sys(statement: &D1PreparedStatement) -> &D1StatementSys {
    statement.inner()
}

/// Await a D1 promise; a rejection becomes an error carrying D1's message (its `cause` when D1
/// wraps one, as the `worker` crate reports it).
async fn settle(promise: std::result::Result<Promise, JsValue>) -> Result<JsValue> {
    let outcome = match promise {
        Ok(promise) => JsFuture::from(promise).await,
        Err(e) => Err(e),
    };
    outcome.map_err(describe)
}

fn describe(error: JsValue) -> Error {
    let Some(error) = error.dyn_ref::<js_sys::Error>() else {
        return Error::from(error);
    };
    let message = String::from(error.message());
    let cause = error.cause();
    let text = match cause.dyn_ref::<js_sys::Error>() {
        Some(cause) if message.starts_with("D1") => String::from(cause.message()),
        _ => message,
    };
    Error::RustError(text)
}

/// A JS value from D1 (a row or the array of rows) parsed from its JSON text. Only these two
/// types are parsed from text, so `serde_json`'s parser is instantiated twice, not per row type.
fn from_js<V: DeserializeOwned>(value: &JsValue) -> Result<V> {
    let text = JSON::stringify(value)?
        .as_string()
        .ok_or_else(|| Error::RustError("d1_row: not JSON".into()))?;
    serde_json::from_str(&text).map_err(|e| Error::RustError(format!("d1_row: {e}")))
}

/// One row read as `T`: the only per-row-type code is `T`'s `Deserialize` over a JSON object
/// (an object, not a `Value`, so serde_json's array path is not instantiated for every type).
fn row_as<T: DeserializeOwned>(row: Row) -> Result<T> {
    T::deserialize(row).map_err(|e| Error::RustError(format!("d1_row: {e}")))
}
