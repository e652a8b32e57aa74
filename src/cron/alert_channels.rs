//! Sending the alert notices that are due, on each configured channel on its own: Slack
//! (`ALERT_SLACK_WEBHOOK_URL`) and the `http` destination named by `ALERT_DESTINATION` (signed
//! per Standard Webhooks with its secrets, within its timeout; paused, unknown or not `http`:
//! the notice is held with a code shown in the admin page's alert list). Each channel has its own
//! rate limit, hourly cap, failures and backoff: one failing neither blocks nor repeats the
//! other. Afterwards a notice every configured channel has delivered is settled.

use edgehooks_handlers::alerts::body::http_request;
use edgehooks_handlers::alerts::channel::{Channel, HttpChannel, StoredDestination};
use edgehooks_handlers::alerts::notify::{
    backoff_ms, decide, slack_request, Decision, NoticeState, PendingNotice,
};
use edgehooks_handlers::alerts::{AlertSettings, Facts};
use worker::{D1Database, Env};

use crate::config::config;
use crate::sealing::open_destination;
use crate::{db, downstream, log};

/// Timeout of one Slack notice's send (an `http` destination has its own).
const SLACK_TIMEOUT_MS: u64 = 10_000;

/// Where one channel sends.
enum Target<'a> {
    Slack(&'a str),
    Http(&'a HttpChannel),
}

impl Target<'_> {
    fn channel(&self) -> Channel {
        match self {
            Target::Slack(_) => Channel::Slack,
            Target::Http(_) => Channel::Http,
        }
    }
}

/// Send what is due on every configured channel, then settle. With no channel configured the
/// notices stay pending (the alert list says so).
pub async fn send(env: &Env, d1: &D1Database, settings: &AlertSettings, now: i64) {
    let slack = config(env).alert_slack_url();
    let http = match config(env).alert_destination() {
        None => None,
        Some(name) => match http_channel(env, d1, &name).await {
            Ok(channel) => Some(channel),
            Err(e) => return log::error("alerts_destination_unreadable", &e.to_string()),
        },
    };
    let mut targets = Vec::new();
    if let Some(url) = &slack {
        targets.push(Target::Slack(url));
    }
    if let Some(channel) = &http {
        targets.push(Target::Http(channel));
    }
    for target in &targets {
        if let Err(e) = send_channel(d1, settings, now, target).await {
            let detail = format!("{}: {e}", target.channel().name());
            log::error("alerts_notice_failed", &detail);
        }
    }
    if let Err(e) = db::alerts::settle_notices(d1, slack.is_some(), http.is_some()).await {
        log::error("alerts_notice_failed", &e.to_string());
    }
}

/// The configured `http` destination's state in D1.
pub async fn http_channel(env: &Env, d1: &D1Database, name: &str) -> worker::Result<HttpChannel> {
    if !HttpChannel::names_http(name) {
        return Ok(HttpChannel::resolve(name, None));
    }
    let stored = match db::alerts::alert_destination(d1, name).await? {
        Some((kind, row)) => Some(StoredDestination {
            kind,
            destination: open_destination(env, &row).await,
        }),
        None => None,
    };
    Ok(HttpChannel::resolve(name, stored))
}

fn wall_clock_secs() -> i64 {
    crate::clock::now_ms() / 1000
}

fn pending(row: db::alerts::NoticeRow) -> Option<PendingNotice> {
    Some(PendingNotice {
        alert_id: row.id,
        state: NoticeState::from_name(&row.notice)?,
        facts: Facts::from_json(row.facts.as_deref()),
        kind: row.kind,
        key: row.key,
        detail: row.detail,
        fired_at_ms: row.fired_at,
        cleared_at_ms: row.cleared_at,
        attempts: row.notice_attempts.clamp(0, u32::MAX as i64) as u32,
        next_try_at_ms: row.notice_next_at,
        last_notified_at_ms: row.last_notified_at,
    })
}

