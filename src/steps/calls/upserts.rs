//! The HubSpot upsert window of one invocation: steps whose call is a HubSpot contact upsert,
//! once claimed and cleared, join it with their input instead of calling. The first to join
//! leads: it waits until every such step of the invocation that has started ([`expect`]) has
//! joined or ended, then sends what joined as batch upserts, one call after another in the core's
//! plan (`hubspot_batch::plan_calls`: at most 100 inputs, no contact twice, older events first).
//! Each call is counted once in HubSpot's budget: the window's first step to claim counts it in
//! its own claim ([`UpsertWindow::take_charge`]; the others' claims only read the counters), and
//! a call no claim counted (a second call of the window, or one whose counting step did not
//! join) is counted just before it goes out (one D1 statement, through the shared
//! `BatchWindow`); a call the budget or the circuit holds back then gives every step's claim
//! back with the wait, uncharged. The answer is split by the core
//! (`hubspot_batch::read_answer`), and each step records its share as its own attempt; the
//! first input the call answered alone reports the call to the circuit (in the name that took
//! the probe), so the circuit sees one outcome per call, and a probe whose call answered nobody
//! is released at once. The calls follow `hubspot_sequence::CallSequence`: inputs of a 400 that
//! names none are sent again one by one, and a later input of a contact whose earlier input was
//! not settled (retried, handed back) is handed back uncharged rather than overtaking it, behind
//! the input of its contact just before it: its give-back records that step (`after_step`), and
//! it runs again only once that one has ended (the core's `steps::behind`), whichever invocation
//! either lands in. A step that joins after the leader has sent starts the next window.
//!
//! [`expect`]: UpsertWindow::expect

use std::cell::{Cell, RefCell};

use edgehooks_handlers::downstream::hubspot_batch::{
    call_body, read_answer, InputAnswer, UpsertInput, MAX_INPUTS_PER_CALL,
};
use edgehooks_handlers::downstream::hubspot_sequence::{
    reporter, CallSequence, AFTER_UNSETTLED_INPUT,
};
use edgehooks_handlers::downstream::HttpRequestSpec;
use edgehooks_handlers::step_kind::Destination;
use edgehooks_handlers::steps::lifecycle::classify_response;
use edgehooks_handlers::steps::limits::{
    gate, probe_taken, Gate, Health, HealthChange, Limits, Wait,
};
use edgehooks_handlers::steps::retry::ResponseClass;
use futures_channel::oneshot;

use super::Slots;
use crate::clock::now_ms;
use crate::db;
use crate::db::batch_window::BatchWindow;
use crate::downstream::{self, CallOutcome};
use crate::log;

/// How long a step whose call HubSpot refused for another input waits before it is sent again.
const AGAIN_AFTER_OTHERS_SECS: u64 = 1;

/// A step's upsert as it joins the window.
pub struct Join<'a> {
    pub input: UpsertInput,
    /// The step's own planned request: the call's URL and headers are the first input's.
    pub spec: &'a HttpRequestSpec,
    /// When the step's event happened: older events' inputs go first.
    pub occurred_at_ms: Option<i64>,
    pub limits: Limits,
    pub timeout_ms: u64,
    /// Its claim counted a call in HubSpot's budget, and the gate let it through: the window's
    /// first call needs no count of its own.
    pub charged: bool,
}

/// What a step that joined got.
pub enum Joined {
    /// Its call went out: its share of the answer.
    Answered(Share),
    /// It makes no call now: its claim is given back for this wait (not charged).
    Wait(Wait),
    /// It makes no call now because an earlier input of its contact, step `ahead`, was not
    /// settled: its claim is given back for `wait` (not charged), and it stays behind that step
    /// until that one has ended (the core's `steps::behind`).
    Behind { wait: Wait, ahead: String },
}

/// One step's share of a batch call.
pub struct Share {
    /// The answer as far as this step's input goes.
    pub outcome: CallOutcome,
    /// The call was the half-open circuit's probe.
    pub probing: bool,
    /// The whole call, for the one step that reports it to the circuit.
    pub reports: Option<CallReport>,
}

