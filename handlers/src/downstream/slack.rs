//! Slack incoming webhook: `POST <SLACK_WEBHOOK_URL>` with JSON `{"text": …}`. The URL is both
//! the address and the credential, so there is no token header; Slack takes no idempotency key.
//! Failed Stripe payments and new Shopify orders get a written-out message; any other event an
//! operator routes here gets a generic one-liner (provider, type, id, account) with no personal
//! data. Text from payloads is escaped for Slack's `&`, `<`, `>` control characters.

use serde_json::{json, Value};

use super::customers::known_for;
use super::event_kind::EventKind;
use super::format::{slack_escape, stripe_amount};
use super::payload::{id_text, int, text};
use super::subjects::{invoice_person, shopify_order_person, stripe_object};
use super::{json_content, BuildError, HttpRequestSpec, StepInput};
use crate::inbound::webhook::Provider;

fn provider_name(provider: Provider) -> &'static str {
    match provider {
        Provider::Stripe => "Stripe",
        Provider::SendGrid => "SendGrid",
        Provider::HubSpot => "HubSpot",
        Provider::Shopify => "Shopify",
        Provider::Registry => "Source",
    }
}

/// "Name (email)" or "email".
fn who(name: Option<String>, email: &str) -> String {
    match name {
        Some(name) => format!("{name} ({email})"),
        None => email.to_string(),
    }
}

fn payment_failed(input: &StepInput, payload: &Value) -> Result<String, BuildError> {
    let invoice = stripe_object(payload)?;
    let person = invoice_person(invoice, known_for(invoice, input))?;
    let mut text_out = String::from(":warning: Stripe payment failed");
    if let (Some(amount), Some(currency)) =
        (int(invoice, "/amount_due"), text(invoice, "/currency"))
    {
        text_out.push_str(&format!(
            ": {} {}",
            stripe_amount(amount, currency),
            currency.to_ascii_uppercase()
        ));
    }
    text_out.push_str(&format!(" from {}", who(person.full_name(), &person.email)));
    if let Some(number) = text(invoice, "/number") {
        text_out.push_str(&format!(", invoice {number}"));
    }
    if let Some(attempt) = int(invoice, "/attempt_count") {
        text_out.push_str(&format!(", attempt {attempt}"));
    }
    Ok(text_out)
}

fn new_order(input: &StepInput, order: &Value) -> Result<String, BuildError> {
    let person = shopify_order_person(order)?;
    let name = text(order, "/name")
        .map(str::to_string)
        .or_else(|| id_text(order, "/order_number").map(|n| format!("#{n}")))
        .or_else(|| id_text(order, "/id"))
        .ok_or(BuildError::MissingField("name"))?;
    let mut text_out = format!(":shopping_trolley: New Shopify order {name}");
    if let Some(shop) = input.account {
        text_out.push_str(&format!(" on {shop}"));
    }
    if let (Some(total), Some(currency)) = (text(order, "/total_price"), text(order, "/currency")) {
        text_out.push_str(&format!(": {total} {currency}"));
    }
    text_out.push_str(&format!(" from {}", who(person.full_name(), &person.email)));
    Ok(text_out)
}

/// Provider, type, the event's own id where it has one, and the account.
fn generic(input: &StepInput, payload: &Value) -> String {
    let id = match input.provider {
        Provider::Stripe => text(payload, "/id").map(str::to_string),
        Provider::SendGrid => text(payload, "/sg_event_id").map(str::to_string),
        Provider::HubSpot => id_text(payload, "/objectId").map(|id| format!("object {id}")),
        Provider::Shopify => id_text(payload, "/id"),
        Provider::Registry => None,
    };
    let mut out = format!(
        "{} event {}",
        provider_name(input.provider),
        input.event_type
    );
    if let Some(id) = id {
        out.push_str(&format!(" ({id})"));
    }
    if let Some(account) = input.account {
        out.push_str(&format!(" on {account}"));
    }
    out
}

/// `slack.notify`.
pub fn notify(
    event: EventKind,
    input: &StepInput,
    payload: &Value,
    webhook_url: &str,
) -> Result<HttpRequestSpec, BuildError> {
    let message = match event {
        EventKind::StripeInvoice { failed: true } => payment_failed(input, payload)?,
        EventKind::ShopifyOrder { new: true } => new_order(input, payload)?,
        _ => generic(input, payload),
    };
    Ok(HttpRequestSpec {
        method: "POST",
        url: webhook_url.to_string(),
        headers: vec![json_content()],
        body: json!({ "text": slack_escape(&message) }).to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "https://hooks.slack.test/services/T1/B1/x";

    fn input<'a>(
        provider: Provider,
        event_type: &'a str,
        account: Option<&'a str>,
    ) -> StepInput<'a> {
        StepInput::for_test(provider, event_type, account)
    }

    fn text_of(spec: &HttpRequestSpec) -> String {
        let body: Value = serde_json::from_str(&spec.body).unwrap();
        body["text"].as_str().unwrap().to_string()
    }

    #[test]
    fn generic_message_for_any_routed_event() {
        let payload = json!({"id": "evt_1", "data": {"object": {"customer_email": "a@x.test"}}});
        let spec = notify(
            EventKind::of(&input(Provider::Stripe, "invoice.paid", Some("acct_1"))),
            &input(Provider::Stripe, "invoice.paid", Some("acct_1")),
            &payload,
            URL,
        )
        .unwrap();
        assert_eq!(spec.url, URL);
        assert_eq!(spec.headers, vec![json_content()]);
        assert_eq!(
            text_of(&spec),
            "Stripe event invoice.paid (evt_1) on acct_1"
        );
        let spec = notify(
            EventKind::of(&input(Provider::HubSpot, "contact.creation", None)),
            &input(Provider::HubSpot, "contact.creation", None),
            &json!([]),
            URL,
        )
        .unwrap();
        assert_eq!(text_of(&spec), "HubSpot event contact.creation");
    }

    #[test]
    fn payload_text_is_escaped() {
        let payload =
            json!({"email": "a@x.test", "name": "#1<2>", "customer": {"first_name": "A&B"}});
        let spec = notify(
            EventKind::of(&input(Provider::Shopify, "orders/create", None)),
            &input(Provider::Shopify, "orders/create", None),
            &payload,
            URL,
        )
        .unwrap();
        assert_eq!(
            text_of(&spec),
            ":shopping_trolley: New Shopify order #1&lt;2&gt; from A&amp;B (a@x.test)"
        );
    }

    #[test]
    fn payment_failed_needs_an_email() {
        let payload = json!({"data": {"object": {"amount_due": 100}}});
        assert_eq!(
            notify(
                EventKind::of(&input(Provider::Stripe, "invoice.payment_failed", None)),
                &input(Provider::Stripe, "invoice.payment_failed", None),
                &payload,
                URL
            ),
            Err(BuildError::MissingField("customer_email"))
        );
    }
}
