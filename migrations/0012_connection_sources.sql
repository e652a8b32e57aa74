-- A connection may select one source of its provider (issue 13: several sources per provider):
-- NULL takes events from every source, 'default' only /webhooks/{provider}, any other name only
-- /webhooks/{provider}/{name}.
ALTER TABLE connections ADD COLUMN source TEXT;
