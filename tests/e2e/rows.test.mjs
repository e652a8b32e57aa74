// D1 rows read by hand (src/db/rows.rs: column accessors instead of serde) end to end through
// workerd: one event's detail gives back every column of the event, its steps and its attempts as
// D1 stores them (SQL NULL as null); a column holding another type, a fraction, or an integer past
// JavaScript's safe range makes the read an error (503 unavailable, nothing half-read), never a
// default or a crash, and the same row reads again once the column is sound.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { TEST_SECRETS } from "../helpers/worker.mjs";
import { useWorld } from "../helpers/world.mjs";
import { checkoutCompleted } from "../helpers/stripe.mjs";

const AUTH = { authorization: `Bearer ${TEST_SECRETS.ADMIN_TOKEN}` };

describe("D1 rows read by hand", () => {
  const w = useWorld({ vars: { RETRY_BASE_SECONDS: "0" } });

  async function storedEvent() {
    const { key } = await w.deliver("stripe", checkoutCompleted({ id: `evt_rows_${Date.now()}` }));
    const steps = await w.settled("stripe", key);
    return steps[0].event_id;
  }

  const detail = (id) => w.worker.get(`/admin/api/events/${id}`, AUTH);

  test("an event's detail gives back every stored column", async () => {
    const id = await storedEvent();
    const res = await detail(id);
    assert.equal(res.status, 200, res.text);
    const { event, steps, timeline } = res.json;

    const [row] = await w.worker.all("SELECT * FROM events WHERE id = ?", id);
    for (const column of ["id", "provider", "source", "dedupe_key", "account", "occurred_at", "received_at", "status", "payload_bytes", "redacted_at", "error", "batch_index", "key_index", "origin", "payload"]) {
      assert.deepEqual(event[column], row[column], `events.${column}`);
    }
    assert.equal(event.type, row.type);
    assert.equal(event.steps, steps.length);

    const stored = await w.worker.all("SELECT * FROM steps WHERE event_id = ? ORDER BY created_at, name", id);
    assert.ok(stored.length > 0);
    const columns = ["id", "name", "destination", "status", "attempts", "next_attempt_at", "last_status", "last_error", "created_at", "updated_at"];
    assert.deepEqual(
      steps.map((s) => columns.map((c) => s[c])),
      stored.map((s) => columns.map((c) => s[c])),
    );

    const attempts = await w.worker.all(
      "SELECT a.* FROM attempts a JOIN steps s ON s.id = a.step_id WHERE s.event_id = ? ORDER BY a.started_at, a.id",
      id,
    );
    assert.ok(attempts.length > 0);
    assert.deepEqual(
      timeline.filter((t) => t.kind === "attempt").map((t) => [t.step_id, t.n, t.at, t.duration_ms, t.status, t.outcome, t.error]),
      attempts.map((a) => [a.step_id, a.n, a.started_at, a.duration_ms, a.status, a.outcome, a.error]),
    );
  });

  test("a mistyped or out-of-range column is an error, never a default; NULL where allowed is null", async () => {
    const id = await storedEvent();
    const [{ occurred_at: occurredAt }] = await w.worker.all("SELECT occurred_at FROM events WHERE id = ?", id);
    assert.equal(typeof occurredAt, "number");
    const setOccurredAt = (value) => w.worker.all("UPDATE events SET occurred_at = ? WHERE id = ?", value, id);

    for (const bad of ["soon", 1.5, 9007199254740993]) {
      await setOccurredAt(bad);
      const res = await detail(id);
      assert.equal(res.status, 503, `occurred_at = ${bad}: ${res.text}`);
      assert.equal(res.json.error, "unavailable");
    }
    // A text column holding something else (a blob: SQLite's TEXT affinity would turn a number
    // into text) is as wrong as the reverse.
    await setOccurredAt(occurredAt);
    await w.worker.all("UPDATE steps SET last_error = X'6869' WHERE event_id = ?", id);
    assert.equal((await detail(id)).status, 503);
    await w.worker.all("UPDATE steps SET last_error = NULL WHERE event_id = ?", id);

    await setOccurredAt(null);
    const nulled = await detail(id);
    assert.equal(nulled.status, 200, nulled.text);
    assert.equal(nulled.json.event.occurred_at, null);

    await setOccurredAt(occurredAt);
    const back = await detail(id);
    assert.equal(back.status, 200, back.text);
    assert.equal(back.json.event.occurred_at, occurredAt);
  });
});
