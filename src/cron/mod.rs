//! What the every-minute cron drives: `sweeper` (the entry: recovery of lost and overdue steps,
//! then each pass below), `retention` (deleting rows past `RETENTION_DAYS`), `backfill` (the
//! Stripe backfill and the Shopify reconciliation, their scheduled runs), `alerts` (the alerting
//! pass) and `alert_channels` (sending its notices to Slack or an `http` destination).

pub mod alert_channels;
pub mod alerts;
pub mod backfill;
pub mod retention;
pub mod sweeper;
