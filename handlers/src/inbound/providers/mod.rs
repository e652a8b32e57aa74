//! Inbound providers: one module per provider ([`stripe`], [`sendgrid`], [`hubspot`], [`shopify`]),
//! each owning its header format, signed message, event shape and dedupe key, and the dispatch the
//! shell calls once per request: given a provider's configured keys, check the signature header,
//! verify the delivery and parse it into events ([`verify_and_parse`]); the worker splits that in
//! two ([`verify_or_plan`], then [`parse_verified`]) because SendGrid's ECDSA runs in WebCrypto,
//! outside the core ([`ecdsa_p256`] owns the byte formats); the shell maps the error to a response.
//! The dispatch lives here because it is the only code that must know every provider.
//! [`top_level_fields`] is the DOM-free reader of the few top-level JSON fields the parsers need.
//! [`shopify_version`] is the order version record Shopify's ingest writes and the reconciliation
//! (`crate::backfill::shopify`) reads.
//! The vocabulary the providers share with the rest of the crate (`Provider`, the inbound request
//! view, `ParsedEvent`, the error codes) stays in [`crate::inbound::webhook`]: routes, downstream
//! builders and the shell use it without caring how a delivery was verified.

pub mod ecdsa_p256;
pub mod hubspot;
pub mod sendgrid;
pub mod shopify;
pub mod shopify_version;
pub mod stripe;
pub mod top_level_fields;

use crate::inbound::webhook::{
    Batch, Clock, InboundRequest, ParseError, ParsedEvent, Provider, RejectedElement, Verified,
    VerifyError,
};

/// The verification material configured for one provider.
#[derive(Debug, Clone)]
pub enum ProviderKeys {
    Stripe(Vec<String>),
    SendGrid(Vec<sendgrid::PublicKey>),
    HubSpot(hubspot::Settings),
    Shopify(Vec<String>),
}

impl ProviderKeys {
    pub fn provider(&self) -> Provider {
        match self {
            ProviderKeys::Stripe(_) => Provider::Stripe,
            ProviderKeys::SendGrid(_) => Provider::SendGrid,
            ProviderKeys::HubSpot(_) => Provider::HubSpot,
            ProviderKeys::Shopify(_) => Provider::Shopify,
        }
    }

    /// No key configured: the provider is disabled and must never accept unverified input.
    pub fn is_empty(&self) -> bool {
        match self {
            ProviderKeys::Stripe(secrets) | ProviderKeys::Shopify(secrets) => secrets.is_empty(),
            ProviderKeys::SendGrid(keys) => keys.is_empty(),
            ProviderKeys::HubSpot(settings) => settings.secrets.is_empty(),
        }
    }
}

/// A verified, parsed delivery: its well-formed events and (batches only) its malformed
/// elements, each kept as its own rejected row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub key_index: usize,
    pub events: Vec<ParsedEvent>,
    pub rejected: Vec<RejectedElement>,
}

impl Accepted {
    /// The error to answer (400) when every element of the delivery was malformed; `None` when
    /// anything was well formed (the answer is then 200).
    pub fn all_rejected(&self) -> Option<&ParseError> {
        match self.events.is_empty() {
            true => self.rejected.first().map(|r| &r.error),
            false => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IngestError {
    Verify(VerifyError),
    /// The delivery verified (with the key at `key_index`) but its body is unusable.
    Parse {
        key_index: usize,
        error: ParseError,
    },
}

impl IngestError {
    pub fn code(&self) -> &'static str {
        match self {
            IngestError::Verify(e) => e.code(),
            IngestError::Parse { error, .. } => error.code(),
        }
    }
}

/// The headers that can carry `keys`' provider's signature (any one is enough): each provider
/// module names its own. HubSpot's legacy header counts only when legacy signatures are allowed.
pub fn signature_headers(keys: &ProviderKeys) -> &'static [&'static str] {
    match keys {
        ProviderKeys::Stripe(_) => &[stripe::SIGNATURE_HEADER],
        ProviderKeys::SendGrid(_) => &[sendgrid::SIGNATURE_HEADER],
        ProviderKeys::HubSpot(settings) if settings.allow_legacy => &[
            hubspot::SIGNATURE_V3_HEADER,
            hubspot::LEGACY_SIGNATURE_HEADER,
        ],
        ProviderKeys::HubSpot(_) => &[hubspot::SIGNATURE_V3_HEADER],
        ProviderKeys::Shopify(_) => &[shopify::HMAC_HEADER],
    }
}

/// The check that runs before the body is read: a delivery none of whose signature headers
/// holds a value can never verify, so it is refused (`missing_signature`) without reading what
/// may be a large or endless body.
pub fn require_signature_header(
    keys: &ProviderKeys,
    headers: &[(String, String)],
) -> Result<(), VerifyError> {
    let present = signature_headers(keys).iter().any(|name| {
        headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case(name) && !v.trim().is_empty())
    });
    if present {
        Ok(())
    } else {
        Err(VerifyError::MissingSignature)
    }
}

