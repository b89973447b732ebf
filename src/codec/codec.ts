/**
 * The canonical byte encoding: msgpack (via msgpackr) of a schema's wire form.
 *
 * Canonical means one value has exactly one byte form. Decoding enforces it the simplest way that
 * cannot drift: after parsing and validating, the value is encoded again and must reproduce the input
 * byte for byte. That one comparison rejects trailing bytes, non-minimal integer encodings, floats
 * posing as integers, invalid UTF-8, unsorted or duplicate map keys, and any future msgpack quirk.
 *
 * The byte form is part of the protocol (hashes and signatures cover it), so msgpackr is pinned and
 * test/codec.test.ts holds golden vectors that fail if an upgrade changes a single byte.
 */
import { Packr } from 'msgpackr';
import { CodecError } from './errors.ts';
import type { Schema } from './schema.ts';

/** Default upper bound on any decoded value; protocols set tighter bounds per message type. */
export const DEFAULT_MAX_BYTES = 16 * 1024 * 1024;

const packr = new Packr({
  useRecords: false, // plain msgpack: no msgpackr record extension
  mapsAsObjects: false, // maps decode to Map, never to objects with prototype-sensitive keys
  variableMapSize: true, // smallest map header, so the form is minimal and independent of options
  copyBuffers: true, // decoded byte strings own their memory; mutating the input cannot change them
  int64AsType: 'number', // our integers are safe integers; anything larger fails the re-encode check
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
  let wire: unknown;
  try {
    wire = packr.unpack(input);
  } catch (error) {
    // msgpackr throws plain Errors (and RangeError on absurd nesting); all mean "not a msgpack value".
    throw new CodecError('CODEC_MALFORMED', `${schema.name}: not a single msgpack value`, { cause: error });
  }
  const value = schema.fromWire(wire, '');
  const canonical = packr.pack(schema.toWire(value, ''));
  if (!bytesEqual(canonical, input)) {
    throw new CodecError('CODEC_NON_CANONICAL', `${schema.name}: bytes are not the canonical encoding`);
  }
  return value;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}