async fn send_channel(
    d1: &D1Database,
    settings: &AlertSettings,
    now: i64,
    target: &Target<'_>,
) -> worker::Result<()> {
    let channel = target.channel().name();
    if let Target::Http(held) = target {
        if !matches!(held, HttpChannel::Ready(_)) {
            return db::alerts::hold_pending(d1, channel, held.state()).await;
        }
    }
    let spacing = settings.renotify_ms();
    let notices: Vec<PendingNotice> = db::alerts::pending_notices(d1, channel, now, spacing)
        .await?
        .into_iter()
        .filter_map(pending)
        .collect();
    if notices.is_empty() {
        return Ok(());
    }
    let mut sent = db::alerts::notices_sent_since(d1, now - 3_600_000, channel).await?;
    for notice in &notices {
        match decide(notice, now, settings, sent) {
            Decision::Send => {}
            Decision::WaitUntil(_) => continue,
            Decision::Capped => {
                let fields = serde_json::json!({ "id": notice.alert_id, "channel": channel });
                log::warn("alert_notice_capped", fields);
                continue;
            }
        }
        if deliver(d1, now, target, notice).await? {
            sent += 1;
        }
    }
    Ok(())
}

/// Send one notice on one channel and record the outcome; whether it went out.
async fn deliver(
    d1: &D1Database,
    now: i64,
    target: &Target<'_>,
    notice: &PendingNotice,
) -> worker::Result<bool> {
    let channel = target.channel().name();
    let (spec, timeout_ms) = match target {
        Target::Slack(url) => (slack_request(url, notice), SLACK_TIMEOUT_MS),
        // Signed at the wall clock (the receiver checks it against its own), not at the cron's
        // scheduled time.
        Target::Http(HttpChannel::Ready(destination)) => (
            http_request(destination, notice, wall_clock_secs()),
            u64::from(destination.timeout_ms),
        ),
        // Not ready: `send_channel` held every notice due before deciding any.
        Target::Http(_) => return Ok(false),
    };
    let outcome = downstream::call(&spec, timeout_ms).await;
    let fields = |extra: serde_json::Value| {
        let mut fields = serde_json::json!({ "id": notice.alert_id, "channel": channel });
        if let (Some(map), serde_json::Value::Object(more)) = (fields.as_object_mut(), extra) {
            map.extend(more);
        }
        fields
    };
    if matches!(outcome.status, Some(status) if (200..300).contains(&status)) {
        db::alerts::notice_sent(d1, notice.alert_id, channel, notice.state.name(), now).await?;
        let extra = serde_json::json!({ "kind": notice.kind, "key": notice.key, "state": notice.state.name() });
        log::record("alert_notified", fields(extra));
        return Ok(true);
    }
    let code = log::error_code(outcome.error.as_deref().unwrap_or("send_failed"))
        .unwrap_or("send_failed")
        .to_string();
    let next = now + backoff_ms(notice.attempts.saturating_add(1));
    db::alerts::notice_failed(d1, notice.alert_id, channel, next, &code).await?;
    let extra = serde_json::json!({ "error": code, "next_try_at": next });
    log::warn("alert_notice_failed", fields(extra));
    Ok(false)
}

/// The channels as the admin page shows them: `{"slack": "configured" | "not_configured",
/// "http": null | {"destination": <name>, "state": "ready" | <held code>}}`.
pub async fn channels_view(env: &Env, d1: &D1Database) -> worker::Result<serde_json::Value> {
    let slack = match config(env).alert_slack_url() {
        Some(_) => "configured",
        None => "not_configured",
    };
    let http = match config(env).alert_destination() {
        None => serde_json::Value::Null,
        Some(name) => {
            let channel = http_channel(env, d1, &name).await?;
            serde_json::json!({ "destination": channel.name(), "state": channel.state() })
        }
    };
    Ok(serde_json::json!({ "slack": slack, "http": http }))
}
