/** Small byte helpers shared by the crypto module: length checks that fail with a typed error. */
import { MedledgerError } from '../errors.ts';

/** Throws `code` unless `bytes` is exactly `expectedBytes` long; `what` names the value in the message. */
export function expectLength(bytes: Uint8Array, expectedBytes: number, what: string, code: string): void {
  if (!(bytes instanceof Uint8Array)) {
    throw new MedledgerError(code, `${what} must be a Uint8Array of ${expectedBytes} bytes.`);
  }
  if (bytes.length !== expectedBytes) {
    throw new MedledgerError(
      code,
      `${what} must be ${expectedBytes} bytes long, but it is ${bytes.length} bytes.`,
    );
  }
}

/** A Buffer view over the same memory (no copy), for node:crypto calls and string conversion. */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * A plain Uint8Array view of a Buffer (no copy). Everything the module returns is a plain
 * Uint8Array, so callers never see a mix of Buffer and Uint8Array (deep equality tells them apart).
 */
export function plainBytes(buffer: Uint8Array): Uint8Array {
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

/** Copies the raw key out of a DER export into its own memory and wipes the export. */
export function rawKeyFromDer(der: Uint8Array, prefixBytes: number): Uint8Array {
  const raw = new Uint8Array(der.subarray(prefixBytes));
  der.fill(0);
  return raw;
}
