//! Request builders for downstream APIs. Given a step, the event it belongs to and the
//! destination's base URL and token, produce the exact HTTP request to send. Pure: the shell
//! turns an [`HttpRequestSpec`] into a `fetch`.

pub mod hubspot;

use std::fmt;

use crate::routes::StepKind;
use crate::webhook::Provider;

/// A fully built downstream request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequestSpec {
    pub method: &'static str,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// Where and as whom a destination is called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestinationConfig {
    /// Origin (and optional path prefix) without a trailing slash.
    pub base_url: String,
    pub token: String,
}

/// The event a step was planned for.
#[derive(Debug, Clone, Copy)]
pub struct StepInput<'a> {
    /// Stable across retries and replays; sent as the idempotency key where the API takes one.
    pub step_id: &'a str,
    pub provider: Provider,
    pub event_type: &'a str,
    pub payload: &'a str,
}

/// Why a request could not be built. These are permanent: the step goes `dead` with the code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildError {
    /// The stored payload is not JSON (or was redacted).
    UnreadablePayload,
    /// The event lacks a field the step needs (e.g. no customer email).
    MissingField(&'static str),
    /// The route sent an event type this step does not understand.
    UnsupportedEvent,
}

impl BuildError {
    pub fn code(&self) -> String {
        match self {
            BuildError::UnreadablePayload => "unreadable_payload".into(),
            BuildError::MissingField(field) => format!("missing_field:{field}"),
            BuildError::UnsupportedEvent => "unsupported_event".into(),
        }
    }
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.code())
    }
}

/// Build the request for `kind`.
pub fn build(
    kind: StepKind,
    input: &StepInput,
    destination: &DestinationConfig,
) -> Result<HttpRequestSpec, BuildError> {
    let payload: serde_json::Value =
        serde_json::from_str(input.payload).map_err(|_| BuildError::UnreadablePayload)?;
    match kind {
        StepKind::HubSpotUpsertContact => hubspot::upsert_contact(input, &payload, destination),
    }
}

/// Join a base URL and an absolute path without doubling the slash.
pub(crate) fn join_url(base: &str, path: &str) -> String {
    format!("{}{}", base.trim_end_matches('/'), path)
}

pub(crate) fn bearer(token: &str) -> (String, String) {
    ("Authorization".into(), format!("Bearer {token}"))
}

pub(crate) fn json_content() -> (String, String) {
    ("Content-Type".into(), "application/json".into())
}
