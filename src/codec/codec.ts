/**
 * The canonical byte encoding: msgpack (packed by msgpackr) of a schema's wire form.
 *
 * Canonical means one value has exactly one byte form. Decoding reads the bytes with the schema's
 * strict, bounded reader (reader.ts), then enforces canonicity the simplest way that cannot drift:
 * the value is encoded again and must reproduce the input byte for byte. That one comparison rejects
 * non-minimal integer encodings, floats posing as small integers, unsorted or duplicate map keys, and
 * any future msgpack quirk.
 *
 * Integers: msgpackr packs integers below 2^32 in the smallest integer form and larger ones (up to
 * 2^53 - 1, e.g. millisecond timestamps) as float64. That is the canonical form here; another
 * implementation of the format must do the same.
 *
 * The byte form is part of the protocol (hashes and signatures cover it), so msgpackr is pinned and
 * test/codec.test.ts holds golden vectors that fail if an upgrade changes a single byte.
 */
import { Packr } from 'msgpackr';
import { bytesEqual, concatBytes } from '../bytes.ts';
import { CodecError } from './errors.ts';
import { Reader } from './reader.ts';
import type { ListSchema, Schema } from './schema.ts';

/** Default upper bound on any decoded value; protocols set tighter bounds per message type. */
export const DEFAULT_MAX_BYTES = 16 * 1024 * 1024;

const packr = new Packr({
  useRecords: false, // plain msgpack: no msgpackr record extension
  structuredClone: false, // no reference or cycle extensions
  variableMapSize: true, // smallest map header, so the form is minimal and independent of options
});

export function encode<T>(schema: Schema<T>, value: T): Uint8Array {
  return packr.pack(schema.toWire(value, ''));
}

export function decode<T>(schema: Schema<T>, input: Uint8Array, maxBytes: number = DEFAULT_MAX_BYTES): T {
  if (!(input instanceof Uint8Array)) throw new CodecError('CODEC_TYPE', 'input is not a byte array');
  if (input.length > maxBytes) {
    throw new CodecError(
      'CODEC_TOO_LARGE',
      `${schema.name}: ${input.length} bytes exceeds the limit of ${maxBytes}`,
    );
  }
  if (input.length === 0) throw new CodecError('CODEC_MALFORMED', `${schema.name}: empty input`);
  const reader = new Reader(input);
  const value = schema.read(reader, '');
  reader.done();
  let canonical: Uint8Array;
  try {
    canonical = packr.pack(schema.toWire(value, ''));
  } catch (error) {
    if (error instanceof CodecError) throw error;
    throw new CodecError('CODEC_MALFORMED', `${schema.name}: cannot be re-encoded`, { cause: error });
  }
  if (!bytesEqual(canonical, input)) {
    throw new CodecError('CODEC_NON_CANONICAL', `${schema.name}: bytes are not the canonical encoding`);
  }
  return value;
}

/** The number of items in a list's canonical encoding, read from its header alone. */
export function listLength<T>(schema: ListSchema<T>, encoded: Uint8Array): number {
  return new Reader(encoded).array(schema.name, schema.maxItems);
}

/**
 * The canonical encoding of a list with `items` appended, made from the list's canonical encoding
 * without decoding it: a msgpack array is its length header followed by its items' encodings, each
 * the same bytes as the item encoded alone. So a list that grows one item at a time (a patient's
 * policies for one grantee) costs the new item each time, not the whole list. `encoded` must be
 * canonical (state values are: only `encode` writes them); the result is exactly
 * `encode(schema, [...decode(schema, encoded), ...items])`, which test/codec.test.ts checks.
 */
export function encodeAppended<T>(
  schema: ListSchema<T>,
  encoded: Uint8Array,
  items: readonly T[],
): Uint8Array {
  const reader = new Reader(encoded);
  const length = reader.array(schema.name, schema.maxItems) + items.length;
  if (length > schema.maxItems) {
    throw new CodecError(
      'CODEC_LENGTH',
      `${schema.name}: ${length} items, at most ${schema.maxItems} allowed`,
    );
  }
  const tail = items.map((item, i) => packr.pack(schema.item.toWire(item, `[${length - items.length + i}]`)));
  return concatBytes([arrayHeader(length), encoded.subarray(reader.position), ...tail]);
}

/** The smallest msgpack array header for `length` items (fixarray, array 16, array 32), as msgpackr writes it. */
function arrayHeader(length: number): Uint8Array {
  if (length < 16) return Uint8Array.of(0x90 | length);
  if (length < 0x10000) return Uint8Array.of(0xdc, length >>> 8, length & 0xff);
  return Uint8Array.of(0xdd, length >>> 24, (length >>> 16) & 0xff, (length >>> 8) & 0xff, length & 0xff);
}
