//! Privacy requests' SQL: what a redact removes and what an export collects. A redact removes
//! every copy of the person: stored payloads that name them, the error excerpts of those events'
//! steps and attempts (kept to their error code), the contact links of the Stripe customers
//! their payloads name, their SendGrid suppressions and engagement counters, and earlier
//! data-request exports about them. Every list (order ids) is bound as one JSON array read with
//! `json_each`, so a customer with hundreds of orders stays within D1's 100 parameters. The
//! statements run in the step's success batch (one transaction), scrubs first: they find the
//! person's events by payloads the redact then drops. A HubSpot `contact.privacyDeletion` runs
//! the core's paged statements (`edgehooks_handlers::privacy::forget_contact`), a batch per run.
//!
//! Writes: `privacy_requests`; scrubs `events`, `steps`, `attempts`; deletes from
//! `contact_links`, `suppressions`, `engagement`, `stripe_customers`.

use edgehooks_handlers::downstream::normalized_email;
use edgehooks_handlers::privacy::forget_contact::{self, Progress, Request};
use edgehooks_handlers::privacy::{code_only, Arg, Statement};
use edgehooks_handlers::retention::EXPORT_TTL_MS;
use serde::Serialize;
use worker::wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement, Result};

use super::rows::{batch, query, FromRow, Row};
use super::{num, opt_text, statement};

/// Whom a Shopify privacy request is about: a customer of a shop (by id, email and orders), or
/// the whole shop when it names no customer.
pub struct Subject<'a> {
    pub shop_domain: &'a str,
    pub customer_id: Option<&'a str>,
    pub customer_email: Option<&'a str>,
    pub order_ids: &'a [String],
}

impl<'a> Subject<'a> {
    /// The subject of a redact or export step's action.
    pub fn new(
        shop_domain: &'a str,
        customer_id: &'a Option<String>,
        customer_email: &'a Option<String>,
        order_ids: &'a [String],
    ) -> Subject<'a> {
        Subject {
            shop_domain,
            customer_id: customer_id.as_deref(),
            customer_email: customer_email.as_deref(),
            order_ids,
        }
    }

    /// `?1` shop, `?2` customer id, `?3` order ids (JSON array), `?4` the email as a JSON string.
    fn args(&self) -> Vec<JsValue> {
        let orders = serde_json::to_string(self.order_ids).unwrap_or_else(|_| "[]".into());
        vec![
            self.shop_domain.into(),
            opt_text(self.customer_id),
            orders.as_str().into(),
            opt_text(self.quoted_email().as_deref()),
        ]
    }

    fn email(&self) -> Option<String> {
        self.customer_email.map(normalized_email)
    }

    /// The address as a JSON string, to find it anywhere in any provider's payload.
    fn quoted_email(&self) -> Option<String> {
        self.email().map(|e| format!("\"{e}\""))
    }
}

/// Condition on `events` over [`Subject::args`]: with no customer, every event of the shop;
/// else the shop's events of that customer or of the listed orders, and any payload holding the
/// address. Payloads are tested with `json_valid` first (in a CASE, which SQLite evaluates in
/// order) so a stored non-JSON delivery cannot fail the statement.
const SUBJECT: &str =
    "(CASE WHEN ?2 IS NULL AND ?4 IS NULL THEN provider = 'shopify' AND account = ?1 \
     ELSE (provider = 'shopify' AND account = ?1 AND CASE WHEN json_valid(payload) THEN \
       CAST(json_extract(payload, '$.customer.id') AS TEXT) = ?2 \
       OR (type LIKE 'customers/%' AND CAST(json_extract(payload, '$.id') AS TEXT) = ?2) \
       OR (type LIKE 'orders/%' AND CAST(json_extract(payload, '$.id') AS TEXT) IN \
           (SELECT value FROM json_each(?3))) \
       ELSE 0 END) \
     OR (?4 IS NOT NULL AND instr(lower(payload), ?4) > 0) END)";

