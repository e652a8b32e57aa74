//! The scoping of configuration errors across features, read through one lookup as the shell
//! does.

use std::cell::RefCell;
use std::collections::HashMap;

use super::*;
use crate::inbound::webhook::Provider;
use crate::ingest::MAX_BODY_BYTES_LIMIT;
use crate::settings::table;

const LEASE_MS: i64 = 15 * 60_000;

/// A configuration of exactly `pairs` (also the `secrets` tests').
pub(super) fn config(pairs: &[(&str, &str)]) -> Config<impl Fn(&str) -> Option<String>> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::new(move |name: &str| map.get(name).cloned(), LEASE_MS)
}

const ALL_PROVIDERS: [(&str, &str); 3] = [
    ("STRIPE_WEBHOOK_SECRETS", "whsec_a"),
    ("HUBSPOT_CLIENT_SECRETS", "hs"),
    ("SHOPIFY_WEBHOOK_SECRETS", "shp"),
];

fn states(c: &Config<impl Fn(&str) -> Option<String>>) -> Vec<(Provider, bool)> {
    Provider::ALL
        .iter()
        .map(|&p| (p, c.provider(p).is_ok()))
        .collect()
}

#[test]
fn a_broken_secret_list_stops_only_its_provider() {
    let mut pairs = ALL_PROVIDERS.to_vec();
    pairs[2] = ("SHOPIFY_WEBHOOK_SECRETS", "shp_super_secret,,b");
    let c = config(&pairs);
    let err = c.provider(Provider::Shopify).err().unwrap();
    assert_eq!(err.setting, "SHOPIFY_WEBHOOK_SECRETS");
    assert!(!err.to_string().contains("shp_super_secret"));
    assert!(c.provider(Provider::Stripe).is_ok());
    assert!(c.provider(Provider::HubSpot).is_ok());
    let health = c.health();
    assert_eq!(health["providers"]["shopify"], "misconfigured");
    assert_eq!(health["providers"]["stripe"], "enabled");
    assert_eq!(health["providers"]["sendgrid"], "disabled");
    assert!(!health.to_string().contains("shp_super_secret"));
}

#[test]
fn a_routes_section_broken_for_one_provider_stops_only_it() {
    let mut pairs = ALL_PROVIDERS.to_vec();
    pairs.push((
        "ROUTES_JSON",
        r#"{"stripe": {"invoice.paid": ["no.such_step"]}}"#,
    ));
    let c = config(&pairs);
    let err = c.provider(Provider::Stripe).err().unwrap();
    assert_eq!(err.setting, "ROUTES_JSON");
    assert!(c.provider(Provider::HubSpot).is_ok());
    assert!(c.provider(Provider::Shopify).is_ok());
    assert_eq!(
        c.health()["misconfigured"],
        serde_json::json!([{ "affects": "stripe", "setting": "ROUTES_JSON" }])
    );
}

#[test]
fn routes_that_cannot_be_attributed_stop_every_provider() {
    for text in ["not json", "[1]", r#"{"paypal": {}}"#] {
        let mut pairs = ALL_PROVIDERS.to_vec();
        pairs.push(("ROUTES_JSON", text));
        let c = config(&pairs);
        assert!(
            states(&c)
                .iter()
                .filter(|(p, _)| *p != Provider::SendGrid)
                .all(|(_, ok)| !ok),
            "{text}"
        );
        // A disabled provider stays disabled, not misconfigured.
        assert!(c.provider(Provider::SendGrid).unwrap().keys.is_empty());
    }
}

