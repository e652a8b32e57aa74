//! Shopify `customers/redact` and `shop/redact`: remove every copy of the person (or of the whole
//! shop), in pages of at most `page` stored events per run of the step, resumable and idempotent
//! (progress in `privacy_progress`, phase `redact` from the start: whom it is about is known from
//! the request). Also the subject's condition and the page window a `customers/data_request`
//! export reads (`super::shopify_export`).
//!
//! What is about the subject ([`about_subject`]): with no customer named, every event of the
//! shop; else the shop's events of that customer (`/customer/id`, or `/id` of a `customers/*`
//! event) or of one of the listed orders (`/id` of an `orders/*` event), and any payload of any
//! provider holding the address (as a JSON string). For each stored event in the page about the
//! subject, other than the request itself: its payload and headers are dropped (`redacted_at`
//! set; the row stays for the admin) and its steps' `last_error` and attempts' `error` are cut to
//! the error code; any error of the page's events' steps and attempts quoting the address is cut
//! too; and before the page's payloads go, the contact links and stored copies of the Stripe
//! customers whose page events carry the address are deleted. When every page is done: the
//! contact links, stored Stripe customers, suppressions and engagement counters keyed by the
//! address, and earlier data-request exports of the shop about the customer (all the shop's for
//! `shop/redact`) are removed. The request's own event is left for [`closing`], which runs with
//! the step's success record: it keeps the payload the step is planned from until the step
//! succeeds, then drops it and records the request in `privacy_requests`.
//!
//! Every statement of [`pass`] is conditional on the progress row, so the batch runs whole on
//! every run; a run after the last does nothing and says done.

use super::{code_only, Arg, Statement};
use crate::downstream::normalized_email;

/// Whom a Shopify privacy request is about: a customer of a shop (by id, address and orders), or
/// the whole shop when it names no customer.
#[derive(Debug, Clone)]
pub struct Subject<'a> {
    pub shop_domain: &'a str,
    pub customer_id: Option<&'a str>,
    pub customer_email: Option<&'a str>,
    pub order_ids: &'a [String],
}

impl Subject<'_> {
    /// `[shop, customer id, order ids (one JSON array, so hundreds fit D1's 100 parameters),
    /// normalised address]`, the binds of [`about_subject`].
    pub(super) fn args(&self) -> [Arg; 4] {
        let orders = serde_json::to_string(self.order_ids).unwrap_or_else(|_| "[]".into());
        [
            Arg::Text(self.shop_domain.to_string()),
            Arg::opt(self.customer_id),
            Arg::Text(orders),
            Arg::opt(self.email().as_deref()),
        ]
    }

    /// The address as edgehooks keys it.
    fn email(&self) -> Option<String> {
        self.customer_email.map(normalized_email)
    }
}

/// One redact request.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// The request's own event id (the progress row's key).
    pub event_id: &'a str,
    /// The event type, recorded in `privacy_requests.topic`.
    pub topic: &'a str,
    pub subject: Subject<'a>,
    pub now_ms: i64,
}

/// The subject's events, over `events`' columns, binds from `?{first}`: shop, customer id, order
/// ids, address (see [`Subject::args`]). Payloads are tested with `json_valid` first (in a CASE,
/// which SQLite evaluates in order) so a stored non-JSON delivery cannot fail the statement.
pub fn about_subject(first: u8) -> String {
    let (shop, customer, orders, email) = (first, first + 1, first + 2, first + 3);
    format!(
        "(CASE WHEN ?{customer} IS NULL AND ?{email} IS NULL \
           THEN provider = 'shopify' AND account = ?{shop} \
         ELSE (provider = 'shopify' AND account = ?{shop} AND CASE WHEN json_valid(payload) THEN \
           CAST(json_extract(payload, '$.customer.id') AS TEXT) = ?{customer} \
           OR (type LIKE 'customers/%' AND CAST(json_extract(payload, '$.id') AS TEXT) = ?{customer}) \
           OR (type LIKE 'orders/%' AND CAST(json_extract(payload, '$.id') AS TEXT) IN \
               (SELECT value FROM json_each(?{orders}))) \
           ELSE 0 END) \
         OR (?{email} IS NOT NULL AND instr(lower(payload), '\"' || ?{email} || '\"') > 0) END)"
    )
}

