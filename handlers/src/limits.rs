//! Per-destination protection: a request budget (at most `limit` calls per `window_ms`, e.g.
//! HubSpot's 100 per 10 s) and a circuit breaker (after `open_after` consecutive retryable
//! failures, stop calling for `cool_down_ms`). Both answer "go" or "wait this long": a message
//! that has to wait is delayed, never charged an attempt.

use crate::routes::Destination;

/// Budget and circuit settings for one destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub limit: u32,
    pub window_ms: i64,
    pub open_after: u32,
    pub cool_down_ms: i64,
}

/// Defaults from the providers' published rate limits, kept conservative.
pub fn limits_for(destination: Destination) -> Limits {
    let (limit, window_ms) = match destination {
        Destination::HubSpot => (100, 10_000),
        Destination::SendGrid => (500, 1_000),
        Destination::Stripe => (80, 1_000),
        Destination::Slack => (1, 1_000),
        Destination::Local => (u32::MAX, 1_000),
    };
    Limits {
        limit,
        window_ms,
        open_after: 5,
        cool_down_ms: 60_000,
    }
}

/// A destination's counters as stored (after this call was counted in the window).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Health {
    pub open_until_ms: i64,
    pub window_start_ms: i64,
    pub window_count: u32,
}

/// Whether to call now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    Proceed,
    /// Delay the message this many seconds (≥ 1) and try again.
    Wait {
        secs: u64,
        reason: &'static str,
    },
}

fn secs_until(now_ms: i64, until_ms: i64) -> u64 {
    let ms = until_ms.saturating_sub(now_ms).max(0) as u64;
    ms.div_ceil(1000).max(1)
}

/// Decide for a call at `now_ms`, given counters that already include this call.
pub fn gate(limits: Limits, health: Health, now_ms: i64) -> Gate {
    if health.open_until_ms > now_ms {
        return Gate::Wait {
            secs: secs_until(now_ms, health.open_until_ms),
            reason: "circuit_open",
        };
    }
    if health.window_count > limits.limit {
        let window_end = health.window_start_ms.saturating_add(limits.window_ms);
        return Gate::Wait {
            secs: secs_until(now_ms, window_end),
            reason: "rate_budget",
        };
    }
    Gate::Proceed
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: Limits = Limits {
        limit: 2,
        window_ms: 10_000,
        open_after: 3,
        cool_down_ms: 60_000,
    };

    #[test]
    fn budget_delays_until_the_window_ends() {
        let h = |count| Health {
            open_until_ms: 0,
            window_start_ms: 1_000,
            window_count: count,
        };
        assert_eq!(gate(L, h(1), 2_000), Gate::Proceed);
        assert_eq!(gate(L, h(2), 2_000), Gate::Proceed);
        assert_eq!(
            gate(L, h(3), 2_000),
            Gate::Wait {
                secs: 9,
                reason: "rate_budget"
            }
        );
        assert_eq!(
            gate(L, h(3), 10_999),
            Gate::Wait {
                secs: 1,
                reason: "rate_budget"
            }
        );
    }

    #[test]
    fn open_circuit_delays_until_cool_down_ends() {
        let h = Health {
            open_until_ms: 31_500,
            window_start_ms: 0,
            window_count: 1,
        };
        assert_eq!(
            gate(L, h, 1_000),
            Gate::Wait {
                secs: 31,
                reason: "circuit_open"
            }
        );
        assert_eq!(gate(L, h, 31_500), Gate::Proceed);
    }

    #[test]
    fn every_destination_has_sane_limits() {
        for d in Destination::ALL {
            let l = limits_for(d);
            assert!(
                l.limit >= 1 && l.window_ms > 0 && l.open_after >= 1,
                "{d:?}"
            );
        }
    }
}
