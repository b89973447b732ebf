/**
 * Ed25519's sizes and the check of a public key that must not be trusted, in plain code (no
 * node:crypto): shared by crypto/ed25519.ts and the web portal's stand-in for it.
 */
import { ED25519_TORSION_SUBGROUP, ed25519 } from '@noble/curves/ed25519.js';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';

export const ED25519_PUBLIC_KEY_BYTES = 32;
export const ED25519_SECRET_KEY_BYTES = 32;
export const ED25519_SIGNATURE_BYTES = 64;

/** `secretKey` is the 32-byte RFC 8032 seed, not the 64-byte "expanded" form some libraries use. */
export interface SigningKeyPair {
  publicKey: Uint8Array;
  secretKey: Uint8Array;
}

// The encodings of the eight small-order points (the torsion subgroup), plus the non-canonical
// encodings p and p+1 of y = 0 and y = 1, with the sign bit cleared (as libsodium's blocklist does):
// a public key matching one, whatever its sign bit, has small order.
const SMALL_ORDER = new Set<string>(
  [
    ...ED25519_TORSION_SUBGROUP,
    'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
    'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  ].map((encoding) => withoutSignBit(hexToBytes(encoding))),
);

function withoutSignBit(key: Uint8Array): string {
  const copy = Uint8Array.from(key);
  copy[31] = copy[31]! & 0x7f;
  return bytesToHex(copy);
}

/**
 * True for 32 bytes that are not a usable Ed25519 public key because the point has small order.
 * OpenSSL accepts such keys, and for them a signature can be forged for any message without a
 * secret key. (Bytes that are not a curve point at all are harmless: no signature verifies.)
 */
export function isWeakSigningKey(publicKey: Uint8Array): boolean {
  return publicKey.length !== ED25519_PUBLIC_KEY_BYTES || SMALL_ORDER.has(withoutSignBit(publicKey));
}

/** True when the bytes decode to a curve point of large order: what a genesis file must contain. */
export function isValidSigningKey(publicKey: Uint8Array): boolean {
  if (isWeakSigningKey(publicKey)) return false;
  try {
    return !ed25519.Point.fromBytes(publicKey).isSmallOrder();
  } catch {
    return false;
  }
}
