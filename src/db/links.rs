//! The HubSpot contact ↔ Stripe customer links (`contact_links`): read for a HubSpot change
//! bound for Stripe, written by the success of an upsert or a Stripe update (the core's
//! `edgehooks_handlers::steps::lifecycle::effects` decides what a success writes).

use edgehooks_handlers::downstream::ContactLink;
use worker::{D1Database, D1PreparedStatement, Result};

use super::rows::{query, FromRow, Row};
use super::{num, opt_text, statement};

/// The live Stripe link of a HubSpot contact.
pub async fn contact_link(
    db: &D1Database,
    hubspot_contact_id: &str,
) -> Result<Option<ContactLink>> {
    let sql = "SELECT stripe_customer_id, firstname, lastname FROM contact_links \
         WHERE hubspot_contact_id = ?1 AND deleted_at IS NULL AND stripe_customer_id IS NOT NULL";
    query(&statement(db, sql, &[hubspot_contact_id.into()])?)
        .await?
        .read_first()
}

impl FromRow for ContactLink {
    fn from_row(row: &Row) -> Self {
        ContactLink {
            stripe_customer_id: row.text("stripe_customer_id"),
            firstname: row.opt_text("firstname"),
            lastname: row.opt_text("lastname"),
        }
    }
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
