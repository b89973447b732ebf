/**
 * The portal's stand-in for src/crypto/x25519.ts: the same exports and results (RFC 7748 X25519 with
 * raw 32-byte keys, low-order public keys refused) on @noble/curves instead of node:crypto.
 */
import { x25519 } from '@noble/curves/ed25519.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { expectLength } from '../../crypto/bytes.ts';
import { MedledgerError } from '../../errors.ts';

export const X25519_KEY_BYTES = 32;

export interface EncryptionKeyPair {
  publicKey: Uint8Array;
  secretKey: Uint8Array;
}

function checkSecretKey(secretKey: Uint8Array): void {
  expectLength(secretKey, X25519_KEY_BYTES, 'An X25519 secret key', 'CRYPTO_KEY_LENGTH');
}

function lowOrder(): MedledgerError {
  return new MedledgerError('CRYPTO_BAD_PUBLIC_KEY', 'The X25519 public key is invalid (low order).');
}

export function generateEncryptionKeyPair(): EncryptionKeyPair {
  const { secretKey, publicKey } = x25519.keygen();
  return { publicKey, secretKey };
}

export function encryptionPublicKeyFrom(secretKey: Uint8Array): Uint8Array {
  checkSecretKey(secretKey);
  return x25519.getPublicKey(secretKey);
}

/** The 32-byte shared secret; a low-order public key (an all-zero secret) is CRYPTO_BAD_PUBLIC_KEY. */
export function x25519SharedSecret(secretKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
  checkSecretKey(secretKey);
  expectLength(publicKey, X25519_KEY_BYTES, 'An X25519 public key', 'CRYPTO_KEY_LENGTH');
  let shared: Uint8Array;
  try {
    shared = x25519.getSharedSecret(secretKey, publicKey);
  } catch {
    throw lowOrder(); // @noble/curves refuses an all-zero result itself
  }
  if (shared.every((byte) => byte === 0)) throw lowOrder();
  return shared;
}

// The same blocklist as src/crypto/x25519.ts (libsodium's `has_small_order`), top bit ignored.
const LOW_ORDER_POINTS = new Set([
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
  '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
]);

export function isWeakEncryptionKey(publicKey: Uint8Array): boolean {
  if (publicKey.length !== X25519_KEY_BYTES) return true;
  const masked = Uint8Array.from(publicKey);
  masked[31]! &= 0x7f;
  return LOW_ORDER_POINTS.has(bytesToHex(masked));
}
