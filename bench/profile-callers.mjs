#!/usr/bin/env node
// Who calls a hot frame: reads a raw V8 CPU profile written by bench/profile.mjs
// (target/profile-<kind>-c<conc>.cpuprofile) and prints, for every frame whose name contains
// the given text, its self time and total time grouped by the chain of callers above it.
//   node bench/profile-callers.mjs target/profile-stripe-c32.cpuprofile 'str>::replace' [depth=6]
import { readFileSync } from "node:fs";

const [file, needle, depthArg] = process.argv.slice(2);
const depth = Number(depthArg ?? 6);
const profile = JSON.parse(readFileSync(file, "utf8"));
const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const selfUs = new Map();
const deltas = profile.timeDeltas;
profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (deltas[i + 1] ?? 0)));
const totalUs = (id) => (selfUs.get(id) ?? 0) + (nodes.get(id).children ?? []).reduce((s, c) => s + totalUs(c), 0);
const short = (name) => name.replace(/::h[0-9a-f]{16}$/, "").slice(0, 110);
const chains = new Map();
for (const n of profile.nodes) {
  if (!n.callFrame.functionName.includes(needle)) continue;
  const chain = [];
  for (let p = parent.get(n.id); p !== undefined && chain.length < depth; p = parent.get(p)) {
    chain.push(short(nodes.get(p).callFrame.functionName || "(anonymous)"));
  }
  const key = chain.join("\n    <- ");
  const entry = chains.get(key) ?? { self: 0, total: 0 };
  entry.self += selfUs.get(n.id) ?? 0;
  entry.total += totalUs(n.id);
  chains.set(key, entry);
}
for (const [chain, { self, total }] of [...chains].sort((a, b) => b[1].total - a[1].total).slice(0, 10)) {
  console.log(`self ${(self / 1000).toFixed(1)} ms, total ${(total / 1000).toFixed(1)} ms\n    <- ${chain}\n`);
}
