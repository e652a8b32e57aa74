//! How the downstream settings are read: tokens (an unset or blank one disables its
//! destination), base URLs (defaulting to the real APIs), the SendGrid sender and templates and
//! the HubSpot app id, all by the names in [`crate::settings::table`]; `Config::downstream` reads
//! them through the settings' lookup.

use crate::downstream::{DestinationConfig, DownstreamSettings, SendGridSettings, Template};
use crate::settings::table::*;
use crate::settings::Config;

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
                default_of(HUBSPOT_API_BASE),
            ),
            sendgrid: api(
                SENDGRID_API_KEY,
                SENDGRID_API_BASE,
                default_of(SENDGRID_API_BASE),
            ),
            stripe: api(STRIPE_API_KEY, STRIPE_API_BASE, default_of(STRIPE_API_BASE)),
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
}

impl<L: Fn(&str) -> Option<String>> Config<L> {
    /// Destinations, tokens, sender and templates for the consumer's plans.
    pub fn downstream(&self) -> DownstreamSettings {
        DownstreamSettings::from_lookup(|name| self.raw(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::step_kind::Destination;

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
            Some(default_of(STRIPE_API_BASE))
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
}
