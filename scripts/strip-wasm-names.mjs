// Drops the wasm's `name` custom section in place (node scripts/strip-wasm-names.mjs <file.wasm>).
// The release profile strips Rust's symbols, but wasm-opt as worker-build runs it (with
// `--debuginfo`) writes a name section for the JS imports again (~1.6 KB): nothing reads it, and
// it is 0.4 KiB of the gzip upload. Every other section is copied byte for byte.
import { readFileSync, writeFileSync } from "node:fs";

const file = process.argv[2];
const bytes = readFileSync(file);
const kept = [bytes.subarray(0, 8)]; // magic and version
let at = 8;
const leb = () => {
  let value = 0;
  for (let shift = 0; ; shift += 7) {
    const byte = bytes[at++];
    value += (byte & 0x7f) * 2 ** shift;
    if (byte < 0x80) return value;
  }
};
while (at < bytes.length) {
  const start = at;
  const id = bytes[at++];
  const size = leb();
  const body = at;
  at = body + size;
  if (id === 0) {
    const saved = at;
    at = body;
    const nameLength = leb();
    const name = bytes.subarray(at, at + nameLength).toString("utf8");
    at = saved;
    if (name === "name") continue;
  }
  kept.push(bytes.subarray(start, at));
}
if (at !== bytes.length) throw new Error(`${file}: a section runs past the end`);
writeFileSync(file, Buffer.concat(kept));
