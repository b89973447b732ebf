/**
 * Ed25519 signatures (RFC 8032) on node:crypto. Keys travel as raw 32-byte values; KeyObjects are
 * built from them through fixed DER prefixes, which is much cheaper than JWK import.
 */
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign as nodeSign,
  verify as nodeVerify,
} from 'node:crypto';
import { asBuffer, fromHex, plainBytes } from '../bytes.ts';
import { expectLength, rawKeyFromDer } from './bytes.ts';

import {
  ED25519_PUBLIC_KEY_BYTES,
  ED25519_SECRET_KEY_BYTES,
  ED25519_SIGNATURE_BYTES,
  isWeakSigningKey,
  type SigningKeyPair,
} from './ed25519-keys.ts';

export {
  ED25519_PUBLIC_KEY_BYTES,
  ED25519_SECRET_KEY_BYTES,
  ED25519_SIGNATURE_BYTES,
  isValidSigningKey,
  isWeakSigningKey,
  type SigningKeyPair,
} from './ed25519-keys.ts';

// DER headers of SubjectPublicKeyInfo / PKCS#8 for OID 1.3.101.112 (Ed25519); the raw key follows.
const SPKI_PREFIX = fromHex('302a300506032b6570032100');
const PKCS8_PREFIX = fromHex('302e020100300506032b657004220420');

// Verification is the hot path (every transaction, every vote): parsing a public key costs about as
// much as a verify, so parsed keys are kept. Bounded, oldest-first eviction (Map keeps insertion order).
const PUBLIC_KEY_CACHE_ENTRIES = 4096;
const publicKeyCache = new Map<string, KeyObject | null>();

function privateKeyObject(secretKey: Uint8Array): KeyObject {
  expectLength(secretKey, ED25519_SECRET_KEY_BYTES, 'An Ed25519 secret key', 'CRYPTO_KEY_LENGTH');
  return createPrivateKey({
    key: Buffer.concat([PKCS8_PREFIX, secretKey]),
    format: 'der',
    type: 'pkcs8',
  });
}

function rawPublicKey(key: KeyObject): Uint8Array {
  return rawKeyFromDer(key.export({ format: 'der', type: 'spki' }), SPKI_PREFIX.length);
}

/** The cached KeyObject for a raw public key, or null if OpenSSL rejects it. */
function publicKeyObject(publicKey: Uint8Array): KeyObject | null {
  const cacheKey = asBuffer(publicKey).toString('latin1');
  const cached = publicKeyCache.get(cacheKey);
  if (cached !== undefined) return cached;
  let key: KeyObject | null = null;
  if (!isWeakSigningKey(publicKey)) {
    try {
      key = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, publicKey]), format: 'der', type: 'spki' });
    } catch {
      key = null;
    }
  }
  if (publicKeyCache.size >= PUBLIC_KEY_CACHE_ENTRIES) {
    const oldest = publicKeyCache.keys().next().value;
    if (oldest !== undefined) publicKeyCache.delete(oldest);
  }
  publicKeyCache.set(cacheKey, key);
  return key;
}

export function generateSigningKeyPair(): SigningKeyPair {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  return {
    publicKey: rawPublicKey(publicKey),
    secretKey: rawKeyFromDer(privateKey.export({ format: 'der', type: 'pkcs8' }), PKCS8_PREFIX.length),
  };
}

export function signingPublicKeyFrom(secretKey: Uint8Array): Uint8Array {
  return rawPublicKey(createPublicKey(privateKeyObject(secretKey)));
}

/** One-off signature; to sign many messages with one key, use Ed25519Signer. */
// Parsing a private key costs as much as a signature; a validator signs every vote with one key.
let lastSigner: { secretKey: Buffer; key: KeyObject } | null = null;

export function sign(secretKey: Uint8Array, message: Uint8Array): Uint8Array {
  if (!lastSigner?.secretKey.equals(secretKey)) {
    lastSigner = { secretKey: Buffer.from(secretKey), key: privateKeyObject(secretKey) };
  }
  return plainBytes(nodeSign(null, message, lastSigner.key));
}

/**
 * True only for a valid signature. Anything invalid (wrong signature length, a public key that is
 * not a curve point, a forged signature) gives false rather than an exception, because these bytes
 * come from the network. Only a public key of the wrong length throws: that is a caller bug.
 */
export function verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  expectLength(publicKey, ED25519_PUBLIC_KEY_BYTES, 'An Ed25519 public key', 'CRYPTO_KEY_LENGTH');
  if (!(signature instanceof Uint8Array) || signature.length !== ED25519_SIGNATURE_BYTES) return false;
  const key = publicKeyObject(publicKey);
  if (key === null) return false;
  try {
    return nodeVerify(null, message, key, signature);
  } catch {
    return false;
  }
}

/**
 * `verify` on libuv's thread pool (node:crypto's callback form): the event loop goes on meanwhile,
 * and verifications run on every core. Same answers as `verify`.
 */
export function verifyAsync(
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
): Promise<boolean> {
  expectLength(publicKey, ED25519_PUBLIC_KEY_BYTES, 'An Ed25519 public key', 'CRYPTO_KEY_LENGTH');
  if (!(signature instanceof Uint8Array) || signature.length !== ED25519_SIGNATURE_BYTES) {
    return Promise.resolve(false);
  }
  const key = publicKeyObject(publicKey);
  if (key === null) return Promise.resolve(false);
  return new Promise((resolve) => {
    try {
      nodeVerify(null, message, key, signature, (error, ok) => resolve(!error && ok));
    } catch {
      resolve(false);
    }
  });
}

/** Holds a parsed private key, for validators that sign many votes with the same key. */
export class Ed25519Signer {
  readonly publicKey: Uint8Array;
  readonly #privateKey: KeyObject;

  constructor(secretKey: Uint8Array) {
    this.#privateKey = privateKeyObject(secretKey);
    this.publicKey = rawPublicKey(createPublicKey(this.#privateKey));
  }

  sign(message: Uint8Array): Uint8Array {
    return plainBytes(nodeSign(null, message, this.#privateKey));
  }
}
