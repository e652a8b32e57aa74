//! One step's work once it is loaded, planned and not stale: pass the destination's gate (budget,
//! circuit, and the probe lease of a half-open circuit), claim the step (for a step that
//! overwrites an entity, only when it is its turn, decided in the same D1 transaction as the
//! claim), make the HTTP call or the D1 change, and record the attempt with the step's new state,
//! the destination's health and the state its success establishes, in one D1 transaction
//! (retried in place a few times if D1 fails, so an unrecorded success is not run again). A
//! customer lookup the planner asked for is such an HTTP attempt too (against the Stripe
//! destination's budget and circuit); its success stores the customer instead of finishing.

use std::time::Duration;

use edgehooks_handlers::downstream::{
    contact_change,
    customers::{explain_lookup_failure, from_lookup},
    mapping::{link_from_upsert, upserted_contact_id},
    turn, CallTiming, CustomerLookup, HttpRequestSpec, KnownCustomer, LocalAction, StepInput,
};
use edgehooks_handlers::limits::{
    after_call, charges_attempt, gate, limits_for, probe_taken, Gate, HealthChange, Limits, Wait,
};
use edgehooks_handlers::recovery::RECORD_RETRY_DELAYS_MS;
use edgehooks_handlers::retry::{classify_status, parse_retry_after, Decision, ResponseClass};
use edgehooks_handlers::routes::{Destination, StepKind};
use worker::{D1Database, D1PreparedStatement, Delay};

use super::{defer, not_its_turn, now_ms, storage_failed, Ack, Pass};
use crate::db::{self, AttemptRecord, Claim, EntityClaim, StepRow};
use crate::{downstream, log};
use edgehooks_handlers::config::ConsumerSettings;

/// One step's execution context.
pub(super) struct Work<'a> {
    pub(super) db: &'a D1Database,
    pub(super) step_id: &'a str,
    pub(super) fields: log::StepFields<'a>,
    pub(super) kind: StepKind,
    pub(super) row: &'a StepRow,
    pub(super) input: &'a StepInput<'a>,
    pub(super) entity: Option<&'a EntityClaim<'a>>,
    pub(super) timing: CallTiming,
}

