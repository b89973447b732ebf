/**
 * Sealing a secret (typically a record's data key) to a recipient's X25519 public key: an
 * "envelope" only the holder of the matching secret key can open. ECIES-style construction:
 *
 *   eph            = fresh X25519 key pair
 *   shared         = X25519(eph.secret, recipientPublicKey)
 *   key || nonce   = HKDF-SHA256(ikm = shared, salt = eph.public || recipientPublicKey,
 *                                info = "medledger/seal/v1", 44 bytes)   (32-byte key, 12-byte nonce)
 *   aad            = version byte || context (context is optional, e.g. a record id)
 *   envelope       = 0x01 (version, 1 byte) || eph.public (32) || AES-256-GCM(secret) || tag (16)
 *
 * The key and nonce are single-use because the ephemeral key is fresh for every envelope. Binding
 * the context in the AAD means an envelope made for one record does not open for another.
 */

import { hkdfSync } from 'node:crypto';
import { concatBytes } from '../bytes.ts';
import { MedledgerError } from '../errors.ts';
import {
  AES_GCM_NONCE_BYTES,
  AES_GCM_TAG_BYTES,
  AES_KEY_BYTES,
  aesGcmDecrypt,
  aesGcmEncrypt,
} from './aead.ts';
import { expectLength } from './bytes.ts';
import {
  encryptionPublicKeyFrom,
  generateEncryptionKeyPair,
  X25519_KEY_BYTES,
  x25519SharedSecret,
} from './x25519.ts';

const SEAL_VERSION = 0x01;
const HKDF_INFO = Buffer.from('medledger/seal/v1', 'utf8');
const HEADER_BYTES = 1 + X25519_KEY_BYTES;

/** Derives the AES key and nonce from the shared secret; the caller zeroes the result after use. */
function deriveKeyAndNonce(
  shared: Uint8Array,
  ephemeralPublicKey: Uint8Array,
  recipientPublicKey: Uint8Array,
) {
  const salt = Buffer.concat([ephemeralPublicKey, recipientPublicKey]);
  const okm = new Uint8Array(
    hkdfSync('sha256', shared, salt, HKDF_INFO, AES_KEY_BYTES + AES_GCM_NONCE_BYTES),
  );
  return { okm, key: okm.subarray(0, AES_KEY_BYTES), nonce: okm.subarray(AES_KEY_BYTES) };
}

function additionalData(context: Uint8Array | undefined): Uint8Array {
  return context === undefined
    ? Uint8Array.of(SEAL_VERSION)
    : Buffer.concat([Uint8Array.of(SEAL_VERSION), context]);
}

/** Seals `secret` to `recipientPublicKey`; `context` must be given again, byte for byte, to open. */
export function seal(recipientPublicKey: Uint8Array, secret: Uint8Array, context?: Uint8Array): Uint8Array {
  expectLength(recipientPublicKey, X25519_KEY_BYTES, 'An X25519 public key', 'CRYPTO_KEY_LENGTH');
  const ephemeral = generateEncryptionKeyPair();
  const shared = x25519SharedSecret(ephemeral.secretKey, recipientPublicKey);
  const { okm, key, nonce } = deriveKeyAndNonce(shared, ephemeral.publicKey, recipientPublicKey);
  try {
    const ciphertext = aesGcmEncrypt(key, nonce, secret, additionalData(context));
    return concatBytes([Uint8Array.of(SEAL_VERSION), ephemeral.publicKey, ciphertext]);
  } finally {
    okm.fill(0);
    shared.fill(0);
    ephemeral.secretKey.fill(0);
  }
}

/**
 * Opens an envelope made by seal. Every failure of the envelope (malformed, truncated, unknown
 * version, wrong key, altered byte, other context) is CRYPTO_OPEN_FAILED; wrong bytes are never
 * returned. Only a recipient secret key of the wrong length (a caller bug) is CRYPTO_KEY_LENGTH.
 */
export function openSealed(
  recipientSecretKey: Uint8Array,
  sealed: Uint8Array,
  context?: Uint8Array,
): Uint8Array {
  const recipientPublicKey = encryptionPublicKeyFrom(recipientSecretKey);
  const shared = envelopeOpening(recipientSecretKey, sealed);
  try {
    return openSealedWithOpening(shared, recipientPublicKey, sealed, context);
  } finally {
    shared.fill(0);
  }
}

/**
 * The X25519 shared secret of one envelope, its "opening": with it anyone can open this envelope,
 * and no other sealed to the same key (each has its own ephemeral key). A recipient hands it over
 * to prove what an envelope held without giving away its secret key.
 */
export function envelopeOpening(recipientSecretKey: Uint8Array, sealed: Uint8Array): Uint8Array {
  expectLength(recipientSecretKey, X25519_KEY_BYTES, 'An X25519 secret key', 'CRYPTO_KEY_LENGTH');
  if (!(sealed instanceof Uint8Array) || sealed.length < HEADER_BYTES + AES_GCM_TAG_BYTES) {
    throw openFailed('it is too short');
  }
  if (sealed[0] !== SEAL_VERSION) throw openFailed(`its version ${sealed[0]} is not supported`);
  try {
    return x25519SharedSecret(recipientSecretKey, sealed.subarray(1, HEADER_BYTES));
  } catch (cause) {
    throw openFailed('its ephemeral public key is invalid', cause);
  }
}

/**
 * Opens an envelope with its opening (see envelopeOpening) and the recipient's public key. AES-GCM
 * authenticates: a false opening fails (CRYPTO_OPEN_FAILED) rather than yield other bytes.
 */
export function openSealedWithOpening(
  opening: Uint8Array,
  recipientPublicKey: Uint8Array,
  sealed: Uint8Array,
  context?: Uint8Array,
): Uint8Array {
  if (!(sealed instanceof Uint8Array) || sealed.length < HEADER_BYTES + AES_GCM_TAG_BYTES) {
    throw openFailed('it is too short');
  }
  if (sealed[0] !== SEAL_VERSION) throw openFailed(`its version ${sealed[0]} is not supported`);
  if (opening.length !== X25519_KEY_BYTES) throw openFailed('its opening is not 32 bytes');
  const ephemeralPublicKey = sealed.subarray(1, HEADER_BYTES);
  const { okm, key, nonce } = deriveKeyAndNonce(opening, ephemeralPublicKey, recipientPublicKey);
  try {
    return aesGcmDecrypt(key, nonce, sealed.subarray(HEADER_BYTES), additionalData(context));
  } catch (cause) {
    throw openFailed('it was not sealed to this key for this context, or it was altered', cause);
  } finally {
    okm.fill(0);
  }
}

function openFailed(reason: string, cause?: unknown): MedledgerError {
  return new MedledgerError('CRYPTO_OPEN_FAILED', `The sealed envelope cannot be opened: ${reason}.`, {
    cause,
  });
}
