// The local settings wrangler dev reads (.dev.vars, else .dev.vars.example), for the benchmark
// scripts: the load client signs with them and the Miniflare targets serve with them.
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** Every `NAME="value"` line of .dev.vars (or the example when there is no .dev.vars). */
export function devVars() {
  const file = path.join(ROOT, existsSync(path.join(ROOT, ".dev.vars")) ? ".dev.vars" : ".dev.vars.example");
  const vars = {};
  for (const line of readFileSync(file, "utf8").split("\n")) {
    const m = line.match(/^([A-Z0-9_]+)="?([^"]*)"?\s*$/);
    if (m) vars[m[1]] = m[2];
  }
  return vars;
}

/** The first entry of a comma-separated setting (the secret a sender signs with). */
export function devVar(name) {
  const value = devVars()[name];
  if (value === undefined) throw new Error(`${name} is not set in .dev.vars or .dev.vars.example`);
  return value.split(",")[0].trim();
}
