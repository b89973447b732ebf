/**
 * Mangling: a message changed at one random place into another that still encodes under its schema,
 * so that it decodes on arrival and reaches the receiver's handlers. A number becomes an edge value (0,
 * one off, the validator count, 2^32 - 1, 2^53 - 1); bytes get a bit flipped, are emptied, cut or
 * lengthened; a list is emptied, loses an item or repeats one; a boolean flips. The `mangle`
 * Byzantine behaviour sends such copies of consensus messages: a replica must refuse or ignore them
 * and never throw, since in the daemon a throw from the core stops the node, and no peer may stop a
 * node. The node tests send such copies of every peer protocol's requests to validator processes.
 */
import { decode, encode, type Schema } from '../codec/index.ts';
import type { Prng } from '../prng.ts';

/** Tries this many random changes for one that still encodes. */
const ATTEMPTS = 8;

type Slot = { holder: Record<string | number, unknown>; key: string | number; value: unknown };

/**
 * A copy of `message` changed at one place, decoded from its bytes as a receiver would; null if no
 * change tried still encodes. `validators` is the validator count, an edge value for numbers.
 */
export function mangle<T extends object>(
  schema: Schema<T>,
  message: T,
  validators: number,
  prng: Prng,
): T | null {
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const copy = structuredClone(message);
    const slots = slotsOf(copy);
    if (slots.length === 0) return null;
    const slot = prng.pick(slots);
    const changed = changeValue(slot.value, validators, prng);
    if (changed === undefined) continue;
    slot.holder[slot.key] = changed;
    try {
      return decode(schema, encode(schema, copy));
    } catch {
      // Not a valid message any more (a fixed length broken, a bound passed): try another change.
    }
  }
  return null;
}

/** Every place in the message a value sits, but a union's kind (another kind's fields would never encode). */
function slotsOf(root: object): Slot[] {
  const slots: Slot[] = [];
  const walk = (holder: Record<string | number, unknown>) => {
    for (const key of Object.keys(holder)) {
      if (holder === root && key === 'kind') continue;
      const value = holder[key];
      slots.push({ holder, key: Array.isArray(holder) ? Number(key) : key, value });
      if (value !== null && typeof value === 'object' && !(value instanceof Uint8Array))
        walk(value as Record<string | number, unknown>);
    }
  };
  walk(root as Record<string, unknown>);
  return slots;
}

function changeValue(value: unknown, validators: number, prng: Prng): unknown {
  if (typeof value === 'number') {
    const edges = [
      0,
      1,
      value - 1,
      value + 1,
      validators,
      validators + 1,
      0xffff_ffff,
      Number.MAX_SAFE_INTEGER,
    ];
    return prng.pick(edges.filter((edge) => edge >= 0 && edge !== value));
  }
  if (typeof value === 'boolean') return !value;
  if (value instanceof Uint8Array) return changeBytes(value, prng);
  if (Array.isArray(value)) return changeList(value, prng);
  return undefined;
}

function changeBytes(bytes: Uint8Array, prng: Prng): Uint8Array {
  switch (prng.int(4)) {
    case 0: {
      const out = new Uint8Array(bytes.length > 0 ? bytes : new Uint8Array(1));
      const at = prng.int(out.length);
      out[at] = out[at]! ^ (1 << prng.int(8));
      return out;
    }
    case 1:
      return new Uint8Array(0);
    case 2:
      return bytes.slice(0, prng.int(Math.max(1, bytes.length)));
    default:
      return Uint8Array.from([...bytes, prng.int(256)]);
  }
}

function changeList(items: readonly unknown[], prng: Prng): unknown[] {
  if (items.length === 0) return items.slice();
  switch (prng.int(3)) {
    case 0:
      return [];
    case 1: {
      const drop = prng.int(items.length);
      return items.filter((_, i) => i !== drop);
    }
    default: {
      const at = prng.int(items.length);
      return [...items.slice(0, at + 1), items[at], ...items.slice(at + 1)];
    }
  }
}
