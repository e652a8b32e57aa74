// The invariant checker: reads D1 (through Miniflare's D1 binding), the fake downstream's call
// log and the run's ledger, and lists every violation with the event and step ids it is about.
// Each invariant is one function returning `{ name, means, checked, violations }`; `means` is the
// promise it checks, in one line (docs/chaos.md explains them). Known product bugs being
// fixed elsewhere are not excused here: a violation is a violation.
import { FATAL_PATTERNS, secretsIn } from "./logs.mjs";
import { PERMANENT_MARK, callStepId } from "./downstream.mjs";

const FINISHED = new Set(["succeeded", "skipped", "skipped_stale", "dead"]);
const MAIL = "/v3/mail/send";
const DEALS_UPSERT = "/crm/v3/objects/deals/batch/upsert";
const CONTACTS_UPSERT = "/crm/v3/objects/contacts/batch/upsert";
const UPSERT_CONTACT = "hubspot.upsert_contact";

/** Everything the checks read, loaded once. */
export async function loadFacts({ runtime, fake, ledger }) {
  const all = (sql, ...p) => runtime.all(sql, ...p);
  const events = await all(
    "SELECT id, provider, source, dedupe_key, content_key, type, occurred_at, received_at, status, origin, payload IS NULL AS no_payload, redacted_at FROM events",
  );
  const steps = await all(
    "SELECT id, event_id, name, destination, status, attempts, last_status, last_error, entity, created_at, updated_at FROM steps",
  );
  const attempts = await all("SELECT step_id, n, started_at, duration_ms, status, outcome, error FROM attempts ORDER BY id");
  const metricEvents = await all("SELECT provider, outcome, reason, SUM(count) AS n FROM metric_events GROUP BY provider, outcome, reason");
  const metricSteps = await all("SELECT destination, outcome, SUM(count) AS n FROM metric_steps GROUP BY destination, outcome");
  // The admin dashboard's own answer (24 h window: a run is shorter).
  const dashboard = (await runtime.get("/admin/api/metrics?window=24h", { authorization: `Bearer ${ledger.adminToken}` })).json;
  const byKey = new Map(events.map((e) => [`${e.provider}\u0000${e.dedupe_key}`, e]));
  const byContent = new Map(events.filter((e) => e.content_key).map((e) => [`${e.provider}\u0000${e.content_key}`, e]));
  const eventsById = new Map(events.map((e) => [e.id, e]));
  const stepsById = new Map(steps.map((s) => [s.id, s]));
  const stepsOfEvent = groupBy(steps, (s) => s.event_id);
  const attemptsOfStep = groupBy(attempts, (a) => a.step_id);
  return { ledger, fake, dashboard, logs: runtime.logs(), events, steps, attempts, metricEvents, metricSteps, byKey, byContent, eventsById, stepsById, stepsOfEvent, attemptsOfStep };
}

/** The stored row of a ledger event (Shopify by the digest of its body, else by dedupe key). */
function storedRow(facts, event) {
  if (event.contentKey) return facts.byContent.get(`${event.provider}\u0000${event.contentKey}`) ?? null;
  return facts.byKey.get(`${event.provider}\u0000${event.storedKey}`) ?? null;
}

/** Whether an exchange overlapped a platform fault that may answer 5xx (D1 down, runtime killed). */
const faulted = (x) => x.before.d1Ingest || x.after.d1Ingest || x.before.restarting || x.after.restarting || x.before.epoch !== x.after.epoch;

/** Whether a call overlapped a runtime kill (the only fault that may fail an admin call). */
const killed = (x) => x.before.restarting || x.after.restarting || x.before.kills !== x.after.kills;

/** Whether an operator redrove or replayed the dead step of an event the run moved past
 * retention unfinished (finishing it, so retention may then delete it, rightly). */
const touched = (facts, kept) => facts.ledger.redriven.has(kept.step) || facts.ledger.replayed.has(kept.id);

