//! Connections and `http` destinations as operators write them through the admin API: a
//! connection joins a source (a provider, optionally one account or named source) through a
//! [`filter::Filter`] to a destination (an `http` destination by name, or a built-in step kind);
//! an `http` destination is a URL with its Standard Webhooks secrets and delivery settings. This
//! file validates the JSON into typed values, naming the field that is wrong; storing them is
//! the shell's, matching an event is [`Connection::takes`].

pub mod delivery;
pub mod drain;
pub mod filter;
pub mod plan;
pub mod recovery;
pub mod sql;
pub mod transform;

use serde_json::{Map, Value};

use crate::inbound::sources::SourceSelector;
use crate::inbound::webhook::Provider;
use crate::standard_webhooks::SigningKey;
use crate::step_kind::{Destination, StepKind};
pub use filter::{Condition, Filter, FilterError, TypePattern};
use plan::EventFacts;
use transform::Transform;

/// Bounds of an `http` destination's settings.
pub const DEFAULT_TIMEOUT_MS: u32 = 10_000;
pub const MAX_TIMEOUT_MS: u32 = 30_000;
pub const MAX_DESTINATION_ATTEMPTS: u32 = 50;
const MAX_NAME_LEN: usize = 64;
const MAX_URL_LEN: usize = 2_048;

/// A name operators give connections, destinations and sources: 1–64 of `a-z 0-9 - _ .`.
pub fn valid_name(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= MAX_NAME_LEN
        && text.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
        })
}

pub(crate) fn field_error(field: &str, problem: &str) -> FilterError {
    FilterError {
        code: filter::INVALID_FIELD,
        field: field.to_string(),
        problem: problem.to_string(),
    }
}

fn name_at(object: &Map<String, Value>, field: &str) -> Result<String, FilterError> {
    match object.get(field).and_then(Value::as_str) {
        Some(name) if valid_name(name) => Ok(name.to_string()),
        _ => Err(field_error(
            field,
            "must be 1-64 characters of a-z, 0-9, '-', '_', '.'",
        )),
    }
}

/// `<provider>-to-<destination>`, the name of a connection saved without one; refused (asking
/// for an explicit name) when it is not a valid name, i.e. longer than 64 characters.
fn default_name(provider: Provider, target: &Target) -> Result<String, FilterError> {
    let name = format!("{provider}-to-{}", target.name());
    match valid_name(&name) {
        true => Ok(name),
        false => Err(field_error(
            "name",
            &format!(
                "is required: the default name {provider}-to-<destination> would be longer \
                 than {MAX_NAME_LEN} characters"
            ),
        )),
    }
}

fn optional_u32(
    object: &Map<String, Value>,
    field: &str,
    range: std::ops::RangeInclusive<u32>,
) -> Result<Option<u32>, FilterError> {
    match object.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => value
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .filter(|n| range.contains(n))
            .map(Some)
            .ok_or_else(|| {
                let (lo, hi) = (range.start(), range.end());
                field_error(field, &format!("must be a whole number from {lo} to {hi}"))
            }),
    }
}

fn object_of(value: &Value) -> Result<&Map<String, Value>, FilterError> {
    value
        .as_object()
        .ok_or_else(|| field_error("body", "must be a JSON object"))
}

/// Where an event comes from: a provider, optionally one of its sources (`stripe:eu`: a named
/// source of `/webhooks/{provider}/{source}`; `stripe:default`: the plain path), and optionally
/// an account (Stripe account, Shopify shop, HubSpot portal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub provider: Provider,
    /// `None`: any source; `Some("default")`: `/webhooks/{provider}` only.
    pub name: Option<String>,
    pub account: Option<String>,
}

impl Source {
    fn selector(&self) -> SourceSelector {
        SourceSelector {
            provider: self.provider,
            source: self.name.clone(),
        }
    }

    /// `stripe` or `stripe:eu`, as operators write it.
    pub fn label(&self) -> String {
        match &self.name {
            Some(name) => format!("{}:{name}", self.provider),
            None => self.provider.slug().to_string(),
        }
    }
}

