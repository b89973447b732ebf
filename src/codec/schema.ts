/**
 * Schemas: the shape of every value that is hashed, signed or sent, written once and used both ways.
 *
 * A schema converts a typed value to its wire form (`toWire`: validate, turn structs into fixed-order
 * arrays, sort map entries) and back (`fromWire`: validate types, lengths and ranges, rebuild structs).
 * Both directions validate, so a value that cannot be decoded can never be encoded either.
 *
 * Allowed wire types are deliberately few: unsigned safe integers, booleans, nil, UTF-8 strings, byte
 * strings, arrays and maps. No floats, no negative numbers, no extension types, no object keys: structs
 * are arrays whose field order is fixed by the schema, so the encoding never depends on property order.
 */
import { CodecError } from './errors.ts';

export interface Schema<T> {
  /** A short description for error messages, e.g. `bytes[32]`. */
  readonly name: string;
  toWire(value: T, path: string): unknown;
  fromWire(wire: unknown, path: string): T;
}

export type Infer<S> = S extends Schema<infer T> ? T : never;

const utf8 = new TextEncoder();

function typeError(path: string, expected: string, got: unknown): CodecError {
  const actual =
    got === null ? 'nil' : got instanceof Uint8Array ? 'bytes' : Array.isArray(got) ? 'array' : typeof got;
  return new CodecError('CODEC_TYPE', `${path || 'value'}: expected ${expected}, got ${actual}`);
}

/** An unsigned integer in [0, max]; max defaults to 2^53 - 1 (the largest exact JS integer). */
export function uint(max: number = Number.MAX_SAFE_INTEGER): Schema<number> {
  const check = (value: unknown, path: string): number => {
    if (typeof value !== 'number' || !Number.isInteger(value))
      throw typeError(path, 'unsigned integer', value);
    if (value < 0 || value > max) {
      throw new CodecError('CODEC_RANGE', `${path || 'value'}: ${value} is outside [0, ${max}]`);
    }
    return value;
  };
  return { name: `uint<=${max}`, toWire: check, fromWire: check };
}

export const u8: Schema<number> = uint(0xff);
export const u32: Schema<number> = uint(0xffff_ffff);
export const u64: Schema<number> = uint();

export const bool: Schema<boolean> = {
  name: 'bool',
  toWire(value, path) {
    if (typeof value !== 'boolean') throw typeError(path, 'bool', value);
    return value;
  },
  fromWire(wire, path) {
    if (typeof wire !== 'boolean') throw typeError(path, 'bool', wire);
    return wire;
  },
};

function checkBytes(value: unknown, path: string, min: number, max: number): Uint8Array {
  if (!(value instanceof Uint8Array)) throw typeError(path, 'bytes', value);
  if (value.length < min || value.length > max) {
    const want = min === max ? `exactly ${min}` : `${min}..${max}`;
    throw new CodecError('CODEC_LENGTH', `${path || 'value'}: ${value.length} bytes, expected ${want}`);
  }
  return value;
}

/** msgpackr decodes byte strings as Buffers; hand out plain Uint8Array views so values compare equal. */
function plainBytes(value: Uint8Array): Uint8Array {
  return Buffer.isBuffer(value) ? new Uint8Array(value.buffer, value.byteOffset, value.length) : value;
}

/** A byte string of exactly `length` bytes (keys, hashes, signatures). */
export function bytes(length: number): Schema<Uint8Array> {
  return {
    name: `bytes[${length}]`,
    toWire: (value, path) => checkBytes(value, path, length, length),
    fromWire: (wire, path) => plainBytes(checkBytes(wire, path, length, length)),
  };
}

/** A byte string of at most `maxLength` bytes. */
export function varBytes(maxLength: number): Schema<Uint8Array> {
  return {
    name: `bytes[..${maxLength}]`,
    toWire: (value, path) => checkBytes(value, path, 0, maxLength),
    fromWire: (wire, path) => plainBytes(checkBytes(wire, path, 0, maxLength)),
  };
}

/** A well-formed UTF-8 string of at most `maxBytes` bytes once encoded. */
export function str(maxBytes: number): Schema<string> {
  const check = (value: unknown, path: string): string => {
    if (typeof value !== 'string') throw typeError(path, 'string', value);
    // A lone surrogate would be replaced by U+FFFD on encoding, so decode(encode(s)) !== s: refuse it.
    if (!value.isWellFormed())
      throw new CodecError('CODEC_TYPE', `${path || 'value'}: string is not well-formed`);
    // UTF-8 takes at most 3 bytes per UTF-16 code unit, so short strings skip the exact count.
    if (value.length * 3 > maxBytes && utf8.encode(value).length > maxBytes) {
      throw new CodecError('CODEC_LENGTH', `${path || 'value'}: string longer than ${maxBytes} bytes`);
    }
    return value;
  };
  return { name: `str[..${maxBytes}]`, toWire: check, fromWire: check };
}

/** One of a fixed set of strings. */
export function oneOf<const T extends string>(values: readonly T[]): Schema<T> {
  const allowed = new Set<string>(values);
  const check = (value: unknown, path: string): T => {
    if (typeof value !== 'string' || !allowed.has(value)) {
      throw new CodecError('CODEC_TYPE', `${path || 'value'}: expected one of ${values.join(', ')}`);
    }
    return value as T;
  };
  return { name: `oneOf(${values.join('|')})`, toWire: check, fromWire: check };
}

/** nil or a value. */
export function optional<T>(inner: Schema<T>): Schema<T | null> {
  return {
    name: `optional(${inner.name})`,
    toWire: (value, path) => (value === null ? null : inner.toWire(value, path)),
    fromWire: (wire, path) => (wire === null ? null : inner.fromWire(wire, path)),
  };
}

