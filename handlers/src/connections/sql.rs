//! The SQL behind pausing and draining an `http` destination, beside the rule it keeps
//! ([`super::drain`]): the destination a step runs with and its line (whether steps are parked
//! or released and unclaimed), a step joining the line, the release of the next page (the
//! oldest parked steps, only while the destination is active and no released step waits for
//! its claim), the re-send of a page still out (a resume) and the number still parked. Each reads the line through a partial index
//! (migration 0018), so a page costs the same with ten or ten thousand steps parked. Native
//! tests run the same text against the migrations in SQLite.

use super::drain::{DRAINING_REASON, PAUSED_REASON};
use super::transform::sql::destination_connections;
use crate::steps::lifecycle::{sql_in, sql_lit, StepStatus, CLAIMABLE};

/// Statuses a released step waits in for its claim (`pending` until its send is marked).
const RELEASED_WAITING: [StepStatus; 2] = [StepStatus::Pending, StepStatus::Enqueued];

/// `steps` rows parked for destination `name_sql` (the `steps_parked` index).
fn parked_for(name_sql: &str) -> String {
    format!(
        "destination = {name_sql} AND status = {} AND last_error = '{PAUSED_REASON}'",
        sql_lit(StepStatus::Enqueued)
    )
}

/// `steps` rows of destination `name_sql` released and not claimed yet (`steps_released`).
fn released_for(name_sql: &str) -> String {
    format!(
        "destination = {name_sql} AND status IN {} AND last_error = '{DRAINING_REASON}'",
        sql_in(&RELEASED_WAITING)
    )
}

/// Destination ?1's `columns` with its line: `parked` and `released` (0/1), and its
/// `connections` when one has a transform (`super::transform::sql`).
pub fn destination_with_line(columns: &str) -> String {
    format!(
        "SELECT {columns}, EXISTS (SELECT 1 FROM steps WHERE {}) AS parked, \
         EXISTS (SELECT 1 FROM steps WHERE {}) AS released, {} AS connections \
         FROM destinations WHERE name = ?1",
        parked_for("?1"),
        released_for("?1"),
        destination_connections("?1")
    )
}

/// Park step ?1 at its place in the line (no due time: its release sends it), while it is
/// claimable. ?2 now.
pub fn join_line() -> String {
    format!(
        "UPDATE steps SET status = {}, next_attempt_at = NULL, last_error = '{PAUSED_REASON}', \
         updated_at = ?2 WHERE id = ?1 AND status IN {}",
        sql_lit(StepStatus::Enqueued),
        sql_in(&CLAIMABLE)
    )
}

/// Release the next page of destination ?1: its oldest ?2 parked steps become `pending`,
/// reason `destination_draining`, under a new dispatch number, at ?3 — only while the
/// destination is not paused and none of its released steps waits for its claim. Returns each
/// released step's `id`, `dispatch`, `created_at` and `seq` (its rowid), in no order. The
/// condition is the page's size (0 when it does not hold), computed once: as a filter on each
/// parked row it would read the whole line every time a claim asks and nothing may go.
pub fn release_page() -> String {
    format!(
        "UPDATE steps SET status = {}, last_error = '{DRAINING_REASON}', next_attempt_at = NULL, \
         dispatch = dispatch + 1, updated_at = ?3 \
         WHERE id IN (SELECT id FROM steps WHERE {} ORDER BY created_at, rowid \
           LIMIT (SELECT CASE WHEN EXISTS (SELECT 1 FROM destinations WHERE name = ?1 AND paused <> 0) \
             OR EXISTS (SELECT 1 FROM steps WHERE {}) THEN 0 ELSE ?2 END)) \
         RETURNING id, dispatch, created_at, rowid AS seq",
        sql_lit(StepStatus::Pending),
        parked_for("?1"),
        released_for("?1")
    )
}

/// Send again the released steps of destination ?1 still waiting for their claim (a resume:
/// their messages may have been lost before it, while the drain they belong to was under way):
/// each gets a new dispatch number at ?2, its status and reason stay. Returns the same columns
/// as [`release_page`]. At most one page is ever out (a release waits until none is), so this is
/// bounded by the page size.
pub fn resend_released() -> String {
    format!(
        "UPDATE steps SET dispatch = dispatch + 1, updated_at = ?2 \
         WHERE id IN (SELECT id FROM steps WHERE {}) \
         RETURNING id, dispatch, created_at, rowid AS seq",
        released_for("?1")
    )
}

