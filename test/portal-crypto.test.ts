/**
 * The web portal's browser crypto (src/app/shims, swapped in by scripts/portal-bundle.ts) gives
 * byte for byte what the node's own modules give: each shim against the module it replaces, then the
 * reused modules (sealing, keystores, AES-GCM, record encryption, signed requests) wired to the shims
 * as the bundle wires them, against the same modules on node:crypto.
 */
import * as nodeCrypto from 'node:crypto';
import { createRequire } from 'node:module';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { nodeCompatible } from '../src/app/shims/buffer.ts';
import * as ed from '../src/app/shims/ed25519.ts';
import * as shimCrypto from '../src/app/shims/node-crypto.ts';
import * as x from '../src/app/shims/x25519.ts';
import { concatBytes, fromHex } from '../src/bytes.ts';
import * as nodeAead from '../src/crypto/aead.ts';
import * as nodeEd from '../src/crypto/ed25519.ts';
import * as nodeHash from '../src/crypto/hash.ts';
import * as nodeSignature from '../src/crypto/http-signature.ts';
import * as nodeKeystore from '../src/crypto/keystore.ts';
import * as nodeSeal from '../src/crypto/seal.ts';
import * as nodeX from '../src/crypto/x25519.ts';
import * as nodeEncryption from '../src/store/encryption.ts';

const bytes = (n: number) => new Uint8Array(nodeCrypto.randomBytes(n));
const text = (s: string) => new TextEncoder().encode(s);

function codeOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    // Duck-typed: the modules loaded afresh below have their own MedledgerError class.
    return error instanceof Error && 'code' in error ? String(error.code) : 'not a MedledgerError';
  }
  return undefined;
}

describe('ed25519 shim', () => {
  it('derives the same public key and the same signature as node:crypto', () => {
    for (let i = 0; i < 20; i++) {
      const secret = bytes(32);
      const message = bytes(i * 7);
      expect(ed.signingPublicKeyFrom(secret)).toEqual(nodeEd.signingPublicKeyFrom(secret));
      expect(ed.sign(secret, message)).toEqual(nodeEd.sign(secret, message));
      expect(new ed.Ed25519Signer(secret).sign(message)).toEqual(nodeEd.sign(secret, message));
    }
  });

  it('verifies what node:crypto signs and the reverse, and refuses what node:crypto refuses', () => {
    const pair = ed.generateSigningKeyPair();
    const message = text('a signed request');
    const signature = ed.sign(pair.secretKey, message);
    expect(nodeEd.verify(pair.publicKey, message, signature)).toBe(true);
    expect(ed.verify(pair.publicKey, message, nodeEd.sign(pair.secretKey, message))).toBe(true);
    const altered = Uint8Array.from(signature);
    altered[5]! ^= 1;
    expect(ed.verify(pair.publicKey, message, altered)).toBe(false);
    expect(ed.verify(pair.publicKey, text('another'), signature)).toBe(false);
    expect(ed.verify(pair.publicKey, message, signature.subarray(1))).toBe(false);
    expect(codeOf(() => ed.verify(bytes(31), message, signature))).toBe('CRYPTO_KEY_LENGTH');
    expect(codeOf(() => ed.sign(bytes(31), message))).toBe('CRYPTO_KEY_LENGTH');
  });

  it('judges weak and valid signing keys as src/crypto does', () => {
    const small = fromHex('0100000000000000000000000000000000000000000000000000000000000000');
    const withSign = Uint8Array.from(small);
    withSign[31]! |= 0x80;
    const candidates = [
      small,
      withSign,
      new Uint8Array(32),
      bytes(32),
      ed.generateSigningKeyPair().publicKey,
    ];
    for (const key of candidates) {
      expect(ed.isWeakSigningKey(key)).toBe(nodeEd.isWeakSigningKey(key));
      expect(ed.isValidSigningKey(key)).toBe(nodeEd.isValidSigningKey(key));
    }
    expect(ed.verify(small, text('m'), new Uint8Array(64))).toBe(false);
  });
});

