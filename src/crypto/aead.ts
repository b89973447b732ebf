/** AES-256-GCM authenticated encryption, and the random bytes that feed keys and nonces. */
import { createCipheriv, createDecipheriv, randomBytes as nodeRandomBytes } from 'node:crypto';
import { concatBytes, plainBytes } from '../bytes.ts';
import { MedledgerError } from '../errors.ts';
import { expectLength } from './bytes.ts';

export const AES_KEY_BYTES = 32;
export const AES_GCM_NONCE_BYTES = 12;
export const AES_GCM_TAG_BYTES = 16;

function checkKeyAndNonce(key: Uint8Array, nonce: Uint8Array): void {
  expectLength(key, AES_KEY_BYTES, 'An AES-256 key', 'CRYPTO_KEY_LENGTH');
  expectLength(nonce, AES_GCM_NONCE_BYTES, 'An AES-GCM nonce', 'CRYPTO_NONCE_LENGTH');
}

/** Returns ciphertext || 16-byte tag. A (key, nonce) pair must never be used twice. */
export function aesGcmEncrypt(
  key: Uint8Array,
  nonce: Uint8Array,
  plaintext: Uint8Array,
  aad?: Uint8Array,
): Uint8Array {
  checkKeyAndNonce(key, nonce);
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: AES_GCM_TAG_BYTES });
  if (aad !== undefined) cipher.setAAD(aad);
  return concatBytes([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
}

/** Inverse of aesGcmEncrypt; any authentication failure is CRYPTO_DECRYPT_FAILED, never partial output. */
export function aesGcmDecrypt(
  key: Uint8Array,
  nonce: Uint8Array,
  sealed: Uint8Array,
  aad?: Uint8Array,
): Uint8Array {
  checkKeyAndNonce(key, nonce);
  if (sealed.length < AES_GCM_TAG_BYTES) {
    throw new MedledgerError(
      'CRYPTO_DECRYPT_FAILED',
      `The ciphertext is ${sealed.length} bytes, shorter than the ${AES_GCM_TAG_BYTES}-byte tag.`,
    );
  }
  const tagStart = sealed.length - AES_GCM_TAG_BYTES;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: AES_GCM_TAG_BYTES });
    if (aad !== undefined) decipher.setAAD(aad);
    decipher.setAuthTag(sealed.subarray(tagStart));
    return concatBytes([decipher.update(sealed.subarray(0, tagStart)), decipher.final()]);
  } catch (cause) {
    throw new MedledgerError(
      'CRYPTO_DECRYPT_FAILED',
      'Decryption failed: the key, nonce or associated data is wrong, or the ciphertext was altered.',
      { cause },
    );
  }
}

/** Cryptographically secure random bytes (OpenSSL CSPRNG). */
export function randomBytes(length: number): Uint8Array {
  return plainBytes(nodeRandomBytes(length));
}
