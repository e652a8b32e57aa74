// After the chaos: heal every fault, let the providers' retries land, then drive the system to
// rest: cron ticks, waiting until every step is finished. A step can only be stuck for a while
// by design (a send lost with a killed runtime waits for the sweeper's 15-minute lease, a
// `pending` step whose send was refused for its one-minute grace): once nothing has moved for a
// quiet window (longer than a call's timeout plus the record retries, so no call is in flight),
// the waiting rows are aged by that much, as if the time had passed, and the sweeper runs.
// Bounded: gives up after `budgetMs`, or when aging has not moved anything `maxFruitlessAgings`
// times in a row (a step waiting for something that never comes); the invariants then report
// what never finished.
const UNFINISHED = "('pending', 'enqueued', 'running')";
const AGE_MS = 16 * 60_000;
/** The sweeper's batch (src/cron/sweeper.rs SWEEP_LIMIT). */
const SWEEP_LIMIT = 500;

export async function settle({ runtime, downstream, operators, cron, senders, ledger, budgetMs, quietMs = 4000, maxFruitlessAgings = 3, log = () => {} }) {
  const started = Date.now();
  downstream.heal();
  await ledger.switchFaults({ d1Ingest: false, queue: false }, runtime.setFaults);
  await operators.heal();
  const retriesStart = Date.now();
  let timer;
  const idle = await Promise.race([senders.idle().then(() => true), new Promise((r) => (timer = setTimeout(() => r(false), budgetMs)))]);
  clearTimeout(timer);
  if (!idle) ledger.notes.push("settle: some deliveries were still being retried when the budget ran out");
  ledger.retriesMs = (ledger.retriesMs ?? 0) + (Date.now() - retriesStart);
  const deadline = started + budgetMs;
  let aged = 0;
  let lastSignature = "";
  let lastAgedSignature = null;
  let stillSince = Date.now();
  await cron.tick();
  let fruitless = 0;
  while (Date.now() < deadline && fruitless < maxFruitlessAgings) {
    // Progress is a step finishing, an attempt or a downstream call; a waiting step re-sent
    // (its updated_at bumped, e.g. `destination_paused`) is not progress.
    const [row] = await runtime.all(
      `SELECT COUNT(*) AS n, COALESCE(SUM(attempts), 0) AS a, (SELECT COUNT(*) FROM steps) AS total FROM steps WHERE status IN ${UNFINISHED}`,
    );
    if (row.n === 0) break;
    const signature = `${row.n}:${row.a}:${row.total}:${downstream.calls()}`;
    if (signature !== lastSignature) {
      if (lastAgedSignature !== null && signature !== lastAgedSignature) fruitless = 0;
      lastSignature = signature;
      stillSince = Date.now();
    } else if (Date.now() - stillSince >= quietMs) {
      if (lastAgedSignature === signature) fruitless += 1;
      lastAgedSignature = signature;
      // Nothing moved for a quiet window: let the time the waits are about pass. Parked steps
      // still waiting now are noted: a resume re-sends every parked step, so none of them
      // should need the sweeper's lease to finish (the invariants check it).
      const parked = await runtime.all(
        "SELECT id, destination, last_error FROM steps WHERE status = 'enqueued' AND last_error IN ('destination_paused', 'destination_draining')",
      );
      for (const p of parked) ledger.parkedAtAging.push({ ...p, at: Date.now() });
      const res = await runtime.current.db
        .prepare(
          `UPDATE steps SET updated_at = updated_at - ?1, next_attempt_at = CASE WHEN next_attempt_at IS NULL THEN NULL ELSE next_attempt_at - ?1 END WHERE status IN ${UNFINISHED}`,
        )
        .bind(AGE_MS)
        .run();
      aged += res.meta?.changes ?? 0;
      const waiting = await runtime.all(
        `SELECT status, COALESCE(substr(last_error, 1, 24), '') AS why, COUNT(*) AS n FROM steps WHERE status IN ${UNFINISHED} GROUP BY 1, 2`,
      );
      log(`  settle: aged ${res.meta?.changes ?? 0} waiting steps (${waiting.map((w) => `${w.status}/${w.why || "-"} ${w.n}`).join(", ")})`);
      // The sweeper re-sends at most 500 steps a tick: tick until it has re-sent them all.
      const changed = res.meta?.changes ?? 0;
      for (let t = 0; t < Math.min(100, Math.ceil(changed / SWEEP_LIMIT)); t++) await cron.tick();
      stillSince = Date.now();
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  // Flush the isolate's tallies (metrics, rejections) so D1 and the dashboard can be compared.
  await cron.tick();
  ledger.settle = { ms: Date.now() - started, aged };
}