impl Work<'_> {
    /// Claim the step: the attempt number, or what to tell Queues instead (finished or running
    /// elsewhere: ack; stale: `skipped_stale`; an older call for the entity in flight: delay).
    async fn claim(&self, now: i64) -> Result<i64, Ack> {
        match db::claim_step(self.db, self.step_id, self.entity, now).await {
            Ok(Claim::Claimed(n)) => Ok(n),
            Ok(Claim::NotClaimable) => Err(Ack::Ack),
            Ok(Claim::NotItsTurn(standing)) => {
                let occurred_at = self.entity.map_or(0, |e| e.occurred_at_ms);
                let verdict = turn(occurred_at, standing, now, self.timing);
                match not_its_turn(self.db, &self.fields, verdict).await {
                    Some(ack) => Err(ack),
                    // The claim and its reasons are one transaction, so they agree; should they
                    // not, look again shortly rather than call.
                    None => {
                        let wait = Wait {
                            secs: 1,
                            reason: "claim_contended",
                        };
                        Err(defer(self.db, &self.fields, wait, now).await)
                    }
                }
            }
            Err(e) => Err(storage_failed(e)),
        }
    }

    fn version_statement(&self) -> worker::Result<Option<D1PreparedStatement>> {
        self.entity
            .map(|e| db::record_version(self.db, e.entity, e.name, e.occurred_at_ms, e.event_id))
            .transpose()
    }

    /// Give up the probe lease this step took but will not use (its claim was refused).
    async fn release_probe(&self, destination: Destination, limits: Limits) {
        let destination = destination.name();
        let release = db::record_health(
            self.db,
            destination,
            self.step_id,
            HealthChange::ReleaseProbe,
            limits,
            now_ms(),
        );
        let result = match release {
            Ok(Some(statement)) => statement.run().await.map(|_| ()),
            Ok(None) => Ok(()),
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            // The lease runs out on its own.
            log::error("d1_write_failed", &e.to_string());
        }
    }

    pub(super) async fn local(&self, action: &LocalAction, settings: &ConsumerSettings) -> Ack {
        let started = now_ms();
        let attempt = match self.claim(started).await {
            Ok(n) => n,
            Err(ack) => return ack,
        };
        let mut statements = match db::local_action_statements(
            self.db,
            action,
            &self.row.event_id,
            &self.row.event_type,
            started,
        )
        .await
        {
            Ok(statements) => statements,
            Err(e) => return self.local_failed(attempt, started, e, settings).await,
        };
        let finished = now_ms();
        let record = AttemptRecord {
            step_id: self.step_id,
            n: attempt,
            started_at_ms: started,
            duration_ms: finished - started,
            http_status: None,
            error: None,
            step_status: "succeeded",
            next_attempt_at_ms: None,
            outcome: None,
        };
        let result = async {
            statements.extend(db::attempt_statements(self.db, &record, finished)?);
            statements.extend(self.version_statement()?);
            self.db.batch(statements).await
        }
        .await;
        match result {
            Ok(_) => {
                log::step(
                    &self.fields,
                    "succeeded",
                    None,
                    "",
                    finished - started,
                    true,
                );
                Ack::Ack
            }
            Err(e) => self.local_failed(attempt, started, e, settings).await,
        }
    }

    /// A local step's D1 work failed: record the attempt and retry like any retryable failure,
    /// `dead` after `MAX_ATTEMPTS` (a failure that never goes away must not retry forever).
    async fn local_failed(
        &self,
        attempt: i64,
        started: i64,
        e: worker::Error,
        settings: &ConsumerSettings,
    ) -> Ack {
        log::error("local_step_failed", &e.to_string());
        let finished = now_ms();
        let attempts_made = u32::try_from(attempt).unwrap_or(u32::MAX);
        let decision = settings.policy.decide(
            ResponseClass::Retryable,
            attempts_made,
            None,
            js_sys::Math::random(),
        );
        let (step_status, next_attempt_at, ack) = match decision {
            Decision::RetryAfter { delay_secs } => (
                "enqueued",
                Some(finished + (delay_secs as i64) * 1000),
                Ack::Resend(delay_secs),
            ),
            Decision::Succeeded | Decision::Dead => ("dead", None, Ack::Ack),
        };
        let record = AttemptRecord {
            step_id: self.step_id,
            n: attempt,
            started_at_ms: started,
            duration_ms: finished - started,
            http_status: None,
            error: Some("d1_error"),
            step_status,
            next_attempt_at_ms: next_attempt_at,
            outcome: None,
        };
        if let Ok(statements) = db::attempt_statements(self.db, &record, finished) {
            let _ = self.db.batch(statements).await;
        }
        log::step(
            &self.fields,
            step_status,
            None,
            "d1_error",
            finished - started,
            true,
        );
        ack
    }

    /// Pass the destination's gate, claim the step, make `call` and record it. A lookup that
    /// found its customer stores it and gives [`Pass::Again`]: the step is claimable again and
    /// is planned anew with the customer.
    pub(super) async fn http(&self, call: Call<'_>, settings: &ConsumerSettings) -> Pass {
        let (destination, spec) = match call {
            Call::Step(spec) => (self.kind.destination(), spec),
            Call::Lookup(lookup) => (Destination::Stripe, &lookup.request),
        };
        let limits = limits_for(destination)
            .with_call_timeout(settings.timeout_ms)
            .with_cool_down(settings.cool_down_ms);
        let now = now_ms();
        let health = match db::count_call(self.db, destination.name(), limits, now).await {
            Ok(health) => health,
            Err(e) => return Pass::Done(storage_failed(e)),
        };
        let probing = match gate(limits, health, now) {
            Gate::Proceed => false,
            Gate::Wait(wait) => return Pass::Done(defer(self.db, &self.fields, wait, now).await),
            Gate::Probe { lease_until_ms } => {
                let taken = db::take_probe(
                    self.db,
                    destination.name(),
                    self.step_id,
                    health,
                    lease_until_ms,
                );
                match taken.await {
                    Ok(true) => true,
                    Ok(false) => {
                        return Pass::Done(defer(self.db, &self.fields, probe_taken(), now).await)
                    }
                    Err(e) => return Pass::Done(storage_failed(e)),
                }
            }
        };
        let started = now_ms();
        let attempt = match self.claim(started).await {
            Ok(n) => n,
            Err(ack) => {
                if probing {
                    self.release_probe(destination, limits).await;
                }
                return Pass::Done(ack);
            }
        };
        let outcome = downstream::call(spec, settings.timeout_ms).await;
        let outcome = match call {
            Call::Step(_) => outcome.explained(self.kind),
            Call::Lookup(_) => outcome.explained_with(explain_lookup_failure),
        };
        let finished = now_ms();
        let class = match (outcome.status, outcome.unsendable) {
            (Some(status), _) => classify_status(status),
            (None, true) => ResponseClass::Permanent,
            (None, false) => ResponseClass::Retryable,
        };
        let retry_after = outcome
            .retry_after
            .as_deref()
            .and_then(|v| parse_retry_after(v, finished / 1000));
        // A failed half-open probe tested the destination for every waiting step: it is
        // recorded, but not charged to this step's MAX_ATTEMPTS.
        let charged = charges_attempt(class, probing);
        let attempts_made =
            u32::try_from(if charged { attempt } else { attempt - 1 }).unwrap_or(u32::MAX);
        let decision =
            settings
                .policy
                .decide(class, attempts_made, retry_after, js_sys::Math::random());
        let settled = settle(call, decision, outcome.body.as_deref(), finished);
        let error = settled.error.or(outcome.error.as_deref());
        let record = AttemptRecord {
            step_id: self.step_id,
            n: attempt,
            started_at_ms: started,
            duration_ms: finished - started,
            http_status: outcome.status,
            error,
            step_status: settled.step_status,
            next_attempt_at_ms: settled.next_attempt_at,
            outcome: settled.customer.as_ref().map(|_| RESOLVED),
        };
        let statements = || {
            let mut statements = db::attempt_statements(self.db, &record, finished)?;
            statements.extend(db::record_health(
                self.db,
                destination.name(),
                self.step_id,
                after_call(class, probing),
                limits,
                finished,
            )?);
            if let Some(customer) = &settled.customer {
                statements.push(db::save_customer(
                    self.db,
                    customer,
                    db::LOOKUP_SOURCE,
                    finished,
                    finished,
                )?);
            } else if decision == Decision::Succeeded {
                statements.extend(self.version_statement()?);
                statements.extend(self.success_state(outcome.body.as_deref(), finished)?);
            }
            if !charged {
                statements.extend(db::uncharge_probe(self.db, self.step_id, attempt)?);
            }
            Ok(statements)
        };
        let pass = match self.record_with_retries(statements).await {
            Ok(()) => settled.pass,
            Err(e) => {
                // The call happened but even the retries could not record it; the step stays
                // `running` and the sweeper counts the attempt as lost after its lease.
                log::error("d1_write_failed", &e.to_string());
                Pass::Done(Ack::Ack)
            }
        };
        let logged = record.outcome.unwrap_or(settled.step_status);
        log::step(
            &self.fields,
            logged,
            outcome.status,
            error.unwrap_or(""),
            finished - started,
            true,
        );
        pass
    }

    /// Run an attempt's record (`statements` builds it afresh for each try) as one D1 batch,
    /// retrying it in place after each of `RECORD_RETRY_DELAYS_MS` while it fails: the step is
    /// `running` under this invocation's claim, whose lease outlasts every retry, so nothing can
    /// run it again meanwhile (a second run of a SendGrid or Slack step is a second message).
    async fn record_with_retries(
        &self,
        statements: impl Fn() -> worker::Result<Vec<D1PreparedStatement>>,
    ) -> worker::Result<()> {
        let mut pauses = RECORD_RETRY_DELAYS_MS.iter();
        loop {
            let error = match statements() {
                Ok(list) => match self.db.batch(list).await {
                    Ok(_) => return Ok(()),
                    Err(e) => e,
                },
                Err(e) => return Err(e),
            };
            let Some(pause) = pauses.next() else {
                return Err(error);
            };
            log::record(
                "record_retry",
                serde_json::json!({ "step_id": self.step_id, "after_ms": pause, "error": error.to_string() }),
            );
            Delay::from(Duration::from_millis(*pause)).await;
        }
    }

    /// State a successful call establishes: the contact link learned from a HubSpot upsert of a
    /// Stripe customer, or the names a HubSpot change just wrote to Stripe.
    fn success_state(
        &self,
        body: Option<&str>,
        now: i64,
    ) -> worker::Result<Option<D1PreparedStatement>> {
        match self.kind {
            StepKind::HubSpotUpsertContact => {
                let contact = body.and_then(upserted_contact_id);
                match (contact, link_from_upsert(self.input)) {
                    (Some(contact), Some(link)) => {
                        db::save_contact_link(self.db, &contact, &link, now).map(Some)
                    }
                    _ => Ok(None),
                }
            }
            StepKind::StripeUpdateCustomer => {
                match (contact_change(self.input.payload), self.input.link) {
                    (Ok(change), Some(link)) => db::save_contact_link(
                        self.db,
                        &change.contact_id,
                        &change.applied_to(link),
                        now,
                    )
                    .map(Some),
                    _ => Ok(None),
                }
            }
            _ => Ok(None),
        }
    }
}

