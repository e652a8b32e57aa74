-- The delivery's request headers, stored with each event it carried (issue 27): a JSON object of
-- lower-case names to values, credentials and signatures masked and the size capped by the
-- core's `inbound::stored_headers`. NULL for backfilled events, rows stored before this
-- migration, and once retention or a privacy request drops the event's payload.
ALTER TABLE events ADD COLUMN headers TEXT;
