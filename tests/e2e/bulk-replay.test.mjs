// Bulk replay by filter (POST /admin/api/replay) through workerd, over events stored directly in
// D1 with known times, sources and step states, and no consumer for `steps` (what a replay sent
// waits in the queue, so the test sees exactly what the replay itself did): the dry run's counts
// per step (run again, added, already done) and its sample change nothing; filters by source,
// type, time and step; a paged real run over more events than a page replays each event exactly
// once (the cursor resumes after the last one, the pass ends where it was bounded) and adds the
// steps the routes give the events but they lack; bad requests are 400 naming the parameter.
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { consumersWith, TEST_SECRETS } from "../helpers/worker.mjs";
import { useWorld } from "../helpers/world.mjs";

const AUTH = { authorization: `Bearer ${TEST_SECRETS.ADMIN_TOKEN}`, "content-type": "application/json" };
const T = Date.now() - 600_000;
const FAILED = "invoice.payment_failed"; // routes: sendgrid.send, hubspot.upsert_contact, slack.notify
const SUCCEEDED = "invoice.payment_succeeded"; // routes: hubspot.upsert_contact

const eu = Array.from({ length: 7 }, (_, i) => ({ id: `evt_bulk_eu_${i}`, at: T + i, type: FAILED, source: "eu", step: i === 6 ? "succeeded" : "dead" }));
const euOther = { id: "evt_bulk_eu_other", at: T + 7, type: SUCCEEDED, source: "eu", step: null };
const plain = [0, 1].map((i) => ({ id: `evt_bulk_default_${i}`, at: T + 10 + i, type: FAILED, source: null, step: "dead" }));