/// Where a connection sends what it takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// An `http` destination, by name.
    Http(String),
    /// A built-in step (`hubspot.upsert_contact`, `slack.notify`, ...).
    Step(StepKind),
}

impl Target {
    /// A step kind's name is a built-in step; any other valid name is an `http` destination.
    pub fn parse(text: &str) -> Option<Target> {
        match StepKind::from_name(text) {
            Some(kind) => Some(Target::Step(kind)),
            None if valid_name(text) => Some(Target::Http(text.to_string())),
            None => None,
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Target::Http(name) => name,
            Target::Step(kind) => kind.name(),
        }
    }
}

/// A source + filter + destination, with whether it is in force.
#[derive(Debug, Clone, PartialEq)]
pub struct Connection {
    pub name: String,
    pub source: Source,
    pub filter: Filter,
    pub target: Target,
    pub enabled: bool,
    /// How its deliveries to an `http` destination are reshaped; `None`: the payload verbatim.
    pub transform: Option<Transform>,
}

impl Connection {
    /// From the admin API's JSON: `{"name"?, "source": "stripe", "account"?, "types"?,
    /// "conditions"?, "destination": "orders-svc" | "slack.notify", "enabled"?, "transform"?}`.
    /// Without a name the connection is named `<provider>-to-<destination>`, which must then be a
    /// valid name like any other (else `name` is asked for). A transform is only
    /// for an `http` destination (a built-in step builds its own request).
    pub fn from_json(value: &Value) -> Result<Connection, FilterError> {
        let object = object_of(value)?;
        let selector = object
            .get("source")
            .and_then(Value::as_str)
            .and_then(SourceSelector::parse)
            .ok_or_else(|| {
                field_error(
                    "source",
                    "must be stripe, sendgrid, hubspot or shopify, optionally :<source name>",
                )
            })?;
        let provider = selector.provider;
        let account = match object.get("account") {
            None | Some(Value::Null) => None,
            Some(Value::String(a)) if !a.trim().is_empty() && a.len() <= 255 => Some(a.clone()),
            Some(_) => return Err(field_error("account", "must be a non-blank string")),
        };
        let target = object
            .get("destination")
            .and_then(Value::as_str)
            .and_then(Target::parse)
            .ok_or_else(|| {
                field_error(
                    "destination",
                    "must name an http destination or a built-in step",
                )
            })?;
        let filter = Filter::from_json(object.get("types"), object.get("conditions"))?;
        let name = match object.get("name") {
            None | Some(Value::Null) => default_name(provider, &target)?,
            Some(_) => name_at(object, "name")?,
        };
        let enabled = match object.get("enabled") {
            None | Some(Value::Null) => true,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(field_error("enabled", "must be true or false")),
        };
        let transform = Transform::from_json(object.get("transform"))?;
        if transform.is_some() && matches!(target, Target::Step(_)) {
            return Err(transform::transform_error(
                "transform",
                "applies only to a connection to an http destination",
            ));
        }
        Ok(Connection {
            name,
            source: Source {
                provider,
                name: selector.source,
                account,
            },
            filter,
            target,
            enabled,
            transform,
        })
    }

    /// The connection as the admin API shows and D1 stores it (the same JSON `from_json` reads).
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "name": self.name,
            "source": self.source.label(),
            "account": self.source.account,
            "types": self.filter.types.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
            "conditions": self.filter.conditions.iter().map(Condition::to_json).collect::<Vec<_>>(),
            "destination": self.target.name(),
            "enabled": self.enabled,
            "transform": self.transform.as_ref().map(Transform::to_json),
        })
    }

    /// True when this connection takes `event` (its provider, source, account and type) whose
    /// payload is `payload`. A connection that is switched off takes nothing.
    pub fn takes(&self, event: &EventFacts<'_>, payload: &Value) -> bool {
        self.enabled && self.would_take(event, payload)
    }

    /// True when this connection's source, account and filter take `event`, switched on or not.
    pub fn would_take(&self, event: &EventFacts<'_>, payload: &Value) -> bool {
        self.source.selector().matches(event.provider, event.source)
            && self
                .source
                .account
                .as_deref()
                .is_none_or(|wanted| Some(wanted) == event.account)
            && self.filter.matches(event.event_type, payload)
    }
}

