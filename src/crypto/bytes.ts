/** Byte checks of the crypto module: lengths that fail with a typed error, raw keys out of DER exports. */
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

/** Copies the raw key out of a DER export into its own memory and wipes the export. */
export function rawKeyFromDer(der: Uint8Array, prefixBytes: number): Uint8Array {
  const raw = new Uint8Array(der.subarray(prefixBytes));
  der.fill(0);
  return raw;
}
