// The deploy logic behind scripts/deploy (which sets up and builds first). Never edits the
// committed wrangler.toml: it writes a generated config (.wrangler/deploy/wrangler.json) with
// the real resource ids and paths relative to it, and deploys with that.
//
//   --dry-run  no account needed: check the config (scripts/check-config.mjs), write the
//              generated config, `wrangler deploy --dry-run --outdir dist`, report bundle size.
//   (default)  needs CLOUDFLARE_API_TOKEN (+ CLOUDFLARE_ACCOUNT_ID when the token sees several
//              accounts): the same checks, then find or create the KV namespace, the D1
//              database and both queues, apply D1 migrations remotely, and deploy with the
//              secrets set in the environment (`--secrets-file`, a 0600 temp file, removed
//              afterwards; values are never printed or passed as arguments). Idempotent: existing
//              resources are reused, applied migrations are skipped, and when bundle, config
//              and secrets are what the live version was deployed with, nothing is deployed.
//
// Env: EDGEHOOKS_WRANGLER_CONFIG (default wrangler.toml), D1_LOCATION (hint for a new database),
// EDGEHOOKS_DEPLOY_DIR (generated config and deploy state; default .wrangler/deploy).
import { spawnSync } from "node:child_process";
import crypto from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import zlib from "node:zlib";
import { checkConfig, describeSecrets, ROOT, secretsFromEnv } from "./check-config.mjs";

const DRY_RUN = process.argv.includes("--dry-run");
const CONFIG = path.resolve(process.env.EDGEHOOKS_WRANGLER_CONFIG ?? path.join(ROOT, "wrangler.toml"));
const DEPLOY_DIR = path.resolve(process.env.EDGEHOOKS_DEPLOY_DIR ?? path.join(ROOT, ".wrangler/deploy"));
const GENERATED = path.join(DEPLOY_DIR, "wrangler.json");
const STATE = path.join(DEPLOY_DIR, "state.json");
const DIST = path.join(ROOT, "dist");
// EDGEHOOKS_WRANGLER_BIN: tests substitute a fake that simulates an account.
const WRANGLER = process.env.EDGEHOOKS_WRANGLER_BIN ?? path.join(ROOT, "node_modules/.bin/wrangler");

const say = (msg) => process.stderr.write(`\x1b[1m==> ${msg}\x1b[0m\n`);
class DeployError extends Error {}
/** Stop the deploy with `msg` (thrown, so that `finally` blocks still clean up). */
const fail = (msg) => {
  throw new DeployError(msg);
};

/** Run wrangler with `args`; returns { ok, stdout, stderr }. Output is captured, not echoed. */
function wrangler(args, { input } = {}) {
  const r = spawnSync(WRANGLER, args, {
    cwd: ROOT,
    encoding: "utf8",
    input,
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "true", FORCE_COLOR: "0" },
    maxBuffer: 64 * 1024 * 1024,
  });
  return { ok: r.status === 0, stdout: r.stdout ?? "", stderr: r.stderr ?? "", status: r.status };
}

/** Like `wrangler` but fails the deploy with wrangler's own message on error. */
function must(args, what) {
  const r = wrangler(args);
  if (!r.ok) fail(`${what} failed (wrangler ${args.slice(0, 3).join(" ")}):\n${(r.stderr || r.stdout).trim()}`);
  return r.stdout;
}