/// An `http` destination: where and how deliveries are made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpDestination {
    pub name: String,
    pub url: String,
    /// Signing keys, the newest first; each delivery carries one signature per key.
    pub keys: Vec<SigningKey>,
    pub timeout_ms: u32,
    /// `None`: the global `MAX_ATTEMPTS`.
    pub max_attempts: Option<u32>,
    /// Requests per second at most; `None`: unlimited.
    pub rate_per_sec: Option<u32>,
    pub paused: bool,
}

/// Check an `http(s)` URL without a URL library: scheme, a host, no spaces or credentials.
pub fn valid_http_url(url: &str) -> bool {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    let Some(rest) = rest else { return false };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    url.len() <= MAX_URL_LEN
        && !authority.is_empty()
        && !authority.contains('@')
        && !authority.starts_with(':')
        && !url.chars().any(|c| c.is_whitespace() || c.is_control())
}

impl HttpDestination {
    /// From the admin API's JSON: `{"name", "type": "http", "url", "secret": "whsec_…" or
    /// "secrets": [newest, older…], "timeout_ms"?, "max_attempts"?, "rate_per_sec"?, "paused"?}`.
    pub fn from_json(value: &Value) -> Result<HttpDestination, FilterError> {
        let object = object_of(value)?;
        let name = name_at(object, "name")?;
        if StepKind::from_name(&name).is_some() {
            return Err(field_error("name", "is the name of a built-in step"));
        }
        if Destination::ALL.iter().any(|d| d.name() == name) {
            return Err(field_error("name", "is the name of a built-in destination"));
        }
        if object.get("type").and_then(Value::as_str) != Some("http") {
            return Err(field_error("type", "must be \"http\""));
        }
        let url = object
            .get("url")
            .and_then(Value::as_str)
            .filter(|u| valid_http_url(u))
            .ok_or_else(|| field_error("url", "must be an http:// or https:// URL with a host"))?
            .to_string();
        Ok(HttpDestination {
            name,
            url,
            keys: signing_keys(object)?,
            timeout_ms: optional_u32(object, "timeout_ms", 100..=MAX_TIMEOUT_MS)?
                .unwrap_or(DEFAULT_TIMEOUT_MS),
            max_attempts: optional_u32(object, "max_attempts", 1..=MAX_DESTINATION_ATTEMPTS)?,
            rate_per_sec: optional_u32(object, "rate_per_sec", 1..=10_000)?,
            paused: object
                .get("paused")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        })
    }
}

