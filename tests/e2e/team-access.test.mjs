// Team access end to end through workerd (issue 27): every admin API route called by every role
// (driven by the core's route table, handlers/access-routes.json: allowed, or 403 forbidden_role
// naming the role needed), named API tokens (minted once, used, listed without the secret,
// revoked on the next request), ADMIN_TOKEN rotated without a failed request, Cloudflare Access
// JWTs signed by a local test issuer whose JWKS the fake downstream serves (valid, expired, wrong
// audience, wrong issuer, unknown key, bad signature, key rotation, role mapping by email, group
// and domain), failed sign-ins counted with their reasons, and the audit trail: one row per
// mutating call (refused ones too) and none per read, filtered and paged, its body a digest
// only, expired by retention.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { startFakeDownstream } from "../helpers/fake-downstream.mjs";
import { ROOT, TEST_SECRETS, downstreamVars, startWorker } from "../helpers/worker.mjs";
import { worldOf } from "../helpers/world.mjs";

const ROUTES = JSON.parse(readFileSync(path.join(ROOT, "handlers/access-routes.json"), "utf8"));
const ROLES = ["viewer", "operator", "admin"];
const rank = (role) => ROLES.indexOf(role);
const ADMIN = { authorization: `Bearer ${TEST_SECRETS.ADMIN_TOKEN}` };
const TEAM = "test-team.cloudflareaccess.com";
const ISSUER = `https://${TEAM}`;
const AUD = "aud-tag-0123456789";
const CERTS = "/cdn-cgi/access/certs";
const ROLE_MAP = {
  "alice@example.com": "admin",
  "group:ops": "operator",
  "*@example.com": "viewer",
};

/** A local Access issuer: RSA keys by kid, the JWKS the fake serves, and JWTs it signs. */
function testIssuer() {
  const keys = new Map();
  const addKey = (kid) => {
    const pair = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 });
    keys.set(kid, pair);
    return pair;
  };
  const published = new Set();
  const b64 = (value) => Buffer.from(typeof value === "string" ? value : JSON.stringify(value)).toString("base64url");
  return {
    addKey,
    publish: (kid) => published.add(kid),
    jwks: () => ({
      keys: [...published].map((kid) => ({ ...keys.get(kid).publicKey.export({ format: "jwk" }), kid, alg: "RS256", use: "sig" })),
      public_cert: { kid: [...published][0], cert: "-----BEGIN CERTIFICATE-----…" },
    }),
    /** A JWT with `claims` over the defaults, signed by `signWith` (default: the kid's own key). */
    sign(claims = {}, { kid = "k1", signWith = kid, alg = "RS256" } = {}) {
      const now = Math.floor(Date.now() / 1000);
      const header = { alg, kid, typ: "JWT" };
      const payload = { aud: [AUD], iss: ISSUER, email: "dan@example.com", sub: "user-1", iat: now, nbf: now, exp: now + 600, type: "app", ...claims };
      const input = `${b64(header)}.${b64(payload)}`;
      const signature = crypto.sign("RSA-SHA256", Buffer.from(input), keys.get(signWith).privateKey).toString("base64url");
      return `${input}.${signature}`;
    },
  };
}

const issuer = testIssuer();
issuer.addKey("k1");
issuer.addKey("k2");
issuer.addKey("stranger");
issuer.publish("k1");

/** The worker's settings with Access signing in through the fake at `fakeUrl`. */
const accessVars = (fakeUrl) => ({
  ...downstreamVars(fakeUrl),
  ACCESS_TEAM_DOMAIN: TEAM,
  ACCESS_AUD: AUD,
  ACCESS_ROLES_JSON: JSON.stringify(ROLE_MAP),
  ACCESS_CERTS_URL: `${fakeUrl}${CERTS}`,
});

