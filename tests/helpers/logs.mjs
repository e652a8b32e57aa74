// Checks over the logs a worker started with startWorker({ captureLogs: true }) collected (the
// worker's console output and workerd's own messages): no Rust panic or wasm trap (either one
// means the isolate was reset, dropping whatever else it was doing), and no configured secret
// printed anywhere.
import assert from "node:assert/strict";
import { TEST_SECRETS } from "./worker.mjs";

/** What workerd or the panic hook prints when the wasm instance dies. */
export const FATAL = [
  /panicked at/i,
  /RuntimeError: unreachable/i,
  /Uncaught \(in promise\)/i,
  /exceeded (its )?(CPU|memory)/i,
  /isolate (was )?(reset|terminated)/i,
  /The script will never generate a response/i,
  /Worker threw exception/i,
];

export function assertNoPanics(logs) {
  const bad = logs.filter((line) => FATAL.some((re) => re.test(line)));
  assert.deepEqual(bad, [], `the isolate crashed or panicked:\n${bad.join("\n")}`);
}

/** Every individual secret value in TEST_SECRETS (comma-separated lists split), plus `extra`. */
export function secretValues(extra = []) {
  const names = Object.keys(TEST_SECRETS).filter((name) => /SECRET|TOKEN|KEY/.test(name) && !/TEMPLATE/.test(name));
  const values = names.flatMap((name) => TEST_SECRETS[name].split(",").map((v) => v.trim()));
  return [...values, ...extra].filter((v) => v.length >= 8);
}

/** Assert that no secret value appears in any of `texts` (log lines, response bodies). */
export function assertNoSecrets(texts, extra = []) {
  const leaks = [];
  for (const secret of secretValues(extra)) {
    for (const text of texts) {
      if (String(text).includes(secret)) leaks.push(`${secret.slice(0, 6)}… in: ${String(text).slice(0, 200)}`);
    }
  }
  assert.deepEqual(leaks, [], `secrets leaked:\n${leaks.join("\n")}`);
}

/** The capture works: the worker's own structured lines are there (so "no panic" means something). */
export function assertCaptured(logs) {
  assert.ok(
    logs.some((line) => line.includes('"kind":"request"')),
    `expected the worker's request log lines among ${logs.length} captured lines`,
  );
}
