//! Shopify `customers/data_request`: the customer's stored events (the same subject a redact
//! removes, [`shopify_redact::about_subject`]) collected into the request's record, which expires
//! after `EXPORT_TTL_MS` (the sweeper drops it then). The shell reads the events and serialises
//! them; these are its two statements.

use super::shopify_redact::{self, Subject};
use super::{Arg, Statement};

/// The subject's stored events, oldest first: `id, provider, type, received_at, payload`.
pub fn events(subject: &Subject<'_>) -> Statement {
    let sql = format!(
        "SELECT id, provider, type, received_at, payload FROM events \
         WHERE payload IS NOT NULL AND {} ORDER BY received_at",
        shopify_redact::about_subject(1)
    );
    let args = subject.args();
    Statement::new(sql, &args.iter().collect::<Vec<_>>())
}

/// What a data request recorded.
#[derive(Debug, Clone)]
pub struct Export<'a> {
    pub event_id: &'a str,
    pub topic: &'a str,
    /// The events as JSON (an array of what [`events`] read).
    pub json: &'a str,
    pub count: i64,
    pub now_ms: i64,
    pub expires_at_ms: i64,
}

/// The request's record with its export (kept once: a repeat does nothing).
pub fn record(subject: &Subject<'_>, export: &Export<'_>) -> Statement {
    Statement {
        sql: "INSERT INTO privacy_requests (event_id, topic, shop_domain, customer_id, \
              customer_email, events_affected, export, done_at, export_expires_at) \
              VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (event_id) DO NOTHING"
            .into(),
        args: vec![
            Arg::Text(export.event_id.to_string()),
            Arg::Text(export.topic.to_string()),
            Arg::Text(subject.shop_domain.to_string()),
            Arg::opt(subject.customer_id),
            Arg::opt(subject.customer_email),
            Arg::Int(export.count),
            Arg::Text(export.json.to_string()),
            Arg::Int(export.now_ms),
            Arg::Int(export.expires_at_ms),
        ],
    }
}
