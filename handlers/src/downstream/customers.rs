//! The Stripe customer behind a subscription or an invoice. Subscription objects (and some
//! invoices) name their customer only by id (`"customer": "cus_..."`), so a step that needs the
//! person first needs that customer resolved. This file owns the three decisions around it:
//! what an event teaches about its customer ([`learned_from_event`], stored by ingest: checkout
//! sessions' `customer_details`, invoices' `customer_email`/`customer_name`, `customer.*`
//! events), what a `GET /v1/customers/{id}` answer says ([`from_lookup`]), and, while planning,
//! whether a step can go ahead with the payload's own email, must first look the customer up
//! ([`CustomerLookup`], the shell performs it like any downstream call), or does not apply
//! because the customer was deleted or has no email (a skip, not a failure).

use serde_json::Value;

use super::event_kind::EventKind;
use super::payload::{text, LazyPayload};
use super::settings::DownstreamSettings;
use super::stripe::{valid_customer_id, CUSTOMERS_PATH};
use super::subjects::{checkout_email, stripe_customer_id, stripe_object, subscription_email};
use super::{bearer, join_url, BuildError, HttpRequestSpec, SkipReason, StepAction, StepInput};
use crate::inbound::webhook::Provider;
use crate::step_kind::{Destination, StepKind};

/// The error code of a lookup Stripe answered `404 resource_missing`: the id is unknown to the
/// account `STRIPE_API_KEY` belongs to (wrong account or mode): an admin must act.
pub const CUSTOMER_NOT_FOUND: &str = "stripe_customer_not_found";

/// What edgehooks knows about a Stripe customer: from an event that carried it, or from a lookup.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KnownCustomer {
    /// `cus_...`
    pub id: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub phone: Option<String>,
    /// Stripe answered `{"id": ..., "deleted": true}`, or a `customer.deleted` event said so.
    pub deleted: bool,
}

/// A step that must resolve `customer_id` before it can be planned: send `request` (a
/// `GET /v1/customers/{id}` to the Stripe destination), read the answer with [`from_lookup`],
/// store it, and plan the step again with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerLookup {
    pub customer_id: String,
    pub request: HttpRequestSpec,
}

fn owned(value: Option<&str>) -> Option<String> {
    value.map(str::to_string)
}

/// A customer object (`object: "customer"`, or a deleted customer's stub).
fn customer_object(customer: &Value) -> Option<KnownCustomer> {
    let id = text(customer, "/id").filter(|id| valid_customer_id(id))?;
    Some(KnownCustomer {
        id: id.to_string(),
        email: owned(text(customer, "/email")),
        name: owned(text(customer, "/name")),
        phone: owned(text(customer, "/phone")),
        deleted: customer.get("deleted").and_then(Value::as_bool) == Some(true),
    })
}

/// The customer a Stripe event tells about, when it names one with an email (checkout sessions
/// and invoices) or is about the customer itself (`customer.created|updated|deleted`).
/// `None` for other events and for anything that is not a valid customer id. `payload` is the
/// event's, shared with ingest's other readers so that it is parsed once.
pub fn learned_from_event(
    provider: Provider,
    event_type: &str,
    payload: &LazyPayload,
) -> Option<KnownCustomer> {
    if provider != Provider::Stripe {
        return None;
    }
    // Decided from the type first: the payload of any other event is not parsed at all.
    let told = CustomerTold::by(event_type)?;
    let object = stripe_object(payload.value()?).ok()?;
    let learned = |email: &str, name, phone| {
        let id = stripe_customer_id(object).filter(|id| valid_customer_id(id))?;
        Some(KnownCustomer {
            id: id.to_string(),
            email: Some(email.to_string()),
            name: owned(name),
            phone: owned(phone),
            deleted: false,
        })
    };
    match told {
        CustomerTold::Itself => customer_object(object),
        CustomerTold::Deleted => {
            customer_object(object).map(|c| KnownCustomer { deleted: true, ..c })
        }
        CustomerTold::ByCheckout => learned(
            checkout_email(object)?,
            text(object, "/customer_details/name"),
            text(object, "/customer_details/phone"),
        ),
        CustomerTold::ByInvoice => learned(
            text(object, "/customer_email")?,
            text(object, "/customer_name"),
            text(object, "/customer_phone"),
        ),
    }
}

/// How a Stripe event type tells about a customer.
enum CustomerTold {
    /// `customer.created|updated`: the object is the customer.
    Itself,
    /// `customer.deleted`.
    Deleted,
    /// A completed checkout session: its customer details.
    ByCheckout,
    /// An invoice: its customer fields.
    ByInvoice,
}