/// A batch call as one step reports it to the destination's circuit.
pub struct CallReport {
    pub class: ResponseClass,
    pub status: Option<u16>,
    /// The step the circuit knows the call by: the one whose name took the probe, if any.
    pub probe_step: String,
}

struct Joiner {
    input: UpsertInput,
    url: String,
    headers: Vec<(String, String)>,
    occurred_at_ms: Option<i64>,
    limits: Limits,
    timeout_ms: u64,
    charged: bool,
    reply: oneshot::Sender<Joined>,
}

/// The window (see the module doc).
#[derive(Default)]
pub struct UpsertWindow {
    joined: RefCell<Vec<Joiner>>,
    /// Started steps that may still join (a list: at most a batch's messages).
    expected: RefCell<Vec<String>>,
    /// Wakes the leader once nobody is expected.
    ready: RefCell<Option<oneshot::Sender<()>>>,
    /// A step of this window has been asked to count its call in its claim.
    charge_taken: Cell<bool>,
}

/// A step the window waits for until it joins or this guard is dropped.
pub struct Expecting<'w> {
    window: &'w UpsertWindow,
    step_id: String,
}

impl Drop for Expecting<'_> {
    fn drop(&mut self) {
        self.window.forget(&self.step_id);
        self.window.wake_if_all_joined();
    }
}

impl UpsertWindow {
    /// Count step `step_id` (a HubSpot contact upsert that has started) as one the window waits
    /// for, until it joins or the guard is dropped.
    pub fn expect(&self, step_id: &str) -> Expecting<'_> {
        self.expected.borrow_mut().push(step_id.to_string());
        Expecting {
            window: self,
            step_id: step_id.to_string(),
        }
    }

    /// Whether the caller, about to claim, is the window's first: its claim then counts the
    /// batch call in HubSpot's budget (and the window's first call is not counted again); the
    /// others' claims only read the counters. One charge per window: a window that sends more
    /// than one call, or whose charged step never joins, counts the rest as they go out.
    pub fn take_charge(&self) -> bool {
        !self.charge_taken.replace(true)
    }

    /// Stop waiting for one start of step `step_id`.
    fn forget(&self, step_id: &str) {
        let mut expected = self.expected.borrow_mut();
        if let Some(at) = expected.iter().position(|id| id == step_id) {
            expected.swap_remove(at);
        }
    }

    fn wake_if_all_joined(&self) {
        if self.expected.borrow().is_empty() {
            if let Some(wake) = self.ready.borrow_mut().take() {
                let _ = wake.send(());
            }
        }
    }

    /// Join the window with a claimed, cleared step's upsert and wait for its share.
    pub async fn join(&self, db: &BatchWindow<'_>, slots: &Slots, join: Join<'_>) -> Joined {
        let (reply, answer) = oneshot::channel();
        let step_id = join.input.trace.clone();
        let leads = {
            let mut joined = self.joined.borrow_mut();
            // Kept in the order the events happened, equals by step id (as entity turns order
            // them): the calls are planned in this order, and an input handed back is behind
            // one before it in it, so the same inputs are in the same order in every window.
            let ours = order_key(join.occurred_at_ms, &join.input.trace);
            let place = joined
                .iter()
                .position(|j| order_key(j.occurred_at_ms, &j.input.trace) > ours)
                .unwrap_or(joined.len());
            joined.insert(
                place,
                Joiner {
                    input: join.input,
                    url: join.spec.url.clone(),
                    headers: join.spec.headers.clone(),
                    occurred_at_ms: join.occurred_at_ms,
                    limits: join.limits,
                    timeout_ms: join.timeout_ms,
                    charged: join.charged,
                    reply,
                },
            );
            joined.len() == 1
        };
        self.forget(&step_id);
        // The leader sends for everyone who joined, so it is never cancelled in between: steps
        // run to completion under the consumer's stream.
        if leads {
            if !self.expected.borrow().is_empty() {
                let (wake, woken) = oneshot::channel();
                *self.ready.borrow_mut() = Some(wake);
                let _ = woken.await;
            }
            self.flush(db, slots).await;
        } else {
            self.wake_if_all_joined();
        }
        answer.await.unwrap_or(Joined::Wait(Wait {
            secs: AGAIN_AFTER_OTHERS_SECS,
            reason: "hubspot_batch_dropped",
        }))
    }

    /// Send everything that joined, call by call in the core's sequence: an input to send
    /// alone goes next on its own, and an input after one of its contact that was not settled is
    /// handed back.
    async fn flush(&self, db: &BatchWindow<'_>, slots: &Slots) {
        let joiners = std::mem::take(&mut *self.joined.borrow_mut());
        self.charge_taken.set(false);
        let mut charged = joiners.iter().any(|j| j.charged);
        let contacts: Vec<&str> = joiners.iter().map(|j| j.input.contact.as_str()).collect();
        let mut sequence = CallSequence::new(&contacts, MAX_INPUTS_PER_CALL);
        let steps: Vec<String> = joiners.iter().map(|j| j.input.trace.clone()).collect();
        let mut waiting: Vec<Option<Joiner>> = joiners.into_iter().map(Some).collect();
        while let Some(call) = sequence.next_call() {
            for held in &call.held {
                let Some(joiner) = waiting.get_mut(held.index).and_then(Option::take) else {
                    continue;
                };
                let wait = Wait {
                    secs: AGAIN_AFTER_OTHERS_SECS,
                    reason: AFTER_UNSETTLED_INPUT,
                };
                let _ = joiner.reply.send(match steps.get(held.behind) {
                    Some(ahead) => Joined::Behind {
                        wait,
                        ahead: ahead.clone(),
                    },
                    None => Joined::Wait(wait),
                });
            }
            if call.send.is_empty() {
                continue;
            }
            let charged = std::mem::take(&mut charged);
            match send_call(db, slots, &mut waiting, &call.send, charged).await {
                Sent::Answered { answers, retried } => {
                    sequence.answered(&call.send, &answers, retried)
                }
                Sent::HandedBack => sequence.handed_back(&call.send),
            }
        }
    }
}

