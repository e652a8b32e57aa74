//! The alert rules: from [`Observations`] (and which alerts are open), the conditions that hold
//! now. Each rule names what an operator needs: the provider (or registry source, `in:<source>`)
//! and reason code of signature failures (a wrongly rotated secret makes every delivery fail;
//! failed admin sign-ins are counted beside them as `admin`), the provider or registry source
//! gone silent, the destination and error of dead steps, how many events a
//! backfill recovered, how full the database is.

use super::{
    AlertKind, AlertSettings, Condition, Facts, Observations, OpenAlert, BACKFILL_WINDOW_MS,
    SIGNATURE_WINDOW_MS,
};
use crate::metrics::subject;
use crate::retention::storage::{StorageUse, ALERT_AT_PERCENT, CLEAR_BELOW_PERCENT};

/// The key of the storage alert (one database).
pub const STORAGE_KEY: &str = "d1";

/// Every condition that holds now, in a stable order.
pub fn conditions(
    obs: &Observations,
    settings: &AlertSettings,
    open: &[OpenAlert],
) -> Vec<Condition> {
    let mut all = signature_failures(obs, settings);
    all.extend(silent_providers(obs, settings, open));
    all.extend(dead_steps(obs));
    all.extend(open_circuits(obs));
    all.extend(recovered_by_backfill(obs));
    all.extend(storage_high(obs, open));
    all
}

/// A provider (a registry source on its own) and reason at or over the threshold in the last
/// five minutes.
fn signature_failures(obs: &Observations, settings: &AlertSettings) -> Vec<Condition> {
    let minutes = SIGNATURE_WINDOW_MS / 60_000;
    obs.signature_failures
        .iter()
        .filter(|f| settings.signature_threshold > 0 && f.count >= settings.signature_threshold)
        .map(|f| Condition {
            kind: AlertKind::SignatureFailures,
            key: format!("{}:{}", subject(&f.provider, &f.source), f.reason),
            detail: if f.provider == crate::auth::COUNTED_AS {
                format!(
                    "{} admin sign-ins failed ({}) in {minutes} minutes: someone without the token is trying, or a client still uses a retired one",
                    f.count, f.reason
                )
            } else if !f.source.is_empty() {
                format!(
                    "{} deliveries to registry source {} failed verification ({}) in {minutes} minutes: check the source's secret",
                    f.count, f.source, f.reason
                )
            } else {
                format!(
                    "{} {} deliveries failed verification ({}) in {minutes} minutes: check the webhook secret",
                    f.count, f.provider, f.reason
                )
            },
            facts: Facts {
                provider: Some(f.provider.clone()),
                source: (!f.source.is_empty()).then(|| f.source.clone()),
                reason: Some(f.reason.clone()),
                count: Some(f.count),
                window_minutes: Some(minutes as u64),
                ..Facts::default()
            },
        })
        .collect()
}

/// A subject with a quiet period (a provider, or one registry source `in:<source>`) whose last
/// delivery is older than it. "Normally sends": it had deliveries in the window before (between
/// one and two quiet periods ago), or the alert is already open (so it stays open however long
/// the silence lasts). Once the silence outlasts `METRICS_RETENTION_DAYS` nothing says when it
/// last sent (its buckets are swept): an open alert then holds as it is, a subject never seen
/// does not fire.
fn silent_providers(
    obs: &Observations,
    settings: &AlertSettings,
    open: &[OpenAlert],
) -> Vec<Condition> {
    settings
        .quiet_minutes
        .iter()
        .filter(|(_, minutes)| **minutes > 0)
        .filter_map(|(subject, minutes)| {
            let already_open = open
                .iter()
                .find(|a| a.kind == AlertKind::ProviderSilent && a.key == *subject);
            let Some(last) = obs.last_seen_ms.get(subject).copied() else {
                return already_open.map(still_silent);
            };
            let quiet_ms = (*minutes as i64).saturating_mul(60_000);
            let silent_for = obs.now_ms.saturating_sub(last);
            let was_sending = silent_for <= quiet_ms.saturating_mul(2);
            let (provider, source) = match subject.split_once(':') {
                Some((provider, source)) => (provider, Some(source.to_string())),
                None => (subject.as_str(), None),
            };
            let named = match &source {
                Some(source) => format!("registry source {source}"),
                None => provider.to_string(),
            };
            let holds = silent_for > quiet_ms && (was_sending || already_open.is_some());
            holds.then(|| Condition {
                kind: AlertKind::ProviderSilent,
                key: subject.clone(),
                detail: format!(
                    "{named} has sent nothing for {} minutes (quiet period {minutes} minutes)",
                    silent_for / 60_000
                ),
                facts: Facts {
                    provider: Some(provider.to_string()),
                    source,
                    silent_minutes: Some((silent_for / 60_000) as u64),
                    quiet_minutes: Some(*minutes),
                    ..Facts::default()
                },
            })
        })
        .collect()
}

