// The local settings wrangler dev reads (.dev.vars, else .dev.vars.example), for the benchmark
// scripts: the load client signs with them and the Miniflare targets serve with them.
import { readDevVars } from "../scripts/wrangler-config.mjs";

/** Every setting of .dev.vars (or the example when there is no .dev.vars). */
export function devVars() {
  return readDevVars();
}

/** The first entry of a comma-separated setting (the secret a sender signs with). */
export function devVar(name) {
  const value = devVars()[name];
  if (value === undefined) throw new Error(`${name} is not set in .dev.vars or .dev.vars.example`);
  return value.split(",")[0].trim();
}