/// Where an input goes in the window's order: by its event's time (none: last), then step id.
fn order_key(occurred_at_ms: Option<i64>, step_id: &str) -> (i64, &str) {
    (occurred_at_ms.unwrap_or(i64::MAX), step_id)
}

/// What became of one batch call.
enum Sent {
    /// It went out: what each input got, and whether the call's own answer is retried.
    Answered {
        answers: Vec<InputAnswer>,
        retried: bool,
    },
    /// The budget or the circuit held it back: every input was handed back.
    HandedBack,
}

/// Count one call in HubSpot's budget and pass the circuit: whether it is the probe, or the wait
/// every input gets.
async fn clear_call(db: &BatchWindow<'_>, lead: &Joiner) -> Result<bool, Wait> {
    let name = Destination::HubSpot.name();
    let now = now_ms();
    let health = match count_call(db, name, lead.limits, now).await {
        Ok(health) => health,
        Err(e) => {
            log::error("d1_failed", &e.to_string());
            return Err(Wait {
                secs: 30,
                reason: "d1_failed",
            });
        }
    };
    match gate(lead.limits, health, now) {
        Gate::Proceed => Ok(false),
        Gate::Wait(wait) => Err(wait),
        Gate::Probe { lease_until_ms } => {
            match db::health::take_probe(db, name, &lead.input.trace, health, lease_until_ms).await
            {
                Ok(true) => Ok(true),
                Ok(false) => Err(probe_taken()),
                Err(e) => {
                    log::error("d1_failed", &e.to_string());
                    Err(probe_taken())
                }
            }
        }
    }
}

