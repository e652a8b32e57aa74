//! The HubSpot contact ↔ Stripe customer mapping. Field mapping as data
//! ([`CONTACT_TO_CUSTOMER`]: `email`→`email`, `phone`→`phone`, `firstname` and `lastname`→`name`),
//! the [`ContactChange`] a `contact.propertyChange` event describes, the stored [`ContactLink`]
//! the shell looks up by contact id before planning `stripe.update_customer`, and echo detection:
//! a change whose `sourceId` is our own HubSpot app (the event's `appId`, or `HUBSPOT_APP_ID` when
//! another app writes) is one we wrote ourselves and must not bounce back to Stripe. Also the
//! helpers the shell needs to create links after a successful contact upsert.

use serde_json::Value;

use super::event_kind::{classify, EventKind};
use super::payload::{id_text, text};
use super::subjects::{checkout_person, stripe_customer_id, stripe_object};
use super::{BuildError, StepInput};

/// A HubSpot contact's Stripe customer, as the shell stores it (one row per contact id). The
/// names are the contact's current first and last name: Stripe has a single `name`, so a change
/// to one half is sent together with the other.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContactLink {
    pub stripe_customer_id: String,
    pub firstname: Option<String>,
    pub lastname: Option<String>,
}

/// Where a HubSpot contact property lands on a Stripe customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CustomerField {
    Email,
    Phone,
    /// The first half of `name`.
    FirstName,
    /// The second half of `name`.
    LastName,
}

/// HubSpot property → Stripe customer field. Properties not listed are not synced.
pub const CONTACT_TO_CUSTOMER: [(&str, CustomerField); 4] = [
    ("email", CustomerField::Email),
    ("phone", CustomerField::Phone),
    ("firstname", CustomerField::FirstName),
    ("lastname", CustomerField::LastName),
];

pub fn customer_field(property: &str) -> Option<CustomerField> {
    CONTACT_TO_CUSTOMER
        .iter()
        .find(|(name, _)| *name == property)
        .map(|(_, field)| *field)
}

/// One `contact.propertyChange` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactChange {
    /// `objectId`: the HubSpot contact id, key of the stored [`ContactLink`].
    pub contact_id: String,
    /// `propertyName`.
    pub property: String,
    /// `propertyValue`; empty when the property was cleared.
    pub value: String,
    /// `changeSource` (`CRM_UI`, `INTEGRATION`, `IMPORT`…).
    pub change_source: Option<String>,
    /// `sourceId`: a user (`userId:…`) or the app id that made the change.
    pub source_id: Option<String>,
    /// `appId`: the app whose subscription delivered the event, i.e. us.
    pub app_id: Option<String>,
}

impl ContactChange {
    /// True when the change was made by our own app (its `sourceId` is the delivering app's
    /// `appId`, or `our_app_id`): we wrote it, so syncing it back would echo.
    pub fn is_own_write(&self, our_app_id: Option<&str>) -> bool {
        let Some(source) = self.source_id.as_deref() else {
            return false;
        };
        self.app_id.as_deref() == Some(source) || our_app_id == Some(source)
    }

    /// The link after this change was applied: the name halves follow the contact.
    pub fn applied_to(&self, link: &ContactLink) -> ContactLink {
        let mut next = link.clone();
        let value = Some(self.value.trim().to_string()).filter(|v| !v.is_empty());
        match customer_field(&self.property) {
            Some(CustomerField::FirstName) => next.firstname = value,
            Some(CustomerField::LastName) => next.lastname = value,
            _ => {}
        }
        next
    }
}

pub(crate) fn change_of(event: &Value) -> Result<ContactChange, BuildError> {
    let value = match event.get("propertyValue") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => return Err(BuildError::MissingField("propertyValue")),
    };
    Ok(ContactChange {
        contact_id: id_text(event, "/objectId").ok_or(BuildError::MissingField("objectId"))?,
        property: text(event, "/propertyName")
            .ok_or(BuildError::MissingField("propertyName"))?
            .to_string(),
        value,
        change_source: text(event, "/changeSource").map(str::to_string),
        source_id: id_text(event, "/sourceId"),
        app_id: id_text(event, "/appId"),
    })
}

