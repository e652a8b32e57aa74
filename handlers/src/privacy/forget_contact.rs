//! HubSpot `contact.privacyDeletion`: forget the contact, in pages of at most `page` stored
//! events per run of the step, resumable and idempotent (progress in `privacy_progress`).
//!
//! Who the person is: the HubSpot contact id; the Stripe customers its link names; the
//! addresses its link and those customers' stored copies hold, and those found in a first pass
//! over the events (phase `find`): the contact's HubSpot `email` property changes and the email
//! fields of the linked customers' Stripe events. A second pass (phase `redact`) then, for each
//! stored event in the page that is a HubSpot contact event of the contact,
//! a Stripe event of a linked customer (`/data/object/customer`, or `/data/object/id` for the
//! customer's own `customer.*` events), or any payload of any provider holding one of the
//! addresses (as a JSON string): drops its payload (`redacted_at` set; the row, its id and
//! status stay for the admin) and cuts its steps' `last_error` and attempts' `error` to the
//! error code; and cuts any error of the page's events' steps and attempts that quotes an
//! address. When the second pass is done: the addresses' suppressions and engagement counters,
//! the stored Stripe customers and contact links of the contact, its customers or its
//! addresses, and earlier data-request exports about an address are removed, the request's own
//! payload is dropped (only now: the step reads it on every run), the request is recorded in
//! `privacy_requests`, and the progress row keeps no address or customer.
//!
//! Every statement is conditional on the progress row, so the batch runs whole on every run: a
//! run does at most one page of each pass (a `find` page, and the first `redact` page when the
//! first pass ends in it), and a run after the last does nothing.

pub use super::Progress;
use super::{code_only, normalized_email_sql, Arg, Statement};

/// Stored events scanned per pass and run, unless `PRIVACY_PAGE_EVENTS` says otherwise.
pub const DEFAULT_PAGE_EVENTS: u64 = 500;

/// The Stripe payload fields that carry a customer's address.
const STRIPE_EMAIL_PATHS: &str = "[\"$.data.object.email\", \"$.data.object.customer_email\", \
     \"$.data.object.customer_details.email\", \"$.data.object.receipt_email\", \
     \"$.data.object.billing_details.email\"]";

/// One privacy deletion request.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// The request's own event id (the progress row's key).
    pub event_id: &'a str,
    /// The event type, recorded in `privacy_requests.topic`.
    pub topic: &'a str,
    pub contact_id: &'a str,
    /// Stored events scanned per pass and run (at least 1).
    pub page: u64,
    pub now_ms: i64,
}

/// The statements of one run, in order (one transaction).
pub fn statements(r: &Request<'_>) -> Vec<Statement> {
    let id = Arg::Text(r.event_id.to_string());
    let contact = Arg::Text(r.contact_id.to_string());
    let page = super::page_arg(r.page);
    let now = Arg::Int(r.now_ms);
    let topic = Arg::Text(r.topic.to_string());
    let mut all = vec![Statement::new(start(), &[&id, &contact, &now])];
    all.push(Statement::new(find_addresses(), &[&id, &contact, &page]));
    all.push(Statement::new(
        advance(Phase::Find, "0", "'redact'"),
        &[&id, &page],
    ));
    all.push(Statement::new(scrub_steps(), &[&id, &contact, &page]));
    all.push(Statement::new(scrub_attempts(), &[&id, &contact, &page]));
    all.push(Statement::new(
        redact_payloads(),
        &[&id, &contact, &page, &now],
    ));
    all.push(Statement::new(count_redacted(), &[&id]));
    all.push(Statement::new(
        advance(Phase::Redact, "scan_end", "'redact'"),
        &[&id, &page],
    ));
    for sql in finish_removals() {
        all.push(Statement::new(sql, &[&id]));
    }
    all.push(Statement::new(unlink(), &[&id, &contact]));
    all.push(Statement::new(redact_own_payload(), &[&id, &now]));
    all.push(Statement::new(count_redacted(), &[&id]));
    all.push(Statement::new(record(), &[&id, &topic, &now]));
    all.push(Statement::new(close(), &[&id, &now]));
    all.push(Statement::done(&id));
    all
}

#[derive(Clone, Copy)]
enum Phase {
    Find,
    Redact,
}

impl Phase {
    fn name(self) -> &'static str {
        match self {
            Phase::Find => "find",
            Phase::Redact => "redact",
        }
    }
}

/// `p`: the request's progress while in `phase`; `w`: the rowids of the next page of events
/// (at most `?{page}`, up to the newest when the request began). Both empty otherwise.
fn window(phase: Phase, page: u8) -> String {
    format!(
        "WITH p AS (SELECT * FROM privacy_progress WHERE event_id = ?1 AND phase = '{}' \
           AND done_at IS NULL), \
         w AS (SELECT e.rowid AS r FROM events e, p \
           WHERE e.rowid > p.scanned_to AND e.rowid <= p.scan_end ORDER BY e.rowid LIMIT ?{page}) ",
        phase.name()
    )
}

