//! Per-destination protection: a request budget (at most `limit` calls per `window_ms`, e.g.
//! HubSpot's 100 per 10 s) and a circuit breaker. The circuit is closed until `open_after`
//! consecutive retryable failures open it for `cool_down_ms`; once the cool-down has passed it is
//! half-open: exactly one step may take the probe lease (held until `probe_lease_ms` runs out,
//! so a crashed probe cannot wedge the circuit) and call, while every other step waits; the
//! probe's success closes the circuit, its failure opens it again for a new cool-down. This
//! module decides ([`gate`], [`after_call`]); [`sql`] holds the statements that keep the counters
//! in D1 and take the probe lease with a compare-and-set on the values the decision was made
//! from. Whoever has to wait is delayed, never charged an attempt. [`budgets`] lets a setting
//! replace a built-in destination's documented budget.

pub mod budgets;
#[cfg(test)]
mod rolling_tests;
pub mod sql;

use crate::step_kind::Destination;
use crate::steps::retry::ResponseClass;

/// How long, at most, a step waits before looking again while another step holds the probe.
pub const HALF_OPEN_RECHECK_SECS: u64 = 3;

/// What a probe lease adds to the call timeout: time to record the outcome in D1.
pub const PROBE_MARGIN_MS: i64 = 15_000;

/// Budget and circuit settings for one destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub limit: u32,
    pub window_ms: i64,
    pub open_after: u32,
    pub cool_down_ms: i64,
    /// How long a half-open probe holds the destination before another step may probe.
    pub probe_lease_ms: i64,
}

impl Limits {
    /// These limits for calls that time out after `timeout_ms`: the probe lease outlives the
    /// call by [`PROBE_MARGIN_MS`].
    pub fn with_call_timeout(self, timeout_ms: u64) -> Self {
        let timeout = i64::try_from(timeout_ms).unwrap_or(i64::MAX);
        Limits {
            probe_lease_ms: timeout.saturating_add(PROBE_MARGIN_MS),
            ..self
        }
    }

    /// These limits with the circuit's cool-down set by configuration (`None`: unchanged).
    pub fn with_cool_down(self, cool_down_ms: Option<i64>) -> Self {
        Limits {
            cool_down_ms: cool_down_ms.map_or(self.cool_down_ms, |ms| ms.max(1)),
            ..self
        }
    }
}

/// The providers' documented budgets: `(calls, window_ms)`. HubSpot publishes 100 calls per
/// rolling 10 s and Slack one message a second per incoming webhook. Stripe allows 25 requests a
/// second per endpoint by default (100 operations a second in all in live mode, 25 in a sandbox),
/// so 25 is safe for every endpoint edgehooks calls, in either mode. SendGrid publishes no fixed
/// number for mail send: 500 a second is the figure its rate-limit page shows, and a 429 with
/// `Retry-After` is waited out as for the others.
pub fn published_budget(destination: Destination) -> (u32, i64) {
    match destination {
        Destination::HubSpot => (100, 10_000),
        Destination::SendGrid => (500, 1_000),
        Destination::Stripe => (25, 1_000),
        Destination::Slack => (1, 1_000),
        Destination::Local => (u32::MAX, 1_000),
    }
}

/// Whether the provider counts its budget over a rolling window (any span of its length), not
/// in windows of its own: HubSpot, 100 calls per rolling 10 s.
pub fn rolling_window(destination: Destination) -> bool {
    destination == Destination::HubSpot
}

/// The shortest window a rolling budget is kept in: a step that must wait is delayed by whole
/// seconds (a queue message's delay), so a shorter window would only make it wait longer.
pub const MIN_SUB_WINDOW_MS: i64 = 1_000;

/// The most windows a rolling budget's window is cut into.
pub const MAX_SUB_WINDOWS: i64 = 10;

