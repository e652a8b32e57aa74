-- Named admin API tokens (issue 27): each with a role, stored hashed. A token is
-- `ehk_<token_id>_<secret>`; `token_id` (public, random) finds the row, `token_hash` is the
-- SHA-256 (hex) of the whole token, compared in constant time. The token itself is shown once,
-- when it is created, and never stored. Deleting the row revokes the token.
CREATE TABLE IF NOT EXISTS api_tokens (
  name TEXT PRIMARY KEY,
  token_id TEXT NOT NULL UNIQUE,
  token_hash TEXT NOT NULL,
  role TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  created_by TEXT NOT NULL,
  last_used_at INTEGER
);
