//! Structured logs: one JSON object per line, so `wrangler tail` and Workers Logs can filter on
//! fields. Every ingest request writes one `kind: "request"` line (see `ingest`) and every step
//! attempt one `kind: "step_attempt"` line; operational failures write `kind: "error"`. Callers
//! pass codes, ids, names and numbers; never a secret, a URL with credentials, or a payload.
//! Each line has a level (`edgehooks_handlers::log_level`): `LOG_LEVEL` (default `warn`) decides
//! which are written, read once per invocation by [`use_level_of`]. The per-request and
//! per-attempt lines of work that went well are `info`: D1 holds their record.

use std::cell::Cell;

use edgehooks_handlers::log_level::{request_level, step_level, LogLevel, DEFAULT};
use edgehooks_handlers::metrics::analytics::step_point;
use serde_json::{json, Value};

/// Most characters a line keeps of text the caller chose (a requested path, a source name
/// from the URL): enough to recognise it, never a flood.
pub const CALLER_TEXT_CHARS: usize = 120;

/// `text`, chosen by the caller, cut to [`CALLER_TEXT_CHARS`] characters for a log line.
pub fn caller_text(text: &str) -> String {
    text.chars().take(CALLER_TEXT_CHARS).collect()
}

thread_local! {
    /// The isolate's threshold, set at the start of every invocation (wasm is single-threaded;
    /// every invocation of one isolate shares one environment).
    static THRESHOLD: Cell<LogLevel> = const { Cell::new(DEFAULT) };
}

/// Read `LOG_LEVEL` for this invocation.
pub fn use_level_of(env: &worker::Env) {
    let level = crate::config::config(env).log_level();
    THRESHOLD.with(|t| t.set(level));
}

fn enabled(level: LogLevel) -> bool {
    THRESHOLD.with(|t| level.passes(t.get()))
}

/// `fields` with `kind` set and null fields dropped (absent and unknown read the same).
fn line(kind: &str, mut fields: Value) -> Value {
    if let Some(map) = fields.as_object_mut() {
        map.retain(|_, v| !v.is_null());
        map.insert("kind".into(), Value::String(kind.into()));
    }
    fields
}

/// Emit one JSON line at `level`, if `LOG_LEVEL` lets it through. `fields` must be an object;
/// `kind` names the record. Errors go to the console's error stream.
pub fn record_at(level: LogLevel, kind: &str, fields: Value) {
    record_built_at(level, kind, || fields);
}

/// [`record_at`] for a line whose fields cost something to gather: `fields` runs only when the
/// line is written (the request and step lines are built on every request and attempt, and at
/// the default level most of them are not written).
fn record_built_at(level: LogLevel, kind: &str, fields: impl FnOnce() -> Value) {
    if !enabled(level) {
        return;
    }
    let fields = fields();
    match level {
        LogLevel::Error => worker::console_error!("{}", line(kind, fields)),
        LogLevel::Warn => worker::console_warn!("{}", line(kind, fields)),
        LogLevel::Info => worker::console_log!("{}", line(kind, fields)),
    }
}

/// An `info` line: routine work whose record D1 already holds.
pub fn record(kind: &str, fields: Value) {
    record_at(LogLevel::Info, kind, fields);
}

/// A `warn` line: something an operator should know about (an alert, work that had to be
/// retried or recovered).
pub fn warn(kind: &str, fields: Value) {
    record_at(LogLevel::Warn, kind, fields);
}

/// An `error` line (operator attention: 5xx, misconfiguration).
pub fn record_error(kind: &str, fields: Value) {
    record_at(LogLevel::Error, kind, fields);
}

/// The line of an ingest request answered with `status`; `fields` runs only if it is written.
pub fn request(status: u16, fields: impl FnOnce() -> Value) {
    record_built_at(request_level(status), "request", fields);
}

/// An operational error (storage, queue, configuration). `detail` must not contain secrets.
pub fn error(code: &str, detail: &str) {
    record_error("error", json!({ "error": code, "detail": detail }));
}

/// The stable part of an error text: its code, before any `:` detail (which may quote a
/// response body).
pub fn error_code(error: &str) -> Option<&str> {
    let code = error.split(':').next().unwrap_or(error).trim();
    (!code.is_empty()).then_some(code)
}

/// What a step log line says about the step itself. `name`, `destination`, `provider` and
/// `event_type` are `None` when the step's row could not be read (e.g. a dead-lettered id).
#[derive(Debug, Clone, Copy, Default)]
pub struct StepFields<'a> {
    pub step_id: &'a str,
    pub name: Option<&'a str>,
    pub destination: Option<&'a str>,
    pub provider: Option<&'a str>,
    pub event_type: Option<&'a str>,
}

impl<'a> StepFields<'a> {
    /// A step known only by its id.
    pub fn id(step_id: &'a str) -> Self {
        StepFields {
            step_id,
            ..StepFields::default()
        }
    }
}

/// One step attempt (or decision not to attempt: deferred, skipped, dead). `error` is reduced to
/// its code, never a body.
pub fn step(
    step: &StepFields,
    outcome: &str,
    status: Option<u16>,
    error: &str,
    latency_ms: i64,
    changed: bool,
) {
    // The dashboard, /metrics and Analytics Engine count what changed a step (a repeat that
    // changed nothing is not an outcome).
    if let (true, Some(destination)) = (changed, step.destination) {
        crate::tally::metrics::count_step(destination, outcome, latency_ms);
        let point = step_point(step.provider, destination, outcome, status, latency_ms);
        crate::analytics::write(&point);
    }
    record_built_at(
        step_level(outcome, !error.is_empty()),
        "step_attempt",
        || {
            json!({
                "step_id": step.step_id,
                "step": step.name,
                "destination": step.destination,
                "provider": step.provider,
                "event_type": step.event_type,
                "outcome": outcome,
                "http_status": status,
                "error": error_code(error),
                "latency_ms": latency_ms,
                "changed": changed,
            })
        },
    );
}
