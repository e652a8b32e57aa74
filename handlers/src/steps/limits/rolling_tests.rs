//! A rolling budget kept in fixed windows ([`super::counted_budget`]): whatever the arrivals,
//! no span of the provider's window ever holds more counted calls than its budget, by the
//! core's rule ([`super::count_check`] then [`super::gate`]) and by its SQL in SQLite.

use rusqlite::params;

use super::sql::count_call;
use super::{count_check, counted_budget, gate, limits_for, Gate, Health, Limits};
use crate::step_kind::Destination;
use crate::steps::lifecycle::sql_tests::database;

/// Arrival times (ms) of checks: bursts at one instant, steady streams, and a seeded random mix.
fn arrivals() -> Vec<Vec<i64>> {
    let mut patterns = vec![
        vec![5_000; 500],
        (0..3_000).map(|i| 1_000 + i * 10).collect(),
        (0..600).map(|i| i * 99).collect(),
        (0..400)
            .map(|i| 9_990 + (i % 2) * 20 + (i / 2) * 10_000)
            .collect(),
    ];
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        seed >> 33
    };
    for _ in 0..4 {
        let mut at = 0;
        let mut times = Vec::new();
        for _ in 0..4_000 {
            // Mostly close together (a queue batch's calls), now and then a pause.
            at += match next() % 10 {
                0 => (next() % 7_000) as i64,
                1..=3 => 0,
                _ => (next() % 40) as i64,
            };
            times.push(at);
        }
        patterns.push(times);
    }
    patterns
}

/// The checks of `times` that the gate lets through, in the core's rule.
fn through(limits: Limits, times: &[i64]) -> Vec<i64> {
    let mut stored = Health::default();
    let mut calls = Vec::new();
    for &now in times {
        stored = count_check(limits, stored, now);
        if gate(limits, stored, now) == Gate::Proceed {
            calls.push(now);
        }
    }
    calls
}

/// The most calls in any closed span of `window_ms` (a call at `t` and one at `t + window_ms`
/// count as one span: the stricter reading of "per rolling window"; every span that holds the
/// most starts at a call).
fn busiest_span(calls: &[i64], window_ms: i64) -> usize {
    calls
        .iter()
        .enumerate()
        .map(|(i, &start)| {
            calls[i..]
                .iter()
                .take_while(|&&t| t <= start + window_ms)
                .count()
        })
        .max()
        .unwrap_or(0)
}

fn limits(calls: u32, window_ms: i64) -> Limits {
    let (limit, window_ms) = counted_budget(calls, window_ms, true);
    Limits {
        limit,
        window_ms,
        ..limits_for(Destination::HubSpot)
    }
}

/// Regression (issue 25): HubSpot's budget was kept in one fixed 10 s window, so a burst around
/// a window's edge sent up to 200 calls within 10 s (77 answered 429 in the 10k burst).
#[test]
fn no_span_of_the_window_holds_more_than_the_budget() {
    for (calls, window_ms) in [
        (100, 10_000),
        (190, 10_000),
        (2, 10_000),
        (7, 3_000),
        (40, 1_000),
    ] {
        let kept = limits(calls, window_ms);
        for times in arrivals() {
            let sent = through(kept, &times);
            let busiest = busiest_span(&sent, window_ms);
            assert!(
                busiest <= calls as usize,
                "{calls}/{window_ms} ms kept as {}/{} ms: {busiest} in one span",
                kept.limit,
                kept.window_ms
            );
        }
    }
}

#[test]
fn the_published_hubspot_budget_keeps_nine_tenths_of_its_rate() {
    let hubspot = limits_for(Destination::HubSpot);
    // A check every 10 ms for a minute: 6,000 asked, HubSpot would take 600.
    let times: Vec<i64> = (0..6_000).map(|i| i * 10).collect();
    let sent = through(hubspot, &times).len();
    assert!((540..=600).contains(&sent), "{sent} calls in a minute");
    assert!(busiest_span(&through(hubspot, &times), 10_000) <= 100);
}

#[test]
fn a_budget_that_is_not_rolling_is_kept_as_published() {
    assert_eq!(counted_budget(500, 1_000, false), (500, 1_000));
    assert_eq!(counted_budget(100, 10_000, true), (9, 1_000));
    // Windows shorter than a second would only lengthen the waits (delays are whole seconds).
    assert_eq!(counted_budget(40, 1_000, true), (20, 1_000));
    assert_eq!(counted_budget(u32::MAX, 1_000, true), (u32::MAX / 2, 1_000));
}

/// The counting statement in D1 lets the same checks through as the core's rule.
#[test]
fn the_sql_keeps_the_rolling_budget_too() {
    let kept = limits_for(Destination::HubSpot);
    for times in arrivals().into_iter().take(5) {
        let db = database();
        let mut sent = Vec::new();
        for &now in &times {
            let stored = db
                .query_row(
                    &count_call(),
                    params!["hubspot", now, kept.window_ms, kept.limit],
                    |r| {
                        Ok(Health {
                            open_until_ms: r.get(0)?,
                            probe_until_ms: r.get(1)?,
                            window_start_ms: r.get(2)?,
                            window_count: r.get(3)?,
                        })
                    },
                )
                .expect("count");
            if gate(kept, stored, now) == Gate::Proceed {
                sent.push(now);
            }
        }
        assert_eq!(sent, through(kept, &times));
        assert!(busiest_span(&sent, 10_000) <= 100);
    }
}
