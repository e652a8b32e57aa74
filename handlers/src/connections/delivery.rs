//! What a delivery to an `http` destination is: the provider's verified event JSON verbatim (the
//! stored payload bytes, or what the connection's transform makes of them: the signature covers
//! exactly the body sent), POSTed with Standard Webhooks headers (`webhook-id` = the step id, so
//! stable across retries; `webhook-timestamp`; one `v1,` signature per active secret) plus
//! `edgehooks-provider` and `edgehooks-event-type`; and the destination's own limits: its rate
//! (requests per second: the budget window), its timeout and its maximum attempts. Also the
//! operator-facing forms of a destination: the view that never shows a secret, and edits
//! (including a rotated secret) merged into the stored JSON before it is validated again.

use serde_json::{json, Map, Value};

use super::plan::EventFacts;
use super::transform::headers::header_safe;
use super::transform::{
    resolve, DestinationConnections, EventFields, Resolved, Transform, TransformFailed,
    Transformed, CONNECTION_INVALID, NO_CONNECTION,
};
use super::{field_error, FilterError, HttpDestination};
use crate::downstream::HttpRequestSpec;
use crate::inbound::webhook::Provider;
use crate::standard_webhooks::delivery_headers;
use crate::steps::limits::{Limits, PROBE_MARGIN_MS};
use crate::steps::retry::RetryPolicy;

/// Most secrets a destination signs with at once.
pub const MAX_SECRETS: usize = 5;

/// The signed POST of `payload` for step `step_id` to `destination`, at `now_secs`.
pub fn delivery_request(
    destination: &HttpDestination,
    step_id: &str,
    provider: &str,
    event_type: &str,
    payload: &str,
    now_secs: i64,
) -> HttpRequestSpec {
    let unsigned = Transformed {
        body: payload.to_string(),
        headers: event_headers(provider, event_type),
    };
    signed(destination, step_id, unsigned, now_secs)
}

/// The event a delivery carries.
#[derive(Debug, Clone, Copy)]
pub struct DeliveredEvent<'a> {
    pub fields: EventFields<'a>,
    /// The stored payload bytes.
    pub payload: &'a str,
}

/// A delivery before its signature: the body (the stored payload verbatim, or what `transform`
/// makes of it) and its headers: `content-type`, `edgehooks-provider`,
/// `edgehooks-event-type`, then the transform's. What the admin preview shows, and what
/// [`signed`] signs.
pub fn unsigned_delivery(
    event: &DeliveredEvent<'_>,
    transform: Option<&Transform>,
) -> Result<Transformed, TransformFailed> {
    let mut headers = event_headers(event.fields.provider, event.fields.event_type);
    let Some(transform) = transform else {
        return Ok(Transformed {
            body: event.payload.to_string(),
            headers,
        });
    };
    let transformed = transform.apply(&event.fields, event.payload)?;
    headers.extend(transformed.headers);
    Ok(Transformed {
        body: transformed.body,
        headers,
    })
}

/// The POST of `unsigned` for step `step_id` to `destination`, signed per Standard Webhooks
/// over exactly its body at `now_secs` (`webhook-id`, `webhook-timestamp`, `webhook-signature`
/// first).
pub fn signed(
    destination: &HttpDestination,
    step_id: &str,
    unsigned: Transformed,
    now_secs: i64,
) -> HttpRequestSpec {
    let mut headers: Vec<(String, String)> = delivery_headers(
        &destination.keys,
        step_id,
        now_secs,
        unsigned.body.as_bytes(),
    )
    .into_iter()
    .map(|(name, value)| (name.to_string(), value))
    .collect();
    headers.extend(unsigned.headers);
    HttpRequestSpec {
        method: "POST",
        url: destination.url.clone(),
        headers,
        body: unsigned.body,
    }
}

