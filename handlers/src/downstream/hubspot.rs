//! HubSpot CRM v3 requests: contact upsert by email through
//! `POST /crm/v3/objects/contacts/batch/upsert` (`idProperty=email`), which is idempotent by
//! nature, so a retried step cannot create a duplicate contact.

use serde_json::{json, Map, Value};

use super::{
    bearer, join_url, json_content, BuildError, DestinationConfig, HttpRequestSpec, StepInput,
};
use crate::webhook::Provider;

pub const UPSERT_PATH: &str = "/crm/v3/objects/contacts/batch/upsert";

fn text<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// Split a display name into HubSpot's first and last name at the last space.
fn split_name(name: &str) -> (String, Option<String>) {
    match name.trim().rsplit_once(' ') {
        Some((first, last)) => (first.trim().to_string(), Some(last.trim().to_string())),
        None => (name.trim().to_string(), None),
    }
}

/// Contact properties a Stripe event carries, keyed by HubSpot property name.
fn stripe_contact(
    input: &StepInput,
    payload: &Value,
) -> Result<(String, Map<String, Value>), BuildError> {
    let object = payload
        .pointer("/data/object")
        .ok_or(BuildError::MissingField("data.object"))?;
    let mut properties = Map::new();
    let email = match input.event_type {
        "checkout.session.completed" => {
            let email = text(object, "/customer_details/email")
                .or_else(|| text(object, "/customer_email"))
                .ok_or(BuildError::MissingField("customer_details.email"))?;
            if let Some(name) = text(object, "/customer_details/name") {
                let (first, last) = split_name(name);
                properties.insert("firstname".into(), Value::String(first));
                if let Some(last) = last {
                    properties.insert("lastname".into(), Value::String(last));
                }
            }
            email.to_string()
        }
        _ => return Err(BuildError::UnsupportedEvent),
    };
    if let Some(customer) = text(object, "/customer") {
        properties.insert(
            "stripe_customer_id".into(),
            Value::String(customer.to_string()),
        );
    }
    properties.insert("email".into(), Value::String(email.clone()));
    Ok((email, properties))
}

pub fn upsert_contact(
    input: &StepInput,
    payload: &Value,
    destination: &DestinationConfig,
) -> Result<HttpRequestSpec, BuildError> {
    let (email, properties) = match input.provider {
        Provider::Stripe => stripe_contact(input, payload)?,
        _ => return Err(BuildError::UnsupportedEvent),
    };
    let body = json!({
        "inputs": [{ "idProperty": "email", "id": email, "properties": properties }]
    });
    Ok(HttpRequestSpec {
        method: "POST",
        url: join_url(&destination.base_url, UPSERT_PATH),
        headers: vec![bearer(&destination.token), json_content()],
        body: body.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::downstream::build;
    use crate::routes::StepKind;

    fn dest() -> DestinationConfig {
        DestinationConfig {
            base_url: "http://127.0.0.1:9/".into(),
            token: "pat-test".into(),
        }
    }

    #[test]
    fn checkout_becomes_contact_upsert() {
        let payload = r#"{"id":"evt_1","type":"checkout.session.completed","data":{"object":{"customer":"cus_9","customer_details":{"email":"ada@example.com","name":"Ada King Lovelace"}}}}"#;
        let input = StepInput {
            step_id: "s1",
            provider: Provider::Stripe,
            event_type: "checkout.session.completed",
            payload,
        };
        let spec = build(StepKind::HubSpotUpsertContact, &input, &dest()).unwrap();
        assert_eq!(spec.method, "POST");
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
    fn missing_email_is_a_build_error() {
        let payload = r#"{"data":{"object":{"customer_details":{}}}}"#;
        let input = StepInput {
            step_id: "s1",
            provider: Provider::Stripe,
            event_type: "checkout.session.completed",
            payload,
        };
        assert_eq!(
            build(StepKind::HubSpotUpsertContact, &input, &dest()),
            Err(BuildError::MissingField("customer_details.email"))
        );
        let input = StepInput {
            payload: "not json",
            ..input
        };
        assert_eq!(
            build(StepKind::HubSpotUpsertContact, &input, &dest()),
            Err(BuildError::UnreadablePayload)
        );
    }
}
