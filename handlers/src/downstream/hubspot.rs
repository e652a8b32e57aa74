//! HubSpot CRM v3 requests. Contacts: `POST /crm/v3/objects/contacts/batch/upsert` with one
//! input keyed by `idProperty=email`, idempotent by nature, so a retried step cannot create a
//! duplicate contact (the consumer sends the inputs of a message batch's upserts together:
//! [`super::hubspot_batch`]). Deals (new Shopify orders): `POST /crm/v3/objects/deals/batch/upsert` with
//! one input keyed by the custom deal property [`DEAL_ID_PROPERTY`] (unique values) set to the
//! step id, the step's idempotency key. HubSpot's plain create takes no idempotency key, and a
//! search before a create races HubSpot's search index; an upsert keyed by a unique property
//! is resolved by HubSpot at write time, so a retry after a lost answer updates the deal the
//! first attempt created instead of creating a second one. A portal without that property
//! answers `400`: [`explain_deal_failure`] turns it into an error code an admin can act on.
//!
//! Properties written, by source. Standard: `email`, `firstname`, `lastname`, `phone`; deals:
//! `dealname`, `amount`, `pipeline` (`default`), `dealstage` (`closedwon`: the order is paid for),
//! `closedate`, `deal_currency_code`. Custom contact properties the portal must define (single
//! line text unless noted): `stripe_customer_id`, `stripe_subscription_id`,
//! `stripe_subscription_status`, `stripe_plan` (price nickname, else price id),
//! `stripe_last_payment_status` (`succeeded`/`failed`), `stripe_last_payment_amount` (number, in
//! major units), `stripe_last_payment_currency`, `stripe_last_payment_date` (date),
//! `shopify_customer_id`, `sendgrid_email_status` (the SendGrid event name). Custom deal
//! property: [`DEAL_ID_PROPERTY`] (single-line text, unique values required). Only fields
//! present in the event are sent: an upsert never clears a property.

use serde_json::{json, Map, Value};

use super::customers::known_for;
use super::event_kind::EventKind;
use super::format::{put, stripe_amount};
use super::payload::{decimal_text, id_text, int, text};
use super::subjects::{
    checkout_person, invoice_person, sendgrid_email, shopify_customer_id, shopify_customer_person,
    shopify_order_person, stripe_customer_id, stripe_object, subscription_person,
    subscription_plan, Person,
};
use super::{
    bearer, join_url, json_content, BuildError, DestinationConfig, HttpRequestSpec, StepInput,
};
use crate::time::rfc3339_to_unix_ms;
use crate::time::{iso_date, iso_datetime_ms};

pub const UPSERT_PATH: &str = "/crm/v3/objects/contacts/batch/upsert";
pub const DEALS_UPSERT_PATH: &str = "/crm/v3/objects/deals/batch/upsert";
/// The custom deal property (single-line text, "require unique values", i.e. `hasUniqueValue:
/// true`) that holds the step id of the step that created the deal; deal upserts are keyed by it.
pub const DEAL_ID_PROPERTY: &str = "edgehooks_idempotency_key";
/// The error code of a deal upsert refused because the portal lacks [`DEAL_ID_PROPERTY`] (or it
/// does not require unique values).
pub const DEAL_PROPERTY_MISSING: &str = "hubspot_deal_property_missing";

fn post(destination: &DestinationConfig, path: &str, body: &Value) -> HttpRequestSpec {
    HttpRequestSpec {
        method: "POST",
        url: join_url(&destination.base_url, path),
        headers: vec![bearer(&destination.token), json_content()],
        body: body.to_string(),
    }
}

fn person_properties(person: &Person, with_phone: bool) -> Map<String, Value> {
    let mut properties = Map::new();
    put(&mut properties, "email", Some(person.email.as_str()));
    put(&mut properties, "firstname", person.first_name.as_deref());
    put(&mut properties, "lastname", person.last_name.as_deref());
    if with_phone {
        put(&mut properties, "phone", person.phone.as_deref());
    }
    properties
}

