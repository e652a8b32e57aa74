-- A connection's transform (issue 27): its validated JSON (`{"ops": [...], "headers": {...}}`,
-- handlers/src/connections/transform/), NULL for none (the payload is sent verbatim). Only a
-- connection to an http destination has one. A step reads the transform of the connection that
-- takes its event when it is sent (the destination's row read brings them), not a copy made when
-- it was planned.
ALTER TABLE connections ADD COLUMN transform TEXT;
