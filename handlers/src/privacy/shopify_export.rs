//! Shopify `customers/data_request`: the customer's stored events (the same subject a redact
//! removes, [`shopify_redact::about_subject`]) collected into the request's record, which
//! expires after `EXPORT_TTL_MS` (the sweeper drops it then). Paged like a redact: each run adds
//! at most `page` scanned events' matches to `privacy_progress.export` (phase `export`); the run
//! that scans the last page records the export, oldest first, and empties the progress row.
//! Every statement is conditional on the progress row, so the batch runs whole on every run and
//! a run after the last does nothing and says done.
//!
//! An exported event is `{"id", "provider", "type", "received_at", "payload"}` (the payload as
//! the stored text).

use super::shopify_redact::{self, advance_of, window_of, Subject};
use super::{Arg, Statement};

/// One data request.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// The request's own event id (the progress row's key).
    pub event_id: &'a str,
    /// The event type, recorded in `privacy_requests.topic`.
    pub topic: &'a str,
    pub subject: Subject<'a>,
    pub now_ms: i64,
    /// When the export is dropped (`export_expires_at`).
    pub expires_at_ms: i64,
}

/// The statements of one run, in order (one transaction): one page of at most `page` events.
/// The last answers one row with `done` ([`super::Progress::from_done`]).
pub fn pass(r: &Request<'_>, page: u64) -> Vec<Statement> {
    let id = Arg::Text(r.event_id.to_string());
    let page = super::page_arg(page);
    let now = Arg::Int(r.now_ms);
    let [shop, customer, orders, email] = r.subject.args();
    let subject_id = Arg::Text(r.subject.customer_id.unwrap_or_default().to_string());
    let raw_email = Arg::opt(r.subject.customer_email);
    vec![
        Statement::new(start(), &[&id, &subject_id, &now]),
        Statement::new(collect(), &[&id, &shop, &customer, &orders, &email, &page]),
        Statement::new(advance_of("export"), &[&id, &page]),
        Statement::new(
            record(),
            &[
                &id,
                &Arg::Text(r.topic.to_string()),
                &shop,
                &customer,
                &raw_email,
                &now,
                &Arg::Int(r.expires_at_ms),
            ],
        ),
        Statement::new(close(), &[&id, &now]),
        Statement::done(&id),
    ]
}

/// Begin: the progress row (`?1` request, `?2` the customer id or '', `?3` now), its scan up to
/// the newest event, an empty export. Nothing when it exists.
fn start() -> String {
    "INSERT INTO privacy_progress (event_id, contact_id, phase, scan_end, started_at, export) \
     SELECT ?1, ?2, 'export', COALESCE((SELECT max(rowid) FROM events), 0), ?3, '[]' \
     WHERE 1 ON CONFLICT (event_id) DO NOTHING"
        .into()
}

/// Add the page's events about the subject whose payload is stored (`?1`, `?2`..`?5` subject,
/// `?6` page).
fn collect() -> String {
    format!(
        "{window} UPDATE privacy_progress SET export = (SELECT json_group_array(json(v)) FROM ( \
           SELECT value AS v FROM json_each(privacy_progress.export) \
           UNION ALL SELECT json_object('id', id, 'provider', provider, 'type', type, \
             'received_at', received_at, 'payload', payload) FROM events \
           WHERE rowid IN (SELECT r FROM w) AND payload IS NOT NULL AND {about})) \
         WHERE event_id = ?1 AND phase = 'export' AND done_at IS NULL",
        window = window_of("export", 6),
        about = shopify_redact::about_subject(2)
    )
}

/// Every page is scanned and the request is not closed yet.
const FINISHING: &str = "event_id = ?1 AND phase = 'export' AND scanned_to >= scan_end \
     AND done_at IS NULL";

/// Once scanned: the request's record (`?1`, `?2` topic, `?3` shop, `?4` customer id, `?5` the
/// address as sent, `?6` now, `?7` expiry) with the export oldest first. Kept once.
fn record() -> String {
    format!(
        "INSERT INTO privacy_requests (event_id, topic, shop_domain, customer_id, \
           customer_email, events_affected, export, done_at, export_expires_at) \
         SELECT ?1, ?2, ?3, ?4, ?5, json_array_length(export), \
           (SELECT json_group_array(json(value)) FROM (SELECT value FROM json_each(p.export) \
             ORDER BY json_extract(value, '$.received_at'), key)), ?6, ?7 \
         FROM privacy_progress p WHERE {FINISHING} \
         ON CONFLICT (event_id) DO NOTHING"
    )
}

/// Close the request (`?1`, `?2` now): the progress row keeps no export.
fn close() -> String {
    format!("UPDATE privacy_progress SET export = NULL, done_at = ?2 WHERE {FINISHING}")
}
