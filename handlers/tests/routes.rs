//! The routing table as operators see it: the defaults of docs/contract.md (*Default routes*), and `ROUTES_JSON`
//! overrides (a listed pair replaces its default, an empty list disables it, new event types can
//! be added) with every malformed override rejected at startup with a clear, named error.

use edgehooks_handlers::inbound::webhook::Provider;
use edgehooks_handlers::step_kind::{Destination, StepKind};
use edgehooks_handlers::steps::routes::{steps_for, RouteTable, DEFAULT_ROUTES, ROUTES_SETTING};
use StepKind::*;

fn names(steps: &[StepKind]) -> Vec<&'static str> {
    steps.iter().map(|k| k.name()).collect()
}

fn detail(json: &str) -> String {
    let err = RouteTable::with_overrides_json(json).unwrap_err();
    assert_eq!(err.setting, ROUTES_SETTING);
    err.detail
}

#[test]
fn defaults_follow_the_design() {
    let t = RouteTable::defaults();
    let s = |p, e| names(&t.steps_for(p, e));
    use Provider::*;
    assert_eq!(
        s(Stripe, "checkout.session.completed"),
        ["hubspot.upsert_contact", "sendgrid.send"]
    );
    for e in [
        "customer.subscription.created",
        "customer.subscription.updated",
    ] {
        assert_eq!(s(Stripe, e), ["hubspot.upsert_contact"]);
    }
    assert_eq!(
        s(Stripe, "customer.subscription.deleted"),
        ["hubspot.upsert_contact", "sendgrid.send"]
    );
    assert_eq!(
        s(Stripe, "invoice.payment_failed"),
        ["sendgrid.send", "hubspot.upsert_contact", "slack.notify"]
    );
    assert_eq!(
        s(Stripe, "invoice.payment_succeeded"),
        ["hubspot.upsert_contact"]
    );
    assert_eq!(
        s(Shopify, "orders/create"),
        [
            "hubspot.upsert_contact",
            "hubspot.create_deal",
            "slack.notify"
        ]
    );
    assert_eq!(s(Shopify, "customers/create"), ["hubspot.upsert_contact"]);
    assert_eq!(s(Shopify, "customers/update"), ["hubspot.upsert_contact"]);
    assert_eq!(s(Shopify, "app/uninstalled"), ["shop.mark_inactive"]);
    assert_eq!(s(Shopify, "customers/redact"), ["privacy.redact"]);
    assert_eq!(s(Shopify, "shop/redact"), ["privacy.redact"]);
    assert_eq!(s(Shopify, "customers/data_request"), ["privacy.export"]);
    assert_eq!(
        s(HubSpot, "contact.propertyChange"),
        ["stripe.update_customer"]
    );
    assert_eq!(s(HubSpot, "contact.deletion"), ["mapping.mark_deleted"]);
    assert_eq!(s(HubSpot, "contact.privacyDeletion"), ["privacy.redact"]);
    for e in [
        "bounce",
        "dropped",
        "spamreport",
        "unsubscribe",
        "group_unsubscribe",
    ] {
        assert_eq!(
            s(SendGrid, e),
            ["suppression.record", "hubspot.upsert_contact"]
        );
    }
    for e in ["delivered", "open", "click"] {
        assert_eq!(s(SendGrid, e), ["engagement.count"]);
    }
    // Unrouted types and the same names under another provider plan nothing.
    assert!(s(Stripe, "charge.refunded").is_empty());
    assert!(s(SendGrid, "processed").is_empty());
    assert!(s(Shopify, "bounce").is_empty());
    assert_eq!(DEFAULT_ROUTES.len(), 24);
}

#[test]
fn step_names_and_destinations() {
    let expected = [
        ("hubspot.upsert_contact", "hubspot"),
        ("hubspot.create_deal", "hubspot"),
        ("sendgrid.send", "sendgrid"),
        ("stripe.update_customer", "stripe"),
        ("slack.notify", "slack"),
        ("shop.mark_inactive", "local"),
        ("privacy.redact", "local"),
        ("privacy.export", "local"),
        ("suppression.record", "local"),
        ("engagement.count", "local"),
        ("mapping.mark_deleted", "local"),
    ];
    let got: Vec<_> = StepKind::ALL
        .iter()
        .map(|k| (k.name(), k.destination().name()))
        .collect();
    assert_eq!(got, expected);
    let destinations: Vec<_> = Destination::ALL.iter().map(|d| d.name()).collect();
    assert_eq!(
        destinations,
        ["hubspot", "sendgrid", "stripe", "slack", "local"]
    );
}

#[test]
fn blank_overrides_are_the_defaults() {
    for blank in ["", "  \n", "{}"] {
        assert_eq!(
            RouteTable::with_overrides_json(blank).unwrap(),
            RouteTable::defaults()
        );
    }
}

