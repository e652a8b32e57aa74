//! Recording an attempt: the statements that go in its one D1 batch (the attempt and the step's
//! new state, the destination's health, and what a success writes, as the core's
//! `edgehooks_handlers::steps::lifecycle::effects` decided it), and running that batch, retried in place
//! a few times if D1 fails so that an unrecorded success is not run again (a claim given back
//! uses the same retries).

use std::time::Duration;

use edgehooks_handlers::steps::lifecycle::SuccessEffect;
use edgehooks_handlers::steps::recovery::RECORD_RETRY_DELAYS_MS;
use worker::{D1PreparedStatement, Delay};

use super::work::Work;
use crate::db;
use crate::db::batch_window::BatchWindow;
use crate::db::rows::Answer;
use crate::log;

impl Work<'_> {
    /// The statement that records the entity version this step applied, if it has an entity.
    pub(super) fn version_statement(&self) -> worker::Result<Option<D1PreparedStatement>> {
        self.entity
            .map(|e| {
                db::versions::record_version(
                    self.db,
                    e.entity,
                    e.name,
                    e.occurred_at_ms,
                    e.event_id,
                )
            })
            .transpose()
    }

    /// The statement that writes `effect`.
    pub(super) fn effect_statement(
        &self,
        effect: &SuccessEffect,
        now: i64,
    ) -> worker::Result<D1PreparedStatement> {
        match effect {
            SuccessEffect::SaveContactLink { contact_id, link } => {
                db::links::save_contact_link(self.db, contact_id, link, now)
            }
            SuccessEffect::StoreCustomer(customer) => db::customers::save_customer(
                self.db,
                customer,
                db::customers::LOOKUP_SOURCE,
                now,
                now,
            ),
        }
    }

    /// Run an attempt's record (`statements` builds it afresh for each try) as one D1 batch,
    /// retrying it in place while it fails ([`batch_with_retries`]): the step is `running` under
    /// this invocation's claim, whose lease outlasts every retry, so nothing can run it again
    /// meanwhile (a second run of a SendGrid or Slack step is a second message).
    /// Answers whether the attempt's statements (first in `statements`) changed the step.
    pub(super) async fn record_with_retries(
        &self,
        statements: impl Fn() -> worker::Result<Vec<D1PreparedStatement>>,
    ) -> worker::Result<bool> {
        batch_with_retries(self.db, self.step_id, statements)
            .await
            .map(|answers| db::attempts::recorded(&answers, 0))
    }
}

/// Run `statements` (built afresh for each try) as one D1 batch about the claimed step
/// `step_id`, retrying it in place after each of `RECORD_RETRY_DELAYS_MS` while it fails: what
/// it writes must not be left to the sweeper, which only finds the step after its claim's lease.
pub(super) async fn batch_with_retries(
    db: &BatchWindow<'_>,
    step_id: &str,
    statements: impl Fn() -> worker::Result<Vec<D1PreparedStatement>>,
) -> worker::Result<Vec<Answer>> {
    let mut pauses = RECORD_RETRY_DELAYS_MS.iter();
    loop {
        let error = match statements() {
            Ok(list) => match db.shared_batch(list).await {
                Ok(results) => return Ok(results),
                Err(e) => e,
            },
            Err(e) => return Err(e),
        };
        let Some(pause) = pauses.next() else {
            return Err(error);
        };
        log::warn(
            "record_retry",
            serde_json::json!({ "step_id": step_id, "after_ms": pause, "error": error.to_string() }),
        );
        Delay::from(Duration::from_millis(*pause)).await;
    }
}
