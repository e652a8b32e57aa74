//! How long a step may hold its claim or sit unsent before the sweeper steps in: the running lease
//! and the pending grace. The shell's claims, consumer and sweeper read them from here, and the
//! consumer's call timeout must fit inside the lease (see [`super::recovery::record_retries_fit`]).

/// How long a `running` claim is honoured before its attempt counts as lost (its consumer died
/// mid-attempt, or the call never came back): the sweeper sends the step again, or ends it
/// `dead` (`attempt_lost`) when that was its last attempt; the dead-letter consumer may end it.
pub const RUNNING_LEASE_MS: i64 = 15 * 60_000;

/// How long a step may stay `pending` (planned, its queue send not yet recorded) before the
/// sweeper counts the send as failed and sends it again.
pub const PENDING_GRACE_MS: i64 = 60_000;