/** The events the run moved past retention that retention may rightly delete: those with their
 * steps finished, and those with a dead step an operator later finished. */
function movedPastRetention(facts) {
  const { finished, unfinished } = facts.ledger.retention;
  return [...finished.values(), ...[...unfinished.values()].filter((kept) => touched(facts, kept))];
}

/** Whether the run moved the event past retention with its steps finished, or with a dead step
 * an operator later redrove or replayed. Matched by D1's id or, for Shopify, by the digest of
 * the body: a delivery whose first send failed may be stored by a later send with a fresh
 * `X-Shopify-Event-Id` (another id, the same body). */
function retentionDeleted(facts, event) {
  return movedPastRetention(facts).some((gone) => gone.id === event.eventId || (event.contentKey && gone.content_key === event.contentKey));
}

/** Whether retention may rightly have deleted the stored event `id` (and its steps). */
const retentionDeletedId = (facts, id) => movedPastRetention(facts).some((gone) => gone.id === id);

export const INVARIANTS = [
  function answeredIsStored(facts) {
    const violations = [];
    let checked = 0;
    for (const x of facts.ledger.exchanges) {
      const d = facts.ledger.deliveries.get(x.delivery);
      if (x.status < 200 || x.status >= 300 || d.expect !== "accepted") continue;
      for (const event of d.events) {
        checked += 1;
        if (!storedRow(facts, event) && !retentionDeleted(facts, event)) {
          violations.push({ delivery: d.id, kind: d.kind, event: event.eventId, key: event.storedKey, answer: x.json });
        }
      }
    }
    return { name: "answered-2xx-is-stored", means: "every event of a delivery answered 2xx is in D1", checked, violations };
  },

  function signaturesRefused(facts) {
    const violations = [];
    let checked = 0;
    for (const d of facts.ledger.deliveries.values()) {
      if (d.expect !== "unauthorized") continue;
      for (const x of facts.ledger.exchanges.filter((e) => e.delivery === d.id)) {
        checked += 1;
        if (x.status !== 401 && !(x.status === 0 || (x.status >= 500 && faulted(x)))) violations.push({ delivery: d.id, kind: d.kind, status: x.status, answer: x.json });
      }
      for (const event of d.events) {
        const row = storedRow(facts, event);
        // An expired Stripe delivery is a real event: the backfill may recover it, the webhook never.
        if (row && row.origin === "webhook") violations.push({ delivery: d.id, kind: d.kind, event: row.id, stored: true });
      }
    }
    return { name: "bad-signatures-refused", means: "expired and forged signatures are answered 401 and never stored", checked, violations };
  },

  function answersAsExpected(facts) {
    const violations = [];
    let checked = 0;
    for (const x of facts.ledger.exchanges) {
      const d = facts.ledger.deliveries.get(x.delivery);
      if (d.expect !== "accepted") continue;
      checked += 1;
      if (x.status === 0 && !faulted(x)) violations.push({ delivery: d.id, kind: d.kind, error: x.error });
      else if (x.status >= 500 && !faulted(x)) violations.push({ delivery: d.id, kind: d.kind, status: x.status, answer: x.json });
      else if (x.status >= 400 && x.status < 500) violations.push({ delivery: d.id, kind: d.kind, status: x.status, answer: x.json });
      else if (x.status === 200 && x.json?.status === "accepted") {
        const total = (x.json.events ?? 0) + (x.json.duplicates ?? 0);
        if (total !== d.events.length) violations.push({ delivery: d.id, kind: d.kind, answer: x.json, expectedEvents: d.events.length });
      }
    }
    for (const op of facts.ledger.operator) {
      checked += 1;
      if ((op.status >= 500 || op.status === 0) && !killed(op)) violations.push({ admin: `${op.method} ${op.path}`, status: op.status, answer: op.answer ?? op.error });
    }
    return { name: "no-unexpected-status", means: "no 5xx or dropped answer but the injected ones (D1 refusing ingest, runtime killed); valid deliveries never 4xx", checked, violations };
  },

  function oneEventOneStore(facts) {
    const violations = [];
    let checked = 0;
    for (const d of facts.ledger.deliveries.values()) {
      if (d.expect !== "accepted" || d.events.length !== 1) continue;
      checked += 1;
      const fresh = facts.ledger.exchanges.filter((x) => x.delivery === d.id && x.status === 200 && x.json?.events === 1);
      if (fresh.length > 1) violations.push({ delivery: d.id, kind: d.kind, event: d.events[0].eventId, acceptedAsNew: fresh.length });
      if (d.capturedAfterRetention && fresh.length > 0) {
        violations.push({ delivery: d.id, kind: d.kind, event: d.capturedAfterRetention, note: "a captured body re-posted after retention deleted its event was stored again" });
      }
    }
    return { name: "one-event-stored-once", means: "a provider event is stored as new once, however often and however it is delivered", checked, violations };
  },

  function stepsFinished(facts) {
    const violations = facts.steps.filter((s) => !FINISHED.has(s.status)).map((s) => ({ step: s.id, status: s.status, attempts: s.attempts, last_error: s.last_error }));
    return { name: "steps-terminal", means: "after the faults healed, every stored event's steps reached a terminal status", checked: facts.steps.length, violations };
  },

  function deadOnlyInjected(facts) {
    const violations = [];
    const dead = facts.steps.filter((s) => s.status === "dead");
    for (const s of dead) {
      const attempts = facts.attemptsOfStep.get(s.id) ?? [];
      const permanent = attempts.some((a) => String(a.error ?? "").includes(PERMANENT_MARK)) || String(s.last_error ?? "").includes(PERMANENT_MARK);
      if (permanent) continue;
      const event = facts.eventsById.get(s.event_id);
      const purged = s.last_error === "payload_unavailable" && facts.ledger.retention.unfinished.has(s.event_id);
      violations.push({
        step: s.id,
        last_error: s.last_error,
        last_status: s.last_status,
        attempts: attempts.length,
        ...(purged ? { note: "its payload was purged by retention while the step was still waiting" } : {}),
        event_type: event?.type,
      });
    }
    return { name: "dead-only-when-injected", means: "a step is dead only where the run injected a permanent fault", checked: dead.length, violations };
  },

  function stepsOnlyAtIngestOrReplay(facts) {
    const violations = [];
    let checked = 0;
    for (const s of facts.steps) {
      const event = facts.eventsById.get(s.event_id);
      if (!event) continue;
      checked += 1;
      // Retention back-dating moved received_at; the step is compared with the real arrival.
      const shift = (facts.ledger.retention.finished.get(s.event_id) ?? facts.ledger.retention.unfinished.get(s.event_id))?.shiftMs ?? 0;
      const receivedAt = event.received_at + (event.received_at < s.created_at - shift / 2 ? shift : 0);
      if (s.created_at - receivedAt <= 2000) continue;
      if (facts.ledger.replayed.has(s.event_id)) continue;
      // A bulk replay whose answer was lost (the runtime was killed under it) may have added it.
      if (facts.ledger.operator.some((op) => op.path === "/admin/api/replay" && op.status === 0 && op.at <= s.created_at)) continue;
      violations.push({ step: s.id, event: s.event_id, event_type: event.type, origin: event.origin, received_at: receivedAt, step_created_at: s.created_at, late_ms: s.created_at - receivedAt });
    }
    return { name: "steps-planned-at-ingest-or-replay", means: "a stored event gains steps only when it is stored or replayed (never from a later duplicate delivery)", checked, violations };
  },

  function effectsOncePerKey(facts) {
    const violations = [];
    const calls = facts.fake.calls.filter((c) => c.chaos?.effect);
    let checked = 0;
    // Stripe customer updates: Stripe applies one effect per Idempotency-Key; every succeeded
    // step must have reached Stripe under its own key.
    const stripeKeys = new Set(calls.filter((c) => c.method === "POST" && c.path.startsWith("/v1/customers/")).map((c) => c.headers["idempotency-key"]));
    const httpKeys = new Set(calls.filter((c) => c.path.startsWith("/receiver/")).map((c) => c.headers["webhook-id"]));
    const deals = groupBy(facts.fake.hubspot.deals(), (d) => d.properties.edgehooks_idempotency_key);
    for (const [key, list] of deals) {
      checked += 1;
      if (list.length !== 1) violations.push({ step: key, deals: list.length, note: "more than one HubSpot deal for one idempotency key" });
    }
    for (const s of facts.steps) {
      if (s.status !== "succeeded") continue;
      if (s.name === "stripe.update_customer") {
        checked += 1;
        if (!stripeKeys.has(s.id)) violations.push({ step: s.id, note: "succeeded, but Stripe never received its Idempotency-Key" });
      } else if (s.name.startsWith("http:")) {
        checked += 1;
        if (!httpKeys.has(s.id)) violations.push({ step: s.id, note: "succeeded, but the destination never received its webhook-id" });
      } else if (s.name === "hubspot.create_deal") {
        checked += 1;
        if (!deals.has(s.id)) violations.push({ step: s.id, note: "succeeded, but HubSpot holds no deal with its key" });
      }
    }
    for (const key of stripeKeys) {
      const eventId = String(key).split(":")[0];
      if (!facts.stepsById.has(key) && !retentionDeletedId(facts, eventId)) violations.push({ key, note: "Stripe call under a key that is no step" });
    }
    return { name: "effect-once-per-key", means: "each effect exactly once per idempotency key (HubSpot deal key, Stripe Idempotency-Key, webhook-id)", checked, violations };
  },

  function doubleSendsInWindow(facts) {
    // SendGrid and Slack take no key: a second effective call for one step is allowed only after
    // an earlier effective call whose answer was lost (or whose runtime was killed before it
    // could record the success): the documented window.
    const violations = [];
    const slackOwner = slackTokens(facts);
    const perStep = new Map();
    for (const c of facts.fake.calls) {
      if (!c.chaos?.effect) continue;
      let step = null;
      if (c.path === MAIL) step = callStepId(c);
      else if (c.path.startsWith("/services/")) step = slackOwner(c.body);
      if (!step) continue;
      if (!perStep.has(step)) perStep.set(step, []);
      perStep.get(step).push(c);
    }
    const restarts = facts.ledger.restarts;
    let doubles = 0;
    for (const [step, list] of perStep) {
      for (let i = 1; i < list.length; i++) {
        doubles += 1;
        const earlier = list.slice(0, i);
        const lost = earlier.some((c) => c.chaos.lostAnswer);
        const killed = restarts.some((r) => r.at <= list[i].at && (r.end ?? Infinity) >= earlier[0].at);
        if (!lost && !killed) {
          const s = facts.stepsById.get(step);
          violations.push({
            step,
            sends: list.map((c) => ({ at: c.at, fault: c.chaos.fault, n: c.chaos.n })),
            status: s?.status,
            attempts: (facts.attemptsOfStep.get(step) ?? []).map((a) => ({ n: a.n, at: a.started_at, status: a.status, outcome: a.outcome, error: a.error })),
            redriven: facts.ledger.redriven.has(step),
            replayed: facts.ledger.replayed.has(s?.event_id),
            note: s && s.created_at > earlier[0].at ? replannedNote(facts, s) : "a second send with no lost answer or killed runtime before it",
          });
        }
      }
    }
    facts.ledger.doubleSends = doubles;
    return { name: "double-sends-explained", means: "SendGrid/Slack (no key): every double send follows a send whose answer was lost", checked: perStep.size, violations };
  },

  function noStaleWrite(facts) {
    const violations = [];
    const byEntity = groupBy(facts.steps.filter((s) => s.entity), (s) => `${s.entity}\u0000${s.name}`);
    let checked = 0;
    for (const [key, list] of byEntity) {
      if (list.length < 2) continue;
      checked += 1;
      // Calls made (attempts with an HTTP status or a network outcome), with their event's time.
      const calls = [];
      for (const s of list) {
        const occurred = facts.eventsById.get(s.event_id)?.occurred_at ?? 0;
        for (const a of facts.attemptsOfStep.get(s.id) ?? []) {
          if (a.outcome === "succeeded") calls.push({ step: s.id, occurred, at: a.started_at, ok: true });
          else if (a.outcome === "retry" || a.outcome === "dead" || a.outcome === "probe") calls.push({ step: s.id, occurred, at: a.started_at, ok: false });
        }
      }
      calls.sort((a, b) => a.at - b.at);
      let newest = null;
      for (const c of calls) {
        if (newest && c.occurred < newest.occurred && c.at > newest.at) {
          violations.push({ entity: key.split("\u0000")[0], step: c.step, occurred_at: c.occurred, after_step: newest.step, after_occurred_at: newest.occurred });
        }
        if (c.ok && (!newest || c.occurred > newest.occurred)) newest = c;
      }
    }
    return { name: "no-stale-write", means: "per entity, no call for an older event after a newer event's call succeeded", checked, violations };
  },

  function contactUpserts(facts) {
    // HubSpot contact upserts take no idempotency key (keyed by email, idempotent by nature):
    // what HubSpot applied is read from the fake's log (every call the planner let through, its
    // answer lost or not), each input tagged with its step id (`objectWriteTraceId`).
    const violations = [];
    const writes = appliedContactWrites(facts, violations);
    const perStep = groupBy(writes, (w) => w.step);
    const restarts = facts.ledger.restarts;
    let checked = 0;
    // Once per event: a second write of one step only after a write whose answer was lost, or
    // a killed runtime (the step could not record its success).
    for (const [step, list] of perStep) {
      checked += 1;
      for (let i = 1; i < list.length; i++) {
        const earlier = list.slice(0, i);
        const lost = earlier.some((w) => w.lostAnswer);
        const killed = restarts.some((r) => r.at <= list[i].at && (r.end ?? Infinity) >= earlier[0].at);
        if (!lost && !killed) {
          violations.push({ step, writes: list.map((w) => ({ at: w.at, fault: w.fault })), status: facts.stepsById.get(step)?.status, note: "a contact written twice for one event with no lost answer or killed runtime before" });
        }
      }
    }
    for (const s of facts.steps) {
      if (s.name !== UPSERT_CONTACT || s.status !== "succeeded") continue;
      checked += 1;
      if (!perStep.has(s.id)) violations.push({ step: s.id, note: "succeeded, but HubSpot never applied its input" });
    }
    // Per entity (`steps.entity`): HubSpot never applies an older event's write after a newer
    // one's (newer: later occurred_at, the greater event id on a tie, as the ordering decides),
    // and what it holds last is the newest succeeded step's write or a newer one.
    const byEntity = groupBy(writes.filter((w) => w.entity), (w) => w.entity);
    for (const [entity, list] of byEntity) {
      checked += 1;
      let newest = null;
      for (const w of list) {
        if (newest && newerThan(newest, w)) {
          violations.push({ entity, step: w.step, event: w.event, occurred_at: w.occurred, after_step: newest.step, after_event: newest.event, after_occurred_at: newest.occurred, note: "a stale write applied after a newer event's" });
        }
        if (!newest || newerThan(w, newest)) newest = w;
      }
      const last = list[list.length - 1];
      const succeeded = facts.steps
        .filter((s) => s.entity === entity && s.name === UPSERT_CONTACT && s.status === "succeeded")
        .map((s) => ({ step: s.id, event: s.event_id, occurred: facts.eventsById.get(s.event_id)?.occurred_at ?? 0 }))
        .reduce((a, b) => (!a || newerThan(b, a) ? b : a), null);
      if (succeeded && newerThan(succeeded, last)) {
        violations.push({ entity, holds: { step: last.step, occurred_at: last.occurred, properties: last.properties }, newest_succeeded: succeeded, note: "HubSpot's final state is older than the newest succeeded event" });
      }
    }
    return { name: "contact-upserts", means: "HubSpot contact upserts: each event's input applied once (but in the lost-answer window), every succeeded one applied, per entity no stale write and the newest event's write last", checked, violations };
  },

  function drainWithoutSweeper(facts) {
    const violations = [];
    const { ledger } = facts;
    const resumes = ledger.operator.filter((op) => op.status === 200 && /\/destinations\/[^/]+\/resume$/.test(op.path));
    const seen = new Set();
    for (const p of ledger.parkedAtAging) {
      if (seen.has(p.id)) continue;
      seen.add(p.id);
      const resumed = resumes.filter((op) => op.path === `/admin/api/destinations/${p.destination}/resume` && op.at < p.at).pop();
      if (!resumed) continue;
      // Only a message lost after the resume (runtime killed, Queues refusing) excuses a wait.
      const queueAtResume = ledger.faultLog.filter((f) => f.at <= resumed.at).pop()?.queue ?? false;
      const lost =
        queueAtResume || ledger.restarts.some((r) => (r.end ?? r.at) >= resumed.at) || ledger.faultLog.some((f) => f.queue && f.at >= resumed.at);
      if (!lost) violations.push({ step: p.id, destination: p.destination, reason: p.last_error, resumed_at: resumed.at, still_waiting_at: p.at });
    }
    return { name: "drain-after-resume", means: "after a destination is resumed its parked steps are delivered without waiting for the sweeper's lease", checked: ledger.parkedAtAging.length, violations };
  },

  function logsClean(facts) {
    const violations = [];
    for (const line of facts.logs) if (FATAL_PATTERNS.some((re) => re.test(line))) violations.push({ line: line.slice(0, 300) });
    for (const leak of secretsIn(facts.logs, facts.ledger.secrets)) violations.push({ secret: leak });
    return { name: "logs-clean", means: "no panic or wasm trap, no configured secret in any log line", checked: facts.logs.length, violations };
  },

  function retentionKept(facts) {
    const violations = [];
    let checked = 0;
    for (const gone of facts.ledger.retention.finished.values()) {
      checked += 1;
      const row = facts.eventsById.get(gone.id);
      if (row && row.received_at > gone.at) {
        violations.push({ event: gone.id, origin: row.origin, received_at: row.received_at, deleted_after: gone.at, note: "deleted by retention, then stored again as a new event (a second effect)" });
      } else if (row) {
        const steps = (facts.stepsOfEvent.get(gone.id) ?? []).map((s) => ({ step: s.id, status: s.status, created_at: s.created_at, updated_at: s.updated_at }));
        violations.push({ event: gone.id, received_at: row.received_at, backdated_at: gone.at, steps, note: "past RETENTION_DAYS with every step finished, still stored" });
      }
    }
    for (const kept of facts.ledger.retention.unfinished.values()) {
      // An operator who later redrove its dead step or replayed it may have finished it, and a
      // finished event past retention is deleted, as it should be.
      if (touched(facts, kept)) continue;
      checked += 1;
      const row = facts.eventsById.get(kept.id);
      if (!row) violations.push({ event: kept.id, note: "deleted by retention while a step was unfinished" });
      else if (row.received_at > kept.at) {
        violations.push({ event: kept.id, origin: row.origin, received_at: row.received_at, deleted_after: kept.at, note: "deleted by retention, then stored again as a new event (a second effect)" });
      }
    }
    return { name: "retention", means: "retention deletes finished events past RETENTION_DAYS and keeps events with unfinished steps", checked, violations };
  },

  function backfillRecovered(facts) {
    const violations = [];
    for (const e of facts.ledger.lostStripe) {
      const row = facts.byKey.get(`stripe\u0000${e.storedKey}`);
      if (!row) violations.push({ event: e.key, note: "in Stripe's event log, never stored by the backfill" });
    }
    return { name: "backfill-recovers", means: "Stripe events whose webhook was lost are stored by the backfill", checked: facts.ledger.lostStripe.length, violations };
  },

  function dashboardMatches(facts) {
    const violations = [];
    const metric = (provider, outcome) =>
      facts.metricEvents.filter((m) => m.provider === provider && m.outcome === outcome).reduce((s, m) => s + m.n, 0);
    const lost = facts.ledger.restarts.length > 0;
    for (const provider of ["stripe", "shopify", "hubspot", "sendgrid"]) {
      const stored = facts.events.filter((e) => e.provider === provider && e.origin === "webhook" && e.status === "accepted").length;
      const deleted = [...facts.ledger.retention.finished.values()].filter((e) => e.provider === provider && e.origin === "webhook" && !facts.eventsById.has(e.id)).length;
      const expected = stored + deleted;
      const counted = metric(provider, "accepted");
      const shown = facts.dashboard?.events?.[provider]?.accepted?.total ?? 0;
      if (shown !== counted) violations.push({ provider, dashboard_api_accepted: shown, metric_events_accepted: counted });
      // A killed isolate loses the counts it had not flushed (at most a minute: src/tally/).
      const ok = lost ? counted <= expected && counted >= expected - facts.ledger.unflushedAtKills(provider) : counted === expected;
      if (!ok) violations.push({ provider, dashboard_accepted: counted, d1_accepted: expected, restarts: facts.ledger.restarts.length });
    }
    // Step outcomes: each step reaches succeeded, skipped or skipped_stale once, and the
    // dashboard counts that change per destination.
    let checked = 4;
    const gone = deletedSteps(facts);
    const destinations = new Set(facts.steps.map((s) => s.destination));
    for (const destination of destinations) {
      for (const outcome of ["succeeded", "skipped", "skipped_stale"]) {
        checked += 1;
        const inD1 = facts.steps.filter((s) => s.destination === destination && s.status === outcome).length;
        const deleted = gone.known.filter((s) => s.destination === destination && s.status === outcome).length;
        // A step not finished at the last look before retention deleted it (a dead step an
        // operator redrove, a replayed one) counted one outcome, which is not known.
        const unknown = gone.unknown.filter((s) => s.destination === destination).length;
        const counted = facts.metricSteps.filter((m) => m.destination === destination && m.outcome === outcome).reduce((sum, m) => sum + m.n, 0);
        const expected = inD1 + deleted;
        const ok = lost ? counted <= expected + unknown : counted >= expected && counted <= expected + unknown;
        if (!ok) violations.push({ destination, outcome, dashboard: counted, d1_steps: expected, ...(unknown ? { unknown } : {}), restarts: facts.ledger.restarts.length });
      }
    }
    return { name: "dashboard-equals-d1", means: "the dashboard's counts (accepted events, step outcomes) equal what D1 holds", checked, violations };
  },
];

