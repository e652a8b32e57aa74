//! What the sweeper's recovery of a lost attempt needs of an `http` destination: its own maximum
//! attempts, so that a step the sweeper finds `running` past its lease ends `dead` exactly when
//! the consumer would have ended it (the consumer's [`super::delivery::destination_policy`]),
//! not at the global `MAX_ATTEMPTS`. The shell (`src/cron/sweeper.rs`) reads the destinations of
//! a sweep's lost attempts with [`MAX_ATTEMPTS_SQL`], once per sweep, and asks
//! [`step_max_attempts`] for each step before the core's `steps::recovery::recover`.

use super::plan::PlannedStep;
use crate::by_name::ByName;
use crate::steps::lifecycle::StepStatus;

/// `name, max_attempts` of the destinations named in the JSON array ?1 (NULL: the global).
pub const MAX_ATTEMPTS_SQL: &str = "SELECT name, max_attempts FROM destinations \
     WHERE name IN (SELECT value FROM json_each(?1))";

/// The `http` destinations whose own maximum attempts decide the recovery of `overdue` steps
/// (name and status as read), each once: only a `running` step's recovery counts attempts.
pub fn destinations_to_read<'a>(
    overdue: impl IntoIterator<Item = (&'a str, Option<StepStatus>)>,
) -> Vec<String> {
    let mut names = ByName::new();
    for (name, status) in overdue {
        if status != Some(StepStatus::Running) {
            continue;
        }
        if let Some(PlannedStep::Http(destination)) = PlannedStep::from_name(name) {
            names.insert(destination, ());
        }
    }
    names.iter().map(|(name, _)| name.clone()).collect()
}

/// The maximum attempts of the step named `step_name`: its `http` destination's own, from
/// `stored` (each destination's `max_attempts` column as [`MAX_ATTEMPTS_SQL`] read it), else
/// `global` (a built-in step, a destination without its own, or one no longer stored).
pub fn step_max_attempts(step_name: &str, global: u32, stored: &ByName<Option<i64>>) -> u32 {
    let Some(PlannedStep::Http(destination)) = PlannedStep::from_name(step_name) else {
        return global;
    };
    stored
        .get(&destination)
        .copied()
        .flatten()
        .and_then(|n| u32::try_from(n).ok())
        .filter(|n| *n > 0)
        .unwrap_or(global)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::steps::lifecycle::sql_tests::database;
    use crate::steps::recovery::{recover, Recovery};
    use rusqlite::params;

    const GLOBAL: u32 = 10;

    fn stored(pairs: &[(&str, Option<i64>)]) -> ByName<Option<i64>> {
        pairs.iter().map(|(n, m)| (n.to_string(), *m)).collect()
    }

    #[test]
    fn a_lost_attempt_counts_against_its_destinations_own_maximum() {
        let stored = stored(&[("once", Some(1)), ("patient", Some(25)), ("plain", None)]);
        let max = |name| step_max_attempts(name, GLOBAL, &stored);
        assert_eq!(max("http:once"), 1);
        assert_eq!(max("http:patient"), 25);
        assert_eq!(max("http:plain"), GLOBAL);
        assert_eq!(max("http:deleted"), GLOBAL);
        assert_eq!(max("sendgrid.send"), GLOBAL);
        let lost = |name, attempts| recover(StepStatus::Running, attempts, max(name));
        // A destination of one attempt: its first lost attempt is its last.
        assert_eq!(lost("http:once", 1), Some(Recovery::DeadLost));
        // One of 25 still has attempts left where the global 10 would end it.
        assert_eq!(lost("http:patient", 10), Some(Recovery::RetryLost));
        assert_eq!(lost("http:patient", 25), Some(Recovery::DeadLost));
        assert_eq!(lost("sendgrid.send", 10), Some(Recovery::DeadLost));
    }

    #[test]
    fn only_running_http_steps_need_their_destination_read() {
        use StepStatus::*;
        let overdue = [
            ("http:b", Some(Running)),
            ("http:a", Some(Running)),
            ("http:b", Some(Running)),
            ("http:c", Some(Enqueued)),
            ("http:d", Some(Pending)),
            ("hubspot.upsert_contact", Some(Running)),
            ("http:e", None),
        ];
        assert_eq!(destinations_to_read(overdue), ["a", "b"]);
    }

    #[test]
    fn the_read_answers_each_named_destinations_own_maximum() {
        let db = database();
        for (name, max) in [("once", Some(1)), ("plain", None), ("other", Some(5))] {
            db.execute(
                "INSERT INTO destinations (name, url, config, timeout_ms, max_attempts, \
                 created_at, updated_at) VALUES (?1, 'https://x.example', '{}', 1000, ?2, 0, 0)",
                params![name, max],
            )
            .expect("destination");
        }
        let mut statement = db.prepare(MAX_ATTEMPTS_SQL).expect("prepares");
        let read: Vec<(String, Option<i64>)> = statement
            .query_map(params![r#"["once","plain","missing"]"#], |r| {
                Ok((r.get("name")?, r.get("max_attempts")?))
            })
            .expect("runs")
            .collect::<Result<_, _>>()
            .expect("rows");
        let read: ByName<Option<i64>> = read.into_iter().collect();
        assert_eq!(read, stored(&[("once", Some(1)), ("plain", None)]));
    }
}
