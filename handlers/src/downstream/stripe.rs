//! Stripe customer update from a HubSpot `contact.propertyChange`: `POST /v1/customers/{id}`,
//! form-encoded, `Idempotency-Key: <step id>`, Bearer `STRIPE_API_KEY`. The customer id comes from
//! the stored [`ContactLink`](super::ContactLink) the shell passes in; the field from
//! [`super::mapping`]. Our own writes echoed back by HubSpot, unmapped properties and contacts
//! linked to no Stripe customer are skipped, not failed. Last-write-wins on `occurredAt` is the shell's, through [`super::entity_key`].

use serde_json::Value;

use super::format::form_encode;
use super::mapping::{change_of, customer_field, CustomerField};
use super::settings::DownstreamSettings;
use super::{
    bearer, join_url, BuildError, DestinationConfig, HttpRequestSpec, SkipReason, StepAction,
    StepInput,
};

pub const CUSTOMERS_PATH: &str = "/v1/customers/";
pub const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";

/// Stripe ids are ASCII letters, digits and underscores (`cus_NffrFeUfNV2Hib`); anything else
/// in a stored link must never reach the URL path.
pub(crate) fn valid_customer_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 255 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// "First Last" from the two halves, either of which may be blank.
fn full_name(first: Option<&str>, last: Option<&str>) -> String {
    [first, last]
        .into_iter()
        .flatten()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// `stripe.update_customer`.
pub fn update_customer(
    input: &StepInput,
    payload: &Value,
    destination: &DestinationConfig,
    settings: &DownstreamSettings,
) -> Result<StepAction, BuildError> {
    let change = change_of(payload)?;
    if change.is_own_write(settings.hubspot_app_id.as_deref()) {
        return Ok(StepAction::Skip(SkipReason::OwnWrite));
    }
    let Some(field) = customer_field(&change.property) else {
        return Ok(StepAction::Skip(SkipReason::UnmappedProperty));
    };
    // A contact linked to no Stripe customer is the normal case: nothing to update.
    let Some(link) = input.link else {
        return Ok(StepAction::Skip(SkipReason::NoLinkedCustomer));
    };
    if !valid_customer_id(&link.stripe_customer_id) {
        return Err(BuildError::MissingField("stripe_customer_id"));
    }
    let value = change.value.trim();
    let (param, value) = match field {
        CustomerField::Email => ("email", value.to_string()),
        CustomerField::Phone => ("phone", value.to_string()),
        CustomerField::FirstName => ("name", full_name(Some(value), link.lastname.as_deref())),
        CustomerField::LastName => ("name", full_name(link.firstname.as_deref(), Some(value))),
    };
    Ok(StepAction::Http(HttpRequestSpec {
        method: "POST",
        url: join_url(
            &destination.base_url,
            &format!("{CUSTOMERS_PATH}{}", link.stripe_customer_id),
        ),
        headers: vec![
            bearer(&destination.token),
            ("Content-Type".into(), FORM_CONTENT_TYPE.into()),
            ("Idempotency-Key".into(), input.step_id.to_string()),
        ],
        body: form_encode(&[(param, &value)]),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::downstream::ContactLink;
    use crate::inbound::webhook::Provider;
    use serde_json::json;

    fn dest() -> DestinationConfig {
        DestinationConfig {
            base_url: "https://api.stripe.test".into(),
            token: "sk_test_1".into(),
        }
    }

    fn run(payload: Value, link: Option<&ContactLink>) -> Result<StepAction, BuildError> {
        let input = StepInput {
            step_id: "evt_h:stripe.update_customer",
            provider: Provider::HubSpot,
            event_type: "contact.propertyChange",
            payload: "",
            occurred_at_ms: None,
            account: None,
            link,
            customer: None,
        };
        update_customer(&input, &payload, &dest(), &DownstreamSettings::default())
    }

    fn link(id: &str) -> ContactLink {
        ContactLink {
            stripe_customer_id: id.into(),
            firstname: Some("Ada".into()),
            lastname: None,
        }
    }

    #[test]
    fn lastname_is_sent_with_the_stored_firstname() {
        let change = json!({"objectId": 7, "propertyName": "lastname", "propertyValue": "Lovelace",
            "changeSource": "CRM_UI", "sourceId": "userId:1", "appId": 99});
        let Ok(StepAction::Http(spec)) = run(change, Some(&link("cus_1"))) else {
            panic!("expected a request");
        };
        assert_eq!(spec.url, "https://api.stripe.test/v1/customers/cus_1");
        assert_eq!(spec.body, "name=Ada+Lovelace");
        assert!(spec.headers.contains(&(
            "Idempotency-Key".into(),
            "evt_h:stripe.update_customer".into()
        )));
    }

    #[test]
    fn skips_and_errors() {
        let own = json!({"objectId": 7, "propertyName": "email", "propertyValue": "a@x.test",
            "sourceId": "99", "appId": 99});
        assert_eq!(run(own, None), Ok(StepAction::Skip(SkipReason::OwnWrite)));
        let unmapped =
            json!({"objectId": 7, "propertyName": "lifecyclestage", "propertyValue": "lead"});
        assert_eq!(
            run(unmapped, None),
            Ok(StepAction::Skip(SkipReason::UnmappedProperty))
        );
        let email = json!({"objectId": 7, "propertyName": "email", "propertyValue": "a@x.test"});
        assert_eq!(
            run(email.clone(), None),
            Ok(StepAction::Skip(SkipReason::NoLinkedCustomer))
        );
        assert_eq!(
            run(email, Some(&link("../v1/charges"))),
            Err(BuildError::MissingField("stripe_customer_id"))
        );
    }

    #[test]
    fn a_cleared_phone_clears_it_in_stripe() {
        let cleared = json!({"objectId": 7, "propertyName": "phone", "propertyValue": ""});
        let Ok(StepAction::Http(spec)) = run(cleared, Some(&link("cus_1"))) else {
            panic!("expected a request");
        };
        assert_eq!(spec.body, "phone=");
    }
}
