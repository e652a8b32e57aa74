-- The admin audit trail (issue 27): one row per mutating admin API call (POST, PUT, PATCH,
-- DELETE on a path of the route table), refused ones (403) included. `who` is the caller
-- (`ADMIN_TOKEN[i]`, `token:<name>`, or an Access email), `action` the method and route pattern,
-- `target` the path's names and ids, `body_sha256` the SHA-256 (hex) of the request body (never
-- the body: it may carry secrets), `status` the answer's. `expires_at` is `at` plus
-- `AUDIT_RETENTION_DAYS` when the row was written; retention deletes rows past it.
CREATE TABLE IF NOT EXISTS admin_audit (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at INTEGER NOT NULL,
  who TEXT NOT NULL,
  via TEXT NOT NULL,
  role TEXT NOT NULL,
  action TEXT NOT NULL,
  target TEXT,
  body_sha256 TEXT,
  status INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS admin_audit_expiry ON admin_audit (expires_at);
CREATE INDEX IF NOT EXISTS admin_audit_who ON admin_audit (who, id);
