-- Fewer index rows written per step (issue 25). D1 bills every row written, each index entry an
-- INSERT or UPDATE puts included (an entry removed is not billed). `steps_status` (status,
-- updated_at) and `steps_destination` (destination, status) took a write at every transition
-- of every step, finished ones included, and no query reads finished steps through them.
--
-- Only two kinds of step are looked up by status: those still in flight (the sweeper's overdue
-- steps: `pending`, `enqueued`, `running`, oldest `updated_at` first) and `dead` ones (dead
-- letters, redrive, alerts; newest first, by destination within them). Each now has a partial
-- index holding just those rows, so a step's last transition (to `succeeded`, `skipped`,
-- `skipped_stale`) writes no index entry, and one to `dead` writes one. The sets are the core's
-- `RECOVERABLE` and `DEAD_LETTERS` (handlers/src/steps/lifecycle/status.rs; a native test
-- checks these lists against them). Counting steps per status reads the table.
DROP INDEX IF EXISTS steps_status;
DROP INDEX IF EXISTS steps_destination;
CREATE INDEX steps_open ON steps (status, updated_at)
  WHERE status IN ('pending', 'enqueued', 'running');
CREATE INDEX steps_dead ON steps (updated_at) WHERE status = 'dead';
