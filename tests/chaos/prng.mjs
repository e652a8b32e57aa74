// The chaos run's only source of randomness: a small seeded PRNG (sfc32, seeded through
// splitmix32), so a run is reproducible from its seed. Any seed works: an integer (any size,
// negative too) or a string is hashed to the generator's state. `fork(label)` gives an
// independent stream per concern (traffic, faults, operators), so adding a draw to one concern
// does not shift the others' choices. `hash32(...parts)` is a stateless draw for decisions that
// must not depend on the order things happen in (a downstream call's fault is decided by the
// call's identity, not by which call arrived first).

/** 32-bit FNV-1a over the parts' text, then mixed (splitmix32's finaliser). */
export function hash32(...parts) {
  let h = 0x811c9dc5;
  for (const ch of parts.map(String).join("\u0001")) {
    h ^= ch.charCodeAt(0);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return mix32(h);
}

function mix32(x) {
  x = (x + 0x9e3779b9) >>> 0;
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b) >>> 0;
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35) >>> 0;
  return (x ^ (x >>> 16)) >>> 0;
}

/** A uniform float in [0, 1) from the parts alone (no state). */
export function unit(...parts) {
  return hash32(...parts) / 2 ** 32;
}

/** The seed as text, whatever was given (so a seed prints and replays exactly as typed). */
export function seedText(seed) {
  return String(seed);
}

/** A generator seeded by `seed` (number or string). */
export function createRng(seed) {
  const text = seedText(seed);
  let a = hash32("a", text);
  let b = hash32("b", text);
  let c = hash32("c", text);
  let d = hash32("d", text) | 1;
  const next = () => {
    // sfc32
    const t = (((a + b) >>> 0) + d) >>> 0;
    d = (d + 1) >>> 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) >>> 0;
    c = ((c << 21) | (c >>> 11)) >>> 0;
    c = (c + t) >>> 0;
    return t / 2 ** 32;
  };
  for (let i = 0; i < 12; i++) next();
  const rng = {
    seed: text,
    /** Uniform in [0, 1). */
    next,
    /** An integer in [lo, hi] (both inclusive). */
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    /** True with probability p. */
    chance: (p) => next() < p,
    /** One element of a non-empty array. */
    pick: (list) => list[Math.floor(next() * list.length)],
    /** A key of `weights` ({name: weight}), drawn by weight. */
    weighted(weights) {
      const entries = Object.entries(weights).filter(([, w]) => w > 0);
      let roll = next() * entries.reduce((sum, [, w]) => sum + w, 0);
      for (const [name, w] of entries) {
        roll -= w;
        if (roll < 0) return name;
      }
      return entries[entries.length - 1][0];
    },
    /** A shuffled copy. */
    shuffle(list) {
      const out = [...list];
      for (let i = out.length - 1; i > 0; i--) {
        const j = Math.floor(next() * (i + 1));
        [out[i], out[j]] = [out[j], out[i]];
      }
      return out;
    },
    /** An independent stream for one concern. */
    fork: (label) => createRng(`${text}/${label}`),
  };
  return rng;
}
