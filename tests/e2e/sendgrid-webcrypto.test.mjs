// SendGrid verification in the worker runs ECDSA P-256 through WebCrypto (src/webcrypto.rs), with
// the DER → r||s conversion in the core; natively the same plan runs through RustCrypto (p256),
// and handlers/tests/sendgrid.rs replays these vectors there. This file replays every SDK vector
// (tests/fixtures/sendgrid/vectors.json) through workerd, accepted and rejected: high-S and low-S
// signatures, rotated keys, raw r||s, s = n, r = 0, non-minimal DER, tampered bodies, a ~1 MB
// body. Each distinct key set gets its own worker configured with exactly the case's keys. The
// worker's clock is real, so the tolerance is widened to accept the vectors' fixed timestamps;
// the cases whose verdict is the clock's (timestamp_out_of_tolerance) are left to the native
// tests, as are the cases with no key configured (the provider is then disabled, a config matter).
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { startWorld } from "../helpers/world.mjs";
import { ROOT } from "../../scripts/wrangler-config.mjs";

const file = JSON.parse(readFileSync(path.join(ROOT, "tests/fixtures/sendgrid/vectors.json"), "utf8"));
const body = (c) => c.body ?? c.body_recipe.prefix + c.body_recipe.repeat.repeat(c.body_recipe.times) + c.body_recipe.suffix;
const clockVerdict = (c) => c.expected.err === "timestamp_out_of_tolerance";
const cases = file.cases.filter((c) => c.public_keys.length > 0 && !clockVerdict(c));
const groups = new Map();
for (const c of cases) groups.set(c.public_keys.join(","), [...(groups.get(c.public_keys.join(",")) ?? []), c]);
// Wide enough for the oldest vector timestamp (2020) from today's clock.
const TOLERANCE = "2000000000";

describe("SendGrid SDK vectors through workerd (WebCrypto ECDSA)", () => {
  test("the replayed set covers acceptance and every kind of malformed signature", () => {
    const names = cases.map((c) => c.name);
    for (const name of ["sdk_vector_single_event_high_s", "high_s_accepted", "low_s_accepted", "rotated_keys_new_one_matches_at_index_1",
      "raw_r_s_ieee_p1363_rejected", "s_equal_to_group_order", "r_zero", "der_non_minimal_integer", "about_1mb_body"]) {
      assert.ok(names.includes(name), `${name} is replayed`);
    }
    assert.ok(cases.length >= 45, `only ${cases.length} cases`);
  });

  for (const [keys, group] of groups) {
    describe(`keys ${keys.slice(-12)} (${group.length} cases)`, () => {
      let world;
      before(async () => {
        world = await startWorld({ vars: { SENDGRID_WEBHOOK_PUBLIC_KEYS: keys, SIGNATURE_TOLERANCE_SECONDS: TOLERANCE } });
      });
      after(() => world?.dispose());

      test("every case gets the SDK's verdict", async () => {
        const failures = [];
        for (const c of group) {
          const res = await world.worker.post("/webhooks/sendgrid", body(c), Object.fromEntries(c.headers));
          if ("ok" in c.expected) {
            if (res.status !== 200) failures.push(`${c.name}: expected 200, got ${res.status} ${res.text}`);
          } else if (res.status < 400 || res.json?.error !== c.expected.err) {
            failures.push(`${c.name}: expected ${c.expected.err}, got ${res.status} ${res.text}`);
          }
        }
        assert.deepEqual(failures, []);
      });
    });
  }
});