let w;
before(async () => {
  const fake = await startFakeDownstream();
  fake.always(CERTS, () => ({ status: 200, body: issuer.jwks() }));
  const vars = accessVars(fake.url);
  try {
    w = worldOf(await startWorker({ vars }), fake);
  } catch (error) {
    await fake.close();
    throw error;
  }
});
after(async () => w?.dispose());

/** Call the admin API; `{ status, json, text }`. */
async function call(method, route, { headers = ADMIN, body } = {}) {
  const init = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.body = typeof body === "string" ? body : JSON.stringify(body);
    init.headers["content-type"] = "application/json";
  }
  const res = await w.worker.mf.dispatchFetch(`http://localhost/admin/api/${route}`, init);
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text };
}

const bearer = (token) => ({ authorization: `Bearer ${token}` });
const access = (jwt) => ({ "cf-access-jwt-assertion": jwt });
const auditCount = async () => (await w.worker.all("SELECT COUNT(*) AS n FROM admin_audit"))[0].n;

async function mintToken(name, role) {
  const res = await call("POST", "tokens", { body: { name, role } });
  assert.equal(res.status, 201, res.text);
  return res.json.token;
}

describe("roles: every route with every role", () => {
  test("a role below the route's is 403 forbidden_role naming the role needed; one audit row per mutating call, none per read", async () => {
    const tokens = {};
    for (const role of ROLES) tokens[role] = await mintToken(`table-${role}`, role);
    let mutating = 0;
    for (const route of ROUTES) {
      const routePath = route.pattern.replace(/\{[^}]+\}/g, "nothing-here");
      for (const role of ROLES) {
        const before = await auditCount();
        const body = route.method === "GET" ? undefined : {};
        const res = await call(route.method, routePath, { headers: bearer(tokens[role]), body });
        const what = `${role} ${route.method} ${route.pattern}`;
        if (rank(role) >= rank(route.role)) {
          assert.ok(![401, 403].includes(res.status), `${what} allowed: ${res.status} ${res.text}`);
        } else {
          assert.equal(res.status, 403, `${what}: ${res.text}`);
          assert.deepEqual(res.json, { error: "forbidden_role", needed: route.role, role });
        }
        const written = (await auditCount()) - before;
        assert.equal(written, route.method === "GET" ? 0 : 1, `${what}: audit rows written`);
        if (route.method !== "GET") mutating += 1;
      }
    }
    const refused = await w.worker.all("SELECT who, role, action, target, status FROM admin_audit WHERE status = 403 AND who = 'token:table-viewer' AND action = 'POST redrive'");
    assert.deepEqual(refused, [{ who: "token:table-viewer", role: "viewer", action: "POST redrive", target: null, status: 403 }]);
    assert.ok(mutating >= 3 * 20, `every mutating route was called (${mutating})`);
  });

  test("the role table lists every route the shell's table answers, and no other", () => {
    // The arms of `route` in src/admin/mod.rs: `(Get, ["events", id])`, `(Put | Patch, [...])`.
    const source = readFileSync(path.join(ROOT, "src/admin/mod.rs"), "utf8");
    const shell = new Set();
    for (const [, methods, segments] of source.matchAll(/\(((?:Get|Post|Put|Patch|Delete)(?: \| (?:Get|Post|Put|Patch|Delete))*), \[([^\]]*)\]\) =>/g)) {
      const pattern = segments.split(",").map((s) => s.trim()).map((s) => (s.startsWith('"') ? s.slice(1, -1) : "{}")).join("/");
      for (const method of methods.split(" | ")) shell.add(`${method.toUpperCase()} ${pattern}`);
    }
    const table = new Set(ROUTES.map((r) => `${r.method} ${r.pattern.replace(/\{[^}]+\}/g, "{}")}`));
    assert.ok(shell.size >= 40, `read the shell's arms (${shell.size})`);
    assert.deepEqual([...shell].filter((r) => !table.has(r)), [], "shell routes without a role");
    assert.deepEqual([...table].filter((r) => !shell.has(r)), [], "roles for routes the shell lacks");
  });

  test("a path the table lacks needs admin; then the shell's 404 and 405 answer", async () => {
    const viewer = await mintToken("lacking-viewer", "viewer");
    assert.equal((await call("GET", "no-such-thing", { headers: bearer(viewer) })).status, 403);
    assert.equal((await call("GET", "no-such-thing")).status, 404);
    assert.equal((await call("POST", "stats")).status, 405);
  });
});

