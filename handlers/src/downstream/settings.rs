//! Downstream configuration as the planners see it: which destinations are enabled, where they live
//! and as whom they are called, plus the SendGrid sender and template ids and the HubSpot app id
//! used for echo detection. Reading them from settings is `settings_lookup`'s job
//! (`DownstreamSettings::from_lookup`, `Config::downstream`). An unset or blank token disables its
//! destination (steps end `destination_disabled:<name>`), never crash.

use crate::settings::table::{
    SENDGRID_TEMPLATE_CANCELLATION, SENDGRID_TEMPLATE_DUNNING, SENDGRID_TEMPLATE_ORDER_CONFIRMATION,
};
use crate::step_kind::Destination;

/// Named in `not_configured:` errors of the mails that need a sender.
pub use crate::settings::table::SENDGRID_FROM_EMAIL;

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
            Template::OrderConfirmation => SENDGRID_TEMPLATE_ORDER_CONFIRMATION,
            Template::Cancellation => SENDGRID_TEMPLATE_CANCELLATION,
            Template::Dunning => SENDGRID_TEMPLATE_DUNNING,
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
    fn template_names_and_settings() {
        let names: Vec<_> = Template::ALL.iter().map(|t| t.name()).collect();
        assert_eq!(names, ["order_confirmation", "cancellation", "dunning"]);
        for t in Template::ALL {
            assert!(t.setting().starts_with("SENDGRID_TEMPLATE_"));
        }
    }
}
