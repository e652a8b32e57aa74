//! shopify webhooks (being written).
