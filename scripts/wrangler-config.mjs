// The one reader of edgehooks' configuration for the Node-side tools (tests, benchmarks, the
// config check, scripts/send): wrangler.toml through wrangler's own config reader, turned into
// Miniflare worker options (compatibility date, vars, KV, D1 and queue bindings as declared),
// .dev.vars through Node's dotenv parser, and where `wrangler dev --local` keeps a D1 database's
// SQLite file. Nothing here parses TOML or repeats a value that wrangler.toml already holds.
import { createHash, createHmac } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { parseEnv } from "node:util";
import { fileURLToPath } from "node:url";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** wrangler.toml (or `configPath`) as wrangler itself reads and validates it. */
export async function readWranglerConfig(configPath = path.join(ROOT, "wrangler.toml")) {
  const { unstable_readConfig } = await import("wrangler");
  return unstable_readConfig({ config: configPath }, { hideWarnings: true });
}

/** The `[vars]` of a config as strings (Miniflare bindings), as `wrangler dev` passes them. */
export function stringVars(config) {
  return Object.fromEntries(
    Object.entries(config.vars ?? {}).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]),
  );
}

/**
 * Miniflare worker options for the bindings a config declares: compatibility date and flags,
 * KV namespaces and D1 databases by binding name, queue producers, and queue consumers with their
 * batch size, retries and dead-letter queue. `batchTimeoutSecs` overrides every consumer's
 * `max_batch_timeout` (tests use a short one so messages are not held for a second). `[assets]`
 * (the admin page) becomes Miniflare's static assets, served ahead of the worker as on Cloudflare
 * except on the paths `run_worker_first` names.
 */
export function bindingOptions(config, { batchTimeoutSecs } = {}) {
  const queues = config.queues ?? {};
  const consumers = Object.fromEntries(
    (queues.consumers ?? []).map((c) => [
      c.queue,
      {
        ...(c.max_batch_size !== undefined ? { maxBatchSize: c.max_batch_size } : {}),
        maxBatchTimeout: batchTimeoutSecs ?? c.max_batch_timeout,
        ...(c.max_retries !== undefined ? { maxRetries: c.max_retries } : {}),
        ...(c.dead_letter_queue ? { deadLetterQueue: c.dead_letter_queue } : {}),
        ...(c.retry_delay !== undefined ? { retryDelay: c.retry_delay } : {}),
      },
    ]),
  );
  return {
    compatibilityDate: config.compatibility_date,
    compatibilityFlags: config.compatibility_flags ?? [],
    kvNamespaces: (config.kv_namespaces ?? []).map((kv) => kv.binding),
    d1Databases: (config.d1_databases ?? []).map((d1) => d1.binding),
    queueProducers: Object.fromEntries((queues.producers ?? []).map((p) => [p.binding, p.queue])),
    queueConsumers: consumers,
    ...(config.assets?.directory
      ? { assets: { directory: path.resolve(ROOT, config.assets.directory), routerConfig: routerConfig(config.assets) } }
      : {}),
  };
}

/**
 * Miniflare's asset router settings for `[assets]`, as `wrangler dev` derives them:
 * `run_worker_first = true` sends every request to the worker first; a list of path rules
 * (`/webhooks/*`; `!/…` for a path that stays with the assets) sends the matching ones.
 */
export function routerConfig(assets) {
  const first = assets.run_worker_first;
  if (typeof first === "boolean") return { has_user_worker: true, invoke_user_worker_ahead_of_assets: first };
  if (!Array.isArray(first)) return { has_user_worker: true };
  const negative = (rule) => rule.startsWith("!/");
  return {
    has_user_worker: true,
    static_routing: {
      user_worker: first.filter((rule) => !negative(rule)),
      asset_worker: first.filter(negative).map((rule) => rule.slice(1)),
    },
  };
}

/**
 * The local settings `wrangler dev` reads: `file` if given, else .dev.vars, else
 * .dev.vars.example (which holds working local values), parsed as dotenv.
 */
export function readDevVars(file) {
  const candidates = [file, ".dev.vars", ".dev.vars.example"].filter(Boolean).map((f) => path.resolve(ROOT, f));
  const found = candidates.find(existsSync);
  if (!found) throw new Error("no .dev.vars or .dev.vars.example");
  return parseEnv(readFileSync(found, "utf8"));
}

/**
 * The SQLite file of the D1 database bound as `binding` in local storage `state` (the
 * `--persist-to` of `wrangler dev` and `wrangler d1 … --local`). Local D1 is a Durable Object of
 * Miniflare's `miniflare-D1DatabaseObject` namespace named by the binding's id
 * (`preview_database_id`, else `database_id`, as wrangler passes it); its file is named by the
 * object's id, which workerd derives from the name (the derivation Miniflare also uses to find
 * these files): two HMAC-SHA-256 halves keyed by the SHA-256 of the namespace.
 */
export async function localD1File(state, binding = "DB") {
  const config = await readWranglerConfig();
  const d1 = (config.d1_databases ?? []).find((d) => d.binding === binding);
  if (!d1) throw new Error(`wrangler.toml declares no D1 binding ${binding}`);
  const name = d1.preview_database_id ?? d1.database_id;
  const namespace = "miniflare-D1DatabaseObject";
  const key = createHash("sha256").update(namespace).digest();
  const nameMac = createHmac("sha256", key).update(name).digest().subarray(0, 16);
  const check = createHmac("sha256", key).update(nameMac).digest().subarray(0, 16);
  const id = Buffer.concat([nameMac, check]).toString("hex");
  return path.join(path.resolve(state), "v3", "d1", namespace, `${id}.sqlite`);
}
