/**
 * A record's key blob: how its data key is kept so that no single node holds it.
 *
 * The writer's client splits the 32-byte data key with Shamir's secret sharing (the audited
 * `shamir-secret-sharing` package, GF(256)), threshold t of the n genesis validators, and seals share
 * i with a fresh salt to validator i's X25519 key. Beside each sealed share is a commitment,
 * SHA-256 over the share, its salt and where it belongs, so a reader can tell a true share from a
 * false one without trusting whoever relayed it; the salt keeps the commitment hiding. The data key
 * is also sealed to the patient, whose own reads need no validator. The blob lives in the content
 * store beside the ciphertext, under its own CID; the chain holds only that CID.
 *
 *   KeyBlob      { version 1, recordCid, threshold, shares: [{ validator, sealed, commitment }], patient }
 *   share i      sealed to validator i under shareContext(chainId, recordCid, i): share (33 bytes) ‖ salt (16)
 *   to a reader  the same 49 bytes re-sealed by validator i under readerShareContext(chainId, readTx, i)
 *
 * Threshold: t = f + 1 with f = ⌊(n − 1) / 3⌋, and never below 2, so that no one validator can
 * rebuild a key even where f is 0 (n = 2 or 3). A network of one validator cannot split a key.
 * Any t validators together can serve a permitted read; any t − 1 learn nothing of the key.
 */
import { combine, split } from 'shamir-secret-sharing';
import { bytesEqual } from '../bytes.ts';
import { bytes, decode, encode, type Infer, list, str, struct, u32, varBytes } from '../codec/index.ts';
import {
  envelopeOpening,
  openSealed,
  openSealedWithOpening,
  randomBytes,
  seal,
  sha256,
} from '../crypto/index.ts';
import { MedledgerError } from '../errors.ts';
import { DATA_KEY_BYTES, recordContext } from './encryption.ts';

export const KEY_BLOB_VERSION = 1;
/** A share is the key's length plus its x coordinate (the package's last byte). */
export const SHARE_BYTES = DATA_KEY_BYTES + 1;
const SALT_BYTES = 16;
const PAYLOAD_BYTES = SHARE_BYTES + SALT_BYTES;
const MAX_VALIDATORS = 255;
const MAX_SEALED_BYTES = 256;
/** A key blob for 255 validators stays well under this. */
export const MAX_KEY_BLOB_BYTES = 128 * 1024;
const COMMITMENT_DOMAIN = new TextEncoder().encode('medledger/key-share/commitment/v1\u0000');

export const SealedShare = struct('SealedShare', {
  /** The validator's Ed25519 public key (its identity in the genesis). */
  validator: bytes(32),
  sealed: varBytes(MAX_SEALED_BYTES),
  commitment: bytes(32),
});
export const KeyBlob = struct('KeyBlob', {
  version: u32,
  /** The ciphertext this key opens: the blob is bound to it. */
  recordCid: str(128),
  threshold: u32,
  /** One per genesis validator, in genesis order. */
  shares: list(SealedShare, MAX_VALIDATORS),
  /** The data key sealed to the patient under recordContext(chainId, recordCid). */
  patient: varBytes(MAX_SEALED_BYTES),
});
export type KeyBlob = Infer<typeof KeyBlob>;

/** What a key blob needs to know of a validator. */
export interface ShareHolder {
  publicKey: Uint8Array;
  encryptionKey: Uint8Array;
}

/** The shares needed to rebuild a key among `validators` validators (see the top of this file). */
export function keyThreshold(validators: number): number {
  if (validators < 2) {
    throw new MedledgerError(
      'KEY_NO_THRESHOLD',
      'A record key is split among the validators so that no one of them holds it: this needs at least two validators.',
    );
  }
  const f = Math.floor((validators - 1) / 3);
  return Math.max(2, f + 1);
}

const enc = new TextEncoder();
function u8(value: number): Uint8Array {
  return Uint8Array.of(value);
}

/** Share i of a record, sealed to validator i. */
export function shareContext(chainId: string, recordCid: string, index: number): Uint8Array {
  return Buffer.concat([recordContext(chainId, recordCid), enc.encode('\u0000share\u0000'), u8(index)]);
}

/** Share i re-sealed to the reader of one committed read transaction. */
export function readerShareContext(chainId: string, readTx: Uint8Array, index: number): Uint8Array {
  return Buffer.concat([enc.encode(`medledger/read-share/v1\u0000${chainId}\u0000`), readTx, u8(index)]);
}

function commitment(context: Uint8Array, payload: Uint8Array): Uint8Array {
  return sha256(COMMITMENT_DOMAIN, context, payload);
}

