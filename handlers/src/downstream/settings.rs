//! Downstream configuration: which destinations are enabled, where they live and as whom they
//! are called, plus the SendGrid sender and template ids and the HubSpot app id used for echo
//! detection. [`DownstreamSettings::from_lookup`] reads every variable by the names below, so the
//! shell passes one `|name| env.var(name)` closure and the names live in one place. An unset or
//! blank token disables its destination (steps end `destination_disabled:<name>`), never crash.

use crate::routes::Destination;

pub const HUBSPOT_ACCESS_TOKEN: &str = "HUBSPOT_ACCESS_TOKEN";
pub const HUBSPOT_API_BASE: &str = "HUBSPOT_API_BASE";
pub const HUBSPOT_APP_ID: &str = "HUBSPOT_APP_ID";
pub const SENDGRID_API_KEY: &str = "SENDGRID_API_KEY";
pub const SENDGRID_API_BASE: &str = "SENDGRID_API_BASE";
pub const SENDGRID_FROM_EMAIL: &str = "SENDGRID_FROM_EMAIL";
pub const SENDGRID_FROM_NAME: &str = "SENDGRID_FROM_NAME";
pub const STRIPE_API_KEY: &str = "STRIPE_API_KEY";
pub const STRIPE_API_BASE: &str = "STRIPE_API_BASE";
pub const SLACK_WEBHOOK_URL: &str = "SLACK_WEBHOOK_URL";

pub const DEFAULT_HUBSPOT_API_BASE: &str = "https://api.hubapi.com";
pub const DEFAULT_SENDGRID_API_BASE: &str = "https://api.sendgrid.com";
pub const DEFAULT_STRIPE_API_BASE: &str = "https://api.stripe.com";

/// Where and as whom an API destination is called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestinationConfig {
    /// Origin (and optional path prefix); a trailing slash is tolerated.
    pub base_url: String,
    pub token: String,
}

/// The SendGrid dynamic templates edgehooks sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Template {
    /// After `checkout.session.completed`.
    OrderConfirmation,
    /// After `customer.subscription.deleted`.
    Cancellation,
    /// After `invoice.payment_failed`.
    Dunning,
}

impl Template {
    pub const ALL: [Template; 3] = [
        Template::OrderConfirmation,
        Template::Cancellation,
        Template::Dunning,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Template::OrderConfirmation => "order_confirmation",
            Template::Cancellation => "cancellation",
            Template::Dunning => "dunning",
        }
    }

    /// The variable holding this template's id (`d-…`).
    pub fn setting(self) -> &'static str {
        match self {
            Template::OrderConfirmation => "SENDGRID_TEMPLATE_ORDER_CONFIRMATION",
            Template::Cancellation => "SENDGRID_TEMPLATE_CANCELLATION",
            Template::Dunning => "SENDGRID_TEMPLATE_DUNNING",
        }
    }
}

/// Sender and templates for `sendgrid.send`. A missing value fails only the mails that need it
/// (`not_configured:<SETTING>`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SendGridSettings {
    pub from_email: Option<String>,
    pub from_name: Option<String>,
    pub order_confirmation_template: Option<String>,
    pub cancellation_template: Option<String>,
    pub dunning_template: Option<String>,
}

impl SendGridSettings {
    pub fn template_id(&self, template: Template) -> Option<&str> {
        match template {
            Template::OrderConfirmation => self.order_confirmation_template.as_deref(),
            Template::Cancellation => self.cancellation_template.as_deref(),
            Template::Dunning => self.dunning_template.as_deref(),
        }
    }
}

/// Everything [`super::plan`] needs beyond the event. `None` disables a destination.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DownstreamSettings {
    pub hubspot: Option<DestinationConfig>,
    pub sendgrid: Option<DestinationConfig>,
    pub stripe: Option<DestinationConfig>,
    /// Slack's incoming webhook URL is both address and credential.
    pub slack_webhook_url: Option<String>,
    pub sendgrid_mail: SendGridSettings,
    /// Our HubSpot app's id, when the app that writes contacts is not the app whose webhook
    /// subscription delivers events (otherwise the event's own `appId` identifies us).
    pub hubspot_app_id: Option<String>,
}

