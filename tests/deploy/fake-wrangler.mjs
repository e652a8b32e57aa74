#!/usr/bin/env node
// A stand-in for `wrangler` that simulates one Cloudflare account in a JSON file
// ($FAKE_WRANGLER_STATE), for testing scripts/deploy's real path without an account. It answers
// the commands scripts/deploy uses with output shaped like wrangler 4.86's, records every call
// (arguments only; for --secrets-file, the secret names it saw), and delegates
// `deploy --dry-run` (bundling, no account) to the real wrangler.
import { spawnSync } from "node:child_process";
import crypto from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const file = process.env.FAKE_WRANGLER_STATE;
const state = existsSync(file)
  ? JSON.parse(readFileSync(file, "utf8"))
  : { kv: [], d1: [], queues: [], migrations: 0, versions: [], calls: [] };
const args = process.argv.slice(2);
const save = () => writeFileSync(file, JSON.stringify(state, null, 2));
const flag = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const call = { args: args.filter((a, i) => args[i - 1] !== "--secrets-file") };
state.calls.push(call);
const firstFlag = args.findIndex((a) => a.startsWith("-"));
const cmd = (firstFlag < 0 ? args : args.slice(0, firstFlag)).join(" ");
let code = 0;

if (args[0] === "deploy" && args.includes("--dry-run")) {
  save();
  const real = spawnSync(path.join(ROOT, "node_modules/.bin/wrangler"), args, { stdio: "inherit" });
  process.exit(real.status ?? 1);
} else if (cmd.startsWith("kv namespace list")) {
  console.log(JSON.stringify(state.kv, null, 2));
} else if (cmd.startsWith("kv namespace create")) {
  state.kv.push({ id: crypto.randomBytes(16).toString("hex"), title: args[3] });
  console.log(`Resource location: remote\nCreating namespace with title "${args[3]}"\nSuccess!`);
} else if (cmd === "d1 list" && args.includes("--json")) {
  console.log(JSON.stringify(state.d1));
} else if (cmd.startsWith("d1 create")) {
  state.d1.push({ uuid: crypto.randomUUID(), name: args[2], created_at: new Date().toISOString() });
  console.log("Successfully created DB");
} else if (cmd.startsWith("queues info")) {
  if (!state.queues.includes(args[2])) {
    console.error(`✘ [ERROR] A request to the Cloudflare API failed. Queue "${args[2]}" does not exist. [code: 11000]`);
    code = 1;
  } else console.log(`Queue Name: ${args[2]}`);
} else if (cmd.startsWith("queues create")) {
  if (state.queues.includes(args[2])) code = 1;
  else state.queues.push(args[2]);
} else if (cmd.startsWith("d1 migrations apply")) {
  if (!args.includes("--remote")) code = 1;
  else if (state.migrations > 0) console.log("✅ No migrations to apply!");
  else state.migrations = 1;
} else if (args[0] === "deploy") {
  const secretsFile = flag("--secrets-file");
  if (secretsFile) call.secretNames = Object.keys(JSON.parse(readFileSync(secretsFile, "utf8"))).sort();
  call.config = JSON.parse(readFileSync(flag("--config"), "utf8"));
  const id = crypto.randomUUID();
  state.versions.unshift(id);
  console.log(`Uploaded edgehooks\nDeployed edgehooks triggers\n  https://edgehooks.example.workers.dev\nCurrent Version ID: ${id}`);
} else if (cmd === "deployments status") {
  const [live] = state.versions;
  console.log(JSON.stringify(live ? { id: "dep", versions: [{ version_id: live, percentage: 100 }] } : {}));
} else {
  console.error(`fake wrangler: unsupported ${args.join(" ")}`);
  code = 1;
}
save();
process.exit(code);
