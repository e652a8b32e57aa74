//! SendGrid signed Event Webhook. Headers `X-Twilio-Email-Event-Webhook-Signature` (base64 of an
//! ASN.1 DER ECDSA signature) and `X-Twilio-Email-Event-Webhook-Timestamp` (decimal seconds); the
//! signed message is the timestamp header text followed by the raw body, no separator, ECDSA
//! P-256 with SHA-256. Keys are base64 SubjectPublicKeyInfo DER as SendGrid's dashboard shows
//! them. SendGrid does not normalise S, so high-S signatures are valid. The body is a JSON array
//! of events; each event's `sg_event_id` is its dedupe key and `timestamp` (seconds) its time. A
//! malformed element is rejected on its own and never costs the others.

use super::ecdsa_p256::{self, RawSignature, MAX_DER_SIGNATURE_BYTES};
use super::top_level_fields::{read_event, Field};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::by_name::ByName;
use crate::inbound::webhook::{
    rejected_element_key, split_json_array, Batch, Clock, InboundRequest, ParseError, ParsedEvent,
    RejectedElement, Verified, VerifyError,
};
use crate::settings::{secret_list, ConfigError};
use crate::time::parse_decimal;

pub const SIGNATURE_HEADER: &str = "X-Twilio-Email-Event-Webhook-Signature";
pub const TIMESTAMP_HEADER: &str = "X-Twilio-Email-Event-Webhook-Timestamp";

const BATCH_SHAPE: &str = "a JSON array of events";
const EVENT_SHAPE: &str = "each event to be a JSON object";

/// One configured SendGrid verification key: its SubjectPublicKeyInfo DER (what WebCrypto
/// imports) and, natively, the parsed `p256` point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    spki: Vec<u8>,
    #[cfg(not(target_arch = "wasm32"))]
    key: p256::ecdsa::VerifyingKey,
}

impl PublicKey {
    /// The key as SubjectPublicKeyInfo DER (an uncompressed P-256 point).
    pub fn spki_der(&self) -> &[u8] {
        &self.spki
    }

    /// Parse SubjectPublicKeyInfo DER; `None` unless it is a P-256 key (natively: a point on
    /// the curve too; in wasm, `crypto.subtle.importKey` checks that).
    pub fn from_spki_der(der: &[u8]) -> Option<PublicKey> {
        if !ecdsa_p256::is_p256_spki(der) {
            return None;
        }
        #[cfg(not(target_arch = "wasm32"))]
        {
            use p256::pkcs8::DecodePublicKey;
            let key = p256::ecdsa::VerifyingKey::from_public_key_der(der).ok()?;
            Some(PublicKey {
                spki: der.to_vec(),
                key,
            })
        }
        #[cfg(target_arch = "wasm32")]
        Some(PublicKey { spki: der.to_vec() })
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl From<p256::ecdsa::VerifyingKey> for PublicKey {
    fn from(key: p256::ecdsa::VerifyingKey) -> Self {
        let point: [u8; 65] = key
            .to_encoded_point(false)
            .as_bytes()
            .try_into()
            .unwrap_or([0; 65]);
        PublicKey {
            spki: ecdsa_p256::spki_from_uncompressed_point(&point),
            key,
        }
    }
}

/// Parse `SENDGRID_WEBHOOK_PUBLIC_KEYS`: comma-separated base64 SubjectPublicKeyInfo DER keys.
/// Unset or blank yields no keys (the provider is disabled). Errors name the entry's index,
/// never its value.
pub fn parse_public_keys(
    setting: &'static str,
    raw: Option<&str>,
) -> Result<Vec<PublicKey>, ConfigError> {
    secret_list(setting, raw)?
        .iter()
        .enumerate()
        .map(|(index, entry)| {
            let der = STANDARD.decode(entry).map_err(|_| ConfigError {
                setting,
                detail: format!("entry {index} is not valid base64"),
            })?;
            PublicKey::from_spki_der(&der).ok_or_else(|| ConfigError {
                setting,
                detail: format!(
                    "entry {index} is not a P-256 public key (base64 SubjectPublicKeyInfo DER)"
                ),
            })
        })
        .collect()
}

/// Decode the signature header: strict standard base64 of a DER `SEQUENCE { r, s }`, returned
/// as `r || s`. Raw `r || s` (IEEE P1363) in the header is not DER and is refused.
pub fn parse_signature(text: &str) -> Result<RawSignature, VerifyError> {
    if text.len() > MAX_DER_SIGNATURE_BYTES.div_ceil(3) * 4 {
        return Err(VerifyError::MalformedSignature);
    }
    let der = STANDARD
        .decode(text)
        .map_err(|_| VerifyError::MalformedSignature)?;
    ecdsa_p256::der_to_raw(&der).ok_or(VerifyError::MalformedSignature)
}

/// First value of a header, treating a blank one as absent.
fn non_blank_header<'a>(req: &InboundRequest<'a>, name: &str) -> Option<&'a str> {
    req.header(name).filter(|value| !value.trim().is_empty())
}

