/**
 * The portal's stand-in for src/crypto/ed25519.ts: the same exports and results (RFC 8032 Ed25519
 * with raw 32-byte keys) on @noble/curves instead of node:crypto. Verification follows RFC 8032
 * strictly (no ZIP-215 leniency), as OpenSSL does, and refuses small-order public keys first.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { expectLength } from '../../crypto/bytes.ts';
import {
  ED25519_PUBLIC_KEY_BYTES,
  ED25519_SECRET_KEY_BYTES,
  ED25519_SIGNATURE_BYTES,
  isWeakSigningKey,
  type SigningKeyPair,
} from '../../crypto/ed25519-keys.ts';

export {
  ED25519_PUBLIC_KEY_BYTES,
  ED25519_SECRET_KEY_BYTES,
  ED25519_SIGNATURE_BYTES,
  isValidSigningKey,
  isWeakSigningKey,
  type SigningKeyPair,
} from '../../crypto/ed25519-keys.ts';

function checkSecretKey(secretKey: Uint8Array): void {
  expectLength(secretKey, ED25519_SECRET_KEY_BYTES, 'An Ed25519 secret key', 'CRYPTO_KEY_LENGTH');
}

export function generateSigningKeyPair(): SigningKeyPair {
  const { secretKey, publicKey } = ed25519.keygen();
  return { publicKey, secretKey };
}

export function signingPublicKeyFrom(secretKey: Uint8Array): Uint8Array {
  checkSecretKey(secretKey);
  return ed25519.getPublicKey(secretKey);
}

export function sign(secretKey: Uint8Array, message: Uint8Array): Uint8Array {
  checkSecretKey(secretKey);
  return ed25519.sign(message, secretKey);
}

/** True only for a valid signature; false for anything malformed (a wrong-length key throws). */
export function verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  expectLength(publicKey, ED25519_PUBLIC_KEY_BYTES, 'An Ed25519 public key', 'CRYPTO_KEY_LENGTH');
  if (!(signature instanceof Uint8Array) || signature.length !== ED25519_SIGNATURE_BYTES) return false;
  if (isWeakSigningKey(publicKey)) return false;
  try {
    return ed25519.verify(signature, message, publicKey, { zip215: false });
  } catch {
    return false;
  }
}

/** `verify`, as a promise (the browser has no thread pool to run it on). */
export function verifyAsync(
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
): Promise<boolean> {
  return Promise.resolve(verify(publicKey, message, signature));
}

export class Ed25519Signer {
  readonly publicKey: Uint8Array;
  readonly #secretKey: Uint8Array;

  constructor(secretKey: Uint8Array) {
    this.publicKey = signingPublicKeyFrom(secretKey);
    this.#secretKey = Uint8Array.from(secretKey);
  }

  sign(message: Uint8Array): Uint8Array {
    return ed25519.sign(message, this.#secretKey);
  }
}
