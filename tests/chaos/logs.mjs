// Log checks for the chaos run, over every line every worker printed (runtime restarts
// included): the fatal patterns of tests/helpers/logs.mjs (a Rust panic, a wasm trap, an isolate
// reset), and any configured secret value, the run's own source and destination secrets too.
import { FATAL } from "../helpers/logs.mjs";
import { TEST_SECRETS } from "../helpers/worker.mjs";

export const FATAL_PATTERNS = FATAL;

/** Every secret value the run configured (lists split), at least 8 characters long. */
export function runSecrets(extra = {}) {
  const settings = { ...TEST_SECRETS, ...extra };
  return Object.entries(settings)
    .filter(([name]) => /SECRET|TOKEN|_KEY|WEBHOOK_URL/.test(name) && !/TEMPLATE/.test(name))
    .flatMap(([, value]) => String(value).split(",").map((v) => v.trim()))
    .filter((v) => v.length >= 8);
}

/** `secret… in: line` for every line holding one of `secrets`. */
export function secretsIn(lines, secrets) {
  const leaks = [];
  for (const line of lines) {
    for (const secret of secrets) if (line.includes(secret)) leaks.push(`${secret.slice(0, 6)}… in: ${line.slice(0, 200)}`);
  }
  return leaks;
}
