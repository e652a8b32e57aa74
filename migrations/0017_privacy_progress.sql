-- HubSpot contact.privacyDeletion runs in pages (issue 23): each run of its step scans a bounded
-- number of stored events, in rowid order, and records here how far it got, so a person with
-- many events is forgotten over several runs and a re-run resumes instead of starting over.
-- Who the person is (addresses, linked Stripe customers) is gathered before anything of theirs
-- is removed: first from the contact's link and the stored Stripe customer, then from a first
-- pass over the events (phase 'find'); the second pass (phase 'redact') removes. The row is kept
-- once done (done_at set) with the addresses and customers emptied, so a repeat does nothing.
CREATE TABLE privacy_progress (
  event_id   TEXT PRIMARY KEY,            -- the request's event
  contact_id TEXT NOT NULL,
  emails     TEXT NOT NULL DEFAULT '[]',  -- JSON array of normalised addresses; '[]' once done
  customers  TEXT NOT NULL DEFAULT '[]',  -- JSON array of Stripe customer ids; '[]' once done
  phase      TEXT NOT NULL DEFAULT 'find', -- find | redact
  scanned_to INTEGER NOT NULL DEFAULT 0,  -- events rowid the current pass has reached
  scan_end   INTEGER NOT NULL,            -- the newest events rowid when the request began
  affected   INTEGER NOT NULL DEFAULT 0,  -- payloads dropped so far
  started_at INTEGER NOT NULL,
  done_at    INTEGER
);
