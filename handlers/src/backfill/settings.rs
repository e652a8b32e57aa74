//! What the Stripe backfill reads: the API key and base (without `STRIPE_API_KEY` it is
//! disabled), how often the scheduled run is due (`BACKFILL_INTERVAL_MINUTES`), how many pages
//! one invocation may fetch (`BACKFILL_MAX_PAGES`, the subrequest budget), the Stripe routes
//! (their event types are what it lists) and the source the account's webhooks arrive at
//! (`STRIPE_BACKFILL_SOURCE`: `default` or a Stripe source declared in `WEBHOOK_SOURCES`), whose
//! dedupe scope the listed events are stored in, so an event its webhook stored is found there.

use super::budget::MAX_PAGES;
use crate::downstream::DestinationConfig;
use crate::inbound::sources::DEFAULT_SOURCE;
use crate::inbound::webhook::Provider;
use crate::settings::table::*;
use crate::settings::{Config, ConfigError};
use crate::steps::routes::RouteTable;

/// Everything a backfill run needs, read and checked together.
#[derive(Debug, Clone)]
pub struct BackfillSettings {
    pub api: DestinationConfig,
    pub interval_secs: u64,
    /// At least one page per invocation.
    pub max_pages: u32,
    pub routes: RouteTable,
    /// The source the listed events belong to (`None`: the default `/webhooks/stripe`).
    pub source: Option<String>,
}

impl<L: Fn(&str) -> Option<String>> Config<L> {
    /// `Ok(None)`: disabled (no `STRIPE_API_KEY`); `Err`: a setting it reads is broken.
    pub fn backfill(&self) -> Result<Option<BackfillSettings>, ConfigError> {
        let Some(api) = self.downstream().stripe else {
            return Ok(None);
        };
        let minutes = self.number(BACKFILL_INTERVAL_MINUTES)?;
        if minutes == 0 {
            return Err(ConfigError {
                setting: BACKFILL_INTERVAL_MINUTES,
                detail: "must be at least 1".into(),
            });
        }
        let max_pages = self.number(BACKFILL_MAX_PAGES)?;
        if !(1..=u64::from(MAX_PAGES)).contains(&max_pages) {
            return Err(ConfigError {
                setting: BACKFILL_MAX_PAGES,
                detail: format!("must be between 1 and {MAX_PAGES}"),
            });
        }
        Ok(Some(BackfillSettings {
            api,
            interval_secs: minutes.saturating_mul(60),
            max_pages: u32::try_from(max_pages).unwrap_or(1),
            routes: self.provider_routes(Provider::Stripe)?,
            source: self.backfill_source()?,
        }))
    }

    /// `STRIPE_BACKFILL_SOURCE`: `default` (or unset) is the default source; any other value
    /// must name a Stripe source declared in `WEBHOOK_SOURCES`.
    fn backfill_source(&self) -> Result<Option<String>, ConfigError> {
        let Some(name) = self
            .text(STRIPE_BACKFILL_SOURCE)
            .filter(|name| name != DEFAULT_SOURCE)
        else {
            return Ok(None);
        };
        let declared = self.sources()?;
        if declared
            .iter()
            .any(|s| s.provider == Provider::Stripe && s.name == name)
        {
            return Ok(Some(name));
        }
        Err(ConfigError {
            setting: STRIPE_BACKFILL_SOURCE,
            detail: "must be `default` or a Stripe source declared in WEBHOOK_SOURCES".into(),
        })
    }
}
