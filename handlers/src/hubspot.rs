//! hubspot webhooks (being written).
