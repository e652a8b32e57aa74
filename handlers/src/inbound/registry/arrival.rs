//! A delivery to a registry source, verified by its scheme and made into the one event the rest
//! of ingest stores: the dedupe key is the source's configured header or JSON Pointer, else the
//! scheme's own delivery id, else the SHA-256 of the body (`sha256:<hex>`: a resent body is a
//! duplicate); the event type is the configured one, else the scheme's, else `webhook`. Unless a
//! signed timestamp bounds a replay and the dedupe key is signed (the scheme's
//! [`ReplayGuard`](crate::inbound::schemes::replay::ReplayGuard)), the event also carries the
//! content key of what was signed, so the same signed content under a fresh id is a duplicate,
//! also after retention; a timed scheme keyed on signed content gets none. All keys are scoped
//! to the source like a named source's (`src:{name}:{key}`). A scheme's handshake (Slack's
//! `url_verification`, Zoom's `endpoint.url_validation`) is answered, not stored.

use sha2::{Digest, Sha256};

use super::{Locator, SourceSpec};
use crate::inbound::providers::{Accepted, IngestError};
use crate::inbound::schemes::inputs::{json_body, string_at};
use crate::inbound::schemes::replay::{content_key, scheme_key_source, KeySource};
use crate::inbound::schemes::{self, Challenge, Verdict};
use crate::inbound::sources::scope_event;
use crate::inbound::webhook::{InboundRequest, ParseError, ParsedEvent};

/// The event type of a delivery whose scheme and source name none.
pub const DEFAULT_EVENT_TYPE: &str = "webhook";

/// What a verified delivery to a registry source comes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arrival {
    /// A handshake: answer 200 with this body, store nothing.
    Challenge(Challenge),
    /// One event, scoped to the source.
    Event(Accepted),
}

/// Verify `request` with `spec`'s scheme and any of `secrets` at `now_unix`, then build its
/// event. A body that is not UTF-8 verifies but is `unexpected_shape` (kept as a rejected row).
pub fn accept(
    spec: &SourceSpec,
    secrets: &[String],
    request: &InboundRequest<'_>,
    now_unix: i64,
) -> Result<Arrival, IngestError> {
    let verdict =
        schemes::verify(&spec.scheme, secrets, request, now_unix).map_err(IngestError::Verify)?;
    if let Some(challenge) = verdict.challenge.clone() {
        return Ok(Arrival::Challenge(challenge));
    }
    let key_index = verdict.key_index;
    let payload = std::str::from_utf8(request.body)
        .map_err(|_| IngestError::Parse {
            key_index,
            error: ParseError::UnexpectedShape("a UTF-8 body"),
        })?
        .to_string();
    let mut event = event_of(spec, request, verdict, payload);
    scope_event(Some(&spec.name), &mut event);
    Ok(Arrival::Event(Accepted {
        key_index,
        events: vec![event],
        rejected: Vec::new(),
    }))
}

fn event_of(
    spec: &SourceSpec,
    request: &InboundRequest<'_>,
    verdict: Verdict,
    payload: String,
) -> ParsedEvent {
    let body = match (&spec.dedupe, &spec.event_type) {
        (Some(Locator::Pointer(_)), _) | (_, Some(Locator::Pointer(_))) => json_body(request),
        _ => None,
    };
    let located = |locator: &Option<Locator>| match locator {
        Some(Locator::Header(name)) => request
            .header(name)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string),
        Some(Locator::Pointer(pointer)) => string_at(body.as_ref(), pointer),
        None => None,
    };
    let (dedupe_key, key_source) =
        dedupe_key_of(spec, located(&spec.dedupe), verdict.dedupe_key, request);
    let content_key = spec
        .scheme
        .replay_guard()
        .needs_content_key(key_source)
        .then(|| content_key(&spec.scheme, &spec.name, request));
    let event_type = located(&spec.event_type)
        .or(verdict.event_type)
        .unwrap_or_else(|| DEFAULT_EVENT_TYPE.to_string());
    ParsedEvent {
        dedupe_key,
        event_type,
        account: None,
        occurred_at_ms: None,
        payload,
        content_key,
        source: None,
        version_key: None,
    }
}

/// The dedupe key and where it came from: the configured locator's value, else the scheme's
/// delivery id, else the body's digest.
fn dedupe_key_of(
    spec: &SourceSpec,
    located: Option<String>,
    scheme_key: Option<String>,
    request: &InboundRequest<'_>,
) -> (String, KeySource) {
    match (located, &spec.dedupe, scheme_key) {
        (Some(key), Some(Locator::Header(_)), _) => (key, KeySource::Header),
        (Some(key), _, _) => (key, KeySource::Pointer),
        (None, _, Some(key)) => (key, scheme_key_source(&spec.scheme)),
        (None, _, None) => (
            format!("sha256:{}", hex::encode(Sha256::digest(request.body))),
            KeySource::BodyDigest,
        ),
    }
}
