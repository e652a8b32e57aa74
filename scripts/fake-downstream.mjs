#!/usr/bin/env node
// Serve the downstream fake (tests/helpers/fake-downstream.mjs) on a fixed port for local
// development, logging each call, so `scripts/dev` runs the whole flow with no real SaaS account.
// Usage: node scripts/fake-downstream.mjs [port]   (default 8788)
import { startFakeDownstream } from "../tests/helpers/fake-downstream.mjs";

const port = Number(process.argv[2] ?? 8788);
const fake = await startFakeDownstream({ port });
console.log(`fake downstream APIs listening on ${fake.url}`);
fake.onCall((call) => console.log(`fake downstream: ${call.method} ${call.path}${call.query} (${call.body.length} bytes)`));
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => fake.close().then(() => process.exit(0)));
