// Configuration check for a deploy: wrangler's own parser and schema validation, then edgehooks'
// rules (the bindings the worker needs; numeric, boolean and URL vars and no secrets in [vars], by
// the core's list of settings, handlers/settings.json),
// then the built worker itself in workerd: its admin health (GET /admin/api/health, asked with a
// throwaway token the check adds to ADMIN_TOKEN; the public /health says only ok/misconfigured)
// runs the same per-provider checks as every request (secret lists, SendGrid keys, ROUTES_JSON,
// tolerance, MAX_BODY_BYTES, ADMIN_TOKEN) and names what is wrong. Messages name settings, never
// values.
//
// CLI: node scripts/check-config.mjs [path/to/wrangler.toml]   (exit 1 with a list of problems)
// Secrets set in the environment are checked too; for providers whose secret is not set, a
// placeholder is used so the provider's other settings are still exercised.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import crypto from "node:crypto";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { bindingOptions } from "./wrangler-config.mjs";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/**
 * Every setting edgehooks reads (name, kind secret/public_key/var, rule, default), generated from
 * the core's table (handlers/src/settings/table.rs) and kept equal to it by a native test.
 */
export const SETTINGS = JSON.parse(readFileSync(path.join(ROOT, "handlers/settings.json"), "utf8"));
const named = (pred) => SETTINGS.filter(pred).map((s) => s.name);
/** Secrets (wrangler secret / --secrets-file), public keys included. */
export const SECRET_NAMES = named((s) => s.kind !== "var");
/** The public SendGrid key may also live in [vars]; the others must not. */
const SECRETS_NOT_IN_VARS = named((s) => s.kind === "secret");
const NUMERIC_VARS = named((s) => s.kind === "var" && s.rule === "number");
const FLAG_VARS = named((s) => s.kind === "var" && s.rule === "flag");
const URL_VARS = named((s) => s.kind === "var" && s.rule === "url");
const LEVEL_VARS = named((s) => s.kind === "var" && s.rule === "level");
/** src/steps/consumer.rs dispatches on this queue name. */
const DLQ_QUEUE = "steps-dlq";

/** Each provider's verification secret list (the name starts with the provider's). */
const PROVIDER_SECRET = Object.fromEntries(
  named((s) => s.rule === "secret_list" || s.rule === "public_keys").map((name) => [name.split("_")[0].toLowerCase(), name]),
);

/**
 * A source's key setting (`<provider key setting>__<SOURCE>`, see WEBHOOK_SOURCES in docs/configuration.md):
 * not in the table, named by the source. Secrets like the provider's own (a SendGrid public key
 * may sit in [vars]).
 */
const SOURCE_KEY_SETTING = new RegExp(`^(${Object.values(PROVIDER_SECRET).join("|")})__[A-Z0-9_]+$`);
const isSourceSecret = (name) => SOURCE_KEY_SETTING.test(name) && !name.startsWith("SENDGRID_WEBHOOK_PUBLIC_KEYS__");

async function wranglerApi() {
  return import(path.join(ROOT, "node_modules/wrangler/wrangler-dist/cli.js"));
}

/**
 * Read `configPath` with wrangler (throws on TOML or schema errors, with wrangler's message) and
 * return { config (normalised), raw (as written) }.
 */
export async function readConfig(configPath) {
  const { unstable_readConfig, experimental_readRawConfig } = await wranglerApi();
  const config = unstable_readConfig({ config: configPath }, { hideWarnings: true });
  const { rawConfig } = experimental_readRawConfig({ config: configPath });
  return { config, raw: rawConfig };
}