#[test]
fn tolerance_matters_only_to_timestamp_signers_and_steps_settings_only_to_steps() {
    let mut pairs = ALL_PROVIDERS.to_vec();
    pairs.push(("SIGNATURE_TOLERANCE_SECONDS", "5m"));
    pairs.push(("DOWNSTREAM_TIMEOUT_MS", "900000"));
    pairs.push(("RETENTION_DAYS", "0"));
    let c = config(&pairs);
    assert!(c.provider(Provider::Shopify).is_ok());
    assert_eq!(
        c.provider(Provider::Stripe).err().unwrap().setting,
        "SIGNATURE_TOLERANCE_SECONDS"
    );
    assert_eq!(c.consumer().unwrap_err().setting, "DOWNSTREAM_TIMEOUT_MS");
    assert_eq!(c.retention_days().unwrap_err().setting, "RETENTION_DAYS");
    let health = c.health();
    let affected: Vec<_> = health["misconfigured"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["affects"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(affected, ["stripe", "hubspot", "steps", "retention"]);
}

#[test]
fn defaults_come_from_the_table() {
    let c = config(&[
        ("STRIPE_WEBHOOK_SECRETS", "whsec_a"),
        ("CIRCUIT_COOL_DOWN_SECONDS", " "),
    ]);
    let settings = c.provider(Provider::Stripe).unwrap().settings;
    assert_eq!(settings.tolerance_secs, 300);
    assert_eq!(settings.max_body_bytes, 1_048_576);
    assert_eq!(settings.hint_ttl_secs, 3 * 24 * 3600);
    let consumer = c.consumer().unwrap();
    assert_eq!(consumer.policy, crate::steps::retry::RetryPolicy::default());
    assert_eq!(consumer.timeout_ms, 10_000);
    assert_eq!(consumer.cool_down_ms, None);
    assert_eq!(
        c.retention_days().unwrap(),
        crate::retention::DEFAULT_RETENTION_DAYS
    );
    let cool = config(&[("CIRCUIT_COOL_DOWN_SECONDS", "90")]);
    assert_eq!(cool.consumer().unwrap().cool_down_ms, Some(90_000));
    assert_eq!(
        config(&[("CIRCUIT_COOL_DOWN_SECONDS", "soon")])
            .consumer()
            .unwrap_err()
            .setting,
        "CIRCUIT_COOL_DOWN_SECONDS"
    );
}

/// Everything the readers ask for is in the table, and everything in the table is read.
#[test]
fn readers_ask_only_for_listed_names_and_read_them_all() {
    let asked = RefCell::new(Vec::<String>::new());
    let c = Config::new(
        |name: &str| {
            asked.borrow_mut().push(name.to_string());
            // Every secret list and token set, so that what depends on them is read too.
            let rule = table::find(name).map(|s| s.rule);
            let placeholder = matches!(
                rule,
                Some(table::Rule::SecretList | table::Rule::TokenList | table::Rule::Text)
            );
            placeholder.then(|| "x".to_string())
        },
        LEASE_MS,
    );
    let _ = c.health();
    let _ = c.admin_tokens();
    let _ = c.secret_values();
    let asked = asked.into_inner();
    for name in &asked {
        assert!(table::find(name).is_some(), "{name} is read but not listed");
    }
    for s in table::SETTINGS {
        assert!(
            asked.iter().any(|n| n == s.name),
            "{} is listed but never read",
            s.name
        );
    }
}

#[test]
fn secret_values_cover_each_entry_of_a_list() {
    let c = config(&[("STRIPE_WEBHOOK_SECRETS", "a, b"), ("MAX_ATTEMPTS", "7")]);
    let values = c.secret_values();
    assert!(values.contains(&"a".to_string()) && values.contains(&"b".to_string()));
    assert!(values.contains(&"a, b".to_string()));
    assert!(!values.contains(&"7".to_string()));
}

#[test]
fn each_source_reads_its_own_keys_and_reports_by_setting_name() {
    let c = config(&[
        ("WEBHOOK_SOURCES", "stripe:eu,stripe:us,shopify:store-a"),
        ("STRIPE_WEBHOOK_SECRETS", "whsec_default"),
        ("STRIPE_WEBHOOK_SECRETS__EU", "whsec_eu_secret"),
        ("SHOPIFY_WEBHOOK_SECRETS__STORE_A", "shp_a,,shp_b_secret"),
    ]);
    let keys = |source| match c.source(Provider::Stripe, source).unwrap() {
        Some(config) => format!("{:?}", config.keys),
        None => "not found".into(),
    };
    assert!(keys(Some("eu")).contains("whsec_eu_secret"));
    assert!(!keys(Some("eu")).contains("whsec_default"));
    assert!(keys(None).contains("whsec_default"));
    // Declared without a key: disabled like a provider; undeclared: not found.
    assert!(c
        .source(Provider::Stripe, Some("us"))
        .unwrap()
        .is_some_and(|config| config.keys.is_empty()));
    assert_eq!(keys(Some("asia")), "not found");
    assert!(c.source(Provider::Shopify, Some("eu")).unwrap().is_none());
    let err = c.source(Provider::Shopify, Some("store-a")).err().unwrap();
    assert!(err.detail.contains("SHOPIFY_WEBHOOK_SECRETS__STORE_A"));
    assert!(!err.to_string().contains("shp_b_secret"));

    let health = c.health();
    assert_eq!(health["sources"]["stripe:eu"], "enabled");
    assert_eq!(health["sources"]["stripe:us"], "disabled");
    assert_eq!(health["sources"]["shopify:store-a"], "misconfigured");
    assert_eq!(health["providers"]["shopify"], "disabled");
    assert!(health["misconfigured"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["setting"] == "SHOPIFY_WEBHOOK_SECRETS__STORE_A"
            && p["affects"] == "shopify:store-a"));
    assert!(!health.to_string().contains("secret"));
    // Source secrets are scrubbed like the table's.
    assert!(c.secret_values().iter().any(|v| v == "whsec_eu_secret"));
}

#[test]
fn a_broken_source_list_stops_only_named_sources() {
    let c = config(&[
        ("WEBHOOK_SOURCES", "stripe:EU"),
        ("STRIPE_WEBHOOK_SECRETS", "whsec_default"),
    ]);
    assert_eq!(
        c.source(Provider::Stripe, Some("eu"))
            .err()
            .unwrap()
            .setting,
        "WEBHOOK_SOURCES"
    );
    assert!(c.source(Provider::Stripe, None).is_ok());
    let health = c.health();
    assert_eq!(health["providers"]["stripe"], "enabled");
    assert_eq!(health["misconfigured"][0]["setting"], "WEBHOOK_SOURCES");
}

#[test]
fn log_level_defaults_to_warn_and_a_bad_value_is_named_in_health() {
    use crate::log_level::LogLevel;
    let unset = config(&[]);
    assert_eq!(unset.log_level(), LogLevel::Warn);
    assert_eq!(unset.health()["log_level"], "warn");
    let info = config(&[("LOG_LEVEL", " INFO ")]);
    assert_eq!(info.log_level(), LogLevel::Info);
    assert_eq!(info.health()["log_level"], "info");
    assert_eq!(info.health()["misconfigured"], serde_json::json!([]));
    let typo = config(&[("LOG_LEVEL", "verbose")]);
    // A typo logs everything rather than hiding lines, and /health says which setting is wrong.
    assert_eq!(typo.log_level(), LogLevel::Info);
    assert_eq!(typo.log_level_checked().unwrap_err().setting, "LOG_LEVEL");
    assert_eq!(
        typo.health()["misconfigured"],
        serde_json::json!([{ "affects": "logs", "setting": "LOG_LEVEL" }])
    );
}

/// Hints are written for repeats only, with no setting: a `DEDUPE_HINT_ON_REPEAT` left in an
/// older deployment's `[vars]` is not read, whatever it holds.
#[test]
fn the_removed_hint_setting_is_not_read() {
    for value in ["true", "false", "sometimes"] {
        let c = config(&[ALL_PROVIDERS[0], ("DEDUPE_HINT_ON_REPEAT", value)]);
        assert!(c.provider(Provider::Stripe).is_ok(), "{value}");
        assert_eq!(
            c.health()["misconfigured"],
            serde_json::json!([]),
            "{value}"
        );
    }
    assert!(table::find("DEDUPE_HINT_ON_REPEAT").is_none());
}

#[test]
fn max_body_bytes_above_what_a_d1_row_holds_is_misconfigured() {
    let at_limit = MAX_BODY_BYTES_LIMIT.to_string();
    let c = config(&[ALL_PROVIDERS[0], ("MAX_BODY_BYTES", at_limit.as_str())]);
    let settings = c.provider(Provider::Stripe).unwrap().settings;
    assert_eq!(settings.max_body_bytes, MAX_BODY_BYTES_LIMIT);

    let above = (MAX_BODY_BYTES_LIMIT + 1).to_string();
    let c = config(&[ALL_PROVIDERS[0], ("MAX_BODY_BYTES", above.as_str())]);
    let err = c.provider(Provider::Stripe).err().unwrap();
    assert_eq!(err.setting, "MAX_BODY_BYTES");
    assert!(err.detail.contains("at most 1900000"), "{}", err.detail);
    assert_eq!(
        c.health()["misconfigured"],
        serde_json::json!([{ "affects": "stripe", "setting": "MAX_BODY_BYTES" }])
    );
}

const LONG_TOKEN: &str = "0123456789abcdef0123456789abcdef";

#[test]
fn bearer_sign_in_and_access_sign_in_are_reported_apart() {
    let access = [
        ("ACCESS_TEAM_DOMAIN", "myteam"),
        ("ACCESS_AUD", "aud-tag"),
        ("ACCESS_ROLES_JSON", r#"{"*@example.com":"viewer"}"#),
    ];
    let health = config(&access).health();
    assert_eq!(
        (&health["admin"], &health["access"], &health["status"]),
        (&json!("disabled"), &json!("enabled"), &json!("ok")),
        "no ADMIN_TOKEN: bearer sign-in off, Access still on"
    );
}

#[test]
fn admin_tokens_are_a_rotation_list_of_long_tokens() {
    assert_eq!(config(&[]).admin_tokens().unwrap(), Vec::<String>::new());
    let next = format!("{LONG_TOKEN}-next");
    let list = format!(" {LONG_TOKEN} , {next} ");
    let c = config(&[("ADMIN_TOKEN", list.as_str())]);
    assert_eq!(
        c.admin_tokens().unwrap(),
        vec![LONG_TOKEN.to_string(), next]
    );
    assert_eq!(c.health()["admin"], "enabled");
    assert_eq!(config(&[]).health()["admin"], "disabled");

    let short = format!("{LONG_TOKEN},short-secret-value");
    let c = config(&[("ADMIN_TOKEN", short.as_str())]);
    let err = c.admin_tokens().unwrap_err();
    assert_eq!(err.setting, "ADMIN_TOKEN");
    assert_eq!(err.detail, "entry 1 is shorter than 24 characters");
    assert_eq!(c.health()["admin"], "misconfigured");
    assert_eq!(
        c.health()["misconfigured"],
        serde_json::json!([{ "affects": "admin", "setting": "ADMIN_TOKEN" }])
    );
    assert!(!c.health().to_string().contains("short-secret-value"));
    // 24 characters is the floor: 23 is refused, 24 taken.
    let edge = |n: usize| config(&[("ADMIN_TOKEN", &LONG_TOKEN[..n])]).admin_tokens();
    assert!(edge(23).is_err());
    assert_eq!(edge(24).unwrap(), vec![LONG_TOKEN[..24].to_string()]);
    let err = config(&[("ADMIN_TOKEN", "a,,b")])
        .admin_tokens()
        .unwrap_err();
    assert!(err.detail.contains("entry 1"));
}

#[test]
fn public_health_is_the_state_alone() {
    let mut pairs = ALL_PROVIDERS.to_vec();
    pairs.push(("ADMIN_TOKEN", LONG_TOKEN));
    pairs.push(("WEBHOOK_SOURCES", "stripe:eu"));
    pairs.push(("STORAGE_LIMIT_BYTES", "1000"));
    let fine = config(&pairs);
    let (small, high) = (Some(100), Some(812));
    assert_eq!(
        fine.public_health(small),
        serde_json::json!({ "status": "ok" })
    );
    assert_eq!(
        fine.public_health(None),
        serde_json::json!({ "status": "ok" })
    );
    assert_eq!(fine.health()["status"], "ok");
    assert_eq!(fine.health_detail(small)["storage"]["state"], "ok");

    // At 80% or more: still serving, so degraded; the figures are the admin's alone.
    assert_eq!(
        fine.public_health(high),
        serde_json::json!({ "status": "degraded" })
    );
    let detail = fine.health_detail(high);
    assert_eq!(detail["status"], "degraded");
    assert_eq!(
        detail["storage"],
        serde_json::json!({ "state": "high", "bytes_used": 812, "limit_bytes": 1000,
                            "percent": 81, "alert_at_percent": 80 })
    );
    assert_eq!(detail["misconfigured"], serde_json::json!([]));

    pairs.push(("MAX_ATTEMPTS", "ten"));
    let broken = config(&pairs);
    assert_eq!(
        broken.public_health(high),
        serde_json::json!({ "status": "misconfigured" })
    );
    assert_eq!(broken.health()["status"], "misconfigured");
    assert_eq!(broken.health()["sources"]["stripe:eu"], "disabled");
}

#[test]
fn the_stripe_backfill_stores_in_the_source_its_account_posts_to() {
    let base = [
        ("STRIPE_API_KEY", "sk_test_backfill"),
        ("WEBHOOK_SOURCES", "stripe:eu,shopify:store-a"),
    ];
    let with = |value: &str| {
        let mut settings = base.to_vec();
        settings.push(("STRIPE_BACKFILL_SOURCE", value));
        config(&settings).backfill()
    };
    assert_eq!(config(&base).backfill().unwrap().unwrap().source, None);
    assert_eq!(with("default").unwrap().unwrap().source, None);
    assert_eq!(with(" eu ").unwrap().unwrap().source.as_deref(), Some("eu"));
    // Only a declared Stripe source: not another provider's, not an undeclared one.
    for wrong in ["store-a", "us"] {
        let err = with(wrong).err().unwrap();
        assert_eq!(err.setting, "STRIPE_BACKFILL_SOURCE");
        let mut settings = base.to_vec();
        settings.push(("STRIPE_BACKFILL_SOURCE", wrong));
        let health = config(&settings).health();
        assert_eq!(health["backfill"], "misconfigured");
    }
}

#[test]
fn the_registry_names_its_key_setting() {
    let key = "ZWRnZWhvb2tzLWxvY2FsLWRldi1zZWNyZXRzLWtleSE=";
    for (value, state, status) in [
        (None, "disabled", "ok"),
        (Some(key), "enabled", "ok"),
        (Some("short"), "misconfigured", "misconfigured"),
    ] {
        let pairs: Vec<(&str, &str)> = value.map(|v| ("SECRETS_KEY", v)).into_iter().collect();
        let health = config(&pairs).health();
        assert_eq!(health["registry"]["state"], state, "{value:?}");
        assert_eq!(health["registry"]["setting"], "SECRETS_KEY");
        assert_eq!(health["status"], status, "{value:?}");
    }
}
