//! sendgrid webhooks (being written).