/// The statements of one run, in order (one transaction): one page of at most `page` events.
/// The last answers one row with `done` ([`super::Progress::from_done`]).
pub fn pass(r: &Request<'_>, page: u64) -> Vec<Statement> {
    let id = Arg::Text(r.event_id.to_string());
    let page = super::page_arg(page);
    let now = Arg::Int(r.now_ms);
    let [shop, customer, orders, email] = r.subject.args();
    let subject_id = Arg::Text(r.subject.customer_id.unwrap_or_default().to_string());
    let in_page = [&id, &shop, &customer, &orders, &email, &page];
    let mut all = vec![Statement::new(start(), &[&id, &subject_id, &now])];
    all.push(Statement::new(scrub_steps(), &in_page));
    all.push(Statement::new(scrub_attempts(), &in_page));
    if r.subject.customer_email.is_some() {
        for sql in forget_paying_customers() {
            all.push(Statement::new(sql, &[&id, &email, &page]));
        }
    }
    all.push(Statement::new(
        redact_payloads(),
        &[&id, &shop, &customer, &orders, &email, &page, &now],
    ));
    all.push(Statement::new(count_redacted(), &[&id]));
    all.push(Statement::new(advance(), &[&id, &page]));
    if r.subject.customer_email.is_some() {
        for sql in forget_address() {
            all.push(Statement::new(sql, &[&id, &email]));
        }
    }
    all.push(Statement::new(
        forget_exports(),
        &[&id, &shop, &customer, &email],
    ));
    all.push(Statement::new(close(), &[&id, &now]));
    all.push(Statement::done(&id));
    all
}

/// Once [`pass`] says done, with the step's success record (one transaction): the request's own
/// event (its steps' and attempts' error excerpts, then its payload) and the request's record
/// with every payload dropped. Nothing before the passes are done; idempotent after.
pub fn closing(r: &Request<'_>) -> Vec<Statement> {
    let id = Arg::Text(r.event_id.to_string());
    let now = Arg::Int(r.now_ms);
    let topic = Arg::Text(r.topic.to_string());
    let [shop, customer, ..] = r.subject.args();
    let email_mark = Arg::opt(r.subject.customer_email.map(|_| "[redacted]"));
    vec![
        Statement::new(scrub_own_steps(), &[&id]),
        Statement::new(scrub_own_attempts(), &[&id]),
        Statement::new(redact_own_payload(), &[&id, &now]),
        Statement::new(
            record(),
            &[&id, &topic, &shop, &customer, &email_mark, &now],
        ),
    ]
}

/// Begin: the progress row (`?1` request, `?2` the customer id or '', `?3` now), its scan up to
/// the newest event. Nothing when it exists.
fn start() -> String {
    "INSERT INTO privacy_progress (event_id, contact_id, phase, scan_end, started_at) \
     SELECT ?1, ?2, 'redact', COALESCE((SELECT max(rowid) FROM events), 0), ?3 \
     WHERE 1 ON CONFLICT (event_id) DO NOTHING"
        .into()
}

/// `p`: the request's progress while pages of `phase` remain; `w`: the rowids of the next page
/// of events (at most `?{page}`, up to the newest when the request began). Both empty otherwise.
pub(super) fn window_of(phase: &str, page: u8) -> String {
    format!(
        "WITH p AS (SELECT * FROM privacy_progress WHERE event_id = ?1 AND phase = '{phase}' \
           AND done_at IS NULL), \
         w AS (SELECT e.rowid AS r FROM events e, p \
           WHERE e.rowid > p.scanned_to AND e.rowid <= p.scan_end ORDER BY e.rowid LIMIT ?{page}) "
    )
}

