// scripts/send: sign a realistic sample event (tests/fixtures/events/<provider>/<event>.json)
// with the local secrets (.dev.vars, else .dev.vars.example) and POST it to a running worker,
// printing the response, like `stripe trigger`. Each run sends a fresh event (new id/time)
// unless --duplicate, which sends the same signed delivery twice to show dedupe; --tamper
// changes the body after signing to show a rejection. --source NAME posts to
// /webhooks/PROVIDER/NAME, signed with that source's own secret (<KEY SETTING>__<NAME>, e.g.
// STRIPE_WEBHOOK_SECRETS__EU; SendGrid sources use the local key pair).
//
//   scripts/send stripe invoice.paid --source eu
//   scripts/send stripe checkout.session.completed
//   scripts/send shopify orders/create --url http://127.0.0.1:8787 --duplicate
//   scripts/send sendgrid bounce --tamper
import crypto from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { hubspotHeaders, localSendgridKey, sendgridHeaders, shopifyHeaders, stripeHeaders } from "./sign.mjs";
import { readDevVars } from "./wrangler-config.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const FIXTURES = path.join(ROOT, "tests/fixtures/events");
const PROVIDERS = ["stripe", "sendgrid", "hubspot", "shopify"];

function usage(message) {
  if (message) console.error(`send: ${message}`);
  console.error("usage: scripts/send PROVIDER EVENT [--url URL] [--source NAME] [--duplicate] [--tamper]\n\nevents:");
  for (const p of PROVIDERS) console.error(`  ${p}: ${samples(p).join(", ")}`);
  process.exit(2);
}

function samples(provider, dir = path.join(FIXTURES, provider), prefix = "") {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return samples(provider, full, `${prefix}${name}/`);
    return name.endsWith(".json") ? [`${prefix}${name.slice(0, -5)}`] : [];
  }).sort();
}

/** The settings of $EDGEHOOKS_DEV_VARS, else .dev.vars, else .dev.vars.example. */
function devVars() {
  try {
    return readDevVars(process.env.EDGEHOOKS_DEV_VARS);
  } catch {
    usage("no .dev.vars or .dev.vars.example");
  }
}

function firstSecret(vars, name) {
  const secret = (vars[name] ?? "").split(",")[0].trim();
  if (!secret) usage(`${name} is not set in .dev.vars`);
  return secret;
}

/** The setting holding a provider's secrets (for a source: `<SETTING>__<SOURCE>`, as the worker derives it). */
const KEY_SETTINGS = { stripe: "STRIPE_WEBHOOK_SECRETS", hubspot: "HUBSPOT_CLIENT_SECRETS", shopify: "SHOPIFY_WEBHOOK_SECRETS" };
const sourceKeySetting = (provider, source) =>
  source ? `${KEY_SETTINGS[provider]}__${source.toUpperCase().replaceAll("-", "_")}` : KEY_SETTINGS[provider];
const SOURCE_NAME = /^[a-z0-9_-]{1,40}$/;

const suffix = () => crypto.randomBytes(4).toString("hex");

/** { body, headers } for one signed delivery of `sample` (signed by scripts/sign.mjs). */
function delivery(provider, event, sample, vars, url, source) {
  const now = Math.floor(Date.now() / 1000);
  switch (provider) {
    case "stripe": {
      const body = JSON.stringify({ ...sample, id: `${sample.id}_${suffix()}`, created: now });
      return { body, headers: stripeHeaders(body, firstSecret(vars, sourceKeySetting("stripe", source)), now) };
    }
    case "sendgrid": {
      const body = JSON.stringify([{ ...sample, sg_event_id: `${sample.sg_event_id}-${suffix()}`, timestamp: now }]);
      return { body, headers: sendgridHeaders(body, localSendgridKey(), now) };
    }
    case "hubspot": {
      const ms = Date.now();
      const body = JSON.stringify([{ ...sample, eventId: crypto.randomInt(1, 2 ** 47), occurredAt: ms }]);
      return { body, headers: hubspotHeaders(body, firstSecret(vars, sourceKeySetting("hubspot", source)), url, ms) };
    }
    case "shopify": {
      // Shopify dedupes on the signed body too: a fresh updated_at makes each send a new event
      // (a privacy sample, which has none, is the same request each time: a duplicate).
      const body = JSON.stringify("updated_at" in sample ? { ...sample, updated_at: new Date().toISOString() } : sample);
      const headers = shopifyHeaders(body, firstSecret(vars, sourceKeySetting("shopify", source)), {
        topic: event,
        shop: sample.shop_domain ?? sample.myshopify_domain ?? "keyworks-demo.myshopify.com",
        webhookId: crypto.randomUUID(),
        eventId: crypto.randomUUID(),
      });
      return { body, headers };
    }
  }
}

async function post(url, { body, headers }) {
  const res = await fetch(url, { method: "POST", body, headers: { "content-type": "application/json", ...headers } });
  console.log(`${res.status} ${res.statusText}  ${await res.text()}`);
  return res.status;
}

const args = process.argv.slice(2);
const flags = new Set(args.filter((a) => a === "--duplicate" || a === "--tamper"));
const urlIndex = args.indexOf("--url");
const base = urlIndex >= 0 ? args[urlIndex + 1] : `http://127.0.0.1:${process.env.PORT ?? 8787}`;
if (urlIndex >= 0 && !base) usage("--url needs a value");
const sourceIndex = args.indexOf("--source");
const source = sourceIndex >= 0 ? args[sourceIndex + 1] : undefined;
if (sourceIndex >= 0 && !SOURCE_NAME.test(source ?? "")) usage("--source needs a source name (a-z, 0-9, '-', '_')");
const valueIndexes = [urlIndex, sourceIndex].filter((i) => i >= 0).map((i) => i + 1);
const positional = args.filter((a, i) => !a.startsWith("--") && !valueIndexes.includes(i));
const unknown = args.filter((a) => a.startsWith("--") && a !== "--url" && a !== "--source" && !flags.has(a));
if (unknown.length) usage(`unknown option ${unknown[0]}`);
const [provider, event] = positional;
if (!PROVIDERS.includes(provider)) usage(provider ? `unknown provider ${provider}` : "");
if (!event || !samples(provider).includes(event)) usage(event ? `no sample ${provider}/${event}` : "which event?");

const webhookPath = source ? `/webhooks/${provider}/${source}` : `/webhooks/${provider}`;
const url = /\/webhooks\//.test(base) ? base : `${base.replace(/\/$/, "")}${webhookPath}`;
const sample = JSON.parse(readFileSync(path.join(FIXTURES, provider, `${event}.json`), "utf8"));
const signed = delivery(provider, event, sample, devVars(), url, source);
if (flags.has("--tamper")) {
  // Same signature, one byte of the body changed: the worker must refuse it.
  signed.body = signed.body.replace(/.$/s, signed.body.endsWith("}") ? " }" : " ]");
  console.log("(tampered: body changed after signing)");
}
console.log(`POST ${url}  ${provider} ${event}`);
let status = await post(url, signed);
if (flags.has("--duplicate")) {
  console.log("(sending the identical delivery again)");
  status = await post(url, signed);
}
process.exit(status >= 200 && status < 300 ? 0 : 1);
