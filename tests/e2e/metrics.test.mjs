// GET /metrics end to end through workerd: known traffic (two stored Stripe events, a duplicate,
// a forged delivery, a delivery to a source that does not exist, one step that succeeds and one
// that dies against the downstream fake) gives exactly these counters in the Prometheus text
// format, parsed by `parse-prometheus-text-format`; every histogram is cumulative with its +Inf
// bucket equal to its _count; a scrape needs a credential (401 without, 200 with a viewer's
// named token); retention deleting every minute bucket leaves every counter as it was. With the
// Workers Analytics Engine binding configured (Miniflare's own simulator), requests and steps run
// as before and no data point write fails.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { TEST_SECRETS, waitFor, waitForNoStepInFlight } from "../helpers/worker.mjs";
import { useWorld } from "../helpers/world.mjs";
import { checkoutCompleted, signedDelivery } from "../helpers/stripe.mjs";
import { MAIL, settled } from "../helpers/flows.mjs";

const ADMIN = { authorization: `Bearer ${TEST_SECRETS.ADMIN_TOKEN}` };
const SENDGRID_ONLY = JSON.stringify({ stripe: { "checkout.session.completed": ["sendgrid.send"] } });
const STRIPE_SECRET = TEST_SECRETS.STRIPE_WEBHOOK_SECRETS.split(",")[0];

async function deliver(w, event, { secret = STRIPE_SECRET, path = "/webhooks/stripe", status = 200 } = {}) {
  const { payload, headers } = signedDelivery(event, secret);
  const res = await w.worker.post(path, payload, headers);
  assert.equal(res.status, status, res.text);
  return event;
}

async function viewerToken(w) {
  const res = await w.worker.mf.dispatchFetch("http://localhost/admin/api/tokens", {
    method: "POST",
    headers: { ...ADMIN, "content-type": "application/json" },
    body: JSON.stringify({ name: "prometheus", role: "viewer" }),
  });
  assert.equal(res.status, 201);
  return (await res.json()).token;
}