describe("named API tokens", () => {
  test("minted once, used with its role, listed without the secret, revoked on the next request", async () => {
    const created = await call("POST", "tokens", { body: { name: "ci-deploy", role: "operator" } });
    assert.equal(created.status, 201, created.text);
    const { token } = created.json;
    assert.match(token, /^ehk_[0-9a-f]{12}_[A-Za-z0-9_-]{32}$/);
    assert.ok(token.length >= 32);
    assert.equal(created.json.role, "operator");

    const me = await call("GET", "whoami", { headers: bearer(token) });
    assert.deepEqual(me.json, { who: "token:ci-deploy", via: "api_token", role: "operator" });
    assert.equal((await call("POST", "redrive", { headers: bearer(token), body: {} })).status, 200);
    assert.equal((await call("POST", "destinations", { headers: bearer(token), body: {} })).status, 403);

    const again = await call("POST", "tokens", { body: { name: "ci-deploy", role: "viewer" } });
    assert.equal(again.status, 409);
    assert.equal(again.json.error, "name_taken");
    for (const [body, field] of [[{ name: "Bad Name", role: "viewer" }, "name"], [{ name: "ok", role: "root" }, "role"]]) {
      const bad = await call("POST", "tokens", { body });
      assert.equal(bad.status, 400);
      assert.equal(bad.json.field, field);
    }

    const listed = await call("GET", "tokens");
    assert.equal(listed.status, 200);
    const row = listed.json.tokens.find((t) => t.name === "ci-deploy");
    assert.equal(row.role, "operator");
    assert.equal(row.created_by, "ADMIN_TOKEN[0]");
    assert.equal(typeof row.last_used_at, "number", "its use is recorded");
    const [stored] = await w.worker.all("SELECT token_hash FROM api_tokens WHERE name = 'ci-deploy'");
    assert.equal(stored.token_hash, crypto.createHash("sha256").update(token).digest("hex"), "stored hashed");
    assert.ok(!listed.text.includes(token) && !listed.text.includes(token.slice(-32)), "never the token");
    assert.ok(!listed.text.includes(stored.token_hash), "nor its hash");

    const revoked = await call("DELETE", "tokens/ci-deploy");
    assert.deepEqual(revoked.json, { name: "ci-deploy", deleted: true });
    const after = await call("GET", "whoami", { headers: bearer(token) });
    assert.equal(after.status, 401);
    assert.deepEqual(after.json, { error: "unauthorized" });
    assert.equal((await call("DELETE", "tokens/ci-deploy")).status, 404);
    assert.ok(!(await call("GET", "tokens")).json.tokens.some((t) => t.name === "ci-deploy"));
  });

  test("a token of the right shape but wrong secret, or made up, is refused and counted", async () => {
    const token = await mintToken("shape", "viewer");
    const forged = token.slice(0, -4) + (token.endsWith("AAAA") ? "BBBB" : "AAAA");
    const madeUp = "ehk_000000000000_" + "A".repeat(32);
    for (const t of [forged, madeUp]) {
      const res = await call("GET", "stats", { headers: bearer(t) });
      assert.equal(res.status, 401);
    }
    await w.sweep();
    const [counted] = await w.worker.all("SELECT SUM(count) AS n FROM rejections WHERE provider = 'admin' AND reason = 'api_token_mismatch'");
    assert.ok(counted.n >= 2, `counted ${counted.n}`);
  });

  test("a viewer or operator token cannot manage tokens", async () => {
    for (const role of ["viewer", "operator"]) {
      const token = await mintToken(`no-manage-${role}`, role);
      for (const [method, route, body] of [["GET", "tokens"], ["POST", "tokens", { name: "x", role: "admin" }], ["DELETE", `tokens/no-manage-${role}`]]) {
        const res = await call(method, route, { headers: bearer(token), body });
        assert.equal(res.status, 403, `${role} ${method} ${route}`);
        assert.equal(res.json.needed, "admin");
      }
    }
  });
});

