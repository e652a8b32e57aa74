// The admin API's OpenAPI document (openapi/admin.json) as the tests hold the worker to it:
// `checkAdminAnswer` finds the operation a request called (method and path template, from the
// worker's root: everything under /admin/api, and the few operations outside it the document
// describes, such as GET /metrics) and checks that the answer's status is one the operation
// documents, that its content type is one that status documents and that a JSON body matches
// that status's schema (ajv, JSON Schema 2020-12, the dialect of OpenAPI 3.1). worker.mjs runs
// it on every answer Miniflare gives, so an undocumented route, status, content type or body
// shape fails the test that caused it. A request under /admin/api no operation describes (an
// unknown path, a method a path does not take) may only be refused, as the document's
// description says; any other path the document does not describe (webhooks, /health, the
// admin page) is not checked.
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const DOCUMENT_PATH = path.join(ROOT, "openapi/admin.json");
export const API_PREFIX = "/admin/api";
/** Where the document is served (a static asset, not an operation). */
export const DOCUMENT_URL_PATH = `${API_PREFIX}/openapi.json`;
export const document = JSON.parse(readFileSync(DOCUMENT_PATH, "utf8"));

export const METHODS = ["get", "put", "post", "delete", "patch"];
/** The statuses a request no operation describes may get: refusals before or instead of routing
 * (sign-in, the admin role an unlisted route needs, 404, 405, storage). */
const UNDESCRIBED_STATUSES = new Set([401, 403, 404, 405, 503]);

// The document's own keywords (paths, components, x-role…) are not JSON Schema: strict off.
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
ajv.addSchema(document, "admin");

/** Every operation: method, path template (`/admin/api/events/{id}`), its matcher and the operation. */
export const operations = Object.entries(document.paths).flatMap(([template, item]) =>
  METHODS.filter((m) => item[m]).map((method) => ({
    method: method.toUpperCase(),
    template,
    pattern: new RegExp(`^${template.replace(/\{[^}]+\}/g, "[^/]+")}$`),
    literal: !template.includes("{"),
    operation: item[method],
  })),
);

const pointer = (...parts) => parts.map((p) => String(p).replaceAll("~", "~0").replaceAll("/", "~1")).join("/");
const validators = new Map();
/** The compiled validator of a schema at a JSON pointer into the document. */
function validatorAt(ref) {
  if (!validators.has(ref)) validators.set(ref, ajv.compile({ $ref: `admin#${ref}` }));
  return validators.get(ref);
}

/** A `$ref` within the document, followed (e.g. `#/components/responses/NotFound`). */
function resolve(value) {
  let ref = "";
  while (value?.$ref) {
    ref = value.$ref.slice(1);
    value = ref.split("/").slice(1).reduce((at, part) => at[part.replaceAll("~1", "/").replaceAll("~0", "~")], document);
  }
  return { value, ref };
}

/** The operation `method` and `pathname` (the full path, `/admin/api/…`) call, or undefined. */
export function operationOf(method, pathname) {
  const found = operations.filter((o) => o.pattern.test(pathname));
  const forMethod = (list) => list.find((o) => o.method === method);
  return forMethod(found.filter((o) => o.literal)) ?? forMethod(found);
}

/** Whether the document speaks for answers at `pathname`: all of /admin/api (the document
 * itself, a static asset, aside) and any other path an operation describes. */
export function isDescribed(pathname) {
  if (pathname === DOCUMENT_URL_PATH) return false;
  return pathname.startsWith(`${API_PREFIX}/`) || operations.some((o) => o.pattern.test(pathname));
}

/** A media type without spaces, lower-case (`text/plain;version=0.0.4;charset=utf-8`). */
const mediaType = (value) => String(value ?? "").replaceAll(" ", "").toLowerCase();

/** Problems of one answer against the document (empty: it conforms). `contentType` (the
 * answer's header) is checked against the documented media types when given. */
export function problemsOf({ method, pathname, status, json, text, contentType }) {
  const asGet = method === "HEAD" ? "GET" : method;
  const found = operationOf(asGet, pathname);
  const name = `${method} ${pathname} → ${status}`;
  if (!found) {
    if (!UNDESCRIBED_STATUSES.has(status)) return [`${name}: no operation in openapi/admin.json describes this request`];
    return method === "HEAD" ? [] : bodyProblems(name, "#/components/schemas/Error", json, text);
  }
  const responses = found.operation.responses;
  const response = responses[String(status)] ?? responses.default;
  if (!response) return [`${name}: status ${status} is not documented for ${found.method} ${found.template}`];
  if (method === "HEAD") return [];
  const { value, ref } = resolve(response);
  const base = ref || `/paths/${pointer(found.template, found.method.toLowerCase(), "responses", String(status))}`;
  const documented = Object.keys(value.content ?? {});
  if (contentType !== undefined && documented.length) {
    const answered = mediaType(contentType);
    const matches = (type) => mediaType(type) === answered || (!type.includes(";") && mediaType(type) === answered.split(";")[0]);
    if (!documented.some(matches)) return [`${name}: content type ${contentType} is not one of ${documented.join(", ")}`];
  }
  const schema = value.content?.["application/json"]?.schema;
  if (!schema) return [];
  return bodyProblems(name, `${base}/${pointer("content", "application/json", "schema")}`, json, text);
}

function bodyProblems(name, ref, json, text) {
  if (json === undefined) return [`${name}: the body is not JSON: ${String(text).slice(0, 200)}`];
  const validate = validatorAt(ref.startsWith("#") ? ref.slice(1) : ref);
  if (validate(json)) return [];
  return validate.errors.map((e) => `${name}: body${e.instancePath} ${e.message} ${JSON.stringify(e.params)} (schema ${e.schemaPath})`);
}

/**
 * Check a Fetch answer to `request` (a URL string or Request, and the init) against the document;
 * throws naming every problem. Answers at paths the document does not speak for (see
 * `isDescribed`) pass.
 */
export async function checkAdminAnswer(input, init, res) {
  const url = new URL(typeof input === "string" || input instanceof URL ? input : input.url);
  if (!isDescribed(url.pathname)) return;
  const method = (init?.method ?? (typeof input === "object" && "method" in input ? input.method : "GET")).toUpperCase();
  const text = method === "HEAD" ? "" : await res.clone().text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  const contentType = method === "HEAD" ? undefined : (res.headers.get("content-type") ?? "");
  const problems = problemsOf({ method, pathname: url.pathname, status: res.status, json, text, contentType });
  if (problems.length) {
    throw new Error(`the admin API's answer does not match openapi/admin.json:\n${problems.join("\n")}`);
  }
}
