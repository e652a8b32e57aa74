//! When a notice about an alert may go out, and what it says. A notice is due when an alert
//! fires or clears; it waits while the alert (its kind and key, across firings) had a notice in
//! the last `renotify_minutes`, while the hour's global cap is spent, or after a failed send
//! until its backoff passes. A waiting notice is never dropped: a later cron sends it, unless a
//! later firing of its kind and key supersedes it (only the latest state is announced). Each
//! channel (Slack, the `http` destination) is decided on its own: its own last notice, its own
//! hourly cap, its own failures.

use super::{AlertSettings, Facts};

/// What a notice announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeState {
    Fired,
    Cleared,
}

impl NoticeState {
    pub fn name(self) -> &'static str {
        match self {
            NoticeState::Fired => "fired",
            NoticeState::Cleared => "cleared",
        }
    }

    pub fn from_name(name: &str) -> Option<NoticeState> {
        match name {
            "fired" => Some(NoticeState::Fired),
            "cleared" => Some(NoticeState::Cleared),
            _ => None,
        }
    }
}

/// A notice waiting to be sent on one channel, as stored on its alert and that channel's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingNotice {
    pub alert_id: i64,
    pub kind: String,
    pub key: String,
    pub detail: String,
    pub state: NoticeState,
    pub fired_at_ms: i64,
    pub cleared_at_ms: Option<i64>,
    pub facts: Facts,
    /// Failed sends of this notice so far (on the channel deciding).
    pub attempts: u32,
    /// After a failed send: not before this time.
    pub next_try_at_ms: Option<i64>,
    /// The last notice this channel sent for this kind and key (any firing).
    pub last_notified_at_ms: Option<i64>,
}

/// Whether to send a notice now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Send,
    /// The alert's own rate limit or backoff: not before this time.
    WaitUntil(i64),
    /// The global hourly cap is spent.
    Capped,
}

/// Longest pause between two tries of a failing notice.
pub const MAX_BACKOFF_MS: i64 = 30 * 60_000;

/// Pause after the `attempts`-th failed send: 1, 2, 4 ... minutes, at most [`MAX_BACKOFF_MS`].
pub fn backoff_ms(attempts: u32) -> i64 {
    let exponent = attempts.saturating_sub(1).min(20);
    (60_000i64 << exponent).min(MAX_BACKOFF_MS)
}

/// Decide one notice, given how many notices went out in the last hour (including those this
/// cron already sent).
pub fn decide(
    notice: &PendingNotice,
    now_ms: i64,
    settings: &AlertSettings,
    sent_last_hour: u64,
) -> Decision {
    if let Some(next) = notice.next_try_at_ms.filter(|t| *t > now_ms) {
        return Decision::WaitUntil(next);
    }
    let spacing = settings.renotify_ms();
    if let Some(last) = notice.last_notified_at_ms {
        let allowed = last.saturating_add(spacing);
        if allowed > now_ms {
            return Decision::WaitUntil(allowed);
        }
    }
    if sent_last_hour >= settings.max_per_hour {
        return Decision::Capped;
    }
    Decision::Send
}

/// The notice's text (Slack `text`; also the http destination's `text`).
pub fn text(notice: &PendingNotice) -> String {
    let head = match notice.state {
        NoticeState::Fired => "FIRING",
        NoticeState::Cleared => "CLEARED",
    };
    format!(
        "[edgehooks] {head} {} {}: {}",
        notice.kind, notice.key, notice.detail
    )
}

/// The Slack incoming-webhook request announcing `notice`.
pub fn slack_request(url: &str, notice: &PendingNotice) -> crate::downstream::HttpRequestSpec {
    crate::downstream::HttpRequestSpec {
        method: "POST",
        url: url.to_string(),
        headers: vec![("Content-Type".into(), "application/json".into())],
        body: serde_json::json!({ "text": text(notice) }).to_string(),
    }
}
