//! The per-(shop, order) version record and its rule, shared by the webhook ingest (which writes
//! it, [`super::shopify`]) and the reconciliation (`crate::backfill::shopify`). Shopify dedupes
//! webhooks on `X-Shopify-Event-Id`, which a listed order does not have, so an order event also
//! carries a version key written at ingest with the event (`events.version_key`, unique per
//! provider where set, migration 0013): `order:<shop>:<order id>:<updated_at ms, 15
//! digits>:<topic>`, scoped by source like the dedupe keys. Two rules follow:
//! - **Exact version, one event.** The reconciliation stores a listed version as
//!   `orders/updated` with that key (and as its dedupe key): a webhook `orders/updated` of the
//!   same version, before, after or racing it, is not stored when an event of the *other*
//!   origin already has that key ([`other_origin_absent`], the condition of the same
//!   `INSERT … SELECT` that stores events; D1 runs one statement at a time, so the check and
//!   the insert cannot be split by the other path), so whichever comes second is a duplicate.
//!   Two webhooks of one version (`updated_at` has one-second resolution: two changes in the
//!   same second) are two Shopify events with their own ids, and both are stored. Running the
//!   reconciliation twice collides on the dedupe key.
//! - **Older than stored, skipped.** A listed version is not stored when any order event of
//!   the same shop and order with `updated_at` at or after it is ([`STORED_AT_OR_AFTER`], a
//!   range over the key's prefix, one query per page). A newer version arriving between that
//!   read and the insert only makes the listed one older: the step ordering (entity turns)
//!   already skips older versions as `skipped_stale`.

/// The condition an event row must meet to be stored, as SQL over the candidate row's columns
/// named `provider`, `version` and `origin` (e.g. `column2`, `column15`, `column13` of a
/// `VALUES` list): it has no version key, or no stored event of another origin has that key.
pub fn other_origin_absent(provider: &str, version: &str, origin: &str) -> String {
    format!(
        "({version} IS NULL OR NOT EXISTS (SELECT 1 FROM events e WHERE e.provider = {provider} \
         AND e.version_key = {version} AND e.origin <> {origin}))"
    )
}

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
    let scoped = crate::inbound::sources::scoped_key(source, &key);
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