/** Every contact-upsert input HubSpot applied (calls the planner let take effect), in arrival
 * order, with its step, entity and event time; inputs of steps retention rightly deleted are
 * left out. A call naming one contact twice (HubSpot refuses it whole) and an input under no
 * known step are violations. */
function appliedContactWrites(facts, violations) {
  const writes = [];
  for (const c of facts.fake.calls) {
    if (c.path !== CONTACTS_UPSERT || !c.chaos) continue;
    let inputs = null;
    try {
      inputs = JSON.parse(c.body).inputs;
    } catch {
      // not JSON: flagged below
    }
    if (!Array.isArray(inputs)) {
      violations.push({ call_at: c.at, note: "a contact upsert whose body has no inputs" });
      continue;
    }
    const emails = inputs.map((i) => String(i.id ?? "").toLowerCase());
    const twice = emails.filter((e, n) => emails.indexOf(e) !== n);
    if (twice.length) violations.push({ call_at: c.at, contacts: twice, steps: inputs.map((i) => i.objectWriteTraceId), note: "one call names a contact twice" });
    if (!c.chaos.effect) continue;
    for (const input of inputs) {
      const step = facts.stepsById.get(input.objectWriteTraceId);
      if (!step) {
        const eventId = String(input.objectWriteTraceId ?? "").split(":")[0];
        if (!retentionDeletedId(facts, eventId)) violations.push({ trace: input.objectWriteTraceId, call_at: c.at, note: "an applied input under a trace that is no step" });
        continue;
      }
      writes.push({
        step: step.id,
        event: step.event_id,
        entity: step.entity,
        occurred: facts.eventsById.get(step.event_id)?.occurred_at ?? 0,
        properties: input.properties,
        at: c.at,
        fault: c.chaos.fault,
        lostAnswer: c.chaos.lostAnswer,
      });
    }
  }
  return writes;
}

