// scripts/check-imports.mjs on tiny source trees: it passes a tree whose concerns import
// downwards only, fails one with an import circle (naming the circle and the files), and lets an
// edge that says why it runs back up (`// up: <why>`) close no circle.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const script = fileURLToPath(new URL('../../scripts/check-imports.mjs', import.meta.url));

/** Run the check on a tree of `{ path: text }` files; its exit code and output. */
function check(files) {
  const root = mkdtempSync(join(tmpdir(), 'check-imports-'));
  try {
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(dirname(join(root, path)), { recursive: true });
      writeFileSync(join(root, path), text);
    }
    const run = spawnSync(process.execPath, [script, root], { encoding: 'utf8' });
    return { status: run.status, out: run.stdout + run.stderr };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

const base = {
  'lib.rs': 'pub mod ground;\npub mod features;\npub mod top;\n',
  'ground.rs': '//! The ground floor.\npub const A: u8 = 1;\n',
  'features/mod.rs': 'pub mod one;\n',
  'features/one.rs': 'use crate::ground::A;\n// Not an import: crate::top in a comment.\npub fn f() -> u8 { A }\n',
  'top.rs': 'use crate::{\n    features::one,\n    ground,\n};\npub fn g() -> u8 { one::f() + ground::A }\n',
};

test('a tree whose concerns import downwards only passes', () => {
  const { status, out } = check(base);
  assert.equal(status, 0, out);
  assert.match(out, /3 concerns, 3 edges, no import circle/);
});

test('an import circle between concerns fails, naming the circle and its files', () => {
  const { status, out } = check({
    ...base,
    'ground.rs': 'pub const A: u8 = 1;\npub fn b() -> u8 { crate::features::one::f() }\n',
  });
  assert.equal(status, 1, out);
  assert.match(out, /import circle: (ground -> features -> ground|features -> ground -> features)/);
  assert.match(out, /ground -> features: ground\.rs:2/);
  assert.match(out, /features -> ground: features\/one\.rs:1/);
});

test('an edge whose every import says why it runs back up closes no circle', () => {
  const back = 'pub const A: u8 = 1;\n// up: the ground reads the feature for a reason\nuse crate::features::one;\n';
  assert.equal(check({ ...base, 'ground.rs': back }).status, 0);
  const oneWithout = `${back}pub fn b() -> u8 { crate::features::one::f() }\n`;
  const { status, out } = check({ ...base, 'ground.rs': oneWithout });
  assert.equal(status, 1, out);
  assert.match(out, /ground\.rs:3 \(up: reason given\), ground\.rs:4/);
});