impl CustomerTold {
    fn by(event_type: &str) -> Option<CustomerTold> {
        match event_type {
            "customer.created" | "customer.updated" => Some(CustomerTold::Itself),
            "customer.deleted" => Some(CustomerTold::Deleted),
            "checkout.session.completed" | "checkout.session.async_payment_succeeded" => {
                Some(CustomerTold::ByCheckout)
            }
            t if t.starts_with("invoice.") => Some(CustomerTold::ByInvoice),
            _ => None,
        }
    }
}

/// The customer a `GET /v1/customers/{id}` 2xx answer describes; `None` when the body is not a
/// customer with that id.
pub fn from_lookup(customer_id: &str, body: &str) -> Option<KnownCustomer> {
    let customer: Value = serde_json::from_str(body).ok()?;
    customer_object(&customer).filter(|c| c.id == customer_id)
}

/// What a failed lookup means, when Stripe says the customer does not exist (`404` with error
/// code `resource_missing`): [`CUSTOMER_NOT_FOUND`]. `None` for anything else.
pub fn explain_lookup_failure(status: u16, body: &str) -> Option<String> {
    let error: Value = serde_json::from_str(body).ok()?;
    (status == 404 && text(&error, "/error/code") == Some("resource_missing")).then(|| {
        format!(
            "{CUSTOMER_NOT_FOUND}: Stripe does not know this customer in the account of \
             STRIPE_API_KEY (wrong account or test/live mode?)"
        )
    })
}

/// `GET {STRIPE_API_BASE}/v1/customers/{id}` with Bearer `STRIPE_API_KEY`.
fn lookup(customer_id: &str, settings: &DownstreamSettings) -> Result<StepAction, BuildError> {
    let stripe = settings
        .destination(Destination::Stripe)
        .ok_or(BuildError::DestinationDisabled(Destination::Stripe))?;
    Ok(StepAction::Resolve(CustomerLookup {
        customer_id: customer_id.to_string(),
        request: HttpRequestSpec {
            method: "GET",
            url: join_url(&stripe.base_url, &format!("{CUSTOMERS_PATH}{customer_id}")),
            headers: vec![bearer(&stripe.token)],
            body: String::new(),
        },
    }))
}

/// True when step `kind` writes to or about the person of this Stripe event.
fn needs_person(kind: StepKind, source: EventKind) -> bool {
    match (kind, source) {
        (StepKind::HubSpotUpsertContact, EventKind::StripeSubscription { .. })
        | (StepKind::HubSpotUpsertContact, EventKind::StripeInvoice { .. }) => true,
        (StepKind::SendGridSend, EventKind::StripeSubscription { deleted }) => deleted,
        (StepKind::SendGridSend, EventKind::StripeInvoice { failed })
        | (StepKind::SlackNotify, EventKind::StripeInvoice { failed }) => failed,
        _ => false,
    }
}

/// The email a subscription or invoice carries itself (see [`super::subjects`]).
fn own_email(object: &Value, source: EventKind) -> Option<&str> {
    match source {
        EventKind::StripeSubscription { .. } => subscription_email(object),
        _ => text(object, "/customer_email"),
    }
}

/// The known customer an object names, when it is the one the shell passed in.
pub(crate) fn known_for<'a>(object: &Value, input: &StepInput<'a>) -> Option<&'a KnownCustomer> {
    let id = stripe_customer_id(object)?;
    input.customer.filter(|c| c.id == id && !c.deleted)
}

