//! The step vocabulary every floor above it shares: [`StepKind`], a follow-on step edgehooks
//! knows how to execute (with its stable name, stored in `steps.name`), and [`Destination`], where
//! its work happens (a downstream API, or `local` for D1 work in the shell), used for circuit
//! breaking, budgets and grouping dead letters. The routes plan with these names and the
//! downstream builders execute them; neither owns them.

/// A follow-on step edgehooks knows how to execute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StepKind {
    HubSpotUpsertContact,
    HubSpotCreateDeal,
    SendGridSend,
    StripeUpdateCustomer,
    SlackNotify,
    ShopMarkInactive,
    PrivacyRedact,
    PrivacyExport,
    SuppressionRecord,
    EngagementCount,
    MappingMarkDeleted,
}

impl StepKind {
    pub const ALL: [StepKind; 11] = [
        StepKind::HubSpotUpsertContact,
        StepKind::HubSpotCreateDeal,
        StepKind::SendGridSend,
        StepKind::StripeUpdateCustomer,
        StepKind::SlackNotify,
        StepKind::ShopMarkInactive,
        StepKind::PrivacyRedact,
        StepKind::PrivacyExport,
        StepKind::SuppressionRecord,
        StepKind::EngagementCount,
        StepKind::MappingMarkDeleted,
    ];

    pub fn name(self) -> &'static str {
        match self {
            StepKind::HubSpotUpsertContact => "hubspot.upsert_contact",
            StepKind::HubSpotCreateDeal => "hubspot.create_deal",
            StepKind::SendGridSend => "sendgrid.send",
            StepKind::StripeUpdateCustomer => "stripe.update_customer",
            StepKind::SlackNotify => "slack.notify",
            StepKind::ShopMarkInactive => "shop.mark_inactive",
            StepKind::PrivacyRedact => "privacy.redact",
            StepKind::PrivacyExport => "privacy.export",
            StepKind::SuppressionRecord => "suppression.record",
            StepKind::EngagementCount => "engagement.count",
            StepKind::MappingMarkDeleted => "mapping.mark_deleted",
        }
    }

    pub fn from_name(name: &str) -> Option<StepKind> {
        StepKind::ALL.into_iter().find(|k| k.name() == name)
    }

    pub fn destination(self) -> Destination {
        match self {
            StepKind::HubSpotUpsertContact | StepKind::HubSpotCreateDeal => Destination::HubSpot,
            StepKind::SendGridSend => Destination::SendGrid,
            StepKind::StripeUpdateCustomer => Destination::Stripe,
            StepKind::SlackNotify => Destination::Slack,
            StepKind::ShopMarkInactive
            | StepKind::PrivacyRedact
            | StepKind::PrivacyExport
            | StepKind::SuppressionRecord
            | StepKind::EngagementCount
            | StepKind::MappingMarkDeleted => Destination::Local,
        }
    }
}

/// Where a step's work happens: a downstream API, or `Local` (D1, in the shell).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Destination {
    HubSpot,
    SendGrid,
    Stripe,
    Slack,
    Local,
}

impl Destination {
    pub const ALL: [Destination; 5] = [
        Destination::HubSpot,
        Destination::SendGrid,
        Destination::Stripe,
        Destination::Slack,
        Destination::Local,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Destination::HubSpot => "hubspot",
            Destination::SendGrid => "sendgrid",
            Destination::Stripe => "stripe",
            Destination::Slack => "slack",
            Destination::Local => "local",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        for kind in StepKind::ALL {
            assert_eq!(StepKind::from_name(kind.name()), Some(kind));
        }
        assert_eq!(StepKind::from_name("nope"), None);
        let mut names: Vec<_> = Destination::ALL.iter().map(|d| d.name()).collect();
        names.dedup();
        assert_eq!(names.len(), Destination::ALL.len());
    }
}