/// Scrub the error excerpts of the steps and attempts of the events matching `events` (a
/// condition whose binds are `args`, the request's own event id last), and of any whose text
/// holds `email_param` (a bind in `args`, possibly NULL).
fn scrub_errors(
    db: &D1Database,
    events: &str,
    email_param: Option<&str>,
    args: &[JsValue],
) -> Result<Vec<D1PreparedStatement>> {
    let named = |column: &str| match email_param {
        Some(p) => format!("OR ({p} IS NOT NULL AND instr(lower({column}), {p}) > 0)"),
        None => String::new(),
    };
    let steps = statement(
        db,
        &format!(
            "UPDATE steps SET last_error = {} WHERE instr(last_error, ':') > 0 AND \
             (event_id IN (SELECT id FROM events WHERE payload IS NOT NULL AND {events}) {})",
            code_only("last_error"),
            named("last_error")
        ),
        args,
    )?;
    let attempts = statement(
        db,
        &format!(
            "UPDATE attempts SET error = {} WHERE instr(error, ':') > 0 AND \
             (step_id IN (SELECT s.id FROM steps s WHERE s.event_id IN \
              (SELECT id FROM events WHERE payload IS NOT NULL AND {events})) {})",
            code_only("error"),
            named("error")
        ),
        args,
    )?;
    Ok(vec![steps, attempts])
}

/// Drop `events`' payloads (binds `args`, `now_ms` at `?now`) and record the request with the
/// number of events it affected (`changes()` of that update, so the two stay adjacent).
fn redact_and_record(
    db: &D1Database,
    events: &str,
    args: &[JsValue],
    now_param: &str,
    record: Record<'_>,
) -> Result<Vec<D1PreparedStatement>> {
    let redact = statement(
        db,
        &format!(
            "UPDATE events SET payload = NULL, headers = NULL, redacted_at = {now_param} \
             WHERE payload IS NOT NULL AND {events}"
        ),
        args,
    )?;
    let record = statement(
        db,
        "INSERT INTO privacy_requests (event_id, topic, shop_domain, customer_id, customer_email, \
         events_affected, done_at) VALUES (?1, ?2, ?3, ?4, ?5, changes(), ?6) \
         ON CONFLICT (event_id) DO NOTHING",
        &[
            record.event_id.into(),
            record.topic.into(),
            opt_text(record.shop_domain),
            opt_text(record.customer_id),
            opt_text(record.redacted_email.then_some("[redacted]")),
            num(record.now_ms),
        ],
    )?;
    Ok(vec![redact, record])
}

struct Record<'a> {
    event_id: &'a str,
    topic: &'a str,
    shop_domain: Option<&'a str>,
    customer_id: Option<&'a str>,
    redacted_email: bool,
    now_ms: i64,
}

/// `customers/redact` or `shop/redact` (see the module doc).
pub fn redact(
    db: &D1Database,
    subject: &Subject<'_>,
    event_id: &str,
    topic: &str,
    now_ms: i64,
) -> Result<Vec<D1PreparedStatement>> {
    let mut args = subject.args();
    args.push(event_id.into()); // ?5
    args.push(opt_text(subject.email().as_deref())); // ?6
    let events = format!("(id = ?5 OR {SUBJECT})");
    let mut statements = scrub_errors(db, &events, Some("?6"), &args)?;
    if let Some(email) = subject.email() {
        statements.extend(forget_email(db, &email)?);
    }
    args.truncate(5);
    args.push(num(now_ms)); // ?6
    statements.extend(redact_and_record(
        db,
        &events,
        &args,
        "?6",
        Record {
            event_id,
            topic,
            shop_domain: Some(subject.shop_domain),
            customer_id: subject.customer_id,
            redacted_email: subject.customer_email.is_some(),
            now_ms,
        },
    )?);
    statements.push(statement(
        db,
        "UPDATE privacy_requests SET export = NULL, \
         customer_email = CASE WHEN customer_email IS NULL THEN NULL ELSE '[redacted]' END \
         WHERE event_id != ?4 AND shop_domain = ?1 AND \
         ((?2 IS NULL AND ?3 IS NULL) OR customer_id = ?2 OR lower(customer_email) = ?3)",
        &[
            subject.shop_domain.into(),
            opt_text(subject.customer_id),
            opt_text(subject.email().as_deref()),
            event_id.into(),
        ],
    )?);
    Ok(statements)
}

/// The Stripe customers whose stored events carry the address (read before the payloads go).
const CUSTOMERS_OF_EMAIL: &str = "(SELECT json_extract(payload, '$.data.object.customer') \
     FROM events WHERE provider = 'stripe' AND payload IS NOT NULL \
     AND instr(lower(payload), ?2) > 0 AND json_valid(payload))";

