//! The admin preview of a connection's delivery (`POST /admin/api/connections/{name}/preview`):
//! for a stored event, the body and headers the connection's next delivery would send, with
//! its saved transform or an unsaved one from the request (so an operator can try one before
//! saving it). Nothing is sent or written. The signature pair (`webhook-timestamp`,
//! `webhook-signature`) is left out: it is made when the request is sent, over exactly this
//! body, and a viewer has no use for a valid signature.

use serde_json::{json, Map, Value};

use super::{Transform, Transformed};
use crate::connections::delivery::{unsigned_delivery, DeliveredEvent};
use crate::connections::plan::PlannedStep;
use crate::connections::{field_error, Connection, FilterError, Target};

/// What a preview asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct PreviewRequest {
    pub event_id: String,
    /// `Some`: an unsaved transform (`Some(None)`: none at all) instead of the saved one.
    pub transform: Option<Option<Transform>>,
}

impl PreviewRequest {
    /// From `{"event_id": "...", "transform"?: {...} | null}`.
    pub fn from_json(value: &Value) -> Result<PreviewRequest, FilterError> {
        let object = value
            .as_object()
            .ok_or_else(|| field_error("body", "must be a JSON object"))?;
        let event_id = object
            .get("event_id")
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty())
            .ok_or_else(|| field_error("event_id", "must name a stored event"))?;
        if let Some(extra) = object
            .keys()
            .find(|k| !matches!(k.as_str(), "event_id" | "transform"))
        {
            return Err(field_error(
                extra,
                "is not a preview field (event_id, transform)",
            ));
        }
        let transform = match object.contains_key("transform") {
            true => Some(Transform::from_json(object.get("transform"))?),
            false => None,
        };
        Ok(PreviewRequest {
            event_id: event_id.to_string(),
            transform,
        })
    }
}

