//! The alerts' SQL, beside the rules it carries out (native tests run it against the
//! migrations): firing is an insert that the partial unique index `alerts_open` turns into a
//! no-op while an alert of that kind and key is open (dedupe holds even if two crons race);
//! clearing and notice bookkeeping are conditional updates. Each channel keeps its own delivery
//! row per alert (`alert_deliveries`), so Slack and an `http` destination neither block nor
//! repeat each other; the alert's `notice` is settled once every configured channel has it.

/// Fire: ?1 kind, ?2 key, ?3 detail, ?4 now, ?5 facts (JSON). No row while one is open for
/// kind and key.
pub const FIRE: &str = "INSERT INTO alerts (kind, key, detail, fired_at, notice, facts) \
     VALUES (?1, ?2, ?3, ?4, 'fired', ?5) ON CONFLICT DO NOTHING";

/// Clear an open alert: ?1 id, ?2 now. Its notice becomes `cleared` (a `fired` notice not yet
/// sent on a channel is folded into it there: the cleared notice says what fired).
pub const CLEAR: &str =
    "UPDATE alerts SET cleared_at = ?2, notice = 'cleared' WHERE id = ?1 AND cleared_at IS NULL";

/// Refresh an open alert's detail and facts: ?1 id, ?2 detail, ?3 facts (JSON).
pub const UPDATE_DETAIL: &str =
    "UPDATE alerts SET detail = ?2, facts = ?3 WHERE id = ?1 AND cleared_at IS NULL";

/// Open alerts: id, kind, key, detail.
pub const OPEN: &str = "SELECT id, kind, key, detail FROM alerts WHERE cleared_at IS NULL";

/// Notices [`PENDING_NOTICES`] reads at most, per channel and cron tick (the `LIMIT` below):
/// what bounds the sends of one tick's alerting pass.
pub const NOTICES_PER_CHANNEL: u32 = 50;

/// Notices due now on channel ?1 (`slack` | `http`) at ?2 (ms) with the rate limit ?3 (ms
/// between two notices of one kind and key): the alert's notice, unless this channel already
/// delivered it, it is superseded (a later alert of the same kind and key exists: only the
/// latest state of each key is announced), its backoff after a failed send runs past ?2, or this
/// channel's last notice for the same kind and key (any firing) was less than ?3 ago. So a
/// waiting notice never takes a place in the read from one that can go out. With this channel's
/// failed attempts and backoff and that last notice, which [`super::notify::decide`] reads again.
pub const PENDING_NOTICES: &str = "SELECT * FROM (SELECT a.id, a.kind, a.key, a.detail, \
     a.facts, a.notice, a.fired_at, a.cleared_at, COALESCE(d.attempts, 0) AS notice_attempts, \
     d.next_at AS notice_next_at, \
     (SELECT MAX(e.last_notified_at) FROM alerts b JOIN alert_deliveries e ON e.alert_id = b.id \
      WHERE b.kind = a.kind AND b.key = a.key AND e.channel = ?1) AS last_notified_at \
     FROM alerts a LEFT JOIN alert_deliveries d ON d.alert_id = a.id AND d.channel = ?1 \
     WHERE a.notice IS NOT NULL AND d.sent IS NOT a.notice \
     AND NOT EXISTS (SELECT 1 FROM alerts n WHERE n.kind = a.kind AND n.key = a.key \
     AND n.id > a.id)) \
     WHERE (notice_next_at IS NULL OR notice_next_at <= ?2) \
     AND (last_notified_at IS NULL OR last_notified_at <= ?2 - ?3) ORDER BY id LIMIT 50";

/// Notices channel ?2 sent since ?1 (its hourly cap).
pub const SENT_SINCE: &str =
    "SELECT COUNT(*) AS n FROM alert_notices WHERE sent_at >= ?1 AND channel = ?2";

/// Channel ?2 delivered notice ?3 of alert ?1 at ?4: only if that notice is still the one due (a
/// clear in the meantime leaves its own notice pending).
pub const NOTICE_SENT: &str = "INSERT INTO alert_deliveries \
     (alert_id, channel, sent, last_notified_at, attempts, next_at, error) \
     SELECT id, ?2, ?3, ?4, 0, NULL, NULL FROM alerts WHERE id = ?1 AND notice = ?3 \
     ON CONFLICT (alert_id, channel) DO UPDATE SET sent = excluded.sent, \
     last_notified_at = excluded.last_notified_at, attempts = 0, next_at = NULL, error = NULL";