/** Whether `payload` (share ‖ salt) is share `index` of the blob: the one its commitment names. */
function matchesCommitment(blob: KeyBlob, chainId: string, index: number, payload: Uint8Array): boolean {
  const entry = blob.shares[index];
  if (!entry || payload.length !== PAYLOAD_BYTES) return false;
  const context = shareContext(chainId, blob.recordCid, index);
  return bytesEqual(commitment(context, payload), entry.commitment);
}

/** Builds the key blob of one record; the caller zeroes `dataKey` afterwards. */
export async function makeKeyBlob(input: {
  chainId: string;
  recordCid: string;
  dataKey: Uint8Array;
  validators: readonly ShareHolder[];
  patientKey: Uint8Array;
}): Promise<{ blob: KeyBlob; bytes: Uint8Array }> {
  const { chainId, recordCid, dataKey, validators } = input;
  const threshold = keyThreshold(validators.length);
  const shares = await split(dataKey, validators.length, threshold);
  try {
    const blob: KeyBlob = {
      version: KEY_BLOB_VERSION,
      recordCid,
      threshold,
      shares: validators.map((validator, i) => {
        const payload = Buffer.concat([shares[i]!, randomBytes(SALT_BYTES)]);
        const context = shareContext(chainId, recordCid, i);
        try {
          return {
            validator: validator.publicKey,
            sealed: seal(validator.encryptionKey, payload, context),
            commitment: commitment(context, payload),
          };
        } finally {
          payload.fill(0);
        }
      }),
      patient: seal(input.patientKey, dataKey, recordContext(chainId, recordCid)),
    };
    return { blob, bytes: encode(KeyBlob, blob) };
  } finally {
    for (const share of shares) share.fill(0);
  }
}

/** Decodes and checks a key blob's shape; KEY_BLOB_INVALID when it is not one. */
export function decodeKeyBlob(data: Uint8Array): KeyBlob {
  let blob: KeyBlob;
  try {
    blob = decode(KeyBlob, data, MAX_KEY_BLOB_BYTES);
  } catch (cause) {
    throw keyBlobInvalid(`it does not decode: ${(cause as Error).message}`, cause);
  }
  if (blob.version !== KEY_BLOB_VERSION) throw keyBlobInvalid(`its version ${blob.version} is unknown`);
  if (blob.threshold < 2 || blob.threshold > blob.shares.length) {
    throw keyBlobInvalid(`its threshold ${blob.threshold} does not fit its ${blob.shares.length} shares`);
  }
  return blob;
}

/**
 * Checks a key blob against the network it was written for: the record's ciphertext, one share per
 * genesis validator in order, the threshold the validator count requires.
 */
export function checkKeyBlob(
  blob: KeyBlob,
  recordCid: string,
  validators: readonly { publicKey: Uint8Array }[],
): void {
  if (blob.recordCid !== recordCid) throw keyBlobInvalid(`it is for ${blob.recordCid}, not ${recordCid}`);
  if (blob.threshold !== keyThreshold(validators.length)) {
    throw keyBlobInvalid(`its threshold is ${blob.threshold}, not ${keyThreshold(validators.length)}`);
  }
  if (
    blob.shares.length !== validators.length ||
    blob.shares.some((share, i) => !bytesEqual(share.validator, validators[i]!.publicKey))
  ) {
    throw keyBlobInvalid('its shares do not follow the genesis validators');
  }
}

/**
 * Validator side of a permitted read: opens this validator's share (checking it against its
 * commitment, so a bad blob is named, not relayed) and re-seals it to the reader.
 */
export function resealShare(input: {
  blob: KeyBlob;
  chainId: string;
  index: number;
  validatorSecretKey: Uint8Array;
  readerKey: Uint8Array;
  readTx: Uint8Array;
}): Uint8Array {
  const payload = openOwnShare(input.blob, input.chainId, input.index, input.validatorSecretKey);
  try {
    return seal(input.readerKey, payload, readerShareContext(input.chainId, input.readTx, input.index));
  } finally {
    payload.fill(0);
  }
}

/**
 * Validator `index` opens its own share and checks it against its commitment (KEY_BLOB_INVALID
 * otherwise). Run when a record commits too, so that a writer who sealed a share to a wrong key is
 * caught then, not at the first read. The caller zeroes the result.
 */
export function openOwnShare(
  blob: KeyBlob,
  chainId: string,
  index: number,
  validatorSecretKey: Uint8Array,
): Uint8Array {
  const entry = blob.shares[index];
  if (!entry) throw keyBlobInvalid(`it has no share ${index}`);
  let payload: Uint8Array;
  try {
    payload = openSealed(validatorSecretKey, entry.sealed, shareContext(chainId, blob.recordCid, index));
  } catch (cause) {
    throw keyBlobInvalid(`share ${index} does not open with this validator's key`, cause);
  }
  if (!matchesCommitment(blob, chainId, index, payload)) {
    payload.fill(0);
    throw keyBlobInvalid(`share ${index} does not match its commitment`);
  }
  return payload;
}

