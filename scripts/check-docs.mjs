#!/usr/bin/env node
// Checks README.md and docs/*.md (the book) against the repository, so the docs cannot drift:
//  - every relative link and `#anchor` resolves (a file in the repository; a heading of that
//    file, slugged as mdBook and GitHub do); a link in docs/ stays inside docs/, where the book
//    can follow it;
//  - every setting-like name (UPPER_SNAKE with the first word of a setting in
//    handlers/settings.json, or a `__<SOURCE>` suffix) is a setting of that table, unless the
//    code defines it as a constant or it is listed under RETIRED below;
//  - every endpoint mentioned (`/admin/api/...`, `/webhooks/...`, `/health`, `/metrics`) is one the
//    worker routes: the path patterns are read from every `.rs` file under src/ whose match arms
//    take slice patterns of path segments (`["", "health"]`, `["events", id, "replay"]`,
//    `["destinations", rest @ ..]`), or that spell whole paths (`"/admin/api/events/{id}"`);
//    `{id}`, `<name>`, `…` and `*` in a mentioned path are placeholders, and a path after a host
//    (`https://{shop}/admin/api/...`) is not ours. A file scripts/build copies into
//    build/assets/ (Workers Static Assets, served before the worker: `/admin/api/openapi.json`)
//    is a route too.
// Usage: node scripts/check-docs.mjs [root]   (exit 1 and one line per problem).
import { readFileSync, readdirSync, existsSync, statSync } from "node:fs";
import { join, dirname, resolve, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";

/** Names the docs mention on purpose that are no longer settings (they say so where they do). */
export const RETIRED = new Set(["DEDUPE_HINT_ON_REPEAT"]);

const ENDPOINT =
  /(?<![A-Za-z_}])(\/admin\/api|\/webhooks|\/health(?![A-Za-z_]|\.rs)|\/metrics(?![A-Za-z_]|\.rs))((?:\/(?:\{[^}\s]*\}|[^\s/`'"()|,;\]?#{}])*)*)/g;
const NAME = /(?<![A-Za-z0-9_])([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*)(__(?:<[^>\s]+>|[A-Z0-9_]+)|_\*)?(?![A-Za-z0-9])/g;
const LINK = /!?\[(?:[^\]]|\][^(])*?\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g;
const REF_LINK = /^\s*\[[^\]]+\]:\s*(\S+)/;

/** The book's and README's markdown files, relative to root. */
export function docFiles(root) {
  const docs = existsSync(join(root, "docs"))
    ? readdirSync(join(root, "docs")).filter((f) => f.endsWith(".md")).map((f) => `docs/${f}`)
    : [];
  return ["README.md", ...docs.sort()].filter((f) => existsSync(join(root, f)));
}

/** A heading's anchor as mdBook (and GitHub) make it: lower case, letters, digits, `_` and `-`
 * kept, spaces to `-`, the rest dropped; repeats get `-1`, `-2`. */
export function slug(text) {
  const plain = text.replace(/\[([^\]]*)\]\([^)]*\)/g, "$1").replace(/`/g, "");
  let out = "";
  for (const ch of plain.trim().toLowerCase()) {
    if (/[\p{L}\p{N}_-]/u.test(ch)) out += ch;
    else if (/\s/.test(ch)) out += "-";
  }
  return out;
}

/** The lines of a markdown file outside fenced code blocks, with inline code blanked when
 * `blankCode` (links are not looked for in code; names and paths are). */
function proseLines(text, blankCode) {
  const lines = [];
  let fenced = false;
  text.split("\n").forEach((line, i) => {
    if (/^\s*(```|~~~)/.test(line)) {
      fenced = !fenced;
      return;
    }
    if (fenced) return;
    lines.push([i + 1, blankCode ? line.replace(/`[^`]*`/g, (m) => " ".repeat(m.length)) : line]);
  });
  return lines;
}

/** Every code line too (settings and endpoints in examples count), with line numbers. */
function allLines(text) {
  return text.split("\n").map((line, i) => [i + 1, line]);
}

export function anchors(text) {
  const seen = new Map();
  const ids = new Set();
  for (const [, line] of proseLines(text, false)) {
    const m = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!m) continue;
    const base = slug(m[1]);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    ids.add(n === 0 ? base : `${base}-${n}`);
  }
  for (const m of text.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) ids.add(m[1]);
  return ids;
}

