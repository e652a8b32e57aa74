//! The per-(shop, order) version record and its rule. Shopify dedupes webhooks on
//! `X-Shopify-Event-Id`, which a listed order does not have, so an order event also carries a
//! version key written at ingest with the event (`events.version_key`, unique per provider
//! where set, migration 0013): `order:<shop>:<order id>:<updated_at ms, 15 digits>:<topic>`,
//! scoped by source like the dedupe keys. Two rules follow:
//! - **Exact version, one event.** The reconciliation stores a listed version as
//!   `orders/updated` with that key (and as its dedupe key): a webhook `orders/updated` of the
//!   same version, before, after or racing it, collides on the unique index inside the same
//!   `INSERT … ON CONFLICT DO NOTHING` that stores events, so whichever comes second is a
//!   duplicate. Running the reconciliation twice collides on the dedupe key.
//! - **Older than stored, skipped.** A listed version is not stored when any order event of
//!   the same shop and order with `updated_at` at or after it is ([`STORED_AT_OR_AFTER`], a
//!   range over the key's prefix, one query per page). A newer version arriving between that
//!   read and the insert only makes the listed one older: the step ordering (entity turns)
//!   already skips older versions as `skipped_stale`.

/// The prefix of every order version key.
pub const PREFIX: &str = "order:";
/// Width of the zero-padded `updated_at` milliseconds (sorts as numbers up to year 33658).
const MS_DIGITS: usize = 15;

fn plain(part: &str) -> bool {
    !part.is_empty() && !part.contains(':') && part.len() <= 255
}

/// The version key of an order event, unscoped; `None` when a part cannot be keyed.
pub fn version_key(shop: &str, order_id: &str, updated_at_ms: i64, topic: &str) -> Option<String> {
    let shop = shop.trim().to_ascii_lowercase();
    if !(plain(&shop) && plain(order_id) && plain(topic)) || updated_at_ms < 0 {
        return None;
    }
    Some(format!(
        "{PREFIX}{shop}:{order_id}:{updated_at_ms:0width$}:{topic}",
        width = MS_DIGITS
    ))
}

/// The key range `[lower, upper)` of the versions of (shop, order) at or after `updated_at_ms`,
/// scoped to `source` as the stored keys are.
pub fn at_or_after(
    source: Option<&str>,
    shop: &str,
    order_id: &str,
    updated_at_ms: i64,
) -> Option<(String, String)> {
    let key = version_key(shop, order_id, updated_at_ms.max(0), "x")?;
    let scoped = crate::sources::scoped_key(source, &key);
    let lower = scoped.strip_suffix(":x")?.to_string();
    let order_prefix = lower.get(..lower.len().checked_sub(MS_DIGITS)?)?;
    Some((lower.clone(), format!("{order_prefix}~")))
}

/// Which listed versions are already covered: ?1 a JSON array of `[lower, upper]` ranges (one
/// per listed order, from [`at_or_after`]); answers the array index (`idx`) of each covered one.
pub const STORED_AT_OR_AFTER: &str = "SELECT CAST(j.key AS INTEGER) AS idx FROM json_each(?1) j \
     WHERE EXISTS (SELECT 1 FROM events e WHERE e.provider = 'shopify' \
     AND e.version_key >= json_extract(j.value, '$[0]') \
     AND e.version_key < json_extract(j.value, '$[1]'))";
