/**
 * Schemas: the shape of every value that is hashed, signed or sent, written once and used both ways.
 *
 * A schema validates a typed value and converts it to its wire form for the packer (`toWire`: structs
 * become fixed-order arrays, map entries are sorted), and reads it back from bytes token by token
 * (`read`, through the strict Reader: types, lengths and ranges are checked before anything is built).
 * Both directions validate, so a value that cannot be decoded can never be encoded either.
 *
 * Allowed wire types are deliberately few: unsigned safe integers, booleans, nil, UTF-8 strings, byte
 * strings, arrays and maps. No negative numbers, no extension types, no object keys: structs are
 * arrays whose field order is fixed by the schema, so the encoding never depends on property order.
 */
import { compareBytes } from '../bytes.ts';
import { CodecError } from './errors.ts';
import type { Reader } from './reader.ts';

export interface Schema<T> {
  /** A short description for error messages, e.g. `bytes[32]`. */
  readonly name: string;
  toWire(value: T, path: string): unknown;
  read(reader: Reader, path: string): T;
}

export type Infer<S> = S extends Schema<infer T> ? T : never;

const utf8 = new TextEncoder();

function typeError(path: string, expected: string, got: unknown): CodecError {
  const actual =
    got === null ? 'nil' : got instanceof Uint8Array ? 'bytes' : Array.isArray(got) ? 'array' : typeof got;
  return new CodecError('CODEC_TYPE', `${path || 'value'}: expected ${expected}, got ${actual}`);
}

const at = (path: string, key: string | number) =>
  typeof key === 'number' ? `${path}[${key}]` : path ? `${path}.${key}` : key;

/** An unsigned integer in [0, max]; max defaults to 2^53 - 1 (the largest exact JS integer). */
export function uint(max: number = Number.MAX_SAFE_INTEGER): Schema<number> {
  const inRange = (value: number, path: string): number => {
    if (value > max)
      throw new CodecError('CODEC_RANGE', `${path || 'value'}: ${value} is outside [0, ${max}]`);
    return value;
  };
  return {
    name: `uint<=${max}`,
    toWire(value, path) {
      if (typeof value !== 'number' || !Number.isInteger(value))
        throw typeError(path, 'unsigned integer', value);
      if (value < 0) throw new CodecError('CODEC_RANGE', `${path || 'value'}: ${value} is negative`);
      return inRange(value, path);
    },
    read: (reader, path) => inRange(reader.uint(path), path),
  };
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
  read: (reader, path) => reader.bool(path),
};

function checkBytes(value: unknown, path: string, min: number, max: number): Uint8Array {
  if (!(value instanceof Uint8Array)) throw typeError(path, 'bytes', value);
  if (value.length < min || value.length > max) {
    const want = min === max ? `exactly ${min}` : `${min}..${max}`;
    throw new CodecError('CODEC_LENGTH', `${path || 'value'}: ${value.length} bytes, expected ${want}`);
  }
  return value;
}

function byteString(name: string, min: number, max: number): Schema<Uint8Array> {
  return {
    name,
    toWire: (value, path) => checkBytes(value, path, min, max),
    read: (reader, path) => checkBytes(reader.bin(path, max), path, min, max),
  };
}

/** A byte string of exactly `length` bytes (keys, hashes, signatures). */
export function bytes(length: number): Schema<Uint8Array> {
  return byteString(`bytes[${length}]`, length, length);
}

/** A byte string of at most `maxLength` bytes. */
export function varBytes(maxLength: number): Schema<Uint8Array> {
  return byteString(`bytes[..${maxLength}]`, 0, maxLength);
}