function checkLinks(root, file, text, problems) {
  const dir = dirname(join(root, file));
  for (const [line, content] of proseLines(text, true)) {
    const targets = [...content.matchAll(LINK)].map((m) => m[1]);
    const ref = REF_LINK.exec(content);
    if (ref) targets.push(ref[1]);
    for (const target of targets) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:
      const [pathPart, anchor] = target.split("#", 2);
      const path = decodeURIComponent(pathPart);
      const abs = path === "" ? join(root, file) : resolve(dir, path);
      const rel = relative(root, abs);
      const where = `${file}:${line}`;
      if (rel.startsWith("..") || rel.split(sep).includes("..")) {
        problems.push(`${where}: link ${target} leaves the repository`);
        continue;
      }
      if (file.startsWith("docs/") && path !== "" && !rel.startsWith(`docs${sep}`)) {
        problems.push(`${where}: link ${target} leaves docs/ (the book cannot follow it; name the file in code instead)`);
        continue;
      }
      if (!existsSync(abs)) {
        problems.push(`${where}: link ${target}: ${rel} does not exist`);
        continue;
      }
      if (anchor !== undefined && anchor !== "") {
        if (!statSync(abs).isFile() || !abs.endsWith(".md")) {
          problems.push(`${where}: link ${target}: an anchor into a file that is not markdown`);
        } else if (!anchors(readFileSync(abs, "utf8")).has(anchor)) {
          problems.push(`${where}: link ${target}: no heading #${anchor} in ${rel}`);
        }
      }
    }
  }
}

/** Names defined as constants in the Rust sources: code, not settings. */
export function codeConstants(root) {
  const names = new Set();
  for (const file of rustFiles(root, "src").concat(rustFiles(root, "handlers/src"))) {
    for (const m of readFileSync(file, "utf8").matchAll(/\b(?:const|static)\s+([A-Z][A-Z0-9_]+)\s*:/g)) {
      names.add(m[1]);
    }
  }
  return names;
}

function checkSettings(file, text, settings, constants, problems) {
  const names = new Set(settings.map((s) => s.name));
  const families = new Set(settings.map((s) => s.name.split("_")[0]));
  for (const [line, content] of allLines(text)) {
    for (const m of content.matchAll(NAME)) {
      const [, name, suffix] = m;
      const where = `${file}:${line}`;
      if (suffix === "_*") {
        if (families.has(name.split("_")[0]) && ![...names].some((n) => n.startsWith(`${name}_`))) {
          problems.push(`${where}: no setting matches ${name}_*`);
        }
        continue;
      }
      if (!name.includes("_") && !suffix) continue;
      const settingLike = suffix || families.has(name.split("_")[0]);
      if (!settingLike || names.has(name) || constants.has(name) || RETIRED.has(name)) continue;
      problems.push(`${where}: ${name}${suffix ?? ""} is not a setting (handlers/settings.json)`);
    }
  }
}

function rustFiles(root, under) {
  const start = join(root, under);
  if (!existsSync(start)) return [];
  const out = [];
  for (const entry of readdirSync(start, { withFileTypes: true })) {
    const path = join(start, entry.name);
    if (entry.isDirectory()) out.push(...rustFiles(root, relative(root, path)));
    else if (entry.name.endsWith(".rs")) out.push(path);
  }
  return out;
}

/** One element of a slice pattern: `{lits}` (one of these literals), `{bind}` (any one
 * segment) or `{rest}` (`rest @ ..`: what follows goes to another table). Null: not a pattern. */
function element(text) {
  const t = text.trim();
  if (/^"[^"]*"(\s*\|\s*"[^"]*")*$/.test(t)) return { lits: [...t.matchAll(/"([^"]*)"/g)].map((m) => m[1]) };
  if (/^([a-z_][a-z0-9_]*\s*@\s*)?\.\.$/.test(t)) return { rest: true };
  if (/^[a-z_][a-z0-9_]*$/.test(t)) return { bind: true };
  return null;
}

/** The path patterns of every route table under src/ (see the header). */
export function routePatterns(root) {
  const patterns = [];
  for (const file of rustFiles(root, "src")) {
    const found = [];
    for (const line of readFileSync(file, "utf8").split("\n")) {
      const trimmed = line.trim();
      if (!line.includes("=>") && !trimmed.startsWith("|") && !trimmed.startsWith("[")) continue;
      const head = line.includes("=>") ? line.slice(0, line.indexOf("=>")) : line;
      for (const m of head.matchAll(/\[([^[\]]*)\]/g)) {
        const parts = m[1].trim() === "" ? [] : m[1].split(",").filter((p) => p.trim() !== "");
        const elements = parts.map(element);
        if (elements.every(Boolean)) found.push(elements);
      }
    }
    if (found.some((p) => p.some((e) => e.lits))) patterns.push(...found);
    patterns.push(...templates(readFileSync(file, "utf8")));
  }
  return [...patterns, ...staticAssets(root)];
}