impl DownstreamSettings {
    /// Read every setting through `lookup` (a var or secret by name; `None` when unset). Blank
    /// values count as unset; base URLs default to the real APIs.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> DownstreamSettings {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let api = |token: &str, base: &str, default: &str| {
            get(token).map(|token| DestinationConfig {
                base_url: get(base).unwrap_or_else(|| default.to_string()),
                token,
            })
        };
        DownstreamSettings {
            hubspot: api(
                HUBSPOT_ACCESS_TOKEN,
                HUBSPOT_API_BASE,
                DEFAULT_HUBSPOT_API_BASE,
            ),
            sendgrid: api(
                SENDGRID_API_KEY,
                SENDGRID_API_BASE,
                DEFAULT_SENDGRID_API_BASE,
            ),
            stripe: api(STRIPE_API_KEY, STRIPE_API_BASE, DEFAULT_STRIPE_API_BASE),
            slack_webhook_url: get(SLACK_WEBHOOK_URL),
            sendgrid_mail: SendGridSettings {
                from_email: get(SENDGRID_FROM_EMAIL),
                from_name: get(SENDGRID_FROM_NAME),
                order_confirmation_template: get(Template::OrderConfirmation.setting()),
                cancellation_template: get(Template::Cancellation.setting()),
                dunning_template: get(Template::Dunning.setting()),
            },
            hubspot_app_id: get(HUBSPOT_APP_ID),
        }
    }

    /// The base URL and token of an API destination; `None` for Slack, Local and disabled ones.
    pub fn destination(&self, destination: Destination) -> Option<&DestinationConfig> {
        match destination {
            Destination::HubSpot => self.hubspot.as_ref(),
            Destination::SendGrid => self.sendgrid.as_ref(),
            Destination::Stripe => self.stripe.as_ref(),
            Destination::Slack | Destination::Local => None,
        }
    }

    /// False when the destination lacks its token (or Slack its URL). `Local` is always on.
    pub fn is_enabled(&self, destination: Destination) -> bool {
        match destination {
            Destination::Slack => self.slack_webhook_url.is_some(),
            Destination::Local => true,
            api => self.destination(api).is_some(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_by_name_and_disables_blank_tokens() {
        let env = |name: &str| match name {
            HUBSPOT_ACCESS_TOKEN => Some("pat-1".to_string()),
            HUBSPOT_API_BASE => Some(" http://127.0.0.1:8788 ".to_string()),
            SENDGRID_API_KEY => Some("   ".to_string()),
            STRIPE_API_KEY => Some("sk_test_1".to_string()),
            "SENDGRID_TEMPLATE_DUNNING" => Some("d-dun".to_string()),
            _ => None,
        };
        let s = DownstreamSettings::from_lookup(env);
        assert_eq!(
            s.hubspot,
            Some(DestinationConfig {
                base_url: "http://127.0.0.1:8788".into(),
                token: "pat-1".into()
            })
        );
        assert_eq!(s.sendgrid, None);
        assert_eq!(
            s.stripe.as_ref().map(|d| d.base_url.as_str()),
            Some(DEFAULT_STRIPE_API_BASE)
        );
        assert!(s.is_enabled(Destination::HubSpot));
        assert!(!s.is_enabled(Destination::SendGrid));
        assert!(!s.is_enabled(Destination::Slack));
        assert!(s.is_enabled(Destination::Local));
        assert_eq!(
            s.sendgrid_mail.template_id(Template::Dunning),
            Some("d-dun")
        );
        assert_eq!(s.sendgrid_mail.template_id(Template::Cancellation), None);
    }

    #[test]
    fn template_names_and_settings() {
        let names: Vec<_> = Template::ALL.iter().map(|t| t.name()).collect();
        assert_eq!(names, ["order_confirmation", "cancellation", "dunning"]);
        for t in Template::ALL {
            assert!(t.setting().starts_with("SENDGRID_TEMPLATE_"));
        }
    }
}
