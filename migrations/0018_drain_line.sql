-- Draining a paused http destination (issue 23): its parked steps are released in pages, oldest
-- first, and a page goes only once no released step of the destination waits for its claim.
-- These partial indexes hold only the steps in that line, so reading a page or checking the line
-- costs the same with ten or ten thousand steps parked (the SQL: handlers/src/connections/sql.rs).
CREATE INDEX steps_parked ON steps (destination, created_at)
  WHERE status = 'enqueued' AND last_error = 'destination_paused';
CREATE INDEX steps_released ON steps (destination, status)
  WHERE last_error = 'destination_draining';