/// The payment properties of a Stripe invoice event: who paid (or failed to), the status, the
/// amount in major units and the day.
fn invoice_properties(
    failed: bool,
    input: &StepInput,
    payload: &Value,
) -> Result<Map<String, Value>, BuildError> {
    let invoice = stripe_object(payload)?;
    let person = invoice_person(invoice, known_for(invoice, input))?;
    let mut p = Map::new();
    put(&mut p, "email", Some(person.email.as_str()));
    put(&mut p, "stripe_customer_id", stripe_customer_id(invoice));
    let status = if failed { "failed" } else { "succeeded" };
    put(&mut p, "stripe_last_payment_status", Some(status));
    let amount_field = if failed {
        "/amount_due"
    } else {
        "/amount_paid"
    };
    let currency = text(invoice, "/currency");
    if let (Some(amount), Some(currency)) = (int(invoice, amount_field), currency) {
        put(
            &mut p,
            "stripe_last_payment_amount",
            Some(stripe_amount(amount, currency)),
        );
        put(
            &mut p,
            "stripe_last_payment_currency",
            Some(currency.to_ascii_uppercase()),
        );
    }
    let paid_at = (!failed)
        .then(|| int(invoice, "/status_transitions/paid_at"))
        .flatten();
    let when = paid_at
        .or_else(|| input.occurred_at_ms.map(|ms| ms.div_euclid(1000)))
        .or_else(|| int(invoice, "/created"));
    put(&mut p, "stripe_last_payment_date", when.and_then(iso_date));
    Ok(p)
}

/// The contact properties an event carries, keyed by HubSpot property name (`email` included).
pub(crate) fn contact_properties(
    event: EventKind,
    input: &StepInput,
    payload: &Value,
) -> Result<Map<String, Value>, BuildError> {
    let properties = match event {
        EventKind::StripeCheckout => {
            let session = stripe_object(payload)?;
            let mut p = person_properties(&checkout_person(session)?, false);
            put(&mut p, "stripe_customer_id", stripe_customer_id(session));
            p
        }
        EventKind::StripeSubscription { .. } => {
            let sub = stripe_object(payload)?;
            let mut p = person_properties(&subscription_person(sub, known_for(sub, input))?, false);
            put(&mut p, "stripe_customer_id", stripe_customer_id(sub));
            put(&mut p, "stripe_subscription_id", text(sub, "/id"));
            put(&mut p, "stripe_subscription_status", text(sub, "/status"));
            put(&mut p, "stripe_plan", subscription_plan(sub));
            p
        }
        EventKind::StripeInvoice { failed } => invoice_properties(failed, input, payload)?,
        EventKind::ShopifyOrder { .. } => {
            let mut p = person_properties(&shopify_order_person(payload)?, true);
            put(
                &mut p,
                "shopify_customer_id",
                shopify_customer_id(payload, true),
            );
            p
        }
        EventKind::ShopifyCustomer => {
            let mut p = person_properties(&shopify_customer_person(payload)?, true);
            put(
                &mut p,
                "shopify_customer_id",
                shopify_customer_id(payload, false),
            );
            p
        }
        EventKind::SendGridSuppression(reason) => {
            let mut p = Map::new();
            put(&mut p, "email", Some(sendgrid_email(payload)?));
            put(&mut p, "sendgrid_email_status", Some(reason.name()));
            p
        }
        _ => return Err(BuildError::UnsupportedEvent),
    };
    Ok(properties)
}

/// `hubspot.upsert_contact`: one batch upsert input keyed by email.
pub fn upsert_contact(
    event: EventKind,
    input: &StepInput,
    payload: &Value,
    destination: &DestinationConfig,
) -> Result<HttpRequestSpec, BuildError> {
    let properties = contact_properties(event, input, payload)?;
    let email = properties
        .get("email")
        .cloned()
        .ok_or(BuildError::MissingField("email"))?;
    let body = json!({
        "inputs": [{ "idProperty": "email", "id": email, "properties": properties }]
    });
    Ok(post(destination, UPSERT_PATH, &body))
}

/// `hubspot.create_deal`: a closed-won deal in the default pipeline for a new Shopify order, as
/// one batch upsert input keyed by [`DEAL_ID_PROPERTY`] = the step id (also written as a
/// property, so the deal shows which step made it). `dealname` is `Shopify order <name>`
/// (`#1001`), `amount` the order's `total_price`, `closedate` its `processed_at` (else
/// `created_at`, else the event time) in UTC.
pub fn create_deal(
    event: EventKind,
    input: &StepInput,
    payload: &Value,
    destination: &DestinationConfig,
) -> Result<HttpRequestSpec, BuildError> {
    if event != (EventKind::ShopifyOrder { new: true }) {
        return Err(BuildError::UnsupportedEvent);
    }
    if input.step_id.trim().is_empty() {
        return Err(BuildError::MissingField("idempotency_key"));
    }
    let order_name = text(payload, "/name")
        .map(str::to_string)
        .or_else(|| id_text(payload, "/order_number").map(|n| format!("#{n}")))
        .or_else(|| id_text(payload, "/id"))
        .ok_or(BuildError::MissingField("name"))?;
    let closed_ms = ["/processed_at", "/created_at"]
        .iter()
        .find_map(|p| text(payload, p).and_then(rfc3339_to_unix_ms))
        .or(input.occurred_at_ms);
    let mut properties = Map::new();
    put(
        &mut properties,
        "dealname",
        Some(format!("Shopify order {order_name}")),
    );
    put(
        &mut properties,
        "amount",
        decimal_text(payload, "/total_price"),
    );
    put(&mut properties, "pipeline", Some("default"));
    put(&mut properties, "dealstage", Some("closedwon"));
    put(
        &mut properties,
        "closedate",
        closed_ms.and_then(iso_datetime_ms),
    );
    put(
        &mut properties,
        "deal_currency_code",
        text(payload, "/currency"),
    );
    put(&mut properties, DEAL_ID_PROPERTY, Some(input.step_id));
    let body = json!({
        "inputs": [{ "idProperty": DEAL_ID_PROPERTY, "id": input.step_id, "properties": properties }]
    });
    Ok(post(destination, DEALS_UPSERT_PATH, &body))
}