/// The preview of `connection`'s delivery of `event` (see the module docs).
pub fn preview(
    connection: &Connection,
    request: &PreviewRequest,
    event: &DeliveredEvent<'_>,
) -> Result<Value, FilterError> {
    let Target::Http(destination) = &connection.target else {
        return Err(field_error(
            "destination",
            "a preview shows a delivery to an http destination; this connection runs a built-in step",
        ));
    };
    let transform = match &request.transform {
        Some(unsaved) => unsaved.as_ref(),
        None => connection.transform.as_ref(),
    };
    let Transformed { body, headers } = unsigned_delivery(event, transform)
        .map_err(|failed| field_error("event_id", failed.code()))?;
    let step = PlannedStep::Http(destination.clone()).name();
    let mut shown = Map::new();
    shown.insert(
        "webhook-id".into(),
        json!(format!("{}:{step}", request.event_id)),
    );
    for (name, value) in headers {
        shown.insert(name, Value::String(value));
    }
    Ok(json!({
        "connection": connection.name,
        "destination": destination,
        "event_id": request.event_id,
        "unsaved": request.transform.is_some(),
        "transform": transform.map(Transform::to_json),
        "method": "POST",
        "headers": shown,
        "body": body,
        "signed_when_sent": ["webhook-timestamp", "webhook-signature"],
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connections::delivery::{signed, step_delivery};
    use crate::connections::transform::DestinationConnections;
    use crate::connections::transform::EventFields;
    use crate::connections::HttpDestination;
    use crate::standard_webhooks::{verify, SigningKey};

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const PAYLOAD: &str = r#"{"id":"evt_1","type":"invoice.paid","data":{"object":{"id":"in_1","email":"a@b.example"}}}"#;

    fn event() -> DeliveredEvent<'static> {
        DeliveredEvent {
            fields: EventFields {
                id: "01JEVENT",
                event_type: "invoice.paid",
                provider: "stripe",
                account: None,
            },
            payload: PAYLOAD,
        }
    }

    fn connection(transform: Value) -> Connection {
        Connection::from_json(&json!({
            "name": "feed", "source": "stripe", "destination": "svc", "transform": transform
        }))
        .unwrap()
    }

    fn request(body: Value) -> PreviewRequest {
        PreviewRequest::from_json(&body).unwrap()
    }

    #[test]
    fn the_preview_is_what_the_step_signs_and_sends() {
        let feed = connection(json!({
            "ops": [{"op": "remove", "path": "/data/object/email"}],
            "headers": {"x-invoice": "{{/data/object/id}}"}
        }));
        let shown = preview(&feed, &request(json!({"event_id": "01JEVENT"})), &event()).unwrap();
        let list = DestinationConnections::all(vec![feed.clone()]);
        let unsigned = step_delivery(&event(), None, Some(&list)).unwrap();
        assert_eq!(shown["body"], json!(unsigned.body));
        assert_eq!(
            shown["body"],
            json!(r#"{"data":{"object":{"id":"in_1"}},"id":"evt_1","type":"invoice.paid"}"#)
        );
        for (name, value) in &unsigned.headers {
            assert_eq!(shown["headers"][name.as_str()], json!(value), "{name}");
        }
        assert_eq!(shown["headers"]["x-invoice"], "in_1");
        assert_eq!(shown["headers"]["webhook-id"], "01JEVENT:http:svc");
        assert_eq!(shown["unsaved"], false);

        let destination = HttpDestination::from_json(&json!({
            "name": "svc", "type": "http", "url": "https://svc.example/in", "secret": SECRET
        }))
        .unwrap();
        let spec = signed(&destination, "01JEVENT:http:svc", unsigned, 1_700_000_000);
        let header = |name: &str| {
            spec.headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
                .unwrap()
        };
        let checked = verify(
            &[SigningKey::from_secret(SECRET).unwrap()],
            "01JEVENT:http:svc",
            &header("webhook-timestamp"),
            &header("webhook-signature"),
            spec.body.as_bytes(),
            1_700_000_000,
            300,
        );
        assert!(checked.is_ok(), "the signature covers the transformed body");
        assert!(
            verify(
                &[SigningKey::from_secret(SECRET).unwrap()],
                "01JEVENT:http:svc",
                &header("webhook-timestamp"),
                &header("webhook-signature"),
                PAYLOAD.as_bytes(),
                1_700_000_000,
                300,
            )
            .is_err(),
            "and not the payload as it arrived"
        );
    }

    #[test]
    fn an_unsaved_transform_replaces_the_saved_one() {
        let feed = connection(json!({"headers": {"x-a": "saved"}}));
        let tried = request(
            json!({"event_id": "e", "transform": {"ops": [{"op": "select", "paths": ["/id"]}]}}),
        );
        let shown = preview(&feed, &tried, &event()).unwrap();
        assert_eq!(
            (shown["body"].as_str(), shown["unsaved"].as_bool()),
            (Some(r#"{"id":"evt_1"}"#), Some(true))
        );
        assert_eq!(shown["headers"].get("x-a"), None);
        let none = preview(
            &feed,
            &request(json!({"event_id": "e", "transform": null})),
            &event(),
        )
        .unwrap();
        assert_eq!(
            none["body"], PAYLOAD,
            "no transform: the stored bytes verbatim"
        );
    }

    #[test]
    fn bad_requests_name_the_field() {
        let field = |body: Value| PreviewRequest::from_json(&body).unwrap_err();
        assert_eq!(field(json!({})).field, "event_id");
        assert_eq!(field(json!({"event_id": "e", "extra": 1})).field, "extra");
        let bad =
            field(json!({"event_id": "e", "transform": {"ops": [{"op": "set", "path": "/a"}]}}));
        assert_eq!(
            (bad.code, bad.field.as_str()),
            ("invalid_transform", "transform.ops[0].value")
        );
        let builtin =
            Connection::from_json(&json!({"source": "stripe", "destination": "slack.notify"}))
                .unwrap();
        assert_eq!(
            preview(&builtin, &request(json!({"event_id": "e"})), &event())
                .unwrap_err()
                .field,
            "destination"
        );
        let not_json = DeliveredEvent {
            payload: "not json",
            ..event()
        };
        let feed = connection(json!({"headers": {"x-a": "b"}}));
        assert_eq!(
            preview(&feed, &request(json!({"event_id": "e"})), &not_json)
                .unwrap_err()
                .field,
            "event_id"
        );
    }

    #[test]
    fn a_step_whose_connection_is_gone_is_not_sent_verbatim() {
        let other = Connection::from_json(&json!({
            "name": "other", "source": "shopify", "destination": "svc", "transform": {"headers": {"x-a": "b"}}
        }))
        .unwrap();
        let only_other = DestinationConnections::all(vec![other]);
        assert_eq!(
            step_delivery(&event(), None, Some(&only_other)),
            Err(super::super::NO_CONNECTION)
        );
        assert_eq!(step_delivery(&event(), None, None).unwrap().body, PAYLOAD);
    }

    #[test]
    fn an_unreadable_connection_stops_only_the_steps_no_readable_connection_takes() {
        let feed = connection(json!({"ops": [{"op": "remove", "path": "/data"}]}));
        let other = Connection::from_json(&json!({
            "name": "other", "source": "shopify", "destination": "svc"
        }))
        .unwrap();
        let unreadable = vec!["broken (transform.ops[0])".to_string()];
        let with_feed = DestinationConnections {
            readable: vec![other.clone(), feed],
            unreadable: unreadable.clone(),
        };
        let sent = step_delivery(&event(), None, Some(&with_feed)).unwrap();
        assert_eq!(sent.body, r#"{"id":"evt_1","type":"invoice.paid"}"#);
        // The step's own connection may be the unreadable one: it ends as before.
        let without = DestinationConnections {
            readable: vec![other],
            unreadable,
        };
        assert_eq!(
            step_delivery(&event(), None, Some(&without)),
            Err(super::super::CONNECTION_INVALID)
        );
    }
}