/** edgehooks' rules on a parsed config. Returns a list of problems (empty when fine). */
export function staticProblems(config, configPath) {
  const problems = [];
  const where = path.relative(process.cwd(), configPath) || configPath;
  const bad = (msg) => problems.push(`${where}: ${msg}`);

  if (!config.name) bad("`name` is missing (the Worker's name)");
  const kv = (config.kv_namespaces ?? []).find((k) => k.binding === "IDEMPOTENCY");
  if (!kv) bad("no [[kv_namespaces]] with binding = \"IDEMPOTENCY\" (the dedupe hints)");
  const d1 = (config.d1_databases ?? []).find((d) => d.binding === "DB");
  if (!d1) bad("no [[d1_databases]] with binding = \"DB\"");
  else {
    if (!d1.database_name) bad("[[d1_databases]] DB has no database_name");
    const dir = path.resolve(path.dirname(configPath), d1.migrations_dir ?? "migrations");
    if (!existsSync(dir) || !readdirSync(dir).some((f) => f.endsWith(".sql"))) {
      bad(`D1 migrations_dir ${path.relative(process.cwd(), dir)} has no .sql migrations`);
    }
  }
  const producers = config.queues?.producers ?? [];
  const consumers = config.queues?.consumers ?? [];
  const steps = producers.find((p) => p.binding === "STEPS");
  const dlq = producers.find((p) => p.binding === "STEPS_DLQ");
  if (!steps) bad("no [[queues.producers]] with binding = \"STEPS\"");
  if (!dlq) bad("no [[queues.producers]] with binding = \"STEPS_DLQ\"");
  else if (dlq.queue !== DLQ_QUEUE) bad(`the STEPS_DLQ queue must be named "${DLQ_QUEUE}" (the consumer dispatches on it), not "${dlq.queue}"`);
  if (steps) {
    const consumer = consumers.find((c) => c.queue === steps.queue);
    if (!consumer) bad(`no [[queues.consumers]] for queue "${steps.queue}": steps would never run`);
    else if (consumer.dead_letter_queue !== DLQ_QUEUE) {
      bad(`the "${steps.queue}" consumer needs dead_letter_queue = "${DLQ_QUEUE}" so nothing disappears silently`);
    }
  }
  if (!consumers.some((c) => c.queue === DLQ_QUEUE)) bad(`no [[queues.consumers]] for "${DLQ_QUEUE}": dead letters would never be marked dead in D1`);
  if (!(config.triggers?.crons ?? []).length) bad("no [triggers] crons: the sweeper (outbox, retention) would never run");

  const vars = config.vars ?? {};
  for (const name of Object.keys(vars)) {
    if (typeof vars[name] !== "string") bad(`[vars] ${name} must be a string (quote it: ${name} = "…")`);
  }
  const text = (name) => (typeof vars[name] === "string" ? vars[name].trim() : undefined);
  for (const name of NUMERIC_VARS) {
    const v = text(name);
    if (v && !/^\d+$/.test(v)) bad(`[vars] ${name} must be a non-negative whole number`);
  }
  const retention = text("RETENTION_DAYS");
  if (retention && /^\d+$/.test(retention) && Number(retention) < 1) {
    bad("[vars] RETENTION_DAYS must be at least 1: a shorter retention could delete events before their steps finish");
  }
  for (const name of FLAG_VARS) {
    const v = text(name);
    if (v && !/^(true|false|1|0|yes|no)$/i.test(v)) bad(`[vars] ${name} must be true or false`);
  }
  for (const name of LEVEL_VARS) {
    const v = text(name);
    if (v && !/^(debug|info|warn|warning|error)$/i.test(v)) bad(`[vars] ${name} must be info, warn or error`);
  }
  for (const name of URL_VARS) {
    const v = text(name);
    if (!v) continue;
    let url;
    try {
      url = new URL(v);
    } catch {
      bad(`[vars] ${name} is not a URL`);
      continue;
    }
    if (!/^https?:$/.test(url.protocol)) bad(`[vars] ${name} must be an http(s) URL`);
  }
  const routes = text("ROUTES_JSON");
  if (routes) {
    let parsed;
    try {
      parsed = JSON.parse(routes);
    } catch (e) {
      bad(`[vars] ROUTES_JSON is not valid JSON (${e.message})`);
    }
    if (parsed !== undefined && (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))) {
      bad("[vars] ROUTES_JSON must be a JSON object of provider -> {event type -> [step names]}");
    }
  }
  for (const name of [...SECRETS_NOT_IN_VARS, ...Object.keys(vars).filter(isSourceSecret)]) {
    if (text(name)) bad(`[vars] ${name} holds a secret: remove it from the config and set it as a secret`);
  }
  return problems;
}

/** The secrets set (non-blank) in `env`, by name. */
export function secretsFromEnv(env = process.env) {
  const names = [...SECRET_NAMES, ...Object.keys(env).filter((n) => SOURCE_KEY_SETTING.test(n))];
  return Object.fromEntries(names.filter((n) => env[n] && env[n].trim()).map((n) => [n, env[n]]));
}

/** Placeholders that make each provider "enabled" so that its other settings are checked. */
function placeholders() {
  const { publicKey } = crypto.generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  return {
    STRIPE_WEBHOOK_SECRETS: "whsec_config_check_placeholder",
    SENDGRID_WEBHOOK_PUBLIC_KEYS: publicKey.export({ type: "spki", format: "der" }).toString("base64"),
    HUBSPOT_CLIENT_SECRETS: "config-check-placeholder",
    SHOPIFY_WEBHOOK_SECRETS: "shpss_config_check_placeholder",
  };
}

/**
 * Run the built worker (build/) in workerd with the config's vars and `secrets`, and ask its
 * admin health with a throwaway token added to `ADMIN_TOKEN`. Returns { problems, health }.
 */
