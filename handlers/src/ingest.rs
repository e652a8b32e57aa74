//! Ingest dispatch: given a provider's configured keys, verify a delivery and parse it into
//! events. The shell calls this once per request and maps the error to a response.

use crate::webhook::{
    Batch, Clock, InboundRequest, ParseError, ParsedEvent, Provider, RejectedElement, VerifyError,
};
use crate::{hubspot, sendgrid, shopify, stripe};

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

/// Verify with the provider's rules, then parse. Parsing only ever sees verified bytes.
pub fn verify_and_parse(
    keys: &ProviderKeys,
    req: &InboundRequest,
    clock: Clock,
) -> Result<Accepted, IngestError> {
    let verified = match keys {
        ProviderKeys::Stripe(secrets) => stripe::verify(req, secrets, clock),
        ProviderKeys::SendGrid(public_keys) => sendgrid::verify(req, public_keys, clock),
        ProviderKeys::HubSpot(settings) => hubspot::verify(req, settings, clock),
        ProviderKeys::Shopify(secrets) => shopify::verify(req, secrets, clock),
    }
    .map_err(IngestError::Verify)?;
    let key_index = verified.key_index;
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
