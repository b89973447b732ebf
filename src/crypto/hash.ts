/** SHA-256, the one hash of medledger (block links, transaction ids, content ids). */
import { createHash } from 'node:crypto';
import { plainBytes } from '../bytes.ts';

export const SHA256_BYTES = 32;

/** SHA-256 of the concatenation of `parts`, fed part by part so nothing is copied. */
export function sha256(...parts: Uint8Array[]): Uint8Array {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part);
  return plainBytes(hash.digest());
}
