//! Retention's statements, beside the rules they carry out (`sql_tests` runs them against the
//! migrations): one deletion batch is [`deletion_batch`] as one D1 transaction; the purge,
//! tombstone expiry, rejection counts and exports are one statement each, run on their own.
//!
//! A deletion batch's statements each select the same events: received before `?1`, every step
//! finished for good, oldest first by `(received_at, rowid)` (the order of the
//! `events_received` index, so no sort), at most `?2`. Within the transaction nothing else
//! writes, and deleting attempts and finished steps leaves each chosen event chosen, so the
//! tombstones written are exactly those of the events deleted, and a step redriven before the
//! batch keeps its event whole.

use super::done_statuses_sql;
use super::tombstones::window_sql;
use crate::steps::lifecycle::EventStatus;

/// No step of `event` (an SQL expression for an event id) is outside the finished statuses.
fn all_steps_done(event: &str) -> String {
    format!(
        "NOT EXISTS (SELECT 1 FROM steps k WHERE k.event_id = {event} AND k.status NOT IN {})",
        done_statuses_sql()
    )
}

/// The ids of the events one batch deletes: `?1` cutoff (Unix ms), `?2` how many at most.
fn batch_selection() -> String {
    format!(
        "SELECT e.id FROM events e WHERE e.received_at < ?1 AND {} \
         ORDER BY e.received_at, e.rowid LIMIT ?2",
        all_steps_done("e.id")
    )
}

/// Tombstones for the batch's accepted events whose window (their provider's, or the content
/// key's) has not passed by `?3` (now):
/// provider, keys, first receipt and expiry. A tombstone already there for the key is kept when
/// it lasts longer, and otherwise takes this event's: one left by an earlier event of the same
/// key that expired but was not swept yet (which is why this event could be stored again) must
/// not cut this event's window short.
pub fn remember_deleted() -> String {
    let window = window_sql("provider", "content_key");
    format!(
        "INSERT INTO dedupe_tombstones (provider, dedupe_key, content_key, received_at, expires_at) \
         SELECT provider, dedupe_key, content_key, received_at, received_at + {window} \
         FROM events WHERE id IN ({}) AND status = {} AND received_at + {window} > ?3 \
         ON CONFLICT (provider, dedupe_key) DO UPDATE SET content_key = excluded.content_key, \
           received_at = excluded.received_at, expires_at = excluded.expires_at \
         WHERE excluded.expires_at > dedupe_tombstones.expires_at",
        batch_selection(),
        EventStatus::Accepted.sql_lit()
    )
}

/// The attempts of the batch's steps.
pub fn delete_attempts() -> String {
    format!(
        "DELETE FROM attempts WHERE step_id IN \
         (SELECT s.id FROM steps s WHERE s.event_id IN ({}))",
        batch_selection()
    )
}

/// The batch's steps (all finished for good).
pub fn delete_steps() -> String {
    format!(
        "DELETE FROM steps WHERE event_id IN ({})",
        batch_selection()
    )
}

/// The batch's events.
pub fn delete_events() -> String {
    format!("DELETE FROM events WHERE id IN ({})", batch_selection())
}

/// One deletion batch, in its order (one transaction): tombstones (`?1` cutoff, `?2` limit,
/// `?3` now), then attempts, steps and events (`?1`, `?2`). Each statement's changes are what
/// it wrote or deleted.
pub fn deletion_batch() -> [String; 4] {
    [
        remember_deleted(),
        delete_attempts(),
        delete_steps(),
        delete_events(),
    ]
}

/// Drop the payloads of at most `?2` events received before `?1` whose steps are all finished
/// (a backlog the deletion has not reached yet), oldest first, at `?3` (now). Never the payload
/// of an event with a step waiting, running or `dead`: a redrive or replay still needs it.
pub fn purge_payloads() -> String {
    format!(
        "UPDATE events SET payload = NULL, headers = NULL, redacted_at = ?3 WHERE id IN \
         (SELECT e.id FROM events e WHERE e.received_at < ?1 AND e.payload IS NOT NULL AND {} \
          ORDER BY e.received_at, e.rowid LIMIT ?2)",
        all_steps_done("e.id")
    )
}

/// Delete at most `?2` tombstones that expired at or before `?1` (now).
pub const EXPIRE_TOMBSTONES: &str = "DELETE FROM dedupe_tombstones \
     WHERE (provider, dedupe_key) IN (SELECT provider, dedupe_key FROM dedupe_tombstones \
     WHERE expires_at <= ?1 ORDER BY expires_at LIMIT ?2)";

/// Drop hourly rejection counts older than `?1` (Unix seconds at an hour's start).
pub const DELETE_OLD_REJECTIONS: &str = "DELETE FROM rejections WHERE hour < ?1";

/// Drop data-request exports whose expiry passed by `?1` (now); the request's record stays.
pub const EXPIRE_EXPORTS: &str = "UPDATE privacy_requests SET export = NULL \
     WHERE export IS NOT NULL AND export_expires_at IS NOT NULL AND export_expires_at <= ?1";

/// What the storage report counts: events and live or expired tombstones stored.
pub const STORED_COUNTS: &str = "SELECT (SELECT COUNT(*) FROM events) AS events, \
     (SELECT COUNT(*) FROM dedupe_tombstones) AS tombstones";

/// The cheapest statement whose answer carries D1's `meta.size_after` (the alert pass's
/// measure): it reads no table.
pub const SIZE_PROBE: &str = "SELECT 1 AS one";
