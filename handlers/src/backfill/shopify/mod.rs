//! Shopify reconciliation: recovering order changes the webhooks lost from the Shopify Admin API,
//! per shop where a per-shop Admin API access token is configured. Shopify keeps no event log, so a
//! run lists the orders updated since the checkpoint (`GET
//! /admin/api/<version>/orders.json?updated_at_min=…&status=any&limit=250`, then the `Link`
//! header's `rel="next"` `page_info` cursor) and stores each listed order version not already
//! stored as an `orders/updated` event with origin `backfill` ([`page`]); the version record and
//! its rule are [`crate::inbound::providers::shopify_version`] (shared with the webhook ingest).
//! The schedule, checkpoint, overlap, backoff and resumable cursor are the Stripe backfill's
//! ([`super::tick`], [`super::after_run`]; the cursor's `starting_after` carries the `page_info`).
//! docs/recovery.md says why it is built this way.

pub mod page;
pub mod settings;

use super::plan::Cursor;

#[cfg(test)]
mod tests;

/// The Admin API version the reconciliation lists orders with.
pub const ADMIN_API_VERSION: &str = "2025-01";
/// Shopify's largest page of orders.
pub const PAGE_LIMIT: u32 = 250;
/// The event type a reconciled order version is stored as.
pub const RECONCILED_TOPIC: &str = "orders/updated";
/// The default Admin API base; `{shop}` is the shop's `*.myshopify.com` domain.
pub const DEFAULT_API_BASE: &str = "https://{shop}";
/// Longest `page_info` accepted from a `Link` header.
pub const MAX_PAGE_INFO: usize = 1024;

/// One shop to reconcile: the source whose events it stands for (`None`: the default
/// `/webhooks/shopify`), its shop domain and Admin API access token.
#[derive(Clone, PartialEq, Eq)]
pub struct ShopAccess {
    pub source: Option<String>,
    pub shop: String,
    pub token: String,
    /// The Admin API base with `{shop}` replaced.
    pub base_url: String,
}

impl std::fmt::Debug for ShopAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShopAccess")
            .field("source", &self.source)
            .field("shop", &self.shop)
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl ShopAccess {
    /// The `backfill_state` / `backfill_runs` provider of this shop's reconciliation:
    /// `shopify` for the default source, `shopify:<source>` for a named one.
    pub fn state_key(&self) -> String {
        match &self.source {
            Some(source) => format!("shopify:{source}"),
            None => "shopify".into(),
        }
    }

    /// The page at `cursor` of a run listing orders updated at or after `since` (Unix s), any
    /// status: the first page, or the one its `page_info` names (Shopify accepts only `limit`
    /// beside `page_info`), of the cursor's page size ([`page_limit`]).
    pub fn page_url(&self, since: i64, cursor: &Cursor) -> String {
        let base = self.base_url.trim_end_matches('/');
        let limit = page_limit(cursor);
        match &cursor.starting_after {
            None => {
                let iso = crate::time::iso_datetime_ms(since.saturating_mul(1000))
                    .unwrap_or_else(|| "1970-01-01T00:00:00.000Z".into());
                format!("{base}/admin/api/{ADMIN_API_VERSION}/orders.json?updated_at_min={iso}&status=any&limit={limit}")
            }
            Some(page_info) => format!(
                "{base}/admin/api/{ADMIN_API_VERSION}/orders.json?limit={limit}&page_info={page_info}"
            ),
        }
    }
}

/// The page size a cursor asks for: its own (after a page too large to read), else
/// [`PAGE_LIMIT`]; always within 1 and [`PAGE_LIMIT`].
pub fn page_limit(cursor: &Cursor) -> u32 {
    cursor.page_limit.unwrap_or(PAGE_LIMIT).clamp(1, PAGE_LIMIT)
}

/// Where a run continues after the page at `cursor` was too large to read
/// ([`PAGE_TOO_LARGE`]): the same page, asking for half as many orders (at least one; a single
/// order too large to read stops the run there until an admin looks).
pub fn after_page_too_large(cursor: &Cursor) -> Cursor {
    Cursor {
        page_limit: Some((page_limit(cursor) / 2).max(1)),
        ..cursor.clone()
    }
}

/// The stop reason of a page answered 2xx but too large to read.
pub const PAGE_TOO_LARGE: &str = "page_too_large";

impl ShopAccess {}

/// The `page_info` of the `rel="next"` link of a `Link` header (`<https://…?limit=250&
/// page_info=abc>; rel="next", <…>; rel="previous"`), `None` on the last page. `Err` when
/// the next link is there but its `page_info` is missing or not URL-safe.
pub fn next_page_info(link: Option<&str>) -> Result<Option<String>, &'static str> {
    let Some(link) = link else { return Ok(None) };
    for part in link.split(',') {
        let (target, params) = part.split_once(';').unwrap_or((part, ""));
        let is_next = params
            .split(';')
            .any(|p| matches!(p.trim(), "rel=\"next\"" | "rel=next"));
        if !is_next {
            continue;
        }
        let url = target
            .trim()
            .strip_prefix('<')
            .and_then(|t| t.strip_suffix('>'))
            .ok_or("shopify_bad_link")?;
        let query = url.split_once('?').map_or("", |(_, q)| q);
        let info = query
            .split('&')
            .find_map(|pair| pair.strip_prefix("page_info="))
            .filter(|v| !v.is_empty() && v.len() <= MAX_PAGE_INFO)
            .filter(|v| {
                v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            })
            .ok_or("shopify_bad_link")?;
        return Ok(Some(info.to_string()));
    }
    Ok(None)
}

/// The gate of one shop's Admin API calls: Shopify's REST bucket holds 40 requests per app and
/// shop and refills 2 per second, so at most 40 calls per 20 s; the circuit opens after 5
/// retryable failures in a row for 60 s, the probe lease outliving a page's `timeout_ms`.
pub fn admin_api_limits(timeout_ms: u64) -> crate::steps::limits::Limits {
    crate::steps::limits::Limits {
        limit: 40,
        window_ms: 20_000,
        open_after: 5,
        cool_down_ms: 60_000,
        probe_lease_ms: 0,
    }
    .with_call_timeout(timeout_ms)
}

/// The health row (`destination_health.destination`) of a shop's Admin API calls.
pub fn health_name(shop: &str) -> String {
    format!("shopify-admin:{shop}")
}

/// The stable code of a page that did not answer 2xx (`shopify_http_<status>`) or did not
/// answer at all (`shopify_unreachable`).
pub fn failure_code(status: Option<u16>) -> String {
    match status {
        Some(status) => format!("shopify_http_{status}"),
        None => "shopify_unreachable".into(),
    }
}
