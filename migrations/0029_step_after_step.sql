-- The step a step was handed back behind (steps.id; NULL: none). A HubSpot contact upsert held
-- back because an older input of its contact was not settled (it will be retried, or was put
-- back) records that input's step here; until that step has ended (succeeded, skipped, dead),
-- each load of this one reads it (a LEFT JOIN by primary key) and puts this one off again,
-- uncharged, until just after the older one is due: a newer update never goes out before an
-- older one still to be retried (handlers/src/steps/behind.rs).
ALTER TABLE steps ADD COLUMN after_step TEXT;
