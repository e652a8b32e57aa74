//! What an `http` destination receives for an alert notice: a stable JSON body (documented in
//! docs/contract.md, "Alert notices") POSTed and signed exactly as event deliveries are
//! ([`delivery_request`]: Standard Webhooks headers with every secret of the destination).
//! `webhook-id` is `alert_<id>_<fired|cleared>`, the same on every retry of one notice, so a
//! receiver can drop a repeat.

use serde_json::{json, Value};

use super::notify::{text, NoticeState, PendingNotice};
use super::Facts;
use crate::connections::delivery::delivery_request;
use crate::connections::HttpDestination;
use crate::downstream::HttpRequestSpec;

/// The `edgehooks-provider` header of an alert notice (it comes from edgehooks itself).
pub const ALERT_PROVIDER: &str = "edgehooks";

/// The notice's event type: `alert.fired` or `alert.cleared`.
pub fn event_type(state: NoticeState) -> &'static str {
    match state {
        NoticeState::Fired => "alert.fired",
        NoticeState::Cleared => "alert.cleared",
    }
}

/// The notice's `webhook-id`, stable across retries of one notice.
pub fn message_id(notice: &PendingNotice) -> String {
    format!("alert_{}_{}", notice.alert_id, notice.state.name())
}

/// The body: `{"type", "alert": {id, kind, key, state, detail, fired_at, cleared_at, provider,
/// source, destination, reason, count, window_minutes, silent_minutes, quiet_minutes, open_until,
/// backfill_run, bytes_used, bytes_limit}, "text"}`; every key is always present (`null` when it
/// does not apply).
pub fn alert_body(notice: &PendingNotice) -> Value {
    let Facts {
        provider,
        source,
        destination,
        reason,
        count,
        window_minutes,
        silent_minutes,
        quiet_minutes,
        open_until,
        backfill_run,
        bytes_used,
        bytes_limit,
    } = &notice.facts;
    json!({
        "type": event_type(notice.state),
        "alert": {
            "id": notice.alert_id,
            "kind": notice.kind,
            "key": notice.key,
            "state": notice.state.name(),
            "detail": notice.detail,
            "fired_at": notice.fired_at_ms,
            "cleared_at": notice.cleared_at_ms,
            "provider": provider,
            "source": source,
            "destination": destination,
            "reason": reason,
            "count": count,
            "window_minutes": window_minutes,
            "silent_minutes": silent_minutes,
            "quiet_minutes": quiet_minutes,
            "open_until": open_until,
            "backfill_run": backfill_run,
            "bytes_used": bytes_used,
            "bytes_limit": bytes_limit,
        },
        "text": text(notice),
    })
}

/// The signed POST announcing `notice` to `destination` at `now_secs`.
pub fn http_request(
    destination: &HttpDestination,
    notice: &PendingNotice,
    now_secs: i64,
) -> HttpRequestSpec {
    delivery_request(
        destination,
        &message_id(notice),
        ALERT_PROVIDER,
        event_type(notice.state),
        &alert_body(notice).to_string(),
        now_secs,
    )
}
