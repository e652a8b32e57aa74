// One chaos run, start to finish: start the downstream fake and the worker (persisted, so it
// can be killed and restarted), then in rounds send a mix of all four providers' deliveries
// while the round's faults are on and operators and cron ticks act in between; then heal,
// settle and check every invariant. Returns the report (formatReport prints it). Everything the
// run decides comes from its seed (see prng.mjs); timing does not, so a failing seed shows the
// same traffic and faults again, not necessarily the same interleaving.
import { writeFileSync } from "node:fs";
import path from "node:path";
import { startFakeDownstream } from "../helpers/fake-downstream.mjs";
import { sendgridKeys } from "../helpers/providers.mjs";
import { downstreamVars, TEST_SECRETS } from "../helpers/worker.mjs";
import { createCast, SOURCES } from "./cast.mjs";
import { createCron } from "./cron.mjs";
import { createDownstream } from "./downstream.mjs";
import { checkAll, loadFacts } from "./invariants.mjs";
import { createLedger } from "./ledger.mjs";
import { runSecrets } from "./logs.mjs";
import { createOperators } from "./operators.mjs";
import { createRng } from "./prng.mjs";
import { startRuntime } from "./runtime.mjs";
import { roundPlan } from "./schedule.mjs";
import { createSenders } from "./senders.mjs";
import { settle } from "./settle.mjs";
import { nextDelivery } from "./traffic/index.mjs";
import { SOURCE_SECRETS } from "./traffic/delivery.mjs";

const TIMEOUT_MS = 1500;
// The sum of the in-place retries of an attempt's D1 record (handlers/src/steps/recovery.rs
// `RECORD_RETRY_DELAYS_MS`): a call can hold its `running` claim this long after its timeout.
const RECORD_RETRIES_MS = 100 + 300 + 900 + 2000;
// Settle ages waiting rows only after nothing moved for longer than any attempt can take, so a
// call still in flight is never made to look past its lease (its record would come too late).
const QUIET_MS = TIMEOUT_MS + RECORD_RETRIES_MS + 1000;
const RETENTION_DAYS = 30;
const PER_ROUND = 25;

/** The worker's settings for a chaos run. */
function chaosVars(fake, logLevel) {
  return {
    ...downstreamVars(fake.url),
    ...SOURCE_SECRETS,
    WEBHOOK_SOURCES: Object.entries(SOURCES).flatMap(([p, list]) => list.map((s) => `${p}:${s}`)).join(","),
    SENDGRID_WEBHOOK_PUBLIC_KEYS__MKT: sendgridKeys.publicKeyBase64,
    RETRY_BASE_SECONDS: "0",
    MAX_ATTEMPTS: "25",
    DOWNSTREAM_TIMEOUT_MS: String(TIMEOUT_MS),
    CIRCUIT_COOL_DOWN_SECONDS: "1",
    RETENTION_DAYS: String(RETENTION_DAYS),
    LOG_LEVEL: logLevel,
  };
}

export async function runChaos({ seed = 1, events = 300, log = () => {}, logLevel, keep = false, verbose = false } = {}) {
  const rng = createRng(seed);
  const trafficRng = rng.fork("traffic");
  const faultRng = rng.fork("faults");
  const fake = await startFakeDownstream();
  const vars = chaosVars(fake, logLevel ?? (events > 2000 ? "warn" : "info"));
  const cast = createCast(rng.fork("cast"), Math.max(12, Math.round(events / 8)));
  for (const p of cast.people) fake.stripe.add({ id: p.stripeCustomer, email: p.email, name: `${p.first} ${p.last}` });
  const runtime = await startRuntime({ vars });
  const ledger = createLedger({ seed: rng.seed, adminToken: TEST_SECRETS.ADMIN_TOKEN.split(",")[0] });
  ledger.secrets = runSecrets(vars);
  ledger.restarts = [];
  ledger.unflushedAtKills = (provider) => unflushed(ledger, provider);
  try {
    const downstream = createDownstream({ fake, cast, seed: rng.seed, timeoutMs: TIMEOUT_MS });
    const senders = createSenders({ runtime, rng: rng.fork("senders"), ledger });
    ledger.outstanding = () => senders.outstanding;
    // Slack's request budget is one call a second (handlers/src/steps/limits.rs): in a soak, new
    // orders' Slack notices alone would cap the pipeline at about one order a second, so the
    // soak turns that route step off (failed payments still notify Slack).
    const slackOff = events > 2000;
    const operators = createOperators({ runtime, rng: rng.fork("operators"), ledger, fake, slackOff });
    if (slackOff) await operators.call("POST", "/admin/api/routes/off", { provider: "shopify", event_type: "orders/create", step: "slack.notify" });
    const cron = createCron({ runtime, rng: rng.fork("cron"), ledger, fake, cast, retentionDays: RETENTION_DAYS, senders });
    await operators.actions.addConnection();

    const trafficStart = Date.now();
    const rounds = Math.ceil(events / PER_ROUND);
    let sent = 0;
    for (let index = 0; index < rounds; index++) {
      const plan = roundPlan(faultRng, { index });
      downstream.setRate(plan.rate);
      downstream.setPermanentRate(plan.permanentRate);
      if (plan.storm) downstream.storm(plan.storm, 2500);
      await ledger.switchFaults({ d1Ingest: plan.d1Ingest, queue: plan.queue }, runtime.setFaults);
      const count = Math.min(PER_ROUND, events - sent);
      for (let i = 0; i < count; i++) {
        const d = nextDelivery(trafficRng, cast);
        if (d.stripeEvent) fake.stripeEvents.add(d.stripeEvent);
        senders.submit(d, { delayMs: i * 15 });
      }
      sent += count;
      for (let k = 0; k < plan.lostStripe; k++) cron.loseStripeEvent();
      // Mid-round: the runtime killed under the traffic, operators, cron.
      await pause(count * 8);
      if (plan.restart) await restart(runtime, ledger);
      for (let k = 0; k < plan.operatorActions; k++) await operators.act();
      if (plan.retention) await cron.retention();
      else if (plan.cron) await cron.tick();
      if (plan.capturedReplay) cron.replayCapturedBody();
      await pause(count * 7);
      // Back-pressure: a provider only has so many deliveries in flight.
      while (ledger.outstanding?.() > 400) await pause(50);
      if (verbose || index % 10 === 9) {
        const steps = await runtime.all("SELECT status, COUNT(*) AS n FROM steps GROUP BY 1").catch(() => []);
        log(`  round ${index + 1}/${rounds}: ${sent} deliveries, ${fake.calls.length} downstream calls, steps ${steps.map((r) => `${r.status} ${r.n}`).join(", ")}; plan ${JSON.stringify(plan)}`);
      }
    }
    ledger.trafficMs = Date.now() - trafficStart;
    log(`  traffic done in ${ledger.trafficMs} ms; settling`);
    await settle({ runtime, downstream, operators, cron, senders, ledger, log, quietMs: QUIET_MS, budgetMs: 60_000 + events * 200 });
    const firstSettle = ledger.settle;
    log(`  settled in ${firstSettle.ms} ms (${firstSettle.aged} rows aged); backfill`);
    await cron.backfill(Math.floor(ledger.startedAt / 1000) - 7200);
    await settle({ runtime, downstream, operators, cron, senders, ledger, log, quietMs: QUIET_MS, budgetMs: 60_000 + events * 100 });
    ledger.settle = { ms: firstSettle.ms + ledger.settle.ms, aged: firstSettle.aged + ledger.settle.aged };
    ledger.pipelineMs = Date.now() - trafficStart;
    log(`  settled again; checking`);

    const facts = await loadFacts({ runtime, fake, ledger });
    const results = checkAll(facts);
    const platform = await runtime.setFaults({});
    return { seed: rng.seed, events, stats: stats(facts, ledger, downstream, platform, fake), results, notes: ledger.notes, dir: keep ? runtime.dir : undefined };
  } finally {
    ledger.stopRetrying = true;
    if (keep) keepRecords(runtime, fake, ledger);
    await runtime.dispose({ keep });
    await fake.close();
  }
}