function checkArray(value: unknown, path: string, maxItems: number): unknown[] {
  if (!Array.isArray(value)) throw typeError(path, 'array', value);
  if (value.length > maxItems) {
    throw new CodecError(
      'CODEC_LENGTH',
      `${path || 'value'}: ${value.length} items, at most ${maxItems} allowed`,
    );
  }
  return value;
}

/** An array of at most `maxItems` values of one schema. */
export function list<T>(item: Schema<T>, maxItems: number): Schema<T[]> {
  return {
    name: `list(${item.name}, ..${maxItems})`,
    toWire: (value, path) =>
      checkArray(value, path, maxItems).map((v, i) => item.toWire(v as T, `${path}[${i}]`)),
    fromWire: (wire, path) =>
      checkArray(wire, path, maxItems).map((v, i) => item.fromWire(v, `${path}[${i}]`)),
  };
}

type Fields = Record<string, Schema<unknown>>;
export type StructOf<F extends Fields> = { [K in keyof F]: Infer<F[K]> };
export type StructSchema<F extends Fields> = Schema<StructOf<F>> & { readonly fields: F };

/** A record with named fields, on the wire an array in the fields' declared order. */
export function struct<F extends Fields>(name: string, fields: F): StructSchema<F> {
  const entries = Object.entries(fields);
  return {
    name,
    fields,
    toWire(value, path) {
      if (typeof value !== 'object' || value === null) throw typeError(path, name, value);
      const record = value as Record<string, unknown>;
      return entries.map(([key, schema]) => schema.toWire(record[key], path ? `${path}.${key}` : key));
    },
    fromWire(wire, path) {
      if (!Array.isArray(wire)) throw typeError(path, `${name} (array)`, wire);
      if (wire.length !== entries.length) {
        throw new CodecError(
          'CODEC_LENGTH',
          `${path || name}: ${wire.length} fields, ${name} has exactly ${entries.length}`,
        );
      }
      const out: Record<string, unknown> = {};
      entries.forEach(([key, schema], i) => {
        out[key] = schema.fromWire(wire[i], path ? `${path}.${key}` : key);
      });
      return out as StructOf<F>;
    },
  };
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(a, b);
}

function keyBytes(key: string | Uint8Array): Uint8Array {
  return typeof key === 'string' ? utf8.encode(key) : key;
}

/**
 * A map with string or byte-string keys and at most `maxEntries` entries, on the wire a msgpack map
 * whose entries are sorted by the keys' bytes. Decoding refuses duplicate keys.
 */
export function map<K extends string | Uint8Array, V>(
  key: Schema<K>,
  value: Schema<V>,
  maxEntries: number,
): Schema<Map<K, V>> {
  const name = `map(${key.name}, ${value.name}, ..${maxEntries})`;
  const checkSize = (size: number, path: string) => {
    if (size > maxEntries) {
      throw new CodecError(
        'CODEC_LENGTH',
        `${path || 'value'}: ${size} entries, at most ${maxEntries} allowed`,
      );
    }
  };
  return {
    name,
    toWire(input, path) {
      if (!(input instanceof Map)) throw typeError(path, 'map', input);
      checkSize(input.size, path);
      const entries = [...input].map(([k, v]) => {
        const wireKey = key.toWire(k, `${path}<key>`) as K;
        return [wireKey, value.toWire(v, `${path}[${String(k)}]`)] as const;
      });
      entries.sort((a, b) => compareBytes(keyBytes(a[0]), keyBytes(b[0])));
      for (let i = 1; i < entries.length; i++) {
        if (compareBytes(keyBytes(entries[i - 1]![0]), keyBytes(entries[i]![0])) === 0) {
          throw new CodecError('CODEC_NON_CANONICAL', `${path || 'value'}: duplicate map key`);
        }
      }
      return new Map(entries);
    },
    fromWire(wire, path) {
      if (!(wire instanceof Map)) throw typeError(path, 'map', wire);
      checkSize(wire.size, path);
      const out = new Map<K, V>();
      for (const [k, v] of wire) {
        const typedKey = key.fromWire(k, `${path}<key>`);
        out.set(typedKey, value.fromWire(v, `${path}[${String(typedKey)}]`));
      }
      return out;
    },
  };
}

type Variants = Record<string, Schema<object>>;
export type UnionOf<V extends Variants> = { [K in keyof V]: { kind: K } & Infer<V[K]> }[keyof V];

/**
 * A tagged union: on the wire `[kind, variant]`, where kind names one of the variants. The decoded
 * value is the variant's value with a `kind` field added.
 */
export function union<V extends Variants>(name: string, variants: V): Schema<UnionOf<V>> {
  return {
    name,
    toWire(value, path) {
      const kind = (value as { kind?: unknown })?.kind;
      const variant = typeof kind === 'string' && Object.hasOwn(variants, kind) ? variants[kind] : undefined;
      if (!variant) throw new CodecError('CODEC_TYPE', `${path || name}: unknown kind ${String(kind)}`);
      return [kind, variant.toWire(value, path)];
    },
    fromWire(wire, path) {
      if (!Array.isArray(wire) || wire.length !== 2) throw typeError(path, `${name} ([kind, value])`, wire);
      const [kind, inner] = wire as [unknown, unknown];
      const variant = typeof kind === 'string' && Object.hasOwn(variants, kind) ? variants[kind] : undefined;
      if (!variant) throw new CodecError('CODEC_TYPE', `${path || name}: unknown kind ${String(kind)}`);
      return { kind, ...variant.fromWire(inner, path) } as UnionOf<V>;
    },
  };
}
