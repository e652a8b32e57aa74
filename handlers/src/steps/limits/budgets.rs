//! The built-in destinations' request budgets as a setting. The defaults are the providers'
//! documented limits ([`super::limits_for`]: HubSpot 100 calls per 10 s, SendGrid 500 per s,
//! Stripe 25 per s, Slack 1 per s); `RATE_LIMITS_JSON` replaces them for the destinations it
//! names, e.g. `{"hubspot": {"calls": 190, "per_seconds": 10}}` for a portal on a higher API
//! tier, or a benchmark against a fake that has no limit. Only the budget changes: the circuit
//! breaker keeps its rules. A broken value names the field it stopped at, never guesses.

use serde_json::{Map, Value};

use super::{counted_budget, limits_for, rolling_window, Limits};
use crate::step_kind::Destination;

/// The longest window a budget may have: a budget is about bursts, not daily quotas.
pub const MAX_WINDOW_SECS: u64 = 3_600;

/// Per-destination budget overrides (none: every destination keeps its default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Budgets {
    /// `(calls, window_ms)`, in the order of [`Destination::ALL`].
    overrides: [Option<(u32, i64)>; Destination::ALL.len()],
}

/// Why `RATE_LIMITS_JSON` was refused: the field and the rule it breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetError {
    pub field: String,
    pub detail: &'static str,
}

fn position(destination: Destination) -> Option<usize> {
    Destination::ALL.iter().position(|d| *d == destination)
}

/// The built-in destination a budget may be set for (`local` never calls out).
fn configurable(name: &str) -> Option<Destination> {
    Destination::ALL
        .into_iter()
        .find(|d| d.name() == name && *d != Destination::Local)
}

/// A whole number in `range` at `field` of `entry`.
fn whole(entry: &Map<String, Value>, field: &str, max: u64) -> Option<u64> {
    entry
        .get(field)
        .and_then(Value::as_u64)
        .filter(|n| (1..=max).contains(n))
}

impl Budgets {
    /// Read `RATE_LIMITS_JSON` (empty: no override).
    pub fn parse(text: &str) -> Result<Budgets, BudgetError> {
        let mut budgets = Budgets::default();
        if text.trim().is_empty() {
            return Ok(budgets);
        }
        let fail = |field: String, detail| Err(BudgetError { field, detail });
        let Ok(Value::Object(entries)) = serde_json::from_str::<Value>(text) else {
            return fail(String::new(), "must be a JSON object keyed by destination");
        };
        for (name, entry) in &entries {
            let Some(destination) = configurable(name) else {
                return fail(name.clone(), "is not hubspot, sendgrid, stripe or slack");
            };
            let Value::Object(entry) = entry else {
                return fail(name.clone(), "must be {\"calls\": n, \"per_seconds\": s}");
            };
            if let Some(unknown) = entry.keys().find(|k| *k != "calls" && *k != "per_seconds") {
                return fail(format!("{name}.{unknown}"), "is not a budget field");
            }
            let Some(calls) = whole(entry, "calls", u64::from(u32::MAX)) else {
                return fail(
                    format!("{name}.calls"),
                    "must be a whole number of at least 1",
                );
            };
            if rolling_window(destination) && calls < 2 {
                return fail(
                    format!("{name}.calls"),
                    "must be at least 2: the provider counts a rolling window",
                );
            }
            let Some(secs) = whole(entry, "per_seconds", MAX_WINDOW_SECS) else {
                return fail(format!("{name}.per_seconds"), "must be between 1 and 3600");
            };
            let slot = position(destination).and_then(|i| budgets.overrides.get_mut(i));
            if let Some(slot) = slot {
                *slot = Some((
                    u32::try_from(calls).unwrap_or(u32::MAX),
                    i64::try_from(secs).unwrap_or(1).saturating_mul(1000),
                ));
            }
        }
        Ok(budgets)
    }

