//! Who an event is about: the email, name, phone and provider ids of the person in each payload
//! shape the builders read (Stripe checkout sessions, subscriptions and invoices, Shopify orders
//! and customers, SendGrid events). One place, so that the contact upsert, the mail and the
//! Slack message agree on where a field comes from. Missing emails are `MissingField` errors
//! naming the field the provider normally carries.

use serde_json::Value;

use super::customers::KnownCustomer;
use super::format::split_name;
use super::payload::{first_text, id_text, text};
use super::BuildError;

/// A person as a payload describes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Person {
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone: Option<String>,
}

impl Person {
    fn with_email(email: &str) -> Person {
        Person {
            email: email.to_string(),
            first_name: None,
            last_name: None,
            phone: None,
        }
    }

    /// A Stripe customer's email, name and phone, when it has an email.
    fn of_customer(customer: &KnownCustomer) -> Option<Person> {
        let mut person = Person::with_email(customer.email.as_deref()?)
            .with_display_name(customer.name.as_deref());
        person.phone = customer.phone.clone();
        Some(person)
    }

    fn with_display_name(mut self, name: Option<&str>) -> Person {
        if let Some(name) = name {
            let (first, last) = split_name(name);
            self.first_name = Some(first);
            self.last_name = last;
        }
        self
    }

    /// "First Last", or whatever part is known.
    pub fn full_name(&self) -> Option<String> {
        let parts: Vec<&str> = [self.first_name.as_deref(), self.last_name.as_deref()]
            .into_iter()
            .flatten()
            .collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    }
}

/// `data.object` of a Stripe event.
pub(crate) fn stripe_object(payload: &Value) -> Result<&Value, BuildError> {
    payload
        .pointer("/data/object")
        .filter(|o| o.is_object())
        .ok_or(BuildError::MissingField("data.object"))
}

/// The Stripe customer id of an object: `customer` as an id or as an expanded object.
pub(crate) fn stripe_customer_id(object: &Value) -> Option<&str> {
    first_text(object, &["/customer", "/customer/id"])
}

/// Checkout Session: [`checkout_email`] and `customer_details.name`.
pub(crate) fn checkout_person(session: &Value) -> Result<Person, BuildError> {
    let email =
        checkout_email(session).ok_or(BuildError::MissingField("customer_details.email"))?;
    let mut person =
        Person::with_email(email).with_display_name(text(session, "/customer_details/name"));
    person.phone = text(session, "/customer_details/phone").map(str::to_string);
    Ok(person)
}

/// The email of a Checkout Session's buyer: `customer_details.email`, else `customer_email`
/// (a guest checkout has no Stripe customer, so this is all that names the person). The contact
/// upsert writes it and is ordered by it (`super::ordering`).
pub(crate) fn checkout_email(session: &Value) -> Option<&str> {
    first_text(session, &["/customer_details/email", "/customer_email"])
}

/// Subscription objects carry no email. Documented rule: `customer_email` when present (some
/// integrations add it), else `metadata.email`, else an expanded `customer.email`, else the
/// `known` customer the subscription names (see [`super::customers`]); otherwise
/// `missing_field:customer_email`.
pub(crate) fn subscription_person(
    subscription: &Value,
    known: Option<&KnownCustomer>,
) -> Result<Person, BuildError> {
    subscription_email(subscription)
        .map(Person::with_email)
        .or_else(|| known.and_then(Person::of_customer))
        .ok_or(BuildError::MissingField("customer_email"))
}

/// The email a subscription carries itself, if any (see [`subscription_person`]).
pub(crate) fn subscription_email(subscription: &Value) -> Option<&str> {
    first_text(
        subscription,
        &["/customer_email", "/metadata/email", "/customer/email"],
    )
}

/// The plan a subscription is on: the first item's price nickname, else its price id (legacy
/// `plan` as a fallback).
pub(crate) fn subscription_plan(subscription: &Value) -> Option<&str> {
    first_text(
        subscription,
        &[
            "/items/data/0/price/nickname",
            "/items/data/0/price/id",
            "/plan/nickname",
            "/plan/id",
        ],
    )
}

/// Invoice: `customer_email` and `customer_name`; when the invoice has no email, the `known`
/// customer it names (see [`super::customers`]).
pub(crate) fn invoice_person(
    invoice: &Value,
    known: Option<&KnownCustomer>,
) -> Result<Person, BuildError> {
    let Some(email) = text(invoice, "/customer_email") else {
        return known
            .and_then(Person::of_customer)
            .ok_or(BuildError::MissingField("customer_email"));
    };
    let mut person = Person::with_email(email).with_display_name(text(invoice, "/customer_name"));
    person.phone = text(invoice, "/customer_phone").map(str::to_string);
    Ok(person)
}