describe('x25519 shim', () => {
  it('derives the same public keys and shared secrets as node:crypto', () => {
    for (let i = 0; i < 20; i++) {
      const a = bytes(32);
      const b = nodeX.generateEncryptionKeyPair();
      expect(x.encryptionPublicKeyFrom(a)).toEqual(nodeX.encryptionPublicKeyFrom(a));
      expect(x.x25519SharedSecret(a, b.publicKey)).toEqual(nodeX.x25519SharedSecret(a, b.publicKey));
    }
    const pair = x.generateEncryptionKeyPair();
    expect(nodeX.encryptionPublicKeyFrom(pair.secretKey)).toEqual(pair.publicKey);
  });

  it('refuses low-order public keys with the same code, and lists the same weak keys', () => {
    const lowOrder = [
      new Uint8Array(32),
      fromHex('0100000000000000000000000000000000000000000000000000000000000000'),
      fromHex('e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800'),
      fromHex('ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff'),
    ];
    const secret = bytes(32);
    for (const key of lowOrder) {
      expect(codeOf(() => x.x25519SharedSecret(secret, key))).toBe(
        codeOf(() => nodeX.x25519SharedSecret(secret, key)),
      );
      expect(x.isWeakEncryptionKey(key)).toBe(nodeX.isWeakEncryptionKey(key));
    }
    const fine = x.generateEncryptionKeyPair().publicKey;
    expect(x.isWeakEncryptionKey(fine)).toBe(false);
    expect(x.isWeakEncryptionKey(bytes(31))).toBe(true);
    expect(codeOf(() => x.x25519SharedSecret(bytes(31), fine))).toBe('CRYPTO_KEY_LENGTH');
  });
});

describe('node:crypto shim', () => {
  it('hashes like node:crypto, fed in pieces, in every digest form used', () => {
    const pieces = [bytes(0), bytes(1), bytes(63), bytes(1000)];
    const ours = shimCrypto.createHash('sha256');
    const theirs = nodeCrypto.createHash('sha256');
    for (const piece of pieces) {
      ours.update(piece);
      theirs.update(piece);
    }
    expect(ours.digest('base64')).toBe(theirs.digest('base64'));
    expect(new Uint8Array(shimCrypto.createHash('sha256').update('abc').digest())).toEqual(
      new Uint8Array(nodeCrypto.createHash('sha256').update('abc').digest()),
    );
    expect(() => shimCrypto.createHash('sha1')).toThrow(/not available/);
  });

  it('computes HMAC-SHA256 and HKDF-SHA256 like node:crypto', () => {
    const key = bytes(32);
    expect(new Uint8Array(shimCrypto.createHmac('sha256', key).update('label').digest())).toEqual(
      new Uint8Array(nodeCrypto.createHmac('sha256', key).update('label').digest()),
    );
    const [ikm, salt, info] = [bytes(32), bytes(64), text('medledger/seal/v1')];
    const ours = shimCrypto.hkdfSync('sha256', ikm, salt, info, 44);
    expect(ours).toBeInstanceOf(ArrayBuffer);
    expect(new Uint8Array(ours)).toEqual(new Uint8Array(nodeCrypto.hkdfSync('sha256', ikm, salt, info, 44)));
  });

  it('derives scrypt keys like node:crypto', async () => {
    const salt = bytes(32);
    const options = { N: 2 ** 10, r: 8, p: 1 };
    const run = (scrypt: typeof shimCrypto.scrypt) =>
      new Promise<Uint8Array>((resolve, reject) =>
        scrypt('pass phrase', salt, 64, options, (error, key) =>
          error ? reject(error) : resolve(new Uint8Array(key)),
        ),
      );
    expect(await run(shimCrypto.scrypt)).toEqual(await run(nodeCrypto.scrypt as typeof shimCrypto.scrypt));
  });

  it('seals and opens AES-256-GCM like node:crypto, releasing nothing on a bad tag', () => {
    const [key, nonce, aad] = [bytes(32), bytes(12), bytes(21)];
    const plaintext = [bytes(100), bytes(0), bytes(4000)];
    const ours = shimCrypto.createCipheriv('aes-256-gcm', key, nonce, { authTagLength: 16 }).setAAD(aad);
    const theirs = nodeCrypto.createCipheriv('aes-256-gcm', key, nonce, { authTagLength: 16 });
    theirs.setAAD(aad);
    const sealed = Buffer.concat([...plaintext.map((p) => ours.update(p)), ours.final()]);
    const expected = Buffer.concat([...plaintext.map((p) => theirs.update(p)), theirs.final()]);
    expect(new Uint8Array(sealed)).toEqual(new Uint8Array(expected));
    expect(new Uint8Array(ours.getAuthTag())).toEqual(new Uint8Array(theirs.getAuthTag()));

    const open = (tag: Uint8Array) => {
      const decipher = shimCrypto.createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: 16 });
      decipher.setAAD(aad).setAuthTag(tag);
      return Buffer.concat([decipher.update(sealed), decipher.final()]);
    };
    expect(new Uint8Array(open(theirs.getAuthTag()))).toEqual(concatBytes(plaintext));
    const badTag = new Uint8Array(theirs.getAuthTag());
    badTag[0]! ^= 1;
    expect(() => open(badTag)).toThrow(/authenticate/);
  });

  it('gives random bytes and compares in constant time with Node’s length rule', () => {
    expect(shimCrypto.randomBytes(16)).toHaveLength(16);
    expect(shimCrypto.randomBytes(16)).not.toEqual(shimCrypto.randomBytes(16));
    const a = bytes(32);
    expect(shimCrypto.timingSafeEqual(a, Uint8Array.from(a))).toBe(true);
    expect(shimCrypto.timingSafeEqual(a, bytes(32))).toBe(false);
    expect(() => shimCrypto.timingSafeEqual(a, bytes(31))).toThrow(RangeError);
  });
});

