//! One step's work once it is loaded and planned: claim the step (for a step that overwrites an
//! entity, only when it is its turn, decided in the same D1 transaction as the claim; a refused
//! claim ends the step `skipped_stale` or puts it off) and carry out a local step's D1 change,
//! recording the attempt with the step's new state in one transaction (a paged privacy request, a HubSpot
//! deletion or a Shopify redact or export, first runs one page of its own batch, and gives the claim back while pages remain). HTTP
//! attempts (a step's call or a customer lookup) are claimed by `gate` and made by `call`; the
//! attempt record and what a success writes are `record`'s.

use crate::db::batch_window::BatchWindow;
use crate::steps::calls::Calls;
use edgehooks_handlers::downstream::{turn, CallTiming, LocalAction, StepInput};
use edgehooks_handlers::privacy::{forget_contact, Progress};
use edgehooks_handlers::step_kind::StepKind;
use edgehooks_handlers::steps::lifecycle::{after_attempt, AttemptFor, MessageAction, StepStatus};
use edgehooks_handlers::steps::limits::Wait;
use edgehooks_handlers::steps::retry::ResponseClass;

use super::gate::give_back;
use super::{defer, not_its_turn, storage_failed, Ack};
use crate::clock::now_ms;
use crate::db;
use crate::db::attempts::AttemptRecord;
use crate::db::claims::Claim;
use crate::db::claims::EntityClaim;
use crate::db::claims::HeldClaim;
use crate::db::steps::StepRow;
use crate::log;
use edgehooks_handlers::consumer::ConsumerSettings;

/// One step's execution context.
pub(super) struct Work<'a> {
    pub(super) db: &'a BatchWindow<'a>,
    pub(super) calls: &'a Calls,
    pub(super) step_id: &'a str,
    pub(super) fields: log::StepFields<'a>,
    pub(super) kind: StepKind,
    pub(super) row: &'a StepRow,
    pub(super) input: &'a StepInput<'a>,
    pub(super) entity: Option<&'a EntityClaim<'a>>,
    pub(super) timing: CallTiming,
}

/// The message action the core decided, as an acknowledgement (a plan-again is only decided
/// for lookups, which `call` handles first).
pub(super) fn ack_for(message: MessageAction) -> Ack {
    match message {
        MessageAction::Resend(secs) => Ack::Resend(secs),
        MessageAction::Ack | MessageAction::PlanAgain => Ack::Ack,
    }
}