/// `calls` per `window_ms` as the counters keep it (`(limit, window_ms)`): as is, or for a
/// `rolling` budget as shorter fixed windows with a smaller limit such that no span of
/// `window_ms` can hold more than `calls` counted calls. The counters' windows never overlap
/// and are at least their length long, so a span of `window_ms` meets at most
/// `ceil(window_ms / w) + 1` windows of length `w`; each holds at most `limit` calls, and
/// `limit × (that many) ≤ calls`. Of the cuts into at most [`MAX_SUB_WINDOWS`] windows of at
/// least [`MIN_SUB_WINDOW_MS`], the one that lets the most calls through per unit of time is
/// kept. HubSpot's 100 per 10 s becomes 9 per second: at most 99 in
/// any 10 s, 90 per 10 s sustained, where one 10 s window could let 200 through around its edge.
/// A budget of a single call cannot be kept that way (two windows always meet one span), and
/// the setting refuses it for a rolling destination; it is kept as is.
pub fn counted_budget(calls: u32, window_ms: i64, rolling: bool) -> (u32, i64) {
    if !rolling {
        return (calls, window_ms);
    }
    let window_ms = window_ms.max(1);
    let most = (window_ms / MIN_SUB_WINDOW_MS).clamp(1, MAX_SUB_WINDOWS);
    let kept = |parts: i64| {
        let sub = (window_ms + parts - 1) / parts;
        let met = (window_ms + sub - 1) / sub + 1;
        (u32::try_from(i64::from(calls) / met).unwrap_or(0), sub)
    };
    // The most calls per unit of time; of equals, the shorter windows (smoother).
    (1..=most)
        .map(kept)
        .filter(|(limit, _)| *limit >= 1)
        .reduce(|best, next| {
            let rate = |(limit, sub): (u32, i64)| (i128::from(limit), i128::from(sub));
            let ((bl, bs), (nl, ns)) = (rate(best), rate(next));
            if nl * bs >= bl * ns {
                next
            } else {
                best
            }
        })
        .unwrap_or((calls, window_ms))
}

/// Defaults from the providers' published rate limits, kept conservative (a rolling budget as
/// [`counted_budget`] keeps it).
pub fn limits_for(destination: Destination) -> Limits {
    let (calls, window_ms) = published_budget(destination);
    let (limit, window_ms) = counted_budget(calls, window_ms, rolling_window(destination));
    Limits {
        limit,
        window_ms,
        open_after: 5,
        cool_down_ms: 60_000,
        probe_lease_ms: 10_000 + PROBE_MARGIN_MS,
    }
}

/// A destination's counters as stored (after this call was counted in the window).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Health {
    /// 0 while closed; the end of the cool-down once the circuit opened (kept, in the past,
    /// while half-open, until a success closes it).
    pub open_until_ms: i64,
    /// While half-open: until when the current probe holds the destination (0: nobody).
    pub probe_until_ms: i64,
    pub window_start_ms: i64,
    pub window_count: u32,
}

/// The circuit's state at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Circuit {
    Closed,
    /// Cooling down: nobody calls.
    Open {
        until_ms: i64,
    },
    /// Cool-down over, not yet closed by a success: one probe at a time.
    HalfOpen {
        probe_until_ms: i64,
    },
}

impl Health {
    pub fn circuit(&self, now_ms: i64) -> Circuit {
        if self.open_until_ms > now_ms {
            Circuit::Open {
                until_ms: self.open_until_ms,
            }
        } else if self.open_until_ms != 0 {
            Circuit::HalfOpen {
                probe_until_ms: self.probe_until_ms,
            }
        } else {
            Circuit::Closed
        }
    }
}

/// Whether to call now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    Proceed,
    /// The circuit is half-open and nobody probes: call only after taking the probe lease
    /// (until `lease_until_ms`) from the very state the decision was made on; if that fails,
    /// another step probes: [`probe_taken`].
    Probe {
        lease_until_ms: i64,
    },
    Wait(Wait),
}

/// Delay the message `secs` seconds (≥ 1) and try again; `reason` is the stable code logged and
/// stored in `last_error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wait {
    pub secs: u64,
    pub reason: &'static str,
}

fn secs_until(now_ms: i64, until_ms: i64) -> u64 {
    let ms = until_ms.saturating_sub(now_ms).max(0) as u64;
    ms.div_ceil(1000).max(1)
}

