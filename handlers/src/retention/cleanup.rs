//! The cleanups of one retention sweep, each on its own: deleting events past retention (with
//! their tombstones), dropping payloads of a backlog, expiring tombstones, dropping old
//! rejection counts, expiring data-request exports and expiring admin audit rows. [`run_each`] runs every one of them
//! whatever the others did, so a failing statement (or a broken `RETENTION_DAYS`, which only
//! the cleanups that need the cutoff depend on) never leaves exports unexpired or tombstones
//! piling up; the [`Report`] says what each did or why it failed, for one log line.

use std::future::Future;

use serde_json::{json, Map, Value};

/// One cleanup of a retention sweep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cleanup {
    /// Events past retention with their steps and attempts (tombstones left behind).
    DeleteEvents,
    /// Payloads of events past retention the deletion has not reached yet.
    PurgePayloads,
    /// Tombstones past their window.
    ExpireTombstones,
    /// Hourly rejection counts older than retention.
    DropRejectionCounts,
    /// Data-request exports past their expiry.
    ExpireExports,
    /// Admin audit rows past their expiry (`AUDIT_RETENTION_DAYS` when written).
    ExpireAudit,
}

impl Cleanup {
    /// Every cleanup, in the order a sweep runs them.
    pub const ALL: [Cleanup; 6] = [
        Cleanup::DeleteEvents,
        Cleanup::PurgePayloads,
        Cleanup::ExpireTombstones,
        Cleanup::DropRejectionCounts,
        Cleanup::ExpireExports,
        Cleanup::ExpireAudit,
    ];

    /// Its field in the `retention` log line (how many rows it changed).
    pub fn name(self) -> &'static str {
        match self {
            Cleanup::DeleteEvents => "deleted_events",
            Cleanup::PurgePayloads => "purged_payloads",
            Cleanup::ExpireTombstones => "expired_tombstones",
            Cleanup::DropRejectionCounts => "dropped_rejection_counts",
            Cleanup::ExpireExports => "expired_exports",
            Cleanup::ExpireAudit => "expired_audit_rows",
        }
    }

    /// Whether it needs the retention cutoff (and so `RETENTION_DAYS`); the others run at
    /// fixed expiry times stored in their rows.
    pub fn needs_cutoff(self) -> bool {
        matches!(
            self,
            Cleanup::DeleteEvents | Cleanup::PurgePayloads | Cleanup::DropRejectionCounts
        )
    }
}

/// What each cleanup of a sweep did: the rows it changed, or why it failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub outcomes: Vec<(Cleanup, Result<u64, String>)>,
}

impl Report {
    /// The cleanups that failed, with their errors.
    pub fn failures(&self) -> impl Iterator<Item = (Cleanup, &str)> {
        self.outcomes
            .iter()
            .filter_map(|(c, r)| r.as_ref().err().map(|e| (*c, e.as_str())))
    }

    /// Whether any cleanup changed a row.
    pub fn changed_anything(&self) -> bool {
        self.outcomes
            .iter()
            .any(|(_, r)| matches!(r, Ok(n) if *n > 0))
    }

    /// The log line's fields: each cleanup's count, and `failed` naming those that failed.
    pub fn fields(&self) -> Value {
        let mut fields = Map::new();
        for (cleanup, outcome) in &self.outcomes {
            if let Ok(n) = outcome {
                fields.insert(cleanup.name().into(), json!(n));
            }
        }
        let failed: Vec<&str> = self.failures().map(|(c, _)| c.name()).collect();
        if !failed.is_empty() {
            fields.insert("failed".into(), json!(failed));
        }
        Value::Object(fields)
    }
}

/// Run every cleanup through `run`, one after the other, whatever the previous ones gave.
pub async fn run_each<F, Fut>(mut run: F) -> Report
where
    F: FnMut(Cleanup) -> Fut,
    Fut: Future<Output = Result<u64, String>>,
{
    let mut outcomes = Vec::with_capacity(Cleanup::ALL.len());
    for cleanup in Cleanup::ALL {
        outcomes.push((cleanup, run(cleanup).await));
    }
    Report { outcomes }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    /// Poll a future that never waits (the test's `run` answers at once).
    fn now<T>(future: impl Future<Output = T>) -> T {
        let mut future = pin!(future);
        match future
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
        {
            Poll::Ready(value) => value,
            Poll::Pending => panic!("the test's cleanups never wait"),
        }
    }

    #[test]
    fn one_failing_cleanup_never_skips_the_others() {
        for failing in Cleanup::ALL {
            let mut ran = Vec::new();
            let report = now(run_each(|cleanup| {
                ran.push(cleanup);
                async move {
                    if cleanup == failing {
                        Err("D1_ERROR: no such table".to_string())
                    } else {
                        Ok(3)
                    }
                }
            }));
            assert_eq!(
                ran,
                Cleanup::ALL,
                "every cleanup ran when {failing:?} failed"
            );
            let failures: Vec<_> = report.failures().map(|(c, _)| c).collect();
            assert_eq!(failures, [failing]);
            let fields = report.fields();
            assert_eq!(fields["failed"], json!([failing.name()]));
            assert_eq!(fields.get(failing.name()), None);
            assert_eq!(
                fields["expired_exports"].as_u64().is_some(),
                failing != Cleanup::ExpireExports
            );
            assert!(report.changed_anything());
        }
    }

    #[test]
    fn only_the_cutoff_cleanups_need_retention_days() {
        let need: Vec<_> = Cleanup::ALL
            .into_iter()
            .filter(|c| c.needs_cutoff())
            .collect();
        assert_eq!(
            need,
            [
                Cleanup::DeleteEvents,
                Cleanup::PurgePayloads,
                Cleanup::DropRejectionCounts
            ]
        );
        let quiet = now(run_each(|_| async { Ok(0) }));
        assert!(!quiet.changed_anything());
        assert_eq!(quiet.fields().get("failed"), None);
    }
}