/// Shopify order: `email` (else `contact_email`, else `customer.email`); names from the
/// customer, else the billing address; phone from the customer, the order or the billing
/// address.
pub(crate) fn shopify_order_person(order: &Value) -> Result<Person, BuildError> {
    let email = first_text(order, &["/email", "/contact_email", "/customer/email"])
        .ok_or(BuildError::MissingField("email"))?;
    let mut person = Person::with_email(email);
    person.first_name = first_text(
        order,
        &["/customer/first_name", "/billing_address/first_name"],
    )
    .map(str::to_string);
    person.last_name = first_text(
        order,
        &["/customer/last_name", "/billing_address/last_name"],
    )
    .map(str::to_string);
    person.phone = first_text(
        order,
        &["/customer/phone", "/phone", "/billing_address/phone"],
    )
    .map(str::to_string);
    Ok(person)
}

/// Shopify customer: `email`, `first_name`, `last_name`, `phone`. A customer without an email
/// (phone-only sign-ups) cannot be upserted by email: `missing_field:email`.
pub(crate) fn shopify_customer_person(customer: &Value) -> Result<Person, BuildError> {
    let email = text(customer, "/email").ok_or(BuildError::MissingField("email"))?;
    Ok(Person {
        email: email.to_string(),
        first_name: text(customer, "/first_name").map(str::to_string),
        last_name: text(customer, "/last_name").map(str::to_string),
        phone: text(customer, "/phone").map(str::to_string),
    })
}

/// The Shopify customer id of an order (`customer.id`) or customer (`id`).
pub(crate) fn shopify_customer_id(object: &Value, is_order: bool) -> Option<String> {
    id_text(object, if is_order { "/customer/id" } else { "/id" })
}

/// SendGrid event: `email`.
pub(crate) fn sendgrid_email(event: &Value) -> Result<&str, BuildError> {
    text(event, "/email").ok_or(BuildError::MissingField("email"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn subscription_email_fallbacks() {
        let direct = json!({"customer_email": "a@x.test", "metadata": {"email": "b@x.test"}});
        assert_eq!(
            subscription_person(&direct, None).unwrap().email,
            "a@x.test"
        );
        let meta = json!({"customer": "cus_1", "metadata": {"email": "b@x.test"}});
        assert_eq!(subscription_person(&meta, None).unwrap().email, "b@x.test");
        let expanded = json!({"customer": {"id": "cus_1", "email": "c@x.test"}});
        assert_eq!(
            subscription_person(&expanded, None).unwrap().email,
            "c@x.test"
        );
        assert_eq!(stripe_customer_id(&expanded), Some("cus_1"));
        assert_eq!(
            subscription_person(&json!({"customer": "cus_1"}), None),
            Err(BuildError::MissingField("customer_email"))
        );
    }

    #[test]
    fn plan_prefers_nickname_then_price() {
        let nick = json!({"items": {"data": [{"price": {"id": "price_1", "nickname": "Pro"}}]}});
        assert_eq!(subscription_plan(&nick), Some("Pro"));
        let id = json!({"items": {"data": [{"price": {"id": "price_1", "nickname": null}}]}});
        assert_eq!(subscription_plan(&id), Some("price_1"));
        assert_eq!(subscription_plan(&json!({"items": {"data": []}})), None);
    }

    #[test]
    fn order_person_falls_back_to_billing_address() {
        let order = json!({"contact_email": "o@x.test", "phone": "+15550001",
            "billing_address": {"first_name": "Bo", "last_name": "Diddley"}});
        let p = shopify_order_person(&order).unwrap();
        assert_eq!(p.email, "o@x.test");
        assert_eq!(p.full_name().as_deref(), Some("Bo Diddley"));
        assert_eq!(p.phone.as_deref(), Some("+15550001"));
        assert_eq!(
            shopify_order_person(&json!({"email": null})),
            Err(BuildError::MissingField("email"))
        );
    }

    #[test]
    fn stripe_object_must_be_an_object() {
        assert!(stripe_object(&json!({"data": {"object": {}}})).is_ok());
        assert_eq!(
            stripe_object(&json!({"data": {"object": "x"}})),
            Err(BuildError::MissingField("data.object"))
        );
        assert!(stripe_object(&json!([])).is_err());
    }
}
