//! What the Shopify reconciliation reads: per source, a shop domain and an Admin API access
//! token (`SHOPIFY_SHOP_DOMAIN` + `SHOPIFY_ADMIN_TOKEN` for `/webhooks/shopify`;
//! `SHOPIFY_SHOP_DOMAIN__<SOURCE>` + `SHOPIFY_ADMIN_TOKEN__<SOURCE>` for a declared Shopify
//! source, named as the source's key setting is), the Admin API base (`SHOPIFY_ADMIN_API_BASE`,
//! `https://{shop}`), and the schedule and page bound shared with the Stripe backfill. A source
//! without a token is not reconciled (said in `/health`); a token without a valid shop domain is
//! misconfigured.

use crate::backfill::shopify::{ShopAccess, DEFAULT_API_BASE};
use crate::inbound::sources;
use crate::inbound::webhook::Provider;
use crate::settings::table::*;
use crate::settings::{Config, ConfigError};
use crate::steps::routes::RouteTable;

/// Everything a reconciliation run needs.
#[derive(Debug, Clone)]
pub struct ShopifyBackfillSettings {
    /// The shops with a token, default source first.
    pub shops: Vec<ShopAccess>,
    pub interval_secs: u64,
    pub max_pages: u32,
    pub routes: RouteTable,
}

/// A `*.myshopify.com` domain: lowercase letters, digits, `-` and `.`.
pub fn valid_shop_domain(shop: &str) -> bool {
    shop.len() <= 255
        && shop
            .strip_suffix(".myshopify.com")
            .is_some_and(|name| !name.is_empty())
        && shop
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
}

/// `<BASE>__<SOURCE>` as a source's key setting is spelled.
fn source_setting(base: &str, source: &str) -> String {
    let key = sources::key_setting(Provider::Shopify, source);
    let suffix = key.split_once("__").map_or("", |(_, s)| s);
    format!("{base}__{suffix}")
}

impl<L: Fn(&str) -> Option<String>> Config<L> {
    fn shop_access(
        &self,
        source: Option<&str>,
        base_url: &str,
    ) -> Result<Option<ShopAccess>, ConfigError> {
        let read = |base: &str| {
            let name = match source {
                Some(source) => source_setting(base, source),
                None => base.to_string(),
            };
            (self.lookup)(&name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let Some(token) = read(SHOPIFY_ADMIN_TOKEN) else {
            return Ok(None);
        };
        let shop = read(SHOPIFY_SHOP_DOMAIN).map(|s| s.to_ascii_lowercase());
        let Some(shop) = shop.filter(|s| valid_shop_domain(s)) else {
            let which = source.map_or(String::new(), |s| format!(" (source `{s}`)"));
            return Err(ConfigError {
                setting: SHOPIFY_SHOP_DOMAIN,
                detail: format!("must be the shop's *.myshopify.com domain where an Admin API token is set{which}"),
            });
        };
        Ok(Some(ShopAccess {
            source: source.map(str::to_string),
            base_url: base_url.replace("{shop}", &shop),
            shop,
            token,
        }))
    }

    /// `Ok(None)`: no shop has a token (disabled); `Err`: a setting it reads is broken.
    pub fn shopify_backfill(&self) -> Result<Option<ShopifyBackfillSettings>, ConfigError> {
        let base = self
            .text(SHOPIFY_ADMIN_API_BASE)
            .unwrap_or_else(|| DEFAULT_API_BASE.into());
        let mut shops: Vec<ShopAccess> = self.shop_access(None, &base)?.into_iter().collect();
        for source in self.sources()? {
            if source.provider == Provider::Shopify {
                shops.extend(self.shop_access(Some(&source.name), &base)?);
            }
        }
        if shops.is_empty() {
            return Ok(None);
        }
        if !(base.starts_with("https://") || base.starts_with("http://")) {
            return Err(ConfigError {
                setting: SHOPIFY_ADMIN_API_BASE,
                detail: "must be an http(s) URL, `{shop}` standing for the shop domain".into(),
            });
        }
        let minutes = self.number(BACKFILL_INTERVAL_MINUTES)?.max(1);
        let max_pages = self
            .number(BACKFILL_MAX_PAGES)?
            .clamp(1, u64::from(crate::backfill::budget::MAX_PAGES));
        Ok(Some(ShopifyBackfillSettings {
            shops,
            interval_secs: minutes.saturating_mul(60),
            max_pages: u32::try_from(max_pages).unwrap_or(1),
            routes: self.provider_routes(Provider::Shopify)?,
        }))
    }

    /// The per-source Admin API tokens that are set (for scrubbing).
    pub(crate) fn shopify_source_tokens(&self) -> Vec<String> {
        self.sources()
            .unwrap_or_default()
            .into_iter()
            .filter(|s| s.provider == Provider::Shopify)
            .filter_map(|s| (self.lookup)(&source_setting(SHOPIFY_ADMIN_TOKEN, &s.name)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use crate::settings::config_of as config;

    #[test]
    fn a_shop_is_reconciled_only_with_its_token() {
        assert!(config(&[("SHOPIFY_SHOP_DOMAIN", "a.myshopify.com")])
            .shopify_backfill()
            .unwrap()
            .is_none());
        let c = config(&[
            ("SHOPIFY_SHOP_DOMAIN", "A.myshopify.com"),
            ("SHOPIFY_ADMIN_TOKEN", "shpat_1"),
            (
                "WEBHOOK_SOURCES",
                "shopify:store-b,shopify:store-c,stripe:eu",
            ),
            ("SHOPIFY_SHOP_DOMAIN__STORE_B", "b.myshopify.com"),
            ("SHOPIFY_ADMIN_TOKEN__STORE_B", "shpat_2"),
            ("SHOPIFY_SHOP_DOMAIN__STORE_C", "c.myshopify.com"),
        ]);
        let settings = c.shopify_backfill().unwrap().unwrap();
        let shops: Vec<(Option<&str>, &str, &str)> = settings
            .shops
            .iter()
            .map(|s| (s.source.as_deref(), s.shop.as_str(), s.base_url.as_str()))
            .collect();
        assert_eq!(
            shops,
            vec![
                (None, "a.myshopify.com", "https://a.myshopify.com"),
                (
                    Some("store-b"),
                    "b.myshopify.com",
                    "https://b.myshopify.com"
                ),
            ]
        );
        assert_eq!((settings.interval_secs, settings.max_pages), (900, 5));
        assert_eq!(c.shopify_source_tokens(), vec!["shpat_2".to_string()]);
    }

    #[test]
    fn a_token_without_a_shop_domain_is_misconfigured() {
        for pairs in [
            &[("SHOPIFY_ADMIN_TOKEN", "shpat_1")][..],
            &[
                ("SHOPIFY_ADMIN_TOKEN", "shpat_1"),
                ("SHOPIFY_SHOP_DOMAIN", "evil.example.com"),
            ][..],
        ] {
            let pairs: &'static [(&str, &str)] = Box::leak(pairs.to_vec().into_boxed_slice());
            let e = config(pairs).shopify_backfill().unwrap_err();
            assert_eq!(e.setting, "SHOPIFY_SHOP_DOMAIN");
            assert!(!e.detail.contains("shpat_1"));
        }
        let e = config(&[
            ("SHOPIFY_ADMIN_API_BASE", "ftp://x"),
            ("SHOPIFY_ADMIN_TOKEN", "shpat_1"),
            ("SHOPIFY_SHOP_DOMAIN", "a.myshopify.com"),
        ])
        .shopify_backfill()
        .unwrap_err();
        assert_eq!(e.setting, "SHOPIFY_ADMIN_API_BASE");
    }
}