/// The addresses (`?1`'s progress) quoted in `column` (as a JSON string when `quoted`).
fn mentions(column: &str, quoted: bool) -> String {
    let needle = if quoted {
        "'\"' || m.value || '\"'"
    } else {
        "m.value"
    };
    format!(
        "EXISTS (SELECT 1 FROM p, json_each(p.emails) m \
         WHERE instr(lower({column}), {needle}) > 0)"
    )
}

/// The Stripe events of the linked customers (payload known to be valid JSON).
const OF_CUSTOMERS: &str = "provider = 'stripe' AND \
     (json_extract(payload, '$.data.object.customer') IN (SELECT value FROM p, json_each(p.customers)) \
      OR json_extract(payload, '$.data.object.id') IN (SELECT value FROM p, json_each(p.customers)))";

/// The contact's own HubSpot contact events, `?2` the contact id (payload valid JSON).
const OF_CONTACT: &str = "provider = 'hubspot' \
     AND json_extract(payload, '$.subscriptionType') LIKE 'contact.%' \
     AND CAST(json_extract(payload, '$.objectId') AS TEXT) = ?2";

/// An event about the person (see the module doc), over `events`' columns; `payload` is tested
/// with `json_valid` first, in a CASE (evaluated in order), so a stored non-JSON delivery never
/// fails the statement.
fn about_person() -> String {
    format!(
        "(id = ?1 OR CASE WHEN json_valid(payload) THEN ({OF_CONTACT}) OR ({OF_CUSTOMERS}) \
         ELSE 0 END OR {})",
        mentions("payload", true)
    )
}

/// Begin: the progress row with who the person is as far as rows say (`?1` request, `?2`
/// contact, `?3` now). Nothing when it exists.
fn start() -> String {
    let address = normalized_email_sql("a");
    format!(
        "INSERT INTO privacy_progress (event_id, contact_id, emails, customers, scan_end, started_at) \
         SELECT ?1, ?2, \
           (SELECT json_group_array(DISTINCT {address}) FROM ( \
              SELECT email AS a FROM contact_links WHERE hubspot_contact_id = ?2 \
              UNION ALL SELECT c.email FROM stripe_customers c WHERE c.id IN \
                (SELECT stripe_customer_id FROM contact_links WHERE hubspot_contact_id = ?2)) \
            WHERE instr(a, '@') > 0), \
           (SELECT json_group_array(DISTINCT stripe_customer_id) FROM contact_links \
            WHERE hubspot_contact_id = ?2 AND stripe_customer_id IS NOT NULL), \
           COALESCE((SELECT max(rowid) FROM events), 0), ?3 \
         WHERE 1 ON CONFLICT (event_id) DO NOTHING"
    )
}

/// First pass: add the addresses this page's events give (`?1`, `?2` contact, `?3` page).
fn find_addresses() -> String {
    let hubspot = normalized_email_sql("json_extract(payload, '$.propertyValue')");
    let stripe = normalized_email_sql("json_extract(payload, f.value)");
    format!(
        "{window} , found AS ( \
           SELECT {hubspot} AS e FROM events WHERE rowid IN (SELECT r FROM w) \
             AND CASE WHEN json_valid(payload) THEN ({OF_CONTACT}) \
               AND json_extract(payload, '$.propertyName') = 'email' ELSE 0 END \
           UNION SELECT {stripe} FROM events ev, json_each('{STRIPE_EMAIL_PATHS}') f \
             WHERE ev.rowid IN (SELECT r FROM w) \
             AND CASE WHEN json_valid(payload) THEN ({OF_CUSTOMERS}) ELSE 0 END) \
         UPDATE privacy_progress SET emails = (SELECT json_group_array(e) FROM ( \
             SELECT value AS e FROM json_each(privacy_progress.emails) \
             UNION SELECT e FROM found WHERE instr(e, '@') > 0)) \
         WHERE event_id = ?1 AND phase = 'find' AND done_at IS NULL \
           AND EXISTS (SELECT 1 FROM found WHERE instr(e, '@') > 0)",
        window = window(Phase::Find, 3)
    )
}

/// Move `phase`'s scan past this page (`?1`, `?2` page); past the last: `scanned_to` becomes
/// `at_end` and `phase` becomes `next`.
fn advance(phase: Phase, at_end: &str, next: &str) -> String {
    format!(
        "{window} UPDATE privacy_progress SET \
           scanned_to = CASE WHEN (SELECT max(r) FROM w) < scan_end THEN (SELECT max(r) FROM w) \
             ELSE {at_end} END, \
           phase = CASE WHEN (SELECT max(r) FROM w) < scan_end THEN phase ELSE {next} END \
         WHERE event_id = ?1 AND phase = '{name}' AND done_at IS NULL",
        window = window(phase, 2),
        name = phase.name()
    )
}

/// The ids of this page's events (`w`).
const PAGE_EVENTS: &str = "(SELECT id FROM events WHERE rowid IN (SELECT r FROM w))";

/// This page's events about the person, whose payload is still stored.
fn hits() -> String {
    format!(
        ", hit AS (SELECT id FROM events WHERE rowid IN (SELECT r FROM w) \
           AND payload IS NOT NULL AND {}) ",
        about_person()
    )
}