fn window(page: u8) -> String {
    window_of("redact", page)
}

/// The ids of this page's events (`w`).
const PAGE_EVENTS: &str = "(SELECT id FROM events WHERE rowid IN (SELECT r FROM w))";

/// This page's events about the subject whose payload is still stored, but the request's own.
fn hits() -> String {
    format!(
        ", hit AS (SELECT id FROM events WHERE rowid IN (SELECT r FROM w) \
           AND payload IS NOT NULL AND id <> ?1 AND {}) ",
        about_subject(2)
    )
}

/// `column` quotes the address (`?5`, possibly NULL).
fn names_address(column: &str) -> String {
    format!("(?5 IS NOT NULL AND instr(lower({column}), ?5) > 0)")
}

/// The page's steps' `last_error` cut to its code, for the events about the subject and wherever
/// it quotes the address (`?1`, `?2`..`?5` subject, `?6` page).
fn scrub_steps() -> String {
    format!(
        "{window}{hits} UPDATE steps SET last_error = {code} \
         WHERE instr(last_error, ':') > 0 AND event_id IN {PAGE_EVENTS} \
           AND (event_id IN (SELECT id FROM hit) OR {named})",
        window = window(6),
        hits = hits(),
        code = code_only("last_error"),
        named = names_address("last_error")
    )
}

/// The same for the page's attempts' `error`.
fn scrub_attempts() -> String {
    format!(
        "{window}{hits} UPDATE attempts SET error = {code} \
         WHERE instr(error, ':') > 0 \
           AND step_id IN (SELECT s.id FROM steps s WHERE s.event_id IN {PAGE_EVENTS}) \
           AND (step_id IN (SELECT s.id FROM steps s WHERE s.event_id IN (SELECT id FROM hit)) \
             OR {named})",
        window = window(6),
        hits = hits(),
        code = code_only("error"),
        named = names_address("error")
    )
}

/// Before the page's payloads go: the contact links and stored copies of the Stripe customers
/// whose page events carry the address (`?1`, `?2` address, `?3` page).
fn forget_paying_customers() -> Vec<String> {
    let paid = format!(
        "{window}, paid AS (SELECT json_extract(payload, '$.data.object.customer') AS c \
           FROM events WHERE rowid IN (SELECT r FROM w) AND provider = 'stripe' \
           AND payload IS NOT NULL AND instr(lower(payload), '\"' || ?2 || '\"') > 0 \
           AND json_valid(payload)) ",
        window = window(3)
    );
    vec![
        format!(
            "{paid} DELETE FROM contact_links WHERE stripe_customer_id IN (SELECT c FROM paid)"
        ),
        format!("{paid} DELETE FROM stripe_customers WHERE id IN (SELECT c FROM paid)"),
    ]
}

/// Drop the payloads of the page's events about the subject (`?1`, `?2`..`?5`, `?6` page,
/// `?7` now).
fn redact_payloads() -> String {
    format!(
        "{window} UPDATE events SET payload = NULL, headers = NULL, redacted_at = ?7 \
         WHERE rowid IN (SELECT r FROM w) AND payload IS NOT NULL AND id <> ?1 AND {about}",
        window = window(6),
        about = about_subject(2)
    )
}

/// Count what [`redact_payloads`] dropped (it must run right before: `changes()`).
fn count_redacted() -> String {
    "UPDATE privacy_progress SET affected = affected + changes() WHERE event_id = ?1".into()
}

/// Move the scan past this page (`?1`, `?2` page); past the last, `scanned_to` is `scan_end`.
fn advance() -> String {
    advance_of("redact")
}