#[test]
fn overrides_replace_add_and_disable() {
    let t = RouteTable::with_overrides_json(
        r#"{
            "stripe": {"invoice.paid": ["slack.notify"], "invoice.payment_failed": ["slack.notify", "sendgrid.send"]},
            "shopify": {"orders/create": []},
            "sendgrid": {"open": ["engagement.count", "slack.notify"]}
        }"#,
    )
    .unwrap();
    assert_eq!(t.steps_for(Provider::Stripe, "invoice.paid"), [SlackNotify]);
    assert_eq!(
        t.steps_for(Provider::Stripe, "invoice.payment_failed"),
        [SlackNotify, SendGridSend]
    );
    assert!(t.steps_for(Provider::Shopify, "orders/create").is_empty());
    assert_eq!(
        t.steps_for(Provider::SendGrid, "open"),
        [EngagementCount, SlackNotify]
    );
    // Untouched pairs keep their defaults.
    for route in DEFAULT_ROUTES {
        let overridden = matches!(
            (route.provider, route.event_type),
            (Provider::Stripe, "invoice.payment_failed")
                | (Provider::Shopify, "orders/create")
                | (Provider::SendGrid, "open")
        );
        if !overridden {
            assert_eq!(
                t.steps_for(route.provider, route.event_type),
                steps_for(DEFAULT_ROUTES, route.provider, route.event_type)
            );
        }
    }
    // The disabled row is still listed (empty), the added one appended.
    let rows: Vec<_> = t
        .rows()
        .map(|(p, e, s)| (p, e.to_string(), s.len()))
        .collect();
    assert!(rows.contains(&(Provider::Shopify, "orders/create".into(), 0)));
    assert_eq!(
        rows.last(),
        Some(&(Provider::Stripe, "invoice.paid".to_string(), 1))
    );
}

#[test]
fn unknown_provider_or_step_is_named() {
    let d = detail(r#"{"paypal": {"PAYMENT.SALE.COMPLETED": ["slack.notify"]}}"#);
    assert!(d.contains("unknown provider `paypal`"), "{d}");
    let d = detail(r#"{"stripe": {"invoice.paid": ["slack.notfy"]}}"#);
    assert!(d.contains("unknown step `slack.notfy`"), "{d}");
    assert!(d.contains("`stripe` `invoice.paid`"), "{d}");
    assert!(d.contains("slack.notify"), "lists the known steps: {d}");
    // Provider slugs are exact.
    assert!(detail(r#"{"Stripe": {}}"#).contains("unknown provider `Stripe`"));
}

#[test]
fn wrong_shapes_are_rejected() {
    for (json, needle) in [
        ("not json", "not valid JSON"),
        (r#"{"stripe": {"a": ["slack.notify"]"#, "not valid JSON"),
        (r#"["slack.notify"]"#, "must be a JSON object"),
        ("null", "must be a JSON object"),
        (
            r#"{"stripe": ["slack.notify"]}"#,
            "`stripe` must map to an object",
        ),
        (
            r#"{"stripe": {"invoice.paid": "slack.notify"}}"#,
            "must map to an array",
        ),
        (
            r#"{"stripe": {"invoice.paid": null}}"#,
            "must map to an array",
        ),
        (
            r#"{"stripe": {"invoice.paid": [1]}}"#,
            "step names must be strings",
        ),
        (
            r#"{"stripe": {"": ["slack.notify"]}}"#,
            "blank or space-padded event type",
        ),
        (
            r#"{"stripe": {" invoice.paid": []}}"#,
            "blank or space-padded event type",
        ),
    ] {
        let d = detail(json);
        assert!(d.contains(needle), "{json}: {d}");
    }
}

#[test]
fn repeated_or_unsuitable_steps_are_rejected() {
    let d = detail(r#"{"stripe": {"invoice.paid": ["slack.notify", "slack.notify"]}}"#);
    assert!(d.contains("listed twice"), "{d}");
    for json in [
        r#"{"stripe": {"charge.refunded": ["hubspot.create_deal"]}}"#,
        r#"{"shopify": {"orders/updated": ["hubspot.create_deal"]}}"#,
        r#"{"hubspot": {"contact.creation": ["privacy.redact"]}}"#,
        r#"{"sendgrid": {"open": ["suppression.record"]}}"#,
        r#"{"stripe": {"customer.subscription.updated": ["sendgrid.send"]}}"#,
    ] {
        let d = detail(json);
        assert!(d.contains("cannot handle this event type"), "{json}: {d}");
    }
    // One bad row rejects the whole setting: no half-applied table.
    assert!(RouteTable::with_overrides_json(
        r#"{"stripe": {"invoice.paid": ["slack.notify"]}, "sendgrid": {"open": ["nope"]}}"#
    )
    .is_err());
}