async function restart(runtime, ledger) {
  ledger.setPlatform({ restarting: true, kills: ledger.platformState().kills + 1 });
  const record = { at: Date.now(), lastFlushAt: ledger.lastFlushAt };
  ledger.restarts.push(record);
  try {
    await runtime.restart();
  } finally {
    record.end = Date.now();
    ledger.setPlatform({ restarting: false });
  }
}

/** An upper bound of the accepted events a killed isolate had counted but not flushed. */
function unflushed(ledger, provider) {
  let total = 0;
  for (const r of ledger.restarts) {
    for (const x of ledger.exchanges) {
      const d = ledger.deliveries.get(x.delivery);
      if (d.provider !== provider || x.status !== 200) continue;
      if (x.endedAt >= r.lastFlushAt - 1000 && x.startedAt <= r.at + 1000) total += x.json?.events ?? 0;
    }
  }
  return total;
}

function stats(facts, ledger, downstream, platform, fake) {
  const count = (f) => ledger.exchanges.filter(f).length;
  const stepStatus = {};
  for (const s of facts.steps) stepStatus[s.status] = (stepStatus[s.status] ?? 0) + 1;
  const accepted = facts.events.filter((e) => e.status === "accepted").length;
  const seconds = (ledger.pipelineMs ?? 1) / 1000;
  return {
    deliveries: ledger.deliveries.size,
    exchanges: ledger.exchanges.length,
    accepted: count((x) => x.status === 200),
    unauthorized: count((x) => x.status === 401),
    unavailable: count((x) => x.status === 503),
    dropped: count((x) => x.status === 0),
    events: facts.events.length,
    steps: facts.steps.length,
    stepStatus,
    injected: downstream.state.injected,
    probes: facts.attempts.filter((a) => a.outcome === "probe").length,
    d1Refused: platform?.refused?.d1 ?? 0,
    queueRefused: platform?.refused?.queue ?? 0,
    restarts: ledger.restarts.length,
    operatorCalls: ledger.operator.length,
    cronTicks: ledger.cronTicks,
    retentionBackdated: ledger.retention.finished.size + ledger.retention.unfinished.size,
    lostStripe: ledger.lostStripe.length,
    downstreamCalls: fake.calls.length,
    doubleSends: ledger.doubleSends,
    settleMs: ledger.settle?.ms,
    aged: ledger.settle?.aged,
    trafficMs: ledger.trafficMs,
    pipelineMs: ledger.pipelineMs,
    eventsPerSecond: Math.round((accepted / seconds) * 10) / 10,
  };
}

/** With --keep: the worker's log lines, the fake's calls and the senders' exchanges beside D1. */
function keepRecords(runtime, fake, ledger) {
  writeFileSync(path.join(runtime.dir, "worker.log"), runtime.logs().join("\n"));
  const calls = fake.calls.map(({ headers, ...c }) => ({ ...c, idempotency: headers["idempotency-key"] ?? headers["webhook-id"] }));
  writeFileSync(path.join(runtime.dir, "calls.json"), JSON.stringify(calls, null, 1));
  writeFileSync(path.join(runtime.dir, "exchanges.json"), JSON.stringify(ledger.exchanges, null, 1));
  writeFileSync(path.join(runtime.dir, "operator.json"), JSON.stringify(ledger.operator, null, 1));
}

const pause = (ms) => new Promise((r) => setTimeout(r, ms));