/** The files scripts/build copies into build/assets/ (`cp x build/assets/admin/api/openapi.json`
 * is served at `/admin/api/openapi.json`), each a literal path; folders are left out. */
function staticAssets(root) {
  const build = join(root, "scripts", "build");
  if (!existsSync(build)) return [];
  const text = readFileSync(build, "utf8");
  return [...text.matchAll(/\bcp\s.*\sbuild\/assets\/(\S+)\s*$/gm)]
    .map((m) => m[1])
    .filter((path) => !path.endsWith("/"))
    .map((path) => ["", ...path.split("/")].map((seg) => ({ lits: [seg] })));
}

/** Routes written as whole path strings (`"/admin/api/events/{id}/replay"`, `{id}` or `:id` a
 * segment, `*` the rest), should a route table take that form; `{}` is a format string, not one. */
function templates(text) {
  const found = [];
  for (const m of text.matchAll(/"(\/(?:admin\/api|webhooks|health|metrics)(?:\/[^"\s]*)?)"/g)) {
    if (m[1].includes("{}")) continue;
    found.push(
      m[1].replace(/\/$/, "").split("/").map((seg) =>
        seg === "*" ? { rest: true } : /^(\{[^}]+\}|:.+)$/.test(seg) ? { bind: true } : { lits: [seg] },
      ),
    );
  }
  return found;
}

const ANYTHING = /^(…|\.\.\.|\*)$/;

/** After the root table's `rest @ ..` only a table that dispatches on a literal first segment
 * can take over (the admin API's); deeper (`["destinations", rest @ ..]`) any pattern can. */
function matchFrom(patterns, segs, i, depth) {
  if (depth > 8) return false;
  const next = depth === 1 ? patterns.filter((p) => p[0]?.lits) : patterns;
  return next.some((p) => matchPattern(patterns, p, segs, i, depth));
}

function matchPattern(patterns, pattern, segs, i, depth) {
  let at = i;
  for (const el of pattern) {
    if (at < segs.length && ANYTHING.test(segs[at])) return true;
    if (el.rest) return at === segs.length || (at > i && matchFrom(patterns, segs, at, depth + 1));
    if (at >= segs.length) return false;
    const seg = segs[at];
    if (el.lits && !el.lits.includes(seg)) return false; // a placeholder stands for a bound segment only
    at += 1;
  }
  return at === segs.length || (at < segs.length && ANYTHING.test(segs[at]));
}

/** Whether the worker routes `path` (placeholders allowed). */
export function routed(patterns, path) {
  const segs = path.replace(/[.:]+$/, "").split("/");
  while (segs.length > 1 && segs[segs.length - 1] === "") segs.pop();
  const roots = patterns.filter((p) => p[0]?.lits?.includes(""));
  return roots.some((p) => matchPattern(patterns, p, segs, 0, 0));
}

function checkEndpoints(file, text, patterns, problems) {
  for (const [line, content] of allLines(text)) {
    for (const m of content.matchAll(ENDPOINT)) {
      const path = m[1] + m[2];
      if (!routed(patterns, path)) problems.push(`${file}:${line}: the worker has no route ${path}`);
    }
  }
}

/** Every problem found under root, one line each. */
export function checkDocs(root) {
  const problems = [];
  const settings = JSON.parse(readFileSync(join(root, "handlers/settings.json"), "utf8"));
  const constants = codeConstants(root);
  const patterns = routePatterns(root);
  if (patterns.length === 0) problems.push("no route table found under src/ (the endpoint check would pass anything)");
  for (const file of docFiles(root)) {
    const text = readFileSync(join(root, file), "utf8");
    checkLinks(root, file, text, problems);
    checkSettings(file, text, settings, constants, problems);
    checkEndpoints(file, text, patterns, problems);
  }
  return problems;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = resolve(process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), ".."));
  const problems = checkDocs(root);
  for (const p of problems) console.error(p);
  if (problems.length > 0) {
    console.error(`check-docs: ${problems.length} problem(s) in README.md and docs/`);
    process.exit(1);
  }
  console.log(`check-docs: ${docFiles(root).length} files, every link, setting and endpoint resolves`);
}
