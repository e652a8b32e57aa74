//! The alert and metrics settings: thresholds and quiet periods ([`AlertSettings`]), where
//! notices go (`ALERT_SLACK_WEBHOOK_URL`; deliberately no fallback to `SLACK_WEBHOOK_URL`, which
//! is a business channel for order notices, not an operations channel; and `ALERT_DESTINATION`,
//! the name of an `http` destination stored through the admin API), how long minute
//! buckets are kept, and the database size the storage alert measures against.

use crate::alerts::AlertSettings;
use crate::by_name::ByName;
use crate::inbound::sources::validate_source_name;
use crate::inbound::webhook::Provider;
use crate::settings::{table, Config, ConfigError};

impl<L: Fn(&str) -> Option<String>> Config<L> {
    /// `ALERT_*` thresholds, quiet periods and rate limits.
    pub fn alerts(&self) -> Result<AlertSettings, ConfigError> {
        Ok(AlertSettings {
            signature_threshold: self.number(table::ALERT_SIGNATURE_FAILURES)?,
            quiet_minutes: quiet_minutes(self.text(table::ALERT_QUIET_MINUTES).as_deref())?,
            renotify_minutes: self.number(table::ALERT_RENOTIFY_MINUTES)?,
            max_per_hour: self.number(table::ALERT_MAX_PER_HOUR)?,
            storage_limit_bytes: self.storage_limit_bytes()?,
        })
    }

    /// The Slack incoming webhook alerts are posted to, if set.
    pub fn alert_slack_url(&self) -> Option<String> {
        self.text(table::ALERT_SLACK_WEBHOOK_URL)
    }

    /// The name of the `http` destination alerts are posted to, if set (whether it exists, is
    /// paused or is `http` at all is D1's to say: see `alerts::channel`).
    pub fn alert_destination(&self) -> Option<String> {
        self.text(table::ALERT_DESTINATION)
    }

    /// `STORAGE_LIMIT_BYTES`: D1's maximum database size for the plan (10 GB on Workers Paid,
    /// 500 MB on Free), which the storage alert and report measure against; 0 turns the
    /// alert off.
    pub fn storage_limit_bytes(&self) -> Result<u64, ConfigError> {
        self.number(table::STORAGE_LIMIT_BYTES)
    }

    /// `METRICS_RETENTION_DAYS` (at least one day).
    pub fn metrics_retention_days(&self) -> Result<u64, ConfigError> {
        Ok(self.number(table::METRICS_RETENTION_DAYS)?.max(1))
    }
}

/// `ALERT_QUIET_MINUTES`: a JSON object of subject → whole minutes, a subject being a provider
/// slug (the provider as a whole; `in`: every registry source together) or `in:<source>` (one
/// registry source, by the name it was created with), e.g.
/// `{"stripe": 60, "shopify": 240, "in:github-main": 30}`. Unset: nothing is watched for silence.
pub fn quiet_minutes(raw: Option<&str>) -> Result<ByName<u64>, ConfigError> {
    let error = |detail: String| ConfigError {
        setting: table::ALERT_QUIET_MINUTES,
        detail,
    };
    let Some(raw) = raw else {
        return Ok(ByName::new());
    };
    let value: serde_json::Value =
        serde_json::from_str(raw).map_err(|_| error("must be a JSON object".into()))?;
    let object = value
        .as_object()
        .ok_or_else(|| error("must be a JSON object".into()))?;
    object
        .iter()
        .map(|(subject, minutes)| {
            if !is_watchable(subject) {
                return Err(error(format!(
                    "{subject} is neither a provider nor in:<registry source name>"
                )));
            }
            let minutes = minutes
                .as_u64()
                .ok_or_else(|| error(format!("{subject}: minutes must be a whole number")))?;
            Ok((subject.clone(), minutes))
        })
        .collect()
}

/// A provider's slug, or `in:` and a valid source name.
fn is_watchable(subject: &str) -> bool {
    let registry = Provider::Registry.slug();
    match subject.split_once(':') {
        None => Provider::from_slug(subject).is_some(),
        Some((provider, name)) => provider == registry && validate_source_name(name).is_ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_minutes_name_providers_and_whole_minutes() {
        assert!(quiet_minutes(None).unwrap().is_empty());
        let parsed = quiet_minutes(Some(r#"{"stripe": 60, "shopify": 5}"#)).unwrap();
        assert_eq!(parsed.get("stripe"), Some(&60));
        let per_source = quiet_minutes(Some(r#"{"in": 60, "in:github-main": 30}"#)).unwrap();
        assert_eq!(per_source.get("in:github-main"), Some(&30));
        assert_eq!(per_source.get("in"), Some(&60), "the registry as a whole");
        for bad in [
            r#"[1]"#,
            r#"{"paypal": 5}"#,
            r#"{"stripe": -1}"#,
            "nope",
            r#"{"stripe:eu": 5}"#,
            r#"{"in:": 5}"#,
            r#"{"in:Bad Name": 5}"#,
        ] {
            let e = quiet_minutes(Some(bad)).unwrap_err();
            assert_eq!(e.setting, "ALERT_QUIET_MINUTES");
            assert!(!e.detail.contains("nope"));
        }
    }

    #[test]
    fn alert_settings_read_their_defaults_and_values() {
        let config = Config::new(
            |name: &str| match name {
                "ALERT_SIGNATURE_FAILURES" => Some("3".into()),
                "ALERT_SLACK_WEBHOOK_URL" => Some(" https://hooks.slack.com/x ".into()),
                _ => None,
            },
            60_000,
        );
        let s = config.alerts().unwrap();
        assert_eq!(
            (s.signature_threshold, s.renotify_minutes, s.max_per_hour),
            (3, 30, 20)
        );
        assert_eq!(
            config.alert_slack_url().as_deref(),
            Some("https://hooks.slack.com/x")
        );
        assert_eq!(config.metrics_retention_days().unwrap(), 7);
        assert_eq!(config.storage_limit_bytes().unwrap(), 10_000_000_000);
        assert_eq!(config.alert_destination(), None);
        let health = config.health();
        assert_eq!(
            health["alert_channels"],
            serde_json::json!({ "slack": "enabled", "http": "disabled" })
        );
    }

    #[test]
    fn alert_destination_names_an_http_destination() {
        let config = Config::new(
            |name: &str| (name == "ALERT_DESTINATION").then(|| " ops-alerts ".into()),
            60_000,
        );
        assert_eq!(config.alert_destination().as_deref(), Some("ops-alerts"));
        assert_eq!(
            config.health()["alert_channels"],
            serde_json::json!({ "slack": "disabled", "http": { "destination": "ops-alerts" } })
        );
    }
}