describe('Buffer in the bundle (the buffer package, made Node-compatible)', () => {
  const Polyfill = nodeCompatible(createRequire(import.meta.url)('buffer/').Buffer);
  it('compares with plain Uint8Arrays and writes base64url as Node does', () => {
    expect(Polyfill).not.toBe(Buffer);
    const data = bytes(40);
    expect(Polyfill.from(data).equals(Uint8Array.from(data))).toBe(true);
    expect(Polyfill.from(data).equals(bytes(40))).toBe(false);
    for (const n of [0, 1, 2, 3, 16, 17]) {
      const value = bytes(n);
      expect(Polyfill.from(value).toString('base64url')).toBe(Buffer.from(value).toString('base64url'));
      expect(Polyfill.from(value).toString('hex')).toBe(Buffer.from(value).toString('hex'));
    }
  });
});

/** The reused modules, loaded afresh with the bundle's swaps in place. */
interface BrowserWired {
  aead: typeof nodeAead;
  hash: typeof nodeHash;
  seal: typeof nodeSeal;
  keystore: typeof nodeKeystore;
  signature: typeof nodeSignature;
  encryption: typeof nodeEncryption;
  crypto: unknown;
}

describe('the reused modules on the shims, as the portal bundle wires them', () => {
  let browser: BrowserWired;

  beforeAll(async () => {
    vi.resetModules();
    vi.doMock('node:crypto', () => import('../src/app/shims/node-crypto.ts'));
    vi.doMock('../src/crypto/ed25519.ts', () => import('../src/app/shims/ed25519.ts'));
    vi.doMock('../src/crypto/x25519.ts', () => import('../src/app/shims/x25519.ts'));
    browser = {
      aead: await import('../src/crypto/aead.ts'),
      hash: await import('../src/crypto/hash.ts'),
      seal: await import('../src/crypto/seal.ts'),
      keystore: await import('../src/crypto/keystore.ts'),
      signature: await import('../src/crypto/http-signature.ts'),
      encryption: await import('../src/store/encryption.ts'),
      crypto: await import('node:crypto'),
    };
    vi.doUnmock('node:crypto');
    vi.doUnmock('../src/crypto/ed25519.ts');
    vi.doUnmock('../src/crypto/x25519.ts');
  });

  it('really is wired to the shims', () => {
    expect(Object.keys(browser.crypto as object).sort()).toEqual(Object.keys(shimCrypto).sort());
    expect(browser.seal).not.toBe(nodeSeal);
  });

  it('hashes with SHA-256 and encrypts with AES-256-GCM byte for byte', () => {
    const [key, nonce, aad, plaintext] = [bytes(32), bytes(12), bytes(9), bytes(333)];
    expect(browser.hash.sha256(plaintext, aad)).toEqual(nodeHash.sha256(plaintext, aad));
    const sealed = browser.aead.aesGcmEncrypt(key, nonce, plaintext, aad);
    expect(sealed).toEqual(nodeAead.aesGcmEncrypt(key, nonce, plaintext, aad));
    expect(nodeAead.aesGcmDecrypt(key, nonce, sealed, aad)).toEqual(plaintext);
    sealed[0]! ^= 1;
    expect(codeOf(() => browser.aead.aesGcmDecrypt(key, nonce, sealed, aad))).toBe('CRYPTO_DECRYPT_FAILED');
  });

  it('seals to an X25519 key so that either side opens it, bound to its context', () => {
    const recipient = nodeX.generateEncryptionKeyPair();
    const secret = bytes(32);
    const context = text('record 1');
    const fromBrowser = browser.seal.seal(recipient.publicKey, secret, context);
    expect(nodeSeal.openSealed(recipient.secretKey, fromBrowser, context)).toEqual(secret);
    const fromNode = nodeSeal.seal(recipient.publicKey, secret, context);
    expect(browser.seal.openSealed(recipient.secretKey, fromNode, context)).toEqual(secret);
    const opening = browser.seal.envelopeOpening(recipient.secretKey, fromNode);
    expect(opening).toEqual(nodeSeal.envelopeOpening(recipient.secretKey, fromNode));
    expect(browser.seal.openSealedWithOpening(opening, recipient.publicKey, fromNode, context)).toEqual(
      secret,
    );
    expect(codeOf(() => browser.seal.openSealed(recipient.secretKey, fromNode, text('record 2')))).toBe(
      'CRYPTO_OPEN_FAILED',
    );
  });

  it('decrypts a keystore that src/crypto/keystore.ts wrote, and tells its errors apart', async () => {
    const keys = nodeKeystore.generateIdentityKeys();
    const file = await nodeKeystore.encryptKeystore(keys, 'correct horse battery', {
      N: 2 ** 10,
      r: 8,
      p: 1,
    });
    const opened = await browser.keystore.decryptKeystore(file, 'correct horse battery');
    expect(opened.signing.secretKey).toEqual(keys.signing.secretKey);
    expect(opened.signing.publicKey).toEqual(keys.signing.publicKey);
    expect(opened.encryption.secretKey).toEqual(keys.encryption.secretKey);
    expect(opened.encryption.publicKey).toEqual(keys.encryption.publicKey);
    const fail = (text: string, passphrase: string) =>
      browser.keystore.decryptKeystore(text, passphrase).then(
        () => 'opened',
        (error: { code: string }) => error.code,
      );
    expect(await fail(file, 'wrong horse battery')).toBe('KEYSTORE_WRONG_PASSPHRASE');
    expect(await fail('{"resourceType":"Patient"}', 'correct horse battery')).toBe('KEYSTORE_CORRUPT');
    expect(await fail('not json', 'correct horse battery')).toBe('KEYSTORE_CORRUPT');
    const json = JSON.parse(file);
    json.ciphertext = `${json.ciphertext.slice(0, -2)}00`;
    expect(await fail(JSON.stringify(json), 'correct horse battery')).toBe('KEYSTORE_CORRUPT');
    // And the other way: what the browser writes, node:crypto opens.
    const written = await browser.keystore.encryptKeystore(keys, 'another passphrase', {
      N: 2 ** 10,
      r: 8,
      p: 1,
    });
    expect((await nodeKeystore.decryptKeystore(written, 'another passphrase')).signing.secretKey).toEqual(
      keys.signing.secretKey,
    );
  });

  it('encrypts and decrypts record ciphertext byte for byte', async () => {
    const dataKey = bytes(32);
    const noncePrefix = bytes(8);
    const plaintext = [bytes(5000), bytes(1 << 20)];
    const collect = async (stream: AsyncIterable<Uint8Array>) => {
      const pieces: Uint8Array[] = [];
      for await (const piece of stream) pieces.push(piece);
      return concatBytes(pieces);
    };
    const ours = await collect(browser.encryption.encryptStream(plaintext, dataKey, { noncePrefix }));
    const theirs = await collect(nodeEncryption.encryptStream(plaintext, dataKey, { noncePrefix }));
    expect(ours).toEqual(theirs);
    expect(await collect(browser.encryption.decryptStream([theirs], dataKey))).toEqual(
      concatBytes(plaintext),
    );
  });

  it('signs API requests that the node verifies', async () => {
    const pair = nodeEd.generateSigningKeyPair();
    const body = text('{"a":1}');
    const request = { method: 'POST', url: 'http://127.0.0.1:7480/v1/reads/ab?x=1', headers: {}, body };
    const headers = await browser.signature.signRequest(request, 'id-1', pair.secretKey);
    expect(headers['content-digest']).toBe(nodeSignature.contentDigest(body));
    const verified = await nodeSignature.verifyRequest(
      { method: 'POST', url: request.url, headers },
      body,
      async (id) => (id === 'id-1' ? pair.publicKey : undefined),
    );
    expect(verified?.keyId).toBe('id-1');
  });
});