    /// The destination's limits: its default, with the configured budget if there is one.
    pub fn limits(&self, destination: Destination) -> Limits {
        let default = limits_for(destination);
        let configured = position(destination).and_then(|i| self.overrides.get(i).copied());
        match configured.flatten() {
            Some((calls, window_ms)) => {
                let (limit, window_ms) =
                    counted_budget(calls, window_ms, rolling_window(destination));
                Limits {
                    limit,
                    window_ms,
                    ..default
                }
            }
            None => default,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_keeps_the_documented_limits() {
        for text in ["", "  ", "{}"] {
            let budgets = Budgets::parse(text).unwrap();
            for d in Destination::ALL {
                assert_eq!(budgets.limits(d), limits_for(d), "{text:?} {d:?}");
            }
        }
        let hubspot = limits_for(Destination::HubSpot);
        assert_eq!(
            (hubspot.limit, hubspot.window_ms),
            (9, 1_000),
            "100 per rolling 10 s, kept in 1 s windows"
        );
        let sendgrid = limits_for(Destination::SendGrid);
        assert_eq!((sendgrid.limit, sendgrid.window_ms), (500, 1_000));
        let stripe = limits_for(Destination::Stripe);
        assert_eq!(
            (stripe.limit, stripe.window_ms),
            (25, 1_000),
            "Stripe's default per-endpoint limit, safe in live mode and in a sandbox"
        );
    }

    #[test]
    fn a_named_budget_replaces_only_its_destination() {
        let budgets = Budgets::parse(r#"{"hubspot": {"calls": 190, "per_seconds": 10}}"#).unwrap();
        let hubspot = budgets.limits(Destination::HubSpot);
        assert_eq!((hubspot.limit, hubspot.window_ms), (19, 1_112));
        assert_eq!(
            hubspot.open_after,
            limits_for(Destination::HubSpot).open_after,
            "the circuit keeps its rules"
        );
        assert_eq!(
            budgets.limits(Destination::SendGrid),
            limits_for(Destination::SendGrid)
        );
        let lifted = Budgets::parse(
            r#"{"hubspot": {"calls": 4294967295, "per_seconds": 1}, "slack": {"calls": 5, "per_seconds": 3600}}"#,
        )
        .unwrap();
        assert_eq!(lifted.limits(Destination::HubSpot).limit, u32::MAX / 2);
        assert_eq!(lifted.limits(Destination::Slack).window_ms, 3_600_000);
    }

    #[test]
    fn a_broken_value_names_its_field() {
        let field = |text: &str| Budgets::parse(text).unwrap_err().field;
        assert_eq!(field("[1]"), "");
        assert_eq!(field("not json"), "");
        assert_eq!(
            field(r#"{"mailchimp": {"calls": 1, "per_seconds": 1}}"#),
            "mailchimp"
        );
        assert_eq!(
            field(r#"{"local": {"calls": 1, "per_seconds": 1}}"#),
            "local"
        );
        assert_eq!(field(r#"{"hubspot": 100}"#), "hubspot");
        assert_eq!(
            field(r#"{"hubspot": {"per_seconds": 10}}"#),
            "hubspot.calls"
        );
        assert_eq!(
            field(r#"{"hubspot": {"calls": 0, "per_seconds": 10}}"#),
            "hubspot.calls"
        );
        assert_eq!(
            field(r#"{"hubspot": {"calls": 1.5, "per_seconds": 10}}"#),
            "hubspot.calls"
        );
        assert_eq!(
            field(r#"{"hubspot": {"calls": 4294967296, "per_seconds": 10}}"#),
            "hubspot.calls"
        );
        assert_eq!(field(r#"{"hubspot": {"calls": 2}}"#), "hubspot.per_seconds");
        assert_eq!(
            field(r#"{"hubspot": {"calls": 1, "per_seconds": 10}}"#),
            "hubspot.calls",
            "a rolling budget of one call cannot be kept"
        );
        assert_eq!(
            field(r#"{"hubspot": {"calls": 2, "per_seconds": 3601}}"#),
            "hubspot.per_seconds"
        );
        assert_eq!(
            field(r#"{"hubspot": {"calls": 1, "per_seconds": 1, "burst": 2}}"#),
            "hubspot.burst"
        );
    }
}
