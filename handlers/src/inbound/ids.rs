//! Identifiers derived from content, so that every delivery of the same event maps to the same
//! row: the event id is a hash of provider and dedupe key, and a step id is the event id plus the
//! step name. Step ids double as idempotency keys downstream, stable across retries and replays.

use sha2::{Digest, Sha256};

use crate::inbound::webhook::Provider;

/// `evt_` + 24 hex digits of SHA-256(provider, dedupe key).
pub fn event_id(provider: Provider, dedupe_key: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(provider.slug().as_bytes());
    hasher.update([0u8]);
    hasher.update(dedupe_key.as_bytes());
    let digest = hasher.finalize();
    format!("evt_{}", hex::encode(digest.get(..12).unwrap_or_default()))
}

/// Id of the step `step_name` of event `event_id`.
pub fn step_id(event_id: &str, step_name: &str) -> String {
    format!("{event_id}:{step_name}")
}

/// Id for a rejected delivery (kept for admins): hash of provider and the raw body.
pub fn rejected_delivery_key(body: &[u8]) -> String {
    format!("rejected:{}", hex::encode(Sha256::digest(body)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_provider_scoped() {
        let a = event_id(Provider::Stripe, "evt_1");
        assert_eq!(a, event_id(Provider::Stripe, "evt_1"));
        assert_ne!(a, event_id(Provider::Shopify, "evt_1"));
        assert_eq!(a.len(), 4 + 24);
        assert_eq!(
            step_id(&a, "hubspot.upsert_contact"),
            format!("{a}:hubspot.upsert_contact")
        );
    }
}
