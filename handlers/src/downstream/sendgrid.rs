//! SendGrid v3 mail send: `POST /v3/mail/send` with one personalization (the customer as `to`,
//! the template's `dynamic_template_data`), `template_id` and `from` from settings. SendGrid takes
//! no idempotency key; the step id travels as `custom_args.edgehooks_step_id`, so the message and
//! its later delivery events can be traced to the step.
//!
//! Templates and their data (only fields present in the event are set):
//! - `order_confirmation` (`checkout.session.completed`): `first_name`, `customer_name`,
//!   `amount_total`, `currency`, `checkout_session_id`.
//! - `cancellation` (`customer.subscription.deleted`; email as in [`super::subjects`]):
//!   `subscription_id`, `plan`, `canceled_at` (date).
//! - `dunning` (`invoice.payment_failed`): `first_name`, `customer_name`, `invoice_number`,
//!   `amount_due`, `currency`, `attempt_count`, `next_payment_attempt` (date),
//!   `hosted_invoice_url`.

use serde_json::{json, Map, Value};

use super::customers::known_for;
use super::event_kind::EventKind;
use super::format::{put, stripe_amount};
use super::payload::{int, text};
use super::settings::{SendGridSettings, Template, SENDGRID_FROM_EMAIL};
use super::subjects::{
    checkout_person, invoice_person, stripe_object, subscription_person, subscription_plan, Person,
};
use super::{
    bearer, join_url, json_content, BuildError, DestinationConfig, HttpRequestSpec, StepInput,
};
use crate::time::iso_date;

pub const MAIL_SEND_PATH: &str = "/v3/mail/send";

/// The template a supported event sends.
fn template_for(event: EventKind) -> Result<Template, BuildError> {
    match event {
        EventKind::StripeCheckout => Ok(Template::OrderConfirmation),
        EventKind::StripeSubscription { deleted: true } => Ok(Template::Cancellation),
        EventKind::StripeInvoice { failed: true } => Ok(Template::Dunning),
        _ => Err(BuildError::UnsupportedEvent),
    }
}

fn amount(object: &Value, field: &str) -> Option<String> {
    let currency = text(object, "/currency")?;
    int(object, field).map(|minor| stripe_amount(minor, currency))
}

fn currency(object: &Value) -> Option<String> {
    text(object, "/currency").map(str::to_ascii_uppercase)
}

fn greeting(data: &mut Map<String, Value>, person: &Person) {
    put(data, "first_name", person.first_name.as_deref());
    put(data, "customer_name", person.full_name());
}

/// The recipient and the template data of an event.
fn recipient_and_data(
    template: Template,
    input: &StepInput,
    payload: &Value,
) -> Result<(Person, Map<String, Value>), BuildError> {
    let object = stripe_object(payload)?;
    let mut data = Map::new();
    let person = match template {
        Template::OrderConfirmation => {
            let person = checkout_person(object)?;
            greeting(&mut data, &person);
            put(&mut data, "amount_total", amount(object, "/amount_total"));
            put(&mut data, "currency", currency(object));
            put(&mut data, "checkout_session_id", text(object, "/id"));
            person
        }
        Template::Cancellation => {
            let person = subscription_person(object, known_for(object, input))?;
            put(&mut data, "subscription_id", text(object, "/id"));
            put(&mut data, "plan", subscription_plan(object));
            let when = int(object, "/ended_at")
                .or_else(|| int(object, "/canceled_at"))
                .or_else(|| input.occurred_at_ms.map(|ms| ms.div_euclid(1000)));
            put(&mut data, "canceled_at", when.and_then(iso_date));
            person
        }
        Template::Dunning => {
            let person = invoice_person(object, known_for(object, input))?;
            greeting(&mut data, &person);
            put(&mut data, "invoice_number", text(object, "/number"));
            put(&mut data, "amount_due", amount(object, "/amount_due"));
            put(&mut data, "currency", currency(object));
            if let Some(count) = int(object, "/attempt_count") {
                data.insert("attempt_count".into(), Value::from(count));
            }
            let next = int(object, "/next_payment_attempt").and_then(iso_date);
            put(&mut data, "next_payment_attempt", next);
            put(
                &mut data,
                "hosted_invoice_url",
                text(object, "/hosted_invoice_url"),
            );
            person
        }
    };
    Ok((person, data))
}

