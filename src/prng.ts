/**
 * A seeded pseudo-random number generator: sfc32 (Chris Doty-Humphrey's Small Fast Counting
 * generator, 128 bits of state), seeded through splitmix32 from a 32-bit seed.
 *
 * Every random choice of the simulator comes from one of these, so a seed fixes a run completely;
 * so does every decision of a validator's fault-injecting link (node/faulty-link.ts).
 * Independent child streams (`derive(label)`) depend only on the parent's seed and the label, never
 * on how much of the parent has been consumed: adding a draw to one subsystem (say, the network)
 * leaves every other subsystem's choices unchanged.
 */

const UINT32 = 0x1_0000_0000;

/** splitmix32: a good 32-bit mixer, used to expand a seed into sfc32's state. */
function splitmix32(state: { x: number }): number {
  state.x = (state.x + 0x9e3779b9) | 0;
  let z = state.x;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/** FNV-1a over a label's UTF-16 code units, to turn a stream name into 32 bits. */
function hashLabel(label: string | number): number {
  const text = String(label);
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export class Prng {
  /** The seed this stream was created from (children derive from it). */
  readonly seed: number;
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  constructor(seed: number) {
    if (!Number.isInteger(seed) || seed < 0 || seed >= UINT32) {
      throw new RangeError(`PRNG seed must be an integer in [0, 2^32), got ${seed}`);
    }
    this.seed = seed;
    const mix = { x: seed };
    this.#a = splitmix32(mix);
    this.#b = splitmix32(mix);
    this.#c = splitmix32(mix);
    this.#d = splitmix32(mix);
    // Discard the first outputs, as the sfc32 authors recommend, so nearby seeds diverge fully.
    for (let i = 0; i < 12; i++) this.next();
  }

  /** An independent stream named `label`, a function of this stream's seed and the label only. */
  derive(label: string | number): Prng {
    const mix = { x: (this.seed ^ Math.imul(hashLabel(label), 0x9e3779b1)) >>> 0 };
    return new Prng(splitmix32(mix));
  }

  /** The next 32-bit unsigned integer. */
  next(): number {
    const t = (((this.#a + this.#b) | 0) + this.#d) | 0;
    this.#d = (this.#d + 1) | 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) | 0;
    this.#c = (this.#c << 21) | (this.#c >>> 11);
    this.#c = (this.#c + t) | 0;
    return t >>> 0;
  }

  /** A float in [0, 1) with 32 bits of randomness. */
  float(): number {
    return this.next() / UINT32;
  }

  /** An integer in [0, max), uniform (rejection sampling, no modulo bias). */
  int(max: number): number {
    if (!Number.isInteger(max) || max <= 0 || max > UINT32) {
      throw new RangeError(`int(max) needs an integer max in [1, 2^32], got ${max}`);
    }
    const limit = UINT32 - (UINT32 % max);
    for (;;) {
      const x = this.next();
      if (x < limit) return x % max;
    }
  }

  /** An integer in [min, max], both inclusive. */
  intBetween(min: number, max: number): number {
    if (max < min) throw new RangeError(`intBetween: max ${max} < min ${min}`);
    return min + this.int(max - min + 1);
  }

  /** A float in [min, max). */
  between(min: number, max: number): number {
    return min + (max - min) * this.float();
  }

  /** True with probability p. */
  chance(p: number): boolean {
    if (p <= 0) return false;
    if (p >= 1) return true;
    return this.float() < p;
  }

  /** One element of a non-empty array, uniformly. */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('pick from an empty array');
    return items[this.int(items.length)]!;
  }

  /** A shuffled copy (Fisher-Yates). */
  shuffle<T>(items: readonly T[]): T[] {
    const out = [...items];
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [out[i], out[j]] = [out[j]!, out[i]!];
    }
    return out;
  }

  /** A Pareto-distributed value >= scale with tail index alpha (heavier tail for smaller alpha). */
  pareto(scale: number, alpha: number): number {
    const u = 1 - this.float(); // (0, 1]
    return scale / u ** (1 / alpha);
  }

  /** `length` random bytes. */
  bytes(length: number): Uint8Array {
    const out = new Uint8Array(length);
    for (let i = 0; i < length; i += 4) {
      const x = this.next();
      for (let j = 0; j < 4 && i + j < length; j++) out[i + j] = (x >>> (8 * j)) & 0xff;
    }
    return out;
  }
}