/// The counters after a check at `now_ms` found `before` stored: the rule [`sql::count_call`]
/// runs atomically in D1. A check only counts when it
/// may lead to a call: while the circuit makes everyone wait (open, or half-open with a live
/// probe) nothing is counted, and once the window is full one check marks it (`limit + 1`) and
/// later ones add nothing, so a budget check that says "wait" never uses up budget. A window
/// that has run out starts again at this check (counted only if the circuit lets it through).
pub fn count_check(limits: Limits, before: Health, now_ms: i64) -> Health {
    let blocked = match before.circuit(now_ms) {
        Circuit::Open { .. } => true,
        Circuit::HalfOpen { probe_until_ms } => probe_until_ms > now_ms,
        Circuit::Closed => false,
    };
    let expired = before.window_start_ms <= now_ms.saturating_sub(limits.window_ms);
    let window_count = match (blocked, expired) {
        (true, true) => 0,
        (true, false) => before.window_count,
        (false, true) => 1,
        (false, false) if before.window_count <= limits.limit => before.window_count + 1,
        (false, false) => before.window_count,
    };
    Health {
        window_start_ms: if expired {
            now_ms
        } else {
            before.window_start_ms
        },
        window_count,
        ..before
    }
}

/// The counters a step sees that will not make a call of its own but join a call another
/// check counts (an input of a HubSpot batch upsert, charged once per call when the call goes
/// out): `before` as stored, with a window that has run out read as empty. Nothing is counted,
/// so [`gate`] lets it through while the window has room (`window_count <= limit`) and holds it
/// back once a check marked the window full; the rule [`sql::peek_claimed_call`] runs in D1.
pub fn peek_check(limits: Limits, before: Health, now_ms: i64) -> Health {
    let expired = before.window_start_ms <= now_ms.saturating_sub(limits.window_ms);
    Health {
        window_count: if expired { 0 } else { before.window_count },
        ..before
    }
}

/// Decide for a call at `now_ms`, given counters that already include this call.
pub fn gate(limits: Limits, health: Health, now_ms: i64) -> Gate {
    let circuit = health.circuit(now_ms);
    match circuit {
        Circuit::Open { until_ms } => {
            return Gate::Wait(Wait {
                secs: secs_until(now_ms, until_ms),
                reason: "circuit_open",
            })
        }
        Circuit::HalfOpen { probe_until_ms } if probe_until_ms > now_ms => {
            return Gate::Wait(Wait {
                secs: secs_until(now_ms, probe_until_ms).min(HALF_OPEN_RECHECK_SECS),
                reason: "circuit_half_open",
            })
        }
        _ => {}
    }
    if health.window_count > limits.limit {
        let window_end = health.window_start_ms.saturating_add(limits.window_ms);
        return Gate::Wait(Wait {
            secs: secs_until(now_ms, window_end),
            reason: "rate_budget",
        });
    }
    match circuit {
        Circuit::HalfOpen { .. } => Gate::Probe {
            lease_until_ms: now_ms.saturating_add(limits.probe_lease_ms),
        },
        _ => Gate::Proceed,
    }
}

/// The probe lease went to another step between reading the counters and taking it (or the
/// circuit changed meanwhile): wait a little and decide again.
pub fn probe_taken() -> Wait {
    Wait {
        secs: HALF_OPEN_RECHECK_SECS,
        reason: "circuit_half_open",
    }
}

/// What a finished call does to its destination's circuit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthChange {
    /// A success: the circuit closes (failures reset, probe lease cleared).
    Close,
    /// A retryable failure: one more consecutive failure; the circuit opens for `cool_down_ms`
    /// when that reaches `open_after` or when it was already open or half-open (a failed probe
    /// re-opens it). This step's probe lease, if it holds it, is released.
    Fail,
    /// A permanent 4xx says the request was wrong, not that the destination is down: the circuit
    /// is left as it is, but a probe lease this step holds is released for another probe.
    ReleaseProbe,
    Nothing,
}

/// The change a call of class `class`, answered `status`, makes; `probing` when the step held
/// the probe lease. A `429` is a retryable failure of the call (its steps back off, honouring
/// `Retry-After`) but not of the destination: it answered, and a call reaches the provider a
/// little after its budget counted it (or another app spends the same portal's budget), so its
/// rolling window can still refuse one now and then (HubSpot: 100 per rolling 10 s), which
/// must not open the circuit for every step; a probe answered 429 gives its lease up for the
/// next probe.
pub fn after_call(class: ResponseClass, status: Option<u16>, probing: bool) -> HealthChange {
    if status == Some(429) {
        return if probing {
            HealthChange::ReleaseProbe
        } else {
            HealthChange::Nothing
        };
    }
    match class {
        ResponseClass::Success => HealthChange::Close,
        ResponseClass::Retryable => HealthChange::Fail,
        ResponseClass::Permanent if probing => HealthChange::ReleaseProbe,
        ResponseClass::Permanent => HealthChange::Nothing,
    }
}

