//! Where alert notices go: the channels (Slack's incoming webhook, an `http` destination named
//! by `ALERT_DESTINATION`), each tracked on its own, and what state the named destination is in
//! (ready, paused, unknown, not an `http` destination, or stored but no longer valid). Only a
//! ready destination is sent to; the others hold the notice with a stable code, shown in the
//! admin page's alert list, and the next cron looks again.

use crate::connections::{HttpDestination, Target};

/// A channel alert notices are delivered on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Slack,
    Http,
}

impl Channel {
    /// The name stored in `alert_deliveries.channel` and `alert_notices.channel`.
    pub fn name(self) -> &'static str {
        match self {
            Channel::Slack => "slack",
            Channel::Http => "http",
        }
    }
}

/// The `http` channel's destination, as found in D1.
#[derive(Debug, Clone, PartialEq)]
pub enum HttpChannel {
    Ready(HttpDestination),
    /// Paused by an operator: notices wait until it is resumed.
    Paused(String),
    /// No destination of that name is stored.
    Unknown(String),
    /// The name is a built-in step (`slack.notify`...) or not a destination name at all.
    NotHttp(String),
    /// Stored, but its settings no longer validate (the field is named).
    Invalid {
        name: String,
        field: String,
    },
}

/// What D1 holds under the configured name: its `type` column and its settings as the core
/// reads them (`Err` names the bad field).
pub struct StoredDestination {
    pub kind: String,
    pub destination: Result<HttpDestination, String>,
}

impl HttpChannel {
    /// Whether `name` can be a stored `http` destination at all (before looking in D1).
    pub fn names_http(name: &str) -> bool {
        matches!(Target::parse(name), Some(Target::Http(_)))
    }

    /// The channel's state from what is stored under `name` (`None`: nothing).
    pub fn resolve(name: &str, stored: Option<StoredDestination>) -> HttpChannel {
        let name = name.to_string();
        if !HttpChannel::names_http(&name) {
            return HttpChannel::NotHttp(name);
        }
        match stored {
            None => HttpChannel::Unknown(name),
            Some(row) if row.kind != "http" => HttpChannel::NotHttp(name),
            Some(row) => match row.destination {
                Err(field) => HttpChannel::Invalid { name, field },
                Ok(d) if d.paused => HttpChannel::Paused(name),
                Ok(d) => HttpChannel::Ready(d),
            },
        }
    }

    /// `ready`, or the code a held notice carries (and the alert list shows).
    pub fn state(&self) -> &'static str {
        match self {
            HttpChannel::Ready(_) => "ready",
            HttpChannel::Paused(_) => "alert_destination_paused",
            HttpChannel::Unknown(_) => "alert_destination_unknown",
            HttpChannel::NotHttp(_) => "alert_destination_not_http",
            HttpChannel::Invalid { .. } => "alert_destination_invalid",
        }
    }

    /// The destination's name as configured.
    pub fn name(&self) -> &str {
        match self {
            HttpChannel::Ready(d) => &d.name,
            HttpChannel::Paused(name) | HttpChannel::Unknown(name) | HttpChannel::NotHttp(name) => {
                name
            }
            HttpChannel::Invalid { name, .. } => name,
        }
    }
}
