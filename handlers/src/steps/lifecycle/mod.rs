//! The step lifecycle, the state machine every step goes through: its statuses and the sets of
//! them each rule needs ([`status`]), how an attempt ends and what it does to the step and its
//! message ([`transition`]), what a success writes besides ([`effects`]), which events a step INSERT may add steps to
//! ([`planned`]), what replay does by status ([`replay`]) and what a redrive requeues ([`redrive`]), and the SQL that takes, defers and ends steps atomically ([`claim`];
//! recovery and dead letters are in [`crate::steps::recovery`]). The shell binds and runs the SQL
//! text as it is; `sql_tests` runs the same text against the migrations in SQLite and checks it
//! against the rules here.

pub mod claim;
pub mod effects;
pub mod planned;
pub mod redrive;
pub mod replay;
pub mod status;
pub mod transition;

#[cfg(test)]
pub(crate) mod sql_tests;

pub use effects::SuccessEffect;
pub use planned::PlannedBy;
pub use replay::ReplayAction;
pub use status::{
    sql_in, sql_lit, EventStatus, StepStatus, CLAIMABLE, DEAD_LETTERS, FINISHED, RECOVERABLE,
    REDRIVABLE, REPLAY_RUNS, SUPERSEDING, TERMINAL,
};
pub use transition::{
    after_attempt, attempt_outcome, attempts_made, classify_response, recorded_outcome, AttemptFor,
    MessageAction, Transition, PROBE, RESOLVED, RETRY,
};

/// Every status name, in [`StepStatus::ALL`]'s order (admin filters and counts).
pub const STEP_STATUS_NAMES: [&str; 7] = status_names();

const fn status_names() -> [&'static str; 7] {
    let mut out = [""; 7];
    let mut i = 0;
    while i < out.len() {
        out[i] = StepStatus::ALL[i].as_str();
        i += 1;
    }
    out
}
