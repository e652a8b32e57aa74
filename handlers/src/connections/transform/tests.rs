use super::*;
use crate::connections::Target;
use crate::inbound::webhook::Provider;

const EVENT: EventFields<'static> = EventFields {
    id: "01J0EVENT",
    event_type: "invoice.paid",
    provider: "stripe",
    account: None,
};

const PAYLOAD: &str = r#"{"id":"evt_1","type":"invoice.paid","data":{"object":{"id":"in_1","amount":500,"customer":"cus_1"}}}"#;

fn transform(value: Value) -> Transform {
    Transform::from_json(Some(&value)).unwrap().unwrap()
}

fn error(value: Value) -> FilterError {
    Transform::from_json(Some(&value)).unwrap_err()
}

#[test]
fn operations_apply_in_order_each_to_what_the_last_left() {
    let ops = |order: [&Value; 2]| {
        transform(json!({"ops": order}))
            .apply(&EVENT, PAYLOAD)
            .unwrap()
            .body
    };
    let rename = json!({"op": "rename", "from": "/data/object/id", "to": "/invoice"});
    let select = json!({"op": "select", "paths": ["/invoice", "/type"]});
    assert_eq!(
        ops([&rename, &select]),
        r#"{"invoice":"in_1","type":"invoice.paid"}"#
    );
    assert_eq!(
        ops([&select, &rename]),
        r#"{"type":"invoice.paid"}"#,
        "selected before it existed"
    );
}

#[test]
fn the_documented_example_reshapes_body_and_headers() {
    let t = transform(json!({
        "ops": [
            {"op": "select", "paths": ["/id", "/type", "/data/object"]},
            {"op": "rename", "from": "/data/object", "to": "/invoice"},
            {"op": "remove", "path": "/invoice/customer"},
            {"op": "remove", "path": "/data"},
            {"op": "set", "path": "/source", "value": "edgehooks"}
        ],
        "headers": {"X-Tenant": "acme", "x-invoice": "{{/data/object/id}}", "x-event": "{{event.type}}:{{event.id}}"}
    }));
    let out = t.apply(&EVENT, PAYLOAD).unwrap();
    assert_eq!(
        out.body,
        r#"{"id":"evt_1","invoice":{"amount":500,"id":"in_1"},"source":"edgehooks","type":"invoice.paid"}"#
    );
    let headers: Vec<(&str, &str)> = out
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        headers,
        [
            ("x-event", "invoice.paid:01J0EVENT"),
            ("x-invoice", "in_1"),
            ("x-tenant", "acme")
        ],
        "headers read the payload as it arrived, before the operations"
    );
    assert_eq!(transform(t.to_json()), t, "it reads back from its JSON");
}

#[test]
fn an_empty_transform_is_none_and_a_payload_that_is_not_json_fails() {
    for empty in [json!(null), json!({}), json!({"ops": [], "headers": {}})] {
        assert_eq!(Transform::from_json(Some(&empty)).unwrap(), None, "{empty}");
    }
    assert_eq!(Transform::from_json(None).unwrap(), None);
    let t = transform(json!({"headers": {"x-a": "b"}}));
    assert_eq!(
        t.apply(&EVENT, "not json"),
        Err(TransformFailed::PayloadNotJson)
    );
}

#[test]
fn invalid_transforms_name_the_operation_or_header() {
    let too_many_ops: Vec<Value> = (0..=MAX_OPS)
        .map(|_| json!({"op": "remove", "path": "/a"}))
        .collect();
    let too_many_headers: Map<String, Value> = (0..=headers::MAX_HEADERS)
        .map(|i| (format!("x-{i}"), json!("v")))
        .collect();
    let cases = [
        (json!([]), "transform"),
        (json!({"op": "select"}), "transform.op"),
        (json!({"ops": {}}), "transform.ops"),
        (json!({"ops": too_many_ops}), "transform.ops"),
        (
            json!({"ops": [{"op": "remove", "path": "/a"}, {"op": "set", "path": "x", "value": 1}]}),
            "transform.ops[1].path",
        ),
        (json!({"headers": ["x-a"]}), "transform.headers"),
        (json!({"headers": too_many_headers}), "transform.headers"),
        (
            json!({"headers": {"X-A": "1", "x-a": "2"}}),
            "transform.headers.x-a",
        ),
        (
            json!({"headers": {"content-length": "1"}}),
            "transform.headers.content-length",
        ),
        (
            json!({"ops": [{"op": "set", "path": "/a", "value": "x".repeat(MAX_TRANSFORM_BYTES)}]}),
            "transform",
        ),
    ];
    for (value, field) in cases {
        let e = error(value.clone());
        assert_eq!(
            (e.code, e.field.as_str()),
            (INVALID_TRANSFORM, field),
            "{value}: {}",
            e.problem
        );
    }
}

