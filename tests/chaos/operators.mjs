// What operators do while the traffic flows, through the admin API (bearer ADMIN_TOKEN) as an
// admin would: replay one event, bulk-replay a page, redrive dead steps, create http
// destinations and connections (a connection created mid-run must give steps only to events
// stored after it, or replayed), switch connections and default route steps off and on, pause
// and resume a destination. Every action and its answer goes to the ledger; replays record the
// events they touched (the invariants allow steps added to those events later). Admin answers
// must never be 5xx.
import { TEST_SECRETS } from "../helpers/worker.mjs";

const MAX_DESTINATIONS = 5;
const AUTH = { authorization: `Bearer ${TEST_SECRETS.ADMIN_TOKEN.split(",")[0]}`, "content-type": "application/json" };

export function createOperators({ runtime, rng, ledger, fake, slackOff = false }) {
  const state = { destinations: [], connections: [], paused: new Set(), routesOff: [] };

  async function call(method, path, body) {
    await runtime.ready();
    const at = Date.now();
    const before = ledger.platformState();
    let res;
    try {
      res =
        method === "GET"
          ? await runtime.get(path, AUTH)
          : await runtime.current.mf
              .dispatchFetch(`http://localhost${path}`, { method, headers: AUTH, body: body === undefined ? undefined : JSON.stringify(body) })
              .then(async (r) => {
                const text = await r.text();
                let json;
                try {
                  json = JSON.parse(text);
                } catch {
                  json = undefined;
                }
                return { status: r.status, json, text };
              });
    } catch (e) {
      // The runtime was killed under the call: an operator would simply try again later.
      ledger.operator.push({ method, path, body, at, status: 0, error: String(e?.message ?? e).slice(0, 200), before, after: ledger.platformState() });
      return { status: 0 };
    }
    ledger.operator.push({ method, path, body, at, status: res.status, answer: res.json ?? res.text?.slice(0, 300), before, after: ledger.platformState() });
    return res;
  }

  /** A stored event id (of an accepted delivery), or null. */
  function storedEvent() {
    const accepted = ledger.acceptedEvents();
    return accepted.length ? rng.pick(accepted) : null;
  }

  const actions = {
    async replayEvent() {
      const event = storedEvent();
      if (!event) return;
      ledger.replayed.add(event.eventId);
      const dry = rng.chance(0.3);
      await call("POST", `/admin/api/events/${event.eventId}/replay${dry ? "?dry_run=true" : ""}`);
    },
    async bulkReplay() {
      const provider = rng.pick(["stripe", "shopify", "hubspot", "sendgrid"]);
      const connection = state.connections.length && rng.chance(0.4) ? rng.pick(state.connections) : null;
      const body = { provider, limit: rng.int(3, 15), ...(connection ? { connection: connection.name, provider: undefined } : {}) };
      if (connection) delete body.provider;
      // The replay may touch any event it selects: note them all before the answer says which.
      const before = Date.now();
      ledger.bulkReplays.push({ body, at: before });
      const res = await call("POST", "/admin/api/replay", body);
      for (const id of res.json?.replayed ?? []) ledger.replayed.add(id);
    },
    async redrive() {
      const dead = await call("GET", "/admin/api/dead?limit=50");
      const steps = dead.json?.steps ?? [];
      if (!steps.length) return;
      const ids = rng.shuffle(steps.map((s) => s.id ?? s.step_id).filter(Boolean)).slice(0, rng.int(1, 10));
      if (rng.chance(0.3)) await call("POST", "/admin/api/redrive?dry_run=true", { step_ids: ids });
      for (const id of ids) ledger.redriven.add(id);
      await call("POST", "/admin/api/redrive", { step_ids: ids });
    },
    async addConnection() {
      // A handful of destinations, as an operator has: past that, switch existing ones.
      if (state.destinations.length >= MAX_DESTINATIONS) return actions.toggleConnection();
      const n = state.destinations.length + 1;
      const name = `sink-${n}`;
      const receiver = fake.receiver(name);
      const made = await call("POST", "/admin/api/destinations", {
        name,
        type: "http",
        url: receiver.url,
        secret: `whsec_${Buffer.from(`chaos-sink-${n}-signing-secret`).toString("base64")}`,
        timeout_ms: 1500,
      });
      if (made.status !== 201) return;
      state.destinations.push(name);
      const [source, types] = rng.pick([
        ["stripe", ["invoice.*"]],
        ["stripe", ["checkout.session.completed"]],
        ["shopify", ["orders/*"]],
        ["sendgrid", ["bounce", "dropped"]],
        ["hubspot", ["contact.*"]],
      ]);
      const connection = `conn-${n}`;
      const res = await call("POST", "/admin/api/connections", { name: connection, source, types, destination: name });
      if (res.status === 201) {
        state.connections.push({ name: connection, destination: name, source });
        ledger.connections.push({ name: connection, destination: name, source, types, createdAt: Date.now() });
      }
    },
    async toggleConnection() {
      if (!state.connections.length) return;
      const { name } = rng.pick(state.connections);
      await call("POST", `/admin/api/connections/${name}/${rng.chance(0.5) ? "disable" : "enable"}`);
    },
    async pauseOrResume() {
      if (!state.destinations.length) return;
      const name = rng.pick(state.destinations);
      if (state.paused.has(name)) {
        state.paused.delete(name);
        await call("POST", `/admin/api/destinations/${name}/resume`);
      } else {
        state.paused.add(name);
        await call("POST", `/admin/api/destinations/${name}/pause`);
      }
    },
    async toggleRoute() {
      const route = rng.pick([
        { provider: "stripe", event_type: "invoice.payment_succeeded", step: "hubspot.upsert_contact" },
        ...(slackOff ? [] : [{ provider: "shopify", event_type: "orders/create", step: "slack.notify" }]),
        { provider: "sendgrid", event_type: "open", step: "engagement.count" },
      ]);
      const off = !state.routesOff.some((r) => r.step === route.step && r.event_type === route.event_type);
      if (off) state.routesOff.push(route);
      else state.routesOff = state.routesOff.filter((r) => !(r.step === route.step && r.event_type === route.event_type));
      await call("POST", `/admin/api/routes/${off ? "off" : "on"}`, route);
    },
  };

  return {
    state,
    call,
    /** One random operator action. */
    async act() {
      const name = rng.weighted({ replayEvent: 3, bulkReplay: 1.5, redrive: 2, addConnection: 0.7, toggleConnection: 1, pauseOrResume: 1.5, toggleRoute: 1 });
      await actions[name]();
      return name;
    },
    actions,
    /** Heal what operators broke: resume every destination (a pause or resume whose answer a
     * killed runtime lost leaves the harness unsure which are paused), turn routes back on. */
    async heal() {
      state.paused.clear();
      for (const name of state.destinations) await call("POST", `/admin/api/destinations/${name}/resume`);
      for (const route of state.routesOff.splice(0)) await call("POST", "/admin/api/routes/on", route);
    },
  };
}
