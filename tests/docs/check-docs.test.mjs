// scripts/check-docs.mjs catches what it promises: a small repository is written to a temporary
// folder (README, a docs/ page, the settings table, a route table), first clean, then with one
// broken thing at a time, and the check must name each.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { checkDocs, slug } from "../../scripts/check-docs.mjs";

const ROUTER = `
pub fn route(path: &[&str]) {
    match path {
        ["", "health"] => health(),
        ["", "webhooks", slug] | ["", "webhooks", slug, _] => ingest(slug),
        ["", "admin", "api", rest @ ..] => api(rest),
        _ => not_found(),
    }
}
fn api(path: &[&str]) {
    match path {
        ["events", id, "replay"] if post => replay(id),
        ["destinations", rest @ ..] => destinations(rest),
        _ => not_found(),
    }
}
const ROUTING_TTL_MS: i64 = 5_000;
`;
const DESTINATIONS = `
fn destinations(method: Method, rest: &[&str]) {
    match (method, rest) {
        (Method::Get, []) => list(),
        (Method::Get, [name]) => read(name),
        (Method::Post, [name, "pause"]) => pause(name),
        _ => not_found(),
    }
}
`;
const README = `# Example

See [the guide](docs/guide.md#sending-events), [the same page](#example) and
\`POST /webhooks/stripe/{source}\`. Set \`MAX_BODY_BYTES\` and \`STRIPE_WEBHOOK_SECRETS__EU\`;
\`ROUTING_TTL_MS\` is a constant and \`VALIDATION_ERROR\` an error code.
`;
const GUIDE = `# Guide

## Sending events

\`GET /health\`, \`POST /admin/api/events/{id}/replay\`, \`POST /admin/api/destinations/{name}/pause\`,
\`GET /admin/api/destinations\`. Back to the [README's top](guide.md#guide).

\`\`\`sh
curl -X POST http://127.0.0.1:8787/admin/api/destinations/orders/pause
\`\`\`
`;

function world(files) {
  const root = mkdtempSync(join(tmpdir(), "check-docs-"));
  const all = {
    "README.md": README,
    "docs/guide.md": GUIDE,
    "handlers/settings.json": JSON.stringify([
      { name: "MAX_BODY_BYTES", kind: "var", rule: "number", default: "1048576" },
      { name: "STRIPE_WEBHOOK_SECRETS", kind: "secret", rule: "secret_list", default: "" },
    ]),
    "src/router.rs": ROUTER,
    "src/admin/destinations.rs": DESTINATIONS,
    ...files,
  };
  for (const [path, text] of Object.entries(all)) {
    mkdirSync(join(root, path, ".."), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

function problemsWith(files) {
  const root = world(files);
  try {
    return checkDocs(root);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

test("a clean repository passes", () => {
  assert.deepEqual(problemsWith({}), []);
});

test("a link to a file that is not there is caught", () => {
  const problems = problemsWith({ "README.md": README + "\nThe [design](DESIGN.md).\n" });
  assert.equal(problems.length, 1, problems.join("\n"));
  assert.match(problems[0], /^README\.md:7: link DESIGN\.md: DESIGN\.md does not exist$/);
});

test("an anchor no heading makes is caught, in the same file and in another", () => {
  const problems = problemsWith({
    "README.md": README + "\n[here](#nowhere), [there](docs/guide.md#sending-event).\n",
  });
  assert.equal(problems.length, 2, problems.join("\n"));
  assert.match(problems[0], /#nowhere/);
  assert.match(problems[1], /no heading #sending-event in docs\/guide\.md/);
});

test("a link out of the repository, or from the book out of docs/, is caught", () => {
  const problems = problemsWith({
    "README.md": README + "\n[shared](../shared/DESIGN.md)\n",
    "docs/guide.md": GUIDE + "\n[readme](../README.md)\n",
  });
  assert.equal(problems.length, 2, problems.join("\n"));
  assert.match(problems[0], /README\.md:7: link \.\.\/shared\/DESIGN\.md leaves the repository/);
  assert.match(problems[1], /docs\/guide\.md:\d+: link \.\.\/README\.md leaves docs\//);
});

test("a setting-like name that is not in the settings table is caught", () => {
  const problems = problemsWith({
    "docs/guide.md": GUIDE + "\n`MAX_BODY_SIZE` and `STRIPE_WEBHOOK_SECRET__EU`.\n",
  });
  assert.deepEqual(
    problems.map((p) => p.replace(/:\d+:/, ":")),
    [
      "docs/guide.md: MAX_BODY_SIZE is not a setting (handlers/settings.json)",
      "docs/guide.md: STRIPE_WEBHOOK_SECRET__EU is not a setting (handlers/settings.json)",
    ],
  );
});

test("an endpoint the route tables do not have is caught, placeholders allowed", () => {
  const problems = problemsWith({
    "docs/guide.md":
      GUIDE + "\n`GET /metrics`, `POST /admin/api/destinations/{name}/resume`, `GET /admin/api/nope`.\n",
  });
  assert.deepEqual(
    problems.map((p) => p.replace(/:\d+:/, ":")),
    [
      "docs/guide.md: the worker has no route /metrics",
      "docs/guide.md: the worker has no route /admin/api/destinations/{name}/resume",
      "docs/guide.md: the worker has no route /admin/api/nope",
    ],
  );
});

test("anchors are slugged as mdBook and GitHub slug headings", () => {
  assert.equal(slug("Stripe backfill"), "stripe-backfill");
  assert.equal(slug("`POST /admin/api/replay` (bulk replay)"), "post-adminapireplay-bulk-replay");
  assert.equal(slug("Shopify reconciliation (orders, per shop with a token)"), "shopify-reconciliation-orders-per-shop-with-a-token");
});

test("a route table that spells whole paths is read too, and a format string is not a route", () => {
  const table = `
const ROUTES: &[(&str, &str)] = &[("GET", "/admin/api/storage"), ("POST", "/admin/api/events/{id}/redo")];
fn log(rest: &str) -> String { format!("/admin/api/{}", rest) }
`;
  const problems = problemsWith({
    "src/admin/table.rs": table,
    "docs/guide.md": GUIDE + "\n`GET /admin/api/storage`, `POST /admin/api/events/{id}/redo`, `GET /admin/api/nope`.\n",
  });
  assert.deepEqual(
    problems.map((p) => p.replace(/:\d+:/, ":")),
    ["docs/guide.md: the worker has no route /admin/api/nope"],
  );
});

test("a file the build copies into the static assets is a route; a folder it copies into is not", () => {
  const build = `#!/bin/sh
mkdir -p build/assets/admin/api
cp src/admin/*.js build/assets/admin/
cp openapi/admin.json build/assets/admin/api/openapi.json
`;
  const problems = problemsWith({
    "scripts/build": build,
    "docs/guide.md": GUIDE + "\n`GET /admin/api/openapi.json`, `GET /admin/api/openapi.yaml`.\n",
  });
  assert.deepEqual(
    problems.map((p) => p.replace(/:\d+:/, ":")),
    ["docs/guide.md: the worker has no route /admin/api/openapi.yaml"],
  );
});