/// What a step of an `http` destination sends, before its signature: the payload as the
/// transform of the connection that takes the event now shapes it ([`resolve`]: `read` are the
/// destination's connections (`None`: not read, verbatim); `source` is the event's named
/// source). `Err` is the note the step ends `dead` with: no readable connection takes the
/// event any more ([`NO_CONNECTION`]; [`CONNECTION_INVALID`] when one of the destination's
/// stored connections no longer validates, as it may be the step's own), or the payload is not
/// JSON.
pub fn step_delivery(
    event: &DeliveredEvent<'_>,
    source: Option<&str>,
    read: Option<&DestinationConnections>,
) -> Result<Transformed, &'static str> {
    let connections = read.map(|r| r.readable.as_slice());
    let resolved = match (connections, Provider::from_slug(event.fields.provider)) {
        (None, _) => Resolved::Verbatim,
        (Some(_), None) => Resolved::NoConnection,
        (Some(_), Some(provider)) => {
            let facts = EventFacts {
                provider,
                source,
                account: event.fields.account,
                event_type: event.fields.event_type,
                payload: event.payload,
            };
            resolve(connections, &facts)
        }
    };
    let transform = match resolved {
        Resolved::Verbatim => None,
        Resolved::Transform(transform) => Some(transform),
        Resolved::NoConnection => match read.is_some_and(|r| !r.unreadable.is_empty()) {
            true => return Err(CONNECTION_INVALID),
            false => return Err(NO_CONNECTION),
        },
    };
    unsigned_delivery(event, transform).map_err(TransformFailed::code)
}

/// A delivery's own headers. The event type may be read from the payload (a registry source's
/// JSON Pointer): made a valid header value as a transform's headers are, or one line break in
/// a body would make the request unsendable for every destination.
fn event_headers(provider: &str, event_type: &str) -> Vec<(String, String)> {
    vec![
        ("content-type".into(), "application/json".into()),
        ("edgehooks-provider".into(), provider.to_string()),
        ("edgehooks-event-type".into(), header_safe(event_type)),
    ]
}

/// The destination's budget (`rate_per_sec` calls per second; unlimited without one) and
/// circuit (opens after 5 retryable failures in a row for 60 s), its probe lease outliving its
/// timeout.
pub fn destination_limits(destination: &HttpDestination) -> Limits {
    Limits {
        limit: destination.rate_per_sec.unwrap_or(u32::MAX),
        window_ms: 1_000,
        open_after: 5,
        cool_down_ms: 60_000,
        probe_lease_ms: i64::from(destination.timeout_ms) + PROBE_MARGIN_MS,
    }
}

/// The global retry policy with the destination's maximum attempts, when it has one.
pub fn destination_policy(policy: RetryPolicy, destination: &HttpDestination) -> RetryPolicy {
    RetryPolicy {
        max_attempts: destination.max_attempts.unwrap_or(policy.max_attempts),
        ..policy
    }
}

/// The destination as the admin API shows it: every setting, the number of secrets and their
/// fingerprints keyed by `secrets_key` (none without `SECRETS_KEY`), never a secret.
pub fn public_view(destination: &HttpDestination, secrets_key: Option<&[u8; 32]>) -> Value {
    let prints: Vec<String> = match secrets_key {
        Some(key) => destination
            .keys
            .iter()
            .map(|k| k.fingerprint(key))
            .collect(),
        None => Vec::new(),
    };
    json!({
        "name": destination.name,
        "type": "http",
        "url": destination.url,
        "secrets": destination.keys.len(),
        "secret_fingerprints": prints,
        "timeout_ms": destination.timeout_ms,
        "max_attempts": destination.max_attempts,
        "rate_per_sec": destination.rate_per_sec,
        "paused": destination.paused,
    })
}

/// The form stored in D1 (`secrets` newest first) of a validated create request.
pub fn stored_form(request: &Value) -> Value {
    let mut stored = request.as_object().cloned().unwrap_or_default();
    if let Some(secret) = stored.remove("secret") {
        stored.insert("secrets".into(), json!([secret]));
    }
    Value::Object(stored)
}