/// What a failed deal upsert means, when HubSpot's answer says the portal cannot key deals by
/// [`DEAL_ID_PROPERTY`]: a `400` naming the property as non-unique or unknown (HubSpot answers
/// `VALIDATION_ERROR` "Unable to perform update/upsert by non-unique 0-3 property ..."). The
/// text starts with [`DEAL_PROPERTY_MISSING`] and says what to do. `None` for anything else.
pub fn explain_deal_failure(status: u16, body: &str) -> Option<String> {
    if status != 400 {
        return None;
    }
    let lower = body.to_ascii_lowercase();
    let about_property = lower.contains(DEAL_ID_PROPERTY)
        && [
            "non-unique",
            "does not exist",
            "doesn't exist",
            "not found",
            "unknown",
        ]
        .iter()
        .any(|phrase| lower.contains(phrase));
    about_property.then(|| {
        format!(
            "{DEAL_PROPERTY_MISSING}: the HubSpot portal has no deal property \
             {DEAL_ID_PROPERTY} that requires unique values; create it (README, HubSpot setup) \
             and redrive this step"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inbound::webhook::Provider;

    fn dest() -> DestinationConfig {
        DestinationConfig {
            base_url: "http://127.0.0.1:9/".into(),
            token: "pat-test".into(),
        }
    }

    fn input<'a>(provider: Provider, event_type: &'a str) -> StepInput<'a> {
        StepInput {
            step_id: "s1",
            provider,
            event_type,
            payload: "",
            occurred_at_ms: Some(1_700_000_000_000),
            account: None,
            link: None,
            customer: None,
        }
    }

    #[test]
    fn checkout_becomes_contact_upsert() {
        let payload = json!({"data":{"object":{"customer":"cus_9","customer_details":{"email":"ada@example.com","name":"Ada King Lovelace"}}}});
        let spec = upsert_contact(
            EventKind::of(&input(Provider::Stripe, "checkout.session.completed")),
            &input(Provider::Stripe, "checkout.session.completed"),
            &payload,
            &dest(),
        )
        .unwrap();
        assert_eq!(
            spec.url,
            "http://127.0.0.1:9/crm/v3/objects/contacts/batch/upsert"
        );
        assert!(spec
            .headers
            .contains(&("Authorization".into(), "Bearer pat-test".into())));
        let body: Value = serde_json::from_str(&spec.body).unwrap();
        assert_eq!(
            body,
            json!({"inputs":[{"idProperty":"email","id":"ada@example.com","properties":{
                "email":"ada@example.com","firstname":"Ada King","lastname":"Lovelace","stripe_customer_id":"cus_9"}}]})
        );
    }

    #[test]
    fn invoice_without_amount_or_time_sends_what_it_has() {
        let payload = json!({"data":{"object":{"customer_email":"a@x.test"}}});
        let mut i = input(Provider::Stripe, "invoice.payment_failed");
        i.occurred_at_ms = None;
        let props = contact_properties(EventKind::of(&i), &i, &payload).unwrap();
        assert_eq!(
            Value::Object(props),
            json!({"email":"a@x.test","stripe_last_payment_status":"failed"})
        );
    }

    #[test]
    fn missing_email_and_wrong_shapes_are_errors() {
        let i = input(Provider::Stripe, "checkout.session.completed");
        assert_eq!(
            upsert_contact(
                EventKind::of(&i),
                &i,
                &json!({"data":{"object":{"customer_details":{}}}}),
                &dest()
            ),
            Err(BuildError::MissingField("customer_details.email"))
        );
        assert_eq!(
            upsert_contact(EventKind::of(&i), &i, &json!([1, 2]), &dest()),
            Err(BuildError::MissingField("data.object"))
        );
        let i = input(Provider::Shopify, "customers/update");
        assert_eq!(
            upsert_contact(
                EventKind::of(&i),
                &i,
                &json!({"id": 5, "phone": "+1"}),
                &dest()
            ),
            Err(BuildError::MissingField("email"))
        );
        let i = input(Provider::Shopify, "orders/updated");
        assert_eq!(
            create_deal(EventKind::of(&i), &i, &json!({"name": "#1"}), &dest()),
            Err(BuildError::UnsupportedEvent)
        );
    }

    #[test]
    fn deal_falls_back_to_order_number_and_event_time() {
        let i = input(Provider::Shopify, "orders/create");
        let spec = create_deal(
            EventKind::of(&i),
            &i,
            &json!({"order_number": 1001}),
            &dest(),
        )
        .unwrap();
        let body: Value = serde_json::from_str(&spec.body).unwrap();
        assert_eq!(
            body,
            json!({"inputs":[{"idProperty":"edgehooks_idempotency_key","id":"s1","properties":{
                "dealname":"Shopify order #1001","pipeline":"default","dealstage":"closedwon",
                "closedate":"2023-11-14T22:13:20.000Z","edgehooks_idempotency_key":"s1"}}]})
        );
        assert_eq!(
            create_deal(EventKind::of(&i), &i, &json!({}), &dest()),
            Err(BuildError::MissingField("name"))
        );
    }

    #[test]
    fn deal_is_an_upsert_keyed_by_the_step_id() {
        let mut i = input(Provider::Shopify, "orders/create");
        i.step_id = "evt_0123:hubspot.create_deal";
        let payload = json!({"name": "#7", "total_price": "12.50", "currency": "EUR"});
        let spec = create_deal(EventKind::of(&i), &i, &payload, &dest()).unwrap();
        assert_eq!(spec.method, "POST");
        assert_eq!(
            spec.url,
            "http://127.0.0.1:9/crm/v3/objects/deals/batch/upsert"
        );
        assert!(spec
            .headers
            .contains(&("Authorization".into(), "Bearer pat-test".into())));
        let body: Value = serde_json::from_str(&spec.body).unwrap();
        let inputs = body["inputs"].as_array().unwrap();
        assert_eq!(inputs.len(), 1, "one deal per step");
        assert_eq!(inputs[0]["idProperty"], DEAL_ID_PROPERTY);
        assert_eq!(inputs[0]["id"], "evt_0123:hubspot.create_deal");
        assert_eq!(
            inputs[0]["properties"][DEAL_ID_PROPERTY],
            "evt_0123:hubspot.create_deal"
        );
        assert_eq!(inputs[0]["properties"]["amount"], "12.50");
        // A retry (same step) builds the very same request: HubSpot resolves it to the same deal.
        assert_eq!(
            create_deal(EventKind::of(&i), &i, &payload, &dest()).unwrap(),
            spec
        );
        // Another step (another order) has another key.
        i.step_id = "evt_4567:hubspot.create_deal";
        let other: Value = serde_json::from_str(
            &create_deal(EventKind::of(&i), &i, &payload, &dest())
                .unwrap()
                .body,
        )
        .unwrap();
        assert_ne!(other["inputs"][0]["id"], inputs[0]["id"]);
        i.step_id = " ";
        assert_eq!(
            create_deal(EventKind::of(&i), &i, &payload, &dest()),
            Err(BuildError::MissingField("idempotency_key"))
        );
    }

    #[test]
    fn a_missing_deal_property_is_explained() {
        // HubSpot's answer when the idProperty is not a unique property of the portal.
        let body = r#"{"status":"error","message":"Unable to perform update/upsert by non-unique 0-3 property edgehooks_idempotency_key in portal ID 123","correlationId":"c","category":"VALIDATION_ERROR"}"#;
        let text = explain_deal_failure(400, body).unwrap();
        assert!(
            text.starts_with("hubspot_deal_property_missing: "),
            "{text}"
        );
        assert!(text.contains("edgehooks_idempotency_key"));
        assert_eq!(
            crate::admin::error_code(Some(&text)), // up: test: dead letters group by this code
            DEAL_PROPERTY_MISSING,
            "dead letters group under the code"
        );
        let unknown = r#"{"message":"Property edgehooks_idempotency_key does not exist","category":"VALIDATION_ERROR"}"#;
        assert!(explain_deal_failure(400, unknown).is_some());
        // Other failures keep their generic code.
        assert_eq!(explain_deal_failure(503, body), None);
        let other = r#"{"message":"Property values were not valid: dealstage","category":"VALIDATION_ERROR"}"#;
        assert_eq!(explain_deal_failure(400, other), None);
        let duplicate =
            r#"{"message":"Duplicate IDs found in batch input: [x]. IDs must be unique"}"#;
        assert_eq!(explain_deal_failure(400, duplicate), None);
        assert_eq!(explain_deal_failure(400, ""), None);
    }
}
