//! Which KV dedupe hints a delivery reads and writes. A hint says "D1 already stores this", so
//! a provider's retry is answered without a D1 write; D1's unique keys stay the authority and a
//! missing hint only costs a D1 round trip. A delivery of one event has one hint per event
//! (`seen:<event id>`), shared by every delivery of that event. A batch of several events
//! (SendGrid, HubSpot) has ONE hint for the whole delivery (`seen-delivery:<digest>`), a digest
//! of its events' dedupe keys in order: a provider's retry of the batch carries the same events
//! (HubSpot's body differs, its `attemptNumber` grows, its events' keys do not), so one KV read
//! and one write cover any number of events, where per-event hints needed one write each and
//! stopped at the invocation's KV operation budget. A later delivery that mixes known and new
//! events misses the hint and D1 splits it.

use sha2::{Digest, Sha256};

use crate::ids;
use crate::webhook::Provider;

/// The hints of one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryHints {
    /// One hint per event, in the events' order (a delivery of at most one event).
    PerEvent(Vec<String>),
    /// One hint for the whole batch.
    Delivery(String),
}

/// The KV key marking one stored event.
pub fn event_hint(provider: Provider, dedupe_key: &str) -> String {
    format!("seen:{}", ids::event_id(provider, dedupe_key))
}

/// The KV key marking a whole batch as stored: 24 bytes of SHA-256 over the provider and every
/// event's dedupe key in order, each followed by a NUL (keys cannot contain one).
pub fn delivery_hint<'a>(provider: Provider, dedupe_keys: impl Iterator<Item = &'a str>) -> String {
    let mut hasher = Sha256::new();
    hasher.update(provider.slug().as_bytes());
    hasher.update([0u8]);
    for key in dedupe_keys {
        hasher.update(key.as_bytes());
        hasher.update([0u8]);
    }
    let digest = hasher.finalize();
    format!(
        "seen-delivery:{}",
        hex::encode(digest.get(..24).unwrap_or_default())
    )
}

/// The hints of a delivery of events with these dedupe keys (in delivery order).
pub fn for_delivery(provider: Provider, dedupe_keys: &[&str]) -> DeliveryHints {
    if dedupe_keys.len() > 1 {
        return DeliveryHints::Delivery(delivery_hint(provider, dedupe_keys.iter().copied()));
    }
    DeliveryHints::PerEvent(
        dedupe_keys
            .iter()
            .map(|key| event_hint(provider, key))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_event_has_its_own_hint_shared_by_every_delivery_of_it() {
        let hints = for_delivery(Provider::Stripe, &["evt_1"]);
        let id = ids::event_id(Provider::Stripe, "evt_1");
        assert_eq!(hints, DeliveryHints::PerEvent(vec![format!("seen:{id}")]));
        assert_eq!(
            for_delivery(Provider::Stripe, &[]),
            DeliveryHints::PerEvent(vec![])
        );
    }

    #[test]
    fn a_batch_has_one_hint_that_names_its_events_in_order() {
        let batch = for_delivery(Provider::SendGrid, &["a", "b", "c"]);
        let DeliveryHints::Delivery(key) = &batch else {
            panic!("a batch of three has one delivery hint: {batch:?}");
        };
        assert!(key.starts_with("seen-delivery:"));
        assert_eq!(key.len(), "seen-delivery:".len() + 48);
        // The same events again (a retry, whatever else the body says): the same hint.
        assert_eq!(for_delivery(Provider::SendGrid, &["a", "b", "c"]), batch);
        // Other events, another order, another provider, or keys that only concatenate alike:
        // another hint.
        for other in [
            for_delivery(Provider::SendGrid, &["a", "b"]),
            for_delivery(Provider::SendGrid, &["b", "a", "c"]),
            for_delivery(Provider::HubSpot, &["a", "b", "c"]),
            for_delivery(Provider::SendGrid, &["ab", "c", ""]),
        ] {
            assert_ne!(other, batch);
        }
    }
}