/// Whether a call of class `class` counts against the step's `MAX_ATTEMPTS`. Every call does,
/// except a half-open probe that failed: the destination is still down, and the probe asked that
/// for every step waiting on it, so a destination down for hours (one probe per cool-down) never
/// uses up a waiting step's attempts. The shell still records the call (outcome `probe`).
pub fn charges_attempt(class: ResponseClass, probing: bool) -> bool {
    !(probing && class == ResponseClass::Retryable)
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: Limits = Limits {
        limit: 2,
        window_ms: 10_000,
        open_after: 3,
        cool_down_ms: 60_000,
        probe_lease_ms: 25_000,
    };

    #[test]
    fn budget_delays_until_the_window_ends() {
        let h = |count| Health {
            window_start_ms: 1_000,
            window_count: count,
            ..Health::default()
        };
        assert_eq!(gate(L, h(1), 2_000), Gate::Proceed);
        assert_eq!(gate(L, h(2), 2_000), Gate::Proceed);
        assert_eq!(
            gate(L, h(3), 2_000),
            Gate::Wait(Wait {
                secs: 9,
                reason: "rate_budget"
            })
        );
        assert_eq!(
            gate(L, h(3), 10_999),
            Gate::Wait(Wait {
                secs: 1,
                reason: "rate_budget"
            })
        );
    }

    #[test]
    fn open_circuit_delays_until_cool_down_ends() {
        let h = Health {
            open_until_ms: 31_500,
            window_count: 1,
            ..Health::default()
        };
        assert_eq!(h.circuit(1_000), Circuit::Open { until_ms: 31_500 });
        assert_eq!(
            gate(L, h, 1_000),
            Gate::Wait(Wait {
                secs: 31,
                reason: "circuit_open"
            })
        );
    }

    #[test]
    fn after_the_cool_down_one_step_may_probe() {
        let h = Health {
            open_until_ms: 31_500,
            window_count: 1,
            ..Health::default()
        };
        assert_eq!(h.circuit(31_500), Circuit::HalfOpen { probe_until_ms: 0 });
        assert_eq!(
            gate(L, h, 31_500),
            Gate::Probe {
                lease_until_ms: 56_500
            }
        );
    }

    #[test]
    fn while_a_probe_holds_the_lease_others_wait_briefly() {
        let h = Health {
            open_until_ms: 31_500,
            probe_until_ms: 56_500,
            window_count: 1,
            ..Health::default()
        };
        assert_eq!(
            gate(L, h, 40_000),
            Gate::Wait(Wait {
                secs: HALF_OPEN_RECHECK_SECS,
                reason: "circuit_half_open"
            })
        );
        // Close to the lease's end: only until it ends.
        assert_eq!(
            gate(L, h, 55_600),
            Gate::Wait(Wait {
                secs: 1,
                reason: "circuit_half_open"
            })
        );
        // A probe that never came back (crashed) stops holding the destination at the lease's end.
        assert_eq!(
            gate(L, h, 56_500),
            Gate::Probe {
                lease_until_ms: 81_500
            }
        );
        assert_eq!(
            Gate::Wait(probe_taken()),
            Gate::Wait(Wait {
                secs: HALF_OPEN_RECHECK_SECS,
                reason: "circuit_half_open"
            })
        );
    }

    #[test]
    fn a_half_open_probe_still_respects_the_budget() {
        let h = Health {
            open_until_ms: 1_000,
            window_start_ms: 1_000,
            window_count: 3,
            ..Health::default()
        };
        assert_eq!(
            gate(L, h, 2_000),
            Gate::Wait(Wait {
                secs: 9,
                reason: "rate_budget"
            })
        );
    }

    #[test]
    fn a_closed_circuit_ignores_a_stale_probe_lease() {
        let h = Health {
            probe_until_ms: 99_000,
            window_count: 1,
            ..Health::default()
        };
        assert_eq!(h.circuit(1_000), Circuit::Closed);
        assert_eq!(gate(L, h, 1_000), Gate::Proceed);
    }

    #[test]
    fn outcomes_close_fail_or_release_the_probe() {
        use ResponseClass::*;
        assert_eq!(after_call(Success, Some(200), true), HealthChange::Close);
        assert_eq!(after_call(Success, Some(207), false), HealthChange::Close);
        assert_eq!(after_call(Retryable, Some(503), true), HealthChange::Fail);
        assert_eq!(after_call(Retryable, None, false), HealthChange::Fail);
        assert_eq!(
            after_call(Permanent, Some(400), true),
            HealthChange::ReleaseProbe
        );
        assert_eq!(
            after_call(Permanent, Some(400), false),
            HealthChange::Nothing
        );
        // A 429 is the destination's budget speaking, not an outage: the circuit stays as it is.
        assert_eq!(
            after_call(Retryable, Some(429), false),
            HealthChange::Nothing
        );
        assert_eq!(
            after_call(Retryable, Some(429), true),
            HealthChange::ReleaseProbe
        );
    }

    #[test]
    fn the_probe_lease_outlives_the_call_timeout() {
        let l = limits_for(Destination::HubSpot).with_call_timeout(3_000);
        assert_eq!(l.probe_lease_ms, 3_000 + PROBE_MARGIN_MS);
        let huge = limits_for(Destination::HubSpot).with_call_timeout(u64::MAX);
        assert_eq!(huge.probe_lease_ms, i64::MAX);
    }

    #[test]
    fn only_a_failed_probe_is_not_charged() {
        use ResponseClass::*;
        assert!(!charges_attempt(Retryable, true));
        assert!(charges_attempt(Retryable, false));
        assert!(charges_attempt(Permanent, true));
        assert!(charges_attempt(Success, true));
        assert!(charges_attempt(Success, false));
    }

    #[test]
    fn waiting_checks_use_no_budget() {
        let at = |count| Health {
            window_start_ms: 1_000,
            window_count: count,
            ..Health::default()
        };
        // Room left: counted.
        assert_eq!(count_check(L, at(1), 2_000).window_count, 2);
        // Full: the first refused check marks it, later ones add nothing.
        assert_eq!(count_check(L, at(2), 2_000).window_count, 3);
        assert_eq!(count_check(L, at(3), 2_000).window_count, 3);
        assert_eq!(
            gate(L, count_check(L, at(3), 2_000), 2_000),
            Gate::Wait(Wait {
                secs: 9,
                reason: "rate_budget"
            })
        );
        // A new window starts at this check.
        let fresh = count_check(L, at(3), 11_000);
        assert_eq!((fresh.window_start_ms, fresh.window_count), (11_000, 1));
        assert_eq!(gate(L, fresh, 11_000), Gate::Proceed);
    }

    #[test]
    fn a_circuit_that_makes_everyone_wait_counts_nothing() {
        let open = Health {
            open_until_ms: 60_000,
            window_start_ms: 1_000,
            window_count: 1,
            ..Health::default()
        };
        assert_eq!(count_check(L, open, 2_000), open);
        // Window run out while open: a new, empty window.
        let later = count_check(L, open, 20_000);
        assert_eq!((later.window_start_ms, later.window_count), (20_000, 0));
        // Half-open with a live probe: nothing counted either.
        let probing = Health {
            probe_until_ms: 70_000,
            window_start_ms: 55_000,
            ..open
        };
        assert_eq!(count_check(L, probing, 61_000), probing);
        // Half-open, nobody probing: this check may become the probe, so it counts.
        let idle = Health {
            probe_until_ms: 0,
            window_start_ms: 55_000,
            ..open
        };
        assert_eq!(count_check(L, idle, 61_000).window_count, 2);
    }

    #[test]
    fn a_configured_cool_down_replaces_the_default() {
        let l = limits_for(Destination::Slack);
        assert_eq!(l.with_cool_down(None), l);
        assert_eq!(l.with_cool_down(Some(1_000)).cool_down_ms, 1_000);
        assert_eq!(l.with_cool_down(Some(0)).cool_down_ms, 1);
    }

    #[test]
    fn every_destination_has_sane_limits() {
        for d in Destination::ALL {
            let l = limits_for(d);
            assert!(
                l.limit >= 1 && l.window_ms > 0 && l.open_after >= 1 && l.probe_lease_ms > 0,
                "{d:?}"
            );
        }
    }
}
