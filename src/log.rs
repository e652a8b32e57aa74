//! Structured logs: one JSON object per line, so `wrangler tail` and Workers Logs can filter on
//! fields. Callers pass codes, ids and numbers; never a secret or a payload.

use serde_json::{json, Value};

/// Emit one JSON line. `fields` must be an object; `kind` names the record.
pub fn record(kind: &str, mut fields: Value) {
    if let Some(map) = fields.as_object_mut() {
        map.insert("kind".into(), Value::String(kind.into()));
    }
    worker::console_log!("{}", fields);
}

/// An operational error (storage, queue, configuration). `detail` must not contain secrets.
pub fn error(code: &str, detail: &str) {
    worker::console_error!(
        "{}",
        json!({ "kind": "error", "error": code, "detail": detail })
    );
}

/// One step outcome. `error` is reduced to its code (the part before `:`), never a body.
pub fn step(
    step_id: &str,
    outcome: &str,
    status: Option<u16>,
    error: &str,
    latency_ms: i64,
    changed: bool,
) {
    record(
        "step_attempt",
        json!({
            "step_id": step_id,
            "outcome": outcome,
            "http_status": status,
            "error": (!error.is_empty()).then(|| error.split(':').next().unwrap_or(error)),
            "latency_ms": latency_ms,
            "changed": changed,
        }),
    );
}