/// Apply an edit to a destination's stored form: `url`, `timeout_ms`, `max_attempts`,
/// `rate_per_sec`, `paused` replace theirs (null clears an optional one); `secret` or `secrets`
/// replace every secret; `add_secret` puts a new secret first while the old ones keep signing
/// (rotation); `drop_older_secrets: true` keeps only the newest. The name and type cannot
/// change. The result still has to pass [`HttpDestination::from_json`].
pub fn apply_edit(stored: &Value, edit: &Value) -> Result<Value, FilterError> {
    let edit = edit
        .as_object()
        .ok_or_else(|| field_error("body", "must be a JSON object"))?;
    let mut merged: Map<String, Value> = stored.as_object().cloned().unwrap_or_default();
    for (key, value) in edit {
        match key.as_str() {
            "name" | "type" if merged.get(key) != Some(value) => {
                return Err(field_error(key, "cannot be changed"));
            }
            "name" | "type" | "add_secret" | "drop_older_secrets" => {}
            "url" | "timeout_ms" | "max_attempts" | "rate_per_sec" | "paused" => {
                merged.insert(key.clone(), value.clone());
            }
            "secret" => {
                merged.insert("secrets".into(), json!([value]));
            }
            "secrets" => {
                merged.insert("secrets".into(), value.clone());
            }
            _ => return Err(field_error(key, "is not a destination setting")),
        }
    }
    let mut secrets: Vec<Value> = merged
        .get("secrets")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if let Some(new) = edit.get("add_secret") {
        if !new.is_string() {
            return Err(field_error("add_secret", "must be a whsec_ secret"));
        }
        if secrets.len() >= MAX_SECRETS {
            return Err(field_error(
                "add_secret",
                "a destination signs with at most 5 secrets: drop the older ones first",
            ));
        }
        secrets.insert(0, new.clone());
    }
    match edit.get("drop_older_secrets") {
        None | Some(Value::Bool(false)) => {}
        Some(Value::Bool(true)) => secrets.truncate(1),
        Some(_) => return Err(field_error("drop_older_secrets", "must be true or false")),
    }
    merged.insert("secrets".into(), Value::Array(secrets));
    let merged = Value::Object(merged);
    HttpDestination::from_json(&merged).map_err(|e| match e.field.as_str() {
        "secrets" if edit.contains_key("add_secret") => FilterError {
            field: "add_secret".into(),
            ..e
        },
        _ => e,
    })?;
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connections::transform::headers::MAX_VALUE_LEN;
    use crate::standard_webhooks::{verify, SigningKey};

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    fn stored() -> Value {
        stored_form(&json!({
            "name": "orders-svc", "type": "http", "url": "https://orders.example/hooks", "secret": SECRET
        }))
    }

    fn destination(value: &Value) -> HttpDestination {
        HttpDestination::from_json(value).unwrap()
    }

    #[test]
    fn an_event_type_read_from_a_payload_cannot_break_its_header() {
        let dest = destination(&stored());
        let header = |event_type: &str| {
            let spec = delivery_request(&dest, "s", "in", event_type, "{}", 1_700_000_000);
            let found = spec
                .headers
                .into_iter()
                .find(|(n, _)| n == "edgehooks-event-type");
            found.map(|(_, value)| value).unwrap_or_default()
        };
        let injected = header("x\r\nevil: 1");
        assert_eq!(injected, "x%0D%0Aevil: 1");
        assert!(injected.bytes().all(|b| (0x20..0x7f).contains(&b)));
        assert_eq!(header("a\0b"), "a%00b");
        assert_eq!(header(&"t".repeat(10_000)).len(), MAX_VALUE_LEN);
        assert_eq!(header("invoice.paid"), "invoice.paid");
    }

    #[test]
    fn a_delivery_is_the_payload_verbatim_signed_with_every_secret() {
        let newer = SigningKey::encode_secret(&[7u8; 32]);
        let rotated = apply_edit(&stored(), &json!({ "add_secret": newer })).unwrap();
        let dest = destination(&rotated);
        let payload = r#"{"id":"evt_1",  "type":"checkout.session.completed"}"#;
        let spec = delivery_request(
            &dest,
            "evt:http:orders-svc",
            "stripe",
            "checkout.session.completed",
            payload,
            1_700_000_000,
        );
        assert_eq!(
            (spec.method, spec.url.as_str(), spec.body.as_str()),
            ("POST", "https://orders.example/hooks", payload)
        );
        let header = |name: &str| {
            spec.headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(header("webhook-id"), Some("evt:http:orders-svc"));
        assert_eq!(header("webhook-timestamp"), Some("1700000000"));
        assert_eq!(header("edgehooks-provider"), Some("stripe"));
        assert_eq!(
            header("edgehooks-event-type"),
            Some("checkout.session.completed")
        );
        assert_eq!(header("content-type"), Some("application/json"));
        let signature = header("webhook-signature").unwrap();
        assert_eq!(signature.split(' ').count(), 2);
        for secret in [newer.as_str(), SECRET] {
            let key = SigningKey::from_secret(secret).unwrap();
            let checked = verify(
                &[key],
                "evt:http:orders-svc",
                "1700000000",
                signature,
                payload.as_bytes(),
                1_700_000_000,
                300,
            );
            assert!(checked.is_ok(), "{secret}");
        }
    }

    #[test]
    fn limits_and_policy_follow_the_destination() {
        let mut value = stored();
        value["rate_per_sec"] = json!(3);
        value["max_attempts"] = json!(2);
        value["timeout_ms"] = json!(500);
        let dest = destination(&value);
        let limits = destination_limits(&dest);
        assert_eq!((limits.limit, limits.window_ms), (3, 1_000));
        assert_eq!(limits.probe_lease_ms, 500 + PROBE_MARGIN_MS);
        assert_eq!(
            destination_policy(RetryPolicy::default(), &dest).max_attempts,
            2
        );
        let plain = destination(&stored());
        assert_eq!(destination_limits(&plain).limit, u32::MAX);
        assert_eq!(
            destination_policy(RetryPolicy::default(), &plain).max_attempts,
            10
        );
    }

    #[test]
    fn the_public_view_never_shows_a_secret() {
        let view = public_view(&destination(&stored()), Some(&KEY)).to_string();
        assert!(
            !view.contains(SECRET) && !view.contains(&SECRET[6..]),
            "{view}"
        );
        assert!(view.contains("\"secrets\":1"), "{view}");
    }

    /// A `SECRETS_KEY`.
    const KEY: [u8; 32] = [42; 32];

    #[test]
    fn the_public_view_shows_keyed_fingerprints_of_the_key_bytes_or_none() {
        use crate::sealed::fingerprint::fingerprint;
        use sha2::{Digest, Sha256};
        let key_bytes = |seed: u8| [seed; 32];
        let newer = SigningKey::encode_secret(&key_bytes(7));
        let older = SigningKey::encode_secret(&key_bytes(9));
        // The older one given without its `whsec_` prefix: the print is over the key's bytes.
        let request = json!({ "secrets": [newer, older.trim_start_matches("whsec_")] });
        let two = destination(&apply_edit(&stored(), &request).unwrap());
        let prints = |key: Option<&[u8; 32]>| public_view(&two, key)["secret_fingerprints"].clone();
        assert_eq!(
            prints(Some(&KEY)),
            json!([
                fingerprint(&KEY, &key_bytes(7)),
                fingerprint(&KEY, &key_bytes(9))
            ]),
            "newest first, keyed"
        );
        // Not the plain SHA-256 a guess could be checked against; another key, another print;
        // without a key, none (the count stays).
        let unkeyed = hex::encode(&Sha256::digest(key_bytes(9))[..6]);
        assert_ne!(prints(Some(&KEY))[1], json!(unkeyed));
        assert_ne!(prints(Some(&[8; 32])), prints(Some(&KEY)));
        assert_eq!(prints(None), json!([]));
        assert_eq!(public_view(&two, None)["secrets"], 2);
    }

    #[test]
    fn edits_rotate_drop_and_name_the_field() {
        let newer = SigningKey::encode_secret(&[7u8; 32]);
        let rotated = apply_edit(&stored(), &json!({ "add_secret": newer })).unwrap();
        assert_eq!(rotated["secrets"], json!([newer, SECRET]));
        let dropped = apply_edit(&rotated, &json!({ "drop_older_secrets": true })).unwrap();
        assert_eq!(dropped["secrets"], json!([newer]));
        let edited = apply_edit(
            &stored(),
            &json!({ "url": "http://127.0.0.1:9/x", "max_attempts": 3 }),
        )
        .unwrap();
        assert_eq!(destination(&edited).max_attempts, Some(3));
        let field = |edit: Value| apply_edit(&stored(), &edit).unwrap_err().field;
        assert_eq!(field(json!({ "name": "other" })), "name");
        assert_eq!(field(json!({ "url": "ftp://x" })), "url");
        assert_eq!(field(json!({ "add_secret": "whsec_short" })), "add_secret");
        assert_eq!(field(json!({ "colour": "red" })), "colour");
        assert_eq!(
            field(json!({ "drop_older_secrets": 1 })),
            "drop_older_secrets"
        );
        assert_eq!(field(json!([])), "body");
    }
}