/// What is keyed by the address itself: the contact links and the stored copies of the Stripe
/// customers whose stored events carry it (run before the payloads go), its suppressions and
/// engagement counters.
fn forget_email(db: &D1Database, email: &str) -> Result<Vec<D1PreparedStatement>> {
    let quoted = format!("\"{email}\"");
    let args = [email.into(), quoted.as_str().into()];
    Ok(vec![
        statement(
            db,
            &format!(
                "DELETE FROM contact_links WHERE lower(email) = ?1 \
                 OR stripe_customer_id IN {CUSTOMERS_OF_EMAIL}"
            ),
            &args,
        )?,
        statement(
            db,
            &format!("DELETE FROM stripe_customers WHERE lower(email) = ?1 OR id IN {CUSTOMERS_OF_EMAIL}"),
            &args,
        )?,
        statement(
            db,
            "DELETE FROM suppressions WHERE email = ?1",
            &[email.into()],
        )?,
        statement(
            db,
            "DELETE FROM engagement WHERE email = ?1",
            &[email.into()],
        )?,
    ])
}

/// HubSpot `contact.privacyDeletion`: one run of the core's statements (one page of each pass,
/// see `edgehooks_handlers::privacy::forget_contact`) as one D1 batch of its own; where the
/// request stands after it.
pub async fn forget_contact_page(db: &D1Database, request: &Request<'_>) -> Result<Progress> {
    struct Done(Option<i64>);
    impl FromRow for Done {
        fn from_row(row: &Row) -> Self {
            Done(row.opt_int("done"))
        }
    }
    let statements = forget_contact::statements(request)
        .iter()
        .map(|s| bound(db, s))
        .collect::<Result<Vec<_>>>()?;
    let answers = batch(db, statements).await?;
    let done = match answers.last() {
        Some(answer) => answer.rows()?.read_first::<Done>()?.and_then(|d| d.0),
        None => None,
    };
    Ok(Progress::from_done(done))
}

/// A core statement with its arguments bound.
fn bound(db: &D1Database, s: &Statement) -> Result<D1PreparedStatement> {
    let args: Vec<JsValue> = s
        .args
        .iter()
        .map(|a| match a {
            Arg::Text(t) => t.as_str().into(),
            Arg::Int(n) => num(*n),
        })
        .collect();
    statement(db, &s.sql, &args)
}

/// `customers/data_request`: collect the customer's stored events into the request's record,
/// which expires after `EXPORT_TTL_MS` (the sweeper drops it then).
pub async fn export(
    db: &D1Database,
    subject: &Subject<'_>,
    event_id: &str,
    topic: &str,
    now_ms: i64,
) -> Result<D1PreparedStatement> {
    #[derive(Serialize)]
    struct Stored {
        id: String,
        provider: String,
        #[serde(rename = "type")]
        event_type: String,
        received_at: i64,
        payload: Option<String>,
    }
    impl FromRow for Stored {
        fn from_row(row: &Row) -> Self {
            Stored {
                id: row.text("id"),
                provider: row.text("provider"),
                event_type: row.text("type"),
                received_at: row.int("received_at"),
                payload: row.opt_text("payload"),
            }
        }
    }
    let sql = format!(
        "SELECT id, provider, type, received_at, payload FROM events \
         WHERE payload IS NOT NULL AND {SUBJECT} ORDER BY received_at"
    );
    let rows = query(&statement(db, &sql, &subject.args())?)
        .await?
        .read::<Stored>()?;
    let export = serde_json::to_string(&rows).unwrap_or_else(|_| "[]".into());
    statement(
        db,
        "INSERT INTO privacy_requests (event_id, topic, shop_domain, customer_id, customer_email, \
         events_affected, export, done_at, export_expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
         ON CONFLICT (event_id) DO NOTHING",
        &[
            event_id.into(),
            topic.into(),
            subject.shop_domain.into(),
            opt_text(subject.customer_id),
            opt_text(subject.customer_email),
            num(rows.len() as i64),
            export.as_str().into(),
            num(now_ms),
            num(now_ms.saturating_add(EXPORT_TTL_MS)),
        ],
    )
}