/// The call counted in `destination`'s budget, in the invocation's shared D1 batch.
async fn count_call(
    db: &BatchWindow<'_>,
    destination: &str,
    limits: Limits,
    now: i64,
) -> worker::Result<Health> {
    let statement = db::health::count_call_statement(db, destination, limits, now)?;
    let answers = db.shared_batch(vec![statement]).await?;
    match answers.first() {
        Some(answer) => db::health::counted_health(answer),
        None => Ok(Health::default()),
    }
}

/// One batch call of the inputs `send` (indexes into `waiting`, at least one): cleared (unless
/// a claim already `charged` it), made, and its answer shared out to each member, except those
/// to send again alone, which stay in `waiting`.
async fn send_call(
    db: &BatchWindow<'_>,
    slots: &Slots,
    waiting: &mut [Option<Joiner>],
    send: &[usize],
    charged: bool,
) -> Sent {
    let Some(lead) = send
        .first()
        .and_then(|&i| waiting.get(i))
        .and_then(Option::as_ref)
    else {
        return Sent::HandedBack;
    };
    let cleared = match charged {
        true => Ok(false),
        false => clear_call(db, lead).await,
    };
    let probing = match cleared {
        Ok(probing) => probing,
        Err(wait) => {
            for &index in send {
                if let Some(member) = waiting.get_mut(index).and_then(Option::take) {
                    let _ = member.reply.send(Joined::Wait(wait));
                }
            }
            return Sent::HandedBack;
        }
    };
    let probe_step = lead.input.trace.clone();
    let limits = lead.limits;
    let inputs: Vec<&UpsertInput> = send
        .iter()
        .filter_map(|&i| waiting.get(i).and_then(Option::as_ref))
        .map(|m| &m.input)
        .collect();
    let spec = HttpRequestSpec {
        method: "POST",
        url: lead.url.clone(),
        headers: lead.headers.clone(),
        body: call_body(&inputs),
    };
    let outcome = {
        let _slot = slots.take().await;
        downstream::call(&spec, lead.timeout_ms).await
    };
    let class = classify_response(outcome.status, outcome.unsendable);
    let answers = read_answer(outcome.status, outcome.readable_body(), &inputs);
    drop(inputs);
    let reports = reporter(&answers);
    if probing && reports.is_none() {
        release_probe(db, &probe_step, limits).await;
    }
    for (at, (&index, answer)) in send.iter().zip(&answers).enumerate() {
        let report = (reports == Some(at)).then(|| CallReport {
            class,
            status: outcome.status,
            probe_step: probe_step.clone(),
        });
        let share = |outcome| {
            Joined::Answered(Share {
                outcome,
                probing,
                reports: report,
            })
        };
        let joined = match answer.clone() {
            InputAnswer::Alone => continue,
            InputAnswer::Applied { body } => {
                share(CallOutcome::of_input(outcome.status, body, None))
            }
            InputAnswer::Failed { status, error } => {
                share(CallOutcome::of_input(status, None, Some(error)))
            }
            InputAnswer::NotAttempted { reason } => Joined::Wait(Wait {
                secs: AGAIN_AFTER_OTHERS_SECS,
                reason,
            }),
            InputAnswer::AsCall => share(outcome.clone()),
        };
        if let Some(member) = waiting.get_mut(index).and_then(Option::take) {
            let _ = member.reply.send(joined);
        }
    }
    Sent::Answered {
        answers,
        retried: class == ResponseClass::Retryable,
    }
}

/// Give up the half-open probe `probe_step` took for a call that answered none of its inputs
/// (each is handed back or sent again alone), so the next call may probe at once.
async fn release_probe(db: &BatchWindow<'_>, probe_step: &str, limits: Limits) {
    let name = Destination::HubSpot.name();
    let released = db::health::record_health(
        db,
        name,
        probe_step,
        HealthChange::ReleaseProbe,
        limits,
        now_ms(),
    );
    let result = match released {
        Ok(Some(statement)) => db.shared_batch(vec![statement]).await.map(drop),
        Ok(None) => Ok(()),
        Err(e) => Err(e),
    };
    if let Err(e) = result {
        // The probe lease still runs out on its own.
        log::error("d1_failed", &e.to_string());
    }
}
