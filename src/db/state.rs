//! SQL for the state steps maintain: applied ordering versions, the HubSpot contact ↔ Stripe
//! customer links, and the D1 work of local steps (shops, suppressions, engagement, link
//! deletion; privacy requests are `privacy`'s).

use edgehooks_handlers::downstream::{ContactLink, LocalAction};
use serde::Deserialize;
use worker::{D1Database, D1PreparedStatement, Result};

use super::privacy::{self, Subject};
use super::{num, opt_text, statement};

/// Remember that `event_id` (from `occurred_at`) was applied to `entity`; never moves back.
pub fn record_version(
    db: &D1Database,
    entity: &str,
    step: &str,
    occurred_at: i64,
    event_id: &str,
) -> Result<D1PreparedStatement> {
    statement(
        db,
        "INSERT INTO entity_versions (entity, step, occurred_at, event_id) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (entity, step) DO UPDATE SET occurred_at = excluded.occurred_at, \
         event_id = excluded.event_id WHERE excluded.occurred_at >= entity_versions.occurred_at",
        &[entity.into(), step.into(), num(occurred_at), event_id.into()],
    )
}

/// The live Stripe link of a HubSpot contact.
pub async fn contact_link(
    db: &D1Database,
    hubspot_contact_id: &str,
) -> Result<Option<ContactLink>> {
    #[derive(Deserialize)]
    struct Row {
        stripe_customer_id: String,
        firstname: Option<String>,
        lastname: Option<String>,
    }
    let row = statement(
        db,
        "SELECT stripe_customer_id, firstname, lastname FROM contact_links \
         WHERE hubspot_contact_id = ?1 AND deleted_at IS NULL AND stripe_customer_id IS NOT NULL",
        &[hubspot_contact_id.into()],
    )?
    .first::<Row>(None)
    .await?;
    Ok(row.map(|r| ContactLink {
        stripe_customer_id: r.stripe_customer_id,
        firstname: r.firstname,
        lastname: r.lastname,
    }))
}

/// Store a contact's link; names left `None` keep what is stored.
pub fn save_contact_link(
    db: &D1Database,
    hubspot_contact_id: &str,
    link: &ContactLink,
    now_ms: i64,
) -> Result<D1PreparedStatement> {
    statement(
        db,
        "INSERT INTO contact_links (hubspot_contact_id, stripe_customer_id, firstname, lastname, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (hubspot_contact_id) DO UPDATE SET \
         stripe_customer_id = excluded.stripe_customer_id, \
         firstname = COALESCE(excluded.firstname, contact_links.firstname), \
         lastname = COALESCE(excluded.lastname, contact_links.lastname), \
         deleted_at = NULL, updated_at = excluded.updated_at",
        &[
            hubspot_contact_id.into(),
            link.stripe_customer_id.as_str().into(),
            opt_text(link.firstname.as_deref()),
            opt_text(link.lastname.as_deref()),
            num(now_ms),
        ],
    )
}

/// The statements that carry out a local step (all in the step's success batch).
pub async fn local_action_statements(
    db: &D1Database,
    action: &LocalAction,
    event_id: &str,
    topic: &str,
    now_ms: i64,
) -> Result<Vec<D1PreparedStatement>> {
    let statements = match action {
        LocalAction::MarkShopInactive { shop_domain } => vec![statement(
            db,
            "INSERT INTO shops (shop_domain, active, uninstalled_at, updated_at) VALUES (?1, 0, ?2, ?2) \
             ON CONFLICT (shop_domain) DO UPDATE SET active = 0, uninstalled_at = ?2, updated_at = ?2",
            &[shop_domain.as_str().into(), num(now_ms)],
        )?],
        LocalAction::Redact {
            shop_domain,
            customer_id,
            customer_email,
            order_ids,
        } => {
            let subject = Subject {
                shop_domain,
                customer_id: customer_id.as_deref(),
                customer_email: customer_email.as_deref(),
                order_ids,
            };
            privacy::redact(db, &subject, event_id, topic, now_ms)?
        }
        LocalAction::Export {
            shop_domain,
            customer_id,
            customer_email,
            order_ids,
            ..
        } => {
            let subject = Subject {
                shop_domain,
                customer_id: customer_id.as_deref(),
                customer_email: customer_email.as_deref(),
                order_ids,
            };
            vec![privacy::export(db, &subject, event_id, topic, now_ms).await?]
        }
        LocalAction::ForgetContact { hubspot_contact_id } => {
            privacy::forget_contact(db, hubspot_contact_id, event_id, topic, now_ms)?
        }
        LocalAction::RecordSuppression { email, reason } => vec![statement(
            db,
            "INSERT INTO suppressions (email, reason, event_id, created_at) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (email, reason) DO NOTHING",
            &[email.as_str().into(), reason.name().into(), event_id.into(), num(now_ms)],
        )?],
        LocalAction::CountEngagement { email, kind } => vec![statement(
            db,
            "INSERT INTO engagement (email, kind, count, last_at) VALUES (?1, ?2, 1, ?3) \
             ON CONFLICT (email, kind) DO UPDATE SET count = count + 1, last_at = MAX(last_at, ?3)",
            &[email.as_str().into(), kind.name().into(), num(now_ms)],
        )?],
        LocalAction::MarkMappingDeleted { hubspot_contact_id } => vec![statement(
            db,
            "UPDATE contact_links SET deleted_at = ?2, updated_at = ?2 WHERE hubspot_contact_id = ?1",
            &[hubspot_contact_id.as_str().into(), num(now_ms)],
        )?],
    };
    Ok(statements)
}
