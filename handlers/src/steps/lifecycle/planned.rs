//! Which events a statement that stores planned steps may add them to. Steps are born in two
//! places: ingest (a webhook delivery, or a backfill page, which plans with the routes and
//! connections of *now*) and admin replay (an operator's deliberate choice to run an old event
//! through what exists now). Only the second may touch an event stored earlier: a duplicate
//! delivery (a provider's retry past the KV hint, a backfill's overlap with the webhooks) must
//! not plan the steps of connections created since, or old events would reach new destinations
//! without any admin replay.
//!
//! So every event row records the random token of the delivery that stored it
//! (`events.stored_by`, migration 0016), and ingest's step INSERT, in the same D1 batch (one
//! transaction) as its event INSERT, adds steps only where the event carries this delivery's
//! token ([`PlannedBy::Delivery`]). Two concurrent deliveries of one event are serialized by
//! D1: the first stores the row with its token, the second's `ON CONFLICT DO NOTHING` leaves
//! that token in place, so the second's steps find another token and none is stored. An event
//! skipped as a duplicate on its content key has no row under its id at all. Replay adds steps
//! to any stored event ([`PlannedBy::Replay`]).

/// The event `event_id` (SQL naming the row's event id) exists and the delivery whose token
/// is `token` (SQL, a bound parameter) stored it.
fn stored_by_this_delivery(event_id: &str, token: &str) -> String {
    format!("EXISTS (SELECT 1 FROM events e WHERE e.id = {event_id} AND e.stored_by = {token})")
}

/// The event `event_id` exists, whoever stored it.
fn stored_event(event_id: &str) -> String {
    format!("EXISTS (SELECT 1 FROM events e WHERE e.id = {event_id})")
}

/// Who may add steps to an event, as a step INSERT's condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlannedBy<'a> {
    /// An ingest delivery (webhook or backfill page) holding this token: only events it stored.
    Delivery(&'a str),
    /// An admin replay: any stored event.
    Replay,
}

impl PlannedBy<'_> {
    /// The condition over the row's event id `event_id`, with the token bound as `token_param`
    /// (e.g. `?2`) for a delivery.
    pub fn condition(&self, event_id: &str, token_param: &str) -> String {
        match self {
            PlannedBy::Delivery(_) => stored_by_this_delivery(event_id, token_param),
            PlannedBy::Replay => stored_event(event_id),
        }
    }

    /// The token to bind for the condition, when it takes one.
    pub fn token(&self) -> Option<&str> {
        match self {
            PlannedBy::Delivery(token) => Some(token),
            PlannedBy::Replay => None,
        }
    }
}

/// A delivery's token from 16 random bytes (hex, 32 characters).
pub fn delivery_token(random: &[u8; 16]) -> String {
    hex::encode(random)
}

#[cfg(test)]
mod tests {
    use rusqlite::{params, Connection};

    use super::*;
    use crate::steps::lifecycle::sql_tests::database;

    /// Store event `id` (content key `content`) as the shell's events INSERT does: nothing when
    /// a row collides on any unique key. Returns whether it was stored.
    fn store_event(db: &Connection, id: &str, content: &str, token: &str) -> bool {
        db.execute(
            "INSERT INTO events (id, provider, dedupe_key, type, received_at, status, content_key, \
             stored_by) VALUES (?1, 'stripe', ?1, 'invoice.paid', 0, 'accepted', ?2, ?3) \
             ON CONFLICT DO NOTHING",
            params![id, content, token],
        )
        .expect("event insert")
            == 1
    }

    /// Plan `names` for event `id` as the shell's step INSERT does, with `by`'s condition.
    fn plan(db: &Connection, id: &str, names: &[&str], by: PlannedBy) -> usize {
        let mut stored = 0;
        for name in names {
            let sql = format!(
                "INSERT INTO steps (id, event_id, name, destination, status, idempotency_key, \
                 created_at, updated_at) SELECT column1, column2, column3, 'x', 'pending', \
                 column1, 0, 0 FROM (VALUES (?1, ?2, ?3)) WHERE {} ON CONFLICT DO NOTHING",
                by.condition("column2", "?4")
            );
            let step = format!("{id}:{name}");
            // As the shell does: the token is bound only when the condition takes one.
            let inserted = match by.token() {
                Some(token) => db.execute(&sql, params![step, id, name, token]),
                None => db.execute(&sql, params![step, id, name]),
            };
            stored += inserted.expect("step insert");
        }
        stored
    }

    fn steps_of(db: &Connection, id: &str) -> Vec<String> {
        let mut statement = db
            .prepare("SELECT name FROM steps WHERE event_id = ?1 ORDER BY name")
            .expect("prepare");
        let names = statement
            .query_map([id], |row| row.get(0))
            .expect("query")
            .collect::<Result<Vec<String>, _>>()
            .expect("rows");
        names
    }

    #[test]
    fn only_the_delivery_that_stored_an_event_plans_its_steps() {
        let db = database();
        let (first, retry) = ("a".repeat(32), "b".repeat(32));
        assert!(store_event(&db, "evt_1", "c1", &first));
        assert_eq!(
            plan(&db, "evt_1", &["slack.notify"], PlannedBy::Delivery(&first)),
            1
        );

        // A connection is created; the provider retries past the KV hint (or a backfill lists
        // the event again): the event is a duplicate and gets no new step.
        assert!(!store_event(&db, "evt_1", "c1", &retry));
        let now = ["http:orders", "slack.notify"];
        assert_eq!(plan(&db, "evt_1", &now, PlannedBy::Delivery(&retry)), 0);
        assert_eq!(steps_of(&db, "evt_1"), ["slack.notify"]);

        // An admin replay is the one way to add it.
        assert_eq!(plan(&db, "evt_1", &now, PlannedBy::Replay), 1);
        assert_eq!(steps_of(&db, "evt_1"), ["http:orders", "slack.notify"]);
    }

    #[test]
    fn a_content_key_duplicate_and_an_event_stored_before_tokens_get_no_steps() {
        let db = database();
        let token = "t".repeat(32);
        assert!(store_event(&db, "evt_a", "same-content", &token));
        // Same signed content under another id: not stored, so no steps, even with the token
        // of the delivery that stored the first.
        assert!(!store_event(&db, "evt_b", "same-content", &token));
        assert_eq!(
            plan(&db, "evt_b", &["slack.notify"], PlannedBy::Delivery(&token)),
            0
        );
        assert!(steps_of(&db, "evt_b").is_empty());

        // A row stored before migration 0016 has no token: no delivery matches it.
        db.execute(
            "INSERT INTO events (id, provider, dedupe_key, type, received_at, status) \
             VALUES ('evt_old', 'stripe', 'evt_old', 'invoice.paid', 0, 'accepted')",
            [],
        )
        .expect("old event");
        assert_eq!(
            plan(
                &db,
                "evt_old",
                &["slack.notify"],
                PlannedBy::Delivery(&token)
            ),
            0
        );
        assert_eq!(
            plan(&db, "evt_old", &["slack.notify"], PlannedBy::Replay),
            1
        );
    }

    #[test]
    fn tokens_are_32_hex_characters() {
        let token = delivery_token(&[0xab; 16]);
        assert_eq!(token.len(), 32);
        assert!(token.chars().all(|c| c.is_ascii_hexdigit()));
    }
}