/// How many steps of destination ?1 are parked: `parked`.
pub fn parked_count() -> String {
    format!(
        "SELECT COUNT(*) AS parked FROM steps WHERE {}",
        parked_for("?1")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::steps::lifecycle::sql_tests::database;
    use rusqlite::{params, Connection};

    fn add(db: &Connection, id: &str, created_at: i64, status: &str, reason: Option<&str>) {
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

    fn destination(db: &Connection, paused: bool) {
        db.execute(
            "INSERT OR REPLACE INTO destinations (name, url, config, timeout_ms, paused, \
             created_at, updated_at) VALUES ('svc', 'https://svc.example', '{}', 1000, ?1, 0, 0)",
            params![paused],
        )
        .unwrap();
    }

    fn park(db: &Connection, ids: &[(&str, i64)]) {
        for (id, created_at) in ids {
            add(db, id, *created_at, "enqueued", Some(PAUSED_REASON));
        }
    }

    /// Release a page of `size` at `now`: the ids in the order they are sent.
    fn release(db: &Connection, size: u32, now: i64) -> Vec<String> {
        let page = released(db, &release_page(), params!["svc", size, now]);
        page.into_iter().map(|s| s.id).collect()
    }

    /// The steps `sql` returns (a release or a resend of destination `svc`), in line order.
    fn released(
        db: &Connection,
        sql: &str,
        args: impl rusqlite::Params,
    ) -> Vec<crate::connections::drain::ReleasedStep> {
        let mut query = db.prepare(sql).unwrap();
        let page = query
            .query_map(args, |r| {
                Ok(crate::connections::drain::ReleasedStep {
                    id: r.get("id")?,
                    dispatch: r.get("dispatch")?,
                    created_at: r.get("created_at")?,
                    seq: r.get("seq")?,
                })
            })
            .unwrap()
            .map(Result::unwrap)
            .collect();
        crate::connections::drain::in_line_order(page)
    }

    fn claim(db: &Connection, id: &str) {
        let claimed = db
            .prepare(&crate::steps::lifecycle::claim::claim())
            .unwrap()
            .exists(params![id, 9])
            .unwrap();
        assert!(claimed, "{id} claimable");
    }

    fn line(db: &Connection) -> (bool, bool) {
        db.query_row(&destination_with_line("name"), params!["svc"], |r| {
            Ok((r.get("parked")?, r.get("released")?))
        })
        .unwrap()
    }

    #[test]
    fn pages_go_oldest_first_and_the_last_claim_of_a_page_releases_the_next() {
        let db = database();
        destination(&db, false);
        park(&db, &[("d", 3), ("b", 2), ("a", 1), ("c", 2), ("e", 4)]);
        add(&db, "done", 0, "succeeded", Some(PAUSED_REASON));
        assert_eq!(line(&db), (true, false));
        assert_eq!(release(&db, 2, 10), ["a", "b"]);
        assert_eq!(line(&db), (true, true));
        let (status, reason, dispatch): (String, String, i64) = db
            .query_row(
                "SELECT status, last_error, dispatch FROM steps WHERE id = 'a'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!(
            (status.as_str(), reason.as_str(), dispatch),
            ("pending", DRAINING_REASON, 1)
        );
        assert!(release(&db, 2, 11).is_empty(), "a page is still out");
        claim(&db, "b");
        assert!(release(&db, 2, 12).is_empty(), "a is not claimed yet");
        claim(&db, "a");
        assert_eq!(release(&db, 2, 13), ["c", "d"]);
        claim(&db, "c");
        claim(&db, "d");
        assert_eq!(release(&db, 2, 14), ["e"]);
        claim(&db, "e");
        assert!(release(&db, 2, 15).is_empty());
        assert_eq!(line(&db), (false, false));
    }

    /// Send again what is still out at `now`: the ids in the order they are sent, with each
    /// one's new dispatch number.
    fn resend(db: &Connection, now: i64) -> Vec<(String, i64)> {
        let page = released(db, &resend_released(), params!["svc", now]);
        page.into_iter().map(|s| (s.id, s.dispatch)).collect()
    }

    #[test]
    fn a_resume_sends_again_the_page_still_out_and_only_it() {
        let db = database();
        destination(&db, false);
        park(&db, &[("a", 1), ("b", 2), ("c", 3), ("d", 4)]);
        add(&db, "other", 0, "enqueued", Some("rate_budget"));
        assert_eq!(release(&db, 3, 10), ["a", "b", "c"]);
        // `a` is claimed; the messages of `b` (send failed: still `pending`) and `c` (marked
        // `enqueued`, then lost with a killed runtime) never come.
        claim(&db, "a");
        db.execute("UPDATE steps SET status = 'enqueued' WHERE id = 'c'", [])
            .unwrap();
        assert!(release(&db, 3, 11).is_empty(), "the page is still out");
        let again = resend(&db, 12);
        assert_eq!(again, [("b".to_string(), 2), ("c".to_string(), 2)]);
        let (status, reason): (String, String) = db
            .query_row(
                "SELECT status, last_error FROM steps WHERE id = 'c'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(
            (status.as_str(), reason.as_str()),
            ("enqueued", DRAINING_REASON)
        );
        claim(&db, "b");
        claim(&db, "c");
        assert!(resend(&db, 13).is_empty(), "nothing out once claimed");
        assert_eq!(release(&db, 3, 14), ["d"]);
    }

    #[test]
    fn nothing_is_released_while_the_destination_is_paused() {
        let db = database();
        destination(&db, true);
        park(&db, &[("a", 1)]);
        assert!(release(&db, 10, 10).is_empty());
        destination(&db, false);
        assert_eq!(release(&db, 10, 11), ["a"]);
    }

    #[test]
    fn a_step_joins_the_line_at_its_own_place() {
        let db = database();
        destination(&db, false);
        park(&db, &[("b", 2)]);
        add(&db, "a", 1, "enqueued", Some("rate_limited"));
        add(&db, "running", 0, "running", None);
        for id in ["a", "running"] {
            db.execute(&join_line(), params![id, 5]).unwrap();
        }
        let parked: i64 = db
            .query_row(&parked_count(), params!["svc"], |r| r.get("parked"))
            .unwrap();
        assert_eq!(parked, 2, "a running step is not parked");
        assert_eq!(release(&db, 10, 6), ["a", "b"]);
    }

    /// The VM steps SQLite takes for a release of a page of 10 with `parked` steps parked, for
    /// one that releases nothing while that page is out, and for reading the line then.
    fn release_work(parked: usize) -> (i32, i32, i32) {
        let db = database();
        destination(&db, false);
        let ids: Vec<(String, i64)> = (0..parked).map(|i| (format!("s{i}"), i as i64)).collect();
        let refs: Vec<(&str, i64)> = ids.iter().map(|(id, at)| (id.as_str(), *at)).collect();
        park(&db, &refs);
        let mut query = db.prepare(&release_page()).unwrap();
        let mut steps = || {
            let released = query
                .query_map(params!["svc", 10, 1], |_| Ok(()))
                .unwrap()
                .count();
            let work = query.get_status(rusqlite::StatementStatus::VmStep);
            query.reset_status(rusqlite::StatementStatus::VmStep);
            (released, work)
        };
        let (first, page) = steps();
        let (none, idle) = steps();
        assert_eq!((first, none), (10, 0));
        let mut read = db.prepare(&destination_with_line("name")).unwrap();
        assert!(read.exists(params!["svc"]).unwrap());
        (
            page,
            idle,
            read.get_status(rusqlite::StatementStatus::VmStep),
        )
    }

    #[test]
    fn the_work_of_a_release_does_not_grow_with_the_line() {
        // Every drained step's claim asks for a release, and every step of the destination
        // reads its line: either reading the whole line would make a drain quadratic again.
        assert_eq!(release_work(20), release_work(2_000));
    }

    /// The plan SQLite chooses for `sql`, as one line.
    fn plan(db: &Connection, sql: &str, args: impl rusqlite::Params) -> String {
        let mut query = db.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let rows: Vec<String> = query
            .query_map(args, |r| r.get::<_, String>("detail"))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        rows.join("; ")
    }

    #[test]
    fn the_line_is_read_through_its_partial_indexes() {
        let db = database();
        let release = plan(&db, &release_page(), params!["svc", 100, 0]);
        assert!(release.contains("INDEX steps_parked"), "{release}");
        assert!(release.contains("INDEX steps_released"), "{release}");
        assert!(!release.contains("TEMP B-TREE"), "no sort: {release}");
        let read = plan(&db, &destination_with_line("name"), params!["svc"]);
        assert!(
            read.contains("steps_parked") && read.contains("steps_released"),
            "{read}"
        );
        let resend = plan(&db, &resend_released(), params!["svc", 0]);
        assert!(resend.contains("INDEX steps_released"), "{resend}");
        let count = plan(&db, &parked_count(), params!["svc"]);
        assert!(count.contains("steps_parked"), "{count}");
    }
}