/** Scrape with `token`: the parsed families by name (`text`: the answer itself). */
async function scrape(w, token) {
  const res = await w.worker.mf.dispatchFetch("http://localhost/metrics", { headers: { authorization: `Bearer ${token}` } });
  const text = await res.text();
  assert.equal(res.status, 200, text);
  assert.equal(res.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  const families = Object.fromEntries(parsePrometheusTextFormat(text).map((f) => [f.name, f]));
  return Object.defineProperty(families, "text", { value: text });
}

const labelKey = (labels) =>
  Object.entries(labels ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(",");

/** The samples of a counter or gauge `family` as `label=value,...` → value. */
function samples(family) {
  return Object.fromEntries(family.metrics.map((m) => [labelKey(m.labels), Number(m.value)]));
}

/**
 * The series of histogram `name` with the labels of each of `labelSets`, each parsed on its own:
 * `parse-prometheus-text-format` folds a histogram family's label sets into one and reads
 * `_sum`/`_count` only without labels (its flattenMetrics), so each series' lines (exactly
 * `name_bucket{<labels>,le=…}`, `name_sum{<labels>}`, `name_count{<labels>}`, every other line
 * left out) are given to it alone with those labels taken off. Returns `label=value,...` →
 * { buckets, count, sum }.
 */
function histogramSeries(m, name, labelSets) {
  const lines = m.text.split("\n");
  const head = lines.filter((l) => l === `# TYPE ${name} histogram` || l.startsWith(`# HELP ${name} `));
  return Object.fromEntries(
    labelSets.map((labels) => {
      const rendered = Object.entries(labels)
        .map(([k, v]) => `${k}="${v}"`)
        .join(",");
      const own = lines.filter(
        (l) =>
          l.startsWith(`${name}_bucket{${rendered},le=`) ||
          l.startsWith(`${name}_sum{${rendered}} `) ||
          l.startsWith(`${name}_count{${rendered}} `),
      );
      // The parser reads `_sum` and `_count` only without labels: the series' own labels go.
      const bare = own.map((l) => l.replace(`{${rendered},le=`, "{le=").replace(`{${rendered}} `, " "));
      const [family] = parsePrometheusTextFormat([...head, ...bare, ""].join("\n"));
      assert.equal(family.type, "HISTOGRAM", name);
      assert.equal(family.metrics.length, 1, `${name}{${rendered}}`);
      return [labelKey(labels), family.metrics[0]];
    }),
  );
}

/** Each series' buckets are cumulative in `le` order, end with +Inf, and +Inf equals _count. */
function assertHistogramsConsistent(series, name) {
  for (const [labels, h] of Object.entries(series)) {
    const bounds = Object.keys(h.buckets).sort((a, b) => (a === "+Inf" ? 1 : b === "+Inf" ? -1 : Number(a) - Number(b)));
    assert.equal(bounds.length, 10, `${name}{${labels}}: nine bounds and +Inf`);
    assert.equal(bounds.at(-1), "+Inf", name);
    const counts = bounds.map((b) => Number(h.buckets[b]));
    counts.forEach((c, i) => assert.ok(i === 0 || c >= counts[i - 1], `${name}{${labels}} cumulative: ${counts}`));
    assert.equal(counts.at(-1), Number(h.count), `${name}{${labels}}: +Inf is _count`);
    assert.ok(Number(h.sum) >= 0, name);
  }
}

/** Every histogram series' _count, by its labels. */
const histogramCounts = (series) => Object.fromEntries(Object.entries(series).map(([k, h]) => [k, Number(h.count)]));

describe("GET /metrics", () => {
  const w = useWorld({ vars: { ROUTES_JSON: SENDGRID_ONLY, RETRY_BASE_SECONDS: "0" } });

  test("reports the known traffic exactly, behind a viewer credential, and never goes down", async () => {
    const token = await viewerToken(w);
    const unauthenticated = await w.worker.get("/metrics");
    assert.equal(unauthenticated.status, 401);
    assert.equal(unauthenticated.json.error, "unauthorized");
    const wrong = await w.worker.get("/metrics", { authorization: "Bearer ehk_000000000000_" + "A".repeat(32) });
    assert.equal(wrong.status, 401);
    assert.equal((await w.worker.post("/metrics", "", { authorization: `Bearer ${token}` })).status, 405);

    const kept = await deliver(w, checkoutCompleted());
    await settled(w.worker, "stripe", kept.id);
    w.fake.always(MAIL, { status: 400 }); // permanent: the next send dies at once
    const lost = await deliver(w, checkoutCompleted());
    const [dead] = await settled(w.worker, "stripe", lost.id);
    assert.equal(dead.status, "dead");
    await deliver(w, kept); // a duplicate
    await deliver(w, checkoutCompleted(), { secret: "whsec_wrongly_rotated", status: 401 });
    await deliver(w, checkoutCompleted(), { path: "/webhooks/stripe/nosuch", status: 404 });
    await waitForNoStepInFlight(w.worker);

    // The consumer counts a step just after writing its status: wait until both are counted.
    let m;
    await waitFor(
      async () => {
        m = await scrape(w, token);
        const steps = Object.values(samples(m.edgehooks_step_outcomes_total));
        return steps.reduce((a, b) => a + b, 0) === 2;
      },
      { what: "both step outcomes counted" },
    );
    const source = "provider=stripe,source=default";
    assert.deepEqual(samples(m.edgehooks_webhook_requests_total), {
      [`${source},outcome=accepted,status=200`]: 2,
      [`${source},outcome=duplicate,status=200`]: 1,
      [`${source},outcome=rejected,status=401`]: 1,
      "provider=stripe,source=unknown,outcome=refused,status=404": 1,
    });
    const requests = m.edgehooks_webhook_requests_total.metrics.map((r) => r.labels);
    const ingest = histogramSeries(m, "edgehooks_webhook_duration_seconds", requests);
    assertHistogramsConsistent(ingest, "edgehooks_webhook_duration_seconds");
    assert.deepEqual(histogramCounts(ingest), samples(m.edgehooks_webhook_requests_total), "one observation per request");
    assert.equal(samples(m.edgehooks_events_stored_total)[source], 2);
    assert.equal(samples(m.edgehooks_events_duplicate_total)[source], 1);
    assert.deepEqual(samples(m.edgehooks_rejections_total), {
      "provider=admin,reason=missing_token": 1,
      "provider=admin,reason=api_token_mismatch": 1,
      "provider=stripe,reason=signature_mismatch": 1,
    });
    assert.deepEqual(samples(m.edgehooks_step_outcomes_total), {
      "destination=sendgrid,outcome=dead": 1,
      "destination=sendgrid,outcome=succeeded": 1,
    });
    const outcomes = m.edgehooks_step_outcomes_total.metrics.map((r) => r.labels);
    const calls = histogramSeries(m, "edgehooks_step_duration_seconds", outcomes);
    assertHistogramsConsistent(calls, "edgehooks_step_duration_seconds");
    assert.deepEqual(histogramCounts(calls), samples(m.edgehooks_step_outcomes_total), "one observation per outcome");
    assert.deepEqual(samples(m.edgehooks_steps), { "destination=sendgrid,status=dead": 1 });
    assert.equal(m.edgehooks_steps_parked.type, "GAUGE");
    assert.ok(Number(m.edgehooks_d1_database_bytes.metrics[0].value) > 0, "D1 reports its size");

    // Retention deletes minute buckets past METRICS_RETENTION_DAYS: age every bucket past it.
    const counters = (text) => text.split("\n").filter((l) => !l.startsWith("edgehooks_steps") && !l.startsWith("edgehooks_d1"));
    const before = counters(m.text);
    assert.ok(before.length > 40, "counters and histogram series");
    const old = 30 * 86_400;
    await w.worker.all("UPDATE metric_events SET minute = minute - ?", old);
    await w.worker.all("UPDATE metric_steps SET minute = minute - ?", old);
    await w.sweep();
    const [left] = await w.worker.all("SELECT (SELECT COUNT(*) FROM metric_events) + (SELECT COUNT(*) FROM metric_steps) AS n");
    assert.equal(left.n, 0, "retention deleted every minute bucket");
    const after = await scrape(w, token);
    assert.deepEqual(counters(after.text), before, "every counter and histogram line as it was");
  });
});

describe("Workers Analytics Engine binding (Miniflare's simulator)", () => {
  const w = useWorld({
    vars: { ROUTES_JSON: SENDGRID_ONLY },
    captureLogs: true,
    miniflare: { analyticsEngineDatasets: { METRICS: { dataset: "edgehooks_metrics" } } },
  });

  test("requests and steps write their data points without a failure", async () => {
    const event = await deliver(w, checkoutCompleted());
    const [step] = await settled(w.worker, "stripe", event.id);
    assert.equal(step.status, "succeeded");
    await deliver(w, checkoutCompleted(), { secret: "whsec_wrongly_rotated", status: 401 });
    const failures = w.worker.workerLogs().filter((l) => l.kind === "error");
    assert.deepEqual(failures, []);
  });
});
