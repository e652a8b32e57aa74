// The bounded chaos run of scripts/test: a few hundred deliveries of every provider under
// downstream, platform and operator faults, for fixed seeds, through workerd; every invariant
// of tests/chaos/invariants.mjs must hold. A failure prints the full report with the seed to
// replay (`scripts/chaos --seed <seed> --events <n>`), and test-artifacts/chaos-seed-<seed>.json
// holds the whole report. The soak (`scripts/chaos --events 20000`)
// is not part of the suite.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { ROOT } from "../helpers/worker.mjs";
import { formatReport } from "./report.mjs";
import { runChaos } from "./run.mjs";

const SEEDS = (process.env.EDGEHOOKS_CHAOS_SEEDS ?? "1,2,3").split(",").map((s) => s.trim()).filter(Boolean);
const EVENTS = Number(process.env.EDGEHOOKS_CHAOS_EVENTS ?? 100);

for (const seed of SEEDS) {
  test(`chaos run, seed ${seed}, ${EVENTS} deliveries: every invariant holds`, { timeout: 180_000 }, async () => {
    const report = await runChaos({ seed, events: EVENTS });
    const text = formatReport(report);
    const failed = report.results.filter((r) => r.violations.length);
    if (failed.length) {
      // The whole report (every violation, not only the first 20 per invariant) for a look later.
      const dir = path.join(ROOT, "test-artifacts");
      mkdirSync(dir, { recursive: true });
      writeFileSync(path.join(dir, `chaos-seed-${seed}.json`), JSON.stringify(report, null, 2));
    }
    assert.ok(report.stats.accepted > 0, `the run delivered nothing:\n${text}`);
    assert.deepEqual(failed.map((r) => r.name), [], text);
  });
}