/// Second pass: the page's steps' `last_error` cut to its code, for the events about the person
/// and wherever it quotes an address (`?1`, `?2` contact, `?3` page).
fn scrub_steps() -> String {
    format!(
        "{window}{hits} UPDATE steps SET last_error = {code} \
         WHERE instr(last_error, ':') > 0 AND event_id IN {PAGE_EVENTS} \
           AND (event_id IN (SELECT id FROM hit) OR {named})",
        window = window(Phase::Redact, 3),
        hits = hits(),
        code = code_only("last_error"),
        named = mentions("last_error", false)
    )
}

/// The same for the page's attempts' `error` (`?1`, `?2` contact, `?3` page).
fn scrub_attempts() -> String {
    format!(
        "{window}{hits} UPDATE attempts SET error = {code} \
         WHERE instr(error, ':') > 0 \
           AND step_id IN (SELECT s.id FROM steps s WHERE s.event_id IN {PAGE_EVENTS}) \
           AND (step_id IN (SELECT s.id FROM steps s WHERE s.event_id IN (SELECT id FROM hit)) \
             OR {named})",
        window = window(Phase::Redact, 3),
        hits = hits(),
        code = code_only("error"),
        named = mentions("error", false)
    )
}

/// Drop the payloads of the page's events about the person (`?1`, `?2`, `?3` page, `?4` now),
/// but the request's own: its step reads it on every run, and events stored after the request
/// but before its first run put it in an earlier page than the last ([`redact_own_payload`]).
fn redact_payloads() -> String {
    format!(
        "{window} UPDATE events SET payload = NULL, headers = NULL, redacted_at = ?4 \
         WHERE rowid IN (SELECT r FROM w) AND payload IS NOT NULL AND id <> ?1 AND {about}",
        window = window(Phase::Redact, 3),
        about = about_person()
    )
}

/// Count what [`redact_payloads`] dropped (it must run right before: `changes()`).
fn count_redacted() -> String {
    "UPDATE privacy_progress SET affected = affected + changes() WHERE event_id = ?1".into()
}

/// The request has scanned everything and is not closed yet.
const FINISHING: &str = "EXISTS (SELECT 1 FROM privacy_progress WHERE event_id = ?1 \
     AND phase = 'redact' AND scanned_to >= scan_end AND done_at IS NULL)";
const ADDRESSES: &str = "(SELECT value FROM privacy_progress, json_each(privacy_progress.emails) \
     WHERE event_id = ?1)";
const CUSTOMERS: &str =
    "(SELECT value FROM privacy_progress, json_each(privacy_progress.customers) \
     WHERE event_id = ?1)";

/// Once scanned (`?1`): the addresses' suppressions and engagement, the stored customers of the
/// linked ids or addresses, and earlier exports about an address.
fn finish_removals() -> Vec<String> {
    let stored = normalized_email_sql("email");
    let exported = normalized_email_sql("customer_email");
    vec![
        format!("DELETE FROM suppressions WHERE {FINISHING} AND email IN {ADDRESSES}"),
        format!("DELETE FROM engagement WHERE {FINISHING} AND email IN {ADDRESSES}"),
        format!(
            "DELETE FROM stripe_customers WHERE {FINISHING} \
             AND (id IN {CUSTOMERS} OR {stored} IN {ADDRESSES})"
        ),
        format!(
            "UPDATE privacy_requests SET export = NULL, customer_email = '[redacted]' \
             WHERE {FINISHING} AND event_id <> ?1 AND {exported} IN {ADDRESSES}"
        ),
    ]
}

/// Once scanned (`?1`, `?2` now): the request's own payload, in the run that finishes it.
fn redact_own_payload() -> String {
    format!(
        "UPDATE events SET payload = NULL, headers = NULL, redacted_at = ?2 \
         WHERE id = ?1 AND payload IS NOT NULL AND {FINISHING}"
    )
}

/// Once scanned: the links of the contact (`?2`), of its customers and of its addresses.
fn unlink() -> String {
    let stored = normalized_email_sql("email");
    format!(
        "DELETE FROM contact_links WHERE {FINISHING} AND (hubspot_contact_id = ?2 \
         OR stripe_customer_id IN {CUSTOMERS} OR {stored} IN {ADDRESSES})"
    )
}

/// Once scanned: the request's record (`?1`, `?2` topic, `?3` now) with the payloads dropped.
fn record() -> String {
    "INSERT INTO privacy_requests (event_id, topic, customer_id, events_affected, done_at) \
     SELECT event_id, ?2, contact_id, affected, ?3 FROM privacy_progress WHERE event_id = ?1 \
       AND phase = 'redact' AND scanned_to >= scan_end AND done_at IS NULL \
     ON CONFLICT (event_id) DO NOTHING"
        .into()
}

/// Close the request (`?1`, `?2` now): keep no address or customer.
fn close() -> String {
    "UPDATE privacy_progress SET emails = '[]', customers = '[]', done_at = ?2 \
     WHERE event_id = ?1 AND phase = 'redact' AND scanned_to >= scan_end AND done_at IS NULL"
        .into()
}