fn signing_keys(object: &Map<String, Value>) -> Result<Vec<SigningKey>, FilterError> {
    let (field, secrets): (&str, Vec<&Value>) = match (object.get("secret"), object.get("secrets"))
    {
        (Some(one), None) => ("secret", vec![one]),
        (None, Some(Value::Array(many))) if !many.is_empty() && many.len() <= 5 => {
            ("secrets", many.iter().collect())
        }
        (None, Some(_)) => return Err(field_error("secrets", "must be an array of 1-5 secrets")),
        _ => {
            return Err(field_error(
                "secret",
                "is required: a whsec_ secret (or `secrets`, newest first)",
            ))
        }
    };
    secrets
        .iter()
        .map(|value| {
            let text = value
                .as_str()
                .ok_or_else(|| field_error(field, "must be a string"))?;
            SigningKey::from_secret(text).map_err(|e| {
                field_error(
                    field,
                    &format!("is not a whsec_ secret of 24-64 bytes ({})", e.code()),
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    /// An event of `provider` on `source` (None: the plain path) from `account`.
    fn event<'a>(
        provider: Provider,
        source: Option<&'a str>,
        account: Option<&'a str>,
        event_type: &'a str,
    ) -> EventFacts<'a> {
        EventFacts {
            provider,
            source,
            account,
            event_type,
            payload: "{}",
        }
    }

    fn takes(connection: &Connection, facts: EventFacts<'_>) -> bool {
        connection.takes(&facts, &json!({}))
    }

    #[test]
    fn the_contract_example_connection_parses() {
        let connection = Connection::from_json(&json!({
            "source": "stripe", "types": ["checkout.session.completed"], "destination": "orders-svc"
        }))
        .unwrap();
        assert_eq!(connection.name, "stripe-to-orders-svc");
        assert_eq!(connection.target, Target::Http("orders-svc".into()));
        let checkout = "checkout.session.completed";
        assert!(takes(
            &connection,
            event(Provider::Stripe, None, None, checkout)
        ));
        assert!(
            takes(
                &connection,
                event(Provider::Stripe, Some("eu"), None, checkout)
            ),
            "any source"
        );
        assert!(!takes(
            &connection,
            event(Provider::Stripe, None, None, "invoice.paid")
        ));
        assert!(!takes(
            &connection,
            event(Provider::Shopify, None, None, checkout)
        ));
    }

    #[test]
    fn a_source_selector_takes_only_its_source() {
        let eu =
            Connection::from_json(&json!({"source": "stripe:eu", "destination": "svc"})).unwrap();
        let plain =
            Connection::from_json(&json!({"source": "stripe:default", "destination": "svc"}))
                .unwrap();
        assert_eq!(eu.name, "stripe-to-svc");
        assert_eq!(eu.to_json()["source"], "stripe:eu");
        let on = |source| event(Provider::Stripe, source, None, "invoice.paid");
        assert!(takes(&eu, on(Some("eu"))));
        assert!(!takes(&eu, on(Some("us"))));
        assert!(!takes(&eu, on(None)));
        assert!(takes(&plain, on(None)));
        assert!(!takes(&plain, on(Some("eu"))));
        for bad in ["stripe:", "stripe:EU", "paypal:eu"] {
            let body = json!({"source": bad, "destination": "svc"});
            assert_eq!(
                Connection::from_json(&body).unwrap_err().field,
                "source",
                "{bad}"
            );
        }
    }

    #[test]
    fn a_connection_reads_back_from_its_json() {
        for source in ["stripe", "stripe:eu"] {
            let connection = Connection::from_json(&json!({
                "name": "live", "source": source, "account": "acct_1", "types": ["invoice.*"],
                "conditions": [{"not": {"path": "/data/object/livemode", "equals": false}}],
                "destination": "orders-svc", "enabled": false
            }))
            .unwrap();
            assert_eq!(
                Connection::from_json(&connection.to_json()).unwrap(),
                connection
            );
        }
    }

    #[test]
    fn built_in_steps_accounts_and_switching_off() {
        let mut connection = Connection::from_json(&json!({
            "name": "eu-shop-orders", "source": "shopify", "account": "eu.myshopify.com",
            "types": ["orders/*"], "destination": "slack.notify"
        }))
        .unwrap();
        assert_eq!(connection.target, Target::Step(StepKind::SlackNotify));
        let shop = Some("eu.myshopify.com");
        let order = |account| event(Provider::Shopify, None, account, "orders/create");
        assert!(takes(&connection, order(shop)));
        assert!(!takes(&connection, order(Some("us.myshopify.com"))));
        connection.enabled = false;
        assert!(!takes(&connection, order(shop)));
    }

    #[test]
    fn invalid_connections_name_the_field() {
        let cases = [
            (json!([]), "body"),
            (json!({"source": "paypal", "destination": "x"}), "source"),
            (json!({"source": "stripe"}), "destination"),
            (
                json!({"source": "stripe", "destination": "Bad Name"}),
                "destination",
            ),
            (
                json!({"source": "stripe", "destination": "x", "account": ""}),
                "account",
            ),
            (
                json!({"source": "stripe", "destination": "x", "name": "UPPER"}),
                "name",
            ),
            (
                json!({"source": "stripe", "destination": "x", "enabled": "yes"}),
                "enabled",
            ),
            (
                json!({"source": "stripe", "destination": "x", "types": [1]}),
                "types[0]",
            ),
        ];
        for (body, field) in cases {
            assert_eq!(
                Connection::from_json(&body).unwrap_err().field,
                field,
                "{body}"
            );
        }
    }

    #[test]
    fn a_default_name_over_64_characters_asks_for_a_name() {
        // `stripe-to-` (10) + a destination of 54 characters is 64: the default is kept.
        let fits = json!({"source": "stripe", "destination": "d".repeat(54)});
        let connection = Connection::from_json(&fits).unwrap();
        assert_eq!(connection.name.len(), 64);
        assert_eq!(
            Connection::from_json(&connection.to_json()).unwrap(),
            connection
        );
        for (source, destination) in [("stripe", 55), ("sendgrid:eu", 53), ("hubspot", 64)] {
            let body = json!({"source": source, "destination": "d".repeat(destination)});
            let error = Connection::from_json(&body).unwrap_err();
            assert_eq!(
                (error.code, error.field.as_str()),
                (filter::INVALID_FIELD, "name"),
                "{body}"
            );
            let named =
                json!({"name": "long", "source": source, "destination": "d".repeat(destination)});
            assert_eq!(Connection::from_json(&named).unwrap().name, "long");
        }
    }

    #[test]
    fn the_contract_example_destination_parses() {
        let destination = HttpDestination::from_json(&json!({
            "name": "orders-svc", "type": "http", "url": "https://orders.example.com/hooks", "secret": SECRET
        }))
        .unwrap();
        assert_eq!(destination.url, "https://orders.example.com/hooks");
        assert_eq!(
            destination.keys,
            vec![SigningKey::from_secret(SECRET).unwrap()]
        );
        assert_eq!(destination.timeout_ms, DEFAULT_TIMEOUT_MS);
        assert_eq!(
            (
                destination.max_attempts,
                destination.rate_per_sec,
                destination.paused
            ),
            (None, None, false)
        );
    }

    #[test]
    fn invalid_destinations_name_the_field() {
        let base =
            json!({"name": "svc", "type": "http", "url": "https://a.example", "secret": SECRET});
        let with = |key: &str, value: Value| {
            let mut body = base.clone();
            body[key] = value;
            HttpDestination::from_json(&body).unwrap_err().field
        };
        assert_eq!(with("name", json!("slack.notify")), "name");
        assert_eq!(with("name", json!("stripe")), "name");
        assert_eq!(with("type", json!("grpc")), "type");
        for url in [
            "ftp://a",
            "https://",
            "https://user:pw@a.example",
            "https://a b",
            "a.example",
        ] {
            assert_eq!(with("url", json!(url)), "url", "{url}");
        }
        assert_eq!(with("secret", json!("whsec_short")), "secret");
        assert_eq!(with("timeout_ms", json!(60_000)), "timeout_ms");
        assert_eq!(with("max_attempts", json!(0)), "max_attempts");
        assert_eq!(with("rate_per_sec", json!(-1)), "rate_per_sec");
        let mut no_secret = base.clone();
        no_secret.as_object_mut().unwrap().remove("secret");
        assert_eq!(
            HttpDestination::from_json(&no_secret).unwrap_err().field,
            "secret"
        );
    }

    #[test]
    fn rotation_keeps_several_secrets_newest_first() {
        let newer = SigningKey::encode_secret(&[9u8; 32]);
        let destination = HttpDestination::from_json(&json!({
            "name": "svc", "type": "http", "url": "http://127.0.0.1:9/x", "secrets": [newer, SECRET]
        }))
        .unwrap();
        assert_eq!(destination.keys.len(), 2);
        assert_eq!(
            destination.keys[1],
            SigningKey::from_secret(SECRET).unwrap()
        );
    }
}
