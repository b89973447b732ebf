/**
 * Bytes as every module handles them: lowercase hex (the form keys, hashes and ids take in JSON, logs
 * and file names), equality and order, and views between Buffer and plain Uint8Array that copy
 * nothing. Buffer is Node's, or the `buffer` package in the portal's bundle.
 */
import { MedledgerError } from './errors.ts';

/** A Buffer view over the same memory (no copy), for node:crypto calls and string conversion. */
export const asBuffer = (bytes: Uint8Array): Buffer =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

/** A plain Uint8Array view of the same memory (no copy): what modules hand out, as deep equality tells a Buffer apart. */
export const plainBytes = (bytes: Uint8Array): Uint8Array =>
  bytes.constructor === Uint8Array ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);

/** Bytes as lowercase hexadecimal. */
export const hex = (bytes: Uint8Array): string => asBuffer(bytes).toString('hex');

const HEX = /^(?:[0-9a-fA-F]{2})*$/;

/** The bytes an even number of hex digits spell, in memory of their own; throws BAD_HEX on anything else. */
export function fromHex(text: string): Uint8Array {
  if (!HEX.test(text)) {
    const bad = text.search(/[^0-9a-fA-F]/);
    throw new MedledgerError(
      'BAD_HEX',
      bad >= 0
        ? `not hex: character ${bad + 1} of ${text.length} is not a hex digit`
        : `not hex: ${text.length} digits, an odd number`,
    );
  }
  return new Uint8Array(Buffer.from(text, 'hex'));
}

/** Whether `a` and `b` hold the same bytes. */
export const bytesEqual = (a: Uint8Array, b: Uint8Array): boolean =>
  a.length === b.length && asBuffer(a).equals(b);

/** The bytes' lexicographic order (-1, 0 or 1), shorter first on a common prefix: a sort comparator. */
export const compareBytes = (a: Uint8Array, b: Uint8Array): number =>
  Buffer.compare(asBuffer(a), asBuffer(b));

/** The parts one after another, in a new plain Uint8Array. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