/// Where verification stands after the core's part: done (HMAC providers), or an ECDSA check
/// (SendGrid) the caller runs with its primitive and hands to [`sendgrid::finish`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    Done(Verified),
    Ecdsa(sendgrid::VerifyPlan),
}

/// The core's part of verification, with the provider's rules.
pub fn verify_or_plan(
    keys: &ProviderKeys,
    req: &InboundRequest,
    clock: Clock,
) -> Result<Verification, IngestError> {
    match keys {
        ProviderKeys::Stripe(secrets) => {
            stripe::verify(req, secrets, clock).map(Verification::Done)
        }
        ProviderKeys::SendGrid(_) => sendgrid::plan(req).map(Verification::Ecdsa),
        ProviderKeys::HubSpot(settings) => {
            hubspot::verify(req, settings, clock).map(Verification::Done)
        }
        ProviderKeys::Shopify(secrets) => {
            shopify::verify(req, secrets, clock).map(Verification::Done)
        }
    }
    .map_err(IngestError::Verify)
}

/// Parse a delivery that verified with the key at `key_index`. Parsing only ever sees verified
/// bytes.
pub fn parse_verified(
    keys: &ProviderKeys,
    req: &InboundRequest,
    key_index: usize,
) -> Result<Accepted, IngestError> {
    let single = |events| Batch {
        events,
        rejected: Vec::new(),
    };
    let Batch { events, rejected } = match keys {
        ProviderKeys::Stripe(_) => stripe::parse(req).map(single),
        ProviderKeys::SendGrid(_) => sendgrid::parse_batch(req),
        ProviderKeys::HubSpot(_) => hubspot::parse_batch(req),
        ProviderKeys::Shopify(_) => shopify::parse(req).map(single),
    }
    .map_err(|error| IngestError::Parse { key_index, error })?;
    Ok(Accepted {
        key_index,
        events,
        rejected,
    })
}

/// Verify with the provider's rules, then parse, with RustCrypto for SendGrid's ECDSA (native
/// builds and tests; the worker runs [`verify_or_plan`] and [`parse_verified`] around WebCrypto).
#[cfg(not(target_arch = "wasm32"))]
pub fn verify_and_parse(
    keys: &ProviderKeys,
    req: &InboundRequest,
    clock: Clock,
) -> Result<Accepted, IngestError> {
    let verified = match (verify_or_plan(keys, req, clock)?, keys) {
        (Verification::Done(verified), _) => verified,
        (Verification::Ecdsa(plan), ProviderKeys::SendGrid(public_keys)) => {
            let key_index = sendgrid::first_verifying_key(&plan, public_keys);
            sendgrid::finish(&plan, key_index, clock).map_err(IngestError::Verify)?
        }
        (Verification::Ecdsa(_), _) => {
            return Err(IngestError::Verify(VerifyError::SignatureMismatch))
        }
    };
    parse_verified(keys, req, verified.key_index)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn hubspot(allow_legacy: bool) -> ProviderKeys {
        ProviderKeys::HubSpot(hubspot::Settings {
            secrets: vec!["s".into()],
            allow_legacy,
            public_base_url: None,
        })
    }

    #[test]
    fn each_provider_needs_its_own_signature_header_with_a_value() {
        let stripe = ProviderKeys::Stripe(vec!["whsec".into()]);
        let shopify = ProviderKeys::Shopify(vec!["shpss".into()]);
        let sendgrid = ProviderKeys::SendGrid(Vec::new());
        let missing = Err(VerifyError::MissingSignature);
        assert_eq!(
            require_signature_header(&stripe, &headers(&[("stripe-signature", "t=1,v1=00")])),
            Ok(())
        );
        assert_eq!(require_signature_header(&stripe, &headers(&[])), missing);
        assert_eq!(
            require_signature_header(&stripe, &headers(&[("Stripe-Signature", "  ")])),
            missing
        );
        assert_eq!(
            require_signature_header(&shopify, &headers(&[("stripe-signature", "x")])),
            missing
        );
        assert_eq!(
            require_signature_header(&shopify, &headers(&[("x-shopify-hmac-sha256", "x")])),
            Ok(())
        );
        assert_eq!(
            require_signature_header(
                &sendgrid,
                &headers(&[("X-Twilio-Email-Event-Webhook-Signature", "x")])
            ),
            Ok(())
        );
    }

    #[test]
    fn hubspot_legacy_header_counts_only_when_legacy_is_allowed() {
        let legacy = headers(&[("X-HubSpot-Signature", "abc")]);
        assert_eq!(
            require_signature_header(&hubspot(false), &legacy),
            Err(VerifyError::MissingSignature)
        );
        assert_eq!(require_signature_header(&hubspot(true), &legacy), Ok(()));
        let v3 = headers(&[("x-hubspot-signature-v3", "abc")]);
        assert_eq!(require_signature_header(&hubspot(false), &v3), Ok(()));
    }
}
