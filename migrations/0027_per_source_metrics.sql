-- Registry sources (provider `in`, issue 26) counted each on its own: the dashboard's minute
-- buckets, the hourly verification failures and /metrics' rejection totals gain a `source`
-- column: the registry source's name for provider `in` ('unknown' for a name that named no
-- source), '' for every built-in provider (their buckets stay one per provider). SQLite cannot
-- change a primary key, so each table is rebuilt with `source` in its key and every row copied
-- with source '' (what it counted: the provider as a whole). metric_rejection_totals is a
-- running total (/metrics' counters never go down): its rows are copied, never dropped.

CREATE TABLE metric_events_new (
  minute   INTEGER NOT NULL,
  provider TEXT NOT NULL,
  source   TEXT NOT NULL DEFAULT '',
  outcome  TEXT NOT NULL,
  reason   TEXT NOT NULL DEFAULT '',
  count    INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (minute, provider, source, outcome, reason)
) WITHOUT ROWID;
INSERT INTO metric_events_new (minute, provider, source, outcome, reason, count)
  SELECT minute, provider, '', outcome, reason, count FROM metric_events;
DROP TABLE metric_events;
ALTER TABLE metric_events_new RENAME TO metric_events;

CREATE TABLE metric_rejection_totals_new (
  provider TEXT NOT NULL,
  source   TEXT NOT NULL DEFAULT '',
  reason   TEXT NOT NULL,
  count    INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (provider, source, reason)
) WITHOUT ROWID;
INSERT INTO metric_rejection_totals_new (provider, source, reason, count)
  SELECT provider, '', reason, count FROM metric_rejection_totals;
DROP TABLE metric_rejection_totals;
ALTER TABLE metric_rejection_totals_new RENAME TO metric_rejection_totals;

CREATE TABLE rejections_new (
  provider TEXT NOT NULL,
  source   TEXT NOT NULL DEFAULT '',
  reason   TEXT NOT NULL,
  hour     INTEGER NOT NULL,                  -- Unix seconds at the start of the hour
  count    INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (provider, source, reason, hour)
);
INSERT INTO rejections_new (provider, source, reason, hour, count)
  SELECT provider, '', reason, hour, count FROM rejections;
DROP TABLE rejections;
ALTER TABLE rejections_new RENAME TO rejections;
