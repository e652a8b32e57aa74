//! Every default route against realistic sample events of all four providers
//! (`tests/fixtures/events/`): each sample is parsed by its provider module exactly as ingest
//! would, routed through the default table, and every planned step must produce exactly the
//! request (method, URL, headers, body), D1 action or skip listed in
//! `tests/fixtures/events/expected.json`, with the expected ordering key; a step about the person
//! behind a Stripe customer id first plans the lookup the case lists, then, with the customer the
//! case says edgehooks knows, the request. Also: every default
//! route is covered by a sample, disabled destinations are reported by name, and no truncated
//! or mangled sample makes planning panic.

use std::collections::HashSet;
use std::path::PathBuf;

use edgehooks_handlers::downstream::{
    entity_key, plan, BuildError, ContactLink, DownstreamSettings, KnownCustomer, StepAction,
    StepInput,
};
use edgehooks_handlers::inbound::ids::{event_id, step_id};
use edgehooks_handlers::inbound::providers::{hubspot, sendgrid, shopify, stripe};
use edgehooks_handlers::inbound::webhook::{InboundRequest, ParsedEvent, Provider};
use edgehooks_handlers::step_kind::{Destination, StepKind};
use edgehooks_handlers::steps::routes::{RouteTable, DEFAULT_ROUTES};
use serde::Deserialize;
use serde_json::Value;

const EXPECTED: &str = include_str!("../../tests/fixtures/events/expected.json");

#[derive(Deserialize)]
struct Expected {
    settings: std::collections::HashMap<String, String>,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    fixture: String,
    shopify: Option<ShopifyHeaders>,
    link: Option<Link>,
    customer: Option<Customer>,
    steps: Vec<Step>,
}

#[derive(Deserialize)]
struct Customer {
    id: String,
    email: Option<String>,
    name: Option<String>,
    phone: Option<String>,
}

#[derive(Deserialize)]
struct ShopifyHeaders {
    shop_domain: String,
    webhook_id: String,
}

#[derive(Deserialize)]
struct Link {
    stripe_customer_id: String,
    firstname: Option<String>,
    lastname: Option<String>,
}

#[derive(Deserialize)]
struct Step {
    step: String,
    entity_key: Option<String>,
    request: Option<Request>,
    local: Option<Value>,
    skip: Option<String>,
    /// The URL of the customer lookup planned before the customer is known.
    lookup: Option<String>,
}

#[derive(Deserialize)]
struct Request {
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    json: Option<Value>,
    form: Option<String>,
}

fn expected() -> Expected {
    serde_json::from_str(EXPECTED).unwrap()
}

fn settings(expected: &Expected) -> DownstreamSettings {
    DownstreamSettings::from_lookup(|name| expected.settings.get(name).cloned())
}

fn fixture(path: &str) -> String {
    let full: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "..",
        "tests",
        "fixtures",
        "events",
        path,
    ]
    .iter()
    .collect();
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// Parse a sample with its provider's own parser, as ingest does after verification.
fn parse(case: &Case) -> (Provider, ParsedEvent) {
    let (slug, rest) = case.fixture.split_once('/').unwrap();
    let provider = Provider::from_slug(slug).unwrap();
    let text = fixture(&case.fixture);
    let mut headers = Vec::new();
    let body = match provider {
        // Batch providers: the sample is one element of the array.
        Provider::SendGrid | Provider::HubSpot => format!("[{text}]"),
        _ => text,
    };
    if let Some(shop) = &case.shopify {
        let topic = rest.trim_end_matches(".json");
        headers.push((shopify::TOPIC_HEADER.to_string(), topic.to_string()));
        headers.push((
            shopify::SHOP_DOMAIN_HEADER.to_string(),
            shop.shop_domain.clone(),
        ));
        headers.push((
            shopify::WEBHOOK_ID_HEADER.to_string(),
            shop.webhook_id.clone(),
        ));
    }
    let req = InboundRequest {
        method: "POST",
        url: "https://hooks.example.com/webhooks/x",
        headers: &headers,
        body: body.as_bytes(),
    };
    let mut events = match provider {
        Provider::Stripe => stripe::parse(&req),
        Provider::SendGrid => sendgrid::parse(&req),
        Provider::HubSpot => hubspot::parse(&req),
        Provider::Shopify => shopify::parse(&req),
        Provider::Registry => panic!("{}: registry sources have no fixtures here", case.fixture),
    }
    .unwrap_or_else(|e| panic!("{}: {e}", case.fixture));
    assert_eq!(events.len(), 1, "{}", case.fixture);
    (provider, events.remove(0))
}

