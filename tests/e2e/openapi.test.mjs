// The admin API's OpenAPI document (openapi/admin.json): a valid OpenAPI 3.1 document (checked by
// an OpenAPI validator), describing exactly the routes of the core's route table
// (handlers/access-routes.json) under /admin/api with the role each needs, and beside them only
// the worker's other signed-in path, the Prometheus scrape (GET /metrics), served by the running worker at
// /admin/api/openapi.json without a token. The e2e suite holds every admin answer to it
// (helpers/openapi.mjs, run by helpers/worker.mjs); the last tests here show that check refuses
// what the document does not describe.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { Validator } from "@seriousme/openapi-schema-validator";
import { ROOT, TEST_SECRETS, startWorker } from "../helpers/worker.mjs";
import { API_PREFIX, DOCUMENT_PATH, DOCUMENT_URL_PATH, document, isDescribed, operations, problemsOf } from "../helpers/openapi.mjs";

const ROUTES = JSON.parse(readFileSync(path.join(ROOT, "handlers/access-routes.json"), "utf8"));
/** The signed-in operations outside /admin/api (src/router.rs) and the role each needs: the
 * Prometheus scrape (src/metrics_endpoint.rs, `NEEDED`). */
const ROOT_OPERATIONS = new Map([["GET /metrics", "viewer"]]);
const ADMIN = { authorization: `Bearer ${TEST_SECRETS.ADMIN_TOKEN}` };
const key = (method, pattern) => `${method} ${pattern}`;

describe("the document", () => {
  test("is a valid OpenAPI 3.1 document", async () => {
    const result = await new Validator().validate(DOCUMENT_PATH);
    assert.deepEqual(result, { valid: true });
    assert.match(document.openapi, /^3\.1\./);
  });

  test("describes every route of the route table, no other, each with the role the table gives it; outside /admin/api only GET /metrics", () => {
    const table = new Map(ROUTES.map((r) => [key(r.method, `${API_PREFIX}/${r.pattern}`), r.role]));
    for (const [route, role] of ROOT_OPERATIONS) table.set(route, role);
    const described = new Map(operations.map((o) => [key(o.method, o.template), o.operation["x-role"]]));
    assert.deepEqual([...described.keys()].sort(), [...table.keys()].sort());
    for (const [route, role] of table) assert.equal(described.get(route), role, route);
    assert.deepEqual(document.servers.map((s) => s.url), ["/"], "paths are given from the worker's root");
  });

  test("documents sign-in refusals everywhere and forbidden_role exactly where a role above viewer is needed", () => {
    for (const { method, template, operation } of operations) {
      const statuses = Object.keys(operation.responses);
      assert.ok(statuses.includes("401") && statuses.includes("503"), `${method} ${template}`);
      assert.equal(statuses.includes("403"), operation["x-role"] !== "viewer", `${method} ${template}`);
      assert.ok(operation.operationId, `${method} ${template}`);
    }
  });

  test("names the bearer token and the Cloudflare Access header as its security schemes, and holds no configured secret", () => {
    const { bearerToken, accessJwt } = document.components.securitySchemes;
    assert.equal(bearerToken.scheme, "bearer");
    assert.deepEqual([accessJwt.in, accessJwt.name], ["header", "Cf-Access-Jwt-Assertion"]);
    const text = JSON.stringify(document);
    for (const secret of Object.values(TEST_SECRETS).flatMap((v) => v.split(","))) assert.ok(!text.includes(secret));
  });
});

describe("served by the worker", () => {
  let worker;
  before(async () => {
    worker = await startWorker();
  });
  after(async () => worker?.dispose());

  test("GET /admin/api/openapi.json answers the document without a token", async () => {
    const res = await worker.get(DOCUMENT_URL_PATH);
    assert.equal(res.status, 200, res.text);
    assert.match(res.headers.get("content-type"), /^application\/json/);
    assert.deepEqual(res.json, document);
  });

  test("other methods on it are refused, and the API behind it still needs a token", async () => {
    const res = await worker.mf.dispatchFetch(`http://localhost${DOCUMENT_URL_PATH}`, { method: "POST", headers: ADMIN });
    assert.equal(res.status, 405);
    assert.equal((await worker.get("/admin/api/whoami")).status, 401);
    assert.equal((await worker.get("/admin/api/whoami", ADMIN)).json.role, "admin");
  });
});

describe("the check every e2e admin call passes through", () => {
  const at = (method, pathname, status, json) => problemsOf({ method, pathname, status, json, text: JSON.stringify(json) });
  const whoami = { who: "admin_token", via: "admin_token", role: "admin" };

  test("passes a documented answer, a HEAD as its GET, and refusals of what no operation describes", () => {
    assert.deepEqual(at("GET", "/admin/api/whoami", 200, whoami), []);
    assert.deepEqual(at("HEAD", "/admin/api/whoami", 200, undefined), []);
    assert.deepEqual(at("DELETE", "/admin/api/events/evt_1", 405, { error: "method_not_allowed" }), []);
    assert.deepEqual(at("GET", "/admin/api/steps", 404, { error: "not_found" }), []);
  });

  test("checks GET /metrics by its content type, and leaves the worker's other paths alone", () => {
    const prometheus = "text/plain; version=0.0.4; charset=utf-8";
    assert.deepEqual(problemsOf({ method: "GET", pathname: "/metrics", status: 200, text: "# EOF", contentType: prometheus }), []);
    assert.match(problemsOf({ method: "GET", pathname: "/metrics", status: 200, json: {}, text: "{}", contentType: "application/json" }).join(), /content type/);
    assert.deepEqual(at("POST", "/metrics", 405, { error: "method_not_allowed" }), []);
    assert.ok(isDescribed("/metrics") && isDescribed("/admin/api/steps"));
    assert.ok(!isDescribed("/health") && !isDescribed("/webhooks/stripe") && !isDescribed("/admin") && !isDescribed(DOCUMENT_URL_PATH));
  });

  test("fails an undocumented route, status or body shape", () => {
    assert.match(at("GET", "/admin/api/steps", 200, {}).join(), /no operation/);
    assert.match(at("GET", "/admin/api/whoami", 404, { error: "not_found" }).join(), /not documented/);
    assert.match(at("GET", "/admin/api/whoami", 200, { ...whoami, token: "x" }).join(), /additional properties/);
    assert.match(at("GET", "/admin/api/whoami", 200, { who: "a", via: "admin_token" }).join(), /required property 'role'/);
    assert.match(at("POST", "/admin/api/tokens", 400, { code: "invalid_field" }).join(), /required property 'error'/);
  });
});