describe("Cloudflare Access JWTs", () => {
  test("valid tokens sign in with the role their email, group or domain maps to", async () => {
    for (const [claims, who, role] of [
      [{ email: "alice@example.com" }, "alice@example.com", "admin"],
      [{ email: "Alice@Example.com" }, "alice@example.com", "admin"],
      [{ email: "olga@other.io", groups: ["ops"] }, "olga@other.io", "operator"],
      [{ email: "dan@example.com" }, "dan@example.com", "viewer"],
    ]) {
      const res = await call("GET", "whoami", { headers: access(issuer.sign(claims)) });
      assert.equal(res.status, 200, `${who}: ${res.text}`);
      assert.deepEqual(res.json, { who, via: "access", role });
    }
    const viewer = access(issuer.sign({ email: "dan@example.com" }));
    assert.equal((await call("GET", "events", { headers: viewer })).status, 200);
    const refused = await call("POST", "redrive", { headers: viewer, body: {} });
    assert.deepEqual(refused.json, { error: "forbidden_role", needed: "operator", role: "viewer" });
    const operator = access(issuer.sign({ email: "olga@other.io", groups: ["ops"] }));
    assert.equal((await call("POST", "redrive", { headers: operator, body: {} })).status, 200);
  });

  test("expired, early, wrong audience, wrong issuer, unknown key, bad signature, other algorithm, no role: 401, each counted by reason", async () => {
    const now = Math.floor(Date.now() / 1000);
    const cases = [
      ["access_expired", issuer.sign({ exp: now - 3600 })],
      ["access_not_yet_valid", issuer.sign({ nbf: now + 3600 })],
      ["access_wrong_audience", issuer.sign({ aud: ["someone-else"] })],
      ["access_wrong_issuer", issuer.sign({ iss: "https://evil.cloudflareaccess.com" })],
      ["access_unknown_key", issuer.sign({}, { kid: "stranger" })],
      ["access_bad_signature", issuer.sign({}, { kid: "k1", signWith: "stranger" })],
      ["access_unsupported_alg", issuer.sign({}, { alg: "HS256" })],
      ["access_no_role", issuer.sign({ email: "mallory@elsewhere.io" })],
      ["access_malformed", "not-a-jwt"],
    ];
    for (const [reason, jwt] of cases) {
      const res = await call("GET", "stats", { headers: access(jwt) });
      assert.equal(res.status, 401, `${reason}: ${res.text}`);
      assert.deepEqual(res.json, { error: "unauthorized" });
    }
    await w.sweep();
    const rows = await w.worker.all("SELECT reason FROM rejections WHERE provider = 'admin'");
    const reasons = new Set(rows.map((r) => r.reason));
    for (const [reason] of cases) assert.ok(reasons.has(reason), `${reason} counted: ${[...reasons]}`);
  });

  test("failed Access sign-ins fire the signature-failure alert like bad signatures", async () => {
    const expired = issuer.sign({ exp: Math.floor(Date.now() / 1000) - 3600 });
    for (let n = 0; n < 5; n += 1) assert.equal((await call("GET", "stats", { headers: access(expired) })).status, 401);
    await w.sweep();
    const alerts = await w.worker.all("SELECT kind, key FROM alerts WHERE kind = 'signature_failures' AND key = 'admin:access_expired'");
    assert.deepEqual(alerts, [{ kind: "signature_failures", key: "admin:access_expired" }]);
  });

  test("a token signed with a key the cache lacks refetches the team's keys (rotation)", async () => {
    const before = w.fake.callsTo(CERTS).length;
    assert.equal((await call("GET", "stats", { headers: access(issuer.sign({}, { kid: "k2" })) })).status, 401, "not published yet");
    issuer.publish("k2");
    const res = await call("GET", "whoami", { headers: access(issuer.sign({}, { kid: "k2" })) });
    assert.equal(res.status, 200, res.text);
    assert.equal(w.fake.callsTo(CERTS).length, before + 2, "one fetch per unknown key id");
    assert.equal((await call("GET", "whoami", { headers: access(issuer.sign({}, { kid: "k1" })) })).status, 200);
    assert.equal(w.fake.callsTo(CERTS).length, before + 2, "known keys come from the cache");
  });

  test("a bearer token wins over the Access header", async () => {
    const res = await call("GET", "whoami", { headers: { ...ADMIN, ...access(issuer.sign({ email: "dan@example.com" })) } });
    assert.equal(res.json.who, "ADMIN_TOKEN[0]");
  });
});

