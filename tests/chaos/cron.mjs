// The cron side of the run: ticks of the `scheduled` entry point (sweeper, retention, Stripe
// backfill, metrics flush, alerts) between rounds, with rows back-dated so retention has work:
// events whose steps are all finished for good are moved past RETENTION_DAYS (they must be
// deleted), and sometimes one whose steps are still waiting (it must be kept, and its steps
// must still be able to run). Stripe's event log (the fake's `GET /v1/events`) holds every
// event Stripe "sent", including some whose webhook was lost: the backfill must recover those.
// After retention deleted a Shopify event, an attacker may re-post its captured body with fresh
// unsigned ids: it must not become a new event.
import { stripeLostEvent } from "./traffic/index.mjs";

const DAY_MS = 86_400_000;

export function createCron({ runtime, rng, ledger, fake, cast, retentionDays, senders }) {
  async function tick() {
    await runtime.ready();
    try {
      await lookAgainAtMoved();
      await runtime.scheduled();
      ledger.cronTicks += 1;
      ledger.lastFlushAt = Date.now();
    } catch (e) {
      ledger.notes.push(`cron tick failed: ${String(e?.message ?? e).slice(0, 200)}`);
    }
  }

  /** The steps of every event moved past retention that D1 still holds, as they stand now. Only
   * a tick deletes (the sweeper's retention pass) and nothing else runs during one, so the last
   * look before it is what the dashboard check charges to an event that is gone: steps a replay
   * added after the event was moved included (an operator's new connection gains a step on a
   * replayed event, which then succeeds and is counted). An event found gone keeps its last look. */
  async function lookAgainAtMoved() {
    const moved = [...ledger.retention.finished.values(), ...ledger.retention.unfinished.values()].filter((e) => !e.gone);
    if (!moved.length) return;
    const ids = JSON.stringify(moved.map((e) => e.id));
    const present = new Set((await runtime.all("SELECT id FROM events WHERE id IN (SELECT value FROM json_each(?))", ids)).map((r) => r.id));
    const steps = await runtime.all("SELECT event_id, id, destination, status FROM steps WHERE event_id IN (SELECT value FROM json_each(?))", ids);
    for (const e of moved) {
      if (!present.has(e.id)) e.gone = true;
      else e.steps = steps.filter((s) => s.event_id === e.id).map(({ id, destination, status }) => ({ id, destination, status }));
    }
  }

  /** Move some finished events (and maybe one unfinished) past retention, then tick. */
  async function retention() {
    await runtime.ready();
    const finished = await runtime.all(
      `SELECT e.id, e.provider, e.origin, e.status, e.content_key, e.dedupe_key FROM events e WHERE e.status = 'accepted' AND e.received_at > ?
         AND NOT EXISTS (SELECT 1 FROM steps s WHERE s.event_id = e.id AND s.status NOT IN ('succeeded', 'skipped', 'skipped_stale'))
       ORDER BY e.id LIMIT 200`,
      Date.now() - (retentionDays - 1) * DAY_MS,
    );
    // An event a provider is still sending (a planned repeat, a retry) is not 31 days old: no
    // provider retries that long, so only events whose deliveries have all landed are moved.
    const landed = finished.filter((e) => !ledger.eventsInFlight.has(e.id));
    const chosen = rng.shuffle(landed).slice(0, rng.int(1, 6));
    // The unfinished event must still be unfinished when the sweeper runs: a waiting step can
    // succeed in between (its deletion is then right, and the check could not tell), so it is
    // one with a `dead` step, which nothing but an operator moves; the events operators
    // replayed or whose steps they redrove are left out, since their steps may be running now.
    const dead = rng.chance(0.3)
      ? await runtime.all(
          `SELECT DISTINCT e.id, e.provider, e.dedupe_key, e.content_key, s.id AS step FROM events e JOIN steps s ON s.event_id = e.id
           WHERE s.status = 'dead' AND e.payload IS NOT NULL ORDER BY e.id LIMIT 50`,
        )
      : [];
    const untouched = dead.filter((e) => !ledger.replayed.has(e.id) && !ledger.redriven.has(e.step) && !ledger.eventsInFlight.has(e.id));
    const unfinished = untouched.length ? [rng.pick(untouched)] : [];
    const ids = [...chosen, ...unfinished].map((e) => e.id);
    if (!ids.length) return tick();
    await runtime.all(
      `UPDATE events SET received_at = received_at - ? WHERE id IN (${ids.map(() => "?").join(",")})`,
      (retentionDays + 1) * DAY_MS,
      ...ids,
    );
    const shiftMs = (retentionDays + 1) * DAY_MS;
    // Each one's steps are looked at again before every tick (`lookAgainAtMoved`): what the
    // dashboard counted for them stays in its minute buckets once retention deletes them.
    for (const e of chosen) ledger.retention.finished.set(e.id, { ...e, steps: [], at: Date.now(), shiftMs });
    for (const e of unfinished) ledger.retention.unfinished.set(e.id, { ...e, steps: [], at: Date.now(), shiftMs });
    // Moved 31 days back, the unfinished one is past Stripe's log as well: were it still listed,
    // the backfill would store it again once retention deleted it (its steps finished since),
    // a world that cannot happen (no tombstone outlives Stripe's 30 days either).
    forgetInStripeLog(new Set([...chosen, ...unfinished].filter((e) => e.provider === "stripe").map((e) => e.dedupe_key)));
    await tick();
  }

  /** An event past retention is past Stripe's 30 days of event log too, finished or not: the
   * backfill cannot list it any more (it lists at most 30 days back), so it leaves the fake's log. */
  function forgetInStripeLog(keys) {
    if (!keys.size) return;
    const kept = fake.stripeEvents.events().filter((e) => !keys.has(e.id));
    fake.stripeEvents.clear();
    for (const e of kept) fake.stripeEvents.add(e);
  }

  /** Re-post the captured body of a Shopify event retention deleted, with fresh unsigned ids. */
  function replayCapturedBody() {
    const deleted = [...ledger.retention.finished.values()].filter((e) => e.provider === "shopify");
    if (!deleted.length) return;
    const target = rng.pick(deleted);
    const delivery = ledger.deliveryOfEvent(target.id);
    if (!delivery) return;
    const attack = { ...delivery, id: `${delivery.id}-captured`, sends: 1, capturedAfterRetention: target.id, build: () => delivery.buildReplay() };
    senders.submit(attack);
  }

  /** Put an event in Stripe's log whose webhook never arrives. */
  function loseStripeEvent() {
    const { event, record } = stripeLostEvent(rng, cast);
    fake.stripeEvents.add(event);
    ledger.lostStripe.push(record);
  }

  /** One admin backfill pass from `since` until Stripe's list is exhausted (bounded). */
  async function backfill(since) {
    let cursor;
    for (let page = 0; page < 20; page++) {
      await runtime.ready();
      const before = ledger.platformState();
      const res = await runtime.current.mf.dispatchFetch("http://localhost/admin/api/backfill/stripe", {
        method: "POST",
        headers: { authorization: `Bearer ${ledger.adminToken}`, "content-type": "application/json" },
        body: JSON.stringify({ since, ...(cursor ? { cursor } : {}) }),
      });
      const json = await res.json().catch(() => ({}));
      ledger.operator.push({ method: "POST", path: "/admin/api/backfill/stripe", at: Date.now(), status: res.status, answer: json, before, after: ledger.platformState() });
      if (res.status !== 200 || json.error) return json;
      if (json.complete !== false) return json;
      cursor = json.next_cursor;
    }
    return null;
  }

  return { tick, retention, replayCapturedBody, loseStripeEvent, backfill };
}
