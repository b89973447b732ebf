import { ed25519 } from '@noble/curves/ed25519.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { concatBytes, fromHex, hex } from '../src/bytes.ts';
import {
  AES_GCM_NONCE_BYTES,
  AES_KEY_BYTES,
  aesGcmDecrypt,
  aesGcmEncrypt,
  Ed25519Signer,
  encryptionPublicKeyFrom,
  generateEncryptionKeyPair,
  generateSigningKeyPair,
  isWeakEncryptionKey,
  isWeakSigningKey,
  openSealed,
  randomBytes,
  seal,
  sha256,
  sign,
  signingPublicKeyFrom,
  verify,
  x25519SharedSecret,
} from '../src/crypto/index.ts';

const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);

function flipped(bytes: Uint8Array, index: number): Uint8Array {
  const copy = Uint8Array.from(bytes);
  copy[index] = copy[index]! ^ 0x01;
  return copy;
}

function thrownCode(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return (error as { code?: unknown }).code;
  }
  return 'did not throw';
}

describe('sha256', () => {
  it('matches the FIPS 180-2 "abc" vector', () => {
    expect(hex(sha256(utf8('abc')))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('hashes several parts as their concatenation', () => {
    expect(sha256(utf8('ab'), utf8(''), utf8('c'))).toEqual(sha256(utf8('abc')));
    expect(sha256().length).toBe(32);
  });
});

describe('ed25519', () => {
  const keys = generateSigningKeyPair();
  const message = utf8('consent granted for record 42');
  const signature = sign(keys.secretKey, message);

  it('generates 32-byte keys and 64-byte signatures that verify', () => {
    expect(keys.publicKey.length).toBe(32);
    expect(keys.secretKey.length).toBe(32);
    expect(signature.length).toBe(64);
    expect(signingPublicKeyFrom(keys.secretKey)).toEqual(keys.publicKey);
    expect(verify(keys.publicKey, message, signature)).toBe(true);
  });

  it('rejects a flipped message byte, a flipped signature byte, a wrong length and another key', () => {
    expect(verify(keys.publicKey, flipped(message, 3), signature)).toBe(false);
    for (const index of [0, 31, 32, 63]) {
      expect(verify(keys.publicKey, message, flipped(signature, index))).toBe(false);
    }
    expect(verify(keys.publicKey, message, signature.subarray(0, 63))).toBe(false);
    expect(verify(keys.publicKey, message, new Uint8Array(65))).toBe(false);
    expect(verify(generateSigningKeyPair().publicKey, message, signature)).toBe(false);
  });

  it('returns false, without throwing, for a public key that is not a curve point', () => {
    const notAPoint = new Uint8Array(32);
    notAPoint[0] = 0x02;
    expect(() => ed25519.Point.fromBytes(notAPoint)).toThrow();
    expect(verify(notAPoint, message, signature)).toBe(false);
    expect(verify(notAPoint, message, signature)).toBe(false); // cached path too
  });

  it('throws CRYPTO_KEY_LENGTH for a key of the wrong length', () => {
    const short = new Uint8Array(31);
    expect(thrownCode(() => sign(short, message))).toBe('CRYPTO_KEY_LENGTH');
    expect(thrownCode(() => verify(short, message, signature))).toBe('CRYPTO_KEY_LENGTH');
    expect(thrownCode(() => signingPublicKeyFrom(short))).toBe('CRYPTO_KEY_LENGTH');
    expect(thrownCode(() => new Ed25519Signer(short))).toBe('CRYPTO_KEY_LENGTH');
    expect(() => sign(short, message)).toThrow(/32 bytes.*31 bytes/);
  });

  it('returns plain Uint8Arrays, never Buffers', () => {
    for (const bytes of [keys.publicKey, keys.secretKey, signature, sha256(message), randomBytes(4)]) {
      expect(Object.getPrototypeOf(bytes)).toBe(Uint8Array.prototype);
    }
  });

  it('Ed25519Signer signs like sign()', () => {
    const signer = new Ed25519Signer(keys.secretKey);
    expect(signer.publicKey).toEqual(keys.publicKey);
    expect(signer.sign(message)).toEqual(signature); // Ed25519 is deterministic
  });

  it('interoperates with @noble/curves both ways', () => {
    expect(ed25519.verify(signature, message, keys.publicKey)).toBe(true);
    const nobleSecret = ed25519.utils.randomSecretKey();
    const noblePublic = ed25519.getPublicKey(nobleSecret);
    expect(signingPublicKeyFrom(nobleSecret)).toEqual(noblePublic);
    expect(verify(noblePublic, message, ed25519.sign(message, nobleSecret))).toBe(true);
  });

  it('matches RFC 8032 test vector 1', () => {
    const secret = fromHex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60');
    const expectedPublic = 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a';
    const expectedSignature =
      'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b';
    expect(hex(signingPublicKeyFrom(secret))).toBe(expectedPublic);
    expect(hex(sign(secret, new Uint8Array(0)))).toBe(expectedSignature);
    expect(verify(fromHex(expectedPublic), new Uint8Array(0), fromHex(expectedSignature))).toBe(true);
  });
});

describe('AES-256-GCM', () => {
  const key = randomBytes(AES_KEY_BYTES);
  const nonce = randomBytes(AES_GCM_NONCE_BYTES);
  const plaintext = utf8('{"resourceType":"Observation"}');
  const aad = utf8('record 42');

  it('round-trips, with and without associated data', () => {
    const sealed = aesGcmEncrypt(key, nonce, plaintext, aad);
    expect(sealed.length).toBe(plaintext.length + 16);
    expect(aesGcmDecrypt(key, nonce, sealed, aad)).toEqual(plaintext);
    expect(aesGcmDecrypt(key, nonce, aesGcmEncrypt(key, nonce, plaintext))).toEqual(plaintext);
    expect(aesGcmDecrypt(key, nonce, aesGcmEncrypt(key, nonce, new Uint8Array(0)))).toEqual(
      new Uint8Array(0),
    );
  });

  it('fails with CRYPTO_DECRYPT_FAILED on a flipped tag, wrong aad, wrong key or short input', () => {
    const sealed = aesGcmEncrypt(key, nonce, plaintext, aad);
    expect(thrownCode(() => aesGcmDecrypt(key, nonce, flipped(sealed, sealed.length - 1), aad))).toBe(
      'CRYPTO_DECRYPT_FAILED',
    );
    expect(thrownCode(() => aesGcmDecrypt(key, nonce, flipped(sealed, 0), aad))).toBe(
      'CRYPTO_DECRYPT_FAILED',
    );
    expect(thrownCode(() => aesGcmDecrypt(key, nonce, sealed, utf8('record 43')))).toBe(
      'CRYPTO_DECRYPT_FAILED',
    );
    expect(thrownCode(() => aesGcmDecrypt(key, nonce, sealed))).toBe('CRYPTO_DECRYPT_FAILED');
    expect(thrownCode(() => aesGcmDecrypt(randomBytes(32), nonce, sealed, aad))).toBe(
      'CRYPTO_DECRYPT_FAILED',
    );
    expect(thrownCode(() => aesGcmDecrypt(key, nonce, sealed.subarray(0, 15), aad))).toBe(
      'CRYPTO_DECRYPT_FAILED',
    );
  });

  it('rejects a wrong key or nonce length', () => {
    expect(thrownCode(() => aesGcmEncrypt(randomBytes(16), nonce, plaintext))).toBe('CRYPTO_KEY_LENGTH');
    expect(thrownCode(() => aesGcmEncrypt(key, randomBytes(16), plaintext))).toBe('CRYPTO_NONCE_LENGTH');
    expect(thrownCode(() => aesGcmDecrypt(key, randomBytes(8), plaintext))).toBe('CRYPTO_NONCE_LENGTH');
  });
});

describe('x25519', () => {
  it('agrees on the shared secret both ways', () => {
    const alice = generateEncryptionKeyPair();
    const bob = generateEncryptionKeyPair();
    expect(encryptionPublicKeyFrom(alice.secretKey)).toEqual(alice.publicKey);
    const shared = x25519SharedSecret(alice.secretKey, bob.publicKey);
    expect(shared.length).toBe(32);
    expect(x25519SharedSecret(bob.secretKey, alice.publicKey)).toEqual(shared);
  });

  it('matches RFC 7748 section 6.1', () => {
    const aliceSecret = fromHex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a');
    const bobSecret = fromHex('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb');
    expect(hex(encryptionPublicKeyFrom(aliceSecret))).toBe(
      '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a',
    );
    const bobPublic = encryptionPublicKeyFrom(bobSecret);
    expect(hex(bobPublic)).toBe('de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f');
    expect(hex(x25519SharedSecret(aliceSecret, bobPublic))).toBe(
      '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742',
    );
  });

  it('refuses a low-order public key', () => {
    const { secretKey } = generateEncryptionKeyPair();
    expect(thrownCode(() => x25519SharedSecret(secretKey, new Uint8Array(32)))).toBe('CRYPTO_BAD_PUBLIC_KEY');
    const one = new Uint8Array(32);
    one[0] = 1;
    expect(thrownCode(() => x25519SharedSecret(secretKey, one))).toBe('CRYPTO_BAD_PUBLIC_KEY');
  });

  it('isWeakEncryptionKey names exactly the keys whose Diffie-Hellman is all zeros, top bit ignored', () => {
    const { secretKey } = generateEncryptionKeyPair();
    /** The reference: a real Diffie-Hellman, refused or all-zero for a low-order point. */
    const dhIsZero = (key: Uint8Array) => {
      try {
        x25519SharedSecret(secretKey, key);
        return false;
      } catch {
        return true;
      }
    };
    const lowOrder = [
      '0000000000000000000000000000000000000000000000000000000000000000',
      '0100000000000000000000000000000000000000000000000000000000000000',
      'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
      '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
      'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
      'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
      'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
    ].map((h) => fromHex(h));
    for (const key of lowOrder) {
      const high = Uint8Array.from(key);
      high[31]! |= 0x80;
      for (const variant of [key, high]) {
        expect(isWeakEncryptionKey(variant)).toBe(true);
        expect(dhIsZero(variant)).toBe(true);
      }
    }
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (key) => {
        expect(isWeakEncryptionKey(key)).toBe(dhIsZero(key));
      }),
      { numRuns: 500 },
    );
    expect(isWeakEncryptionKey(new Uint8Array(31))).toBe(true);
  });
});

describe('seal / openSealed', () => {
  const recipient = generateEncryptionKeyPair();
  const dataKey = randomBytes(32);
  const context = utf8('record 42');

  it('round-trips, with and without a context', () => {
    const envelope = seal(recipient.publicKey, dataKey, context);
    expect(envelope.length).toBe(1 + 32 + 32 + 16);
    expect(envelope[0]).toBe(0x01);
    expect(openSealed(recipient.secretKey, envelope, context)).toEqual(dataKey);
    expect(openSealed(recipient.secretKey, seal(recipient.publicKey, dataKey))).toEqual(dataKey);
    // A fresh ephemeral key every time: sealing twice gives different envelopes.
    expect(seal(recipient.publicKey, dataKey, context)).not.toEqual(envelope);
  });

  it('fails with CRYPTO_OPEN_FAILED for another recipient or another context', () => {
    const envelope = seal(recipient.publicKey, dataKey, context);
    const other = generateEncryptionKeyPair();
    expect(thrownCode(() => openSealed(other.secretKey, envelope, context))).toBe('CRYPTO_OPEN_FAILED');
    expect(thrownCode(() => openSealed(recipient.secretKey, envelope, utf8('record 43')))).toBe(
      'CRYPTO_OPEN_FAILED',
    );
    expect(thrownCode(() => openSealed(recipient.secretKey, envelope))).toBe('CRYPTO_OPEN_FAILED');
    const noContext = seal(recipient.publicKey, dataKey);
    expect(thrownCode(() => openSealed(recipient.secretKey, noContext, context))).toBe('CRYPTO_OPEN_FAILED');
  });

  it('fails with CRYPTO_OPEN_FAILED for a flipped bit at every position', () => {
    const envelope = seal(recipient.publicKey, utf8('k'), context);
    for (let index = 0; index < envelope.length; index++) {
      expect(thrownCode(() => openSealed(recipient.secretKey, flipped(envelope, index), context))).toBe(
        'CRYPTO_OPEN_FAILED',
      );
    }
  });

  it('fails with CRYPTO_OPEN_FAILED for every truncation, an extension and a low-order ephemeral key', () => {
    const envelope = seal(recipient.publicKey, utf8('k'), context);
    for (let length = 0; length < envelope.length; length++) {
      expect(thrownCode(() => openSealed(recipient.secretKey, envelope.subarray(0, length), context))).toBe(
        'CRYPTO_OPEN_FAILED',
      );
    }
    const extended = Buffer.concat([envelope, Uint8Array.of(0)]);
    expect(thrownCode(() => openSealed(recipient.secretKey, extended, context))).toBe('CRYPTO_OPEN_FAILED');
    const lowOrder = Uint8Array.from(envelope);
    lowOrder.fill(0, 1, 33);
    expect(thrownCode(() => openSealed(recipient.secretKey, lowOrder, context))).toBe('CRYPTO_OPEN_FAILED');
  });
});

describe('weak Ed25519 public keys', () => {
  it('refuses a small-order public key, for which a signature verifies for any message', () => {
    const identity = new Uint8Array(32);
    identity[0] = 1;
    const basePoint = fromHex('5866666666666666666666666666666666666666666666666666666666666666');
    const scalarOne = new Uint8Array(32);
    scalarOne[0] = 1;
    const forged = concatBytes([basePoint, scalarOne]);
    expect(isWeakSigningKey(identity)).toBe(true);
    expect(verify(identity, new TextEncoder().encode('any message'), forged)).toBe(false);
    expect(isWeakSigningKey(generateSigningKeyPair().publicKey)).toBe(false);
  });
});
