//! Which KV dedupe hints a delivery reads and writes. A hint says "D1 already stores this", so
//! a provider's retry is answered without a D1 write; D1's unique keys stay the authority and a
//! missing hint only costs a D1 round trip. D1 keeps that authority after retention: a deleted
//! event's tombstone (`retention::tombstones`) is a duplicate for ingest's insert like the event
//! was, so a redelivery within the tombstone's window is a duplicate whether or not its hint is
//! still there. A delivery of one event has one hint per event
//! (`seen:<event id>`), shared by every delivery of that event. A batch of several events
//! (SendGrid, HubSpot) has ONE hint for the whole delivery (`seen-delivery:<digest>`), a digest
//! of its events' dedupe keys in order: a provider's retry of the batch carries the same events
//! (HubSpot's body differs, its `attemptNumber` grows, its events' keys do not), so one KV read
//! and one write cover any number of events, where per-event hints needed one write each and
//! stopped at the invocation's KV operation budget. A later delivery that mixes known and new
//! events misses the hint and D1 splits it.
//!
//! Hints are written for repeats only (DESIGN.md's ingest path): once D1 has found a delivery
//! stored already (for a batch: every event in it), so that its later repeats are answered from
//! KV. A first delivery writes no KV key: D1 is the authority, most deliveries are never repeated,
//! and a KV write costs more than the D1 round trip it would save (three KV reads of the
//! runtime's CPU, five times a D1 row written in price, and the Workers Free plan allows 1,000 a
//! day). The first repeat of a delivery costs one D1 round trip that writes no row.

use sha2::{Digest, Sha256};

use crate::inbound::ids;
use crate::inbound::webhook::Provider;

/// The hints of one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryHints {
    /// One hint per event, in the events' order (a delivery of at most one event).
    PerEvent(Vec<String>),
    /// One hint for the whole batch.
    Delivery(String),
}

/// The hints to write once D1 has answered: those of events D1 found stored already. `unknown`
/// are the delivery's hints KV did not know (per event: one for each event that went on to D1,
/// in order); `new_in_d1` says, for each event that went on to D1, whether D1 stored it now
/// (`false`: it was there already). A batch's one hint is written when every event of it was.
pub fn to_write(unknown: DeliveryHints, new_in_d1: &[bool]) -> Vec<String> {
    match unknown {
        DeliveryHints::PerEvent(keys) => keys
            .into_iter()
            .zip(new_in_d1)
            .filter(|(_, is_new)| !**is_new)
            .map(|(key, _)| key)
            .collect(),
        DeliveryHints::Delivery(key) => {
            let all_stored_before = !new_in_d1.is_empty() && !new_in_d1.contains(&true);
            if all_stored_before {
                vec![key]
            } else {
                Vec::new()
            }
        }
    }
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

    fn per_event(keys: &[&str]) -> DeliveryHints {
        DeliveryHints::PerEvent(keys.iter().map(|k| k.to_string()).collect())
    }

    #[test]
    fn a_first_delivery_writes_no_hint_its_repeat_does() {
        // A first delivery: D1 stores the event, no hint.
        assert!(to_write(per_event(&["seen:a"]), &[true]).is_empty());
        // Its repeat: D1 had it, the hint is written for the next one.
        assert_eq!(to_write(per_event(&["seen:a"]), &[false]), ["seen:a"]);
        // Several per-event hints (the backfill's page): each by its own event.
        assert_eq!(
            to_write(
                per_event(&["seen:a", "seen:b", "seen:c"]),
                &[true, false, true]
            ),
            ["seen:b"]
        );
    }

    #[test]
    fn a_batch_hint_is_written_only_when_the_whole_batch_was_stored_before() {
        let batch = || DeliveryHints::Delivery("seen-delivery:x".into());
        assert!(to_write(batch(), &[true, true]).is_empty());
        assert!(to_write(batch(), &[false, true]).is_empty());
        assert_eq!(to_write(batch(), &[false, false]), ["seen-delivery:x"]);
        // Nothing reached D1 (every element malformed): nothing to remember.
        assert!(to_write(batch(), &[]).is_empty());
    }
}
