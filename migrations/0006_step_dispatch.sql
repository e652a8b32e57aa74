-- Dispatch numbers: which send of a step a queue message belongs to.

-- Bumped by every sweeper re-send and admin redrive/replay (a deferral's or retry's fresh
-- message keeps the number of the message it replaces). Messages carry it (`dispatch`, absent
-- for 0); the dead-letter consumer ends a step `dead` only while its dispatch still equals the
-- dead-lettered message's, so a step redriven, re-sent or finished since is never killed.
ALTER TABLE steps ADD COLUMN dispatch INTEGER NOT NULL DEFAULT 0;

-- (No schema change) `attempts.outcome` gains the value `probe`: a failed half-open circuit
-- probe, recorded but not charged to the step's MAX_ATTEMPTS.
