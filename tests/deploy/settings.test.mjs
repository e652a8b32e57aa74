// The settings list is the core's (handlers/settings.json, generated from
// handlers/src/settings/table.rs): wrangler.toml, read with wrangler's own reader, sets only names
// from it, and every value it sets is that setting's default, so the defaults live in one place.
import assert from "node:assert/strict";
import { test } from "node:test";
import { SECRET_NAMES, SETTINGS } from "../../scripts/check-config.mjs";
import { readWranglerConfig } from "../../scripts/wrangler-config.mjs";

test("wrangler.toml [vars] are listed settings set to the core's defaults", async () => {
  const config = await readWranglerConfig();
  const byName = new Map(SETTINGS.map((s) => [s.name, s]));
  const vars = Object.entries(config.vars ?? {});
  assert.ok(vars.length > 0);
  for (const [name, value] of vars) {
    const setting = byName.get(name);
    assert.ok(setting, `[vars] ${name} is not a setting edgehooks reads`);
    assert.equal(setting.kind, "var", `[vars] ${name} is a secret`);
    assert.equal(value, setting.default, `[vars] ${name} differs from the core's default`);
  }
});

test("the config check's secret names are the core's", () => {
  assert.deepEqual(
    SECRET_NAMES,
    SETTINGS.filter((s) => s.kind !== "var").map((s) => s.name),
  );
  assert.ok(SECRET_NAMES.includes("ADMIN_TOKEN"));
  assert.ok(!SECRET_NAMES.includes("MAX_ATTEMPTS"));
});