/// Record the sent notice (same parameters as [`NOTICE_SENT`], right after it).
pub const LOG_NOTICE: &str = "INSERT INTO alert_notices (alert_id, channel, state, sent_at) \
     SELECT ?1, ?2, ?3, ?4 WHERE changes() > 0";

/// A send on channel ?2 failed: ?1 id, ?3 next try (ms), ?4 error code. Counts an attempt.
pub const NOTICE_FAILED: &str = "INSERT INTO alert_deliveries \
     (alert_id, channel, attempts, next_at, error) VALUES (?1, ?2, 1, ?3, ?4) \
     ON CONFLICT (alert_id, channel) DO UPDATE SET attempts = attempts + 1, \
     next_at = excluded.next_at, error = excluded.error";

/// Channel ?1 cannot send at all now (its destination is paused, unknown, not `http`): mark
/// every notice due on it (not superseded) with code ?2 in one statement (no attempt, no
/// backoff; each cron looks again).
pub const HOLD_PENDING: &str = "INSERT INTO alert_deliveries (alert_id, channel, error) \
     SELECT a.id, ?1, ?2 FROM alerts a WHERE a.notice IS NOT NULL AND NOT EXISTS \
     (SELECT 1 FROM alert_deliveries d WHERE d.alert_id = a.id AND d.channel = ?1 \
      AND d.sent IS a.notice) \
     AND NOT EXISTS (SELECT 1 FROM alerts n WHERE n.kind = a.kind AND n.key = a.key \
     AND n.id > a.id) \
     ON CONFLICT (alert_id, channel) DO UPDATE SET error = excluded.error";

/// Settle: a notice every configured channel delivered is no longer due, nor is a superseded one
/// (a later alert of the same kind and key exists; its notice tells the latest state). ?1 = 1
/// when Slack is configured, ?2 = 1 when an `http` destination is; with neither, only
/// superseded notices settle (the others wait for a channel).
pub const SETTLE_NOTICES: &str = "UPDATE alerts SET notice = NULL WHERE notice IS NOT NULL \
     AND (EXISTS (SELECT 1 FROM alerts n WHERE n.kind = alerts.kind AND n.key = alerts.key \
          AND n.id > alerts.id) \
     OR (?1 + ?2 > 0 \
     AND (?1 = 0 OR EXISTS (SELECT 1 FROM alert_deliveries d WHERE d.alert_id = alerts.id \
          AND d.channel = 'slack' AND d.sent = alerts.notice)) \
     AND (?2 = 0 OR EXISTS (SELECT 1 FROM alert_deliveries d WHERE d.alert_id = alerts.id \
          AND d.channel = 'http' AND d.sent = alerts.notice))))";

/// The deliveries (channel, what it sent and when, its failures) of the alerts listed in ?1 (a
/// JSON array of ids).
pub const DELIVERIES_OF: &str = "SELECT alert_id, channel, sent, last_notified_at, attempts, \
     next_at, error FROM alert_deliveries \
     WHERE alert_id IN (SELECT value FROM json_each(?1)) ORDER BY alert_id, channel";

/// The most backfill runs one alert pass reads (more recovering runs in an hour than this is
/// not a thing a backfill does).
pub const RECOVERED_RUNS_READ: i64 = 100;

/// The real (not dry) backfill runs finished since ?1 (ms) that ingested events, newest first,
/// at most ?2: each is a `backfill_recovered` alert until an hour after it finished.
pub const RECOVERED_RUNS: &str = "SELECT CAST(id AS TEXT) AS id, provider, started_at, \
     finished_at, listed, ingested, duplicates FROM backfill_runs WHERE finished_at >= ?1 \
     AND dry_run = 0 AND ingested > 0 ORDER BY finished_at DESC LIMIT ?2";

/// Retention of metric buckets: ?1 the oldest minute kept.
pub const DELETE_OLD_EVENT_METRICS: &str = "DELETE FROM metric_events WHERE minute < ?1";
pub const DELETE_OLD_STEP_METRICS: &str = "DELETE FROM metric_steps WHERE minute < ?1";
