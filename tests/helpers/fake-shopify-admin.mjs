// Shopify's REST Admin API orders listing, as the fake downstream serves it (see
// fake-downstream.mjs): `GET /shops/<shop>/admin/api/<version>/orders.json` (the worker's
// SHOPIFY_ADMIN_API_BASE is `<fake>/shops/{shop}`). It answers like Shopify: 401 without a valid
// `X-Shopify-Access-Token` for the shop; 400 for a `limit` outside 1..250 or a `page_info` sent
// with anything but `limit`; otherwise `{"orders": [...]}` of the shop's orders with `updated_at`
// at or after `updated_at_min` (any status with `status=any`, else open ones only), by id
// descending, `limit` per page (default 50), and a `Link` header with `rel="next"` (and
// `rel="previous"` after the first page) whose `page_info` is an opaque cursor. Orders are the
// repository's Order fixture (Shopify's REST reference shape) with their own id and times.
import fs from "node:fs";

const FIXTURE = new URL("../fixtures/events/shopify/orders/create.json", import.meta.url);
const PATH = /^\/shops\/([a-z0-9.-]+)\/admin\/api\/(\d{4}-\d{2})\/orders\.json$/;

/** `ms` as Shopify writes times: shop-local with its offset (here UTC−05:00), to the second. */
export function shopifyTime(ms) {
  const local = new Date(ms - 5 * 3600_000).toISOString().slice(0, 19);
  return `${local}-05:00`;
}

/** An Order object from the fixture with `overrides` (a fresh `id` and `updated_at`, typically). */
export function shopifyAdminOrder(overrides = {}) {
  const base = JSON.parse(fs.readFileSync(FIXTURE, "utf8"));
  const order = { ...base, ...overrides };
  order.admin_graphql_api_id = `gid://shopify/Order/${order.id}`;
  return order;
}

const encode = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");
const decode = (text) => {
  try {
    return JSON.parse(Buffer.from(text, "base64url").toString("utf8"));
  } catch {
    return null;
  }
};

export function shopifyAdminOrders() {
  const shops = new Map(); // shop -> Map(id -> order)
  const tokens = new Map(); // shop -> token
  const bad = (errors, status = 400) => ({ status, body: { errors } });
  const fake = {
    /** Test knob: serve at most this many orders per page whatever `limit` asks (pagination
     * without 250 orders). Shopify itself fills pages to `limit`. */
    pageSize: Infinity,
    /** Give `shop` its Admin API access token (any other is refused). */
    token(shop, token) {
      tokens.set(shop, token);
    },
    /** Create or update an order of `shop` (the same id replaces it: an order edited). */
    upsert(shop, order) {
      if (!shops.has(shop)) shops.set(shop, new Map());
      shops.get(shop).set(String(order.id), order);
      return order;
    },
    orders: (shop) => [...(shops.get(shop)?.values() ?? [])],
    clear() {
      shops.clear();
    },
    handles: (method, path) => method === "GET" && PATH.test(path),
    answer(url, headers) {
      const [, shop] = PATH.exec(url.pathname);
      if (!tokens.has(shop) || headers["x-shopify-access-token"] !== tokens.get(shop)) {
        return bad("[API] Invalid API key or access token (unrecognized login or wrong password)", 401);
      }
      const params = url.searchParams;
      const limit = params.has("limit") ? Number(params.get("limit")) : 50;
      if (!Number.isInteger(limit) || limit < 1 || limit > 250) return bad({ limit: ["must be between 1 and 250"] });
      let query = { updated_at_min: params.get("updated_at_min"), status: params.get("status") ?? "open", last_id: null };
      let first = true;
      if (params.has("page_info")) {
        if ([...params.keys()].some((k) => k !== "page_info" && k !== "limit")) {
          return bad({ page_info: ["Invalid value. page_info cannot be combined with other filters"] });
        }
        query = decode(params.get("page_info"));
        if (!query) return bad({ page_info: ["Invalid value."] });
        first = false;
      }
      const min = query.updated_at_min ? Date.parse(query.updated_at_min) : -Infinity;
      const matching = [...(shops.get(shop)?.values() ?? [])]
        .filter((o) => Date.parse(o.updated_at) >= min)
        .filter((o) => query.status === "any" || (o.closed_at === null && o.cancelled_at === null))
        .sort((a, b) => b.id - a.id)
        .filter((o) => query.last_id === null || o.id < query.last_id);
      const size = Math.min(limit, fake.pageSize);
      const orders = matching.slice(0, size);
      const base = `http://${headers.host ?? "127.0.0.1"}${url.pathname}`;
      const links = [];
      if (!first) links.push(`<${base}?limit=${limit}&page_info=${encode({ ...query, direction: "prev" })}>; rel="previous"`);
      if (matching.length > size) {
        links.push(`<${base}?limit=${limit}&page_info=${encode({ ...query, last_id: orders.at(-1).id })}>; rel="next"`);
      }
      const answerHeaders = { "x-shopify-shop-api-call-limit": "1/40" };
      if (links.length) answerHeaders.link = links.join(", ");
      return { status: 200, headers: answerHeaders, text: JSON.stringify({ orders }) };
    },
  };
  return fake;
}