export async function runtimeProblems(config, secrets) {
  const build = path.join(ROOT, "build");
  if (!existsSync(path.join(build, "index.js"))) {
    return { problems: ["build/index.js is missing: run scripts/build first"], health: undefined };
  }
  const { Miniflare, Log, LogLevel } = await import(path.join(ROOT, "node_modules/miniflare/dist/src/index.js"));
  const checkToken = `config-check-${crypto.randomBytes(24).toString("hex")}`;
  const options = (adminToken) => ({
    scriptPath: path.join(build, "index.js"),
    modulesRoot: build,
    modules: true,
    modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"], fallthrough: true }],
    // The bindings as the config declares them (no consumers: only the health is asked).
    ...withoutConsumers(bindingOptions(config)),
    bindings: { ...placeholders(), ...(config.vars ?? {}), ...secrets, ADMIN_TOKEN: adminToken },
    cf: false,
    log: new Log(LogLevel.NONE),
    handleRuntimeStdio: (stdout, stderr) => {
      stdout.resume();
      stderr.resume();
    },
  });
  const mf = new Miniflare(options([secrets.ADMIN_TOKEN, checkToken].filter(Boolean).join(",")));
  const adminHealth = async () => {
    const res = await mf.dispatchFetch("http://localhost/admin/api/health", { headers: { authorization: `Bearer ${checkToken}` } });
    return { status: res.status, body: await res.json().catch(() => ({})) };
  };
  try {
    const problems = [];
    let answer = await adminHealth();
    if (answer.status === 503 && answer.body.error === "misconfigured") {
      // ADMIN_TOKEN itself is refused (the detail names it and the entry, never a value): say
      // so, then check everything else with the throwaway token alone.
      problems.push(`${answer.body.detail} (affects admin: the admin API would answer 503 misconfigured)`);
      await mf.setOptions(options(checkToken));
      answer = await adminHealth();
    }
    if (answer.status !== 200) {
      return { problems: [...problems, `the worker's admin health answered ${answer.status} ${answer.body.error ?? ""}`], health: undefined };
    }
    const health = answer.body;
    for (const m of health.misconfigured ?? []) {
      // A provider's own endpoint says what is wrong (503 detail: setting and problem, no value).
      let detail = `${m.setting} is invalid`;
      // A source (`stripe:eu`) answers on its own path.
      const [provider, source] = String(m.affects).split(":");
      if (provider in PROVIDER_SECRET) {
        const webhook = source ? `${provider}/${source}` : provider;
        const answer = await mf.dispatchFetch(`http://localhost/webhooks/${webhook}`, { method: "POST", body: "" });
        const body = await answer.json().catch(() => ({}));
        if (body.error === "misconfigured" && body.detail) detail = body.detail;
      }
      problems.push(`${detail} (affects ${m.affects}: the worker would answer 503 misconfigured)`);
    }
    return { problems, health };
  } finally {
    await mf.dispose();
  }
}

function withoutConsumers({ queueConsumers, ...options }) {
  return options;
}

/** All checks. Returns { problems, health, config, raw }. */
export async function checkConfig(configPath, { secrets = secretsFromEnv(), runtime = true } = {}) {
  let config;
  let raw;
  try {
    ({ config, raw } = await readConfig(configPath));
  } catch (e) {
    return { problems: [`${configPath}: ${e.message}`] };
  }
  const problems = staticProblems(config, configPath);
  if (problems.length || !runtime) return { problems, config, raw };
  const { problems: found, health } = await runtimeProblems(config, secrets);
  return { problems: found, health, config, raw };
}

/** One line per provider: whether this deploy will set its secret. */
export function describeSecrets(secrets) {
  const providers = Object.entries(PROVIDER_SECRET).map(([provider, name]) =>
    secrets[name]
      ? `${provider}: ${name} from the environment`
      : `${provider}: ${name} not set here (the value already on Cloudflare, if any, is kept)`,
  );
  const sources = Object.keys(secrets)
    .filter((name) => SOURCE_KEY_SETTING.test(name))
    .sort()
    .map((name) => `source: ${name} from the environment`);
  return [...providers, ...sources];
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const configPath = path.resolve(process.argv[2] ?? process.env.EDGEHOOKS_WRANGLER_CONFIG ?? path.join(ROOT, "wrangler.toml"));
  const { problems, health } = await checkConfig(configPath);
  if (problems.length) {
    console.error(`config check failed (${problems.length} problem${problems.length > 1 ? "s" : ""}):`);
    for (const p of problems) console.error(`  - ${p}`);
    process.exit(1);
  }
  console.log(`config check passed: ${path.relative(process.cwd(), configPath) || configPath}`);
  if (health) console.log(`destinations: ${JSON.stringify(health.destinations)}`);
  if (health && Object.keys(health.sources ?? {}).length) console.log(`sources: ${JSON.stringify(health.sources)}`);
}
