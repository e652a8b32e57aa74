//! Privacy requests' D1 work: binds and runs the core's statements
//! (`edgehooks_handlers::privacy`, where what each request removes or collects is said and
//! tested) and holds no SQL of its own. Every request (a HubSpot `contact.privacyDeletion`, a
//! Shopify `customers/redact`, `shop/redact` or `customers/data_request`) is paged: one pass per
//! run of its step, as one D1 batch, saying whether pages remain; a Shopify redact's closing
//! statements join the step's success batch.
//!
//! Writes: `privacy_progress`, `privacy_requests`; scrubs `events`, `steps`, `attempts`; deletes
//! from `contact_links`, `suppressions`, `engagement`, `stripe_customers`.

use edgehooks_handlers::privacy::{
    forget_contact, shopify_export, shopify_redact, Arg, Progress, Statement,
};
use worker::wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement, Result};

use super::rows::{batch, FromRow, Row};
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

/// `customers/data_request`: one page of at most `page` stored events collected into the export
/// (see `edgehooks_handlers::privacy::shopify_export`; the last records it); where the request
/// stands after it.
pub async fn shopify_export_page(
    db: &D1Database,
    request: &shopify_export::Request<'_>,
    page: u64,
) -> Result<Progress> {
    run_pass(db, &shopify_export::pass(request, page)).await
}