/// An open silent alert whose subject's last bucket was swept: it holds with the detail it has
/// (unchanged, so neither its detail nor its facts are rewritten).
fn still_silent(alert: &OpenAlert) -> Condition {
    Condition {
        kind: AlertKind::ProviderSilent,
        key: alert.key.clone(),
        detail: alert.detail.clone(),
        facts: Facts::default(),
    }
}

fn dead_steps(obs: &Observations) -> Vec<Condition> {
    obs.dead
        .iter()
        .filter(|d| d.count > 0)
        .map(|d| Condition {
            kind: AlertKind::DeadSteps,
            key: format!("{}:{}", d.destination, d.error),
            detail: format!("{} dead steps at {} ({})", d.count, d.destination, d.error),
            facts: Facts {
                destination: Some(d.destination.clone()),
                reason: Some(d.error.clone()),
                count: Some(d.count),
                ..Facts::default()
            },
        })
        .collect()
}

fn open_circuits(obs: &Observations) -> Vec<Condition> {
    obs.open_circuits
        .iter()
        .filter(|(_, until)| *until > obs.now_ms)
        .map(|(destination, until)| Condition {
            kind: AlertKind::CircuitOpen,
            key: destination.clone(),
            detail: format!(
                "circuit to {destination} is open (calls paused for {} more seconds)",
                (until - obs.now_ms + 999) / 1000
            ),
            facts: Facts {
                destination: Some(destination.clone()),
                open_until: Some(*until),
                ..Facts::default()
            },
        })
        .collect()
}

fn recovered_by_backfill(obs: &Observations) -> Vec<Condition> {
    obs.backfills
        .iter()
        .filter(|r| {
            r.ingested > 0 && obs.now_ms.saturating_sub(r.finished_at_ms) < BACKFILL_WINDOW_MS
        })
        .map(|r| Condition {
            kind: AlertKind::BackfillRecovered,
            key: r.id.clone(),
            detail: format!(
                "a {} backfill recovered {} events the webhooks had lost",
                r.provider, r.ingested
            ),
            facts: Facts {
                provider: Some(r.provider.clone()),
                count: Some(r.ingested),
                backfill_run: Some(r.id.clone()),
                ..Facts::default()
            },
        })
        .collect()
}

/// The database at [`ALERT_AT_PERCENT`] of `STORAGE_LIMIT_BYTES` or more; an open alert holds
/// until it is back under [`CLEAR_BELOW_PERCENT`]. When D1 gave no size, an open alert stays as
/// it is (it must not clear because nothing was measured).
fn storage_high(obs: &Observations, open: &[OpenAlert]) -> Option<Condition> {
    let already_open = open
        .iter()
        .find(|a| a.kind == AlertKind::StorageHigh && a.key == STORAGE_KEY);
    let Some(usage) = obs.storage else {
        return already_open.map(|alert| Condition {
            kind: AlertKind::StorageHigh,
            key: STORAGE_KEY.into(),
            detail: alert.detail.clone(),
            facts: Facts::default(),
        });
    };
    let holds = usage.reaches(ALERT_AT_PERCENT)
        || (already_open.is_some() && usage.reaches(CLEAR_BELOW_PERCENT));
    holds.then(|| Condition {
        kind: AlertKind::StorageHigh,
        key: STORAGE_KEY.into(),
        detail: storage_detail(&usage),
        facts: Facts {
            bytes_used: Some(usage.bytes_used),
            bytes_limit: Some(usage.limit_bytes),
            ..Facts::default()
        },
    })
}

/// `the D1 database uses 81% of its storage limit (8.12 of 10.00 GB): …` (integers only: no
/// float formatting in the wasm).
fn storage_detail(usage: &StorageUse) -> String {
    let gb = |bytes: u64| {
        let hundredths = bytes / 10_000_000;
        format!("{}.{:02}", hundredths / 100, hundredths % 100)
    };
    format!(
        "the D1 database uses {}% of its storage limit ({} of {} GB): ingest answers 503 once it \
         is full; lower RETENTION_DAYS, redrive or replay old dead steps",
        usage.percent().unwrap_or(0),
        gb(usage.bytes_used),
        gb(usage.limit_bytes)
    )
}
