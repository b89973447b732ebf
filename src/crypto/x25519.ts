/** X25519 key agreement (RFC 7748) on node:crypto, with raw 32-byte keys. */
import {
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  type KeyObject,
} from 'node:crypto';
import { fromHex, plainBytes } from '../bytes.ts';
import { MedledgerError } from '../errors.ts';
import { expectLength, rawKeyFromDer } from './bytes.ts';

export const X25519_KEY_BYTES = 32;

export interface EncryptionKeyPair {
  publicKey: Uint8Array;
  secretKey: Uint8Array;
}

// DER headers of SubjectPublicKeyInfo / PKCS#8 for OID 1.3.101.110 (X25519); the raw key follows.
const SPKI_PREFIX = fromHex('302a300506032b656e032100');
const PKCS8_PREFIX = fromHex('302e020100300506032b656e04220420');

function privateKeyObject(secretKey: Uint8Array): KeyObject {
  expectLength(secretKey, X25519_KEY_BYTES, 'An X25519 secret key', 'CRYPTO_KEY_LENGTH');
  return createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, secretKey]), format: 'der', type: 'pkcs8' });
}

function rawPublicKey(key: KeyObject): Uint8Array {
  return rawKeyFromDer(key.export({ format: 'der', type: 'spki' }), SPKI_PREFIX.length);
}

export function generateEncryptionKeyPair(): EncryptionKeyPair {
  const { publicKey, privateKey } = generateKeyPairSync('x25519');
  return {
    publicKey: rawPublicKey(publicKey),
    secretKey: rawKeyFromDer(privateKey.export({ format: 'der', type: 'pkcs8' }), PKCS8_PREFIX.length),
  };
}

export function encryptionPublicKeyFrom(secretKey: Uint8Array): Uint8Array {
  return rawPublicKey(createPublicKey(privateKeyObject(secretKey)));
}

/**
 * The 32-byte X25519 shared secret. A low-order public key gives an all-zero secret that an
 * attacker can predict, so it is refused (CRYPTO_BAD_PUBLIC_KEY), as RFC 7748 section 6.1 allows.
 */
export function x25519SharedSecret(secretKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
  const privateKey = privateKeyObject(secretKey);
  expectLength(publicKey, X25519_KEY_BYTES, 'An X25519 public key', 'CRYPTO_KEY_LENGTH');
  const peerKeyDer = Buffer.concat([SPKI_PREFIX, publicKey]);
  let shared: Uint8Array;
  try {
    const peerKey = createPublicKey({ key: peerKeyDer, format: 'der', type: 'spki' });
    shared = plainBytes(diffieHellman({ privateKey, publicKey: peerKey }));
  } catch (cause) {
    // OpenSSL itself refuses an all-zero result; either way the peer's key is at fault.
    throw new MedledgerError('CRYPTO_BAD_PUBLIC_KEY', 'The X25519 public key is invalid (low order).', {
      cause,
    });
  }
  if (shared.every((byte) => byte === 0)) {
    throw new MedledgerError('CRYPTO_BAD_PUBLIC_KEY', 'The X25519 public key is invalid (low order).');
  }
  return shared;
}

/**
 * The u-coordinates of the low-order points of Curve25519 and its twist, and the non-canonical
 * encodings of some (u + p): the blocklist libsodium checks (`has_small_order`). X25519 ignores the
 * top bit of the last byte, so it is ignored here too. A Diffie-Hellman with any of these gives the
 * all-zero secret whatever the private key; a lookup is about 40x cheaper than a probe DH.
 */
const LOW_ORDER_POINTS = new Set([
  '0000000000000000000000000000000000000000000000000000000000000000', // 0 (order 4 on the twist)
  '0100000000000000000000000000000000000000000000000000000000000000', // 1 (order 4 on the twist)
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800', // order 8
  '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157', // order 8
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // p - 1 (order 2)
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // p, that is 0
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // p + 1, that is 1
]);

/** True for 32 bytes that are not a usable X25519 public key (wrong length or low order). */
export function isWeakEncryptionKey(publicKey: Uint8Array): boolean {
  if (publicKey.length !== X25519_KEY_BYTES) return true;
  const masked = Buffer.from(publicKey);
  masked[31]! &= 0x7f;
  return LOW_ORDER_POINTS.has(masked.toString('hex'));
}
