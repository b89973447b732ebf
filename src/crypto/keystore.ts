/**
 * A participant's identity keys (Ed25519 signing + X25519 encryption) in a passphrase-encrypted
 * JSON file. Format, version 1:
 *
 *   { "version": 1,
 *     "kdf": { "name": "scrypt", "N", "r", "p", "salt": hex(32) },
 *     "cipher": { "name": "aes-256-gcm", "nonce": hex(12) },
 *     "publicKeys": { "ed25519": hex(32), "x25519": hex(32) },   (in clear: show an identity without the passphrase)
 *     "check": hex(32),                                         HMAC-SHA256(checkKey, CHECK_LABEL)
 *     "ciphertext": hex(64 + 16) }                              AES-GCM(ed25519 secret || x25519 secret) || tag
 *
 * scrypt(passphrase, salt) gives 64 bytes: encryption key || check key. The check tells a wrong
 * passphrase (check differs) from an edited file (check matches, GCM fails). The GCM AAD is the
 * canonical header (everything above but check and ciphertext), so editing a public key or a
 * parameter is detected too. Editing the salt, a scrypt parameter or the check changes what the
 * check compares, so those edits can only be reported as a wrong passphrase.
 */
import { createHmac, randomBytes, scrypt as scryptCallback, timingSafeEqual } from 'node:crypto';
import { constants } from 'node:fs';
import { link, lstat, open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { fromHex, hex } from '../bytes.ts';
import { MedledgerError } from '../errors.ts';
import {
  AES_GCM_NONCE_BYTES,
  AES_GCM_TAG_BYTES,
  AES_KEY_BYTES,
  aesGcmDecrypt,
  aesGcmEncrypt,
} from './aead.ts';
import {
  ED25519_PUBLIC_KEY_BYTES,
  ED25519_SECRET_KEY_BYTES,
  generateSigningKeyPair,
  type SigningKeyPair,
  signingPublicKeyFrom,
} from './ed25519.ts';
import {
  type EncryptionKeyPair,
  encryptionPublicKeyFrom,
  generateEncryptionKeyPair,
  X25519_KEY_BYTES,
} from './x25519.ts';

export interface IdentityKeys {
  signing: SigningKeyPair;
  encryption: EncryptionKeyPair;
}

export interface ScryptParams {
  N: number;
  r: number;
  p: number;
}

/** About 128 MiB and a few hundred milliseconds: costly to brute-force, bearable at start-up. */
export const DEFAULT_SCRYPT: ScryptParams = { N: 2 ** 17, r: 8, p: 1 };

const KEYSTORE_VERSION = 1;
const KDF_NAME = 'scrypt';
const CIPHER_NAME = 'aes-256-gcm';
const CHECK_LABEL = Buffer.from('medledger/keystore/v1/check', 'utf8');
const SALT_BYTES = 32;
const CHECK_BYTES = 32;
const CHECK_KEY_BYTES = 32;
const SECRETS_BYTES = ED25519_SECRET_KEY_BYTES + X25519_KEY_BYTES;
const CIPHERTEXT_BYTES = SECRETS_BYTES + AES_GCM_TAG_BYTES;
const MIN_PASSPHRASE_CHARS = 8;
// A keystore is well under 1 KiB; refuse to read anything absurdly large.
const MAX_FILE_BYTES = 64 * 1024;
// Bounds on parameters read from a file, so a hostile file cannot make us allocate gigabytes or
// spin for minutes. Memory of scrypt is about 128 * N * r bytes; capped at 1 GiB as well.
const MIN_LOG2_N = 10;
const MAX_LOG2_N = 20;
const MAX_R = 32;
const MAX_P = 16;
const MAX_SCRYPT_MEMORY_BYTES = 2 ** 30;

interface KeystoreFile {
  version: number;
  kdf: { name: string; N: number; r: number; p: number; salt: string };
  cipher: { name: string; nonce: string };
  publicKeys: { ed25519: string; x25519: string };
  check: string;
  ciphertext: string;
}

/** The header fields once validated and decoded. */
interface ParsedKeystore {
  scrypt: ScryptParams;
  salt: Uint8Array;
  nonce: Uint8Array;
  signingPublicKey: Uint8Array;
  encryptionPublicKey: Uint8Array;
  check: Uint8Array;
  ciphertext: Uint8Array;
}

export function generateIdentityKeys(): IdentityKeys {
  return { signing: generateSigningKeyPair(), encryption: generateEncryptionKeyPair() };
}

// ---------------------------------------------------------------------------------------------
// Encrypting and decrypting the JSON text

export async function encryptKeystore(
  keys: IdentityKeys,
  passphrase: string,
  scrypt: ScryptParams = DEFAULT_SCRYPT,
): Promise<string> {
  checkPassphraseStrength(passphrase);
  if (!scryptParamsWithinBounds(scrypt)) {
    throw new MedledgerError(
      'KEYSTORE_UNSUPPORTED',
      `The scrypt parameters N=${scrypt.N}, r=${scrypt.r}, p=${scrypt.p} are outside the supported bounds.`,
    );
  }
  // Re-deriving the public keys also checks the secret key lengths.
  const signingPublicKey = signingPublicKeyFrom(keys.signing.secretKey);
  const encryptionPublicKey = encryptionPublicKeyFrom(keys.encryption.secretKey);
  const salt = randomBytes(SALT_BYTES);
  const nonce = randomBytes(AES_GCM_NONCE_BYTES);
  const header = headerOf(scrypt, salt, nonce, signingPublicKey, encryptionPublicKey);

  const derived = await deriveKeys(passphrase, salt, scrypt);
  const plaintext = Buffer.concat([keys.signing.secretKey, keys.encryption.secretKey]);
  try {
    const file: KeystoreFile = {
      ...header,
      check: hex(checkValue(derived)),
      ciphertext: hex(aesGcmEncrypt(derived.subarray(0, AES_KEY_BYTES), nonce, plaintext, aadOf(header))),
    };
    return `${JSON.stringify(file, null, 2)}\n`;
  } finally {
    derived.fill(0);
    plaintext.fill(0);
  }
}

export async function decryptKeystore(text: string, passphrase: string): Promise<IdentityKeys> {
  const parsed = parseKeystore(text);
  const header = headerOf(
    parsed.scrypt,
    parsed.salt,
    parsed.nonce,
    parsed.signingPublicKey,
    parsed.encryptionPublicKey,
  );
  const plaintext = await decryptSecrets(passphrase, parsed, aadOf(header));
  try {
    const signingSecret = new Uint8Array(plaintext.subarray(0, ED25519_SECRET_KEY_BYTES));
    const encryptionSecret = new Uint8Array(plaintext.subarray(ED25519_SECRET_KEY_BYTES));
    const keys: IdentityKeys = {
      signing: { publicKey: signingPublicKeyFrom(signingSecret), secretKey: signingSecret },
      encryption: { publicKey: encryptionPublicKeyFrom(encryptionSecret), secretKey: encryptionSecret },
    };
    if (
      !equalBytes(keys.signing.publicKey, parsed.signingPublicKey) ||
      !equalBytes(keys.encryption.publicKey, parsed.encryptionPublicKey)
    ) {
      throw corrupt('its public keys do not match its secret keys');
    }
    return keys;
  } finally {
    plaintext.fill(0);
  }
}

/** The secret keys' plaintext; the caller zeroes it after use. */
async function decryptSecrets(
  passphrase: string,
  parsed: ParsedKeystore,
  aad: Uint8Array,
): Promise<Uint8Array> {
  const derived = await deriveKeys(passphrase, parsed.salt, parsed.scrypt);
  try {
    if (!timingSafeEqual(checkValue(derived), parsed.check)) {
      throw new MedledgerError('KEYSTORE_WRONG_PASSPHRASE', 'The passphrase for this keystore is wrong.');
    }
    try {
      return aesGcmDecrypt(derived.subarray(0, AES_KEY_BYTES), parsed.nonce, parsed.ciphertext, aad);
    } catch (cause) {
      throw corrupt('its encrypted keys or header were altered', cause);
    }
  } finally {
    derived.fill(0);
  }
}

/** Refuses a passphrase too short to protect a keystore (before anything is written with it). */
export function checkPassphraseStrength(passphrase: string): void {
  if (typeof passphrase !== 'string' || [...passphrase].length < MIN_PASSPHRASE_CHARS) {
    throw new MedledgerError(
      'KEYSTORE_WEAK_PASSPHRASE',
      `The keystore passphrase must be at least ${MIN_PASSPHRASE_CHARS} characters long.`,
    );
  }
}

function scryptParamsWithinBounds({ N, r, p }: ScryptParams): boolean {
  return (
    Number.isInteger(N) &&
    N >= 2 ** MIN_LOG2_N &&
    N <= 2 ** MAX_LOG2_N &&
    (N & (N - 1)) === 0 &&
    Number.isInteger(r) &&
    r >= 1 &&
    r <= MAX_R &&
    Number.isInteger(p) &&
    p >= 1 &&
    p <= MAX_P &&
    128 * N * r <= MAX_SCRYPT_MEMORY_BYTES
  );
}

/** 64 bytes: AES key || check key. Async so the event loop keeps running during the KDF. */
function deriveKeys(passphrase: string, salt: Uint8Array, { N, r, p }: ScryptParams): Promise<Buffer> {
  // NFC so the same passphrase typed on different systems gives the same bytes.
  const secret = Buffer.from(passphrase.normalize('NFC'), 'utf8');
  // OpenSSL needs 128 * r * (N + p + 2) bytes; leave a little slack.
  const maxmem = 128 * r * (N + p + 2) + 1024 * 1024;
  return new Promise((resolve, reject) => {
    scryptCallback(secret, salt, AES_KEY_BYTES + CHECK_KEY_BYTES, { N, r, p, maxmem }, (error, derived) => {
      secret.fill(0);
      if (error) reject(error);
      else resolve(derived);
    });
  });
}

function checkValue(derived: Uint8Array): Buffer {
  return createHmac('sha256', derived.subarray(AES_KEY_BYTES)).update(CHECK_LABEL).digest();
}

function headerOf(
  scrypt: ScryptParams,
  salt: Uint8Array,
  nonce: Uint8Array,
  signingPublicKey: Uint8Array,
  encryptionPublicKey: Uint8Array,
): Omit<KeystoreFile, 'check' | 'ciphertext'> {
  return {
    version: KEYSTORE_VERSION,
    kdf: { name: KDF_NAME, N: scrypt.N, r: scrypt.r, p: scrypt.p, salt: hex(salt) },
    cipher: { name: CIPHER_NAME, nonce: hex(nonce) },
    publicKeys: { ed25519: hex(signingPublicKey), x25519: hex(encryptionPublicKey) },
  };
}

/** The header built field by field in a fixed order, so its JSON is canonical. */
function aadOf(header: Omit<KeystoreFile, 'check' | 'ciphertext'>): Uint8Array {
  return Buffer.from(JSON.stringify(header), 'utf8');
}

// ---------------------------------------------------------------------------------------------
// Parsing an untrusted file

function parseKeystore(text: string): ParsedKeystore {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw corrupt('it is not valid JSON (truncated?)', cause);
  }
  const file = objectField({ file: json }, 'file');
  const version = file.version;
  if (typeof version !== 'number') throw corrupt('its "version" is missing');
  if (version !== KEYSTORE_VERSION) {
    throw new MedledgerError('KEYSTORE_UNSUPPORTED', `Keystore version ${version} is not supported.`);
  }
  const kdf = objectField(file, 'kdf');
  const cipher = objectField(file, 'cipher');
  const publicKeys = objectField(file, 'publicKeys');
  const kdfName = stringField(kdf, 'name');
  const cipherName = stringField(cipher, 'name');
  if (kdfName !== KDF_NAME) {
    throw new MedledgerError(
      'KEYSTORE_UNSUPPORTED',
      `The keystore key derivation "${kdfName}" is not supported.`,
    );
  }
  if (cipherName !== CIPHER_NAME) {
    throw new MedledgerError('KEYSTORE_UNSUPPORTED', `The keystore cipher "${cipherName}" is not supported.`);
  }
  const scrypt = { N: numberField(kdf, 'N'), r: numberField(kdf, 'r'), p: numberField(kdf, 'p') };
  if (!scryptParamsWithinBounds(scrypt)) throw corrupt('its scrypt parameters are out of bounds');
  return {
    scrypt,
    salt: hexField(kdf, 'salt', SALT_BYTES),
    nonce: hexField(cipher, 'nonce', AES_GCM_NONCE_BYTES),
    signingPublicKey: hexField(publicKeys, 'ed25519', ED25519_PUBLIC_KEY_BYTES),
    encryptionPublicKey: hexField(publicKeys, 'x25519', X25519_KEY_BYTES),
    check: hexField(file, 'check', CHECK_BYTES),
    ciphertext: hexField(file, 'ciphertext', CIPHERTEXT_BYTES),
  };
}

