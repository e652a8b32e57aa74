//! Carrying out one step: load it with its event, plan it in the core, skip it when its event is
//! older than what was already applied to the same entity, respect the destination's budget and
//! circuit (delaying, not charging an attempt), claim it, do the work (an HTTP call or a D1
//! change), and record the attempt with the step's new state and the state its success writes,
//! in one D1 transaction.

use edgehooks_handlers::downstream::{
    contact_change, entity_key,
    mapping::{link_from_upsert, upserted_contact_id},
    plan, BuildError, DownstreamSettings, LocalAction, StepAction, StepInput,
};
use edgehooks_handlers::limits::{gate, limits_for, Gate};
use edgehooks_handlers::retry::{classify_status, parse_retry_after, Decision, ResponseClass};
use edgehooks_handlers::routes::StepKind;
use edgehooks_handlers::webhook::Provider;
use worker::{D1Database, D1PreparedStatement, Date};

use crate::config::ConsumerSettings;
use crate::db::{self, AttemptRecord, StepRow};
use crate::{downstream, log};

/// What to tell Queues about the message.
pub enum Ack {
    Ack,
    RetryIn(u64),
}

fn now_ms() -> i64 {
    Date::now().as_millis() as i64
}

/// A D1 failure mid-step: the message comes back later (the claim, if taken, is recovered by
/// the sweeper after its lease).
fn storage_failed(e: worker::Error) -> Ack {
    log::error("d1_failed", &e.to_string());
    Ack::RetryIn(30)
}

/// End the step without a call, in `status` with `note`, and ack.
async fn finish(db: &D1Database, step: &log::StepFields<'_>, status: &str, note: &str) -> Ack {
    match db::finish_without_call(db, step.step_id, status, note, now_ms()).await {
        Ok(changed) => {
            log::step(step, status, None, note, 0, changed);
            Ack::Ack
        }
        Err(e) => storage_failed(e),
    }
}

pub async fn run(
    db: &D1Database,
    step_id: &str,
    settings: &ConsumerSettings,
    downstream: &DownstreamSettings,
) -> Ack {
    let row = match db::load_step(db, step_id).await {
        Ok(Some(row)) => row,
        Ok(None) => {
            log::error("unknown_step", step_id);
            return Ack::Ack;
        }
        Err(e) => return storage_failed(e),
    };
    if !matches!(row.status.as_str(), "pending" | "enqueued") {
        // Finished (at-least-once delivery sent it again) or running under another message.
        return Ack::Ack;
    }
    let kind = StepKind::from_name(&row.name);
    let fields = log::StepFields {
        step_id,
        name: Some(&row.name),
        destination: kind.map(|k| k.destination().name()),
        provider: Some(&row.provider),
        event_type: Some(&row.event_type),
    };
    let Some(kind) = kind else {
        return finish(db, &fields, "dead", "unknown_step").await;
    };
    let (Some(provider), Some(payload)) =
        (Provider::from_slug(&row.provider), row.payload.as_deref())
    else {
        return finish(db, &fields, "dead", "payload_unavailable").await;
    };
    // stripe.update_customer needs the Stripe customer linked to the HubSpot contact.
    let link = if kind == StepKind::StripeUpdateCustomer {
        match contact_change(payload) {
            Ok(change) => match db::contact_link(db, &change.contact_id).await {
                Ok(link) => link,
                Err(e) => return storage_failed(e),
            },
            Err(_) => None,
        }
    } else {
        None
    };
    let input = StepInput {
        step_id,
        provider,
        event_type: &row.event_type,
        payload,
        occurred_at_ms: row.occurred_at,
        account: row.account.as_deref(),
        link: link.as_ref(),
    };
    let action = match plan(kind, &input, downstream) {
        Ok(action) => action,
        Err(e) => {
            if let BuildError::DestinationDisabled(d) = &e {
                log::error(
                    "destination_disabled",
                    &format!("{} has no token or URL configured", d.name()),
                );
            }
            return finish(db, &fields, "dead", &e.code()).await;
        }
    };
    let entity = entity_key(kind, &input).zip(row.occurred_at);
    if let Some((entity, occurred_at)) = &entity {
        match db::applied_version(db, entity, kind.name()).await {
            Ok(Some(applied)) if applied > *occurred_at => {
                return finish(db, &fields, "skipped_stale", "older_than_applied").await;
            }
            Ok(_) => {}
            Err(e) => return storage_failed(e),
        }
    }
    let work = Work {
        db,
        step_id,
        fields,
        kind,
        row: &row,
        input: &input,
        entity: entity.as_ref(),
    };
    match action {
        // A deliberate no-op (e.g. our own HubSpot write echoing back): done, with the reason.
        StepAction::Skip(reason) => finish(db, &fields, "succeeded", reason.code()).await,
        StepAction::Local(action) => work.local(&action, settings).await,
        StepAction::Http(spec) => work.http(&spec, settings).await,
    }
}