fn check_step(case: &Case, expected_step: &Step, action: StepAction, id: &str) {
    let at = format!("{} {}", case.fixture, expected_step.step);
    match action {
        StepAction::Http(spec) => {
            let want = expected_step
                .request
                .as_ref()
                .unwrap_or_else(|| panic!("{at}: got HTTP"));
            assert_eq!(spec.method, want.method, "{at}");
            assert_eq!(spec.url, want.url, "{at}");
            let headers: Vec<(String, String)> = want
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.replace("{step_id}", id)))
                .collect();
            assert_eq!(spec.headers, headers, "{at}");
            match (&want.json, &want.form) {
                (Some(json), None) => {
                    let want: Value =
                        serde_json::from_str(&json.to_string().replace("{step_id}", id)).unwrap();
                    let got: Value = serde_json::from_str(&spec.body).unwrap();
                    assert_eq!(got, want, "{at}");
                }
                (None, Some(form)) => assert_eq!(&spec.body, form, "{at}"),
                _ => panic!("{at}: expected exactly one of json or form"),
            }
        }
        StepAction::Local(local) => {
            let want = expected_step
                .local
                .as_ref()
                .unwrap_or_else(|| panic!("{at}: got local"));
            assert_eq!(&serde_json::to_value(&local).unwrap(), want, "{at}");
        }
        StepAction::Skip(reason) => {
            assert_eq!(Some(reason.code()), expected_step.skip.as_deref(), "{at}");
        }
        StepAction::Resolve(lookup) => panic!("{at}: unexpected lookup {lookup:?}"),
    }
}

#[test]
fn every_default_route_plans_exactly_the_expected_work() {
    let expected = expected();
    let settings = settings(&expected);
    let table = RouteTable::defaults();
    for case in &expected.cases {
        let (provider, event) = parse(case);
        let steps = table.steps_for(provider, &event.event_type);
        let names: Vec<&str> = steps.iter().map(|k| k.name()).collect();
        let want: Vec<&str> = case.steps.iter().map(|s| s.step.as_str()).collect();
        assert_eq!(names, want, "{}: routed steps", case.fixture);
        let link = case.link.as_ref().map(|l| ContactLink {
            stripe_customer_id: l.stripe_customer_id.clone(),
            firstname: l.firstname.clone(),
            lastname: l.lastname.clone(),
        });
        let customer = case.customer.as_ref().map(|c| KnownCustomer {
            id: c.id.clone(),
            email: c.email.clone(),
            name: c.name.clone(),
            phone: c.phone.clone(),
            deleted: false,
        });
        let event_id = event_id(provider, &event.dedupe_key);
        for (kind, expected_step) in steps.iter().zip(&case.steps) {
            let id = step_id(&event_id, kind.name());
            let unknown = StepInput {
                step_id: &id,
                provider,
                event_type: &event.event_type,
                payload: &event.payload,
                occurred_at_ms: event.occurred_at_ms,
                account: event.account.as_deref(),
                link: link.as_ref(),
                customer: None,
            };
            let at = format!("{} {}", case.fixture, kind.name());
            let first = plan(*kind, &unknown, &settings).unwrap_or_else(|e| panic!("{at}: {e}"));
            let input = match (&expected_step.lookup, first.clone()) {
                (Some(url), StepAction::Resolve(lookup)) => {
                    assert_eq!(&lookup.request.url, url, "{at}");
                    assert_eq!(lookup.request.method, "GET", "{at}");
                    let known = customer
                        .as_ref()
                        .expect("a case with a lookup names its customer");
                    assert_eq!(lookup.customer_id, known.id, "{at}");
                    StepInput {
                        customer: Some(known),
                        ..unknown
                    }
                }
                (None, _) => unknown,
                (Some(_), other) => panic!("{at}: expected a lookup first, got {other:?}"),
            };
            let action = plan(*kind, &input, &settings).unwrap_or_else(|e| panic!("{at}: {e}"));
            check_step(case, expected_step, action, &id);
            assert_eq!(
                entity_key(*kind, &input),
                expected_step.entity_key,
                "{} {}: entity key",
                case.fixture,
                kind.name()
            );
        }
    }
}

#[test]
fn every_default_route_has_a_sample() {
    let expected = expected();
    let covered: HashSet<(Provider, String)> = expected
        .cases
        .iter()
        .map(|case| {
            let (provider, event) = parse(case);
            (provider, event.event_type)
        })
        .collect();
    for route in DEFAULT_ROUTES {
        assert!(
            covered.contains(&(route.provider, route.event_type.to_string())),
            "no sample for {} {}",
            route.provider,
            route.event_type
        );
    }
}

