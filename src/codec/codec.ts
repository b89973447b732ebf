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
import { bytesEqual } from '../bytes.ts';
import { CodecError } from './errors.ts';
import { Reader } from './reader.ts';
import type { Schema } from './schema.ts';

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