describe("the audit trail", () => {
  test("rows name who, role, action, target, a digest of the body and the result; filtered and paged newest first", async () => {
    const secret = "whsec_" + Buffer.alloc(32, 9).toString("base64");
    const body = JSON.stringify({ name: "audited", type: "http", url: `${w.fake.url}/receiver/audited`, secret });
    const created = await call("POST", "destinations", { body });
    assert.equal(created.status, 201, created.text);
    const alice = access(issuer.sign({ email: "alice@example.com" }));
    assert.equal((await call("POST", "destinations/audited/pause", { headers: alice, body: "" })).status, 200);
    assert.equal((await call("DELETE", "destinations/audited", { headers: alice })).status, 200);

    const page = await call("GET", `audit?action=${encodeURIComponent("POST destinations")}&limit=1`);
    assert.equal(page.status, 200, page.text);
    const [row] = page.json.entries;
    assert.equal(row.who, "ADMIN_TOKEN[0]");
    assert.equal(row.via, "admin_token");
    assert.equal(row.role, "admin");
    assert.equal(row.status, 201);
    assert.equal(row.body_sha256, crypto.createHash("sha256").update(body).digest("hex"));
    assert.equal(typeof row.at, "number");

    const mine = await call("GET", `audit?who=${encodeURIComponent("alice@example.com")}&limit=1`);
    assert.deepEqual(mine.json.entries.map((e) => [e.action, e.target, e.status, e.via]), [["DELETE destinations/{name}", "audited", 200, "access"]]);
    assert.ok(mine.json.next_cursor, "a second page");
    const next = await call("GET", `audit?who=${encodeURIComponent("alice@example.com")}&limit=1&cursor=${mine.json.next_cursor}`);
    assert.deepEqual(next.json.entries.map((e) => [e.action, e.target, e.body_sha256]), [["POST destinations/{name}/pause", "audited", null]]);
    assert.ok(next.json.entries[0].id < mine.json.entries[0].id, "newest first");

    const since = await call("GET", `audit?since=${Date.now() + 60_000}`);
    assert.deepEqual(since.json.entries, []);
    assert.equal((await call("GET", "audit?limit=0")).json.error, "invalid_filter");

    const everything = await w.worker.all("SELECT * FROM admin_audit");
    const text = JSON.stringify(everything) + JSON.stringify((await call("GET", "audit?limit=200")).json);
    assert.ok(!text.includes(secret) && !text.includes(secret.slice(6)), "no secret in the trail");
  });

  test("rows past AUDIT_RETENTION_DAYS are removed by retention", async () => {
    await w.worker.all(
      "INSERT INTO admin_audit (at, who, via, role, action, status, expires_at) VALUES (1, 'old', 'api_token', 'admin', 'POST redrive', 200, 2)",
    );
    const kept = await auditCount();
    await w.sweep();
    assert.deepEqual(await w.worker.all("SELECT id FROM admin_audit WHERE who = 'old'"), []);
    assert.equal(await auditCount(), kept - 1, "only the expired row");
    const [fresh] = await w.worker.all("SELECT at, expires_at FROM admin_audit ORDER BY id DESC LIMIT 1");
    assert.equal(fresh.expires_at - fresh.at, 365 * 86_400_000, "AUDIT_RETENTION_DAYS' default");
  });
});