describe("bulk replay by filter", () => {
  const w = useWorld({ miniflare: { queueConsumers: consumersWith({ steps: null }) } });

  async function store(events) {
    for (const e of events) {
      await w.worker.all(
        "INSERT INTO events (id, provider, dedupe_key, type, received_at, status, payload, payload_bytes, source) VALUES (?, 'stripe', ?, ?, ?, 'accepted', '{}', 2, ?)",
        e.id, e.source ? `src:${e.source}:${e.id}` : e.id, e.type, e.at, e.source,
      );
      if (e.step) {
        await w.worker.all(
          "INSERT INTO steps (id, event_id, name, destination, status, attempts, last_error, idempotency_key, created_at, updated_at) VALUES (?, ?, 'slack.notify', 'slack', ?, 3, 'http_500: down', ?, ?, ?)",
          `${e.id}:slack.notify`, e.id, e.step, `${e.id}:slack.notify`, e.at, e.at,
        );
      }
    }
  }
  before(async () => store([...eu, euOther, ...plain]));

  const replay = (body) => w.worker.post("/admin/api/replay", JSON.stringify(body), AUTH);
  const stepRows = () => w.worker.all("SELECT id, status, attempts, dispatch FROM steps WHERE event_id LIKE 'evt_bulk_%' ORDER BY id");

  test("a dry run counts events and steps per name, shows a sample, and changes nothing", async () => {
    const before = await stepRows();
    const res = await replay({ source: "eu", type: FAILED, dry_run: true });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.dry_run, true);
    assert.equal(res.json.events, 7);
    assert.deepEqual(res.json.steps, [
      { name: "hubspot.upsert_contact", run: 0, add: 7, already_done: 0, in_progress: 0 },
      { name: "sendgrid.send", run: 0, add: 7, already_done: 0, in_progress: 0 },
      { name: "slack.notify", run: 6, add: 0, already_done: 1, in_progress: 0 },
    ]);
    assert.equal(res.json.would_run, 6);
    assert.equal(res.json.would_add, 14);
    assert.deepEqual(res.json.sample, eu.map((e) => e.id));
    assert.equal(res.json.calls, 1);
    assert.deepEqual(await stepRows(), before, "a dry run changes nothing");
  });

  test("filters by source, type, time range and step select what they say", async () => {
    const count = async (filter) => {
      const res = await replay({ ...filter, dry_run: true });
      assert.equal(res.status, 200, res.text);
      return res.json.events;
    };
    assert.equal(await count({ provider: "stripe", source: "eu" }), 8);
    assert.equal(await count({ source: "default" }), 2);
    assert.equal(await count({ source: "eu", type: SUCCEEDED }), 1);
    assert.equal(await count({ source: "eu", from: T + 2, to: T + 5 }), 3);
    assert.equal(await count({ source: "eu", from: new Date(T + 7).toISOString() }), 1);
    assert.equal(await count({ step: "slack.notify", step_status: "dead", destination: "slack", from: T, to: T + 20 }), 8);
    assert.equal(await count({ step: "slack.notify", step_status: "succeeded", from: T, to: T + 20 }), 1);
    assert.equal(await count({ source: "us" }), 0);
  });

  test("a paged run replays each event exactly once, resumes with the cursor and adds missing steps", async () => {
    const seen = [];
    const pages = [];
    let cursor;
    let added = 0;
    let requeued = 0;
    do {
      const res = await replay({ source: "eu", limit: 3, ...(cursor ? { cursor } : {}) });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json.dry_run, false);
      assert.equal(res.json.interrupted, null);
      pages.push(res.json.replayed.length);
      seen.push(...res.json.replayed);
      added += res.json.added;
      requeued += res.json.requeued;
      cursor = res.json.next_cursor;
      if (pages.length === 1) {
        // An event stored after the pass began is past its bound: never part of this pass.
        await store([{ id: "evt_bulk_eu_late", at: Date.now() + 5_000, type: FAILED, source: "eu", step: "dead" }]);
      }
    } while (cursor && pages.length < 10);
    assert.deepEqual(pages, [3, 3, 2]);
    assert.deepEqual(seen, [...eu, euOther].map((e) => e.id), "every event once, oldest first");
    assert.equal(requeued, 6);
    assert.equal(added, 7 * 2 + 1, "sendgrid.send and hubspot.upsert_contact for each failed invoice, hubspot for the other");
    const rows = await stepRows();
    const byId = Object.fromEntries(rows.map((r) => [r.id, r]));
    for (const e of eu.slice(0, 6)) {
      // One requeue each: a second replay would have bumped dispatch again.
      assert.deepEqual(byId[`${e.id}:slack.notify`], { id: `${e.id}:slack.notify`, status: "enqueued", attempts: 0, dispatch: 1 });
    }
    assert.equal(byId["evt_bulk_eu_6:slack.notify"].status, "succeeded", "a finished step is not run again");
    assert.equal(byId["evt_bulk_eu_6:slack.notify"].dispatch, 0);
    for (const e of eu) {
      for (const name of ["sendgrid.send", "hubspot.upsert_contact"]) {
        assert.equal(byId[`${e.id}:${name}`]?.status, "enqueued", `${e.id} gained ${name}`);
      }
    }
    assert.equal(byId["evt_bulk_eu_other:hubspot.upsert_contact"]?.status, "enqueued");
    assert.equal(byId["evt_bulk_eu_late:slack.notify"].status, "dead", "the late event was not replayed");
    assert.equal(byId["evt_bulk_default_0:slack.notify"].status, "dead", "another source was not replayed");

    const again = await replay({ source: "eu", type: FAILED, from: T, to: T + 7, dry_run: true });
    assert.equal(again.json.would_add, 0, "nothing left to add");
    assert.equal(again.json.would_run, 6 + 14, "the requeued and added steps wait in the queue (enqueued: run again)");
  });

  test("bad requests are 400 naming the parameter; a cursor belongs to its filter", async () => {
    for (const [body, code, param] of [
      [{ limit: 101 }, "invalid_filter", /^limit/],
      [{ source: "Not Valid" }, "invalid_filter", /^source/],
      [{ from: "soon" }, "invalid_filter", /^from/],
      [{ status: "done" }, "invalid_filter", /^status/],
      [{ step: "fax.send" }, "invalid_filter", /^step/],
      [{ colour: "red" }, "invalid_filter", /unknown parameter "colour"/],
      [{ cursor: "garbage" }, "invalid_cursor", /cursor/],
    ]) {
      const res = await replay(body);
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal(res.json.error, code);
      assert.match(res.json.detail, param);
    }
    const first = await replay({ source: "default", limit: 1 });
    assert.ok(first.json.next_cursor);
    const other = await replay({ source: "eu", cursor: first.json.next_cursor });
    assert.equal(other.status, 400);
    assert.equal(other.json.error, "invalid_cursor");
    assert.equal((await w.worker.post("/admin/api/replay", "not json", AUTH)).json.error, "invalid_json");
    assert.equal((await w.worker.get("/admin/api/replay", AUTH)).status, 405);
    assert.equal((await w.worker.post("/admin/api/replay", "{}", { "content-type": "application/json" })).status, 401);
  });
});
