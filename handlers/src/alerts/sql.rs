//! The alerts' SQL, beside the rules it carries out (native tests run it against the
//! migrations): firing is an insert that the partial unique index `alerts_open` turns into a
//! no-op while an alert of that kind and key is open (dedupe holds even if two crons race);
//! clearing and notice bookkeeping are conditional updates.

/// Fire: ?1 kind, ?2 key, ?3 detail, ?4 now. No row while one is open for kind and key.
pub const FIRE: &str = "INSERT INTO alerts (kind, key, detail, fired_at, notice) \
     VALUES (?1, ?2, ?3, ?4, 'fired') ON CONFLICT DO NOTHING";

/// Clear an open alert: ?1 id, ?2 now. Its notice becomes `cleared` (a `fired` notice not yet
/// sent is folded into it: the cleared notice says what fired).
pub const CLEAR: &str =
    "UPDATE alerts SET cleared_at = ?2, notice = 'cleared' WHERE id = ?1 AND cleared_at IS NULL";

/// Refresh an open alert's detail: ?1 id, ?2 detail.
pub const UPDATE_DETAIL: &str =
    "UPDATE alerts SET detail = ?2 WHERE id = ?1 AND cleared_at IS NULL";

/// Open alerts: id, kind, key, detail.
pub const OPEN: &str = "SELECT id, kind, key, detail FROM alerts WHERE cleared_at IS NULL";

/// Notices to send, with the last notice sent for the same kind and key (any firing).
pub const PENDING_NOTICES: &str = "SELECT a.id, a.kind, a.key, a.detail, a.notice, a.fired_at, \
     a.notice_attempts, a.notice_next_at, \
     (SELECT MAX(b.last_notified_at) FROM alerts b WHERE b.kind = a.kind AND b.key = a.key) \
     AS last_notified_at FROM alerts a WHERE a.notice IS NOT NULL ORDER BY a.id LIMIT 50";

/// Notices sent since ?1.
pub const SENT_SINCE: &str = "SELECT COUNT(*) AS n FROM alert_notices WHERE sent_at >= ?1";

/// A notice went out: ?1 id, ?2 the notice sent, ?3 now. Only if that notice is still the one
/// due (a clear in the meantime leaves its own notice pending).
pub const NOTICE_SENT: &str = "UPDATE alerts SET notice = NULL, notice_attempts = 0, \
     notice_next_at = NULL, notice_error = NULL, last_notified_at = ?3 \
     WHERE id = ?1 AND notice = ?2";

/// Record the sent notice: ?1 id, ?2 state, ?3 now.
pub const LOG_NOTICE: &str = "INSERT INTO alert_notices (alert_id, state, sent_at) \
     SELECT ?1, ?2, ?3 WHERE changes() > 0";

/// A send failed: ?1 id, ?2 next try (ms), ?3 error code.
pub const NOTICE_FAILED: &str = "UPDATE alerts SET notice_attempts = notice_attempts + 1, \
     notice_next_at = ?2, notice_error = ?3 WHERE id = ?1 AND notice IS NOT NULL";

/// Retention of metric buckets: ?1 the oldest minute kept.
pub const DELETE_OLD_EVENT_METRICS: &str = "DELETE FROM metric_events WHERE minute < ?1";
pub const DELETE_OLD_STEP_METRICS: &str = "DELETE FROM metric_steps WHERE minute < ?1";