/// What an HTTP attempt of a step is for.
#[derive(Clone, Copy)]
pub(super) enum Call<'a> {
    /// The step's own request: a 2xx finishes it.
    Step(&'a HttpRequestSpec),
    /// A lookup of the Stripe customer the step is about (to the Stripe destination): a 2xx
    /// stores the customer and the step goes on.
    Lookup(&'a CustomerLookup),
}

/// The attempt outcome of a lookup that found its customer.
const RESOLVED: &str = "resolved";
/// The error of a lookup whose 2xx answer is not the customer asked for.
const LOOKUP_UNREADABLE: &str = "stripe_customer_unreadable";

/// The step's state after an attempt, and what follows.
struct Settled {
    step_status: &'static str,
    next_attempt_at: Option<i64>,
    pass: Pass,
    /// A lookup's customer, to store; the step is claimable again.
    customer: Option<KnownCustomer>,
    /// Replaces the call's own error.
    error: Option<&'static str>,
}

fn settle(call: Call<'_>, decision: Decision, body: Option<&str>, finished: i64) -> Settled {
    let ended = |step_status| Settled {
        step_status,
        next_attempt_at: None,
        pass: Pass::Done(Ack::Ack),
        customer: None,
        error: None,
    };
    match (decision, call) {
        (Decision::RetryAfter { delay_secs }, _) => Settled {
            next_attempt_at: Some(finished + (delay_secs as i64) * 1000),
            pass: Pass::Done(Ack::Resend(delay_secs)),
            ..ended("enqueued")
        },
        (Decision::Dead, _) => ended("dead"),
        (Decision::Succeeded, Call::Step(_)) => ended("succeeded"),
        (Decision::Succeeded, Call::Lookup(lookup)) => {
            match body.and_then(|b| from_lookup(&lookup.customer_id, b)) {
                Some(customer) => Settled {
                    pass: Pass::Again,
                    customer: Some(customer),
                    ..ended("enqueued")
                },
                None => Settled {
                    error: Some(LOOKUP_UNREADABLE),
                    ..ended("dead")
                },
            }
        }
    }
}
