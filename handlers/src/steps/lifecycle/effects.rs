//! What a successful attempt writes besides the step's own state, decided here for each step
//! kind: the contact link learned from a HubSpot upsert of a Stripe customer, the names a HubSpot
//! change just wrote to Stripe, or the customer a lookup found. The shell only turns the effect
//! into a statement.

use crate::downstream::customers::from_lookup;
use crate::downstream::mapping::{link_from_upsert, upserted_contact_id};
use crate::downstream::{contact_change, ContactLink, KnownCustomer, StepInput};
use crate::step_kind::StepKind;

/// State a success establishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SuccessEffect {
    /// Store (or update) the link of HubSpot contact `contact_id`.
    SaveContactLink {
        contact_id: String,
        link: ContactLink,
    },
    /// Store the customer a lookup found.
    StoreCustomer(KnownCustomer),
}

/// What the successful call of a `kind` step, answered with `body`, writes.
pub fn step_success(
    kind: StepKind,
    input: &StepInput<'_>,
    body: Option<&str>,
) -> Option<SuccessEffect> {
    match kind {
        StepKind::HubSpotUpsertContact => {
            let contact_id = body.and_then(upserted_contact_id)?;
            let link = link_from_upsert(input)?;
            Some(SuccessEffect::SaveContactLink { contact_id, link })
        }
        StepKind::StripeUpdateCustomer => {
            let change = contact_change(input.payload).ok()?;
            let link = change.applied_to(input.link?);
            Some(SuccessEffect::SaveContactLink {
                contact_id: change.contact_id,
                link,
            })
        }
        _ => None,
    }
}

/// The customer a successful lookup of `customer_id` found in `body`, if it is that customer.
pub fn lookup_success(customer_id: &str, body: Option<&str>) -> Option<SuccessEffect> {
    body.and_then(|b| from_lookup(customer_id, b))
        .map(SuccessEffect::StoreCustomer)
}
