// After the chaos: heal every fault, let the providers' retries land, then drive the system to
// rest: cron ticks, waiting until every step is finished. A step can only be stuck for a while
// by design (a send lost with a killed runtime waits for the sweeper's 15-minute lease, a
// `pending` step whose send was refused for its one-minute grace): once nothing has moved for a
// quiet window (longer than a call's timeout plus the record retries, so no call is in flight),
// the waiting rows are aged by that much, as if the time had passed, and the sweeper runs.
// Bounded: gives up after `budgetMs`, and the invariants then report what never finished.
const UNFINISHED = "('pending', 'enqueued', 'running')";
const AGE_MS = 16 * 60_000;

export async function settle({ runtime, downstream, operators, cron, senders, ledger, budgetMs, quietMs = 5000 }) {
  const started = Date.now();
  downstream.heal();
  ledger.setPlatform({ d1Ingest: false, queue: false });
  await runtime.setFaults({ d1Ingest: false, queue: false });
  await operators.heal();
  const idle = await Promise.race([senders.idle().then(() => true), new Promise((r) => setTimeout(() => r(false), budgetMs))]);
  if (!idle) ledger.notes.push("settle: some deliveries were still being retried when the budget ran out");
  const deadline = started + budgetMs;
  let aged = 0;
  let lastSignature = "";
  let stillSince = Date.now();
  await cron.tick();
  while (Date.now() < deadline) {
    const [row] = await runtime.all(
      `SELECT COUNT(*) AS n, COALESCE(SUM(updated_at), 0) AS u, COALESCE(SUM(attempts), 0) AS a FROM steps WHERE status IN ${UNFINISHED}`,
    );
    if (row.n === 0) break;
    const signature = `${row.n}:${row.u}:${row.a}:${downstream.calls()}`;
    if (signature !== lastSignature) {
      lastSignature = signature;
      stillSince = Date.now();
    } else if (Date.now() - stillSince >= quietMs) {
      // Nothing moved for a quiet window: let the time the waits are about pass.
      const res = await runtime.current.db
        .prepare(
          `UPDATE steps SET updated_at = updated_at - ?1, next_attempt_at = CASE WHEN next_attempt_at IS NULL THEN NULL ELSE next_attempt_at - ?1 END WHERE status IN ${UNFINISHED}`,
        )
        .bind(AGE_MS)
        .run();
      aged += res.meta?.changes ?? 0;
      await cron.tick();
      stillSince = Date.now();
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  // Flush the isolate's tallies (metrics, rejections) so D1 and the dashboard can be compared.
  await cron.tick();
  ledger.settle = { ms: Date.now() - started, aged };
}