/// Before the builders run: `Ok(None)` when the step can be built from what it has (the event's
/// own email, or the known customer), a [`StepAction::Resolve`] when the customer must be looked
/// up first, a [`StepAction::Skip`] when the known customer is deleted or has no email. An
/// object with neither an email nor a valid customer id is left to the builder's
/// `missing_field` error.
pub(crate) fn resolve_person(
    event: EventKind,
    kind: StepKind,
    input: &StepInput,
    payload: &Value,
    settings: &DownstreamSettings,
) -> Result<Option<StepAction>, BuildError> {
    if !needs_person(kind, event) {
        return Ok(None);
    }
    let Ok(object) = stripe_object(payload) else {
        return Ok(None);
    };
    if own_email(object, event).is_some() {
        return Ok(None);
    }
    let Some(id) = stripe_customer_id(object).filter(|id| valid_customer_id(id)) else {
        return Ok(None);
    };
    match input.customer.filter(|c| c.id == id) {
        None => lookup(id, settings).map(Some),
        Some(c) if c.deleted => Ok(Some(StepAction::Skip(SkipReason::CustomerDeleted))),
        Some(c) if c.email.is_none() => {
            Ok(Some(StepAction::Skip(SkipReason::CustomerWithoutEmail)))
        }
        Some(_) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::downstream::plan;
    use serde_json::json;

    fn settings() -> DownstreamSettings {
        DownstreamSettings::from_lookup(|name| match name {
            "HUBSPOT_ACCESS_TOKEN" => Some("pat".into()),
            "STRIPE_API_KEY" => Some("sk_test_1".into()),
            "STRIPE_API_BASE" => Some("https://api.stripe.test".into()),
            "SENDGRID_API_KEY" => Some("SG.k".into()),
            "SENDGRID_FROM_EMAIL" => Some("billing@x.test".into()),
            "SENDGRID_TEMPLATE_CANCELLATION" => Some("d-cancel".into()),
            _ => None,
        })
    }

    fn subscription(event_type: &str, object: Value) -> String {
        json!({"id": "evt_1", "object": "event", "type": event_type,
            "data": {"object": object}})
        .to_string()
    }

    fn plan_with(
        kind: StepKind,
        event_type: &str,
        payload: &str,
        customer: Option<&KnownCustomer>,
    ) -> Result<StepAction, BuildError> {
        let input = StepInput {
            step_id: "evt_1:x",
            payload,
            customer,
            ..StepInput::for_test(Provider::Stripe, event_type, None)
        };
        plan(kind, &input, &settings())
    }

    fn ada(id: &str) -> KnownCustomer {
        KnownCustomer {
            id: id.into(),
            email: Some("ada@example.com".into()),
            name: Some("Ada Lovelace".into()),
            ..KnownCustomer::default()
        }
    }

    const SUB: &str = "customer.subscription.updated";

    fn sub_payload() -> String {
        subscription(
            SUB,
            json!({"id": "sub_1", "object": "subscription", "customer": "cus_1",
            "status": "active", "metadata": {}}),
        )
    }

    #[test]
    fn a_customer_known_only_by_id_is_looked_up_first() {
        let action = plan_with(StepKind::HubSpotUpsertContact, SUB, &sub_payload(), None);
        let Ok(StepAction::Resolve(lookup)) = action else {
            panic!("expected a lookup, got {action:?}");
        };
        assert_eq!(lookup.customer_id, "cus_1");
        assert_eq!(lookup.request.method, "GET");
        assert_eq!(
            lookup.request.url,
            "https://api.stripe.test/v1/customers/cus_1"
        );
        assert_eq!(
            lookup.request.headers,
            vec![("Authorization".into(), "Bearer sk_test_1".into())]
        );
        // Another customer's record does not stand in for this one.
        let other = ada("cus_2");
        let again = plan_with(
            StepKind::HubSpotUpsertContact,
            SUB,
            &sub_payload(),
            Some(&other),
        );
        assert!(matches!(again, Ok(StepAction::Resolve(_))));
    }

    #[test]
    fn a_known_customer_gives_the_person() {
        let known = ada("cus_1");
        let action = plan_with(
            StepKind::HubSpotUpsertContact,
            SUB,
            &sub_payload(),
            Some(&known),
        );
        let Ok(StepAction::Http(spec)) = action else {
            panic!("expected the upsert, got {action:?}");
        };
        let body: Value = serde_json::from_str(&spec.body).unwrap();
        assert_eq!(body["inputs"][0]["id"], "ada@example.com");
        assert_eq!(body["inputs"][0]["properties"]["firstname"], "Ada");
        assert_eq!(body["inputs"][0]["properties"]["lastname"], "Lovelace");
        assert_eq!(
            body["inputs"][0]["properties"]["stripe_customer_id"],
            "cus_1"
        );
        let deleted = subscription(
            "customer.subscription.deleted",
            json!({"id": "sub_1", "customer": "cus_1", "status": "canceled"}),
        );
        let mail = plan_with(
            StepKind::SendGridSend,
            "customer.subscription.deleted",
            &deleted,
            Some(&known),
        );
        let Ok(StepAction::Http(spec)) = mail else {
            panic!("expected the mail, got {mail:?}");
        };
        assert!(spec.body.contains("ada@example.com"));
    }

    #[test]
    fn a_deleted_customer_or_one_without_email_is_skipped() {
        let deleted = KnownCustomer {
            deleted: true,
            ..ada("cus_1")
        };
        assert_eq!(
            plan_with(
                StepKind::HubSpotUpsertContact,
                SUB,
                &sub_payload(),
                Some(&deleted)
            ),
            Ok(StepAction::Skip(SkipReason::CustomerDeleted))
        );
        let no_email = KnownCustomer {
            email: None,
            ..ada("cus_1")
        };
        assert_eq!(
            plan_with(
                StepKind::HubSpotUpsertContact,
                SUB,
                &sub_payload(),
                Some(&no_email)
            ),
            Ok(StepAction::Skip(SkipReason::CustomerWithoutEmail))
        );
    }

    #[test]
    fn an_email_in_the_event_needs_no_lookup() {
        let invoice = subscription(
            "invoice.payment_failed",
            json!({"id": "in_1", "customer": "cus_1", "customer_email": "a@x.test",
                "customer_name": null}),
        );
        for kind in [StepKind::HubSpotUpsertContact, StepKind::SendGridSend] {
            let action = plan_with(kind, "invoice.payment_failed", &invoice, None);
            assert!(
                matches!(action, Ok(StepAction::Http(_)))
                    || matches!(action, Err(BuildError::NotConfigured(_))),
                "{kind:?}: {action:?}"
            );
        }
        // Neither an email nor a usable customer id: the builder's error, as before.
        let bare = subscription(SUB, json!({"id": "sub_1", "customer": "../charges"}));
        assert_eq!(
            plan_with(StepKind::HubSpotUpsertContact, SUB, &bare, None),
            Err(BuildError::MissingField("customer_email"))
        );
        // A subscription's generic Slack message needs no person.
        assert!(!needs_person(
            StepKind::SlackNotify,
            EventKind::StripeSubscription { deleted: true }
        ));
    }

    #[test]
    fn a_lookup_without_stripe_configured_is_a_disabled_destination() {
        let payload = sub_payload();
        let input = StepInput {
            payload: &payload,
            ..StepInput::for_test(Provider::Stripe, SUB, None)
        };
        let hubspot_only = DownstreamSettings::from_lookup(|name| {
            (name == "HUBSPOT_ACCESS_TOKEN").then(|| "pat".to_string())
        });
        assert_eq!(
            plan(StepKind::HubSpotUpsertContact, &input, &hubspot_only),
            Err(BuildError::DestinationDisabled(Destination::Stripe))
        );
    }

    /// What ingest learns from an event whose payload is `text`.
    fn learned(provider: Provider, event_type: &str, text: &str) -> Option<KnownCustomer> {
        learned_from_event(provider, event_type, &LazyPayload::new(text))
    }

    #[test]
    fn events_teach_their_customer() {
        let checkout = subscription(
            "checkout.session.completed",
            json!({"id": "cs_1", "customer": "cus_1", "customer_email": null,
                "customer_details": {"email": "ada@example.com", "name": "Ada Lovelace", "phone": null}}),
        );
        assert_eq!(
            learned(Provider::Stripe, "checkout.session.completed", &checkout),
            Some(ada("cus_1"))
        );
        let invoice = subscription(
            "invoice.paid",
            json!({"id": "in_1", "customer": "cus_1", "customer_email": "ada@example.com",
                "customer_name": "Ada Lovelace"}),
        );
        assert_eq!(
            learned(Provider::Stripe, "invoice.paid", &invoice),
            Some(ada("cus_1"))
        );
        let gone = subscription(
            "customer.deleted",
            json!({"id": "cus_1", "object": "customer", "email": "ada@example.com"}),
        );
        let deleted = learned(Provider::Stripe, "customer.deleted", &gone).unwrap();
        assert!(deleted.deleted);
        // Nothing to learn: no email, a bad id, another provider, not JSON.
        let guest = subscription(
            "checkout.session.completed",
            json!({"id": "cs_2", "customer": null, "customer_details": {"email": "g@x.test"}}),
        );
        assert_eq!(
            learned(Provider::Stripe, "checkout.session.completed", &guest),
            None
        );
        assert_eq!(learned(Provider::Stripe, SUB, &sub_payload()), None);
        assert_eq!(learned(Provider::HubSpot, "invoice.paid", &invoice), None);
        assert_eq!(learned(Provider::Stripe, "invoice.paid", "[1,"), None);
    }

    #[test]
    fn lookup_answers() {
        let live = r#"{"id":"cus_1","object":"customer","email":"ada@example.com","name":"Ada Lovelace","phone":null}"#;
        assert_eq!(from_lookup("cus_1", live), Some(ada("cus_1")));
        let gone = from_lookup(
            "cus_1",
            r#"{"id":"cus_1","object":"customer","deleted":true}"#,
        );
        assert_eq!(gone.map(|c| (c.deleted, c.email)), Some((true, None)));
        assert_eq!(
            from_lookup("cus_2", live),
            None,
            "the answer is about another id"
        );
        assert_eq!(from_lookup("cus_1", "<html>"), None);
        let missing = r#"{"error":{"code":"resource_missing","message":"No such customer: 'cus_1'","param":"id","type":"invalid_request_error"}}"#;
        assert!(explain_lookup_failure(404, missing)
            .unwrap()
            .starts_with(CUSTOMER_NOT_FOUND));
        assert_eq!(explain_lookup_failure(500, missing), None);
        assert_eq!(explain_lookup_failure(404, "not json"), None);
    }
}