/// [`advance`] for the pages of `phase`.
pub(super) fn advance_of(phase: &str) -> String {
    format!(
        "{window} UPDATE privacy_progress SET scanned_to = \
           CASE WHEN (SELECT max(r) FROM w) < scan_end THEN (SELECT max(r) FROM w) ELSE scan_end END \
         WHERE event_id = ?1 AND phase = '{phase}' AND done_at IS NULL",
        window = window_of(phase, 2)
    )
}

/// Every page is done and the request is not closed yet.
const FINISHING: &str = "EXISTS (SELECT 1 FROM privacy_progress WHERE event_id = ?1 \
     AND phase = 'redact' AND scanned_to >= scan_end AND done_at IS NULL)";

/// Once scanned: what is keyed by the address itself (`?1`, `?2` address).
fn forget_address() -> Vec<String> {
    vec![
        format!("DELETE FROM contact_links WHERE {FINISHING} AND lower(email) = ?2"),
        format!("DELETE FROM stripe_customers WHERE {FINISHING} AND lower(email) = ?2"),
        format!("DELETE FROM suppressions WHERE {FINISHING} AND email = ?2"),
        format!("DELETE FROM engagement WHERE {FINISHING} AND email = ?2"),
    ]
}

/// Once scanned: earlier data-request exports of the shop (`?2`) about the customer (`?3` id,
/// `?4` address), or all of the shop's when neither is named.
fn forget_exports() -> String {
    format!(
        "UPDATE privacy_requests SET export = NULL, \
           customer_email = CASE WHEN customer_email IS NULL THEN NULL ELSE '[redacted]' END \
         WHERE {FINISHING} AND event_id <> ?1 AND shop_domain = ?2 \
           AND ((?3 IS NULL AND ?4 IS NULL) OR customer_id = ?3 OR lower(customer_email) = ?4)"
    )
}

/// Close the passes (`?1`, `?2` now).
fn close() -> String {
    "UPDATE privacy_progress SET done_at = ?2 \
     WHERE event_id = ?1 AND phase = 'redact' AND scanned_to >= scan_end AND done_at IS NULL"
        .into()
}

/// The passes are done (`?1`).
const CLOSED: &str = "EXISTS (SELECT 1 FROM privacy_progress WHERE event_id = ?1 \
     AND done_at IS NOT NULL)";

/// The request's own event, while its payload is stored (`?1`).
const OWN_STORED: &str = "EXISTS (SELECT 1 FROM events WHERE id = ?1 AND payload IS NOT NULL)";

fn scrub_own_steps() -> String {
    format!(
        "UPDATE steps SET last_error = {code} WHERE {CLOSED} AND {OWN_STORED} \
         AND event_id = ?1 AND instr(last_error, ':') > 0",
        code = code_only("last_error")
    )
}

fn scrub_own_attempts() -> String {
    format!(
        "UPDATE attempts SET error = {code} WHERE {CLOSED} AND {OWN_STORED} \
         AND step_id IN (SELECT id FROM steps WHERE event_id = ?1) AND instr(error, ':') > 0",
        code = code_only("error")
    )
}

/// The request's own payload (`?1`, `?2` now).
fn redact_own_payload() -> String {
    format!(
        "UPDATE events SET payload = NULL, headers = NULL, redacted_at = ?2 \
         WHERE {CLOSED} AND id = ?1 AND payload IS NOT NULL"
    )
}

/// The request's record (`?1`, `?2` topic, `?3` shop, `?4` customer id, `?5` the address's mark,
/// `?6` now) counting the pages' payloads and its own ([`redact_own_payload`] runs right before:
/// `changes()`).
fn record() -> String {
    "INSERT INTO privacy_requests (event_id, topic, shop_domain, customer_id, customer_email, \
       events_affected, done_at) \
     SELECT ?1, ?2, ?3, ?4, ?5, affected + changes(), ?6 FROM privacy_progress \
     WHERE event_id = ?1 AND done_at IS NOT NULL \
     ON CONFLICT (event_id) DO NOTHING"
        .into()
}