/// The change a stored HubSpot `contact.propertyChange` payload describes. The shell calls this
/// to find the contact whose [`ContactLink`] to pass in [`StepInput::link`], and after the step
/// succeeds stores [`ContactChange::applied_to`] the link.
pub fn contact_change(payload: &str) -> Result<ContactChange, BuildError> {
    let event: Value = serde_json::from_str(payload).map_err(|_| BuildError::UnreadablePayload)?;
    change_of(&event)
}

/// The link a successful `hubspot.upsert_contact` establishes, for Stripe events that name a
/// customer (checkout, subscription, invoice). The shell stores it under the contact id the
/// upsert answered with ([`upserted_contact_id`]). Names come from checkout sessions only: when
/// they are `None`, keep the names already stored.
pub fn link_from_upsert(input: &StepInput) -> Option<ContactLink> {
    let payload: Value = serde_json::from_str(input.payload).ok()?;
    let object = stripe_object(&payload).ok()?;
    let person = match classify(input.provider, input.event_type) {
        EventKind::StripeCheckout => checkout_person(object).ok(),
        EventKind::StripeSubscription { .. } | EventKind::StripeInvoice { .. } => None,
        _ => return None,
    };
    Some(ContactLink {
        stripe_customer_id: stripe_customer_id(object)?.to_string(),
        firstname: person.as_ref().and_then(|p| p.first_name.clone()),
        lastname: person.and_then(|p| p.last_name),
    })
}

/// The contact id in a batch upsert response (`results[0].id`).
pub fn upserted_contact_id(response_body: &str) -> Option<String> {
    let response: Value = serde_json::from_str(response_body).ok()?;
    id_text(&response, "/results/0/id")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inbound::webhook::Provider;

    const CHANGE: &str = r#"{"objectId":1246965,"propertyName":"firstname","propertyValue":"Ada","changeSource":"INTEGRATION","sourceId":"1160452","appId":1160452,"eventId":1,"subscriptionId":2,"portalId":3}"#;

    #[test]
    fn reads_a_change_and_detects_our_own_writes() {
        let change = contact_change(CHANGE).unwrap();
        assert_eq!(change.contact_id, "1246965");
        assert_eq!(change.property, "firstname");
        assert!(change.is_own_write(None));
        let by_user = ContactChange {
            source_id: Some("userId:42".into()),
            ..change.clone()
        };
        assert!(!by_user.is_own_write(None));
        assert!(by_user.is_own_write(Some("userId:42")));
        let no_source = ContactChange {
            source_id: None,
            ..change
        };
        assert!(!no_source.is_own_write(None));
        assert_eq!(
            contact_change(r#"{"objectId":1,"propertyName":"email"}"#),
            Err(BuildError::MissingField("propertyValue"))
        );
        assert_eq!(contact_change("["), Err(BuildError::UnreadablePayload));
    }

    #[test]
    fn applying_a_change_updates_the_name_halves() {
        let link = ContactLink {
            stripe_customer_id: "cus_1".into(),
            firstname: Some("Ada".into()),
            lastname: Some("Byron".into()),
        };
        let mut change = contact_change(CHANGE).unwrap();
        change.property = "lastname".into();
        change.value = "Lovelace".into();
        assert_eq!(
            change.applied_to(&link).lastname.as_deref(),
            Some("Lovelace")
        );
        change.value = " ".into();
        assert_eq!(change.applied_to(&link).lastname, None);
        change.property = "email".into();
        assert_eq!(change.applied_to(&link), link);
    }

    #[test]
    fn links_from_upserts_and_responses() {
        let payload = r#"{"data":{"object":{"customer":"cus_9","customer_details":{"email":"a@x.test","name":"Ada Lovelace"}}}}"#;
        let input = StepInput {
            step_id: "s",
            provider: Provider::Stripe,
            event_type: "checkout.session.completed",
            payload,
            occurred_at_ms: None,
            account: None,
            link: None,
            customer: None,
        };
        assert_eq!(
            link_from_upsert(&input),
            Some(ContactLink {
                stripe_customer_id: "cus_9".into(),
                firstname: Some("Ada".into()),
                lastname: Some("Lovelace".into()),
            })
        );
        let shopify = StepInput {
            provider: Provider::Shopify,
            event_type: "orders/create",
            ..input
        };
        assert_eq!(link_from_upsert(&shopify), None);
        assert_eq!(
            upserted_contact_id(r#"{"status":"COMPLETE","results":[{"id":"1001"}]}"#).as_deref(),
            Some("1001")
        );
        assert_eq!(upserted_contact_id(r#"{"results":[]}"#), None);
    }
}