/** A well-formed UTF-8 string of at most `maxBytes` bytes once encoded. */
export function str(maxBytes: number): Schema<string> {
  return {
    name: `str[..${maxBytes}]`,
    toWire(value, path) {
      if (typeof value !== 'string') throw typeError(path, 'string', value);
      // A lone surrogate would be replaced by U+FFFD on encoding, so decode(encode(s)) !== s: refuse it.
      if (!value.isWellFormed())
        throw new CodecError('CODEC_TYPE', `${path || 'value'}: string is not well-formed`);
      // UTF-8 takes at most 3 bytes per UTF-16 code unit, so short strings skip the exact count.
      if (value.length * 3 > maxBytes && utf8Length(value) > maxBytes) {
        throw new CodecError('CODEC_LENGTH', `${path || 'value'}: string longer than ${maxBytes} bytes`);
      }
      return value;
    },
    read: (reader, path) => reader.str(path, maxBytes),
  };
}

/** The length of a well-formed string's UTF-8 encoding, counted without encoding it. */
function utf8Length(value: string): number {
  let bytes = 0;
  for (let i = 0; i < value.length; i++) {
    const unit = value.charCodeAt(i);
    if (unit < 0x80) bytes += 1;
    else if (unit < 0x800) bytes += 2;
    else if (unit >= 0xd800 && unit <= 0xdbff) {
      bytes += 4; // a surrogate pair: one code point above U+FFFF
      i++;
    } else bytes += 3;
  }
  return bytes;
}

/** One of a fixed set of strings. */
export function oneOf<const T extends string>(values: readonly T[]): Schema<T> {
  const allowed = new Set<string>(values);
  const longest = Math.max(...values.map((v) => utf8.encode(v).length));
  const check = (value: unknown, path: string): T => {
    if (typeof value !== 'string' || !allowed.has(value)) {
      throw new CodecError('CODEC_TYPE', `${path || 'value'}: expected one of ${values.join(', ')}`);
    }
    return value as T;
  };
  return {
    name: `oneOf(${values.join('|')})`,
    toWire: check,
    read: (reader, path) => check(reader.str(path, longest), path),
  };
}

/** nil or a value. */
export function optional<T>(inner: Schema<T>): Schema<T | null> {
  return {
    name: `optional(${inner.name})`,
    toWire: (value, path) => (value === null ? null : inner.toWire(value, path)),
    read: (reader, path) => (reader.nil() ? null : inner.read(reader, path)),
  };
}

/** A list schema keeps its item schema and bound, so a list's encoding can grow (`encodeAppended`). */
export type ListSchema<T> = Schema<T[]> & { readonly item: Schema<T>; readonly maxItems: number };

/** An array of at most `maxItems` values of one schema. */
export function list<T>(item: Schema<T>, maxItems: number): ListSchema<T> {
  return {
    name: `list(${item.name}, ..${maxItems})`,
    item,
    maxItems,
    toWire(value, path) {
      if (!Array.isArray(value)) throw typeError(path, 'array', value);
      if (value.length > maxItems) {
        throw new CodecError(
          'CODEC_LENGTH',
          `${path || 'value'}: ${value.length} items, at most ${maxItems} allowed`,
        );
      }
      return value.map((v, i) => item.toWire(v as T, at(path, i)));
    },
    read(reader, path) {
      const length = reader.array(path, maxItems);
      const out: T[] = new Array(length);
      for (let i = 0; i < length; i++) out[i] = item.read(reader, at(path, i));
      return out;
    },
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
      return entries.map(([key, schema]) => schema.toWire(record[key], at(path, key)));
    },
    read(reader, path) {
      const length = reader.array(path || name, Number.MAX_SAFE_INTEGER);
      if (length !== entries.length) {
        throw new CodecError(
          'CODEC_LENGTH',
          `${path || name}: ${length} fields, ${name} has exactly ${entries.length}`,
        );
      }
      const out: Record<string, unknown> = {};
      for (const [key, schema] of entries) out[key] = schema.read(reader, at(path, key));
      return out as StructOf<F>;
    },
  };
}

