//! Privacy requests' D1 work: binds and runs the core's statements
//! (`edgehooks_handlers::privacy`, where what each request removes or collects is said and
//! tested) and holds no SQL of its own. A paged request (a HubSpot `contact.privacyDeletion`, a
//! Shopify `customers/redact` or `shop/redact`) runs one pass per run of its step, as one D1
//! batch, and says whether pages remain; a Shopify redact's closing statements join the step's
//! success batch. A `customers/data_request` reads the subject's events and records the export.
//!
//! Writes: `privacy_progress`, `privacy_requests`; scrubs `events`, `steps`, `attempts`; deletes
//! from `contact_links`, `suppressions`, `engagement`, `stripe_customers`.

use edgehooks_handlers::privacy::shopify_export::{self, Export};
use edgehooks_handlers::privacy::shopify_redact::{self, Subject};
use edgehooks_handlers::privacy::{forget_contact, Arg, Progress, Statement};
use edgehooks_handlers::retention::EXPORT_TTL_MS;
use serde::Serialize;
use worker::wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement, Result};

use super::rows::{batch, query, FromRow, Row};
use super::{num, statement};

/// HubSpot `contact.privacyDeletion`: one run of the core's statements (one page of each pass,
/// see `edgehooks_handlers::privacy::forget_contact`); where the request stands after it.
pub async fn forget_contact_page(
    db: &D1Database,
    request: &forget_contact::Request<'_>,
) -> Result<Progress> {
    run_pass(db, &forget_contact::statements(request)).await
}

/// Shopify `customers/redact` or `shop/redact`: one page of at most `page` stored events (see
/// `edgehooks_handlers::privacy::shopify_redact`); where the request stands after it.
pub async fn shopify_redact_page(
    db: &D1Database,
    request: &shopify_redact::Request<'_>,
    page: u64,
) -> Result<Progress> {
    run_pass(db, &shopify_redact::pass(request, page)).await
}

/// Once the pages are done: the request's own event and its record, for the step's success
/// batch.
pub fn shopify_redact_closing(
    db: &D1Database,
    request: &shopify_redact::Request<'_>,
) -> Result<Vec<D1PreparedStatement>> {
    shopify_redact::closing(request)
        .iter()
        .map(|s| bound(db, s))
        .collect()
}

/// One pass as one D1 batch (one transaction); its last statement answers `done`.
async fn run_pass(db: &D1Database, pass: &[Statement]) -> Result<Progress> {
    struct Done(Option<i64>);
    impl FromRow for Done {
        fn from_row(row: &Row) -> Self {
            Done(row.opt_int("done"))
        }
    }
    let statements = pass
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
            Arg::Null => JsValue::NULL,
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
    let rows = query(&bound(db, &shopify_export::events(subject))?)
        .await?
        .read::<Stored>()?;
    let json = serde_json::to_string(&rows).unwrap_or_else(|_| "[]".into());
    let record = Export {
        event_id,
        topic,
        json: &json,
        count: i64::try_from(rows.len()).unwrap_or(i64::MAX),
        now_ms,
        expires_at_ms: now_ms.saturating_add(EXPORT_TTL_MS),
    };
    bound(db, &shopify_export::record(subject, &record))
}
