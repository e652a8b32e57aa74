//! The HubSpot contact ↔ Stripe customer links (`contact_links`): read for a HubSpot change
//! bound for Stripe, written by the success of an upsert or a Stripe update (the core's
//! `edgehooks_handlers::lifecycle::effects` decides what a success writes).

use edgehooks_handlers::downstream::ContactLink;
use serde::Deserialize;
use worker::{D1Database, D1PreparedStatement, Result};

use super::{num, opt_text, statement};

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