/// What to verify for one delivery: ECDSA P-256 / SHA-256 of `message` (the timestamp header
/// text followed by the raw body) with `signature`, against each configured key in turn. The
/// primitive runs outside the core (WebCrypto in the worker, `p256` natively); its answer goes
/// back through [`finish`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyPlan {
    pub message: Vec<u8>,
    pub signature: RawSignature,
    pub timestamp: i64,
}

/// Check the headers of a SendGrid delivery (in order: body, signature, timestamp) and say what
/// to verify.
pub fn plan(req: &InboundRequest) -> Result<VerifyPlan, VerifyError> {
    if req.body.is_empty() {
        return Err(VerifyError::EmptyBody);
    }
    let signature_text =
        non_blank_header(req, SIGNATURE_HEADER).ok_or(VerifyError::MissingSignature)?;
    let signature = parse_signature(signature_text)?;
    let timestamp_text =
        non_blank_header(req, TIMESTAMP_HEADER).ok_or(VerifyError::MissingTimestamp)?;
    let timestamp = parse_decimal(timestamp_text).ok_or(VerifyError::MalformedTimestamp)?;
    let mut message = Vec::with_capacity(timestamp_text.len() + req.body.len());
    message.extend_from_slice(timestamp_text.as_bytes());
    message.extend_from_slice(req.body);
    Ok(VerifyPlan {
        message,
        signature,
        timestamp,
    })
}

/// The verdict once the primitive has run: `key_index` is the first key the signature verified
/// with. The signature is checked before the timestamp's age, so `timestamp_out_of_tolerance` is
/// only reported for genuinely signed requests.
pub fn finish(
    plan: &VerifyPlan,
    key_index: Option<usize>,
    clock: Clock,
) -> Result<Verified, VerifyError> {
    let key_index = key_index.ok_or(VerifyError::SignatureMismatch)?;
    if !clock.within_tolerance(plan.timestamp) {
        return Err(VerifyError::TimestampOutOfTolerance);
    }
    Ok(Verified { key_index })
}

/// The index of the first key `plan`'s signature verifies with, by RustCrypto (native builds;
/// the worker's shell runs the same check through WebCrypto).
#[cfg(not(target_arch = "wasm32"))]
pub fn first_verifying_key(plan: &VerifyPlan, keys: &[PublicKey]) -> Option<usize> {
    use sha2::{Digest, Sha256};
    // Hash once (the body may be a megabyte), then try each key on the digest.
    let digest = Sha256::digest(&plan.message);
    keys.iter()
        .position(|key| ecdsa_p256::verify_native(&key.key, &plan.signature, &digest))
}

/// Verify a SendGrid delivery with RustCrypto (native builds; the worker runs the same plan
/// through WebCrypto) and report the index of the key that verified.
#[cfg(not(target_arch = "wasm32"))]
pub fn verify(
    req: &InboundRequest,
    keys: &[PublicKey],
    clock: Clock,
) -> Result<Verified, VerifyError> {
    let plan = plan(req)?;
    let key_index = first_verifying_key(&plan, keys);
    finish(&plan, key_index, clock)
}

/// The top-level fields of one batch element that `parse` reads.
const EVENT_FIELDS: &[&str] = &["sg_event_id", "event", "timestamp"];

