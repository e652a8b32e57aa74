//! The SQL behind pausing and draining an `http` destination, beside the rule it keeps: a step
//! of a paused destination is parked (`enqueued`, reason `destination_paused`, no attempt
//! spent); on resume the parked steps are sent oldest first, and a step goes ahead only when no
//! older step of its destination is still parked or waiting its turn (`destination_draining`),
//! so a drain delivers in the order the events arrived. Native tests run the same text against
//! the migrations in SQLite.

use super::delivery::{DRAINING_REASON, PAUSED_REASON};
use crate::lifecycle::{sql_lit, StepStatus};

/// The parked steps of destination ?1, oldest first (at most ?2).
pub fn parked_steps() -> String {
    format!(
        "SELECT id FROM steps WHERE destination = ?1 AND status = {} AND last_error IN ('{}', '{}') \
         ORDER BY created_at, rowid LIMIT ?2",
        sql_lit(StepStatus::Enqueued),
        PAUSED_REASON,
        DRAINING_REASON
    )
}

/// One row when a step of destination ?1 older than step ?2 is still parked or draining.
pub fn older_waiting() -> String {
    format!(
        "SELECT 1 AS waiting FROM steps o, steps s WHERE s.id = ?2 AND o.destination = ?1 \
         AND o.id <> s.id AND o.status = {} AND o.last_error IN ('{}', '{}') \
         AND (o.created_at < s.created_at OR (o.created_at = s.created_at AND o.rowid < s.rowid)) \
         LIMIT 1",
        sql_lit(StepStatus::Enqueued),
        PAUSED_REASON,
        DRAINING_REASON
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::sql_tests::database;
    use rusqlite::params;

    fn add(db: &rusqlite::Connection, id: &str, created_at: i64, status: &str, reason: &str) {
        db.execute(
            "INSERT OR IGNORE INTO events (id, provider, dedupe_key, type, received_at, status) \
             VALUES ('e', 'stripe', 'e', 't', 0, 'accepted')",
            [],
        )
        .unwrap();
        db.execute(
            "INSERT INTO steps (id, event_id, name, destination, status, idempotency_key, \
             created_at, updated_at, last_error) VALUES (?1, 'e', ?1, 'svc', ?2, ?1, ?3, 0, ?4)",
            params![id, status, created_at, reason],
        )
        .unwrap();
    }

    #[test]
    fn parked_steps_drain_oldest_first_and_wait_for_older_ones() {
        let db = database();
        add(&db, "b", 2, "enqueued", PAUSED_REASON);
        add(&db, "a", 1, "enqueued", DRAINING_REASON);
        add(&db, "c", 2, "enqueued", PAUSED_REASON);
        add(&db, "done", 0, "succeeded", PAUSED_REASON);
        let mut query = db.prepare(&parked_steps()).unwrap();
        let ids: Vec<String> = query
            .query_map(params!["svc", 10], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(ids, ["a", "b", "c"]);
        let waits = |id: &str| {
            db.prepare(&older_waiting())
                .unwrap()
                .exists(params!["svc", id])
                .unwrap()
        };
        assert!(!waits("a"));
        assert!(waits("b") && waits("c"));
        db.execute("UPDATE steps SET status = 'running' WHERE id = 'a'", [])
            .unwrap();
        assert!(!waits("b") && waits("c"));
    }
}