/** The first JSON array or object in wrangler's output (it may print banners first). */
function jsonIn(text, what) {
  const start = text.search(/[[{]/);
  try {
    return JSON.parse(text.slice(start));
  } catch {
    fail(`could not read ${what} from wrangler's output`);
  }
}

/** The generated config: the raw config with ids filled in and paths made relative to it. */
function generatedConfig(raw, ids) {
  const rel = (p) => path.relative(DEPLOY_DIR, path.resolve(path.dirname(CONFIG), p));
  const config = structuredClone(raw);
  delete config.build; // scripts/deploy has built already
  config.main = path.relative(DEPLOY_DIR, path.join(ROOT, "build/index.js"));
  if (config.assets?.directory) {
    config.assets = { ...config.assets, directory: path.relative(DEPLOY_DIR, path.resolve(ROOT, config.assets.directory)) };
  }
  config.kv_namespaces = (config.kv_namespaces ?? []).map((kv) =>
    kv.binding === "IDEMPOTENCY" && ids.kv ? { ...kv, id: ids.kv } : kv,
  );
  config.d1_databases = (config.d1_databases ?? []).map((db) => ({
    ...db,
    ...(db.binding === "DB" && ids.d1 ? { database_id: ids.d1 } : {}),
    migrations_dir: rel(db.migrations_dir ?? "migrations"),
  }));
  return config;
}

function writeGenerated(config) {
  mkdirSync(DEPLOY_DIR, { recursive: true });
  const text = `${JSON.stringify(config, null, 2)}\n`;
  writeFileSync(GENERATED, text);
  return text;
}

/** Files of dist/ that are uploaded (not wrangler's timestamped README or source maps). */
const uploaded = (name) => !name.endsWith(".map") && name !== "README.md";

/** Raw and gzip size of the bundle wrangler wrote to dist/. */
function bundleSize() {
  let raw = 0;
  let gzip = 0;
  const walk = (dir) => {
    for (const name of readdirSync(dir)) {
      const file = path.join(dir, name);
      if (statSync(file).isDirectory()) walk(file);
      else if (uploaded(name)) {
        const bytes = readFileSync(file);
        raw += bytes.length;
        gzip += zlib.gzipSync(bytes, { level: 9 }).length;
      }
    }
  };
  walk(DIST);
  return { raw, gzip };
}

const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;

/** Bundle the worker with the generated config into dist/ (no account needed). */
function dryRunBundle() {
  rmSync(DIST, { recursive: true, force: true });
  const out = must(["deploy", "--dry-run", "--outdir", DIST, "--config", GENERATED], "wrangler deploy --dry-run");
  const reported = out.match(/Total Upload:\s*([^\n]+)/)?.[1]?.trim();
  const size = bundleSize();
  return { ...size, reported };
}

function readState() {
  try {
    return JSON.parse(readFileSync(STATE, "utf8"));
  } catch {
    return {};
  }
}

/** A fingerprint of what a deploy would upload; secrets enter only through a salted hash. */
function fingerprint(configText, secrets, salt) {
  const hash = crypto.createHash("sha256");
  hash.update(configText);
  const files = [];
  const walk = (dir) => {
    for (const name of readdirSync(dir).sort()) {
      const file = path.join(dir, name);
      if (statSync(file).isDirectory()) walk(file);
      else if (uploaded(name)) files.push(file);
    }
  };
  walk(DIST);
  for (const file of files) hash.update(path.relative(DIST, file)).update(readFileSync(file));
  const secretHash = crypto.createHmac("sha256", salt).update(JSON.stringify(Object.entries(secrets).sort())).digest("hex");
  return hash.update(secretHash).digest("hex");
}

// ---- resources (real deploy only)

function ensureKv(title) {
  const find = () => jsonIn(must(["kv", "namespace", "list"], "listing KV namespaces"), "the KV namespace list").find((n) => n.title === title);
  let ns = find();
  if (ns) say(`KV namespace "${title}" exists (${ns.id})`);
  else {
    say(`creating KV namespace "${title}"`);
    must(["kv", "namespace", "create", title], "creating the KV namespace");
    ns = find();
    if (!ns) fail(`KV namespace "${title}" was created but is not listed; run again in a minute`);
  }
  return ns.id;
}

function ensureD1(name) {
  const find = () => jsonIn(must(["d1", "list", "--json"], "listing D1 databases"), "the D1 database list").find((d) => d.name === name);
  let db = find();
  if (db) say(`D1 database "${name}" exists (${db.uuid})`);
  else {
    say(`creating D1 database "${name}"`);
    const location = process.env.D1_LOCATION ? ["--location", process.env.D1_LOCATION] : [];
    must(["d1", "create", name, ...location], "creating the D1 database");
    db = find();
    if (!db) fail(`D1 database "${name}" was created but is not listed; run again in a minute`);
  }
  return db.uuid;
}

function ensureQueue(name) {
  if (wrangler(["queues", "info", name]).ok) {
    say(`queue "${name}" exists`);
    return;
  }
  say(`creating queue "${name}"`);
  must(["queues", "create", name], `creating queue ${name}`);
}

/** The version ids currently serving traffic, from `wrangler deployments status --json`. */
function liveVersions() {
  const r = wrangler(["deployments", "status", "--json", "--config", GENERATED]);
  if (!r.ok) return [];
  const status = (() => {
    try {
      return jsonIn(r.stdout, "the deployment status");
    } catch {
      return {};
    }
  })();
  return (status.versions ?? []).map((v) => v.version_id ?? v.id).filter(Boolean);
}

// ---- main

async function main() {
say(`checking ${path.relative(ROOT, CONFIG) || CONFIG}`);
const secrets = secretsFromEnv();
const { problems, config, raw } = await checkConfig(CONFIG, { secrets });
if (problems.length) {
  fail(`the configuration is broken (${problems.length} problem${problems.length > 1 ? "s" : ""}); nothing was deployed:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
}
const kvEntry = config.kv_namespaces.find((k) => k.binding === "IDEMPOTENCY");
const d1Entry = config.d1_databases.find((d) => d.binding === "DB");
const queues = [...new Set(config.queues.producers.map((p) => p.queue))].sort().reverse(); // steps-dlq first

if (DRY_RUN) {
  writeGenerated(generatedConfig(raw, {}));
  say("bundling (wrangler deploy --dry-run --outdir dist)");
  const size = dryRunBundle();
  console.log(`config: ok (${path.relative(ROOT, CONFIG) || CONFIG}); generated ${path.relative(ROOT, GENERATED)}`);
  console.log(`bundle: ${kib(size.raw)} raw, ${kib(size.gzip)} gzip (limits: 3 MB gzip free, 10 MB paid)${size.reported ? `; wrangler: ${size.reported}` : ""}`);
  for (const line of describeSecrets(secrets)) console.log(`secret ${line}`);
  console.log("dry run: no account used, nothing created or deployed");
  return;
}

if (!process.env.CLOUDFLARE_API_TOKEN) {
  fail("CLOUDFLARE_API_TOKEN is not set (a token with Workers Scripts, KV, D1 and Queues edit rights); use --dry-run to check without an account");
}
if (!process.env.CLOUDFLARE_ACCOUNT_ID) say("CLOUDFLARE_ACCOUNT_ID is not set: wrangler will use the token's only account");

// Resources: found by name, created when missing; their ids go into the generated config.
const kvTitle = /^[0-9a-f]{32}$/.test(kvEntry.id) ? undefined : kvEntry.id || `${config.name}-idempotency`;
const kvId = kvTitle ? ensureKv(kvTitle) : kvEntry.id;
const d1Id = /^[0-9a-f-]{36}$/.test(d1Entry.database_id ?? "") && !/^0{8}-/.test(d1Entry.database_id)
  ? d1Entry.database_id
  : ensureD1(d1Entry.database_name);
for (const queue of queues) ensureQueue(queue);
const configText = writeGenerated(generatedConfig(raw, { kv: kvId, d1: d1Id }));
say(`wrote ${path.relative(ROOT, GENERATED)}`);

say(`applying D1 migrations to "${d1Entry.database_name}" (remote)`);
const applied = must(["d1", "migrations", "apply", d1Entry.database_name, "--remote", "--config", GENERATED], "applying D1 migrations");
if (/No migrations to apply/i.test(applied)) say("migrations: already up to date");

say("bundling");
dryRunBundle();
const state = readState();
const salt = state.salt ?? crypto.randomBytes(32).toString("hex");
const print = fingerprint(configText, secrets, salt);
const live = liveVersions();
if (state.fingerprint === print && state.version && live.includes(state.version)) {
  console.log(`nothing changed: version ${state.version} is live with this bundle, config and secrets; not deployed`);
  return;
}

const secretNames = Object.keys(secrets);
let secretsDir;
const args = ["deploy", "--config", GENERATED, "--message", "scripts/deploy"];
try {
  if (secretNames.length) {
    secretsDir = mkdtempSync(path.join(os.tmpdir(), "edgehooks-secrets-"));
    const file = path.join(secretsDir, "secrets.json");
    writeFileSync(file, JSON.stringify(secrets), { mode: 0o600 });
    args.push("--secrets-file", file);
    say(`deploying with secrets: ${secretNames.join(", ")}`);
  } else {
    say("deploying (no secrets in the environment: the ones already set are kept)");
  }
  const out = must(args, "wrangler deploy");
  const version = out.match(/Current Version ID:\s*([0-9a-f-]{36})/i)?.[1];
  writeFileSync(STATE, `${JSON.stringify({ salt, fingerprint: print, version }, null, 2)}\n`, { mode: 0o600 });
  const url = out.match(/https:\/\/\S+\.workers\.dev/)?.[0];
  console.log(`deployed${version ? ` version ${version}` : ""}${url ? ` at ${url}` : ""}`);
  console.log(`check it: curl ${url ?? "https://<your worker>"}/health`);
} finally {
  if (secretsDir) rmSync(secretsDir, { recursive: true, force: true });
}
}

try {
  await main();
} catch (e) {
  process.stderr.write(`deploy: ${e instanceof DeployError ? e.message : e.stack}\n`);
  process.exitCode = 1;
}