/// Dedupe key, type and time of one batch element.
fn event_fields(element: &str) -> Result<(String, String, Option<i64>), ParseError> {
    let event = read_event(element, EVENT_FIELDS, EVENT_SHAPE)?;
    let non_empty = |field: &'static str| {
        event
            .get(field)
            .and_then(Field::non_empty_str)
            .ok_or(ParseError::MissingField(field))
    };
    let dedupe_key = non_empty("sg_event_id")?;
    let event_type = non_empty("event")?;
    let occurred_at_ms = event
        .get("timestamp")
        .and_then(Field::as_i64)
        .and_then(|s| s.checked_mul(1000));
    Ok((dedupe_key, event_type, occurred_at_ms))
}

/// Parse a verified SendGrid body: each well-formed element becomes an event, in order (a
/// `sg_event_id` repeated inside the batch keeps its first occurrence), each malformed one a
/// rejected element keyed by its index and a digest of its exact bytes (SendGrid retries the
/// same body). Only a body that is not a non-empty JSON array fails as a whole. Each payload is
/// the element's exact bytes.
pub fn parse_batch(req: &InboundRequest) -> Result<Batch, ParseError> {
    let elements = split_json_array(req.body, BATCH_SHAPE)?;
    let mut seen = ByName::new();
    let mut batch = Batch::default();
    for (index, element) in elements.into_iter().enumerate() {
        let (dedupe_key, event_type, occurred_at_ms) = match event_fields(element) {
            Ok(fields) => fields,
            Err(error) => {
                batch.rejected.push(RejectedElement {
                    index,
                    error,
                    dedupe_key: rejected_element_key(index, element.as_bytes()),
                    payload: element.to_string(),
                });
                continue;
            }
        };
        if seen.insert(dedupe_key.clone(), ()).is_some() {
            continue;
        }
        batch.events.push(ParsedEvent {
            dedupe_key,
            event_type,
            account: None,
            occurred_at_ms,
            payload: element.to_string(),
            content_key: None,
            source: None,
            version_key: None,
        });
    }
    Ok(batch)
}