#[test]
fn a_missing_token_disables_its_destination_only() {
    let expected = expected();
    let mut settings = settings(&expected);
    settings.hubspot = None;
    settings.slack_webhook_url = None;
    let case = expected
        .cases
        .iter()
        .find(|c| c.fixture == "stripe/invoice.payment_failed.json")
        .unwrap();
    let (provider, event) = parse(case);
    let input = StepInput {
        step_id: "evt_x:step",
        provider,
        event_type: &event.event_type,
        payload: &event.payload,
        occurred_at_ms: event.occurred_at_ms,
        account: event.account.as_deref(),
        link: None,
        customer: None,
    };
    let outcome = |kind| plan(kind, &input, &settings);
    assert_eq!(
        outcome(StepKind::HubSpotUpsertContact),
        Err(BuildError::DestinationDisabled(Destination::HubSpot))
    );
    assert_eq!(
        outcome(StepKind::SlackNotify).unwrap_err().code(),
        "destination_disabled:slack"
    );
    assert!(matches!(
        outcome(StepKind::SendGridSend),
        Ok(StepAction::Http(_))
    ));
}

#[test]
fn mangled_samples_never_panic() {
    let expected = expected();
    let settings = settings(&expected);
    let link = ContactLink {
        stripe_customer_id: "cus_1".into(),
        ..ContactLink::default()
    };
    let customer = KnownCustomer {
        id: "cus_PiEWZ5vTqL0p2d".into(),
        email: Some("ada@example.com".into()),
        ..KnownCustomer::default()
    };
    for case in &expected.cases {
        let (provider, event) = parse(case);
        let text = &event.payload;
        // Every prefix on a char boundary, and the payload with each value nulled out in turn.
        let mut variants: Vec<String> = (0..text.len())
            .step_by(text.len() / 50 + 1)
            .filter(|i| text.is_char_boundary(*i))
            .map(|i| text[..i].to_string())
            .collect();
        variants.push("null".into());
        variants.push("[]".into());
        variants.push(r#"{"data":{"object":[]}}"#.into());
        for kind in StepKind::ALL {
            for payload in &variants {
                let input = StepInput {
                    step_id: "s",
                    provider,
                    event_type: &event.event_type,
                    payload,
                    occurred_at_ms: event.occurred_at_ms,
                    account: None,
                    link: Some(&link),
                    customer: Some(&customer),
                };
                let _ = plan(kind, &input, &settings);
                let _ = entity_key(kind, &input);
            }
        }
    }
}

/// Keys the builders read, so that random documents reach deep into every builder.
const KEYS: &[&str] = &[
    "data",
    "object",
    "id",
    "customer",
    "customer_email",
    "customer_details",
    "email",
    "name",
    "metadata",
    "items",
    "0",
    "price",
    "nickname",
    "plan",
    "status",
    "amount_due",
    "amount_paid",
    "amount_total",
    "currency",
    "status_transitions",
    "paid_at",
    "created",
    "number",
    "attempt_count",
    "next_payment_attempt",
    "first_name",
    "last_name",
    "phone",
    "total_price",
    "processed_at",
    "created_at",
    "order_number",
    "billing_address",
    "shop_domain",
    "myshopify_domain",
    "orders_to_redact",
    "data_request",
    "objectId",
    "propertyName",
    "propertyValue",
    "sourceId",
    "appId",
    "sg_event_id",
];

fn json_value() -> impl proptest::strategy::Strategy<Value = Value> {
    use proptest::prelude::*;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "[a-z@. _-]{0,12}".prop_map(Value::String),
        Just(Value::String("2024-03-10T09:15:41-05:00".into())),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::vec((proptest::sample::select(KEYS), inner), 0..6).prop_map(
                |pairs| Value::Object(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
            ),
        ]
    })
}

proptest::proptest! {
    #[test]
    fn arbitrary_documents_never_panic(
        doc in json_value(),
        route in proptest::sample::select(DEFAULT_ROUTES),
        occurred in proptest::option::of(proptest::prelude::any::<i64>()),
    ) {
        let settings = settings(&expected());
        let link = ContactLink { stripe_customer_id: "cus_1".into(), ..ContactLink::default() };
        let customer = KnownCustomer { id: "cus_1".into(), ..KnownCustomer::default() };
        let payload = doc.to_string();
        for kind in StepKind::ALL {
            let input = StepInput {
                step_id: "s",
                provider: route.provider,
                event_type: route.event_type,
                payload: &payload,
                occurred_at_ms: occurred,
                account: None,
                link: Some(&link),
                customer: Some(&customer),
            };
            let _ = plan(kind, &input, &settings);
            let _ = entity_key(kind, &input);
        }
    }
}
