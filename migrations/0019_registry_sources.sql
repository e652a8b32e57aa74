-- Sources added at runtime through the admin API (issue 26): `/webhooks/in/{name}`, each
-- verified by a scheme of the catalogue (handlers/src/inbound/schemes). Their events are stored
-- like every other with provider 'in' and `events.source` = the name. Ingest reads a source's
-- row (cached in isolate memory for at most 5 s).

-- `spec` is the validated JSON the admin API took, without the secrets: scheme, config,
-- dedupe, event_type, max_body_bytes, enabled. `secrets` is the JSON list of secrets sealed
-- (AES-256-GCM under SECRETS_KEY, `v1:` + base64 of nonce and ciphertext, bound to the source's
-- name): never plaintext, never returned. `fingerprints` (JSON list, the same order) is what
-- the admin API shows instead.
CREATE TABLE registry_sources (
  name          TEXT PRIMARY KEY,
  scheme        TEXT NOT NULL,
  spec          TEXT NOT NULL,
  secrets       TEXT NOT NULL,
  fingerprints  TEXT NOT NULL DEFAULT '[]',
  enabled       INTEGER NOT NULL DEFAULT 1,
  created_at    INTEGER NOT NULL,
  updated_at    INTEGER NOT NULL
);
