// scripts/deploy: the dry run passes on the committed config and reports the bundle size; a
// broken config (pointed to with EDGEHOOKS_WRANGLER_CONFIG) or a broken secret in the
// environment fails it with a message naming the problem (never a secret's value); and the real
// path, run against a fake wrangler that simulates an account, creates what is missing, passes
// the secrets in a file, and changes nothing on a second run.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import crypto from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { ROOT } from "../helpers/worker.mjs";
import { SECRET_NAMES } from "../../scripts/check-config.mjs";

const COMMITTED = path.join(ROOT, "wrangler.toml");
const committedText = readFileSync(COMMITTED, "utf8");
// Every secret the worker reads, plus the account credentials: none may leak in from the caller.
const SECRET_ENV = [...SECRET_NAMES, "CLOUDFLARE_API_TOKEN", "CLOUDFLARE_ACCOUNT_ID"];

let tmp;
before(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), "edgehooks-deploy-test-"));
});
after(() => rmSync(tmp, { recursive: true, force: true }));

/** Run a command with a clean secret environment plus `env`. */
function run(cmd, args, env = {}) {
  const base = { ...process.env };
  for (const name of SECRET_ENV) delete base[name];
  const r = spawnSync(cmd, args, { cwd: ROOT, encoding: "utf8", env: { ...base, EDGEHOOKS_DEPLOY_DIR: path.join(tmp, "deploy"), ...env }, timeout: 600_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, all: `${r.stdout}\n${r.stderr}` };
}

/** A copy of the committed config with `edit` applied and paths made absolute. */
function brokenConfig(name, edit) {
  const text = edit(committedText)
    .replace('main = "build/index.js"', `main = "${path.join(ROOT, "build/index.js")}"`)
    .replace('migrations_dir = "migrations"', `migrations_dir = "${path.join(ROOT, "migrations")}"`);
  const file = path.join(tmp, `${name}.toml`);
  writeFileSync(file, text);
  return file;
}

const dryRun = (env) => run("node", ["scripts/deploy.mjs", "--dry-run"], env);

describe("scripts/deploy --dry-run", () => {
  test("passes on the committed config, reports the bundle size, and leaves wrangler.toml alone", () => {
    const r = run(path.join(ROOT, "scripts/deploy"), ["--dry-run"]);
    assert.equal(r.status, 0, r.all);
    assert.match(r.stdout, /^config: ok/m);
    assert.match(r.stdout, /^bundle: [\d.]+ KiB raw, [\d.]+ KiB gzip/m);
    assert.match(r.stdout, /dry run: no account used/);
    assert.ok(existsSync(path.join(ROOT, "dist/index.js")), "dist/ holds the bundle");
    const generated = JSON.parse(readFileSync(path.join(tmp, "deploy/wrangler.json"), "utf8"));
    assert.equal(generated.name, "edgehooks");
    assert.equal(readFileSync(COMMITTED, "utf8"), committedText, "the committed config is never edited");
  });

  const broken = [
    ["a missing dead-letter queue binding", (t) => t.replace(/\[\[queues\.producers\]\]\nbinding = "STEPS_DLQ"\nqueue = "steps-dlq"\n/, ""), /STEPS_DLQ/],
    ["a non-numeric var", (t) => t.replace(/^MAX_BODY_BYTES = .*$/m, 'MAX_BODY_BYTES = "1MB"'), /\[vars\] MAX_BODY_BYTES must be a non-negative whole number/],
    ["a MAX_BODY_BYTES above what a D1 row holds", (t) => t.replace(/^MAX_BODY_BYTES = .*$/m, 'MAX_BODY_BYTES = "2000000"'), /MAX_BODY_BYTES: must be at most 1900000 .*\(affects stripe: the worker would answer 503/],
    ["a log level that is not one", (t) => t.replace(/^LOG_LEVEL = .*$/m, 'LOG_LEVEL = "verbose"'), /\[vars\] LOG_LEVEL must be info, warn or error/],
    ["a retention under one day", (t) => t.replace(/^RETENTION_DAYS = .*$/m, 'RETENTION_DAYS = "0"'), /\[vars\] RETENTION_DAYS must be at least 1/],
    ["a ROUTES_JSON that is not JSON", (t) => t.replace(/^ROUTES_JSON = .*$/m, `ROUTES_JSON = '{"stripe": '`), /ROUTES_JSON is not valid JSON/],
    ["a ROUTES_JSON step the worker does not know", (t) => t.replace(/^ROUTES_JSON = .*$/m, `ROUTES_JSON = '{"stripe": {"invoice.paid": ["fax.send"]}}'`), /ROUTES_JSON: `stripe` `invoice.paid`: unknown step `fax.send`.*affects stripe/],
    ["a secret written into [vars]", (t) => t.replace(/^\[vars\]$/m, '[vars]\nSTRIPE_API_KEY = "sk_live_oops"'), /\[vars\] STRIPE_API_KEY holds a secret/],
    ["a WEBHOOK_SOURCES entry that is not provider:source", (t) => t.replace(/^WEBHOOK_SOURCES = .*$/m, 'WEBHOOK_SOURCES = "stripe:eu,paypal:x"'), /WEBHOOK_SOURCES is invalid \(affects sources: the worker would answer 503/],
    ["a source secret written into [vars]", (t) => t.replace(/^\[vars\]$/m, '[vars]\nSTRIPE_WEBHOOK_SECRETS__EU = "sk_live_oops"'), /\[vars\] STRIPE_WEBHOOK_SECRETS__EU holds a secret/],
    ["TOML that does not parse", (t) => t.replace('name = "edgehooks"', 'name = "edgehooks'), /Invalid TOML|broken-toml\.toml/],
  ];
  for (const [what, edit, message] of broken) {
    test(`fails clearly on ${what}`, () => {
      const file = brokenConfig(what.replace(/\W+/g, "-").replace(/^-|-$/g, "").replace("TOML-that-does-not-parse", "broken-toml"), edit);
      const r = dryRun({ EDGEHOOKS_WRANGLER_CONFIG: file });
      assert.equal(r.status, 1, r.all);
      assert.match(r.stderr, /deploy: the configuration is broken|deploy: .*toml/);
      assert.match(r.stderr, message);
      assert.doesNotMatch(r.all, /sk_live_oops/, "the value of a misplaced secret is not echoed");
      assert.doesNotMatch(r.stdout, /^bundle:/m, "nothing is bundled from a broken config");
    });
  }

  test("fails on an ADMIN_TOKEN entry shorter than 24 characters without printing it", () => {
    const r = dryRun({ ADMIN_TOKEN: `${"a".repeat(40)},short-admin-token-value` });
    assert.equal(r.status, 1, r.all);
    assert.match(r.stderr, /ADMIN_TOKEN: entry 1 is shorter than 24 characters \(affects admin: the admin API would answer 503 misconfigured\)/);
    assert.doesNotMatch(r.all, /short-admin-token-value|a{40}/);
  });

  test("fails on a malformed secret in the environment without printing it", () => {
    const r = dryRun({ STRIPE_WEBHOOK_SECRETS: "whsec_first_value_123,,whsec_second_value_456" });
    assert.equal(r.status, 1, r.all);
    assert.match(r.stderr, /STRIPE_WEBHOOK_SECRETS: entry 1 of the comma-separated list is empty \(affects stripe/);
    assert.doesNotMatch(r.all, /whsec_first_value_123|whsec_second_value_456/);
  });
});

describe("scripts/deploy --dry-run with sources", () => {
  const withSources = () => brokenConfig("sources", (t) => t.replace(/^WEBHOOK_SOURCES = .*$/m, 'WEBHOOK_SOURCES = "stripe:eu,shopify:store-a"'));

  test("fails on a malformed source secret in the environment, naming its setting without its value", () => {
    const r = dryRun({ EDGEHOOKS_WRANGLER_CONFIG: withSources(), STRIPE_WEBHOOK_SECRETS__EU: "whsec_eu_first_123,,whsec_eu_second_456" });
    assert.equal(r.status, 1, r.all);
    assert.match(r.stderr, /STRIPE_WEBHOOK_SECRETS__EU \(source `eu`\): entry 1 of the comma-separated list is empty \(affects stripe:eu/);
    assert.doesNotMatch(r.all, /whsec_eu_first_123|whsec_eu_second_456/);
  });

  test("the config check reports each source's state by name and the deploy names its secrets", () => {
    const file = withSources();
    const check = run("node", ["scripts/check-config.mjs", file], { SHOPIFY_WEBHOOK_SECRETS__STORE_A: "shpss_store_a_value" });
    assert.equal(check.status, 0, check.all);
    assert.match(check.stdout, /^sources: \{"shopify:store-a":"enabled","stripe:eu":"disabled"\}$/m);
    assert.doesNotMatch(check.all, /shpss_store_a_value/);
  });
});

describe("scripts/deploy (real path, against a fake wrangler)", () => {
  test("refuses without CLOUDFLARE_API_TOKEN", () => {
    const r = run("node", ["scripts/deploy.mjs"]);
    assert.equal(r.status, 1, r.all);
    assert.match(r.stderr, /CLOUDFLARE_API_TOKEN is not set/);
  });

  test("creates what is missing, deploys with the secrets file, and a second run changes nothing", () => {
    const stateFile = path.join(tmp, "account.json");
    const secrets = {
      STRIPE_WEBHOOK_SECRETS: `whsec_${crypto.randomBytes(8).toString("hex")}`,
      ADMIN_TOKEN: `admin_${crypto.randomBytes(16).toString("hex")}`,
    };
    const env = {
      EDGEHOOKS_WRANGLER_BIN: path.join(ROOT, "tests/deploy/fake-wrangler.mjs"),
      FAKE_WRANGLER_STATE: stateFile,
      CLOUDFLARE_API_TOKEN: "fake-token-not-used",
      CLOUDFLARE_ACCOUNT_ID: "0123456789abcdef0123456789abcdef",
      ...secrets,
    };
    const first = run("node", ["scripts/deploy.mjs"], env);
    assert.equal(first.status, 0, first.all);
    assert.match(first.stdout, /^deployed version [0-9a-f-]{36}/m);
    let account = JSON.parse(readFileSync(stateFile, "utf8"));
    assert.deepEqual(account.kv.map((k) => k.title), ["edgehooks-idempotency"]);
    assert.deepEqual(account.d1.map((d) => d.name), ["edgehooks"]);
    assert.deepEqual(account.queues.sort(), ["steps", "steps-dlq"]);
    assert.equal(account.migrations, 1);
    const deploys = account.calls.filter((c) => c.args[0] === "deploy" && !c.args.includes("--dry-run"));
    assert.equal(deploys.length, 1);
    assert.deepEqual(deploys[0].secretNames, ["ADMIN_TOKEN", "STRIPE_WEBHOOK_SECRETS"]);
    assert.equal(deploys[0].config.kv_namespaces[0].id, account.kv[0].id, "the generated config carries the real KV id");
    assert.equal(deploys[0].config.d1_databases[0].database_id, account.d1[0].uuid, "and the real D1 id");
    for (const value of Object.values(secrets)) {
      assert.ok(!first.all.includes(value), "a secret value was printed");
      assert.ok(!JSON.stringify(account.calls).includes(value), "a secret value was passed as an argument");
    }
    assert.equal(readFileSync(COMMITTED, "utf8"), committedText);

    const second = run("node", ["scripts/deploy.mjs"], env);
    assert.equal(second.status, 0, second.all);
    assert.match(second.stdout, /nothing changed/);
    account = JSON.parse(readFileSync(stateFile, "utf8"));
    assert.equal(account.kv.length, 1);
    assert.equal(account.d1.length, 1);
    assert.equal(account.versions.length, 1, "no second deploy");
    const creates = account.calls.filter((c) => c.args.includes("create"));
    assert.equal(creates.length, 4, "KV, D1 and two queues created once each");

    // A rotated secret is a change: it deploys again.
    const third = run("node", ["scripts/deploy.mjs"], { ...env, ADMIN_TOKEN: `${secrets.ADMIN_TOKEN},admin_next_${crypto.randomBytes(16).toString("hex")}` });
    assert.equal(third.status, 0, third.all);
    assert.match(third.stdout, /^deployed version/m);
    assert.equal(JSON.parse(readFileSync(stateFile, "utf8")).versions.length, 2);
  });
});
