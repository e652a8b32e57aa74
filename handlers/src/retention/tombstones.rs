//! What retention remembers of an event it deletes: a tombstone (`dedupe_tombstones`, migration
//! 0015) with the event's provider and dedupe keys as stored (a named source's keys are scoped,
//! `src:{source}:{key}`, so the tombstone is per provider and source like the event was), when
//! it was received and when the tombstone expires. No payload, no type, no account. Retention
//! writes it in the transaction that deletes the event, and ingest's D1 insert treats a live
//! tombstone like a stored event: a duplicate on either key ([`absent`]), so steps never run
//! twice for a redelivery that arrives after retention.
//!
//! A tombstone lives for its window ([`window_ms`], or [`CONTENT_KEY_WINDOW_MS`] for an event
//! with a content key), counted from when the event was first received; an event whose window
//! has passed when it is deleted leaves none (with the default 30-day retention, only events
//! with a content key leave one). The windows come from how long each provider may deliver an
//! event again:
//!
//! - Stripe, 30 days: retries last 3 days, but an event stays listed by `GET /v1/events` and can
//!   be resent from the Dashboard for 30 days, signed afresh each time.
//! - SendGrid and HubSpot, 2 days: retries last 24 hours, and their signatures cover a timestamp
//!   (checked within `SIGNATURE_TOLERANCE_SECONDS`), so a captured body cannot be replayed later.
//!   (HubSpot's legacy v1/v2 signatures sign no time; they are off unless
//!   `HUBSPOT_ALLOW_LEGACY_SIGNATURES` is set.)
//! - Shopify, 90 days: retries last 4 hours, but Shopify signs no timestamp, so a captured body
//!   verifies until the secret changes, with any fresh unsigned ids; the body's digest
//!   (`content_key`) is remembered too. Rotating `SHOPIFY_WEBHOOK_SECRETS` at least this often
//!   leaves no window in which an old body verifies and is forgotten.
//!
//! - Sources added at runtime whose scheme signs no time (GitHub, Twilio, GitLab, Typeform…;
//!   `inbound::schemes::replay`; a signed delivery id is forgotten with its event): their events
//!   carry a content key for the same reason as Shopify's, and any event with a content key keeps Shopify's window
//!   ([`CONTENT_KEY_WINDOW_MS`]); rotating such a source's secret at least this often leaves no
//!   window in which an old body verifies and is forgotten.
//!
//! Retention keeps the dedupe memory of an event for the longer of `RETENTION_DAYS` (the event
//! itself) and its window (the tombstone).

use crate::inbound::webhook::Provider;

const DAY_MS: i64 = 86_400_000;

/// How long after an event was first received its tombstone is kept (Unix ms).
pub const fn window_ms(provider: Provider) -> i64 {
    match provider {
        Provider::Stripe => 30 * DAY_MS,
        Provider::SendGrid | Provider::HubSpot => 2 * DAY_MS,
        Provider::Shopify => 90 * DAY_MS,
        // Sources added at runtime: the longest retry schedule among their senders (Standard
        // Webhooks/Svix retry for about 5 days) with a margin.
        Provider::Registry => 7 * DAY_MS,
    }
}

/// The window of an event with a content key (its signature covers no time, so a captured body
/// verifies until the secret changes): Shopify's, the longest.
pub const CONTENT_KEY_WINDOW_MS: i64 = window_ms(Provider::Shopify);

/// The window of a row (ms), in SQL: [`CONTENT_KEY_WINDOW_MS`] when its content key column is
/// set, else its provider's (`CASE <provider column> WHEN 'stripe' THEN … END`); a provider
/// this build does not know gets the longest window.
pub fn window_sql(provider_column: &str, content_key_column: &str) -> String {
    let arms: String = Provider::STORED
        .iter()
        .map(|p| format!(" WHEN '{}' THEN {}", p.slug(), window_ms(*p)))
        .collect();
    let longest = Provider::STORED.iter().map(|p| window_ms(*p)).max();
    format!(
        "(CASE WHEN {content_key_column} IS NOT NULL THEN {CONTENT_KEY_WINDOW_MS} \
         ELSE (CASE {provider_column}{arms} ELSE {} END) END)",
        longest.unwrap_or(0)
    )
}

/// The condition ingest's event INSERT adds for each row: no live tombstone (expiring after
/// `now`) of the same provider with its dedupe key, nor with its content key (NULL matches
/// nothing). The arguments are SQL expressions (parameters or the row's columns).
pub fn absent(provider: &str, dedupe_key: &str, content_key: &str, now: &str) -> String {
    format!(
        "NOT EXISTS (SELECT 1 FROM dedupe_tombstones t WHERE t.provider = {provider} \
         AND t.dedupe_key = {dedupe_key} AND t.expires_at > {now}) \
         AND NOT EXISTS (SELECT 1 FROM dedupe_tombstones t WHERE t.provider = {provider} \
         AND t.content_key = {content_key} AND t.expires_at > {now})"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_cover_each_providers_redeliveries() {
        // Stripe resends for 30 days, retries for 3; SendGrid and HubSpot retry for 24 hours.
        assert!(window_ms(Provider::Stripe) >= 30 * DAY_MS);
        assert!(window_ms(Provider::SendGrid) > DAY_MS);
        assert!(window_ms(Provider::HubSpot) > DAY_MS);
        // Sources added at runtime: Standard Webhooks senders retry for about 5 days.
        assert!(window_ms(Provider::Registry) > 5 * DAY_MS);
        // Shopify signs no time: the longest memory.
        for p in Provider::STORED {
            assert!(window_ms(Provider::Shopify) >= window_ms(p));
        }
        // An event with a content key (signed without a time) keeps the longest memory.
        for p in Provider::STORED {
            assert!(CONTENT_KEY_WINDOW_MS >= window_ms(p));
        }
        // A runtime source's own window ends before the default retention deletes its event:
        // only a content key's tombstone outlives it (every untimed scheme has one).
        let default_retention_ms = crate::retention::DEFAULT_RETENTION_DAYS as i64 * DAY_MS;
        assert!(window_ms(Provider::Registry) < default_retention_ms);
        assert!(CONTENT_KEY_WINDOW_MS > default_retention_ms);
        assert_eq!(
            window_sql("provider", "content_key"),
            "(CASE WHEN content_key IS NOT NULL THEN 7776000000 \
             ELSE (CASE provider WHEN 'stripe' THEN 2592000000 WHEN 'sendgrid' THEN 172800000 \
             WHEN 'hubspot' THEN 172800000 WHEN 'shopify' THEN 7776000000 WHEN 'in' THEN 604800000 \
             ELSE 7776000000 END) END)"
        );
    }
}