/// One step's execution context.
struct Work<'a> {
    db: &'a D1Database,
    step_id: &'a str,
    fields: log::StepFields<'a>,
    kind: StepKind,
    row: &'a StepRow,
    input: &'a StepInput<'a>,
    entity: Option<&'a (String, i64)>,
}

impl Work<'_> {
    async fn claim(&self, now: i64) -> Result<Option<i64>, Ack> {
        db::claim_step(self.db, self.step_id, now)
            .await
            .map_err(storage_failed)
    }

    fn version_statement(&self) -> worker::Result<Option<D1PreparedStatement>> {
        self.entity
            .map(|(entity, occurred_at)| {
                db::record_version(
                    self.db,
                    entity,
                    self.kind.name(),
                    *occurred_at,
                    &self.row.event_id,
                )
            })
            .transpose()
    }

    async fn local(&self, action: &LocalAction, settings: &ConsumerSettings) -> Ack {
        let started = now_ms();
        let attempt = match self.claim(started).await {
            Ok(Some(n)) => n,
            Ok(None) => return Ack::Ack,
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
                Ack::RetryIn(delay_secs),
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

    async fn http(
        &self,
        spec: &edgehooks_handlers::downstream::HttpRequestSpec,
        settings: &ConsumerSettings,
    ) -> Ack {
        let destination = self.kind.destination();
        let limits = limits_for(destination);
        let now = now_ms();
        let health = match db::count_call(self.db, destination.name(), limits.window_ms, now).await
        {
            Ok(health) => health,
            Err(e) => return storage_failed(e),
        };
        if let Gate::Wait { secs, reason } = gate(limits, health, now) {
            if let Err(e) =
                db::defer(self.db, self.step_id, reason, now + secs as i64 * 1000, now).await
            {
                return storage_failed(e);
            }
            log::step(&self.fields, "deferred", None, reason, 0, true);
            return Ack::RetryIn(secs);
        }
        let started = now_ms();
        let attempt = match self.claim(started).await {
            Ok(Some(n)) => n,
            Ok(None) => return Ack::Ack,
            Err(ack) => return ack,
        };
        let outcome = downstream::call(spec, settings.timeout_ms)
            .await
            .explained(self.kind);
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
        let attempts_made = u32::try_from(attempt).unwrap_or(u32::MAX);
        let decision =
            settings
                .policy
                .decide(class, attempts_made, retry_after, js_sys::Math::random());
        let (step_status, next_attempt_at, ack) = match decision {
            Decision::Succeeded => ("succeeded", None, Ack::Ack),
            Decision::Dead => ("dead", None, Ack::Ack),
            Decision::RetryAfter { delay_secs } => (
                "enqueued",
                Some(finished + (delay_secs as i64) * 1000),
                Ack::RetryIn(delay_secs),
            ),
        };
        let record = AttemptRecord {
            step_id: self.step_id,
            n: attempt,
            started_at_ms: started,
            duration_ms: finished - started,
            http_status: outcome.status,
            error: outcome.error.as_deref(),
            step_status,
            next_attempt_at_ms: next_attempt_at,
        };
        let result = async {
            let mut statements = db::attempt_statements(self.db, &record, finished)?;
            // A permanent 4xx says the request was wrong, not that the destination is down.
            if class != ResponseClass::Permanent {
                let success = class == ResponseClass::Success;
                statements.push(db::record_health(
                    self.db,
                    destination.name(),
                    success,
                    limits,
                    finished,
                )?);
            }
            if decision == Decision::Succeeded {
                statements.extend(self.version_statement()?);
                statements.extend(self.success_state(outcome.body.as_deref(), finished)?);
            }
            self.db.batch(statements).await
        }
        .await;
        if let Err(e) = result {
            // The call happened but is not recorded; the step stays `running` and the sweeper
            // re-enqueues it after its lease. Idempotency keys absorb the repeat.
            log::error("d1_write_failed", &e.to_string());
        }
        log::step(
            &self.fields,
            step_status,
            outcome.status,
            outcome.error.as_deref().unwrap_or(""),
            finished - started,
            true,
        );
        ack
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
