// The chaos run's report: seed and size, what was injected, counts from D1, timings, and every
// invariant with its violations (each with the event and step ids it is about), as text for the
// console and as JSON for tools.
export function formatReport(report, { maxViolations = 20 } = {}) {
  const lines = [];
  const { seed, events, stats, results } = report;
  lines.push(`chaos run: seed ${seed}, ${events} deliveries planned`);
  lines.push(
    `  sent ${stats.exchanges} requests (${stats.deliveries} deliveries, ${stats.accepted} answered 2xx, ${stats.unauthorized} 401, ${stats.unavailable} 503, ${stats.dropped} dropped); ` +
      `${stats.events} events and ${stats.steps} steps in D1 (${Object.entries(stats.stepStatus).map(([k, v]) => `${k} ${v}`).join(", ")})`,
  );
  lines.push(
    `  injected: downstream ${stats.injected.total} (${Object.entries(stats.injected.byKind).map(([k, v]) => `${k} ${v}`).join(", ")}); ` +
      `circuit probes failed ${stats.probes}; D1-refused ${stats.d1Refused}, queue-refused ${stats.queueRefused}, restarts ${stats.restarts}; ` +
      `operator calls ${stats.operatorCalls}, cron ticks ${stats.cronTicks}, retention back-dated ${stats.retentionBackdated}, lost Stripe events ${stats.lostStripe}`,
  );
  lines.push(
    `  downstream calls ${stats.downstreamCalls}; double sends (no key) ${stats.doubleSends ?? 0}; settle ${stats.settleMs} ms (${stats.aged} step rows aged); ` +
      `traffic phase ${stats.trafficMs} ms, ${stats.eventsPerSecond} events/s end to end`,
  );
  for (const note of report.notes ?? []) lines.push(`  note: ${note}`);
  for (const r of results) {
    const mark = r.violations.length ? "FAIL" : "ok  ";
    lines.push(`${mark} ${r.name} (${r.checked} checked): ${r.means}`);
    for (const v of r.violations.slice(0, maxViolations)) lines.push(`       - ${JSON.stringify(v)}`);
    if (r.violations.length > maxViolations) lines.push(`       … ${r.violations.length - maxViolations} more`);
  }
  const failed = results.filter((r) => r.violations.length);
  lines.push(failed.length ? `FAILED: ${failed.map((r) => `${r.name} (${r.violations.length})`).join(", ")} — replay with: scripts/chaos --seed ${seed} --events ${events}` : "all invariants hold");
  return lines.join("\n");
}