impl Work<'_> {
    /// Claim the step: the attempt number, or what to tell Queues instead ([`Work::refused`]).
    pub(super) async fn claim(&self, now: i64) -> Result<i64, Ack> {
        match db::claims::claim_step(self.db, self.step_id, self.entity, now).await {
            Ok(Claim::Claimed(n)) => Ok(n),
            Ok(refused) => Err(self.refused(refused).await),
            Err(e) => Err(storage_failed(e)),
        }
    }

    /// What to tell Queues when the claim was refused: finished or running elsewhere: ack;
    /// stale: `skipped_stale`; an older call for the entity in flight: delay.
    pub(super) async fn refused(&self, claim: Claim) -> Ack {
        let Claim::NotItsTurn(standing) = claim else {
            return Ack::Ack;
        };
        let now = now_ms();
        let occurred_at = self.entity.map_or(0, |e| e.occurred_at_ms);
        let verdict = turn(occurred_at, standing, now, self.timing);
        match not_its_turn(self.db, &self.fields, verdict).await {
            Some(ack) => ack,
            // The claim and its reasons are one transaction, so they agree; should they not,
            // look again shortly rather than call.
            None => {
                let wait = Wait {
                    secs: 1,
                    reason: "claim_contended",
                };
                defer(self.db, &self.fields, wait, now).await
            }
        }
    }

    pub(super) async fn local(&self, action: &LocalAction, settings: &ConsumerSettings) -> Ack {
        let started = now_ms();
        let attempt = match self.claim(started).await {
            Ok(n) => n,
            Err(ack) => return ack,
        };
        match self.page(action, started, settings).await {
            Ok(Progress::Done) => {}
            Ok(Progress::More) => return self.next_page(attempt, started).await,
            Err(e) => return self.local_failed(attempt, started, e, settings).await,
        }
        let mut statements = match db::local::local_action_statements(
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
            step_status: StepStatus::Succeeded,
            next_attempt_at_ms: None,
            outcome: None,
            charged: true,
        };
        let result = async {
            let at = statements.len();
            statements.extend(db::attempts::attempt_statements(
                self.db, &record, finished,
            )?);
            statements.extend(self.version_statement()?);
            db::rows::batch(self.db, statements)
                .await
                .map(|answers| db::attempts::recorded(&answers, at))
        }
        .await;
        match result {
            Ok(changed) => {
                let done = StepStatus::Succeeded.as_str();
                log::step(&self.fields, done, None, "", finished - started, changed);
                Ack::Ack
            }
            Err(e) => self.local_failed(attempt, started, e, settings).await,
        }
    }

    /// A paged privacy request's run (a HubSpot deletion's, a Shopify redact's or export's pass,
    /// one D1 batch) before the success batch: whether pages remain. Other actions have none.
    async fn page(
        &self,
        action: &LocalAction,
        started: i64,
        settings: &ConsumerSettings,
    ) -> worker::Result<Progress> {
        match action {
            LocalAction::ForgetContact { hubspot_contact_id } => {
                let request = forget_contact::Request {
                    event_id: &self.row.event_id,
                    topic: &self.row.event_type,
                    contact_id: hubspot_contact_id,
                    page: settings.privacy_page_events,
                    now_ms: started,
                };
                db::privacy::forget_contact_page(self.db, &request).await
            }
            LocalAction::Redact { .. } => match db::local::redact_request(
                action,
                &self.row.event_id,
                &self.row.event_type,
                started,
            ) {
                Some(request) => {
                    let page = settings.privacy_page_events;
                    db::privacy::shopify_redact_page(self.db, &request, page).await
                }
                None => Ok(Progress::Done),
            },
            LocalAction::Export { .. } => match db::local::export_request(
                action,
                &self.row.event_id,
                &self.row.event_type,
                started,
            ) {
                Some(request) => {
                    let page = settings.privacy_page_events;
                    db::privacy::shopify_export_page(self.db, &request, page).await
                }
                None => Ok(Progress::Done),
            },
            _ => Ok(Progress::Done),
        }
    }

    /// A privacy request has pages left: give the claim back (no attempt spent) and run the
    /// step again at once, from where this run stopped.
    async fn next_page(&self, attempt: i64, started: i64) -> Ack {
        let held = HeldClaim {
            attempt,
            claimed_at_ms: started,
        };
        let wait = Wait {
            secs: 0,
            reason: "privacy_next_page",
        };
        give_back(self.db, &self.fields, held, wait).await
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
        let next = after_attempt(decision, AttemptFor::Step, finished);
        let record = AttemptRecord {
            step_id: self.step_id,
            n: attempt,
            started_at_ms: started,
            duration_ms: finished - started,
            http_status: None,
            error: Some("d1_error"),
            step_status: next.status,
            next_attempt_at_ms: next.next_attempt_at_ms,
            outcome: None,
            charged: true,
        };
        let changed = match db::attempts::attempt_statements(self.db, &record, finished) {
            Ok(statements) => db::rows::batch(self.db, statements)
                .await
                .is_ok_and(|answers| db::attempts::recorded(&answers, 0)),
            Err(_) => false,
        };
        let status = next.status.as_str();
        log::step(
            &self.fields,
            status,
            None,
            "d1_error",
            finished - started,
            changed,
        );
        ack_for(next.message)
    }
}
