//! The SQL of the minute buckets (added per flush; read by the dashboard and, per provider and
//! registry source, by the alerts) and of `/metrics`' running totals and gauges, beside the rule
//! it keeps: a counter never goes down. A flush of the isolate's tally adds each [`super::Flush`] to the totals
//! (`metric_request_totals`, `metric_rejection_totals`, `metric_step_totals`; migration 0026)
//! in the same D1 batch as its minute buckets, one statement per table with the flush bound as
//! one JSON array, so a total holds exactly what the buckets ever received and retention, which
//! deletes only minute buckets, cannot lower it. A scrape reads the totals (a row per key, not
//! per minute) and the cheap gauges: outstanding steps per destination and status, parked steps
//! per destination (through the `steps_parked` partial index). Native tests run the same text
//! against the migrations in SQLite.

use crate::connections::drain::PAUSED_REASON;
use crate::steps::lifecycle::{sql_in, sql_lit, StepStatus, RECOVERABLE};

/// `h0, h1, …, h9`.
fn histogram_columns() -> String {
    (0..super::HISTOGRAM_BUCKETS)
        .map(|i| format!("h{i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `SUM(json_extract(value, '$.histogram[0]')), …`.
fn histogram_sums() -> String {
    (0..super::HISTOGRAM_BUCKETS)
        .map(|i| format!("SUM(json_extract(value, '$.histogram[{i}]'))"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `h0 = h0 + excluded.h0, …`.
fn histogram_adds() -> String {
    (0..super::HISTOGRAM_BUCKETS)
        .map(|i| format!("h{i} = h{i} + excluded.h{i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Add ?1, the JSON array of a flush's `requests`, to `metric_request_totals`.
pub fn add_request_totals() -> String {
    format!(
        "INSERT INTO metric_request_totals (provider, source, outcome, status, count, stored, \
         duplicates, latency_sum_ms, {}) \
         SELECT json_extract(value, '$.provider'), json_extract(value, '$.source'), \
         json_extract(value, '$.outcome'), json_extract(value, '$.status'), \
         SUM(json_extract(value, '$.count')), SUM(json_extract(value, '$.stored')), \
         SUM(json_extract(value, '$.duplicates')), SUM(json_extract(value, '$.latency_sum_ms')), {} \
         FROM json_each(?1) WHERE true GROUP BY 1, 2, 3, 4 \
         ON CONFLICT (provider, source, outcome, status) DO UPDATE SET \
         count = count + excluded.count, stored = stored + excluded.stored, \
         duplicates = duplicates + excluded.duplicates, \
         latency_sum_ms = latency_sum_ms + excluded.latency_sum_ms, {}",
        histogram_columns(),
        histogram_sums(),
        histogram_adds()
    )
}

/// Add ?1, the JSON array of a flush's `events`, to their minute buckets (`metric_events`).
pub const ADD_EVENT_BUCKETS: &str =
    "INSERT INTO metric_events (minute, provider, source, outcome, reason, count) \
     SELECT json_extract(value, '$.minute'), json_extract(value, '$.provider'), \
     json_extract(value, '$.source'), json_extract(value, '$.outcome'), \
     json_extract(value, '$.reason'), json_extract(value, '$.count') FROM json_each(?1) WHERE true \
     ON CONFLICT (minute, provider, source, outcome, reason) DO UPDATE SET \
     count = count + excluded.count";

/// Add the rejections among ?1, the JSON array of a flush's `events`, to
/// `metric_rejection_totals` (a flush may hold several minutes of one key: summed first).
pub const ADD_REJECTION_TOTALS: &str =
    "INSERT INTO metric_rejection_totals (provider, source, reason, count) \
     SELECT json_extract(value, '$.provider'), json_extract(value, '$.source'), \
     json_extract(value, '$.reason'), SUM(json_extract(value, '$.count')) FROM json_each(?1) \
     WHERE json_extract(value, '$.outcome') = 'rejected' GROUP BY 1, 2, 3 \
     ON CONFLICT (provider, source, reason) DO UPDATE SET count = count + excluded.count";

/// Event buckets since minute ?1, for the dashboard.
pub const EVENT_BUCKETS: &str = "SELECT minute, provider, source, outcome, reason, count \
     FROM metric_events WHERE minute >= ?1 \
     ORDER BY minute, provider, source, outcome, reason LIMIT 20000";

/// Signature failures per provider, source and reason since minute ?1 (the alert's window).
pub const SIGNATURE_FAILURES: &str = "SELECT provider, source, reason, SUM(count) AS count \
     FROM metric_events WHERE outcome = 'rejected' AND minute >= ?1 \
     GROUP BY provider, source, reason ORDER BY provider, source, reason";

/// The latest minute each provider and source delivered a verified request in.
pub const LAST_SEEN: &str = "SELECT provider, source, MAX(minute) AS minute FROM metric_events \
     WHERE outcome IN ('accepted', 'duplicate', 'unparsable') GROUP BY provider, source \
     ORDER BY provider, source";

/// Add ?1, the JSON array of a flush's `steps`, to `metric_step_totals`.
pub fn add_step_totals() -> String {
    format!(
        "INSERT INTO metric_step_totals (destination, outcome, count, latency_sum_ms, {}) \
         SELECT json_extract(value, '$.destination'), json_extract(value, '$.outcome'), \
         SUM(json_extract(value, '$.count')), SUM(json_extract(value, '$.latency_sum_ms')), {} \
         FROM json_each(?1) WHERE true GROUP BY 1, 2 \
         ON CONFLICT (destination, outcome) DO UPDATE SET count = count + excluded.count, \
         latency_sum_ms = latency_sum_ms + excluded.latency_sum_ms, {}",
        histogram_columns(),
        histogram_sums(),
        histogram_adds()
    )
}

/// Every request total, its histogram as a JSON array text (`histogram`).
pub fn request_totals() -> String {
    format!(
        "SELECT provider, source, outcome, status, count, stored, duplicates, latency_sum_ms, \
         json_array({}) AS histogram FROM metric_request_totals \
         ORDER BY provider, source, outcome, status",
        histogram_columns()
    )
}

/// Every rejection total.
pub const REJECTION_TOTALS: &str = "SELECT provider, source, reason, count \
     FROM metric_rejection_totals ORDER BY provider, source, reason";

/// Every step total, its histogram as a JSON array text (`histogram`).
pub fn step_totals() -> String {
    format!(
        "SELECT destination, outcome, count, latency_sum_ms, json_array({}) AS histogram \
         FROM metric_step_totals ORDER BY destination, outcome",
        histogram_columns()
    )
}

/// Outstanding steps, not finished (`destination`, `status`, `count`): waiting for a run,
/// running, or waiting for an admin (`dead`); reads one index entry per such step.
///
/// Two halves, each the exact condition of one partial index (`steps_open` over `RECOVERABLE`,
/// `steps_dead` over `DEAD_LETTERS`, which is `dead` alone, as an equality SQLite can match to
/// the index; migration 0025): one `IN` over both sets would match
/// neither index and read the whole table, finished steps included. `steps_dead` is named: it
/// holds no column the half filters on, so without statistics SQLite would rather scan the table.
pub fn outstanding_steps() -> String {
    format!(
        "SELECT destination, status, COUNT(*) AS count FROM ( \
         SELECT destination, status FROM steps WHERE status IN {} \
         UNION ALL SELECT destination, status FROM steps INDEXED BY steps_dead WHERE status = {}) \
         GROUP BY destination, status ORDER BY destination, status",
        sql_in(&RECOVERABLE),
        sql_lit(StepStatus::Dead)
    )
}

/// Parked steps per destination (`destination`, `count`), through `steps_parked` (named: with
/// no statistics SQLite would rather seek `steps_status` and read every enqueued step).
pub fn parked_steps() -> String {
    format!(
        "SELECT destination, COUNT(*) AS count FROM steps INDEXED BY steps_parked \
         WHERE status = {} AND last_error = '{PAUSED_REASON}' GROUP BY destination \
         ORDER BY destination",
        sql_lit(StepStatus::Enqueued)
    )
}

#[cfg(test)]
mod tests;
