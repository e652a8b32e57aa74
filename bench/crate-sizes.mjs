// Per-crate code + data bytes of an unstripped wasm (before wasm-bindgen and wasm-opt), from
// `twiggy top --format csv`: each function is charged to the first crate in its demangled name
// (`<alloc::vec::Vec<T> as core::fmt::Debug>::fmt` → alloc), data segments to "data (rodata)",
// custom sections (debug info, names) left out. Used for the per-crate table in BENCHMARKS.md.
//   node bench/crate-sizes.mjs a.wasm [b.wasm]      (two files: before / after columns)
//   node bench/crate-sizes.mjs --json a.wasm        ({ crate: bytes }, largest first; scripts/bench size)
import { execFileSync } from "node:child_process";

function sizes(file) {
  const csv = execFileSync("twiggy", ["top", "-n", "1000000", "--format", "csv", file], { encoding: "utf8", maxBuffer: 1 << 28 });
  const byCrate = new Map();
  for (const line of csv.split("\n").slice(1)) {
    const match = line.match(/^(.*),(\d+),([\d.]+),/);
    if (!match) continue;
    const [, rawName, bytes] = match;
    const name = rawName.replace(/^"|"$/g, "");
    if (/^custom section|subsection|^\.\.\. and|^Σ/.test(name)) continue;
    let crate;
    if (/^data\[|^data segment/.test(name)) crate = "data (rodata: strings, tables)";
    else if (/^(import|export|type|table|elem|global|memory|start|code section|wasm magic)/.test(name)) crate = "wasm-bindgen export/import shims";
    else crate = name.match(/([A-Za-z_][A-Za-z0-9_]*)::/)?.[1] ?? "other (unnamed, shims)";
    byCrate.set(crate, (byCrate.get(crate) ?? 0) + Number(bytes));
  }
  return byCrate;
}

const json = process.argv.includes("--json");
const files = process.argv.slice(2).filter((arg) => arg !== "--json");
const tables = files.map(sizes);
if (json) {
  console.log(JSON.stringify(Object.fromEntries([...tables[0]].sort((a, b) => b[1] - a[1]))));
  process.exit(0);
}
const crates = [...new Set(tables.flatMap((t) => [...t.keys()]))].sort((a, b) => (tables[0].get(b) ?? 0) - (tables[0].get(a) ?? 0));
const kb = (n) => (n ? (n / 1000).toFixed(1) : "0");
console.log(`| crate | ${files.map((f) => f.split("/").pop()).join(" KB | ")} KB |${files.length > 1 ? " change KB |" : ""}`);
console.log(`|---|${files.map(() => "---|").join("")}${files.length > 1 ? "---|" : ""}`);
const totals = tables.map(() => 0);
for (const crate of crates) {
  const values = tables.map((t) => t.get(crate) ?? 0);
  values.forEach((v, i) => (totals[i] += v));
  if (Math.max(...values) < 2000) continue;
  const change = files.length > 1 ? ` ${(values.at(-1) - values[0] > 0 ? "+" : "") + kb(values.at(-1) - values[0])} |` : "";
  console.log(`| ${crate} | ${values.map(kb).join(" | ")} |${change}`);
}
console.log(`| **total (code + data; rows under 2 KB not shown)** | ${totals.map(kb).join(" | ")} |${files.length > 1 ? ` ${kb(totals.at(-1) - totals[0])} |` : ""}`);
