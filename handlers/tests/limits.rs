//! The circuit breaker's protocol, model-checked: a few steps of one destination arrive, read the
//! counters (`count_call`), ask [`gate`], race for the probe lease (the compare-and-set of
//! `take_probe`), call, and record [`after_call`]'s change, in any interleaving, with time
//! passing and calls that crash without recording anything. `Row` mirrors the SQL of
//! `src/db/health.rs` statement by statement. Whatever happens: no call starts while the circuit
//! is open, at most one probe holds a live lease, a success closes the circuit, a failure of a
//! call made while it was not closed re-opens it for a full cool-down, and once a lease has run
//! out another step can probe (a crashed probe does not wedge the circuit).

use edgehooks_handlers::steps::limits::{
    after_call, gate, Circuit, Gate, Health, HealthChange, Limits,
};
use edgehooks_handlers::steps::retry::ResponseClass;
use proptest::prelude::*;

const LIMITS: Limits = Limits {
    limit: 3,
    window_ms: 1_000,
    open_after: 2,
    cool_down_ms: 60_000,
    probe_lease_ms: 25_000,
};
const STEPS: usize = 4;

/// One `destination_health` row, changed only the way the SQL changes it.
#[derive(Debug, Clone, Default)]
struct Row {
    consecutive_failures: u32,
    open_until: i64,
    probe_until: i64,
    probe_step: Option<usize>,
    window_start: i64,
    window_count: u32,
    exists: bool,
}

impl Row {
    /// `count_call`: the upsert that counts a call in the window, returning the counters.
    fn count_call(&mut self, now: i64) -> Health {
        if !self.exists || self.window_start <= now - LIMITS.window_ms {
            self.window_start = now;
            self.window_count = 1;
            self.exists = true;
        } else {
            self.window_count += 1;
        }
        self.health()
    }

    fn health(&self) -> Health {
        Health {
            open_until_ms: self.open_until,
            probe_until_ms: self.probe_until,
            window_start_ms: self.window_start,
            window_count: self.window_count,
        }
    }

    /// `take_probe`: compare-and-set on the counters the decision was made from.
    fn take_probe(&mut self, step: usize, seen: Health, lease_until: i64) -> bool {
        if self.open_until == seen.open_until_ms && self.probe_until == seen.probe_until_ms {
            self.probe_until = lease_until;
            self.probe_step = Some(step);
            true
        } else {
            false
        }
    }