function objectField(parent: Record<string, unknown>, name: string): Record<string, unknown> {
  const value = parent[name];
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw corrupt(`"${name}" is missing or not an object`);
  }
  return value as Record<string, unknown>;
}

function stringField(parent: Record<string, unknown>, name: string): string {
  const value = parent[name];
  if (typeof value !== 'string') throw corrupt(`"${name}" is missing or not a string`);
  return value;
}

function numberField(parent: Record<string, unknown>, name: string): number {
  const value = parent[name];
  if (typeof value !== 'number') throw corrupt(`"${name}" is missing or not a number`);
  return value;
}

function hexField(parent: Record<string, unknown>, name: string, bytes: number): Uint8Array {
  const value = stringField(parent, name);
  if (value.length !== bytes * 2 || !/^[0-9a-f]*$/.test(value)) {
    throw corrupt(`"${name}" is not ${bytes} bytes of lowercase hex`);
  }
  return fromHex(value);
}

function corrupt(reason: string, cause?: unknown): MedledgerError {
  return new MedledgerError('KEYSTORE_CORRUPT', `The keystore is corrupt: ${reason}.`, { cause });
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

// ---------------------------------------------------------------------------------------------
// Files

/**
 * Writes the keystore atomically: a 0600 temp file in the same directory, fsync, then rename (or
 * hard link when not overwriting, which fails atomically if the target appeared meanwhile).
 */
export async function writeKeystore(
  path: string,
  keys: IdentityKeys,
  passphrase: string,
  options: { scrypt?: ScryptParams; overwrite?: boolean } = {},
): Promise<void> {
  const overwrite = options.overwrite ?? false;
  // Fail before the slow KDF when we can.
  if (!overwrite && (await exists(path))) throw keystoreExists(path);
  const text = await encryptKeystore(keys, passphrase, options.scrypt);
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(8).toString('hex')}.tmp`);
  try {
    const handle = await open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
    try {
      await handle.chmod(0o600); // the umask may only remove bits, but be exact
      await handle.writeFile(text, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    if (overwrite) {
      await rename(temp, path);
    } else {
      await link(temp, path);
    }
    await syncDirectory(dirname(path));
  } catch (error) {
    if (error instanceof MedledgerError) throw error;
    if (isErrno(error, 'EEXIST') && !overwrite) throw keystoreExists(path);
    throw new MedledgerError('KEYSTORE_WRITE_FAILED', `Cannot write the keystore ${path}.`, { cause: error });
  } finally {
    await unlink(temp).catch(() => {});
  }
}

export async function readKeystore(path: string, passphrase: string): Promise<IdentityKeys> {
  return decryptKeystore(await readKeystoreText(path), passphrase);
}

/** The public keys, read without the passphrase. They are not authenticated until decryption. */
export async function readKeystorePublicKeys(
  path: string,
): Promise<{ signingPublicKey: Uint8Array; encryptionPublicKey: Uint8Array }> {
  const parsed = parseKeystore(await readKeystoreText(path));
  return { signingPublicKey: parsed.signingPublicKey, encryptionPublicKey: parsed.encryptionPublicKey };
}

async function readKeystoreText(path: string): Promise<string> {
  let bytes: Buffer;
  try {
    const handle = await open(path, 'r');
    try {
      const { size } = await handle.stat();
      if (size > MAX_FILE_BYTES) throw corrupt(`it is ${size} bytes, larger than any keystore`);
      bytes = await handle.readFile();
    } finally {
      await handle.close();
    }
  } catch (error) {
    if (error instanceof MedledgerError) throw error;
    if (isErrno(error, 'ENOENT')) {
      throw new MedledgerError('KEYSTORE_NOT_FOUND', `No keystore file at ${path}.`, { cause: error });
    }
    throw new MedledgerError('KEYSTORE_READ_FAILED', `Cannot read the keystore ${path}.`, { cause: error });
  }
  return bytes.toString('utf8');
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (error) {
    return !isErrno(error, 'ENOENT');
  }
}

/** Makes the rename durable; not every platform can open a directory, which is fine. */
async function syncDirectory(directory: string): Promise<void> {
  try {
    const handle = await open(directory, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // best effort
  }
}

function keystoreExists(path: string): MedledgerError {
  return new MedledgerError(
    'KEYSTORE_EXISTS',
    `A keystore already exists at ${path}; refusing to overwrite it without the overwrite option.`,
  );
}

function isErrno(error: unknown, code: string): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === code;
}
