/** X25519 key agreement (RFC 7748) on node:crypto, with raw 32-byte keys. */
import {
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  type KeyObject,
} from 'node:crypto';
import { MedledgerError } from '../errors.ts';
import { expectLength, plainBytes, rawKeyFromDer } from './bytes.ts';

export const X25519_KEY_BYTES = 32;

export interface EncryptionKeyPair {
  publicKey: Uint8Array;
  secretKey: Uint8Array;
}

// DER headers of SubjectPublicKeyInfo / PKCS#8 for OID 1.3.101.110 (X25519); the raw key follows.
const SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');
const PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

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

// Any clamped scalar times a low-order point is the identity, so one fixed probe finds them all.
let lowOrderProbe: KeyObject | null = null;

/** True for 32 bytes that are not a usable X25519 public key (wrong length or low order). */
export function isWeakEncryptionKey(publicKey: Uint8Array): boolean {
  if (publicKey.length !== X25519_KEY_BYTES) return true;
  lowOrderProbe ??= privateKeyObject(new Uint8Array(32).fill(0x5a));
  try {
    const peerKey = createPublicKey({
      key: Buffer.concat([SPKI_PREFIX, publicKey]),
      format: 'der',
      type: 'spki',
    });
    return diffieHellman({ privateKey: lowOrderProbe, publicKey: peerKey }).every((byte) => byte === 0);
  } catch {
    return true;
  }
}