/** Whether write (or step) `a` is of a newer event than `b`: later `occurred_at`, the greater
 * event id on a tie (handlers/src/downstream/ordering.rs). */
const newerThan = (a, b) => a.occurred > b.occurred || (a.occurred === b.occurred && a.event > b.event);

/** The steps of events the run moved past retention with a dead step, that an operator then
 * finished and retention deleted (gone from D1): their outcomes the dashboard counted before
 * the deletion. `known`: finished when the run moved the event (counted as they stood);
 * `unknown`: the dead ones, which ended succeeded, skipped or skipped_stale (one of them). */
/** The steps of the events retention deleted, as the run last saw them before the tick that
 * deleted each (tests/chaos/cron.mjs, `lookAgainAtMoved`): `known` finished for good then, so
 * counted with that outcome; `unknown` still open then (it finished in the tick, or was a dead
 * step an operator finished). An unfinished event nobody touched is retention's violation, not
 * counted here. */
function deletedSteps(facts) {
  const known = [];
  const unknown = [];
  for (const moved of movedPastRetention(facts)) {
    if (facts.eventsById.has(moved.id)) continue;
    for (const s of moved.steps ?? []) (FINISHED.has(s.status) && s.status !== "dead" ? known : unknown).push(s);
  }
  return { known, unknown };
}

