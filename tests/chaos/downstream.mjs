// The downstream side of the chaos run: a per-call planner for the fake downstream
// (tests/helpers/fake-downstream.mjs `chaos(planner)`) that answers HubSpot contact upserts as
// HubSpot does (a stable contact id per email, so contact links and HubSpot changes line up) and
// injects faults. A call's fault is decided by its identity (the step id where the call carries
// one: Stripe's Idempotency-Key, SendGrid's custom_args.edgehooks_step_id, the deal upsert's id,
// an http destination's webhook-id; else its path and body) and how many times that identity was
// called, hashed with the seed, so the decision does not depend on arrival order. Each call is
// annotated (`call.chaos`) with what was done to it: whether the effect happened downstream
// (`effect`) and whether its answer was lost on the way back (`lostAnswer`): the documented
// window in which an API without an idempotency key may see a second send.
import crypto from "node:crypto";
import { unit } from "./prng.mjs";

/** The marker a permanent fault's answer carries: a dead step whose last error quotes it was
 * killed by the run on purpose. */
export const PERMANENT_MARK = "chaos-permanent-fault";

const CONTACTS_UPSERT = "/crm/v3/objects/contacts/batch/upsert";

/** The identity of a downstream call: the step id it carries, else path + body digest. */
export function callIdentity(call) {
  const key = call.headers["idempotency-key"] ?? call.headers["webhook-id"];
  if (key) return key;
  const step = /"edgehooks_step_id"\s*:\s*"([^"]+)"/.exec(call.body)?.[1];
  if (step) return step;
  if (call.path.endsWith("/deals/batch/upsert")) {
    const id = /"id"\s*:\s*"([^"]+)"/.exec(call.body)?.[1];
    if (id) return id;
  }
  return `${call.method} ${call.path} ${crypto.createHash("sha256").update(call.body).digest("hex").slice(0, 16)}`;
}

/** The step id a call carries, if any (null for contact upserts, Slack and lookups). */
export function callStepId(call) {
  const id = callIdentity(call);
  return id.startsWith("evt_") ? id : null;
}

export function createDownstream({ fake, cast, seed, timeoutMs }) {
  const seen = new Map(); // identity -> calls so far
  const state = {
    /** Probability that a call gets a transient fault. */
    rate: 0,
    /** Probability that an identity is doomed to a permanent 400 (decided once per identity). */
    permanentRate: 0,
    /** path prefix -> until (ms): every call there fails with 503 (trips the circuit). */
    storms: new Map(),
    injected: { total: 0, byKind: {} },
  };

  const contactAnswer = (body) => {
    let inputs = [];
    try {
      inputs = JSON.parse(body).inputs ?? [];
    } catch {
      // a malformed body gets HubSpot's generic answer below
    }
    const now = new Date().toISOString();
    return {
      status: "COMPLETE",
      results: inputs.map((input) => ({
        id: String(cast.contactIdOf(input.id ?? input.properties?.email ?? "")),
        properties: { ...(input.properties ?? {}), email: input.id ?? input.properties?.email },
        createdAt: now,
        updatedAt: now,
        archived: false,
        new: false,
      })),
      startedAt: now,
      completedAt: now,
    };
  };

  const transient = (identity, n, call) => {
    const kind = pickKind(unit(seed, "kind", identity, n));
    const base = call.path === CONTACTS_UPSERT ? { body: contactAnswer(call.body) } : {};
    switch (kind) {
      case "5xx":
        return [kind, { status: [500, 502, 503][n % 3], body: { status: "error", message: "chaos transient failure" } }, false, false];
      case "429":
        return [kind, { status: 429, headers: { "retry-after": "1" }, body: { status: "error", message: "chaos rate limited" } }, false, false];
      case "drop":
        return [kind, { drop: true }, false, false];
      case "timeout":
        return [kind, { ...base, commit: true, delayMs: timeoutMs + 400 }, true, true];
      case "dropAfter":
        return [kind, { ...base, commit: true, delayMs: 20, drop: true }, true, true];
      case "stall":
        return [kind, { ...base, commit: true, stallBody: true }, true, true];
      default:
        return ["slow", { ...base, commit: true, delayMs: 50 + Math.floor(unit(seed, "slow", identity, n) * (timeoutMs / 3)) }, true, false];
    }
  };

  const planner = (call) => {
    const identity = callIdentity(call);
    const n = seen.get(identity) ?? 0;
    seen.set(identity, n + 1);
    const note = (fault, plan, effect, lostAnswer) => {
      call.chaos = { identity, n, fault, effect, lostAnswer };
      if (fault) {
        state.injected.total += 1;
        state.injected.byKind[fault] = (state.injected.byKind[fault] ?? 0) + 1;
      }
      return plan;
    };
    for (const [prefix, until] of state.storms) {
      if (call.path.startsWith(prefix) && Date.now() < until) {
        return note("storm", { status: 503, body: { status: "error", message: "chaos storm" } }, false, false);
      }
    }
    if (call.method === "POST" && state.permanentRate > 0 && unit(seed, "doom", identity) < state.permanentRate) {
      return note("permanent", { status: 400, body: { status: "error", message: PERMANENT_MARK, category: "VALIDATION_ERROR" } }, false, false);
    }
    if (state.rate > 0 && unit(seed, "fault", identity, n) < state.rate) {
      const [kind, plan, effect, lostAnswer] = transient(identity, n, call);
      return note(kind, plan, effect, lostAnswer);
    }
    const plan = call.path === CONTACTS_UPSERT ? { body: contactAnswer(call.body) } : null;
    return note(null, plan, true, false);
  };
  fake.chaos(planner);

  return {
    state,
    /** How many calls the fake has had (settle watches it for quiet). */
    calls: () => fake.calls.length,
    /** Set the transient fault rate (0 heals). */
    setRate(rate) {
      state.rate = rate;
    },
    setPermanentRate(rate) {
      state.permanentRate = rate;
    },
    /** Every call under `prefix` fails with 503 for `ms` (trips the destination's circuit). */
    storm(prefix, ms) {
      state.storms.set(prefix, Date.now() + ms);
    },
    heal() {
      state.rate = 0;
      state.storms.clear();
    },
  };
}

function pickKind(u) {
  const weights = [["5xx", 4], ["429", 2], ["drop", 1.5], ["timeout", 1], ["dropAfter", 1], ["stall", 0.5], ["slow", 2]];
  const total = weights.reduce((s, [, w]) => s + w, 0);
  let roll = u * total;
  for (const [kind, w] of weights) {
    roll -= w;
    if (roll < 0) return kind;
  }
  return "slow";
}
