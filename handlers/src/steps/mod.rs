//! A step's life, from plan to its end: [`routes`] (which steps an accepted event plans),
//! [`lifecycle`] (statuses and the sets each rule uses, claims, an attempt's end, success
//! effects, replay and redrive, with their SQL), [`retry`] (error classes and backoff),
//! [`limits`] (per-destination budgets and circuits), [`outbox_marks`] (ingest's `enqueued`
//! marks, gathered and written after the answer), [`recovery`] (waiting without spending
//! Queues retries, lost attempts, dead letters, attempt records retried in place),
//! [`timing`] (the running lease and the pending grace the shell's claims and sweeper use) and
//! [`behind`] (a step handed back behind an older one waits until that one has ended).

pub mod behind;
pub mod lifecycle;
pub mod limits;
pub mod outbox_marks;
pub mod recovery;
pub mod retry;
pub mod routes;
pub mod timing;
