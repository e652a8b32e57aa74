//! The D1 work of local steps (shops, suppressions, engagement, link deletion; privacy requests
//! are `privacy`'s): the statements each `LocalAction` runs in its step's success batch (none
//! for a paged privacy request, whose pages run before it, but a Shopify redact's closing).

use edgehooks_handlers::downstream::LocalAction;
use edgehooks_handlers::privacy::shopify_export;
use edgehooks_handlers::privacy::shopify_redact::{Request, Subject};
use edgehooks_handlers::retention::EXPORT_TTL_MS;
use worker::{D1Database, D1PreparedStatement, Result};

use super::privacy;
use super::{num, statement};

/// The statements that carry out a local step (all in the step's success batch).
pub async fn local_action_statements(
    db: &D1Database,
    action: &LocalAction,
    event_id: &str,
    topic: &str,
    now_ms: i64,
) -> Result<Vec<D1PreparedStatement>> {
    let statements = match action {
        LocalAction::MarkShopInactive { shop_domain } => {
            vec![shop_inactive(db, shop_domain, now_ms)?]
        }
        // Its pages run before the success batch (`privacy::shopify_redact_page`); this closes.
        LocalAction::Redact { .. } => match redact_request(action, event_id, topic, now_ms) {
            Some(request) => privacy::shopify_redact_closing(db, &request)?,
            None => Vec::new(),
        },
        // Their pages run before the success batch (`privacy::shopify_export_page`,
        // `privacy::forget_contact_page`), the last recording the request.
        LocalAction::Export { .. } | LocalAction::ForgetContact { .. } => Vec::new(),
        LocalAction::RecordSuppression { email, reason } => {
            vec![suppression(db, email, reason.name(), event_id, now_ms)?]
        }
        LocalAction::CountEngagement { email, kind } => {
            vec![engagement(db, email, kind.name(), now_ms)?]
        }
        LocalAction::MarkMappingDeleted { hubspot_contact_id } => {
            vec![link_deleted(db, hubspot_contact_id, now_ms)?]
        }
    };
    Ok(statements)
}

/// A Shopify redact's request (`None` for any other action): the same in every run of its step.
pub fn redact_request<'a>(
    action: &'a LocalAction,
    event_id: &'a str,
    topic: &'a str,
    now_ms: i64,
) -> Option<Request<'a>> {
    let LocalAction::Redact {
        shop_domain,
        customer_id,
        customer_email,
        order_ids,
    } = action
    else {
        return None;
    };
    Some(Request {
        event_id,
        topic,
        subject: subject(shop_domain, customer_id, customer_email, order_ids),
        now_ms,
    })
}

/// A Shopify data request's export request (`None` for any other action), expiring after
/// `EXPORT_TTL_MS` (the sweeper drops it then).
pub fn export_request<'a>(
    action: &'a LocalAction,
    event_id: &'a str,
    topic: &'a str,
    now_ms: i64,
) -> Option<shopify_export::Request<'a>> {
    let LocalAction::Export {
        shop_domain,
        customer_id,
        customer_email,
        order_ids,
        ..
    } = action
    else {
        return None;
    };
    Some(shopify_export::Request {
        event_id,
        topic,
        subject: subject(shop_domain, customer_id, customer_email, order_ids),
        now_ms,
        expires_at_ms: now_ms.saturating_add(EXPORT_TTL_MS),
    })
}

/// Whom a Shopify privacy request is about.
fn subject<'a>(
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

/// A shop uninstalled the app.
fn shop_inactive(db: &D1Database, shop_domain: &str, now_ms: i64) -> Result<D1PreparedStatement> {
    statement(
        db,
        "INSERT INTO shops (shop_domain, active, uninstalled_at, updated_at) VALUES (?1, 0, ?2, ?2) \
         ON CONFLICT (shop_domain) DO UPDATE SET active = 0, uninstalled_at = ?2, updated_at = ?2",
        &[shop_domain.into(), num(now_ms)],
    )
}

/// An address SendGrid must no longer mail, for `reason` (kept once per reason).
fn suppression(
    db: &D1Database,
    email: &str,
    reason: &str,
    event_id: &str,
    now_ms: i64,
) -> Result<D1PreparedStatement> {
    statement(
        db,
        "INSERT INTO suppressions (email, reason, event_id, created_at) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (email, reason) DO NOTHING",
        &[email.into(), reason.into(), event_id.into(), num(now_ms)],
    )
}

/// One more open or click of an address.
fn engagement(
    db: &D1Database,
    email: &str,
    kind: &str,
    now_ms: i64,
) -> Result<D1PreparedStatement> {
    statement(
        db,
        "INSERT INTO engagement (email, kind, count, last_at) VALUES (?1, ?2, 1, ?3) \
         ON CONFLICT (email, kind) DO UPDATE SET count = count + 1, last_at = MAX(last_at, ?3)",
        &[email.into(), kind.into(), num(now_ms)],
    )
}

/// A HubSpot contact was deleted: its link is kept, marked deleted.
fn link_deleted(
    db: &D1Database,
    hubspot_contact_id: &str,
    now_ms: i64,
) -> Result<D1PreparedStatement> {
    statement(
        db,
        "UPDATE contact_links SET deleted_at = ?2, updated_at = ?2 WHERE hubspot_contact_id = ?1",
        &[hubspot_contact_id.into(), num(now_ms)],
    )
}