/// `sendgrid.send`: the template mail for a checkout, a cancellation or a failed payment.
pub fn send(
    event: EventKind,
    input: &StepInput,
    payload: &Value,
    destination: &DestinationConfig,
    mail: &SendGridSettings,
) -> Result<HttpRequestSpec, BuildError> {
    let template = template_for(event)?;
    let template_id = mail
        .template_id(template)
        .ok_or(BuildError::NotConfigured(template.setting()))?;
    let from_email = mail
        .from_email
        .as_deref()
        .ok_or(BuildError::NotConfigured(SENDGRID_FROM_EMAIL))?;
    let (person, data) = recipient_and_data(template, input, payload)?;
    let mut to = Map::new();
    put(&mut to, "email", Some(person.email.as_str()));
    put(&mut to, "name", person.full_name());
    let mut from = Map::new();
    put(&mut from, "email", Some(from_email));
    put(&mut from, "name", mail.from_name.as_deref());
    let body = json!({
        "personalizations": [{ "to": [to], "dynamic_template_data": data }],
        "from": from,
        "template_id": template_id,
        "custom_args": { "edgehooks_step_id": input.step_id },
    });
    Ok(HttpRequestSpec {
        method: "POST",
        url: join_url(&destination.base_url, MAIL_SEND_PATH),
        headers: vec![bearer(&destination.token), json_content()],
        body: body.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inbound::webhook::Provider;

    fn dest() -> DestinationConfig {
        DestinationConfig {
            base_url: "https://api.sendgrid.test".into(),
            token: "SG.key".into(),
        }
    }

    fn mail() -> SendGridSettings {
        SendGridSettings {
            from_email: Some("billing@shop.test".into()),
            from_name: None,
            order_confirmation_template: None,
            cancellation_template: Some("d-cancel".into()),
            dunning_template: Some("d-dunning".into()),
        }
    }

    fn input(event_type: &str) -> StepInput<'_> {
        StepInput {
            step_id: "evt_a:sendgrid.send",
            provider: Provider::Stripe,
            event_type,
            payload: "",
            occurred_at_ms: Some(1_700_000_000_000),
            account: None,
            link: None,
            customer: None,
        }
    }

    #[test]
    fn cancellation_uses_metadata_email_and_event_time() {
        let payload = json!({"data":{"object":{"id":"sub_1","customer":"cus_1","metadata":{"email":"m@x.test"}}}});
        let spec = send(
            EventKind::of(&input("customer.subscription.deleted")),
            &input("customer.subscription.deleted"),
            &payload,
            &dest(),
            &mail(),
        )
        .unwrap();
        assert_eq!(spec.url, "https://api.sendgrid.test/v3/mail/send");
        let body: Value = serde_json::from_str(&spec.body).unwrap();
        assert_eq!(
            body,
            json!({"personalizations":[{"to":[{"email":"m@x.test"}],
                "dynamic_template_data":{"subscription_id":"sub_1","canceled_at":"2023-11-14"}}],
                "from":{"email":"billing@shop.test"},"template_id":"d-cancel",
                "custom_args":{"edgehooks_step_id":"evt_a:sendgrid.send"}})
        );
    }

    #[test]
    fn missing_settings_name_the_variable() {
        let payload = json!({"data":{"object":{"customer_email":"a@x.test"}}});
        assert_eq!(
            send(
                EventKind::of(&input("checkout.session.completed")),
                &input("checkout.session.completed"),
                &payload,
                &dest(),
                &mail()
            ),
            Err(BuildError::NotConfigured(
                "SENDGRID_TEMPLATE_ORDER_CONFIRMATION"
            ))
        );
        let no_from = SendGridSettings {
            from_email: None,
            ..mail()
        };
        assert_eq!(
            send(
                EventKind::of(&input("invoice.payment_failed")),
                &input("invoice.payment_failed"),
                &payload,
                &dest(),
                &no_from
            ),
            Err(BuildError::NotConfigured("SENDGRID_FROM_EMAIL"))
        );
        assert_eq!(
            send(
                EventKind::of(&input("invoice.payment_succeeded")),
                &input("invoice.payment_succeeded"),
                &payload,
                &dest(),
                &mail()
            ),
            Err(BuildError::UnsupportedEvent)
        );
    }
}