    /// `record_health`.
    fn record(&mut self, step: usize, change: HealthChange, now: i64) {
        let mine = self.probe_step == Some(step);
        match change {
            HealthChange::Close => {
                self.consecutive_failures = 0;
                self.open_until = 0;
                self.probe_until = 0;
                self.probe_step = None;
            }
            HealthChange::Fail => {
                if self.consecutive_failures + 1 >= LIMITS.open_after || self.open_until != 0 {
                    self.open_until = now + LIMITS.cool_down_ms;
                }
                self.consecutive_failures += 1;
                if mine {
                    self.probe_until = 0;
                    self.probe_step = None;
                }
            }
            HealthChange::ReleaseProbe if mine => {
                self.probe_until = 0;
                self.probe_step = None;
            }
            HealthChange::ReleaseProbe | HealthChange::Nothing => {}
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Step {
    Idle,
    /// Told to probe; has not tried to take the lease yet.
    WantsProbe {
        seen: Health,
        lease_until: i64,
    },
    /// Calling, as the probe (holding the lease until `lease_until`) or not.
    Calling {
        probe: bool,
        lease_until: i64,
    },
}

#[derive(Debug, Clone)]
enum Op {
    Arrive(usize),
    TakeProbe(usize),
    Finish(usize, ResponseClass),
    Crash(usize),
    Tick(i64),
}

fn op() -> impl Strategy<Value = Op> {
    let step = 0..STEPS;
    prop_oneof![
        3 => step.clone().prop_map(Op::Arrive),
        2 => step.clone().prop_map(Op::TakeProbe),
        3 => (step.clone(), prop::sample::select(vec![
            ResponseClass::Success,
            ResponseClass::Retryable,
            ResponseClass::Permanent,
        ])).prop_map(|(i, c)| Op::Finish(i, c)),
        1 => step.prop_map(Op::Crash),
        2 => prop_oneof![0i64..2_000, 20_000i64..70_000].prop_map(Op::Tick),
    ]
}

fn live_probes(steps: &[Step], now: i64) -> usize {
    steps
        .iter()
        .filter(|s| matches!(s, Step::Calling { probe: true, lease_until } if *lease_until > now))
        .count()
}

fn run(ops: &[Op]) -> Result<(), TestCaseError> {
    let mut row = Row::default();
    let mut steps = [Step::Idle; STEPS];
    let mut now: i64 = 1_000_000;
    for op in ops {
        match *op {
            Op::Arrive(i) => {
                if !matches!(steps[i], Step::Idle) {
                    continue;
                }
                let health = row.count_call(now);
                let circuit = health.circuit(now);
                let budget_ok = health.window_count <= LIMITS.limit;
                match gate(LIMITS, health, now) {
                    Gate::Proceed => {
                        prop_assert_eq!(circuit, Circuit::Closed, "a call only while closed");
                        steps[i] = Step::Calling {
                            probe: false,
                            lease_until: i64::MAX,
                        };
                    }
                    Gate::Probe { lease_until_ms } => {
                        let free = matches!(circuit, Circuit::HalfOpen { probe_until_ms } if probe_until_ms <= now);
                        prop_assert!(free, "a probe only while half-open and unheld");
                        prop_assert_eq!(lease_until_ms, now + LIMITS.probe_lease_ms);
                        steps[i] = Step::WantsProbe {
                            seen: health,
                            lease_until: lease_until_ms,
                        };
                    }
                    Gate::Wait(wait) => {
                        prop_assert!(wait.secs >= 1);
                        // Never wedged: a half-open circuit whose lease ran out offers a probe
                        // to whoever the budget lets through.
                        let free = matches!(circuit, Circuit::HalfOpen { probe_until_ms } if probe_until_ms <= now);
                        prop_assert!(!(free && budget_ok), "wedged: {:?} at {}", health, now);
                    }
                }
            }
            Op::TakeProbe(i) => {
                if let Step::WantsProbe { seen, lease_until } = steps[i] {
                    steps[i] = if row.take_probe(i, seen, lease_until) {
                        Step::Calling {
                            probe: true,
                            lease_until,
                        }
                    } else {
                        Step::Idle
                    };
                }
            }
            Op::Finish(i, class) => {
                if let Step::Calling { probe, .. } = steps[i] {
                    let was_closed = row.health().circuit(now) == Circuit::Closed;
                    let change = after_call(class, None, probe);
                    row.record(i, change, now);
                    match change {
                        HealthChange::Close => {
                            prop_assert_eq!(row.health().circuit(now), Circuit::Closed)
                        }
                        HealthChange::Fail if !was_closed => prop_assert_eq!(
                            row.health().circuit(now),
                            Circuit::Open {
                                until_ms: now + LIMITS.cool_down_ms
                            },
                            "a failure while not closed re-opens for a full cool-down"
                        ),
                        _ => {}
                    }
                    if probe && change != HealthChange::Close {
                        prop_assert_ne!(row.probe_step, Some(i), "the probe let go of its lease");
                    }
                    steps[i] = Step::Idle;
                }
            }
            Op::Crash(i) => steps[i] = Step::Idle,
            Op::Tick(ms) => now += ms,
        }
        prop_assert!(
            live_probes(&steps, now) <= 1,
            "two live probes: {:?}",
            steps
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn the_circuit_admits_one_probe_at_a_time(ops in prop::collection::vec(op(), 1..200)) {
        run(&ops)?;
    }
}

/// The scenario in words: failures open the circuit; after the cool-down four steps arrive at
/// once, one probes and three wait without a call; the probe's success closes the circuit and
/// the three go ahead.
#[test]
fn after_the_cool_down_one_probe_then_everyone() {
    let mut row = Row::default();
    let now = 1_000_000;
    for i in 0..2 {
        row.count_call(now);
        row.record(i, after_call(ResponseClass::Retryable, None, false), now);
    }
    assert!(matches!(row.health().circuit(now), Circuit::Open { .. }));
    let later = now + LIMITS.cool_down_ms;
    let seen: Vec<Health> = (0..4).map(|_| row.count_call(later)).collect();
    let decisions: Vec<Gate> = seen.iter().map(|h| gate(LIMITS, *h, later)).collect();
    // The budget (3 per second) lets three ask; all three are told to probe…
    assert_eq!(
        decisions
            .iter()
            .filter(|g| matches!(g, Gate::Probe { .. }))
            .count(),
        3
    );
    // …and exactly one compare-and-set wins.
    let won: Vec<usize> = (0..3)
        .filter(|&i| row.take_probe(i, seen[i], later + LIMITS.probe_lease_ms))
        .collect();
    assert_eq!(won, vec![0]);
    assert!(matches!(
        gate(LIMITS, row.count_call(later + 1_500), later + 1_500),
        Gate::Wait(w) if w.reason == "circuit_half_open"
    ));
    row.record(
        0,
        after_call(ResponseClass::Success, Some(200), true),
        later + 1_600,
    );
    assert_eq!(
        gate(LIMITS, row.count_call(later + 1_700), later + 1_700),
        Gate::Proceed
    );
}