/// All-or-nothing parse: the events when every element is well formed, else the first
/// element's error (ingest uses [`parse_batch`]).
pub fn parse(req: &InboundRequest) -> Result<Vec<ParsedEvent>, ParseError> {
    parse_batch(req)?.strict()
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::signature::hazmat::PrehashSigner;
    use p256::ecdsa::{Signature, SigningKey};
    use p256::elliptic_curve::scalar::IsHigh;
    use sha2::{Digest, Sha256};

    const BODY: &[u8] = br#"[{"email":"a@example.com","event":"bounce","sg_event_id":"ev-1","timestamp":1700000000}]"#;
    const NOW: i64 = 1_700_000_100;
    /// The DER prefix of a P-256 SubjectPublicKeyInfo holding an uncompressed point.
    const SPKI_PREFIX: [u8; 26] = [
        0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08,
        0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
    ];

    // The official Node SDK's own test vector (@sendgrid/eventwebhook 8.0.0); its S is high.
    const SDK_KEY: &str = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe62gw+2fNNRaINXvVpiglSI8eNEc6wEA3F+g==";
    const SDK_SIGNATURE: &str = "MEUCIGHQVtGj+Y3LkG9fLcxf3qfI10QysgDWmMOVmxG0u6ZUAiEAyBiXDWzM+uOe5W0JuG+luQAbPIqHh89M15TluLtEZtM=";
    const SDK_TIMESTAMP: &str = "1600112502";
    const SDK_BODY: &str = "[{\"email\":\"hello@world.com\",\"event\":\"dropped\",\"reason\":\"Bounced Address\",\"sg_event_id\":\"ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA\",\"sg_message_id\":\"LRzXl_NHStOGhQ4kofSm_A.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0\",\"smtp-id\":\"<LRzXl_NHStOGhQ4kofSm_A@ismtpd0039p1iad1.sendgrid.net>\",\"timestamp\":1600112492}]\r\n";

    fn signing_key(seed: u8) -> SigningKey {
        SigningKey::from_slice(&[seed; 32]).unwrap()
    }

    fn spki_base64(key: &SigningKey) -> String {
        let point = key.verifying_key().to_encoded_point(false);
        STANDARD.encode([&SPKI_PREFIX[..], point.as_bytes()].concat())
    }

    fn key(seed: u8) -> PublicKey {
        PublicKey::from(*signing_key(seed).verifying_key())
    }

    /// The low-S and high-S forms of the signature of `timestamp + body`.
    fn signatures(seed: u8, timestamp: &str, body: &[u8]) -> (Signature, Signature) {
        let digest = Sha256::new()
            .chain_update(timestamp)
            .chain_update(body)
            .finalize();
        let sig: Signature = signing_key(seed).sign_prehash(&digest).unwrap();
        let low = sig.normalize_s().unwrap_or(sig);
        let (r, s) = low.split_scalars();
        let high = Signature::from_scalars(r.to_bytes(), (-*s).to_bytes()).unwrap();
        (low, high)
    }

    fn header_for(seed: u8, t: &str, body: &[u8]) -> String {
        STANDARD.encode(signatures(seed, t, body).0.to_der().as_bytes())
    }

    fn check(
        sig: Option<&str>,
        ts: Option<&str>,
        body: &[u8],
        keys: &[PublicKey],
    ) -> Result<Verified, VerifyError> {
        let mut headers = Vec::new();
        if let Some(sig) = sig {
            headers.push((SIGNATURE_HEADER.to_string(), sig.to_string()));
        }
        if let Some(ts) = ts {
            headers.push((TIMESTAMP_HEADER.to_ascii_lowercase(), ts.to_string()));
        }
        let req = InboundRequest {
            method: "POST",
            url: "",
            headers: &headers,
            body,
        };
        verify(
            &req,
            keys,
            Clock {
                now_unix: NOW,
                tolerance_secs: 300,
            },
        )
    }

    #[test]
    fn accepts_valid_and_reports_key_index() {
        let t = NOW.to_string();
        let h = header_for(1, &t, BODY);
        assert_eq!(
            check(Some(&h), Some(&t), BODY, &[key(1)]),
            Ok(Verified { key_index: 0 })
        );
        assert_eq!(
            check(Some(&h), Some(&t), BODY, &[key(2), key(1)]),
            Ok(Verified { key_index: 1 })
        );
    }

    #[test]
    fn high_s_is_accepted_and_raw_r_s_is_not() {
        let t = NOW.to_string();
        let (low, high) = signatures(1, &t, BODY);
        assert!(bool::from(high.s().is_high()));
        for sig in [low, high] {
            let h = STANDARD.encode(sig.to_der().as_bytes());
            assert_eq!(
                check(Some(&h), Some(&t), BODY, &[key(1)]),
                Ok(Verified { key_index: 0 })
            );
            let raw = STANDARD.encode(sig.to_bytes());
            assert_eq!(
                check(Some(&raw), Some(&t), BODY, &[key(1)]),
                Err(VerifyError::MalformedSignature)
            );
        }
    }

    #[test]
    fn the_sdk_vector_verifies_with_its_high_s() {
        let keys = parse_public_keys("K", Some(SDK_KEY)).unwrap();
        let headers = vec![
            (SIGNATURE_HEADER.to_string(), SDK_SIGNATURE.to_string()),
            (TIMESTAMP_HEADER.to_string(), SDK_TIMESTAMP.to_string()),
        ];
        let der = STANDARD.decode(SDK_SIGNATURE).unwrap();
        assert!(bool::from(Signature::from_der(&der).unwrap().s().is_high()));
        let req = InboundRequest {
            method: "POST",
            url: "",
            headers: &headers,
            body: SDK_BODY.as_bytes(),
        };
        let clock = Clock {
            now_unix: 1_600_112_502,
            tolerance_secs: 300,
        };
        assert_eq!(verify(&req, &keys, clock), Ok(Verified { key_index: 0 }));
        let events = parse(&req).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].event_type, "dropped");
        assert_eq!(events[0].occurred_at_ms, Some(1_600_112_492_000));
    }

    #[test]
    fn rejections_have_precise_reasons() {
        let t = NOW.to_string();
        let h = header_for(1, &t, BODY);
        let k = [key(1)];
        let err = |e| Err::<Verified, _>(e);
        assert_eq!(
            check(Some(&h), Some(&t), b"", &k),
            err(VerifyError::EmptyBody)
        );
        assert_eq!(
            check(None, Some(&t), BODY, &k),
            err(VerifyError::MissingSignature)
        );
        assert_eq!(
            check(Some(" "), Some(&t), BODY, &k),
            err(VerifyError::MissingSignature)
        );
        assert_eq!(
            check(Some("garbage!"), Some(&t), BODY, &k),
            err(VerifyError::MalformedSignature)
        );
        assert_eq!(
            check(Some(&h[..h.len() - 1]), Some(&t), BODY, &k),
            err(VerifyError::MalformedSignature)
        );
        assert_eq!(
            check(Some(&h.repeat(2)), Some(&t), BODY, &k),
            err(VerifyError::MalformedSignature)
        );
        assert_eq!(
            check(Some(&h), None, BODY, &k),
            err(VerifyError::MissingTimestamp)
        );
        assert_eq!(
            check(Some(&h), Some(""), BODY, &k),
            err(VerifyError::MissingTimestamp)
        );
        let signed_abc = header_for(1, "abc", BODY);
        assert_eq!(
            check(Some(&signed_abc), Some("abc"), BODY, &k),
            err(VerifyError::MalformedTimestamp)
        );
        assert_eq!(
            check(Some(&h), Some(&t), BODY, &[key(2)]),
            err(VerifyError::SignatureMismatch)
        );
        assert_eq!(
            check(Some(&h), Some(&t), BODY, &[]),
            err(VerifyError::SignatureMismatch)
        );
        assert_eq!(
            check(Some(&h), Some(&t), b"[{}]", &k),
            err(VerifyError::SignatureMismatch)
        );
        let later = (NOW + 1).to_string();
        assert_eq!(
            check(Some(&h), Some(&later), BODY, &k),
            err(VerifyError::SignatureMismatch)
        );
    }

    #[test]
    fn tolerance_applies_both_ways_after_the_signature() {
        let k = [key(1)];
        for (t, expected) in [
            (NOW - 300, Ok(Verified { key_index: 0 })),
            (NOW + 300, Ok(Verified { key_index: 0 })),
            (NOW - 301, Err(VerifyError::TimestampOutOfTolerance)),
            (NOW + 301, Err(VerifyError::TimestampOutOfTolerance)),
            (NOW * 1000, Err(VerifyError::TimestampOutOfTolerance)),
        ] {
            let t = t.to_string();
            assert_eq!(
                check(Some(&header_for(1, &t, BODY)), Some(&t), BODY, &k),
                expected,
                "{t}"
            );
        }
        let old = (NOW - 3600).to_string();
        let wrong_key = header_for(2, &old, BODY);
        assert_eq!(
            check(Some(&wrong_key), Some(&old), BODY, &k),
            Err(VerifyError::SignatureMismatch)
        );
    }

    #[test]
    fn public_keys_parse_and_errors_name_the_index_only() {
        assert_eq!(parse_public_keys("K", None).unwrap(), vec![]);
        assert_eq!(parse_public_keys("K", Some("  ")).unwrap(), vec![]);
        let two = format!(
            " {} ,{}",
            spki_base64(&signing_key(1)),
            spki_base64(&signing_key(2))
        );
        assert_eq!(
            parse_public_keys("K", Some(&two)).unwrap(),
            vec![key(1), key(2)]
        );

        let good = spki_base64(&signing_key(1));
        let not_base64 = format!("{good},not*base64");
        let err = parse_public_keys("K", Some(&not_base64)).unwrap_err();
        assert_eq!(err.setting, "K");
        assert!(
            err.detail.contains("entry 1") && err.detail.contains("base64"),
            "{err}"
        );
        assert!(!err.to_string().contains("not*base64"));

        let truncated = STANDARD.encode(&STANDARD.decode(&good).unwrap()[..60]);
        let err = parse_public_keys("K", Some(&truncated)).unwrap_err();
        assert!(
            err.detail.contains("entry 0") && err.detail.contains("P-256"),
            "{err}"
        );
        assert!(!err.to_string().contains(&truncated));

        // The same point labelled secp256k1 (OID 1.3.132.0.10): refused on the curve OID.
        let mut secp256k1 = STANDARD.decode(&good).unwrap();
        secp256k1.splice(14..23, [0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a]);
        secp256k1[1] -= 3;
        secp256k1[3] -= 3;
        let err = parse_public_keys("K", Some(&STANDARD.encode(secp256k1))).unwrap_err();
        assert!(err.detail.contains("entry 0"), "{err}");

        assert!(parse_public_keys("K", Some(&format!("{good},,{good}"))).is_err());
    }

    fn parse_body(body: &[u8]) -> Result<Vec<ParsedEvent>, ParseError> {
        parse(&InboundRequest {
            method: "POST",
            url: "",
            headers: &[],
            body,
        })
    }

    #[test]
    fn parses_each_event_and_keeps_the_first_of_a_repeated_id() {
        let body = br#"[
            {"sg_event_id":"a","event":"delivered","timestamp":1700000000,"email":"x@example.com"},
            {"sg_event_id":"b","event":"open","timestamp":1700000001},
            {"sg_event_id":"a","event":"bounce","timestamp":1700000002},
            {"sg_event_id":"c","event":"click"}
        ]"#;
        let events = parse_body(body).unwrap();
        let summary: Vec<_> = events
            .iter()
            .map(|e| {
                (
                    e.dedupe_key.as_str(),
                    e.event_type.as_str(),
                    e.occurred_at_ms,
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("a", "delivered", Some(1_700_000_000_000)),
                ("b", "open", Some(1_700_000_001_000)),
                ("c", "click", None),
            ]
        );
        assert!(events.iter().all(|e| e.account.is_none()));
        assert_eq!(
            events[0].payload,
            r#"{"sg_event_id":"a","event":"delivered","timestamp":1700000000,"email":"x@example.com"}"#,
            "the stored payload is the element exactly as sent"
        );
    }

    #[test]
    fn parse_rejects_bad_shapes() {
        for (body, expected) in [
            (&b"not json"[..], ParseError::InvalidJson),
            (
                &b"[{\"sg_event_id\":\"a\",\"event\":\"open\"}"[..],
                ParseError::InvalidJson,
            ),
            (&b"\xff"[..], ParseError::InvalidJson),
            (
                &b"{\"sg_event_id\":\"a\",\"event\":\"open\"}"[..],
                ParseError::UnexpectedShape(BATCH_SHAPE),
            ),
            (&b"[]"[..], ParseError::EmptyBatch),
            (&b"[1]"[..], ParseError::UnexpectedShape(EVENT_SHAPE)),
            (
                &b"[{\"event\":\"open\"}]"[..],
                ParseError::MissingField("sg_event_id"),
            ),
            (
                &b"[{\"sg_event_id\":7,\"event\":\"open\"}]"[..],
                ParseError::MissingField("sg_event_id"),
            ),
            (
                &b"[{\"sg_event_id\":\"\",\"event\":\"open\"}]"[..],
                ParseError::MissingField("sg_event_id"),
            ),
            (
                &b"[{\"sg_event_id\":\"a\"}]"[..],
                ParseError::MissingField("event"),
            ),
            (
                &b"[{\"sg_event_id\":\"a\",\"event\":\"open\"},{\"sg_event_id\":\"b\"}]"[..],
                ParseError::MissingField("event"),
            ),
        ] {
            assert_eq!(
                parse_body(body),
                Err(expected),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn a_malformed_element_is_rejected_alone() {
        let body = br#"[{"sg_event_id":"a","event":"open"},{"event":"open"},{"sg_event_id":"b","event":"click"},"x"]"#;
        let req = InboundRequest {
            method: "POST",
            url: "",
            headers: &[],
            body,
        };
        let batch = parse_batch(&req).unwrap();
        let keys: Vec<&str> = batch.events.iter().map(|e| e.dedupe_key.as_str()).collect();
        assert_eq!(keys, ["a", "b"]);
        let rejected: Vec<(usize, &str, &str)> = batch
            .rejected
            .iter()
            .map(|r| (r.index, r.error.code(), r.payload.as_str()))
            .collect();
        assert_eq!(
            rejected,
            [
                (1, "missing_field", r#"{"event":"open"}"#),
                (3, "unexpected_shape", r#""x""#)
            ]
        );
        assert_eq!(
            batch.rejected[0].dedupe_key,
            crate::inbound::webhook::rejected_element_key(1, br#"{"event":"open"}"#)
        );
        // The same delivery again (SendGrid retries the same body): the same keys.
        assert_eq!(parse_batch(&req).unwrap(), batch);
    }
}