/** Why a step row younger than its first send exists: its event was deleted and stored again
 * (still a second effect: a redelivery after retention must meet the event's tombstone). */
function replannedNote(facts, step) {
  const event = facts.eventsById.get(step.event_id);
  const moved = facts.ledger.retention.finished.get(step.event_id) ?? facts.ledger.retention.unfinished.get(step.event_id);
  const retention = moved ? `, after the run moved it past RETENTION_DAYS at ${moved.at}` : "";
  return `the step was planned again after its first send: its event was deleted and stored again as new (origin ${event?.origin}, received_at ${event?.received_at}${retention})`;
}

function slackTokens(facts) {
  const owners = [];
  for (const d of facts.ledger.deliveries.values()) {
    for (const e of d.events) {
      if (!e.slack) continue;
      const row = storedRow(facts, e);
      if (row) owners.push([e.slack, `${row.id}:slack.notify`]);
    }
  }
  return (body) => {
    for (const [token, step] of owners) if (body.includes(token)) return step;
    return null;
  };
}

function groupBy(list, key) {
  const map = new Map();
  for (const item of list) {
    const k = key(item);
    if (!map.has(k)) map.set(k, []);
    map.get(k).push(item);
  }
  return map;
}

/** Run every invariant over the loaded facts. */
export function checkAll(facts) {
  return INVARIANTS.map((invariant) => {
    try {
      return invariant(facts);
    } catch (e) {
      return { name: invariant.name, means: "(the check itself failed)", checked: 0, violations: [{ error: String(e?.stack ?? e).slice(0, 500) }] };
    }
  });
}