describe("ADMIN_TOKEN rotation", () => {
  test("a client moves from the old token to the new one without a failed request", async () => {
    const OLD = "old-admin-token-" + "a".repeat(24);
    const NEW = "new-admin-token-" + "b".repeat(24);
    const phases = [
      { setting: OLD, client: [OLD], refused: [NEW] },
      { setting: `${OLD},${NEW}`, client: [OLD, NEW], refused: [] },
      { setting: NEW, client: [NEW], refused: [OLD] },
    ];
    for (const phase of phases) {
      const worker = await startWorker({ vars: { ADMIN_TOKEN: phase.setting } });
      try {
        for (const token of phase.client) {
          const res = await worker.get("/admin/api/whoami", bearer(token));
          assert.equal(res.status, 200, `${phase.setting.length} ${token.slice(0, 3)}`);
          assert.equal(res.json.who, `ADMIN_TOKEN[${phase.setting.split(",").indexOf(token)}]`);
        }
        for (const token of phase.refused) assert.equal((await worker.get("/admin/api/whoami", bearer(token))).status, 401);
      } finally {
        await worker.dispose();
      }
    }
  });
});

describe("ADMIN_TOKEN unset: bearer sign-in is off", () => {
  test("a named token minted while ADMIN_TOKEN was set is refused once it is removed; Access still signs in", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "edgehooks-admin-off-"));
    const vars = accessVars(w.fake.url);
    try {
      const before = await startWorker({ vars, miniflare: { d1Persist: dir } });
      let named;
      try {
        const minted = await before.post("/admin/api/tokens", JSON.stringify({ name: "after-compromise", role: "admin" }), {
          ...ADMIN,
          "content-type": "application/json",
        });
        assert.equal(minted.status, 201, minted.text);
        named = minted.json.token;
        assert.equal((await before.get("/admin/api/whoami", bearer(named))).status, 200);
      } finally {
        await before.dispose();
      }
      // The same D1 (the token's row is there), ADMIN_TOKEN removed.
      const after = await startWorker({ vars: { ...vars, ADMIN_TOKEN: "" }, migrate: false, miniflare: { d1Persist: dir } });
      try {
        const [row] = await after.all("SELECT name FROM api_tokens WHERE name = 'after-compromise'");
        assert.deepEqual(row, { name: "after-compromise" }, "the token's row survived the restart");
        for (const token of [named, TEST_SECRETS.ADMIN_TOKEN]) {
          const res = await after.get("/admin/api/whoami", bearer(token));
          assert.deepEqual([res.status, res.json], [401, { error: "unauthorized" }], token.slice(0, 4));
        }
        const scrape = await after.get("/metrics", bearer(named));
        assert.equal(scrape.status, 401, "the Prometheus scrape signs in the same way");
        const viaAccess = await after.get("/admin/api/health", access(issuer.sign({ email: "alice@example.com" })));
        assert.equal(viaAccess.status, 200, viaAccess.text);
        assert.deepEqual([viaAccess.json.admin, viaAccess.json.access], ["disabled", "enabled"]);
        await (await after.mf.getWorker()).scheduled({ cron: "* * * * *" });
        const [flushed] = await after.all("SELECT SUM(count) AS n FROM rejections WHERE provider = 'admin' AND reason = 'bearer_disabled'");
        assert.equal(flushed.n, 3, "each refused bearer counted as bearer_disabled");
      } finally {
        await after.dispose();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
