//! What arrives: [`webhook`] (the request view, verification and parse errors with their stable
//! codes, the parsed event), [`providers`] (one module per provider and the dispatch that
//! verifies then parses), [`sources`] (named sources and their keys), [`ids`] (content-derived
//! event and step ids), [`dedupe_hints`] (the KV hint in front of D1's authority),
//! [`rejections`] (verification failures tallied and flushed), [`request_url`] (the path and
//! query pairs of a request URL), [`request_method`] (the method the router routes on, an
//! unknown one none), [`schemes`] (the catalogue of verification schemes for sources added at
//! runtime: Standard Webhooks, GitHub, Twilio, Slack and more), [`registry`] (those sources as
//! data: their spec, secrets' rotation, and a delivery made into an event) and
//! [`stored_headers`] (a delivery's request headers as stored, credentials masked).

pub mod dedupe_hints;
pub mod ids;
pub mod providers;
pub mod registry;
pub mod rejections;
pub mod request_method;
pub mod request_url;
pub mod schemes;
pub mod sources;
pub mod stored_headers;
pub mod webhook;