/**
 * Reader side: opens share `index` re-sealed to the reader and checks it against the blob's
 * commitment. A false share (wrong key, altered, another share's or another read's) is
 * KEY_SHARE_FALSE and never returned.
 */
export function openReaderShare(input: ReaderShareInput): Uint8Array {
  const { index } = input;
  const payload = openForReader(input);
  if (payload === null) throw shareFalse(index, 'it was not sealed to this reader for this read');
  if (!matchesCommitment(input.blob, input.chainId, index, payload)) {
    payload.fill(0);
    throw shareFalse(index, 'it does not match its commitment');
  }
  const share = payload.slice(0, SHARE_BYTES);
  payload.fill(0);
  return share;
}

/**
 * The reader's proof that a share is false: the opening of the envelope (envelope-specific, it gives
 * away nothing else), when the envelope opens for this read but fails its commitment. Null when the
 * share is true, or does not open at all (then nobody can tell who lies, reader or validator).
 */
export function falseShareProof(input: ReaderShareInput): Uint8Array | null {
  const payload = openForReader(input);
  if (payload === null) return null;
  const matches = matchesCommitment(input.blob, input.chainId, input.index, payload);
  payload.fill(0);
  return matches ? null : envelopeOpening(input.readerSecretKey, input.sealed);
}

/** A share as the reader's node relayed it, and what the reader needs to open it. */
export interface ReaderShareInput {
  blob: KeyBlob;
  chainId: string;
  index: number;
  readerSecretKey: Uint8Array;
  readTx: Uint8Array;
  sealed: Uint8Array;
}

/** The share's payload (share ‖ salt) if it opens for this reader and read, else null. */
function openForReader(input: ReaderShareInput): Uint8Array | null {
  if (!input.blob.shares[input.index]) return null;
  try {
    return openSealed(
      input.readerSecretKey,
      input.sealed,
      readerShareContext(input.chainId, input.readTx, input.index),
    );
  } catch {
    return null;
  }
}

/**
 * The serving node's check of a reader's proof: with `opening` the share the validator sent opens
 * (AES-GCM: so the opening is genuine) and fails its commitment. True only when proven false.
 */
export function provesFalseShare(input: {
  blob: KeyBlob;
  chainId: string;
  index: number;
  readerKey: Uint8Array;
  readTx: Uint8Array;
  sealed: Uint8Array;
  opening: Uint8Array;
}): boolean {
  const { blob, chainId, index } = input;
  if (!blob.shares[index]) return false;
  let payload: Uint8Array;
  try {
    payload = openSealedWithOpening(
      input.opening,
      input.readerKey,
      input.sealed,
      readerShareContext(chainId, input.readTx, index),
    );
  } catch {
    return false;
  }
  const matches = matchesCommitment(blob, chainId, index, payload);
  payload.fill(0);
  return !matches;
}

/** Rebuilds the data key from `threshold` or more true shares; the caller zeroes the shares. */
export async function combineShares(shares: readonly Uint8Array[], threshold: number): Promise<Uint8Array> {
  if (shares.length < threshold) {
    throw new MedledgerError(
      'KEY_SHARES_TOO_FEW',
      `${shares.length} true key share(s) of the ${threshold} needed to rebuild the record key.`,
    );
  }
  const key = await combine(shares.slice(0, threshold) as Uint8Array[]);
  if (key.length !== DATA_KEY_BYTES) throw keyBlobInvalid('its shares rebuild a key of the wrong length');
  return key;
}

/** The patient's own way in: the data key sealed to them in the blob. */
export function openPatientKey(blob: KeyBlob, chainId: string, patientSecretKey: Uint8Array): Uint8Array {
  try {
    return openSealed(patientSecretKey, blob.patient, recordContext(chainId, blob.recordCid));
  } catch (cause) {
    throw new MedledgerError(
      'KEY_NOT_PATIENT',
      "The key blob's patient envelope does not open with this key.",
      {
        cause,
      },
    );
  }
}

function keyBlobInvalid(why: string, cause?: unknown): MedledgerError {
  return new MedledgerError('KEY_BLOB_INVALID', `The record's key blob is not valid: ${why}.`, { cause });
}

function shareFalse(index: number, why: string): MedledgerError {
  return new MedledgerError('KEY_SHARE_FALSE', `Key share ${index} is false: ${why}.`);
}
