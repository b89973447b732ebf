/**
 * The portal's stand-in for `node:crypto` (and `crypto`), for the project modules the browser bundle
 * reuses as they are (crypto/aead.ts, hash.ts, seal.ts, keystore.ts, http-signature.ts,
 * store/encryption.ts, store/cid.ts, client/record-cid.ts). It offers only what those call, with
 * Node's signatures and results, on @noble/hashes and @noble/ciphers:
 *
 *   createHash('sha256')                       update, digest() / digest(encoding)
 *   createHmac('sha256', key)                  update, digest()
 *   hkdfSync('sha256', ikm, salt, info, n)     an ArrayBuffer, as Node returns
 *   scrypt(secret, salt, n, {N, r, p}, cb)
 *   createCipheriv / createDecipheriv('aes-256-gcm', key, nonce, {authTagLength: 16})
 *   randomBytes(n), timingSafeEqual(a, b)
 *
 * AES-GCM here is one-shot: update() keeps the input and final() seals or opens it whole (the
 * callers feed at most one 1 MiB segment per cipher), so no plaintext is released before its tag
 * verifies, as with Node. Anything else throws: the bundle must not reach it.
 */
import { gcm } from '@noble/ciphers/aes.js';
import { equalBytes } from '@noble/ciphers/utils.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { hmac } from '@noble/hashes/hmac.js';
import { scryptAsync } from '@noble/hashes/scrypt.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { randomBytes as nobleRandomBytes } from '@noble/hashes/utils.js';
import { Buffer } from 'buffer';

type Bytes = Uint8Array;
type Encoding = 'hex' | 'base64' | 'base64url' | 'latin1' | 'utf8';

function only(what: string, algorithm: string, supported: string): void {
  if (algorithm.toLowerCase() !== supported) {
    throw new Error(`${what}('${algorithm}') is not available in the browser (only '${supported}')`);
  }
}

function toBytes(data: Bytes | string): Bytes {
  return typeof data === 'string' ? new TextEncoder().encode(data) : data;
}

function output(bytes: Bytes): Buffer;
function output(bytes: Bytes, encoding: Encoding): string;
function output(bytes: Bytes, encoding?: Encoding): Buffer | string {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return encoding === undefined ? buffer : buffer.toString(encoding);
}

/** A streaming hash or MAC, as Node's Hash and Hmac objects behave for these callers. */
class Digest {
  readonly #state: { update(data: Bytes): unknown; digest(): Bytes };
  constructor(state: { update(data: Bytes): unknown; digest(): Bytes }) {
    this.#state = state;
  }
  update(data: Bytes | string): this {
    this.#state.update(toBytes(data));
    return this;
  }
  digest(): Buffer;
  digest(encoding: Encoding): string;
  digest(encoding?: Encoding): Buffer | string {
    const bytes = this.#state.digest();
    return encoding === undefined ? output(bytes) : output(bytes, encoding);
  }
}

export function createHash(algorithm: string): Digest {
  only('createHash', algorithm, 'sha256');
  return new Digest(sha256.create());
}

export function createHmac(algorithm: string, key: Bytes | string): Digest {
  only('createHmac', algorithm, 'sha256');
  return new Digest(hmac.create(sha256, toBytes(key)));
}

export function hkdfSync(
  digest: string,
  ikm: Bytes,
  salt: Bytes,
  info: Bytes | string,
  length: number,
): ArrayBuffer {
  only('hkdfSync', digest, 'sha256');
  const okm = hkdf(sha256, ikm, salt, toBytes(info), length);
  return okm.buffer.slice(okm.byteOffset, okm.byteOffset + okm.byteLength) as ArrayBuffer;
}

/** Node's callback scrypt; `maxmem` is Node's guard and has no meaning here. */
export function scrypt(
  password: Bytes | string,
  salt: Bytes,
  keylen: number,
  options: { N: number; r: number; p: number; maxmem?: number },
  callback: (error: Error | null, derived: Buffer) => void,
): void {
  const { N, r, p } = options;
  scryptAsync(toBytes(password), salt, { N, r, p, dkLen: keylen }).then(
    (derived) => callback(null, output(derived)),
    (error: Error) => callback(error, Buffer.alloc(0)),
  );
}

/** At most 65,536 bytes, as Web Crypto allows in one call (the callers ask for a few dozen). */
export function randomBytes(length: number): Buffer {
  return output(nobleRandomBytes(length));
}

/** Node's constant-time comparison: equal lengths required (RangeError otherwise). */
export function timingSafeEqual(a: Bytes, b: Bytes): boolean {
  if (a.length !== b.length) throw new RangeError('Input buffers must have the same byte length');
  return equalBytes(a, b);
}

const TAG_BYTES = 16;

/** AES-256-GCM with a 16-byte tag, holding its input until final(). */
class Gcm {
  readonly #key: Bytes;
  readonly #nonce: Bytes;
  readonly #decrypt: boolean;
  readonly #input: Bytes[] = [];
  #aad: Bytes | undefined;
  #tag: Bytes | undefined;
  #done = false;

  constructor(
    algorithm: string,
    key: Bytes,
    nonce: Bytes,
    options: { authTagLength?: number },
    decrypt: boolean,
  ) {
    only(decrypt ? 'createDecipheriv' : 'createCipheriv', algorithm, 'aes-256-gcm');
    if (key.length !== 32) throw new RangeError('Invalid key length');
    if ((options.authTagLength ?? TAG_BYTES) !== TAG_BYTES)
      throw new Error('only 16-byte tags are available');
    this.#key = Uint8Array.from(key);
    this.#nonce = Uint8Array.from(nonce);
    this.#decrypt = decrypt;
  }

  setAAD(aad: Bytes): this {
    this.#aad = Uint8Array.from(aad);
    return this;
  }

  setAuthTag(tag: Bytes): this {
    this.#tag = Uint8Array.from(tag);
    return this;
  }

  update(data: Bytes): Buffer {
    if (this.#done) throw new Error('the cipher is finished');
    this.#input.push(Uint8Array.from(data));
    return Buffer.alloc(0);
  }

  final(): Buffer {
    if (this.#done) throw new Error('the cipher is finished');
    this.#done = true;
    const input = Buffer.concat(this.#input);
    const cipher = gcm(this.#key, this.#nonce, this.#aad);
    if (!this.#decrypt) {
      const sealed = cipher.encrypt(input);
      this.#tag = sealed.subarray(sealed.length - TAG_BYTES);
      return output(sealed.subarray(0, sealed.length - TAG_BYTES));
    }
    if (this.#tag === undefined) throw new Error('Unsupported state or unable to authenticate data');
    try {
      return output(cipher.decrypt(Buffer.concat([input, this.#tag])));
    } catch {
      throw new Error('Unsupported state or unable to authenticate data');
    }
  }

  getAuthTag(): Buffer {
    if (this.#decrypt || !this.#done || this.#tag === undefined) throw new Error('no tag before final()');
    return output(this.#tag);
  }
}

export function createCipheriv(
  algorithm: string,
  key: Bytes,
  nonce: Bytes,
  options: { authTagLength?: number } = {},
): Gcm {
  return new Gcm(algorithm, key, nonce, options, false);
}

export function createDecipheriv(
  algorithm: string,
  key: Bytes,
  nonce: Bytes,
  options: { authTagLength?: number } = {},
): Gcm {
  return new Gcm(algorithm, key, nonce, options, true);
}
