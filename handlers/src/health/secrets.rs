//! The admin health's warning about secrets at rest: `SECRETS_KEY` unset (new destination
//! secrets are stored as given, no source can be added), or rows in D1 still holding a
//! plaintext secret (written before sealing existed or while the key was unset: the cron
//! sweeper seals them a page a tick once the key is set, see `crate::connections::reseal`).
//! A warning, not a misconfiguration: deliveries still sign and `status` is unchanged. It
//! counts rows and names the setting; never a secret, a destination or a source.

use serde_json::{json, Value};

use crate::settings::table::SECRETS_KEY;
use crate::settings::Config;

/// What `secrets_at_rest` affects in a warning.
pub const AFFECTS: &str = "secrets_at_rest";

/// Rows D1 holds with a plaintext secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PlaintextRows {
    pub destinations: u64,
    pub sources: u64,
}

impl<L: Fn(&str) -> Option<String>> Config<L> {
    /// The warning, if any: the key's state (`unset`, `misconfigured`, `set`) and the plaintext
    /// rows (`None`: D1 did not say). None only when the key is set and no row is plaintext.
    pub fn secrets_at_rest_warning(&self, plaintext: Option<PlaintextRows>) -> Option<Value> {
        let key = match self.secrets_key() {
            Ok(Some(_)) => "set",
            Ok(None) => "unset",
            Err(_) => "misconfigured",
        };
        if key == "set" && plaintext == Some(PlaintextRows::default()) {
            return None;
        }
        Some(json!({
            "affects": AFFECTS,
            "setting": SECRETS_KEY,
            "key": key,
            "plaintext": plaintext.map(|p| json!({
                "destinations": p.destinations,
                "sources": p.sources,
            })),
        }))
    }
}

/// The admin health with its `warnings` list (empty when there is nothing to say).
pub fn with_warnings(mut health: Value, warnings: impl IntoIterator<Item = Value>) -> Value {
    if let Some(fields) = health.as_object_mut() {
        fields.insert("warnings".into(), warnings.into_iter().collect());
    }
    health
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::tests::config;

    const NONE: Option<PlaintextRows> = Some(PlaintextRows {
        destinations: 0,
        sources: 0,
    });

    #[test]
    fn a_set_key_and_no_plaintext_row_is_no_warning() {
        let key = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [4u8; 32]);
        let keyed = config(&[("SECRETS_KEY", key.as_str())]);
        assert_eq!(keyed.secrets_at_rest_warning(NONE), None);
        let rows = PlaintextRows {
            destinations: 2,
            sources: 1,
        };
        assert_eq!(
            keyed.secrets_at_rest_warning(Some(rows)),
            Some(json!({
                "affects": "secrets_at_rest", "setting": "SECRETS_KEY", "key": "set",
                "plaintext": { "destinations": 2, "sources": 1 },
            }))
        );
        let unknown = keyed
            .secrets_at_rest_warning(None)
            .expect("unknown is not sealed");
        assert_eq!(unknown["plaintext"], Value::Null);
    }

    #[test]
    fn an_unset_or_bad_key_is_a_warning_even_with_no_plaintext_row() {
        let unset = config(&[]).secrets_at_rest_warning(NONE).expect("warns");
        assert_eq!(unset["key"], "unset");
        assert_eq!(
            unset["plaintext"],
            json!({ "destinations": 0, "sources": 0 })
        );
        let bad = config(&[("SECRETS_KEY", "short")]).secrets_at_rest_warning(NONE);
        assert_eq!(bad.expect("warns")["key"], "misconfigured");
    }

    #[test]
    fn warnings_join_the_health_without_changing_its_status() {
        let keyless = config(&[]);
        let health = with_warnings(keyless.health(), keyless.secrets_at_rest_warning(NONE));
        let without = keyless.health();
        assert_eq!(health["status"], without["status"]);
        assert_eq!(health["misconfigured"], without["misconfigured"]);
        assert_eq!(health["warnings"][0]["affects"], "secrets_at_rest");
        let text = health.to_string();
        assert!(!text.contains("whsec_"), "no secret");
        let none = with_warnings(json!({ "status": "ok" }), None);
        assert_eq!(none["warnings"], json!([]));
    }
}
