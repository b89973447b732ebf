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
import { ED25519_TORSION_SUBGROUP, ed25519 } from '@noble/curves/ed25519.js';
import { asBuffer, expectLength, plainBytes, rawKeyFromDer } from './bytes.ts';

export const ED25519_PUBLIC_KEY_BYTES = 32;
export const ED25519_SECRET_KEY_BYTES = 32;
export const ED25519_SIGNATURE_BYTES = 64;

/** `secretKey` is the 32-byte RFC 8032 seed, not the 64-byte "expanded" form some libraries use. */
export interface SigningKeyPair {
  publicKey: Uint8Array;
  secretKey: Uint8Array;
}

// DER headers of SubjectPublicKeyInfo / PKCS#8 for OID 1.3.101.112 (Ed25519); the raw key follows.
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

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

// The encodings of the eight small-order points (the torsion subgroup), plus the non-canonical
// encodings p and p+1 of y = 0 and y = 1, with the sign bit cleared (as libsodium's blocklist does):
// a public key matching one, whatever its sign bit, has small order.
const SMALL_ORDER = new Set<string>(
  [
    ...ED25519_TORSION_SUBGROUP,
    'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
    'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  ].map((encoding) => withoutSignBit(Buffer.from(encoding, 'hex'))),
);

function withoutSignBit(key: Uint8Array): string {
  const copy = Buffer.from(key);
  copy[31] = copy[31]! & 0x7f;
  return copy.toString('hex');
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
