// Control worker for the through-workerd benchmark: the storage work of an edgehooks ingest and
// nothing else, in plain JavaScript. It does not verify signatures, plan steps or log; it reads
// the body, looks the event ids up in KV (one bulk get), inserts new events into D1 in one batch
// (ON CONFLICT DO NOTHING RETURNING id), answers, and writes in waitUntil the KV hints of the
// events D1 had already (hints for repeats only, as edgehooks since issue 25; until then it wrote
// one for every new event): the binding calls edgehooks makes on its ingest path (edgehooks keys
// a batch's hint by the whole delivery). Served by Miniflare on the same workerd and local
// simulators, it shows what those simulators allow on this machine, so edgehooks' numbers can be
// read as "simulator ceiling + edgehooks' own cost". Not part of the product.
export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    if (request.method !== "POST") return Response.json({ status: "ok" });
    const parsed = JSON.parse(await request.text());
    const events = Array.isArray(parsed) ? parsed : [parsed];
    const keyed = events.map((event) => ({ id: `${url.pathname}:${event.sg_event_id ?? event.id}`, event }));
    const known = await env.IDEMPOTENCY.get(keyed.map(({ id }) => `seen:${id}`));
    const fresh = keyed.filter(({ id }) => known.get(`seen:${id}`) == null);
    const stored = new Set();
    if (fresh.length > 0) {
      const insert = env.DB.prepare("INSERT INTO control_events (id, payload) VALUES (?1, ?2) ON CONFLICT DO NOTHING RETURNING id");
      const results = await env.DB.batch(fresh.map(({ id, event }) => insert.bind(id, JSON.stringify(event))));
      for (const { results: rows } of results) for (const row of rows) stored.add(row.id);
    }
    const repeats = fresh.filter(({ id }) => !stored.has(id));
    ctx.waitUntil(Promise.all(repeats.map(({ id }) => env.IDEMPOTENCY.put(`seen:${id}`, "1", { expirationTtl: 3600 }))));
    return Response.json(stored.size ? { status: "accepted", events: stored.size } : { status: "duplicate" });
  },
};