#[test]
fn a_connection_carries_its_transform_only_to_an_http_destination() {
    let body = |destination: &str| json!({"source": "stripe", "destination": destination, "transform": {"headers": {"x-a": "b"}}});
    let http = Connection::from_json(&body("orders-svc")).unwrap();
    assert_eq!(
        http.transform,
        Some(transform(json!({"headers": {"x-a": "b"}})))
    );
    assert_eq!(Connection::from_json(&http.to_json()).unwrap(), http);
    let builtin = Connection::from_json(&body("slack.notify")).unwrap_err();
    assert_eq!(
        (builtin.code, builtin.field.as_str()),
        (INVALID_TRANSFORM, "transform")
    );
    let bad = Connection::from_json(
        &json!({"source": "stripe", "destination": "svc", "transform": {"ops": [1]}}),
    )
    .unwrap_err();
    assert_eq!(
        (bad.code, bad.field.as_str()),
        (INVALID_TRANSFORM, "transform.ops[0]")
    );
    assert_eq!(
        Connection::from_json(&json!({"source": "stripe", "destination": "svc"}))
            .unwrap()
            .to_json()["transform"],
        Value::Null
    );
}

fn connection(name: &str, types: &[&str], enabled: bool, marker: Option<&str>) -> Connection {
    let transform = marker.map(|m| json!({"headers": {"x-by": m}}));
    let connection = Connection::from_json(&json!({
        "name": name, "source": "stripe", "types": types, "destination": "svc", "enabled": enabled, "transform": transform
    }))
    .unwrap();
    assert_eq!(connection.target, Target::Http("svc".into()));
    connection
}

fn marker(resolved: Resolved<'_>) -> Option<String> {
    match resolved {
        Resolved::Transform(t) => t.headers.first().map(|h| h.template().to_string()),
        Resolved::Verbatim => Some("verbatim".into()),
        Resolved::NoConnection => None,
    }
}

#[test]
fn a_step_uses_the_transform_of_the_connection_that_takes_its_event_now() {
    let facts = |event_type| EventFacts {
        provider: Provider::Stripe,
        source: None,
        account: None,
        event_type,
        payload: "{}",
    };
    let paid = facts("invoice.paid");
    assert_eq!(
        marker(resolve(None, &paid)).as_deref(),
        Some("verbatim"),
        "no transformed connection"
    );
    let list = [
        connection("old-off", &["invoice.*"], false, Some("old-off")),
        connection("plain", &["invoice.voided"], true, None),
        connection("first", &["invoice.paid"], true, Some("first")),
        connection("second", &["invoice.*"], true, Some("second")),
    ];
    assert_eq!(
        marker(resolve(Some(&list), &paid)).as_deref(),
        Some("first"),
        "the first that takes it, as planned"
    );
    assert_eq!(
        marker(resolve(Some(&list), &facts("invoice.voided"))).as_deref(),
        Some("verbatim"),
        "a plain connection"
    );
    assert_eq!(
        marker(resolve(Some(&list[..1]), &paid)).as_deref(),
        Some("old-off"),
        "switched off since"
    );
    assert_eq!(
        marker(resolve(Some(&list), &facts("charge.failed"))),
        None,
        "nothing takes it now"
    );
}

/// An ops-only transform whose JSON as sent is exactly `bytes` long (a `set` constant is at
/// most 4096 bytes, so the padding is spread over five of them).
fn padded_ops(bytes: usize) -> Value {
    let with = |pad: usize| {
        let set =
            |i: usize, value: String| json!({"op": "set", "path": format!("/{i}"), "value": value});
        let mut ops: Vec<Value> = (0..4).map(|i| set(i, "x".repeat(4_000))).collect();
        ops.push(set(4, "x".repeat(pad)));
        json!({ "ops": ops })
    };
    let empty = with(0).to_string().len();
    with(bytes - empty)
}

#[test]
fn a_transform_near_the_limit_is_refused_at_first_parse_or_reads_back_as_stored() {
    let stored_len = |t: &Transform| t.to_json().to_string().len();
    for bytes in MAX_TRANSFORM_BYTES - 20..=MAX_TRANSFORM_BYTES + 1 {
        let sent = padded_ops(bytes);
        assert_eq!(sent.to_string().len(), bytes);
        match Transform::from_json(Some(&sent)) {
            Err(e) => assert_eq!(e.field, "transform", "{bytes}"),
            Ok(parsed) => {
                let parsed = parsed.unwrap();
                assert!(stored_len(&parsed) <= MAX_TRANSFORM_BYTES, "{bytes}");
                let again = Transform::from_json(Some(&parsed.to_json()));
                assert_eq!(again, Ok(Some(parsed)), "{bytes} does not read back");
            }
        }
    }
    // The limit is on the stored form (both members written): exactly the limit is kept.
    let headers_len = r#","headers":{}"#.len();
    let at_limit = transform(padded_ops(MAX_TRANSFORM_BYTES - headers_len));
    assert_eq!(stored_len(&at_limit), MAX_TRANSFORM_BYTES);
}