/**
 * `schema`, handing each value it reads to `received` with a copy of the bytes it was read from, so
 * that what hashes or signs a received value can use them instead of encoding it again. They are
 * the value's canonical encoding once decode() returns: decode() checks that the whole input is
 * canonical, and a value's bytes within a canonical encoding are its own canonical encoding. Before
 * that check `received` runs on values a failed decode discards, so it may only remember the bytes
 * for the value itself.
 */
export function withReceivedBytes<S extends Schema<object>>(
  schema: S,
  received: (value: Infer<S>, bytes: Uint8Array) => void,
): S {
  return {
    ...schema,
    read(reader: Reader, path: string) {
      const start = reader.position;
      const value = schema.read(reader, path) as Infer<S>;
      received(value, reader.copy(start, reader.position));
      return value;
    },
  };
}

/** UTF-8 of string map keys: a small vocabulary (attribute names) encoded again and again. */
const keyCache = new Map<string, Uint8Array>();
const KEY_CACHE_ENTRIES = 1024;

function keyBytes(key: string | Uint8Array): Uint8Array {
  if (typeof key !== 'string') return key;
  let bytes = keyCache.get(key);
  if (!bytes) {
    bytes = utf8.encode(key);
    if (keyCache.size >= KEY_CACHE_ENTRIES) keyCache.clear();
    keyCache.set(key, bytes);
  }
  return bytes;
}

/**
 * A map with string or byte-string keys and at most `maxEntries` entries, on the wire a msgpack map
 * whose entries are sorted by the keys' bytes. Duplicate or unsorted keys fail the canonical check.
 */
export function map<K extends string | Uint8Array, V>(
  key: Schema<K>,
  value: Schema<V>,
  maxEntries: number,
): Schema<Map<K, V>> {
  return {
    name: `map(${key.name}, ${value.name}, ..${maxEntries})`,
    toWire(input, path) {
      if (!(input instanceof Map)) throw typeError(path, 'map', input);
      if (input.size > maxEntries) {
        throw new CodecError(
          'CODEC_LENGTH',
          `${path || 'value'}: ${input.size} entries, at most ${maxEntries} allowed`,
        );
      }
      // Each key's bytes once: sorting compares them O(n log n) times.
      const entries = [...input].map(([k, v]) => {
        const wireKey = key.toWire(k, `${path}<key>`) as K;
        return { wireKey, bytes: keyBytes(wireKey), wire: value.toWire(v, at(path, String(k))) };
      });
      entries.sort((a, b) => compareBytes(a.bytes, b.bytes));
      for (let i = 1; i < entries.length; i++) {
        if (compareBytes(entries[i - 1]!.bytes, entries[i]!.bytes) === 0) {
          throw new CodecError('CODEC_NON_CANONICAL', `${path || 'value'}: duplicate map key`);
        }
      }
      return new Map(entries.map((entry) => [entry.wireKey, entry.wire]));
    },
    read(reader, path) {
      const size = reader.map(path, maxEntries);
      const out = new Map<K, V>();
      for (let i = 0; i < size; i++) {
        const k = key.read(reader, `${path}<key>`);
        out.set(k, value.read(reader, at(path, String(k))));
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
  const kinds = Object.keys(variants);
  const longestKind = Math.max(...kinds.map((k) => utf8.encode(k).length));
  const variantOf = (kind: unknown, path: string): Schema<object> => {
    const variant = typeof kind === 'string' && Object.hasOwn(variants, kind) ? variants[kind] : undefined;
    if (!variant) throw new CodecError('CODEC_TYPE', `${path || name}: unknown kind ${String(kind)}`);
    return variant;
  };
  return {
    name,
    toWire(value, path) {
      const kind = (value as { kind?: unknown })?.kind;
      return [kind, variantOf(kind, path).toWire(value, path)];
    },
    read(reader, path) {
      const length = reader.array(path || name, 2);
      if (length !== 2) throw new CodecError('CODEC_LENGTH', `${path || name}: expected [kind, value]`);
      const kind = reader.str(path, longestKind);
      return { kind, ...variantOf(kind, path).read(reader, path) } as UnionOf<V>;
    },
  };
}
