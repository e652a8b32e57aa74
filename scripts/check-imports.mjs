#!/usr/bin/env node
// The core's floors stay a tree: no import circle between concerns of `handlers/src`.
//
// A concern is a file's top-level module (`handlers/src/steps/retry.rs` belongs to `steps`,
// `handlers/src/time.rs` to `time`). Every `crate::` path in a file (in `use` lines and inline,
// comments ignored) is an import of the concern its first segment names. An import that runs
// back up a floor carries its reason beside it, `// up: <why>`, on its line or the line just
// above its statement; an edge between two concerns all of whose imports carry one is explained
// and closes no circle. The check fails (exit 1) on an import circle between concerns made of
// edges not explained, naming the circle and the files behind each edge.
//
// Usage: node scripts/check-imports.mjs [<src dir>]   (default: handlers/src)
// `--graph` prints every concern edge (with its files) as well.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const showGraph = args.includes('--graph');
const root = args.find((a) => !a.startsWith('--'))
  ?? join(fileURLToPath(new URL('..', import.meta.url)), 'handlers', 'src');

function rustFiles(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return rustFiles(path);
    return name.endsWith('.rs') ? [path] : [];
  });
}

/** The concern of a file: its top-level folder, or its stem at the top (`lib.rs` has none). */
function concernOf(file) {
  const parts = relative(root, file).split(sep);
  if (parts.length > 1) return parts[0];
  const stem = parts[0].replace(/\.rs$/, '');
  return stem === 'lib' || stem === 'main' ? null : stem;
}

/** The code of a line without its comment (`//` outside a string literal). */
function codeOf(line) {
  let inString = false;
  for (let i = 0; i < line.length; i += 1) {
    const c = line[i];
    if (inString && c === '\\') i += 1;
    else if (c === '"') inString = !inString;
    else if (!inString && c === '/' && line[i + 1] === '/') return line.slice(0, i);
  }
  return line;
}

const REASON = /\/\/\s*up:\s*\S/;

/** The concerns one `crate::` path reaches: `crate::a::b` → a; `crate::{a::x, b}` → a, b. */
function targetsAt(code, start) {
  const rest = code.slice(start);
  if (rest.startsWith('{')) {
    const inner = rest.slice(1, rest.indexOf('}') < 0 ? undefined : rest.indexOf('}'));
    return inner.split(',').map((p) => p.trim().match(/^[a-z_][a-z0-9_]*/)?.[0]).filter(Boolean);
  }
  const name = rest.match(/^[a-z_][a-z0-9_]*/)?.[0];
  return name ? [name] : [];
}

/** Every import in a file: { target, line, reasoned }. */
function importsOf(file) {
  const lines = readFileSync(file, 'utf8').split('\n');
  const found = [];
  let statementStart = -1; // first line of the `use` statement being read, or -1
  lines.forEach((line, index) => {
    const code = codeOf(line);
    if (statementStart < 0 && /^\s*(pub(\([^)]*\))?\s+)?use\s/.test(code)) statementStart = index;
    const from = statementStart >= 0 ? statementStart : index;
    const reasoned = lines.slice(Math.max(0, from - 1), index + 1).some((l) => REASON.test(l));
    // A multi-line `use crate::{` group: each later line names concerns of its own.
    const grouped = statementStart >= 0 && statementStart < index
      && /use\s+crate::\{\s*$/.test(codeOf(lines[statementStart]));
    if (grouped) {
      for (const part of code.split(',')) {
        const name = part.trim().match(/^[a-z_][a-z0-9_]*/)?.[0];
        if (name) found.push({ target: name, line: index + 1, reasoned });
      }
    }
    for (const match of code.matchAll(/\bcrate::/g)) {
      for (const target of targetsAt(code, match.index + 'crate::'.length)) {
        found.push({ target, line: index + 1, reasoned });
      }
    }
    if (statementStart >= 0 && code.includes(';')) statementStart = -1;
  });
  return found;
}

/** The concerns and their graph: Map<from, Map<to, [{ file, line, reasoned }]>>. */
export function importGraph(srcRoot) {
  const graph = new Map();
  const files = rustFiles(srcRoot);
  const concerns = new Set(files.map((f) => concernOf(f)).filter(Boolean));
  for (const file of files) {
    const from = concernOf(file);
    if (!from) continue;
    for (const { target, line, reasoned } of importsOf(file)) {
      if (target === from || !concerns.has(target)) continue;
      if (!graph.has(from)) graph.set(from, new Map());
      const edges = graph.get(from);
      if (!edges.has(target)) edges.set(target, []);
      edges.get(target).push({ file: relative(srcRoot, file), line, reasoned });
    }
  }
  return { concerns, graph };
}

/** True when every import behind an edge carries its `// up:` reason. */
const explained = (sites) => sites.every((s) => s.reasoned);

/** A shortest path from `start` to `goal` over the edges not explained, or null. */
function pathBetween(graph, start, goal) {
  const previous = new Map([[start, null]]);
  const queue = [start];
  while (queue.length) {
    const node = queue.shift();
    if (node === goal) {
      const path = [];
      for (let at = goal; at !== null; at = previous.get(at)) path.unshift(at);
      return path;
    }
    for (const [next, sites] of graph.get(node) ?? []) {
      if (!explained(sites) && !previous.has(next)) {
        previous.set(next, node);
        queue.push(next);
      }
    }
  }
  return null;
}

/**
 * Each import circle between concerns that no explained edge breaks: [{ cycle: [a, …, a],
 * edges }]. An edge all of whose imports say `// up: <why>` runs back up on purpose and closes
 * no circle; every other edge must keep the floors a tree.
 */
export function unexplainedCycles(graph) {
  const cycles = [];
  const seen = new Set();
  for (const [from, edges] of graph) {
    for (const [to, sites] of edges) {
      if (explained(sites)) continue;
      const back = pathBetween(graph, to, from);
      if (!back) continue;
      const cycle = [from, ...back];
      const key = [...cycle.slice(0, -1)].sort().join(' ');
      if (seen.has(key)) continue;
      seen.add(key);
      const cycleEdges = cycle.slice(0, -1).map((a, i) => ({
        from: a,
        to: cycle[i + 1],
        sites: graph.get(a).get(cycle[i + 1]),
      }));
      cycles.push({ cycle, edges: cycleEdges });
    }
  }
  return cycles;
}

function describe(site) {
  return `${site.file}:${site.line}${site.reasoned ? ' (up: reason given)' : ''}`;
}

function main() {
  const { concerns, graph } = importGraph(root);
  if (showGraph) {
    for (const [from, edges] of [...graph].sort()) {
      for (const [to, sites] of [...edges].sort()) {
        console.log(`${from} -> ${to}: ${sites.map(describe).join(', ')}`);
      }
    }
  }
  const cycles = unexplainedCycles(graph);
  const edgeCount = [...graph.values()].reduce((n, e) => n + e.size, 0);
  if (cycles.length === 0) {
    console.log(`check-imports: ${concerns.size} concerns, ${edgeCount} edges, no import circle between concerns`);
    return 0;
  }
  for (const { cycle, edges } of cycles) {
    console.error(`import circle: ${cycle.join(' -> ')}`);
    for (const { from, to, sites } of edges) {
      console.error(`  ${from} -> ${to}: ${sites.map(describe).join(', ')}`);
    }
  }
  console.error(`check-imports: ${cycles.length} import circle(s) between concerns; `
    + 'break each, or write `// up: <why>` beside every import of the edge that runs back up');
  return 1;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.exitCode = main();
}
