// scripts/send against the worker in workerd (Miniflare on a local port, configured with the
// secrets of .dev.vars.example): every provider's sample verifies and is accepted, --duplicate
// shows dedupe, --tamper shows a rejection, --source posts to a source's path with its own secret.
import { after, before, describe, test } from "node:test";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import { ROOT, startWorker } from "../helpers/worker.mjs";
import { readDevVars } from "../../scripts/wrangler-config.mjs";

const run = promisify(execFile);
const EXAMPLE = path.join(ROOT, ".dev.vars.example");

/** .dev.vars.example's settings, parsed as wrangler dev parses dotenv files. */
const exampleVars = () => readDevVars(EXAMPLE);

describe("scripts/send", () => {
  let worker;
  before(async () => {
    // Downstream calls are irrelevant here: point them at a closed port so steps just retry.
    worker = await startWorker({ port: 0, vars: { ...exampleVars(), RETRY_BASE_SECONDS: "3600" } });
  });
  after(async () => worker?.dispose());

  const send = async (...args) => {
    try {
      const { stdout } = await run(path.join(ROOT, "scripts/send"), [...args, "--url", worker.url], {
        env: { ...process.env, EDGEHOOKS_DEV_VARS: EXAMPLE },
      });
      return { code: 0, stdout };
    } catch (e) {
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  };

  test("one sample of each provider is signed, verified and accepted", async () => {
    for (const [provider, event] of [
      ["stripe", "invoice.payment_failed"],
      ["sendgrid", "bounce"],
      ["hubspot", "contact.propertyChange"],
      ["shopify", "orders/create"],
    ]) {
      const res = await send(provider, event);
      assert.equal(res.code, 0, `${provider} ${event}: ${res.stdout}${res.stderr ?? ""}`);
      const [, body] = res.stdout.match(/200 OK\s+(\{.*\})/) ?? [];
      assert.deepEqual(JSON.parse(body ?? "null"), { status: "accepted", events: 1, duplicates: 0 }, res.stdout);
    }
    const rows = await worker.all("SELECT provider, type FROM events ORDER BY provider");
    assert.deepEqual(rows.map((r) => `${r.provider} ${r.type}`), [
      "hubspot contact.propertyChange", "sendgrid bounce", "shopify orders/create", "stripe invoice.payment_failed",
    ]);
  });

  test("--duplicate is deduplicated, --tamper is rejected, bad arguments explain themselves", async () => {
    const dup = await send("shopify", "customers/create", "--duplicate");
    assert.equal(dup.code, 0, dup.stdout);
    assert.match(dup.stdout, /200 OK .*"status":"accepted"[\s\S]*200 OK\s+\{"status":"duplicate"\}/);
    const tampered = await send("stripe", "checkout.session.completed", "--tamper");
    assert.equal(tampered.code, 1);
    assert.match(tampered.stdout, /401 Unauthorized\s+\{"error":"signature_mismatch"\}/);
    const bad = await send("stripe", "no.such.event");
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /no sample stripe\/no\.such\.event[\s\S]*checkout\.session\.completed/);
  });
});

describe("scripts/send --source", () => {
  const SOURCE_SECRETS = {
    WEBHOOK_SOURCES: "stripe:eu,hubspot:app-2,shopify:store-a",
    STRIPE_WEBHOOK_SECRETS__EU: "whsec_send_source_eu",
    HUBSPOT_CLIENT_SECRETS__APP_2: "hubspot-send-app-2",
    SHOPIFY_WEBHOOK_SECRETS__STORE_A: "shpss_send_store_a",
  };
  let worker;
  let devVars;
  before(async () => {
    worker = await startWorker({ port: 0, vars: { ...exampleVars(), ...SOURCE_SECRETS, RETRY_BASE_SECONDS: "3600" } });
    devVars = path.join(mkdtempSync(path.join(os.tmpdir(), "send-source-")), ".dev.vars");
    const lines = Object.entries(SOURCE_SECRETS).map(([k, v]) => `${k}=${v}`);
    writeFileSync(devVars, `${readFileSync(EXAMPLE, "utf8")}\n${lines.join("\n")}\n`);
  });
  after(async () => worker?.dispose());

  const send = async (...args) => {
    try {
      const { stdout } = await run(path.join(ROOT, "scripts/send"), [...args, "--url", worker.url], {
        env: { ...process.env, EDGEHOOKS_DEV_VARS: devVars },
      });
      return { code: 0, stdout };
    } catch (e) {
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  };

  test("each provider's sample reaches its source, signed with the source's secret", async () => {
    for (const [provider, event, source] of [
      ["stripe", "invoice.payment_failed", "eu"],
      ["hubspot", "contact.propertyChange", "app-2"],
      ["shopify", "orders/create", "store-a"],
    ]) {
      const res = await send(provider, event, "--source", source);
      assert.equal(res.code, 0, `${provider}: ${res.stdout}${res.stderr ?? ""}`);
      assert.match(res.stdout, new RegExp(`POST \\S+/webhooks/${provider}/${source} `));
    }
    const rows = await worker.all("SELECT provider, source FROM events ORDER BY provider");
    assert.deepEqual(rows.map((r) => `${r.provider} ${r.source}`), ["hubspot app-2", "shopify store-a", "stripe eu"]);
    const unknown = await send("stripe", "invoice.payment_failed", "--source", "nowhere");
    assert.equal(unknown.code, 2, "no secret for an undeclared source");
    assert.match(unknown.stderr, /STRIPE_WEBHOOK_SECRETS__NOWHERE is not set/);
    const bad = await send("stripe", "invoice.payment_failed", "--source", "Bad Name");
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--source needs a source name/);
  });
});
